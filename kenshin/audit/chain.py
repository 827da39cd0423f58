"""The access log: one function records every event, chained by a keyed hash, and one walks the chain.

Each event stores HMAC-SHA256(key, prev_hash ‖ canonical row). The key (KENSHIN_AUDIT_KEY) lives
outside the database, so someone who can edit rows cannot recompute the chain (unlike a keyless
checksum). Writers first bump the single `audit_head` row, which serialises them: concurrent
workers never fork the chain, and a unique `seq` would refuse a fork even if they tried.
"""
from __future__ import annotations

import getpass
import hmac
import json
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

import database
from models import AuditEvent, AuditHead, db

from kenshin.core.dates import now_utc, JST
from kenshin.core import faults

GENESIS = "0" * 64
HEAD_ID = 1  # the one row of audit_head

_key: bytes | None = None

# Details never carry these (secrets, health values); a guard against careless callers. A key is
# refused when it is one of these words or has one as a part (`new_password`, `old_values`), at
# any depth of the details.
FORBIDDEN_DETAIL_KEYS = {"password", "passwd", "token", "secret", "items", "values", "challenge",
                         "credential_json", "cookie"}
_KEY_PARTS = re.compile(r"[^a-z0-9]+")
# Longest values the columns hold (varchar limits on PostgreSQL; SQLite would not say).
_LIMITS = {"action": 48, "outcome": 12, "object_type": 32}


def _health_item_keys() -> frozenset[str]:
    """The exam items of the catalogue: their values are health information.

    `target` (which 精密検査), `method` (how bone density was measured) and `result` (too common a
    word for outcomes) are left out: they name what was done, not what was found."""
    from kenshin.screening.catalogue import item_keys_of_all_exams

    return frozenset(item_keys_of_all_exams()) - {"target", "method", "result"}


_HEALTH_KEYS: frozenset[str] | None = None

# Built once: json.dumps with these options constructs a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def configure(key: str | bytes) -> None:
    """Set the chain key for this process (from KENSHIN_AUDIT_KEY)."""
    global _key
    if not key:
        raise ValueError("the audit key must not be empty")
    _key = key.encode() if isinstance(key, str) else key


@dataclass(frozen=True)
class Actor:
    """Who does something: a staff member at a terminal, or an operating-system user at the CLI."""

    staff_id: int | None
    label: str
    role: str = ""
    terminal: str = ""
    roles: frozenset = field(default_factory=frozenset)

    @classmethod
    def system(cls, label: str | None = None) -> "Actor":
        """The CLI's actor: the operating-system user running the command."""
        try:
            user = label or getpass.getuser()
        except Exception:  # no passwd entry (containers)
            user = "unknown"
        return cls(staff_id=None, label=f"os:{user}", role="cli", terminal="localhost")

    @classmethod
    def of_staff(cls, staff, terminal: str = "") -> "Actor":
        return cls(staff_id=staff.id, label=staff.login_id, role=staff.roles, terminal=terminal,
                   roles=frozenset(staff.role_set))


def _canonical(seq, at, actor_id, actor_label, role, terminal, action, resident_id,
               object_type, object_id, outcome, details) -> bytes:
    """The bytes the MAC covers. verify() builds the same bytes faster (see _fast_payload)."""
    return _ENCODER.encode(
        [seq, at.isoformat(timespec="microseconds"), actor_id, actor_label, role, terminal,
         action, resident_id, object_type, object_id, outcome, details]).encode()


def _mac(prev_hash: str, payload: bytes) -> str:
    if _key is None:
        raise RuntimeError("audit key not configured")
    return hmac.digest(_key, prev_hash.encode() + payload, "sha256").hex()


@lru_cache(maxsize=4096)  # detail keys are few and fixed in the code
def _forbidden(key: str) -> bool:
    global _HEALTH_KEYS
    if _HEALTH_KEYS is None:
        _HEALTH_KEYS = _health_item_keys()
    lowered = str(key).lower()
    if lowered in _HEALTH_KEYS:
        return True
    parts = set(_KEY_PARTS.split(lowered)) | {lowered}
    return bool(parts & FORBIDDEN_DETAIL_KEYS)


def _check_keys(value, path: str = "") -> list[str]:
    bad = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if _forbidden(key):
                bad.append(f"{path}{key}")
            bad.extend(_check_keys(inner, f"{path}{key}."))
    elif isinstance(value, (list, tuple)):
        for inner in value:
            bad.extend(_check_keys(inner, path))
    return bad


