"""職員管理 and 認証器の管理 end to end in Chromium with CDP virtual authenticators."""
import pytest
from itsdangerous.timed import TimestampSigner

from .helpers import enroll, enrolled_person, sign_in, menu_click


def _open_staff(page, login_id):
    page.goto("/admin/staff")
    page.get_by_role("link", name=login_id, exact=True).click()
    page.get_by_role("heading", name=f"（{login_id}）").wait_for()


def test_admin_creates_staff_who_enrolls_from_the_link_and_signs_in(app, page, new_page):
    enrolled_person(app, page, "kanri", "admin", name="管理 太郎")
    menu_click(page, "職員管理")
    page.get_by_role("link", name="職員を登録").click()
    page.get_by_label("ログインID").fill("sato")
    page.get_by_label("氏名").fill("佐藤 次郎")
    page.get_by_label("所属").fill("成人保健係")
    page.get_by_label("担当職員").check()
    page.get_by_label("係長").check()
    page.get_by_role("button", name="登録して利用登録リンクを発行").click()
    page.get_by_role("heading", name="職員を登録しました").wait_for()
    link = page.get_by_label("利用登録リンク").input_value()
    assert "/enroll/" in link

    newcomer = new_page()  # the new person's own browser and authenticator
    enroll(newcomer, link)
    assert len(newcomer.authenticator.credentials()) == 1
    sign_in(newcomer, "sato")
    assert "佐藤 次郎" in newcomer.locator("header").inner_text()
    assert newcomer.locator("nav.site-nav a", has_text="職員管理").count() == 0  # not in the menu at all

    page.goto("/admin/staff")
    row = page.get_by_role("row").filter(has_text="sato")
    assert "担当職員・係長" in row.inner_text() and "有効" in row.inner_text()
    assert "令和" in row.inner_text()  # last sign-in


def test_retired_persons_next_request_lands_on_the_login_page(app, page, new_page):
    enrolled_person(app, page, "kanri", "admin")
    leaving = new_page()
    enrolled_person(app, leaving, "leaving", "clerk", name="退職 予定")

    _open_staff(page, "leaving")
    page.locator("#retire-confirm").check()
    page.get_by_role("button", name="元職員にする").click()
    page.get_by_text("元職員にしました").wait_for()

    leaving.get_by_role("link", name="メニュー").first.click()
    leaving.wait_for_url("**/login")
    assert leaving.get_by_text("管理者によりログオフされました").is_visible()
    sign_in(leaving, "leaving", expect_success=False)
    assert leaving.get_by_text("ログインIDまたはパスワードが正しくありません").is_visible()

    page.goto("/admin/sessions")
    assert page.get_by_text("退職 予定").count() == 0


def test_add_a_second_authenticator_then_revoke_the_first(app, page):
    enrolled_person(app, page, "tanaka", "clerk")
    menu_click(page, "認証器の管理")
    assert page.get_by_role("button", name="認証器を追加").count() == 0

    page.get_by_role("button", name="生体認証で本人確認").click()
    page.get_by_text("本人確認済みです").wait_for()

    # A new fingerprint key is plugged in; the platform authenticator goes away.
    cdp = page.authenticator.cdp
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": page.authenticator.id})
    key = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})["authenticatorId"]

    page.get_by_label("認証器の名前").fill("予備の指紋キー")
    page.get_by_role("button", name="認証器を追加").click()
    page.get_by_text("認証器「予備の指紋キー」を追加しました").wait_for()
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": key})["credentials"]) == 1
    rows = page.get_by_role("row")
    assert rows.filter(has_text="予備の指紋キー").count() == 1

    page.get_by_role("button", name="テスト用PC を無効にする").click()
    page.get_by_text("認証器「テスト用PC」を無効にしました").wait_for()
    assert "無効（" in page.get_by_role("row").filter(has_text="テスト用PC").inner_text()
    # The last active one cannot be revoked.
    assert page.get_by_role("button", name="予備の指紋キー を無効にする").count() == 0

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    sign_in(page, "tanaka")  # with the new key


@pytest.mark.config(WTF_CSRF_TIME_LIMIT=5)
def test_lock_screen_left_open_past_the_csrf_lifetime_unlocks_and_logs_out(app, page, monkeypatch):
    enrolled_person(app, page, "nagai", "clerk")
    page.get_by_role("button", name="画面ロック").click()
    page.get_by_role("heading", name="画面ロック中").wait_for()
    _signing_clock_ahead(monkeypatch, 6)  # the token on this page expires (configured to 5 s)
    page.get_by_role("button", name="生体認証でロック解除").click()
    page.get_by_role("heading", name="メニュー").wait_for()

    page.get_by_role("button", name="画面ロック").click()
    page.get_by_role("heading", name="画面ロック中").wait_for()
    _signing_clock_ahead(monkeypatch, 12)
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    assert page.get_by_text("ログアウトしました").is_visible()


def _signing_clock_ahead(monkeypatch, seconds: int):
    """Move the clock that signs and checks CSRF tokens ahead (the server runs in this process)
    instead of waiting for a token to expire."""
    monkeypatch.undo()
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + seconds)
