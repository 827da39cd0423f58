"""The keying screen as the desk uses it, in Chromium with the keyboard only: Enter always saves
(a candidate picked with Space, then Enter), the function keys shown on the sheet, results typed
as the paper prints them (陽性, ＋) and stored as the catalogue's codes, dates typed the short
way, and every exam's sheet on one 1366×768 screen with 保存 in view."""
from datetime import date

import pytest
from playwright.sync_api import expect

import models
from kenshin.screening import catalogue

from .helpers import enrolled_person
from .test_entry import EXAMS, focused_id, office, set_batch, type_and_tab  # noqa: F401 (fixture)

VIEWPORT = {"width": 1366, "height": 768}


def stored_screenings(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        rows = list(models.Screening.select().order_by(models.Screening.id))
        models.db.close()
    return rows


def type_candidate_identity(page, kana="ちば はなこ", birth="S350510", sex="2"):
    """No 整理番号 nor 宛名番号 on this form: kana, 生年月日 and 性別 offer candidates; the cursor
    ends in 氏名, the field before them."""
    assert focused_id(page) == "f-seiri_no"
    type_and_tab(page, "")
    type_and_tab(page, "")
    type_and_tab(page, kana)
    type_and_tab(page, birth)
    type_and_tab(page, sex)
    assert focused_id(page) == "f-name"


def test_a_form_with_a_candidate_is_saved_with_space_and_enter(app, page, office):
    enrolled_person(app, page, "paper1", "clerk")
    page.goto("/entry/")
    set_batch(page, "colorectal")
    type_candidate_identity(page)
    candidate = page.locator(".candidates input[type=radio]")
    expect(candidate).to_have_count(1)
    expect(page.locator(".candidates")).to_contain_text("千葉 花子")
    # the date the short way: S350510 is shown expanded beside its field and in the panel
    expect(page.locator("#f-birth_date-hint")).to_have_text("昭和35年5月10日 (1960-05-10)")
    expect(page.locator(".candidates")).to_contain_text("昭和35年5月10日 (1960-05-10)")
    page.keyboard.press("Tab")  # past 氏名 to the candidate (not picked yet)
    assert focused_id(page).startswith("cand-")
    page.keyboard.press("Tab")
    assert focused_id(page) == "f-exam_date"
    page.keyboard.press("Control+A")
    type_and_tab(page, "R7.6.2")
    type_and_tab(page, "陰性")
    # Enter before a candidate is picked: refused, and told to pick one — never parked
    page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("候補を選んで Enter")
    assert not stored_screenings(app)
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert not models.QueueItem.select().exists()
        models.db.close()
    # back to the person lines (F2) and on to the candidate: Tab past the six fields
    # (a locator, not wait_for_function: the page's CSP forbids evaluating a string)
    expect(page.locator(".htmx-request, .htmx-settling, .htmx-swapping")).to_have_count(0)
    page.keyboard.press("F2")
    expect(page.locator("#f-seiri_no")).to_be_focused()
    # Tab on to the candidate, past the six fields. Leaving a field may start a look-up whose
    # answer redraws the panel; under load that came late and took a Tab with it, so each Tab
    # waits for htmx to settle, and the candidate must be reached within the person lines.
    visited = []
    while not visited or not visited[-1].startswith("cand-"):
        assert len(visited) < 8, visited
        page.keyboard.press("Tab")
        expect(page.locator(".htmx-request")).to_have_count(0)
        visited.append(focused_id(page))
    assert set(visited[:-1]) <= {"f-seiri_no", "f-atena_no", "f-name_kana", "f-birth_date", "f-sex", "f-name"}, visited
    page.keyboard.press("Space")
    expect(page.locator(".candidates input[type=radio]")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator(".entry-status")).to_contain_text("保存しました")
    expect(page.locator("#f-seiri_no")).to_be_focused()
    (saved,) = stored_screenings(app)
    assert saved.items["fobt_result"] == "negative" and saved.referral is False
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert not models.QueueItem.select().exists()
        models.db.close()


@pytest.mark.parametrize("typed", ["陽性", "＋"])
def test_a_fecal_occult_blood_result_typed_as_on_the_paper_is_stored_as_the_code(app, page, office, typed):
    enrolled_person(app, page, "paper2", "clerk")
    page.goto("/entry/")
    set_batch(page, "colorectal")
    for _ in range(6):  # 整理番号 … 氏名: the 宛名番号 names the person
        type_and_tab(page, {1: "000000000001", 2: "ちば はなこ", 3: "S35/5/10", 4: "2"}.get(_, ""))
    assert focused_id(page) == "f-exam_date"
    page.keyboard.press("Control+A")
    type_and_tab(page, "7.6.2")  # a bare date: the current era (令和)
    expect(page.locator("#sheet .item-date .meaning")).to_have_text("令和7年6月2日 (2025-06-02)")
    page.keyboard.type(typed)
    page.keyboard.press("Tab")
    meaning = page.locator("#f-fobt_result ~ .meaning")
    expect(meaning).to_have_text("陽性")  # the chosen meaning beside the field, before saving
    expect(page.locator(".derived")).to_contain_text("要精検")
    page.keyboard.press("Enter")  # on the referral field (blank: derived): Enter saves
    expect(page.locator(".entry-status")).to_contain_text("保存しました")
    (saved,) = stored_screenings(app)
    assert saved.items == {"fobt_result": "positive", "referral": "1"} and saved.referral is True
    assert saved.exam_date == date(2025, 6, 2)


def test_a_value_the_paper_does_not_use_is_refused_with_the_forms_it_accepts(app, page, office):
    enrolled_person(app, page, "paper3", "clerk")
    page.goto("/entry/")
    set_batch(page, "colorectal")
    for value in ("", "000000000001", "ちば はなこ", "S35.5.10", "2", ""):
        type_and_tab(page, value)
    page.keyboard.press("Control+A")
    type_and_tab(page, "R7.6.2")
    type_and_tab(page, "たぶん陽性")
    error = page.locator("#sheet .item-field:has(#f-fobt_result) .error")
    expect(error).to_contain_text("読めません")
    expect(error).to_contain_text("陰性（－・（－）・1）、陽性（＋・（＋）・2）")
    expect(page.locator("#f-fobt_result")).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("F9")  # 保存 by its function key: refused with the same message
    expect(page.locator("#sheet .error-summary")).to_contain_text("陽性（＋・（＋）・2）")
    assert not stored_screenings(app)


def test_function_keys_park_and_return_to_the_person_lines(app, page, office):
    enrolled_person(app, page, "paper4", "clerk")
    page.goto("/entry/")
    set_batch(page, "colorectal")
    expect(page.locator("#key-hints")).to_contain_text("F8 突合待ちへ")
    expect(page.locator("#key-hints")).to_contain_text("F2 受診者欄へ")
    for value in ("", "000000000001", "ちば はなこ", "S35.5.11", "2", ""):  # the paper says the 11th
        type_and_tab(page, value)
    expect(page.locator(".match tr.mismatch")).to_have_count(1)
    page.keyboard.press("Control+A")
    type_and_tab(page, "R7.6.2")
    type_and_tab(page, "－")
    page.keyboard.press("F2")
    expect(page.locator("#f-seiri_no")).to_be_focused()
    # the browser's own keys are never taken by the sheet
    for key in ("F3", "F5", "F6", "F11", "F12"):
        assert not page.evaluate(
            """key => { const e = new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true});
                        document.activeElement.dispatchEvent(e); return e.defaultPrevented; }""", key), key
    page.keyboard.press("F8")
    expect(page.locator(".entry-status")).to_contain_text("突合待ちに保留しました")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        (item,) = models.QueueItem.select()
        models.db.close()
    assert item.raw["items"]["fobt_result"] == "negative"  # parked as the code, not as typed
    assert not stored_screenings(app)


def test_every_exams_sheet_fits_1366_by_768_with_save_in_view(app, browser, live_server, office):
    context = browser.new_context(base_url=live_server, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  viewport=VIEWPORT)
    context.set_default_timeout(15000)
    page = context.new_page()
    from .conftest import VirtualAuthenticator
    page.authenticator = VirtualAuthenticator(page)
    try:
        enrolled_person(app, page, "paper5", "clerk")
        page.goto("/entry/")
        for exam in EXAMS:
            set_batch(page, exam)
            save = page.get_by_role("button", name="保存（Enter・F9）")
            box = save.bounding_box()
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], \
                (exam, box)
            assert box["x"] + box["width"] <= VIEWPORT["width"], (exam, box)
            assert scroll_width <= VIEWPORT["width"], (exam, scroll_width)
            assert page.evaluate("window.scrollY") == 0, exam
            # every item of the exam is on the screen too, in paper order
            for item in catalogue.get_exam(exam).fields:
                field = page.locator(f"#f-{item.key}").bounding_box()
                assert field["y"] + field["height"] <= VIEWPORT["height"], (exam, item.key, field)
    finally:
        context.close()
