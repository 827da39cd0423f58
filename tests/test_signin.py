"""Sign-in with both factors, lockout, sessions on the server, the screen lock and logout."""
import re
from datetime import timedelta

import pytest
from itsdangerous.timed import TimestampSigner
from werkzeug.routing import IntegerConverter

import models
from kenshin.access import signin
from kenshin.core.dates import now_utc

from .conftest import csrf_from, login, page_csrf
from .signin_helpers import age_session, events, lock, session_row, sid, unlock


def _password_attempt(client, login_id, password):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "login_id": login_id,
                                       "password": password})


def _staff(person):
    return models.Staff.get_by_id(person.staff.id)


# --- the two factors --------------------------------------------------------------------------

def test_sign_in_needs_password_then_webauthn(client, make_staff):
    person = make_staff("clerk")
    response = _password_attempt(client, person.login_id, person.password)
    assert "生体認証でログイン" in response.get_data(as_text=True)
    # A correct password alone opens nothing.
    assert client.get("/").status_code == 303
    assert login(client, person).get_json()["ok"]
    assert client.get("/").status_code == 200
    assert _staff(person).last_login_at is not None


def test_webauthn_step_without_password_step_is_refused(client, make_staff):
    make_staff("clerk")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login/options", headers={"X-CSRFToken": token}).status_code == 409
    assert client.post("/login/verify", data="{}", content_type="application/json",
                       headers={"X-CSRFToken": token}).status_code == 409


def test_sign_in_without_user_verification_fails_and_is_audited(client, make_staff):
    person = make_staff("clerk")
    person.authenticator.user_verified = False
    response = login(client, person)
    assert response.status_code == 403 and not response.get_json()["ok"]
    assert client.get("/").status_code == 303
    assert events("login.failed", factor="webauthn")


def test_sign_in_with_another_persons_authenticator_fails(client, make_staff):
    person, other = make_staff("clerk"), make_staff("clerk")
    response = login(client, person, authenticator=other.authenticator)
    assert response.status_code == 403
    assert client.get("/").status_code == 303


# --- lockout ----------------------------------------------------------------------------------

def test_five_failures_lock_the_account_for_fifteen_minutes(client, make_staff):
    person = make_staff("clerk")
    for _ in range(5):
        assert _password_attempt(client, person.login_id, "wrong password 1").status_code == 422
    staff = _staff(person)
    assert staff.failed_logins == 5
    remaining = staff.locked_until - now_utc()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    # The right password does not open a locked account, and the attempt is audited.
    assert login(client, person).status_code == 422
    assert events("login.failed", factor="password", why="account locked")
    assert client.get("/").status_code == 303


def test_failures_at_either_factor_count_towards_the_lockout(client, make_staff):
    person = make_staff("clerk")
    for _ in range(3):
        _password_attempt(client, person.login_id, "wrong password 1")
    person.authenticator.user_verified = False
    for _ in range(2):
        assert login(client, person).status_code == 403
    assert _staff(person).locked_until is not None


def test_attempts_while_locked_do_not_extend_the_lock(client, make_staff):
    person = make_staff("clerk")
    for _ in range(5):
        _password_attempt(client, person.login_id, "wrong password 1")
    locked_until = _staff(person).locked_until
    for _ in range(3):
        _password_attempt(client, person.login_id, "wrong password 1")
    assert _staff(person).locked_until == locked_until


def test_lock_that_ran_out_lets_the_person_in_and_starts_a_fresh_count(client, make_staff):
    person = make_staff("clerk")
    for _ in range(5):
        _password_attempt(client, person.login_id, "wrong password 1")
    models.Staff.update(locked_until=now_utc() - timedelta(seconds=1)).where(
        models.Staff.id == person.staff.id).execute()
    _password_attempt(client, person.login_id, "wrong password 1")
    staff = _staff(person)
    assert staff.failed_logins == 1 and staff.locked_until is None
    assert login(client, person).get_json()["ok"]
    assert _staff(person).failed_logins == 0


def test_admin_unlock_lifts_the_lockout(app, make_staff):
    person = make_staff("clerk")
    admin = make_staff("admin")
    user, manager = app.test_client(), app.test_client()
    for _ in range(5):
        _password_attempt(user, person.login_id, "wrong password 1")
    assert login(user, person).status_code == 422
    assert login(manager, admin).get_json()["ok"]
    response = manager.post(f"/admin/staff/{person.staff.id}/unlock",
                            headers={"X-CSRFToken": page_csrf(manager)})
    assert response.status_code == 303
    assert events("staff.unlock", login_id=person.login_id, was_locked=True)
    assert login(user, person).get_json()["ok"]


