"""Server-side sessions: start, look up, lock, unlock, end — and the timing policy behind them.

The browser holds only a random token; its SHA-256 is the session's id, so a stolen database
does not yield usable cookies, and ending a session here revokes any copy of the cookie.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import database
from models import LastSearch, Staff, UserSession, db

from kenshin import audit
from kenshin.access import drafts
from kenshin.core.dates import now_utc

# Activity is written at most this often, so that a busy page does not write on every request.
# The lock and logoff timers therefore count from the last activity written: a session may lock
# and log off up to TOUCH_EVERY earlier than its very last request would say, never later.
TOUCH_EVERY = timedelta(seconds=5)


@dataclass(frozen=True)
class Policy:
    lock_after: int = 300
    logoff_after: int = 1800
    max_age: int = 43200


def _id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(staff: Staff, terminal: str, user_agent: str, replaces: str | None = None,
          keep_age: bool = False) -> str:
    """Open a session for `staff` (inside the caller's transaction); return the cookie token.

    `replaces` ends the old session of this browser; with `keep_age` (unlock) the new one keeps
    the old one's start, so the absolute limit still counts from sign-in.
    """
    now = now_utc()
    created = now
    continued = False
    if replaces:
        old = UserSession.get_or_none(UserSession.id == _id(replaces))
        if old is not None and keep_age and old.staff_id == staff.id:
            created = old.created_at
            continued = True
        (UserSession.update(ended_at=now, end_reason="replaced")
         .where((UserSession.id == _id(replaces)) & UserSession.ended_at.is_null()).execute())
    token = secrets.token_urlsafe(32)
    UserSession.create(id=_id(token), staff=staff, created_at=created, last_seen_at=now,
                       terminal=terminal[:64], user_agent=(user_agent or "")[:200])
    if replaces:
        # the unlock continues the session: what was typed before the lock and the resident
        # search go with it; a new sign-in starts afresh
        query = LastSearch.update(session=_id(token)) if continued else LastSearch.delete()
        query.where(LastSearch.session == _id(replaces)).execute()
        if continued:
            drafts.move(_id(replaces), _id(token))
        else:
            drafts.discard([_id(replaces)])
    return token


def get(token: str | None) -> UserSession | None:
    """The session for a cookie token, with its staff member, or None (ended ones too)."""
    if not token:
        return None
    return _look_up(_id(token))


def _look_up(sid: str) -> UserSession | None:
    look_up = database.fixed("kenshin_session_get", _statements()["get"])
    return _from_row(db.execute_sql(look_up, (sid,)).fetchone())


# --- the gate's statements, built once (compiling a peewee query costs more than running it) ----

_SESSION_FIELDS = tuple(UserSession._meta.sorted_fields)
_STAFF_FIELDS = tuple(Staff._meta.sorted_fields)
_built: dict[str, dict[str, str]] = {}


def _statements() -> dict[str, str]:
    """Raw SQL of the look-up and of the activity write, once per kind of database."""
    from database import is_postgres

    kind = "pg" if is_postgres() else "sqlite"
    if kind not in _built:
        p = db.param
        columns = ", ".join([f"s.{f.column_name}" for f in _SESSION_FIELDS]
                            + [f"st.{f.column_name}" for f in _STAFF_FIELDS])
        tables = (f"FROM {UserSession._meta.table_name} s "
                  f"JOIN {Staff._meta.table_name} st ON st.id = s.staff_id WHERE s.id = {p}")
        built = {
            "get": f"SELECT {columns} {tables}",
            "touch": (f"UPDATE {UserSession._meta.table_name} SET last_seen_at = {p} "
                      f"WHERE id = {p} AND ended_at IS NULL AND locked_at IS NULL "
                      f"AND last_seen_at <= {p}"),
        }
        _built[kind] = built
    return _built[kind]


def _from_row(row) -> UserSession | None:
    if row is None:
        return None
    n = len(_SESSION_FIELDS)
    user_session = UserSession(__no_default__=1, **{
        f.name if f.name != "staff" else "staff_id": f.python_value(v)
        for f, v in zip(_SESSION_FIELDS, row[:n])})
    person = Staff(__no_default__=1, **{f.name: f.python_value(v)
                                         for f, v in zip(_STAFF_FIELDS, row[n:n + len(_STAFF_FIELDS)])})
    user_session.staff = person
    user_session._dirty.clear()
    person._dirty.clear()
    return user_session


def for_request(token: str | None, policy: "Policy", *, touch: bool,
                roles: frozenset | None = None, now: datetime | None = None):
    """The gate's look-up: (session or None, its State), recording activity when `touch` and the
    session is usable, the last recorded activity is TOUCH_EVERY old or more, and the person
    holds one of `roles` (None: any role).

    One statement (the look-up, built once); the activity write is a second one, sent only when
    due — at most once per TOUCH_EVERY per session. (Folding the write into the look-up as a
    PostgreSQL CTE was tried: one round trip, but the statement cost three times the plain
    look-up on the server, every request, to save a write sent every fifth second at most.)"""
    now = now or now_utc()
    if not token:
        return None, evaluate(None, policy, now)
    sid = _id(token)
    user_session = _look_up(sid)
    state = evaluate(user_session, policy, now)
    if (touch and state.status == "ok" and now - user_session.last_seen_at >= TOUCH_EVERY
            and (roles is None or user_session.staff.has_any_role(*roles))):
        touch_sql = database.fixed("kenshin_session_touch", _statements()["touch"])
        if db.execute_sql(touch_sql, (now, sid, now - TOUCH_EVERY)).rowcount == 1:
            user_session.last_seen_at = now
    return user_session, state


@dataclass(frozen=True)
class State:
    """What a request on this session may do now: ok, locked, or ended (with why)."""

    status: str
    reason: str = ""
    lock_in: float = 0.0
    logoff_in: float = 0.0
    max_in: float = 0.0


def evaluate(session: UserSession | None, policy: Policy, now: datetime | None = None) -> State:
    """Decide, from the stored timestamps alone, whether a session is usable, locked or over."""
    now = now or now_utc()
    if session is None:
        return State("ended", "none")
    if session.ended_at is not None:
        return State("ended", session.end_reason or "ended")
    if session.staff.is_retired:
        return State("ended", "retired")
    idle = (now - session.last_seen_at).total_seconds()
    age = (now - session.created_at).total_seconds()
    if age >= policy.max_age:
        return State("ended", "absolute")
    if idle >= policy.logoff_after:
        return State("ended", "idle")
    max_in = policy.max_age - age
    logoff_in = min(policy.logoff_after - idle, max_in)
    if session.locked_at is not None or idle >= policy.lock_after:
        return State("locked", "idle" if session.locked_at is None else "locked",
                     0.0, logoff_in, max_in)
    return State("ok", "", policy.lock_after - idle, logoff_in, max_in)


def live(policy: Policy, now: datetime | None = None):
    """A query of the sessions not yet over by the policy (locked ones included)."""
    now = now or now_utc()
    return UserSession.select().where(
        UserSession.ended_at.is_null()
        & (UserSession.last_seen_at > now - timedelta(seconds=policy.logoff_after))
        & (UserSession.created_at > now - timedelta(seconds=policy.max_age)))


def lock(session: UserSession, actor: audit.Actor, why: str) -> None:
    """Lock a session (idle timer or the user's own lock button); audited once."""
    with db.atomic():
        changed = (UserSession.update(locked_at=now_utc())
                   .where((UserSession.id == session.id) & UserSession.locked_at.is_null())
                   .execute())
        if changed:
            audit.record("session.lock", actor, object_type="session", object_id=session.id[:12],
                         details={"why": why})


def end(session: UserSession, actor: audit.Actor, why: str) -> None:
    """End a session for good: logout, idle, absolute, admin, retired."""
    with db.atomic():
        changed = (UserSession.update(ended_at=now_utc(), end_reason=why)
                   .where((UserSession.id == session.id) & UserSession.ended_at.is_null())
                   .execute())
        LastSearch.delete().where(LastSearch.session == session.id).execute()
        drafts.discard([session.id])
        if changed:
            audit.record("session.end", actor, object_type="session", object_id=session.id[:12],
                         details={"why": why, "staff": session.staff.login_id})


def end_all_of(staff: Staff, actor: audit.Actor, why: str, keep: str | None = None) -> int:
    """End every open session of one person (admin action, retirement, reset), each audited.

    `keep` spares one session (an administrator ending their own other sessions keeps this one)."""
    with db.atomic():
        query = (UserSession.select(UserSession.id)
                 .where((UserSession.staff == staff) & UserSession.ended_at.is_null()))
        if keep:
            query = query.where(UserSession.id != keep)
        open_ids = [s.id for s in query]
        if open_ids:
            (UserSession.update(ended_at=now_utc(), end_reason=why)
             .where(UserSession.id.in_(open_ids) & UserSession.ended_at.is_null()).execute())
            LastSearch.delete().where(LastSearch.session.in_(open_ids)).execute()
            drafts.discard(open_ids)
        for session_id in open_ids:
            audit.record("session.end", actor, object_type="session", object_id=session_id[:12],
                         details={"why": why, "staff": staff.login_id})
    return len(open_ids)
