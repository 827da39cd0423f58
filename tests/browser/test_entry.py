"""Keying paper forms in Chromium with the keyboard only (type, Tab, Enter — no mouse clicks):
one form of every exam, a match that disagrees and is parked, resolved from the queue, and a
correction with its history."""
from datetime import date

import pytest
from playwright.sync_api import expect

import models
from kenshin.screening import catalogue

from ..factories import INSTITUTION, VALID_ITEMS, make_institution, make_resident
from .helpers import enrolled_person

EXAMS = list(catalogue.EXAMS)


@pytest.fixture
def office(app):
    """An institution and two residents (a woman, so every exam applies, and a man)."""
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        make_institution()
        woman = make_resident(atena_no="000000000001", name="千葉 花子", kana="チバ ハナコ", sex=2,
                              birth=date(1960, 5, 10))
        make_resident(atena_no="000000000002", name="千葉 太郎", kana="チバ タロウ", sex=1,
                      birth=date(1958, 8, 8))
        models.db.close()
    return woman


def focused_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def set_batch(page, exam):
    """The batch header by keyboard: institution code, Tab, 1 (個別), Tab, ↓ to the exam, Tab, Enter."""
    page.locator("#b-institution").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(INSTITUTION)
    page.keyboard.press("Tab")
    assert focused_id(page) == "b-setting"
    page.keyboard.press("1")
    page.keyboard.press("Tab")
    assert focused_id(page) == "b-exam"
    page.keyboard.press("Home")
    for _ in range(EXAMS.index(exam) + 1):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#sheet h2")).to_contain_text(catalogue.EXAMS[exam].name)
    expect(page.locator("#f-seiri_no")).to_be_focused()


def type_and_tab(page, text):
    if text:
        page.keyboard.type(text)
    page.keyboard.press("Tab")


def type_identity(page, atena="000000000001", kana="ちば はなこ", birth="S35.5.10", sex="2"):
    assert focused_id(page) == "f-seiri_no"
    type_and_tab(page, "")  # 整理番号: none on this form
    type_and_tab(page, atena)
    type_and_tab(page, kana)
    type_and_tab(page, birth)
    type_and_tab(page, sex)
    type_and_tab(page, "")  # 氏名 (optional)


def type_items(page, exam, items, exam_date="R7.6.2"):
    assert focused_id(page) == "f-exam_date"
    page.keyboard.press("Control+A")
    type_and_tab(page, exam_date)
    for item in catalogue.get_exam(exam).fields:
        assert focused_id(page) == f"f-{item.key}", (exam, item.key, focused_id(page))
        type_and_tab(page, items.get(item.key, ""))
    assert focused_id(page) == ""  or page.evaluate("document.activeElement.textContent").startswith("保存")


def test_one_form_of_every_exam_by_keyboard_alone(app, page, office):
    enrolled_person(app, page, "entry1", "clerk")
    page.goto("/entry/")
    expect(page.locator("#b-institution")).to_be_focused()
    for exam in EXAMS:
        set_batch(page, exam)
        type_identity(page)
        expect(page.locator(".match")).to_contain_text("千葉 花子")
        expect(page.locator(".match")).to_contain_text("昭和35年5月10日")
        expect(page.locator(".match tr.mismatch")).to_have_count(0)
        type_items(page, exam, VALID_ITEMS[exam])
        page.keyboard.press("Enter")  # on the save button
        expect(page.locator(".entry-status")).to_contain_text("保存しました")
        # the next sheet: header kept, cursor in 整理番号
        expect(page.locator("#f-seiri_no")).to_be_focused()
        expect(page.locator("#f-seiri_no")).to_have_value("")
        expect(page.locator("#b-institution")).to_have_value(INSTITUTION)
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        stored = {s.exam: s for s in models.Screening.select()}
        models.db.close()
    assert set(stored) == set(EXAMS)
    assert stored["gastric_xray"].referral and stored["colorectal"].referral
    assert not stored["lung"].referral


