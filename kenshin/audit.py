"""The access log: one function records every event, chained by a keyed hash, and one walks the chain.

Each event stores HMAC-SHA256(key, prev_hash ‖ canonical row). The key (KENSHIN_AUDIT_KEY) lives
outside the database, so someone who can edit rows cannot recompute the chain (unlike a keyless
checksum). Writers first bump the single `audit_head` row, which serialises them: concurrent
workers never fork the chain, and a unique `seq` would refuse a fork even if they tried.
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

from models import AuditEvent, AuditHead, db

from .dates import now_utc, JST

GENESIS = "0" * 64

_key: bytes | None = None

# Details never carry these (health values, secrets); a guard against careless callers.
FORBIDDEN_DETAIL_KEYS = {"password", "token", "secret", "items", "values", "challenge"}


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
    return json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor_id, actor_label, role, terminal,
         action, resident_id, object_type, object_id, outcome, details],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    ).encode()


def _mac(prev_hash: str, payload: bytes) -> str:
    if _key is None:
        raise RuntimeError("audit key not configured")
    return hmac.new(_key, prev_hash.encode() + payload, hashlib.sha256).hexdigest()


def _clean_details(details: dict | None) -> dict:
    details = dict(details or {})
    bad = FORBIDDEN_DETAIL_KEYS.intersection(k.lower() for k in details)
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


def record(action: str, actor: Actor, *, resident=None, object_type: str = "", object_id="",
           outcome: str = "ok", details: dict | None = None) -> AuditEvent:
    """Append one event inside the caller's transaction; if it cannot be written, the change fails."""
    resident_id = getattr(resident, "id", resident)
    details = _clean_details(details)
    with db.atomic():
        updated = AuditHead.update(seq=AuditHead.seq + 1).execute()
        if not updated:
            AuditHead.create(seq=1, hash=GENESIS)
            head_seq, prev = 1, GENESIS
        else:
            head = AuditHead.select().get()
            head_seq, prev = head.seq, head.hash
        at = now_utc()
        payload = _canonical(head_seq, at, actor.staff_id, actor.label, actor.role,
                             actor.terminal, action, resident_id, object_type, str(object_id),
                             outcome, details)
        digest = _mac(prev, payload)
        event = AuditEvent.create(
            seq=head_seq, at=at, actor=actor.staff_id, actor_label=actor.label, role=actor.role,
            terminal=actor.terminal, action=action, resident=resident_id,
            object_type=object_type, object_id=str(object_id), outcome=outcome,
            details=details, prev_hash=prev, hash=digest)
        AuditHead.update(hash=digest).execute()
    return event


@dataclass
class VerifyResult:
    ok: bool
    count: int
    head: str
    problem: str = ""
    bad_seq: int | None = None
    head_found: bool | None = None


def _rows(batch: int = 20000) -> Iterator[tuple]:
    """Every event in seq order, a page at a time (constant memory on 5,000,000 rows)."""
    last = 0
    fields = (AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.actor_label,
              AuditEvent.role, AuditEvent.terminal, AuditEvent.action, AuditEvent.resident,
              AuditEvent.object_type, AuditEvent.object_id, AuditEvent.outcome,
              AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.id)
    while True:
        page = list(AuditEvent.select(*fields).where(AuditEvent.seq > last)
                    .order_by(AuditEvent.seq).limit(batch).tuples())
        if not page:
            return
        yield from page
        last = page[-1][0]


def verify(expected_head: str | None = None) -> VerifyResult:
    """Recompute the chain; name the first event that does not verify."""
    prev = GENESIS
    count = 0
    expected_seq = 1
    head_found = None if expected_head is None else False
    for (seq, at, actor_id, actor_label, role, terminal, action, resident_id, object_type,
         object_id, outcome, details, prev_hash, digest, row_id) in _rows():
        if isinstance(at, str):  # SQLite without type conversion
            at = datetime.fromisoformat(at)
        where = f"event seq={seq} (id={row_id}, {at.isoformat(timespec='seconds')}Z, {action})"
        if seq != expected_seq:
            return VerifyResult(False, count, prev,
                                f"{where}: expected seq={expected_seq} — events missing or reordered",
                                seq, head_found)
        if prev_hash != prev:
            return VerifyResult(False, count, prev,
                                f"{where}: its previous hash does not match the event before it "
                                f"(deleted, inserted or reordered events)", seq, head_found)
        payload = _canonical(seq, at, actor_id, actor_label, role, terminal, action, resident_id,
                             object_type, object_id, outcome, details)
        if not hmac.compare_digest(_mac(prev, payload), digest):
            return VerifyResult(False, count, prev,
                                f"{where}: its content does not match its hash (edited)", seq,
                                head_found)
        prev = digest
        count += 1
        expected_seq += 1
        if expected_head is not None and digest == expected_head:
            head_found = True
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
