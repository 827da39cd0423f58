"""A signed-in person's own authenticators: list, add another, revoke one.

Adding or revoking needs a fresh WebAuthn check (user verification) by one of the person's own
active credentials within FRESH: an unattended, unlocked screen is not enough to swap keys.
The last active authenticator cannot be revoked (the person could never sign in again).
"""
from datetime import datetime, timedelta

from models import Credential, Staff, db

from kenshin import audit
from kenshin.access import passkeys
from kenshin.core.dates import now_utc
from kenshin.core.errors import NotFound, Refused
from kenshin.access.staff import for_update

FRESH = timedelta(minutes=2)
NOT_FRESH = "生体認証で本人確認をしてから2分以内に操作してください。もう一度本人確認をしてください。"


def of(staff: Staff) -> list[Credential]:
    """The person's authenticators, active first, then revoked ones (kept as history)."""
    return list(Credential.select().where(Credential.staff == staff)
                .order_by(Credential.revoked_at.is_null(False), Credential.created_at))


def fresh_for(reauth_at: datetime | None, now: datetime | None = None) -> int:
    """Seconds left of a fresh check made at `reauth_at` (0 when there is none or it is stale)."""
    if reauth_at is None:
        return 0
    now = now or now_utc()
    if reauth_at > now:  # a clock that went backwards is not trusted
        return 0
    return max(0, int((reauth_at + FRESH - now).total_seconds()))


def _require_fresh(reauth_at: datetime | None) -> None:
    if fresh_for(reauth_at) <= 0:
        raise Refused(NOT_FRESH)


def reauthenticate(rp: passkeys.RelyingParty, staff: Staff, challenge: bytes,
                   credential_json: str, terminal: str) -> datetime:
    """Verify a fresh assertion by the person's own credential; return when it happened."""
    actor = audit.Actor.of_staff(staff, terminal)
    try:
        with db.atomic():
            credential = passkeys.authenticate(rp, staff, challenge, credential_json, "reauth")
            audit.record("credential.reauth", actor, object_type="staff", object_id=staff.id,
                         details={"credential": credential.nickname})
    except Refused as exc:
        with db.atomic():
            audit.record("credential.reauth", actor, outcome="failed", object_type="staff",
                         object_id=staff.id, details={"factor": "webauthn", "why": exc.reason})
        raise
    return now_utc()


def add(rp: passkeys.RelyingParty, staff: Staff, reauth_at: datetime | None, challenge: bytes,
        credential_json: str, nickname: str, actor: audit.Actor) -> Credential:
    """Register another authenticator (user verification required), after a fresh check."""
    try:
        _require_fresh(reauth_at)
        with db.atomic():
            credential = passkeys.register(rp, staff, challenge, credential_json, nickname)
            audit.record("credential.add", actor, object_type="credential", object_id=credential.id,
                         details={"login_id": staff.login_id, "nickname": credential.nickname,
                                  "aaguid": credential.aaguid})
    except Refused as exc:
        with db.atomic():
            audit.record("credential.add", actor, outcome="failed", object_type="staff",
                         object_id=staff.id,
                         details={"login_id": staff.login_id, "why": exc.reason})
        raise
    return credential


def revoke(staff: Staff, credential_id: int, reauth_at: datetime | None,
           actor: audit.Actor) -> Credential:
    """Revoke one of the person's own authenticators, never the last active one."""
    _require_fresh(reauth_at)
    with db.atomic():
        for_update(Staff.select().where(Staff.id == staff.id))  # one revocation at a time
        credential = Credential.get_or_none((Credential.id == credential_id)
                                            & (Credential.staff == staff))
        if credential is None:
            raise NotFound("credential")
        if credential.revoked_at is not None:
            raise Refused("この認証器はすでに無効です。")
        if passkeys.active_credentials(staff).count() <= 1:
            raise Refused("最後の認証器は無効にできません。先に別の認証器を追加してください。")
        now = now_utc()
        (Credential.update(revoked_at=now, revoked_reason="本人による無効化")
         .where(Credential.id == credential.id).execute())
        credential.revoked_at = now
        audit.record("credential.revoke", actor, object_type="credential", object_id=credential.id,
                     details={"login_id": staff.login_id, "nickname": credential.nickname})
    return credential
