"""The WebAuthn ceremonies against the software authenticator: what passes and what must not."""
import json

import pytest

import models
from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import staff as staff_domain
from kenshin.core.errors import Refused

from .factories import register_authenticator
from .softauthn import SoftAuthenticator


@pytest.fixture
def person(db):
    staff, _ = staff_domain.create("yamada", "山田 花子", "健康支援課", ["clerk"],
                                   audit.Actor.system("pytest"))
    return staff


def _assert(rp, staff, authenticator, purpose="login", **kw):
    options, challenge = passkeys.authentication_options(rp, staff, purpose)
    answer = authenticator.assert_(options, **kw)
    with models.db.atomic():
        return passkeys.authenticate(rp, staff, challenge, answer, purpose)


def test_registration_then_assertion_pass_with_user_verification(rp, person):
    key = SoftAuthenticator()
    credential = register_authenticator(rp, person, key)
    assert credential.staff_id == person.id and credential.transports == "internal"
    used = _assert(rp, person, key)
    assert used.id == credential.id
    stored = models.Credential.get_by_id(credential.id)
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_options_require_user_verification(rp, person):
    options, _ = passkeys.registration_options(rp, person)
    assert json.loads(options)["authenticatorSelection"]["userVerification"] == "required"
    options, _ = passkeys.authentication_options(rp, person, "login")
    assert json.loads(options)["userVerification"] == "required"


def test_registration_without_user_verification_fails(rp, person):
    key = SoftAuthenticator()
    key.user_verified = False
    with pytest.raises(Refused):
        register_authenticator(rp, person, key)
    assert not models.Credential.select().exists()


def test_registration_from_another_origin_fails(rp, person):
    with pytest.raises(Refused):
        register_authenticator(rp, person, SoftAuthenticator(), origin="https://evil.example")


def test_assertion_without_user_verification_fails(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    key.user_verified = False
    with pytest.raises(Refused):
        _assert(rp, person, key)


def test_assertion_from_another_origin_fails(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    with pytest.raises(Refused):
        _assert(rp, person, key, origin="https://evil.example")


def test_replayed_challenge_fails(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    options, challenge = passkeys.authentication_options(rp, person, "login")
    with models.db.atomic():
        passkeys.authenticate(rp, person, challenge, key.assert_(options), "login")
    # The same challenge again, even with a fresh, correctly signed answer.
    with pytest.raises(Refused), models.db.atomic():
        passkeys.authenticate(rp, person, challenge, key.assert_(options), "login")


def test_replayed_answer_fails(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    options, challenge = passkeys.authentication_options(rp, person, "login")
    answer = key.assert_(options)
    with models.db.atomic():
        passkeys.authenticate(rp, person, challenge, answer, "login")
    with pytest.raises(Refused), models.db.atomic():
        passkeys.authenticate(rp, person, challenge, answer, "login")


def test_challenge_of_one_purpose_does_not_serve_another(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    options, challenge = passkeys.authentication_options(rp, person, "login")
    with pytest.raises(Refused), models.db.atomic():
        passkeys.authenticate(rp, person, challenge, key.assert_(options), "unlock")


def test_another_persons_credential_fails(rp, person):
    other, _ = staff_domain.create("suzuki", "鈴木 一郎", "健康支援課", ["clerk"],
                                   audit.Actor.system("pytest"))
    mine, theirs = SoftAuthenticator(), SoftAuthenticator()
    register_authenticator(rp, person, mine)
    register_authenticator(rp, other, theirs)
    # Suzuki's genuine, verified authenticator answering a challenge issued for Yamada.
    with pytest.raises(Refused, match="この職員の認証器ではありません"):
        _assert(rp, person, theirs)


def test_challenge_issued_for_another_person_fails(rp, person):
    other, _ = staff_domain.create("suzuki", "鈴木 一郎", "健康支援課", ["clerk"],
                                   audit.Actor.system("pytest"))
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    options, challenge = passkeys.authentication_options(rp, other, "login")
    with pytest.raises(Refused), models.db.atomic():
        passkeys.authenticate(rp, person, challenge, key.assert_(options), "login")


def test_lower_sign_count_fails(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    for _ in range(3):
        _assert(rp, person, key)
    assert models.Credential.get().sign_count == 3
    # A cloned authenticator shows an older counter.
    with pytest.raises(Refused):
        _assert(rp, person, key, sign_count=2)
    assert models.Credential.get().sign_count == 3


def test_revoked_credential_fails(rp, person):
    key = SoftAuthenticator()
    credential = register_authenticator(rp, person, key)
    models.Credential.update(revoked_at=models.Credential.created_at).where(
        models.Credential.id == credential.id).execute()
    with pytest.raises(Refused):
        _assert(rp, person, key)


def test_same_authenticator_cannot_be_registered_twice(rp, person):
    key = SoftAuthenticator()
    register_authenticator(rp, person, key)
    with pytest.raises(Refused, match="すでに登録"):
        register_authenticator(rp, person, key)
