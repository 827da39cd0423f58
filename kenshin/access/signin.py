"""Signing in with both factors, every time: password first, then a WebAuthn assertion with UV.

Messages are the same whether or not a login ID exists, and an unknown login ID costs the same
scrypt time as a known one. Five failures in a row (either factor) lock the account for 15 minutes.
"""
from datetime import timedelta

from models import Staff, db

from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import sessions
from kenshin.core.dates import now_utc
from kenshin.core.errors import Refused
from kenshin.access.passwords import check_password
from kenshin.access.staff import for_update

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
GENERIC_FAILURE = ("ログインIDまたはパスワードが正しくありません。"
                   "5回続けて失敗すると、アカウントは15分間ロックされます。")


def _failed(staff: Staff | None, login_id: str, terminal: str, factor: str, why: str) -> None:
    """Audit a failed attempt and count it: the fifth in a row locks the account for LOCKOUT.

    Attempts while locked are audited but neither counted nor extend the lock (else anyone who
    knows a login ID could keep it locked); a lock that ran out starts a fresh count."""
    with db.atomic():
        details = {"factor": factor, "why": why}
        if staff is not None:
            staff = for_update(Staff.select().where(Staff.id == staff.id))[0]
            now = now_utc()
            locked = staff.locked_until is not None and staff.locked_until > now
            if not locked and not staff.is_retired:
                failures = (0 if staff.locked_until is not None else staff.failed_logins) + 1
                locked_until = now + LOCKOUT if failures >= MAX_FAILURES else None
                (Staff.update(failed_logins=failures, locked_until=locked_until)
                 .where(Staff.id == staff.id).execute())
                details["failures"] = failures
                if locked_until is not None:
                    details["locked_until"] = locked_until.isoformat(timespec="seconds")
        actor = audit.Actor(staff_id=staff.id if staff else None, label=login_id[:64],
                            role=staff.roles if staff else "", terminal=terminal)
        audit.record("login.failed", actor, outcome="failed", object_type="staff",
                     object_id=staff.id if staff else "", details=details)


def check_password_step(login_id: str, password: str, terminal: str) -> Staff:
    """The first factor. Raises Refused with the generic message on any failure."""
    login_id = (login_id or "").strip()
    staff = Staff.get_or_none(Staff.login_id == login_id) if login_id else None
    matches = check_password(staff.password_hash if staff else None, password or "")
    if staff is None:
        _failed(None, login_id or "-", terminal, "password", "unknown login id")
        raise Refused(GENERIC_FAILURE)
    if staff.is_retired:
        _failed(staff, login_id, terminal, "password", "retired")
        raise Refused(GENERIC_FAILURE)
    if staff.locked_until and staff.locked_until > now_utc():
        _failed(staff, login_id, terminal, "password", "account locked")
        raise Refused(GENERIC_FAILURE)
    if not staff.password_hash:
        _failed(staff, login_id, terminal, "password", "not enrolled")
        raise Refused(GENERIC_FAILURE)
    if not matches:
        _failed(staff, login_id, terminal, "password", "wrong password")
        raise Refused(GENERIC_FAILURE)
    return staff


def complete(rp: passkeys.RelyingParty, staff_id: int, challenge: bytes, credential_json: str,
             terminal: str, user_agent: str, old_token: str | None) -> str:
    """The second factor; on success open a fresh server-side session and return its token."""
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        raise Refused(GENERIC_FAILURE)
    # Retired or locked between the two steps (an administrator, or failures elsewhere).
    if staff.is_retired or (staff.locked_until and staff.locked_until > now_utc()):
        _failed(staff, staff.login_id, terminal, "webauthn",
                "retired" if staff.is_retired else "account locked")
        raise Refused(GENERIC_FAILURE)
    from kenshin.operations import training

    try:
        with db.atomic():
            credential = passkeys.authenticate(rp, staff, challenge, credential_json, "login")
            if not training.may_sign_in(staff):
                raise _TrainingLapsed()
            token = sessions.start(staff, terminal, user_agent, replaces=old_token)
            (Staff.update(failed_logins=0, locked_until=None, last_login_at=now_utc())
             .where(Staff.id == staff.id).execute())
            audit.record("login.ok", audit.Actor.of_staff(staff, terminal), object_type="staff",
                         object_id=staff.id, details={"credential": credential.nickname})
    except Refused as exc:
        _failed(staff, staff.login_id, terminal, "webauthn", exc.reason)
        raise
    except _TrainingLapsed:
        # Both factors held: not a failed attempt (no count toward the lock), a refusal by rule.
        with db.atomic():
            audit.record("login.denied", audit.Actor.of_staff(staff, terminal), outcome="denied",
                         object_type="staff", object_id=staff.id,
                         details={"why": "training lapsed"})
        raise Refused(training.LAPSED_MESSAGE)
    return token


class _TrainingLapsed(Exception):
    """Raised inside the sign-in transaction to roll it back (kenshin.operations.training)."""


def unlock(rp: passkeys.RelyingParty, user_session, challenge: bytes, credential_json: str,
           terminal: str, user_agent: str, old_token: str) -> str:
    """Lift a screen lock with a WebAuthn assertion by the same person; a fresh session id."""
    staff = user_session.staff
    actor = audit.Actor.of_staff(staff, terminal)
    try:
        with db.atomic():
            passkeys.authenticate(rp, staff, challenge, credential_json, "unlock")
            token = sessions.start(staff, terminal, user_agent, replaces=old_token, keep_age=True)
            audit.record("session.unlock", actor, object_type="staff", object_id=staff.id)
    except Refused as exc:
        with db.atomic():
            audit.record("session.unlock", actor, outcome="failed", object_type="staff",
                         object_id=staff.id, details={"why": exc.reason})
        raise
    return token
