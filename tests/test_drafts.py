"""The draft kept over the screen lock (issue 14): saved on the server for the session only,
carried over the unlock to the same page, handed back once, gone at logoff; never a password."""
import html
import json

import models

from .conftest import csrf_from, login, page_csrf
from .signin_helpers import age_session, events, lock, session_row, unlock

INQUIRY = [{"form": "", "index": 0, "name": "subject", "nth": 0, "value": "胃がん検診の結果について（途中）",
            "focused": True},
           {"form": "", "index": 0, "name": "channel", "nth": 0, "values": ["電話"]},
           {"form": "", "index": 0, "name": "password", "nth": 0, "value": "secret-never-kept"}]


def _save(client, token, path="/inquiries/new", fields=INQUIRY):
    return client.post("/session/draft", json={"path": path, "fields": fields},
                       headers={"X-CSRFToken": token})


def _draft_on(page_html):
    marker = 'data-draft="'
    if marker not in page_html:
        return None
    start = page_html.index(marker) + len(marker)
    return json.loads(html.unescape(page_html[start:page_html.index('"', start)]))


def test_draft_survives_the_lock_and_comes_back_once_on_the_same_page(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client, "/inquiries/new")
    lock(client)  # the lock may already hold when the page sends its draft
    saved = _save(client, token)
    assert saved.status_code == 200 and saved.get_json()["kept"] == 2
    stored = models.SessionDraft.get()
    assert stored.session_id == session_row(client).id
    assert "secret-never-kept" not in json.dumps(stored.fields)  # never a password
    event = events("session.draft_save")[-1]
    assert event.details == {"fields": 2}  # how many, never what or where
    response = unlock(client, person)
    assert response.get_json()["redirect"] == "/inquiries/new"
    assert models.SessionDraft.get().session_id == session_row(client).id  # moved to the new id
    page = client.get("/inquiries/new").get_data(as_text=True)
    restored = _draft_on(page)
    assert [f["name"] for f in restored] == ["subject", "channel"]
    assert restored[0]["value"] == "胃がん検診の結果について（途中）" and restored[0]["focused"]
    assert not models.SessionDraft.select().exists()  # handed back once, then gone
    assert events("session.draft_restore")[-1].details == {"fields": 2}
    assert _draft_on(client.get("/inquiries/new").get_data(as_text=True)) is None


def test_saving_a_draft_needs_csrf_and_is_not_activity(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client, "/inquiries/new")
    assert client.post("/session/draft", json={"path": "/inquiries/new", "fields": INQUIRY}).status_code == 400
    assert not models.SessionDraft.select().exists()
    age_session(client, idle=60)
    idle_since = session_row(client).last_seen_at
    assert _save(client, token).status_code == 200
    assert session_row(client).last_seen_at == idle_since  # the lock's own save never delays it


def test_draft_is_removed_at_logoff(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client, "/inquiries/new")
    assert _save(client, token).status_code == 200
    assert models.SessionDraft.select().exists()
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert not models.SessionDraft.select().exists()


def test_draft_path_must_be_this_site(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client, "/inquiries/new")
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil", "inquiries/new"):
        assert _save(client, token, path=bad).status_code == 422, bad
    assert not models.SessionDraft.select().exists()


def test_unlock_without_a_draft_goes_to_the_menu(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    assert unlock(client, person).get_json()["redirect"] == "/"


def test_lock_screen_header_says_locked_not_a_countdown(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    page = client.get("/lock").get_data(as_text=True)
    assert "画面ロック中" in page and "画面ロックまで" not in page
    assert 'id="idle-warning"' not in page and csrf_from(page)