# --- no enumeration ---------------------------------------------------------------------------

def _normalised_failure(client, login_id, password):
    response = _password_attempt(client, login_id, password)
    html = response.get_data(as_text=True)
    html = re.sub(r'value="[^"]*"', 'value=""', html)  # the echoed login ID and the CSRF token
    html = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', html)
    return response.status_code, html


def test_messages_are_identical_for_unknown_wrong_locked_retired_and_unenrolled(client, make_staff):
    wrong, locked, retired = make_staff("clerk"), make_staff("clerk"), make_staff("clerk")
    unenrolled = make_staff("clerk", enrolled=False)
    models.Staff.update(locked_until=now_utc() + timedelta(minutes=10)).where(
        models.Staff.id == locked.staff.id).execute()
    models.Staff.update(status="retired").where(models.Staff.id == retired.staff.id).execute()
    answers = {
        "unknown": _normalised_failure(client, "nobody-here", "some password 12"),
        "wrong password": _normalised_failure(client, wrong.login_id, "some password 12"),
        "locked": _normalised_failure(client, locked.login_id, locked.password),
        "retired": _normalised_failure(client, retired.login_id, retired.password),
        "unenrolled": _normalised_failure(client, unenrolled.login_id, "some password 12"),
    }
    first = answers["unknown"]
    assert first[0] == 422 and signin.GENERIC_FAILURE in first[1]
    for why, answer in answers.items():
        assert answer == first, why


def test_every_attempt_is_audited_with_the_failing_factor(client, make_staff):
    person = make_staff("clerk")
    _password_attempt(client, "nobody-here", "some password 12")
    _password_attempt(client, person.login_id, "wrong password 1")
    person.authenticator.user_verified = False
    login(client, person)
    person.authenticator.user_verified = True
    assert login(client, person).get_json()["ok"]
    failed = events("login.failed")
    assert [(e.actor_label, e.details["factor"], e.outcome) for e in failed] == [
        ("nobody-here", "password", "failed"),
        (person.login_id, "password", "failed"),
        (person.login_id, "webauthn", "failed"),
    ]
    assert failed[0].actor_id is None and failed[1].actor_id == person.staff.id
    ok = events("login.ok")
    assert len(ok) == 1 and ok[0].actor_id == person.staff.id and ok[0].outcome == "ok"
    for event in failed + ok:
        assert person.password not in str(event.details)


# --- server-side sessions ---------------------------------------------------------------------

