"""WebAuthn ceremonies (our biometric factor), with user verification REQUIRED everywhere.

py_webauthn defaults to PREFERRED / require_user_verification=False (SECURITY.md's trap); every
call here passes REQUIRED / True. Challenges are stored server-side and consumed once.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from models import Credential, PendingChallenge, Staff, db

from kenshin.core.dates import now_utc
from kenshin.core.errors import Refused

CHALLENGE_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    name: str
    origin: str


def _challenge_id(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _remember(challenge: bytes, purpose: str, staff: Staff | None, session: str | None) -> None:
    PendingChallenge.delete().where(PendingChallenge.created_at < now_utc() - CHALLENGE_TTL).execute()
    PendingChallenge.create(id=_challenge_id(challenge), purpose=purpose, staff=staff,
                            session=session, created_at=now_utc())


def _consume(challenge: bytes, purpose: str, staff: Staff | None) -> None:
    """Use a challenge once: a replayed or foreign challenge is refused."""
    query = PendingChallenge.delete().where(
        (PendingChallenge.id == _challenge_id(challenge)) & (PendingChallenge.purpose == purpose)
        & (PendingChallenge.created_at >= now_utc() - CHALLENGE_TTL))
    if staff is not None:
        query = query.where(PendingChallenge.staff == staff)
    if query.execute() != 1:
        raise Refused("認証の有効期限が切れたか、すでに使われています。もう一度やり直してください。")


def _descriptors(staff: Staff) -> list[PublicKeyCredentialDescriptor]:
    out = []
    for cred in active_credentials(staff):
        transports = []
        for t in filter(None, cred.transports.split(",")):
            try:
                transports.append(AuthenticatorTransport(t))
            except ValueError:
                pass
        out.append(PublicKeyCredentialDescriptor(id=base64url_to_bytes(cred.credential_id),
                                                 transports=transports or None))
    return out


def active_credentials(staff: Staff):
    return (Credential.select().where((Credential.staff == staff) & Credential.revoked_at.is_null())
            .order_by(Credential.created_at))


def registration_options(rp: RelyingParty, staff: Staff) -> tuple[str, bytes]:
    """Options JSON for navigator.credentials.create, and the challenge to keep for the answer."""
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_name=staff.login_id,
        user_id=f"kenshin-staff-{staff.id}".encode(), user_display_name=staff.name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            user_verification=UserVerificationRequirement.REQUIRED,
            resident_key=ResidentKeyRequirement.DISCOURAGED),
        exclude_credentials=_descriptors(staff),
    )
    with db.atomic():
        _remember(options.challenge, "register", staff, None)
    return options_to_json(options), options.challenge


def authentication_options(rp: RelyingParty, staff: Staff | None, purpose: str,
                           session_id: str | None = None) -> tuple[str, bytes]:
    """Options JSON for navigator.credentials.get, limited to this person's credentials.

    For a login whose password step failed `staff` is None: the options still look the same
    (random allow-list absent) so that they reveal nothing about the login ID.
    """
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=_descriptors(staff) if staff is not None else [],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    with db.atomic():
        _remember(options.challenge, purpose, staff, session_id)
    return options_to_json(options), options.challenge


def register(rp: RelyingParty, staff: Staff, challenge: bytes, credential_json: str,
             nickname: str) -> Credential:
    """Verify a registration answer (UV required) and store the credential; inside a transaction."""
    _consume(challenge, "register", staff)
    try:
        verified = verify_registration_response(
            credential=credential_json, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused("認証器を登録できませんでした（生体認証・本人確認が必要です）。") from exc
    cred_id = bytes_to_base64url(verified.credential_id)
    if Credential.select().where(Credential.credential_id == cred_id).exists():
        raise Refused("この認証器はすでに登録されています。")
    try:
        transports = json.loads(credential_json).get("response", {}).get("transports") or []
    except (ValueError, AttributeError):
        transports = []
    return Credential.create(
        staff=staff, credential_id=cred_id, public_key=verified.credential_public_key,
        sign_count=verified.sign_count, transports=",".join(str(t) for t in transports)[:200],
        aaguid=str(verified.aaguid), nickname=(nickname or "認証器").strip()[:60] or "認証器",
        created_at=now_utc())


def authenticate(rp: RelyingParty, staff: Staff, challenge: bytes, credential_json: str,
                 purpose: str) -> Credential:
    """Verify an assertion (UV required) by one of `staff`'s own active credentials."""
    _consume(challenge, purpose, staff)
    try:
        cred_id = json.loads(credential_json)["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused("生体認証に失敗しました。") from exc
    credential = (Credential.select()
                  .where((Credential.credential_id == cred_id) & (Credential.staff == staff)
                         & Credential.revoked_at.is_null()).first())
    if credential is None:
        raise Refused("生体認証に失敗しました（この職員の認証器ではありません）。")
    try:
        verified = verify_authentication_response(
            credential=credential_json, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, credential_public_key=bytes(credential.public_key),
            credential_current_sign_count=credential.sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused("生体認証に失敗しました。") from exc
    (Credential.update(sign_count=verified.new_sign_count, last_used_at=now_utc())
     .where(Credential.id == credential.id).execute())
    return credential


def challenge_to_text(challenge: bytes) -> str:
    return bytes_to_base64url(challenge)


def challenge_from_text(text: str) -> bytes:
    try:
        return base64url_to_bytes(text or "")
    except Exception as exc:  # malformed session value
        raise Refused("認証をやり直してください。") from exc