def _clean_details(details: dict | None) -> dict:
    details = dict(details or {})
    bad = _check_keys(details)
    if bad:
        raise ValueError(f"audit details must not carry {sorted(bad)}")
    # Round-trip through JSON now so that what is hashed is exactly what is stored.
    return json.loads(json.dumps(details, ensure_ascii=False, default=_json_default))


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable in audit details: {type(value).__name__}")


_INSERT_COLUMNS = ("seq", "at", "actor", "actor_label", "role", "terminal", "action", "resident",
                   "object_type", "object_id", "outcome", "details", "prev_hash", "hash")
_statements: dict[str, tuple[str, str]] = {}  # "pg", "pg-own", "sqlite"
SQLITE_MAC_FUNCTION = "kenshin_audit_mac"
# The event's time on SQLite is given by Python to the microsecond, like every other timestamp
# (SQLite's own clock reads only milliseconds, and its shorter text sorted before a timestamp
# taken a few microseconds earlier: an event looked older than the row it was about).
_SQLITE_AT_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _sql() -> tuple[str, str]:
    """The statements of an append, as raw SQL built once per kind of database (a view that
    records pays for round trips, not for peewee query compilations).

    PostgreSQL, two round trips: take the head (its row lock is held until commit), then one
    statement inserts the event and moves the head's hash. SQLite, one statement: the INSERT …
    SELECT reads the head under the write lock the statement takes, the HMAC is computed by
    kenshin_audit_mac (this process's key, registered on the connection; the key never reaches
    the database; database.make_database registers it on every connection), and the trigger audit_event_moves_head (schema step 17) moves the head in
    the same statement."""
    from database import is_postgres

    kind = "pg" if is_postgres() else "sqlite"
    if kind not in _statements:
        head, event, p = AuditHead._meta.table_name, AuditEvent._meta, db.param
        columns = ", ".join(event.fields[name].column_name for name in _INSERT_COLUMNS)
        if kind == "pg":
            take_head = f"UPDATE {head} SET seq = seq + 1 RETURNING seq, hash"
            event_row = (f"INSERT INTO {event.table_name} ({columns}) "
                         f"VALUES ({', '.join([p] * len(_INSERT_COLUMNS))})")
            _statements[kind] = (take_head, f"WITH e AS ({event_row} RETURNING id) "
                                            f"UPDATE {head} SET hash = {p} RETURNING (SELECT id FROM e)")
            # An event in a transaction of its own (a search): _append_alone sends BEGIN with the
            # head's UPDATE and COMMIT with the INSERT — two round trips, the head held for one.
            _statements["pg-own"] = (take_head, f"WITH e AS ({event_row}) UPDATE {head} SET hash = {p}")
        else:
            given = ", ".join([p] * 10)  # actor … details, as in _INSERT_COLUMNS
            insert = (f"INSERT INTO {event.table_name} ({columns}) "
                      f"SELECT h.seq + 1, {p}, {given}, h.hash, "
                      f"{SQLITE_MAC_FUNCTION}(h.hash, h.seq + 1, {p}, {p}) "
                      f"FROM {head} h WHERE h.id = {HEAD_ID} RETURNING id, seq, at, prev_hash, hash")
            _statements[kind] = ("", insert)
    return _statements[kind]


