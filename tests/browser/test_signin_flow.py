"""Enrollment and sign-in end to end in Chromium with the CDP virtual authenticator."""
import pytest

import models

from .helpers import PASSWORD, create_link, enroll, enrolled_person, sign_in


def test_enroll_from_link_then_sign_in_with_both_factors(app, page):
    link = create_link(app, "hanako", "clerk", name="千葉 花子")
    enroll(page, link)
    assert len(page.authenticator.credentials()) == 1
    sign_in(page, "hanako")
    assert "千葉 花子" in page.locator("header").inner_text()


def test_enrollment_link_works_once(app, page):
    link = create_link(app, "once", "clerk")
    enroll(page, link)
    page.goto(link)
    assert page.get_by_role("heading", name="登録用リンクが使えません").is_visible()


def test_wrong_password_never_reaches_webauthn(app, page):
    enroll(page, create_link(app, "taro", "clerk"))
    sign_in(page, "taro", password="wrong-password-123", expect_success=False)
    assert page.get_by_text("ログインIDまたはパスワードが正しくありません").is_visible()
    assert page.get_by_role("button", name="生体認証でログイン").count() == 0


def test_unknown_login_gets_the_same_message(app, page):
    sign_in(page, "nobody", password="whatever-password", expect_success=False)
    assert page.get_by_text("ログインIDまたはパスワードが正しくありません").is_visible()


def test_sign_in_refused_without_user_verification(app, page):
    enroll(page, create_link(app, "nouv", "clerk"))
    page.authenticator.set_user_verified(False)
    page.goto("/login")
    page.get_by_label("ログインID").fill("nouv")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="次へ（生体認証）").click()
    page.get_by_role("button", name="生体認証でログイン").click()
    page.get_by_text("生体認証が完了しませんでした").or_(page.get_by_text("生体認証に失敗しました")).wait_for()
    page.goto("/")
    assert page.url.endswith("/login")


def test_retired_staff_cannot_sign_in(app, page):
    enroll(page, create_link(app, "gone", "clerk"))
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        models.Staff.update(status="retired").where(models.Staff.login_id == "gone").execute()
        models.db.close()
    sign_in(page, "gone", expect_success=False)
    assert page.get_by_text("ログインIDまたはパスワードが正しくありません").is_visible()


@pytest.mark.config(LOCK_AFTER_SECONDS=3, LOGOFF_AFTER_SECONDS=60)
def test_idle_lock_blanks_the_page_and_only_webauthn_unlocks(app, page):
    enrolled_person(app, page, "idle", "clerk")
    page.wait_for_url("**/lock", timeout=15000)
    assert page.get_by_role("heading", name="画面ロック中").is_visible()
    assert page.locator("nav.site-nav").count() == 0
    # A request from the locked session gets the lock screen, htmx or not.
    page.goto("/")
    assert page.url.endswith("/lock")
    page.get_by_role("button", name="生体認証でロック解除").click()
    page.get_by_role("heading", name="メニュー").wait_for()


@pytest.mark.config(LOCK_AFTER_SECONDS=60, LOGOFF_AFTER_SECONDS=3)
def test_idle_logoff_ends_the_session(app, page):
    enrolled_person(app, page, "logoff", "clerk")
    page.wait_for_url("**/login", timeout=15000)
    assert page.get_by_text("自動的にログオフしました").is_visible()


@pytest.mark.config(LOCK_AFTER_SECONDS=60, LOGOFF_AFTER_SECONDS=60, SESSION_MAX_SECONDS=4)
def test_absolute_limit_ends_the_session(app, page):
    enrolled_person(app, page, "maxage", "clerk")
    page.wait_for_url("**/login", timeout=15000)
    assert page.get_by_text("利用できる時間を過ぎたため").is_visible()
    page.goto("/")
    assert page.url.endswith("/login")


def test_weak_password_at_enrollment_never_reaches_the_authenticator(app, page):
    """Keyboard only: the server refuses the password before navigator.credentials.create, the
    error sits at the field with focus on it, and the virtual authenticator holds nothing."""
    page.goto(create_link(app, "weakpw", "clerk"))
    page.get_by_label("パスワード", exact=True).focus()
    page.keyboard.type("short")
    page.keyboard.press("Tab")
    page.keyboard.type("short")
    page.keyboard.press("Enter")
    error = page.locator("#password-error")
    error.wait_for()
    assert "12文字以上にしてください" in error.inner_text()
    password = page.get_by_label("パスワード", exact=True)
    assert password.get_attribute("aria-invalid") == "true"
    assert "password-error" in password.get_attribute("aria-describedby")
    assert page.evaluate("document.activeElement.id") == "password"
    assert page.authenticator.credentials() == []  # no orphan credential
    # then a good one, still by keyboard: enrolled with exactly one credential
    page.keyboard.press("Control+A")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/login")
    assert len(page.authenticator.credentials()) == 1