def test_derived_items_show_live_and_a_contradicting_referral_is_an_error(app, page, office):
    enrolled_person(app, page, "entry2", "clerk")
    page.goto("/entry/")
    set_batch(page, "gastric_xray")
    type_identity(page)
    page.keyboard.press("Control+A")
    type_and_tab(page, "R7.6.2")
    expect(page.locator(".derived")).to_contain_text("令和7年度")
    expect(page.locator(".derived")).to_contain_text("65歳")
    type_and_tab(page, "4")
    expect(page.locator(".derived")).to_contain_text("要精検")
    type_and_tab(page, "")  # findings
    type_and_tab(page, "0")  # referral contradicting the rule
    expect(page.locator(".derived")).to_contain_text("判定区分3a以上は要精検(1)です")
    expect(page.locator("#f-referral")).to_have_attribute("aria-invalid", "true")


def test_a_man_is_refused_a_womens_exam(app, page, office):
    enrolled_person(app, page, "entry3", "clerk")
    page.goto("/entry/")
    set_batch(page, "breast")
    type_identity(page, atena="000000000002", kana="ちば たろう", birth="S33.8.8", sex="1")
    type_items(page, "breast", VALID_ITEMS["breast"])
    page.keyboard.press("Enter")
    expect(page.locator("#sheet")).to_contain_text("女性のみの検診です")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert not models.Screening.select().exists()
        models.db.close()


def test_disagreeing_match_is_parked_then_resolved_from_the_queue_and_corrected(app, page, office):
    enrolled_person(app, page, "entry4", "clerk")
    page.goto("/entry/")
    set_batch(page, "colorectal")
    type_identity(page, birth="S35.5.11")  # the paper says the 11th; the registry the 10th
    mismatch = page.locator(".match tr.mismatch")
    expect(mismatch).to_have_count(1)
    expect(mismatch).to_contain_text("不一致")
    expect(mismatch).to_contain_text("生年月日")
    type_items(page, "colorectal", VALID_ITEMS["colorectal"])
    page.keyboard.press("Enter")  # save is refused: it does not match
    expect(page.locator(".error-summary")).to_contain_text("住民記録と一致しません（生年月日）")
    expect(page.locator(".error-summary")).to_be_focused()
    page.keyboard.press("F8")  # 突合待ちへ: its own key (Enter only ever saves)
    expect(page.locator(".entry-status")).to_contain_text("突合待ちに保留しました")
    expect(page.locator("#f-seiri_no")).to_be_focused()

    # the queue: the person the 宛名番号 named is the first candidate; assign with a note
    page.goto("/queue/")
    expect(page.locator("main")).to_contain_text("住民記録と一致しません（生年月日）")
    page.locator("main table a").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_contain_text("突合待ち No.")
    candidate = page.get_by_label("千葉 花子", exact=False).first
    candidate.focus()
    page.keyboard.press("Space")
    expect(candidate).to_be_checked()
    page.get_by_label("割り当ての理由").focus()
    page.keyboard.type("用紙の生年月日の誤記（電話で本人確認）")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("割り当てて記録しました")

    # the record, then a correction with its reason and history
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        screening = models.Screening.get()
        models.db.close()
    page.goto(f"/screenings/{screening.id}/correct")
    page.get_by_label("便潜血検査の判定区分").focus()
    expect(page.get_by_label("便潜血検査の判定区分")).to_have_value("陽性")  # as the paper writes it
    expect(page.get_by_label("受診日")).to_have_value("R7.6.2")  # 和暦, as its hint
    page.keyboard.press("Control+A")
    page.keyboard.type("（－）")
    page.keyboard.press("Tab")
    page.get_by_label("精密検査の対象有無", exact=False).focus()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.get_by_label("訂正の理由").focus()
    page.keyboard.type("検査機関からの訂正連絡")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("訂正しました")
    history = page.locator("table.history")
    expect(history).to_contain_text("検査機関からの訂正連絡")
    expect(history).to_contain_text("陽性")
    expect(history).to_contain_text("陰性")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        corrected = models.Screening.get_by_id(screening.id)
        models.db.close()
    assert corrected.items["fobt_result"] == "negative" and corrected.referral is False
