"""職員管理: every administrative action, its effect on the person, and its audit event."""
import re
from datetime import timedelta

import pytest

import models
from kenshin import audit
from kenshin.access import staff as staff_domain
from kenshin.core.dates import now_utc
from kenshin.core.errors import Refused

from .conftest import TEST_PASSWORD, csrf_from, login, page_csrf
from .signin_helpers import events, lock, session_row
from .softauthn import SoftAuthenticator

LINK = re.compile(r'id="enroll-link" readonly value="([^"]+)"')


@pytest.fixture
def admin(app, make_staff):
    """A signed-in administrator: (client, person)."""
    person = make_staff("admin", login_id="kanri")
    client = app.test_client()
    assert login(client, person).get_json()["ok"]
    return client, person


def _post(client, path, data=None):
    data = dict(data or {})
    data.setdefault("csrf_token", page_csrf(client))
    return client.post(path, data=data)


def _signed_in(app, person):
    client = app.test_client()
    assert login(client, person).get_json()["ok"]
    return client


def _lands_on_login(client):
    response = client.get("/")
    return response.status_code == 303 and response.headers["Location"].endswith("/login")


def _enroll(app, link, login_id, authenticator, password=TEST_PASSWORD):
    """What the new person does with the link: password and first authenticator."""
    client = app.test_client()
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + path).headers["Location"].endswith("/enroll")
    page = client.get("/enroll")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    checked = client.post("/enroll/check", json={"password": password, "password_confirm": password},
                          headers={"X-CSRFToken": token})
    assert checked.status_code == 200, checked.get_json()  # the password first (issue 14)
    options = client.post("/enroll/options", headers={"X-CSRFToken": token})
    response = client.post("/enroll/complete", json={
        "password": password, "password_confirm": password, "nickname": "窓口PC",
        "credential": authenticator.register(options.get_json())},
        headers={"X-CSRFToken": token})
    return response