def test_sign_in_issues_a_fresh_session_and_ends_the_one_it_replaces(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    first_token, first_row = sid(client), session_row(client)
    assert login(client, person).get_json()["ok"]
    assert sid(client) != first_token
    old = models.UserSession.get_by_id(first_row.id)
    assert old.ended_at is not None and old.end_reason == "replaced"


def test_logout_is_post_only(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # still signed in


def test_logout_ends_the_server_session_so_a_copied_cookie_is_dead(app, client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    copied = client.get_cookie(cookie_name).value
    row = session_row(client)
    response = client.post("/logout", headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    ended = models.UserSession.get_by_id(row.id)
    assert ended.end_reason == "logout"
    assert events("session.end", why="logout")
    thief = app.test_client()
    thief.set_cookie(cookie_name, copied)
    response = thief.get("/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")


def test_idle_session_locks_then_logs_off_and_both_are_audited(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    age_session(client, idle=301)
    response = client.get("/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/lock")
    assert events("session.lock", why="idle")
    age_session(client, idle=1800)
    response = client.get("/lock")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert events("session.end", why="idle")
    assert "自動的にログオフ" in client.get("/login").get_data(as_text=True)


def test_absolute_limit_ends_even_an_active_session(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    age_session(client, age=43200)
    response = client.get("/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert events("session.end", why="absolute")


# --- the screen lock --------------------------------------------------------------------------

def test_unlock_issues_a_fresh_session_id_and_keeps_the_absolute_limit(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    before_token, before = sid(client), session_row(client)
    assert lock(client).headers["Location"].endswith("/lock")
    assert events("session.lock", why="user")
    response = unlock(client, person)
    assert response.status_code == 200 and response.get_json()["ok"]
    assert sid(client) != before_token
    after = session_row(client)
    assert after.id != before.id and after.created_at == before.created_at
    assert after.locked_at is None
    old = models.UserSession.get_by_id(before.id)
    assert old.ended_at is not None and old.end_reason == "replaced"
    assert events("session.unlock")[-1].outcome == "ok"
    assert client.get("/").status_code == 200


def test_only_the_same_persons_authenticator_unlocks(client, make_staff):
    person, other = make_staff("clerk"), make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    response = unlock(client, person, authenticator=other.authenticator)
    assert response.status_code == 403
    assert events("session.unlock")[-1].outcome == "failed"
    assert client.get("/").headers["Location"].endswith("/lock")


def test_unlock_needs_user_verification(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    person.authenticator.user_verified = False
    assert unlock(client, person).status_code == 403
    assert client.get("/").headers["Location"].endswith("/lock")


def test_htmx_request_from_a_locked_session_gets_hx_redirect_to_lock(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith("/lock")
    assert response.get_data() == b""


def test_a_locked_session_never_gets_data_from_any_page(app, client, make_staff):
    secret = make_staff("clerk", name="秘密 花子", login_id="hidden-person")
    person = make_staff("admin", "clerk", "supervisor", "auditor")
    assert login(client, person).get_json()["ok"]
    lock(client)
    token = csrf_from(client.get("/lock").get_data(as_text=True))
    served = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if "public" in view.roles or getattr(view, "allowed_when_locked", False):
            continue
        url = rule.build({a: (secret.staff.id if isinstance(rule._converters[a], IntegerConverter)
                              else "x") for a in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.open(url, method=method,
                                       headers=dict(headers, **{"X-CSRFToken": token}))
                body = response.get_data(as_text=True)
                if "machine" in view.roles:  # another system's route refuses any staff cookie
                    assert response.status_code == 403, (method, rule.rule)
                    assert "秘密" not in body and "hidden-person" not in body
                    continue
                assert response.status_code in (204, 303), (method, rule.rule)
                target = response.headers.get("HX-Redirect") or response.headers["Location"]
                assert target.endswith("/lock"), (method, rule.rule)
                assert "秘密" not in body and "hidden-person" not in body
                served += 1
    assert served > 10
    # Nothing changed behind the lock either.
    assert models.Staff.get_by_id(secret.staff.id).status == "active"
    assert models.Staff.select().count() == 2


@pytest.mark.config(WTF_CSRF_TIME_LIMIT=2)
def test_lock_screen_left_open_past_the_csrf_lifetime_still_unlocks(client, make_staff, monkeypatch):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    lock(client)
    stale = csrf_from(client.get("/lock").get_data(as_text=True))
    # Three seconds pass on the signing clock (no sleep): the token on the open lock screen expires.
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 3)
    assert client.post("/lock/options", headers={"X-CSRFToken": stale}).status_code == 400
    # What the lock screen's script does first: a fresh token (not counted as activity).
    seen = session_row(client).last_seen_at
    fresh = client.get("/lock/csrf").get_json()["token"]
    assert session_row(client).last_seen_at == seen
    response = unlock(client, person, token=fresh)
    assert response.status_code == 200 and response.get_json()["ok"]
    assert client.get("/").status_code == 200


def test_fresh_csrf_token_is_not_served_to_an_ended_session(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    client.post("/logout", headers={"X-CSRFToken": page_csrf(client)})
    response = client.get("/lock/csrf")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")


# --- retirement reaches running sessions ------------------------------------------------------

def test_retired_persons_running_session_ends_on_the_next_request(client, make_staff):
    """The gate re-reads the person on every request: a retirement made elsewhere (even behind
    the admin screen's back) ends the session at once."""
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    models.Staff.update(status="retired").where(models.Staff.id == person.staff.id).execute()
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].endswith("/login")
    assert session_row(client) is None or session_row(client).end_reason == "retired"
    assert events("session.end", why="retired")


def test_password_cost_is_production_strength_unless_testing(tmp_path):
    """Tests run a cheap scrypt cost; an app that is not TESTING keeps N = 2**14 and refuses less."""
    from app import create_app
    from kenshin.access import passwords

    url = f"sqlite:///{tmp_path}/cost.db"
    config = {"SECRET_KEY": "k", "AUDIT_KEY": "a", "DATABASE_URL": url}
    with pytest.raises(RuntimeError):
        create_app(dict(config, PASSWORD_HASH_N=2 ** 4))
    try:
        create_app(config)
        stored = passwords.hash_password("correct horse battery staple")
        assert stored.split("$")[1] == str(2 ** 14)
        passwords.configure(2 ** 4)
        assert passwords.check_password(stored, "correct horse battery staple")  # own parameters
        assert passwords.hash_password("x" * 12).split("$")[1] == "16"
    finally:
        passwords.configure(2 ** 4)  # what the test configuration uses
