"""Idle lock keeps work (issue 14), keyboard only in Chromium: the warning before the lock with
「操作を続ける」, then the lock, the WebAuthn unlock, and the half-typed inquiry back in place."""
import pytest
from playwright.sync_api import expect

import models

from .helpers import enrolled_person

TYPED = "4月の胃がん検診の結果通知が届かないとの電話。住所の確認中"


@pytest.mark.config(LOCK_AFTER_SECONDS=10, LOGOFF_AFTER_SECONDS=600)
def test_half_typed_inquiry_survives_the_idle_lock_and_unlock(app, page):
    enrolled_person(app, page, "phone", "clerk", name="電話 花子")
    page.goto("/inquiries/new")
    page.get_by_label("問合せ者の氏名・名称").focus()
    page.keyboard.type("千葉 一郎")
    page.keyboard.press("Tab")  # 連絡先
    page.keyboard.press("Shift+Tab")
    subject = page.get_by_label("問合せ内容")
    subject.focus()
    page.keyboard.type(TYPED)

    # the warning: an alert dialog with its button focused; pressing it keeps the page open
    warning = page.get_by_role("alertdialog", name="まもなく画面をロックします")
    warning.wait_for(timeout=15000)
    expect(page.get_by_role("button", name="操作を続ける")).to_be_focused()
    page.keyboard.press("Enter")
    expect(warning).to_be_hidden()
    expect(subject).to_be_focused()  # back where the clerk was typing
    assert page.url.endswith("/inquiries/new")

    # then nobody touches it: the lock comes, the page is blanked, the lock screen says so
    page.wait_for_url("**/lock", timeout=30000)
    assert page.get_by_role("heading", name="画面ロック中").is_visible()
    assert "画面ロックまで" not in page.locator("header").inner_text()
    assert page.get_by_text(TYPED).count() == 0
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        draft = models.SessionDraft.get()
        assert draft.path == "/inquiries/new"
        assert {f["name"] for f in draft.fields} == {"requester_name", "subject"}
        models.db.close()

    unlock = page.get_by_role("button", name="生体認証でロック解除")
    expect(unlock).to_be_enabled()
    expect(unlock).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/inquiries/new")
    subject = page.get_by_label("問合せ内容")
    expect(subject).to_have_value(TYPED)
    expect(page.get_by_label("問合せ者の氏名・名称")).to_have_value("千葉 一郎")
    expect(subject).to_be_focused()
    expect(page.get_by_role("status").filter(has_text="元に戻しました")).to_be_visible()
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert not models.SessionDraft.select().exists()  # removed once restored
        models.db.close()
