"""認証器の管理: one's own authenticators, added and revoked only after a fresh WebAuthn check."""
from datetime import timedelta

import models
from kenshin.access import credentials
from kenshin.core.dates import now_utc

from .conftest import login, page_csrf
from .signin_helpers import events, lock, reauth, unlock
from .softauthn import SoftAuthenticator


def _add(client, authenticator, nickname="予備の指紋キー"):
    token = page_csrf(client, "/account/")
    options = client.post("/account/credentials/options", headers={"X-CSRFToken": token})
    if options.status_code != 200:
        return options
    answer = authenticator.register(options.get_json())
    return client.post("/account/credentials", json={"nickname": nickname, "credential": answer},
                       headers={"X-CSRFToken": token})


def _revoke(client, credential_id):
    return client.post(f"/account/credentials/{credential_id}/revoke",
                       data={"csrf_token": page_csrf(client, "/account/")})


def _active(person):
    return list(models.Credential.select().where(
        (models.Credential.staff == person.staff.id) & models.Credential.revoked_at.is_null()))


def _age_reauth(client, seconds):
    with client.session_transaction() as flask_session:
        mark = flask_session["reauth"]
        at = now_utc() - timedelta(seconds=seconds)
        flask_session["reauth"] = dict(mark, at=at.isoformat())


def test_any_role_lists_own_authenticators_with_nickname_created_and_last_used(client, make_staff):
    person = make_staff("maintainer")
    other = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    html = client.get("/account/").get_data(as_text=True)
    assert "テスト用" in html and "令和" in html and "有効" in html
    assert "認証器の管理" in client.get("/").get_data(as_text=True)
    # Only one's own: the other person's authenticator is not listed.
    models.Credential.update(nickname="他人のキー").where(
        models.Credential.staff == other.staff.id).execute()
    assert "他人のキー" not in client.get("/account/").get_data(as_text=True)


def test_adding_needs_a_fresh_check(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    response = _add(client, SoftAuthenticator())
    assert response.status_code == 403 and "本人確認" in response.get_json()["message"]
    assert len(_active(person)) == 1
    assert "credential-add-form" not in client.get("/account/").get_data(as_text=True)


def test_add_after_a_fresh_check_is_stored_and_audited(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    assert reauth(client, person).get_json()["ok"]
    assert events("credential.reauth")[-1].outcome == "ok"
    assert "credential-add-form" in client.get("/account/").get_data(as_text=True)
    spare = SoftAuthenticator()
    response = _add(client, spare)
    assert response.status_code == 200 and response.get_json()["ok"]
    assert [c.nickname for c in _active(person)] == ["テスト用", "予備の指紋キー"]
    event = events("credential.add", login_id=person.login_id)[-1]
    assert event.outcome == "ok" and event.details["nickname"] == "予備の指紋キー"
    # The new one signs in.
    assert login(client, person, authenticator=spare).get_json()["ok"]


def test_added_authenticator_needs_user_verification(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    reauth(client, person)
    no_uv = SoftAuthenticator()
    no_uv.user_verified = False
    assert _add(client, no_uv).status_code == 403
    assert len(_active(person)) == 1
    assert events("credential.add")[-1].outcome == "failed"


def test_a_stale_check_no_longer_allows_changes(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    reauth(client, person)
    _age_reauth(client, credentials.FRESH.total_seconds() + 1)
    assert _add(client, SoftAuthenticator()).status_code == 403
    assert len(_active(person)) == 1


def test_the_check_belongs_to_the_session_it_was_made_in(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    reauth(client, person)
    lock(client)
    assert unlock(client, person).get_json()["ok"]  # a new session id
    assert _add(client, SoftAuthenticator()).status_code == 403


def test_fresh_check_refuses_another_persons_authenticator(client, make_staff):
    person, other = make_staff("clerk"), make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    assert reauth(client, person, authenticator=other.authenticator).status_code == 403
    assert events("credential.reauth")[-1].outcome == "failed"
    assert _add(client, SoftAuthenticator()).status_code == 403


def test_revoke_needs_a_fresh_check_and_never_takes_the_last_one(client, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    first = _active(person)[0]
    reauth(client, person)
    _revoke(client, first.id)
    assert len(_active(person)) == 1  # the last one stays
    assert "最後の認証器は無効にできません" in client.get("/account/").get_data(as_text=True)
    spare = SoftAuthenticator()
    assert _add(client, spare).get_json()["ok"]
    _age_reauth(client, credentials.FRESH.total_seconds() + 1)
    _revoke(client, first.id)
    assert len(_active(person)) == 2  # not fresh any more
    reauth(client, person, authenticator=spare)
    assert _revoke(client, first.id).status_code == 303
    assert [c.nickname for c in _active(person)] == ["予備の指紋キー"]
    revoked = models.Credential.get_by_id(first.id)
    assert revoked.revoked_at is not None  # kept as history
    assert events("credential.revoke", login_id=person.login_id, nickname="テスト用")
    # The revoked authenticator no longer signs in.
    assert login(client, person).status_code == 403


def test_cannot_revoke_another_persons_authenticator(client, make_staff):
    person, other = make_staff("clerk"), make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    reauth(client, person)
    assert _add(client, SoftAuthenticator()).get_json()["ok"]
    theirs = _active(other)[0]
    _revoke(client, theirs.id)
    assert _active(other)[0].id == theirs.id
    assert not events("credential.revoke")