def sqlite_mac(prev: str, seq: int, at_text: str, tail: str) -> str:
    """The event's HMAC inside SQLite's INSERT: `tail` is the canonical JSON after seq and at
    (actor … details, closing bracket), `at_text` the stored 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    payload = f'{prev}[{seq},"{at_text[:10]}T{at_text[11:]}",{tail}'
    return hmac.digest(_key, payload.encode(), "sha256").hex()


def _create_head() -> None:
    """The very first event: create the one head row. A concurrent first writer waits on the
    primary key, finds the row there, and takes the next number."""
    AuditHead.insert(id=HEAD_ID, seq=0, hash=GENESIS).on_conflict_ignore().execute()


def _next_head(next_sql: str) -> tuple[int, str]:
    """Take the next sequence number and the previous hash, holding the head row until commit."""
    for _ in range(3):
        rows = db.execute_sql(database.fixed("kenshin_audit_next", next_sql)).fetchall()
        if len(rows) == 1:
            return rows[0]
        if rows:
            raise RuntimeError("audit_head must have exactly one row")
        _create_head()
    raise RuntimeError("audit_head could not be created")


def record(action: str, actor: Actor, *, resident=None, object_type: str = "", object_id="",
           outcome: str = "ok", details: dict | None = None,
           also: tuple[str, tuple] | None = None) -> AuditEvent:
    """Append one event inside the caller's transaction (or in its own, outside one); if it
    cannot be written, the change fails.

    No savepoint of its own: on PostgreSQL a failed statement fails the caller's whole
    transaction, and on SQLite the append is a single statement, which is all or nothing.

    `also` (SQL in db.param style, parameters): one more write of the caller's that goes with the
    event. On PostgreSQL outside a transaction it travels in the event's commit message — in the
    event's transaction, with no round trip and no commit (WAL flush) of its own; elsewhere it
    runs right after the event (inside the caller's transaction if there is one)."""
    resident_id = getattr(resident, "id", resident)
    resident_id = None if resident_id is None else int(resident_id)
    staff_id = None if actor.staff_id is None else int(actor.staff_id)
    object_id = "" if object_id is None else str(object_id)
    for name, value in (("action", action), ("outcome", outcome), ("object_type", object_type)):
        if not isinstance(value, str) or len(value) > _LIMITS[name]:
            raise ValueError(f"audit {name} must be text of at most {_LIMITS[name]} characters")
    if not action:
        raise ValueError("audit action must not be empty")
    if len(object_id) > 64:
        raise ValueError("audit object_id must be at most 64 characters")
    if _key is None:
        raise RuntimeError("audit key not configured")
    label, role, terminal = actor.label[:64], (actor.role or "")[:100], (actor.terminal or "")[:64]
    details = _clean_details(details)
    details_text = AuditEvent.details.db_value(details)
    next_sql, insert_sql = _sql()
    if not next_sql:  # SQLite: one statement
        tail = _ENCODER.encode([staff_id, label, role, terminal, action, resident_id, object_type,
                                object_id, outcome, details])[1:]
        at_text = now_utc().strftime(_SQLITE_AT_FORMAT)
        values = (at_text, staff_id, label, role, terminal, action, resident_id, object_type,
                  object_id, outcome, details_text, at_text, tail)
        for _ in range(3):
            rows = db.execute_sql(insert_sql, values).fetchall()
            if rows:
                break
            _create_head()
        else:
            raise RuntimeError("audit_head could not be created")
        event_id, head_seq, at, prev, digest = rows[0]
        faults.point(action)  # test-only: a process told to stop here (kenshin.core.faults)
        db.after_commit(_count_committed)  # now, outside a transaction
        if also:
            db.execute_sql(*also)
        return AuditEvent(id=event_id, seq=head_seq, at=AuditEvent.at.python_value(at),
                          actor=staff_id, actor_label=label, role=role, terminal=terminal,
                          action=action, resident=resident_id, object_type=object_type,
                          object_id=object_id, outcome=outcome, details=details,
                          prev_hash=prev, hash=digest)
    if not db.in_transaction():
        return _append_alone(staff_id, label, role, terminal, action, resident_id, object_type,
                             object_id, outcome, details, details_text, also)
    db.after_commit(_count_committed)  # in the caller's transaction: counted at its commit
    head_seq, prev = _next_head(next_sql)
    at = now_utc()
    payload = _canonical(head_seq, at, staff_id, label, role, terminal, action, resident_id,
                         object_type, object_id, outcome, details)
    digest = _mac(prev, payload)
    values = (head_seq, at, staff_id, label, role, terminal, action, resident_id, object_type,
              object_id, outcome, details_text, prev, digest)
    event_id = db.execute_sql(database.fixed("kenshin_audit_append_in", insert_sql),
                              values + (digest,)).fetchone()[0]
    faults.point(action)  # test-only: a process told to stop here (kenshin.core.faults)
    if also:
        db.execute_sql(*also)
    return AuditEvent(id=event_id, **dict(zip(_INSERT_COLUMNS, values[:11])), details=details,
                      prev_hash=prev, hash=digest)


def _append_alone(staff_id, label, role, terminal, action, resident_id, object_type, object_id,
                  outcome, details, details_text, also=None) -> AuditEvent:
    """PostgreSQL, outside a transaction: the event in a transaction of its own, sent as two
    messages ("BEGIN; UPDATE audit_head …" and "WITH … INSERT …; COMMIT"), so the head's row
    lock is held for one round trip and the commit. The event's id is not read back (the
    COMMIT's empty answer is the last one): the returned event has none. `also` goes into the
    second message, before its COMMIT."""
    next_sql, insert_sql = _statements["pg-own"]
    also_sql, also_params = also or ("", ())
    for _ in range(3):
        try:
            # prepared statements (database.fixed), PREPAREd before the BEGIN on a new connection
            next_text = "BEGIN; " + database.fixed("kenshin_audit_next", next_sql)
            insert_text = "; ".join(part for part in (
                database.fixed("kenshin_audit_append", insert_sql), also_sql, "COMMIT") if part)
            rows = db.execute_sql(next_text).fetchall()
            if len(rows) > 1:
                raise RuntimeError("audit_head must have exactly one row")
            if rows:
                head_seq, prev = rows[0]
                at = now_utc()
                payload = _canonical(head_seq, at, staff_id, label, role, terminal, action,
                                     resident_id, object_type, object_id, outcome, details)
                digest = _mac(prev, payload)
                values = (head_seq, at, staff_id, label, role, terminal, action, resident_id,
                          object_type, object_id, outcome, details_text, prev, digest)
                db.execute_sql(insert_text, values + (digest,) + tuple(also_params))
        except BaseException:
            try:
                db.execute_sql("ROLLBACK")
            except Exception:  # noqa: BLE001 - the connection itself failed: the first error counts
                pass
            raise
        if rows:
            _count_committed()
            return AuditEvent(id=None, **dict(zip(_INSERT_COLUMNS, values[:11])),
                              details=details, prev_hash=prev, hash=digest)
        db.execute_sql("ROLLBACK")
        _create_head()
    raise RuntimeError("audit_head could not be created")


_committed = threading.local()


def _count_committed():
    _committed.events = committed_events() + 1


def committed_events() -> int:
    """How many events this thread has recorded whose transaction committed. A retry of a unit
    of work compares it before and after: a changed count means the failed run left an event,
    and running it again would leave a second one."""
    return getattr(_committed, "events", 0)


# --- verification ------------------------------------------------------------------------------

@dataclass
class VerifyResult:
    ok: bool
    count: int
    head: str
    problem: str = ""
    bad_seq: int | None = None
    head_found: bool | None = None


PAGE = 50_000
_COLUMNS = ("seq", "at", "actor", "actor_label", "role", "terminal", "action", "resident",
            "object_type", "object_id", "outcome", "details", "prev_hash", "hash", "id")


def _select_sql() -> str:
    """Raw SQL for one page in (seq, id) order: no model instances, no field conversions."""
    meta = AuditEvent._meta
    columns = ", ".join(meta.fields[name].column_name for name in _COLUMNS)
    param = db.param
    return (f"SELECT {columns} FROM {meta.table_name} WHERE seq >= {param} "
            f"ORDER BY seq, id LIMIT {param}")


def _rows(page: int = PAGE, after: tuple[int, int] | None = None) -> Iterator[tuple]:
    """Every event in (seq, id) order, a page at a time (constant memory on millions of rows).

    The first page has no lower bound, so rows forged with seq ≤ 0 are seen; `seq >= last`
    (not `>`) keeps a duplicated seq from hiding at a page boundary."""
    sql = _select_sql()
    first_sql = sql.replace(f"WHERE seq >= {db.param} ", "")
    last = after
    while True:
        if last is None:
            cursor = db.execute_sql(first_sql, (page,))
        else:
            cursor = db.execute_sql(sql, (last[0], page + 1))
        rows = cursor.fetchall()
        if last is not None:
            rows = [r for r in rows if (r[0], r[14]) > last]
        if not rows:
            return
        yield from rows
        last = (rows[-1][0], rows[-1][14])


def _at_text(at) -> str:
    """The canonical text of a stored timestamp, as record() wrote it (isoformat, microseconds)."""
    if isinstance(at, datetime):
        return at.isoformat(timespec="microseconds")
    # SQLite stores str(datetime): 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    if len(at) == 26 and at[10] == " " and at[19] == ".":
        return f"{at[:10]}T{at[11:]}"
    if len(at) == 19 and at[10] == " ":
        return f"{at[:10]}T{at[11:]}.000000"
    return datetime.fromisoformat(at).isoformat(timespec="microseconds")


def _fast_payload(row) -> bytes:
    """The canonical bytes from raw column values: the stored details text is already the canonical
    JSON of the details (JSONField writes it with the same options), so it is spliced in as is."""
    (seq, at, actor_id, actor_label, role, terminal, action, resident_id, object_type,
     object_id, outcome, details_text) = row[:12]
    head = _ENCODER.encode([seq, _at_text(at), actor_id, actor_label, role, terminal, action,
                            resident_id, object_type, object_id, outcome])
    return (head[:-1] + "," + (details_text if details_text is not None else "null") + "]").encode()


def _slow_payload(row) -> bytes:
    """The canonical bytes exactly as record() builds them (used when the fast form disagrees)."""
    (seq, at, actor_id, actor_label, role, terminal, action, resident_id, object_type,
     object_id, outcome, details_text) = row[:12]
    if not isinstance(at, datetime):
        at = datetime.fromisoformat(at)
    details = json.loads(details_text) if details_text is not None else None
    return _canonical(seq, at, actor_id, actor_label, role, terminal, action, resident_id,
                      object_type, object_id, outcome, details)


def _where(row) -> str:
    seq, at, action, row_id = row[0], row[1], row[6], row[14]
    try:
        when = _at_text(at)[:19] + "Z"
    except (TypeError, ValueError):
        when = repr(at)
    return f"event seq={seq} (id={row_id}, {when}, {action})"


def _head_row() -> tuple[int, tuple | None]:
    rows = list(AuditHead.select(AuditHead.seq, AuditHead.hash).tuples())
    return len(rows), (rows[0] if len(rows) == 1 else None)


def verify(expected_head: str | None = None, page: int = PAGE) -> VerifyResult:
    """Recompute the chain; name the first event that does not verify.

    Also compares the chain's end with the `audit_head` row (a cut tail whose head row was left
    alone shows there); an attacker who rewinds that row too is caught only by `expected_head`,
    a head the city kept outside the system."""
    if _key is None:
        raise RuntimeError("audit key not configured")
    key = _key
    digest_of = hmac.digest
    prev = GENESIS
    count = 0
    expected_seq = 1
    last = None
    head_found = None if expected_head is None else False

    def bad(row, message):
        return VerifyResult(False, count, prev, f"{_where(row)}: {message}", row[0], head_found)

    while True:
        for row in _rows(page, last):
            seq = row[0]
            if seq != expected_seq:
                return bad(row, f"expected seq={expected_seq} — events missing, inserted or reordered")
            if row[12] != prev:
                return bad(row, "its previous hash does not match the event before it "
                                "(deleted, inserted or reordered events)")
            digest = row[13]
            if digest_of(key, prev.encode() + _fast_payload(row), "sha256").hex() != digest:
                if not hmac.compare_digest(_mac(prev, _slow_payload(row)), digest or ""):
                    return bad(row, "its content does not match its hash (edited or forged)")
            prev = digest
            count += 1
            expected_seq += 1
            last = (seq, row[14])
            if head_found is False and digest == expected_head:
                head_found = True
        # Compare with the head row; events committed meanwhile are walked before judging.
        rows, head = _head_row()
        if count == 0 and rows == 0:
            break
        if head is not None and head == (count, prev):
            break
        if last is not None and AuditEvent.select().where(AuditEvent.seq > last[0]).exists():
            continue
        if head is None:
            return VerifyResult(False, count, prev, f"audit_head has {rows} rows (expected 1)",
                                None, head_found)
        return VerifyResult(False, count, prev,
                            f"the chain ends at seq={count} but audit_head says seq={head[0]} — "
                            f"the newest events were deleted (cut tail) or the head was altered",
                            None, head_found)
    if expected_head is not None and not head_found:
        return VerifyResult(False, count, prev,
                            f"the kept head {expected_head} is not in the chain "
                            f"(newest events cut, or a head from another system)", None, False)
    return VerifyResult(True, count, prev, head_found=head_found)


def daily_heads(start: date, end: date) -> list[tuple[date, int, str]]:
    """The last event of each Japan-time day in [start, end]: (day, seq, hash), to keep outside."""
    heads = []
    day = start
    while day <= end:
        begin_utc = datetime.combine(day, time(0), JST).astimezone(timezone.utc).replace(tzinfo=None)
        end_utc = begin_utc + timedelta(days=1)
        last = (AuditEvent.select(AuditEvent.seq, AuditEvent.hash)
                .where((AuditEvent.at >= begin_utc) & (AuditEvent.at < end_utc))
                .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc()).first())
        if last is not None:
            heads.append((day, last.seq, last.hash))
        day += timedelta(days=1)
    return heads
