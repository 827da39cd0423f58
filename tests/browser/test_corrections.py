"""A correction that changes a confirmed outcome needs a second person (issue 14), keyboard only
in Chromium: one clerk's 陽性 → 陰性 stays 「訂正の確認待ち」 and the record keeps 要精検; another
clerk keys the changed item blind from the paper, agrees, and only then is it 精検不要, with both
names in the history."""
from datetime import date

import pytest
from playwright.sync_api import expect

import models

from ..factories import make_institution, make_resident, make_screening
from .helpers import enrolled_person


@pytest.fixture
def confirmed(app):
    """A confirmed 大腸 record: 陽性, 要精検."""
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        make_institution()
        person = make_resident(birth=date(1960, 5, 10))
        screening = make_screening(person, "colorectal", date(2025, 6, 2), referral=True)
        models.db.close()
    return screening.id


def stored(app, screening_id):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        found = models.Screening.get_by_id(screening_id)
        models.db.close()
    return found


def press_link(page, name):
    link = page.get_by_role("link", name=name).first
    link.focus()
    page.keyboard.press("Enter")


def test_single_clerks_outcome_change_stays_pending_until_a_second_person_confirms(
        app, page, new_page, confirmed):
    enrolled_person(app, page, "fixer", "clerk", name="訂正 一郎")
    page.goto(f"/screenings/{confirmed}")
    press_link(page, "訂正する")
    page.locator("#c-fobt_result").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("negative")
    page.keyboard.press("Tab")  # 精密検査の対象有無: cleared, derived again from the result
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.locator("#c-reason").focus()
    page.keyboard.type("用紙の読み違い")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="確認待ち").first).to_be_visible()
    expect(page.get_by_role("heading", name="訂正の確認待ち")).to_be_visible()
    expect(page.locator("dl.record")).to_contain_text("要精検")  # the record is unchanged
    assert stored(app, confirmed).referral is True
    # the proposer may not confirm it by keying it blind themselves
    page.goto("/screenings/corrections")
    expect(page.get_by_role("link", name="見ずに確認入力する")).to_have_count(0)

    other = new_page()
    enrolled_person(app, other, "checker", "clerk", name="確認 二郎")
    other.goto("/screenings/corrections")
    expect(other.locator("main table")).to_contain_text("訂正 一郎")
    press_link(other, "見ずに確認入力する")
    field = other.get_by_label("便潜血検査の判定区分")
    expect(field).to_be_focused()
    expect(field).to_have_value("")  # blind: the proposed value is not shown
    other.keyboard.type("negative")
    other.keyboard.press("Enter")
    expect(other.get_by_role("status").filter(has_text="反映しました").first).to_be_visible()
    expect(other.locator("dl.record")).to_contain_text("精検不要")
    history = other.locator("table.history").first
    expect(history).to_contain_text("訂正: 訂正 一郎")
    expect(history).to_contain_text("確認: 確認 二郎")
    assert stored(app, confirmed).referral is False
