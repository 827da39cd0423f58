"""Steps a person takes in the browser, shared by the browser tests."""
import models
from kenshin import audit
from kenshin.access import staff as staff_domain

PASSWORD = "kenshin-browser-pass-2026"


def create_link(app, login_id, *roles, name="検診 花子", division="健康支援課"):
    """What an administrator does: create a staff member and get the one-time link path."""
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        _, token = staff_domain.create(login_id, name, division, roles or ("clerk",),
                                       audit.Actor.system("pytest"))
        models.db.close()
    return f"/enroll/{token}"


def enroll(page, link, password=PASSWORD, nickname="テスト用PC"):
    page.goto(link)
    page.get_by_label("パスワード", exact=True).fill(password)
    page.get_by_label("パスワード（確認）").fill(password)
    page.get_by_label("認証器の名前").fill(nickname)
    page.get_by_role("button", name="認証器を登録して完了").click()
    page.wait_for_url("**/login")


def sign_in(page, login_id, password=PASSWORD, expect_success=True):
    page.goto("/login")
    page.get_by_label("ログインID").fill(login_id)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="次へ（生体認証）").click()
    if not expect_success:
        return
    page.get_by_role("button", name="生体認証でログイン").click()
    page.get_by_role("heading", name="メニュー").wait_for()


def enrolled_person(app, page, login_id, *roles, **kw):
    """Create, enroll through the browser and sign in: the usual start of a browser test."""
    enroll(page, create_link(app, login_id, *roles, **kw))
    sign_in(page, login_id)


def menu_click(page, name):
    """Open a page from the menu: open the group (details/summary) that holds it, click the link."""
    menu = page.get_by_role("navigation", name="メニュー")
    menu.locator("details.nav-group", has=page.locator("a", has_text=name)).first.locator("summary").click()
    menu.get_by_role("link", name=name, exact=True).click()
