"""Issue 20 in Chromium, keyboard only: a clerk on the phone finds the caller by kana, receives
an inquiry from the person page with the person already filled in, and sees it listed there."""
import os
from datetime import date

import models

from ..factories import make_resident
from .helpers import enrolled_person


def _arrange(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        caller = make_resident("0000080001", name="髙橋　花子", kana="タカハシ　ハナコ", sex=2,
                               birth=date(1982, 4, 1))
        make_resident("0000080002", name="高橋　花江", kana="タカハシ　ハナエ", sex=2,
                      birth=date(1975, 8, 9))
        models.db.close()
    return caller.id


def _keep_screen(page, name):
    """KENSHIN_KEEP_PDF=/some/dir keeps screenshots for a person to look at (as the other tests)."""
    keep = os.environ.get("KENSHIN_KEEP_PDF")
    if keep:
        os.makedirs(keep, exist_ok=True)
        page.screenshot(path=os.path.join(keep, f"{name}.png"), full_page=True)


def tab_to(page, locator, limit=80):
    """Press Tab until `locator` has the focus (what a keyboard user does); fail if it never does."""
    target = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", target):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


def test_clerk_receives_an_inquiry_from_the_callers_page_by_keyboard(app, page):
    caller_id = _arrange(app)
    enrolled_person(app, page, "denwa", "clerk", name="電話 受子")
    page.goto("/residents/")

    tab_to(page, page.get_by_label("カナ（前から）"))
    page.keyboard.type("たかはし", delay=30)
    tab_to(page, page.get_by_label("生年月日"))
    page.keyboard.type("S57.4.1", delay=30)
    result = page.get_by_role("link", name="髙橋　花子")
    result.wait_for()
    tab_to(page, result)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="髙橋　花子（タカハシ　ハナコ）").wait_for()
    assert "この方についての問合せの記録はありません" in page.locator("#inquiries-heading + p").inner_text()

    tab_to(page, page.get_by_role("button", name="問合せを受け付ける"))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="問合せの受付").wait_for()
    assert page.url.endswith("/inquiries/new/person")  # the person travelled in the POST body
    confirm = page.locator("#person-confirm").inner_text()
    assert "髙橋　花子" in confirm and "昭和57年4月1日 (1982-04-01)" in confirm
    assert page.get_by_label("対象者の宛名番号（わかる場合）").input_value() == "0000080001"

    tab_to(page, page.get_by_label("受付方法"))
    page.keyboard.press("ArrowDown")  # 窓口
    page.keyboard.press("ArrowDown")  # 電話
    tab_to(page, page.get_by_label("問合せ者の区分"))
    page.keyboard.press("ArrowDown")  # 本人
    tab_to(page, page.get_by_label("問合せ者の氏名・名称"))
    page.keyboard.type("髙橋 花子")
    tab_to(page, page.get_by_label("問合せ内容"))
    page.keyboard.type("今年の乳がん検診の受診券が届いていない")
    _keep_screen(page, "screen-inquiry-from-person")
    assert page.get_by_label("受付方法").input_value() == "電話"
    assert page.get_by_label("問合せ者の区分").input_value() == "本人"
    tab_to(page, page.get_by_role("button", name="受付を登録"))
    page.keyboard.press("Enter")
    page.get_by_text("問合せを受け付けました").wait_for()

    tab_to(page, page.get_by_role("link", name="個人の画面へ"))
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="髙橋　花子（タカハシ　ハナコ）").wait_for()
    listed = page.locator("#person-inquiries").inner_text()
    assert "今年の乳がん検診の受診券が届いていない" in listed and "電話" in listed and "対応中" in listed
    assert "電話 受子" in listed
    _keep_screen(page, "screen-person-with-inquiry")

    # back to the search: the caller's search is still there (kept on the server)
    tab_to(page, page.get_by_role("link", name="住民検索へ戻る（検索条件はそのまま）"))
    page.keyboard.press("Enter")
    page.get_by_role("link", name="髙橋　花子").wait_for()
    assert page.get_by_label("カナ（前から）").input_value() == "たかはし"
    assert page.url.endswith("/residents/")

    # the inquiry list finds it by the caller's kana as the clerk types (POST, nothing in the URL)
    page.goto("/inquiries/")
    tab_to(page, page.get_by_label("対象者のカナ（前から）"))
    page.keyboard.type("たかはし", delay=30)
    page.locator("#inquiry-list").get_by_text("1件").first.wait_for()
    assert "髙橋　花子" in page.locator("#inquiry-list").inner_text()
    tab_to(page, page.get_by_label("対象者のカナ（前から）"))
    page.keyboard.press("End")
    page.keyboard.type("ゆ", delay=30)  # タカハシユ…: nobody
    page.get_by_text("条件に合う問合せはありません").wait_for()
    assert page.url.endswith("/inquiries/")

    with app.app_context():
        models.db.connect(reuse_if_open=True)
        inquiry = models.Inquiry.get()
        assert inquiry.resident_id == caller_id and inquiry.channel == "電話"
        models.db.close()