def test_enrollment_checks_the_password_before_any_authenticator_is_asked(app, db, make_staff):
    """Issue 14: a refused password answers by field, and the WebAuthn options (the step that
    asks the authenticator) are refused until a password has passed the check."""
    _, link_token = staff_domain.create("weak", "弱い 花子", "健康支援課", ["clerk"], audit.Actor.system("pytest"))
    client = app.test_client()
    client.get(f"/enroll/{link_token}")
    token = csrf_from(client.get("/enroll").get_data(as_text=True))
    assert client.post("/enroll/options", headers={"X-CSRFToken": token}).status_code == 409
    refused = client.post("/enroll/check", json={"password": "weak", "password_confirm": "other"},
                          headers={"X-CSRFToken": token})
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]
    assert "12文字以上にしてください" in errors["password"] and "ログインIDを含むパスワードは使えません" in errors["password"]
    assert errors["password_confirm"] == ["確認用のパスワードが一致しません"]
    assert client.post("/enroll/options", headers={"X-CSRFToken": token}).status_code == 409
    assert client.post("/enroll/check", json={"password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD},
                       headers={"X-CSRFToken": token}).status_code == 200
    assert client.post("/enroll/options", headers={"X-CSRFToken": token}).status_code == 200
    assert not models.Credential.select().exists()


# --- who may -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["clerk", "supervisor", "auditor", "maintainer"])
def test_only_administrators_reach_staff_management(client, make_staff, role):
    person = make_staff(role)
    assert login(client, person).get_json()["ok"]
    for path in ("/admin/staff", "/admin/staff/new", "/admin/sessions",
                 f"/admin/staff/{person.staff.id}"):
        assert client.get(path).status_code == 403
    token = page_csrf(client)
    response = client.post(f"/admin/staff/{person.staff.id}/roles",
                           data={"csrf_token": token, "roles": ["admin"]})
    assert response.status_code == 403
    assert models.Staff.get_by_id(person.staff.id).roles == role
    assert events("access.denied")
    assert "職員管理" not in client.get("/").get_data(as_text=True)


# --- list -------------------------------------------------------------------------------------

def test_staff_list_shows_roles_division_last_sign_in_and_status(admin, make_staff):
    client, _ = admin
    active = make_staff("clerk", "supervisor", login_id="tanaka", division="健診係")
    locked = make_staff("clerk", login_id="locked-one")
    retired = make_staff("clerk", login_id="gone-one")
    make_staff("auditor", login_id="new-one", enrolled=False)
    models.Staff.update(locked_until=now_utc() + timedelta(minutes=5)).where(
        models.Staff.id == locked.staff.id).execute()
    models.Staff.update(status="retired").where(models.Staff.id == retired.staff.id).execute()
    models.Staff.update(last_login_at=now_utc()).where(models.Staff.id == active.staff.id).execute()
    html = client.get("/admin/staff").get_data(as_text=True)
    row = re.compile(r"<tr[^>]*>\s*<td><a [^>]+>([^<]+)</a>.*?</tr>", re.S)
    rows = {m.group(1): m.group(0) for m in row.finditer(html)}
    assert "担当職員・係長" in rows["tanaka"] and "健診係" in rows["tanaka"]
    assert "有効" in rows["tanaka"] and "令和" in rows["tanaka"]
    assert "ロック中" in rows["locked-one"]
    assert "元職員" in rows["gone-one"]
    assert "未登録" in rows["new-one"] and "監査" in rows["new-one"]
    # 元職員 come last.
    assert list(rows)[-1] == "gone-one"


def test_staff_list_is_paged(admin, db):
    client, _ = admin
    for n in range(staff_domain.PER_PAGE + 5):
        staff_domain.create(f"staff{n:03d}", "職員", "健康支援課", ["clerk"],
                            audit.Actor.system("pytest"))
    first = client.get("/admin/staff").get_data(as_text=True)
    second = client.get("/admin/staff?page=2").get_data(as_text=True)
    assert "1 / 2 ページ" in first and "次へ" in first
    assert "2 / 2 ページ" in second and "前へ" in second
    assert first.count("<tr>") + first.count('<tr class') - 1 == staff_domain.PER_PAGE
    assert "staff054" in second and "staff054" not in first


# --- create -----------------------------------------------------------------------------------

@pytest.mark.config(ENROLL_LINK_HOURS=48)
def test_create_shows_a_one_time_link_once_and_audits(app, admin):
    client, manager = admin
    response = _post(client, "/admin/staff/new", {
        "login_id": "sato", "name": "佐藤 次郎", "division": "成人保健係",
        "roles": ["clerk", "supervisor"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    link = LINK.search(html).group(1)
    assert link.startswith(app.config["ORIGIN"] + "/enroll/")
    person = models.Staff.get(models.Staff.login_id == "sato")
    assert person.role_set == {"clerk", "supervisor"} and person.division == "成人保健係"
    assert person.password_hash is None
    token = link.rsplit("/", 1)[1]
    # Only the hash is stored: the link cannot be shown again.
    assert person.enroll_token_hash == staff_domain.token_hash(token)
    assert token not in client.get(f"/admin/staff/{person.id}").get_data(as_text=True)
    expires = person.enroll_expires_at - now_utc()
    assert timedelta(hours=47) < expires <= timedelta(hours=48)
    event = events("staff.create", login_id="sato")[0]
    assert event.actor_id == manager.staff.id and token not in str(event.details)
    # The link works, once.
    key = SoftAuthenticator()
    assert _enroll(app, link, "sato", key).get_json()["ok"]
    assert events("staff.enroll")[-1].actor_id == person.id
    again = app.test_client()
    again.get("/enroll/" + token)
    assert again.get("/enroll").status_code == 404


def test_create_refuses_a_taken_login_id_and_missing_roles(admin, make_staff):
    client, _ = admin
    make_staff("clerk", login_id="taken")
    response = _post(client, "/admin/staff/new", {
        "login_id": "taken", "name": "重複", "division": "健康支援課", "roles": ["clerk"]})
    assert response.status_code == 422
    assert "このログインIDは使われています" in response.get_data(as_text=True)
    response = _post(client, "/admin/staff/new", {
        "login_id": "noroles", "name": "役割なし", "division": "健康支援課"})
    assert response.status_code == 422
    assert "役割を一つ以上選んでください" in response.get_data(as_text=True)
    assert not models.Staff.select().where(models.Staff.login_id == "noroles").exists()
    assert len(events("staff.create", login_id="taken")) == 1  # make_staff's, not a second


# --- roles ------------------------------------------------------------------------------------

def test_change_roles_takes_effect_at_once_and_is_audited(app, admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    theirs = _signed_in(app, person)
    assert theirs.get("/admin/staff").status_code == 403
    response = _post(client, f"/admin/staff/{person.staff.id}/roles", {"roles": ["clerk", "admin"]})
    assert response.status_code == 303
    assert models.Staff.get_by_id(person.staff.id).role_set == {"clerk", "admin"}
    event = events("staff.roles", login_id=person.login_id)[0]
    assert event.details["before"] == ["clerk"] and event.details["after"] == ["clerk", "admin"]
    assert event.actor_id == manager.staff.id
    assert theirs.get("/admin/staff").status_code == 200


def test_admin_cannot_add_roles_to_themselves(admin):
    client, manager = admin
    _post(client, f"/admin/staff/{manager.staff.id}/roles", {"roles": ["admin", "clerk"]})
    assert models.Staff.get_by_id(manager.staff.id).roles == "admin"
    assert "自分自身に役割を追加することはできません" in client.get(
        f"/admin/staff/{manager.staff.id}").get_data(as_text=True)
    assert not events("staff.roles")


def test_last_admin_cannot_remove_their_own_admin_role(admin, make_staff):
    client, manager = admin
    make_staff("admin", enrolled=False)  # an admin who cannot sign in yet does not count
    models.Staff.update(roles="admin,auditor").where(models.Staff.id == manager.staff.id).execute()
    _post(client, f"/admin/staff/{manager.staff.id}/roles", {"roles": ["auditor"]})
    assert models.Staff.get_by_id(manager.staff.id).roles == "admin,auditor"
    assert "管理者が一人もいなくなる" in client.get(
        f"/admin/staff/{manager.staff.id}").get_data(as_text=True)


def test_admin_may_step_down_when_another_admin_remains(admin, make_staff):
    client, manager = admin
    make_staff("admin")
    response = _post(client, f"/admin/staff/{manager.staff.id}/roles", {"roles": []})
    assert models.Staff.get_by_id(manager.staff.id).roles == "admin"  # none is not a choice
    assert response.status_code == 303
    # Dropping admin for a role one already holds is not adding one.
    models.Staff.update(roles="auditor,admin").where(models.Staff.id == manager.staff.id).execute()
    _post(client, f"/admin/staff/{manager.staff.id}/roles", {"roles": ["auditor"]})
    assert models.Staff.get_by_id(manager.staff.id).roles == "auditor"
    assert client.get("/admin/staff").status_code == 403


def test_concurrent_demotions_never_leave_the_office_without_an_admin(db, make_staff):
    """Two admins removing each other's role: the second change sees the first."""
    first, second = make_staff("admin"), make_staff("admin")
    staff_domain.change_roles(second.staff.id, ["clerk"], audit.Actor.of_staff(first.staff))
    with pytest.raises(Refused):
        staff_domain.change_roles(first.staff.id, ["clerk"], audit.Actor.of_staff(second.staff))


# --- reset ------------------------------------------------------------------------------------

def test_reset_revokes_keys_clears_password_ends_sessions_and_gives_a_new_link(app, admin,
                                                                               make_staff):
    client, manager = admin
    person = make_staff("clerk")
    theirs = _signed_in(app, person)
    response = _post(client, f"/admin/staff/{person.staff.id}/reset", {"confirm": "y"})
    assert response.status_code == 200
    link = LINK.search(response.get_data(as_text=True)).group(1)
    staff = models.Staff.get_by_id(person.staff.id)
    assert staff.password_hash is None and staff_domain.status_of(staff) == "unenrolled"
    assert not models.Credential.select().where(
        (models.Credential.staff == staff) & models.Credential.revoked_at.is_null()).exists()
    assert _lands_on_login(theirs)
    assert events("staff.reset", login_id=person.login_id, credentials_revoked=1,
                  sessions_ended=1)
    assert events("session.end", why="admin", staff=person.login_id)
    # The old authenticator and password no longer work; the new link does.
    assert login(app.test_client(), person).status_code == 422
    new_key = SoftAuthenticator()
    assert _enroll(app, link, person.login_id, new_key, "a brand new passphrase").get_json()["ok"]
    person.authenticator = new_key
    assert login(app.test_client(), person, password="a brand new passphrase").get_json()["ok"]


def test_reset_needs_the_confirmation_tick_and_never_applies_to_oneself(admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    _post(client, f"/admin/staff/{person.staff.id}/reset")
    assert models.Staff.get_by_id(person.staff.id).password_hash is not None
    _post(client, f"/admin/staff/{manager.staff.id}/reset", {"confirm": "y"})
    assert models.Staff.get_by_id(manager.staff.id).password_hash is not None
    assert not events("staff.reset")


# --- retire -----------------------------------------------------------------------------------

def test_retire_ends_sessions_at_once_and_keeps_history(app, admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    theirs = _signed_in(app, person)
    row = session_row(theirs)
    response = _post(client, f"/admin/staff/{person.staff.id}/retire", {"confirm": "y"})
    assert response.status_code == 303
    staff = models.Staff.get_by_id(person.staff.id)  # still there: nothing is deleted
    assert staff.status == "retired" and staff.retired_at is not None
    assert models.UserSession.get_by_id(row.id).end_reason == "retired"
    assert _lands_on_login(theirs)
    assert events("staff.retire", login_id=person.login_id, sessions_ended=1)
    assert events("session.end", why="retired", staff=person.login_id)
    # Their sign-ins are history, not deleted; they cannot sign in again.
    assert events("login.ok") and models.Credential.select().where(
        models.Credential.staff == staff).count() == 1
    assert login(app.test_client(), person).status_code == 422
    assert "元職員" in client.get("/admin/staff").get_data(as_text=True)


def test_admin_cannot_retire_themselves(admin):
    client, manager = admin
    _post(client, f"/admin/staff/{manager.staff.id}/retire", {"confirm": "y"})
    assert models.Staff.get_by_id(manager.staff.id).status == "active"
    assert client.get("/").status_code == 200
    assert not events("staff.retire")


def test_retire_needs_the_confirmation_tick(admin, make_staff):
    client, _ = admin
    person = make_staff("clerk")
    _post(client, f"/admin/staff/{person.staff.id}/retire")
    assert models.Staff.get_by_id(person.staff.id).status == "active"


def test_retired_person_cannot_be_given_roles_or_reset(admin, make_staff):
    client, _ = admin
    person = make_staff("clerk")
    _post(client, f"/admin/staff/{person.staff.id}/retire", {"confirm": "y"})
    _post(client, f"/admin/staff/{person.staff.id}/roles", {"roles": ["admin"]})
    _post(client, f"/admin/staff/{person.staff.id}/reset", {"confirm": "y"})
    staff = models.Staff.get_by_id(person.staff.id)
    assert staff.roles == "clerk" and staff.enroll_token_hash is None


# --- unlock -----------------------------------------------------------------------------------

def test_unlock_clears_the_lockout_and_is_audited(admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    models.Staff.update(failed_logins=5, locked_until=now_utc() + timedelta(minutes=15)).where(
        models.Staff.id == person.staff.id).execute()
    assert "ロック中" in client.get(f"/admin/staff/{person.staff.id}").get_data(as_text=True)
    assert _post(client, f"/admin/staff/{person.staff.id}/unlock").status_code == 303
    staff = models.Staff.get_by_id(person.staff.id)
    assert staff.failed_logins == 0 and staff.locked_until is None
    event = events("staff.unlock", login_id=person.login_id)[0]
    assert event.details["failures"] == 5 and event.actor_id == manager.staff.id


# --- sessions ---------------------------------------------------------------------------------

def test_end_a_persons_sessions(app, admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    desk, counter = _signed_in(app, person), _signed_in(app, person)
    assert _post(client, f"/admin/staff/{person.staff.id}/end-sessions").status_code == 303
    assert _lands_on_login(desk) and _lands_on_login(counter)
    assert events("session.end_all", login_id=person.login_id, sessions=2)
    assert len(events("session.end", why="admin", staff=person.login_id)) == 2
    assert "管理者によりログオフされました" in desk.get("/login").get_data(as_text=True)


def test_ending_ones_own_sessions_keeps_the_current_one(app, admin):
    client, manager = admin
    elsewhere = _signed_in(app, manager)
    _post(client, f"/admin/staff/{manager.staff.id}/end-sessions")
    assert _lands_on_login(elsewhere)
    assert client.get("/").status_code == 200
    assert events("session.end_all", login_id=manager.login_id, sessions=1)


def test_session_list_shows_who_where_since_when_and_locked(app, admin, make_staff):
    client, _ = admin
    busy = make_staff("clerk", name="稼働 一郎", division="健診係")
    away = make_staff("clerk", name="離席 二郎", division="成人保健係")
    _signed_in(app, busy)
    away_client = _signed_in(app, away)
    lock(away_client)
    gone = make_staff("clerk", name="退勤 三郎")
    gone_client = _signed_in(app, gone)
    gone_client.post("/logout", headers={"X-CSRFToken": page_csrf(gone_client)})
    html = client.get("/admin/sessions").get_data(as_text=True)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr>\s*<td><a [^>]+>([^（<]+).*?</tr>",
                                                        html, re.S)}
    assert "健診係" in rows["稼働 一郎"] and "利用中" in rows["稼働 一郎"]
    assert "127.0.0.1" in rows["稼働 一郎"] and "令和" in rows["稼働 一郎"]
    assert "ロック中" in rows["離席 二郎"] and "成人保健係" in rows["離席 二郎"]
    assert "退勤 三郎" not in html
    assert "この画面" in html  # the administrator's own session


def test_sessions_past_the_idle_limit_are_not_listed(admin, make_staff, app):
    client, _ = admin
    person = make_staff("clerk", name="放置 四郎")
    theirs = _signed_in(app, person)
    row = session_row(theirs)
    models.UserSession.update(last_seen_at=row.last_seen_at - timedelta(hours=1)).where(
        models.UserSession.id == row.id).execute()
    assert "放置 四郎" not in client.get("/admin/sessions").get_data(as_text=True)


# --- the audit trail of an administrator's day ------------------------------------------------

def test_every_admin_change_is_audited_under_the_admins_name(app, admin, make_staff):
    client, manager = admin
    person = make_staff("clerk")
    _signed_in(app, person)
    _post(client, "/admin/staff/new", {"login_id": "newbie", "name": "新人", "division": "健康支援課",
                                       "roles": ["clerk"]})
    _post(client, f"/admin/staff/{person.staff.id}/roles", {"roles": ["supervisor"]})
    _post(client, f"/admin/staff/{person.staff.id}/unlock")
    _post(client, f"/admin/staff/{person.staff.id}/end-sessions")
    _post(client, f"/admin/staff/{person.staff.id}/reset", {"confirm": "y"})
    _post(client, f"/admin/staff/{person.staff.id}/retire", {"confirm": "y"})
    mine = (models.AuditEvent.select().where(models.AuditEvent.actor == manager.staff.id)
            .order_by(models.AuditEvent.seq))
    actions = [e.action for e in mine if e.action.startswith(("staff.", "session.end_all"))]
    assert actions == ["staff.create", "staff.roles", "staff.unlock", "session.end_all",
                       "staff.reset", "staff.retire"]
    assert audit.verify().ok


# --- recovery from the command line -----------------------------------------------------------

def test_enrollment_links_say_the_origin_they_use_and_warn_when_it_is_the_default(app, runner, make_staff,
                                                                                monkeypatch):
    make_staff("admin", login_id="soloadmin")
    monkeypatch.delenv("KENSHIN_ORIGIN", raising=False)
    unset = runner.invoke(args=["reset-user", "soloadmin"])
    assert unset.exit_code == 0
    origin = app.config["ORIGIN"]
    assert f"KENSHIN_ORIGIN が設定されていないため、既定の {origin} でリンクを作りました" in unset.stderr
    assert f"（リンクのアドレスはサーバーの KENSHIN_ORIGIN = {origin} です）" in unset.stdout
    assert unset.stdout.strip().splitlines()[-1].startswith(origin + "/enroll/")
    monkeypatch.setenv("KENSHIN_ORIGIN", origin)
    created = runner.invoke(args=["create-user", "sato", "--name", "佐藤 次郎", "--division", "成人保健係",
                                  "--role", "clerk"])
    assert created.exit_code == 0 and "注意" not in created.output
    assert created.stdout.strip().splitlines()[-1].startswith(origin + "/enroll/")


def test_reset_user_command_recovers_an_office_whose_only_admin_lost_their_key(app, runner,
                                                                               make_staff):
    person = make_staff("admin", login_id="soloadmin")
    result = runner.invoke(args=["reset-user", "soloadmin"])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith(app.config["ORIGIN"] + "/enroll/")
    staff = models.Staff.get_by_id(person.staff.id)
    assert staff.password_hash is None and "admin" in staff.role_set
    event = events("staff.reset", login_id="soloadmin")[0]
    assert event.actor_id is None and event.actor_label.startswith("os:")
    assert _enroll(app, link, "soloadmin", SoftAuthenticator()).get_json()["ok"]
    assert runner.invoke(args=["reset-user", "nobody"]).exit_code == 1
