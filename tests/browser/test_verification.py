"""Verified entry (ベリファイ入力) in Chromium with two clerks, each in their own browser context:
the first keys a paper form on the entry screen, the second keys it again blind on the
verification screen — agreement, a difference resolved, the first keyer refused, and a pending
record absent from the printed summary until it is verified. Keyboard first, as at the desk."""
import pytest
from playwright.sync_api import expect

import models
from kenshin import verification

from ..factories import VALID_ITEMS
from .helpers import enrolled_person
from .test_entry import office, set_batch, type_identity, type_items  # noqa: F401 (office is a fixture)


@pytest.fixture
def clerks(app, page, new_page, office):  # noqa: F811
    """Two signed-in clerks: 入力 (keys first) and 確認 (verifies), in separate contexts."""
    enrolled_person(app, page, "keyer1", "clerk", name="入力 一郎")
    verifier = new_page()
    enrolled_person(app, verifier, "verifier1", "clerk", name="確認 二郎")
    return page, verifier


def key_first(page, exam, items):
    """The first keying, on the entry screen, by keyboard."""
    page.goto("/entry/")
    set_batch(page, exam)
    type_identity(page)
    type_items(page, exam, items)
    page.keyboard.press("Enter")
    status = page.locator(".entry-status")
    expect(status).to_contain_text("保存しました")
    expect(status).to_contain_text("未確定")


def stored(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        found = models.Screening.get()
        differences = list(models.ScreeningDifference.select().order_by(models.ScreeningDifference.id))
        models.db.close()
    return found, differences


def open_first_batch(page):
    page.goto("/verify/")
    link = page.get_by_role("link", name="この束を確認入力する").first
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_contain_text("確認入力（ベリファイ）")


def test_agreement_confirms_the_form(app, clerks):
    keyer, verifier = clerks
    key_first(keyer, "colorectal", VALID_ITEMS["colorectal"])  # 陽性
    open_first_batch(verifier)
    person = verifier.locator(".verify-person")
    expect(person).to_contain_text("千葉 花子")
    expect(person).to_contain_text("千葉中央クリニック")
    field = verifier.locator("#v-fobt_result")
    expect(field).to_be_focused()
    expect(field).to_have_value("")  # blind: the first value is not shown
    verifier.keyboard.type("＋")  # as the paper writes it
    verifier.keyboard.press("Tab")
    expect(verifier.locator("#v-referral")).to_be_focused()
    verifier.keyboard.press("Enter")
    expect(verifier.locator(".entry-status")).to_contain_text("2回の入力が一致し、確定しました")
    expect(verifier.locator(".done-note")).to_be_focused()  # nothing left in this batch
    screening, differences = stored(app)
    assert screening.status == "confirmed" and screening.verified_by.login_id == "verifier1"
    assert differences == []


def test_a_difference_is_shown_side_by_side_and_resolved_against_the_paper(app, clerks, new_page):
    keyer, verifier = clerks
    key_first(keyer, "gastric_xray", {"xray_category": "1"})  # the paper says 3b: a keying slip
    open_first_batch(verifier)
    expect(verifier.locator("#v-xray_category")).to_be_focused()
    verifier.keyboard.type("3b")
    verifier.keyboard.press("Enter")
    table = verifier.locator("table.side-by-side")
    expect(table).to_contain_text("1（カテゴリー1（異常なし））")
    expect(table).to_contain_text("3b（カテゴリー3b（良悪性の判定困難））")
    # one difference: the derived 精密検査の対象 follows the category and is not settled apart
    expect(table.locator("tbody tr")).to_have_count(1)
    # the row: the radio group (arrow keys choose), the paper's value, the reason
    expect(verifier.locator("#c-xray_category-first")).to_be_focused()
    verifier.keyboard.press("ArrowDown")
    verifier.keyboard.press("ArrowDown")
    expect(verifier.locator("#c-xray_category-paper")).to_be_checked()
    verifier.keyboard.press("Tab")
    expect(verifier.locator("#p-xray_category")).to_be_focused()
    verifier.keyboard.type("カテゴリー3b")  # the paper typed again, as printed
    verifier.keyboard.press("Tab")
    expect(verifier.locator("#r-xray_category")).to_be_focused()
    verifier.keyboard.type("用紙は3b（1回目の読み違い）")
    verifier.keyboard.press("Enter")
    expect(verifier.locator(".entry-status")).to_contain_text("相違を用紙で解決して確定しました")
    screening, differences = stored(app)
    assert screening.status == "confirmed" and screening.referral is True
    assert screening.items["xray_category"] == "3b"
    assert [(d.item, d.first_value, d.second_value, d.chosen_value) for d in differences] == [
        ("xray_category", "1", "3b", "3b")]
    assert screening.items["referral"] == "1"  # derived again from the settled category
    assert differences[0].reason == "用紙は3b（1回目の読み違い）"
    # the supervisor's trace of it on the record's page
    boss_page = new_page()
    enrolled_person(app, boss_page, "boss1", "supervisor", name="係長 三郎")
    boss_page.goto(f"/screenings/{screening.id}")
    trace = boss_page.locator("section.keyings")
    expect(trace).to_contain_text("入力 一郎")
    expect(trace).to_contain_text("確認 二郎")
    expect(trace).to_contain_text("用紙は3b（1回目の読み違い）")
    expect(trace).to_contain_text("用紙の値を入力")  # the choice made, though it equals the 2nd value


def test_the_first_keyer_is_refused_as_verifier_with_the_reason(app, clerks):
    keyer, verifier = clerks
    key_first(keyer, "colorectal", VALID_ITEMS["colorectal"])
    open_first_batch(keyer)
    expect(keyer.locator(".done-note")).to_contain_text("あなたが確認入力・解決できる用紙はありません")
    keyer.locator(".batch-forms a").first.click()
    refusal = keyer.locator(".refused")
    expect(refusal).to_contain_text(verification.KEYED_FIRST)
    expect(refusal).to_be_focused()
    expect(keyer.locator("#v-fobt_result")).to_have_count(0)
    screening, _ = stored(app)
    assert screening.status == "pending"
    # the other clerk may
    verifier.goto(f"/verify/form/{screening.id}")
    expect(verifier.locator("#v-fobt_result")).to_be_focused()


def test_a_pending_form_is_absent_from_the_printed_summary_until_verified(app, clerks):
    keyer, verifier = clerks
    key_first(keyer, "colorectal", VALID_ITEMS["colorectal"])  # 陽性: 要精検
    screening, _ = stored(app)
    summary = f"/screenings/summary/{screening.resident_id}"
    keyer.goto(summary)
    sheet = keyer.locator(".summary-sheet")
    expect(sheet).to_contain_text("確定した検診記録はありません")
    expect(sheet).not_to_contain_text("陽性")
    expect(sheet.locator(".referral-mark")).to_have_count(0)
    keyer.goto(f"/screenings/person/{screening.resident_id}")
    expect(keyer.locator("#person-screenings")).to_contain_text("未確定")
    expect(keyer.locator("#person-screenings .badge.warn")).to_have_count(0)

    open_first_batch(verifier)
    expect(verifier.locator("#v-fobt_result")).to_be_focused()
    verifier.keyboard.type("positive")
    verifier.keyboard.press("Enter")
    expect(verifier.locator(".entry-status")).to_contain_text("確定しました")

    keyer.goto(summary)
    expect(sheet).to_contain_text("陽性")
    expect(sheet.locator(".referral-mark")).to_have_text("要精検")
