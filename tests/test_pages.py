"""The page skeleton: Japanese login page, security headers, CSRF, no data for the signed-out."""
import re

from .conftest import csrf_from, login


def test_login_page_is_japanese_and_carries_security_headers(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "ログインID" in html and "パスワード" in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script(client):
    html = client.get("/login").get_data(as_text=True)
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"


def test_signed_out_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith("/login")


def test_post_without_csrf_token_is_refused(client, make_staff):
    person = make_staff("clerk")
    response = client.post("/login", data={"login_id": person.login_id, "password": person.password})
    assert response.status_code == 400
    assert "有効期限" in response.get_data(as_text=True)


def test_signed_in_clerk_sees_menu_with_name(client, make_staff):
    person = make_staff("clerk", name="千葉 花子")
    assert login(client, person).get_json()["ok"]
    html = client.get("/").get_data(as_text=True)
    assert "千葉 花子" in html and "メニュー" in html
    assert "hx-history=\"false\"" in html
    token = csrf_from(html)
    assert token


def test_menu_shows_each_role_only_the_waiting_work_it_may_open(client, make_staff):
    """Issue 20: the menu counts the work waiting and links each count to its list, only for the
    lists the roles open; it does not repeat the header's links."""
    clerk = make_staff("clerk")
    assert login(client, clerk).get_json()["ok"]
    html = client.get("/").get_data(as_text=True)
    main = html[html.index('id="waiting"'):]
    for key in ("queue", "verify", "inquiries", "followup"):
        assert f'id="waiting-{key}"' in main, key
    assert 'id="waiting-requests"' not in main and 'id="waiting-provision"' not in main
    assert 'href="/inquiries/?status=open"' in main and 'href="/followup/?status=unknown"' in main
    assert "住民検索" not in main  # the screens are in the header, not repeated here
    client.post("/logout", data={"csrf_token": csrf_from(html)})

    admin = make_staff("admin")
    assert login(client, admin).get_json()["ok"]
    html = client.get("/").get_data(as_text=True)
    main = html[html.index('id="waiting"'):]
    assert 'class="count"' not in main and "この役割で件数を表示する仕事はありません" in main


def test_domain_not_found_answers_the_404_page_from_every_area(app, make_staff):
    """NotFound raised by the domain is translated once, by the app's error handler."""
    for roles, path in [(("clerk",), "/screenings/987654"), (("clerk",), "/residents/987654"),
                        (("supervisor",), "/disclosures/987654"), (("admin",), "/admin/staff/987654"),
                        (("admin",), "/institutions/987654")]:
        client = app.test_client()
        assert login(client, make_staff(*roles)).get_json()["ok"]
        response = client.get(path)
        assert response.status_code == 404, path
        assert "お探しのページは見つかりませんでした。" in response.get_data(as_text=True)


def test_domain_refusal_without_its_own_handling_answers_403(app):
    """A Refused that no route turns into a flash or fragment becomes the 403 page, never a 500."""
    from blueprints.web import public
    from kenshin.core.errors import Refused

    @public
    def refuse():
        raise Refused("理由は利用者に見せない")
    app.add_url_rule("/__refuse", "refuse", refuse)
    response = app.test_client().get("/__refuse")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "この操作を行う権限がありません。" in html and "理由は利用者に見せない" not in html
