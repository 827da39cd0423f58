"""Queries from the intermediate server: receive, answer or hold, approve or decline, deliver.

Every step is kept twice, in the same transaction: as a ProvisionStep of the query (the provision
record, searchable by person, kept 7 years) and as an audit event (the access log). A query's
`content` is computed once, when the query arrives, and never changes: what the supervisor sees
on the hold screen is byte for byte what is sent after approval (the approval names the
content's SHA-256, so a stale screen cannot approve something else).

Answers (FORMATS.md "Provision"): 200 answered with the items, 202 held, 403 refused (not on the
permitted list; also a person whose use is suspended, see docs/PROVISION.md), 404 unknown_person
(no such 団体内統合宛名番号, or removed from the registry longer ago than the retention).
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from peewee import JOIN, IntegrityError

import database
from models import ProvisionQuery, ProvisionStep, Resident, Staff, db

from kenshin import audit
from kenshin.core.dates import fiscal_year, now_utc, to_jst, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.holidays import is_office_day

from . import content as content_mod
from . import flags, permitted

QUERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}", re.A)
PERSON = re.compile(r"[0-9]{1,15}", re.A)
REQUESTER = re.compile(r"[0-9]{5,6}", re.A)
REASON_MAX = 400
# Reasons given to the network (machine words; the Japanese is on our screens).
NOT_PERMITTED = "not_permitted"
USE_SUSPENDED = "use_suspended"
STATUS_LABELS = {"answered": "回答済み", "held": "承認待ち（自動応答不可）", "declined": "提供しない（却下）",
                 "refused": "拒否（照会許可リスト外）", "unknown_person": "該当者なし",
                 "suspended": "提供せず（利用停止中）"}
STEP_LABELS = {"received": "照会の受付", "answered": "自動回答", "held": "保留（自動応答不可）",
               "approved": "承認（提供）", "declined": "却下（提供しない）", "refused": "拒否",
               "unknown": "該当者なしと回答", "suspended": "利用停止中のため提供せず",
               "delivered": "回答の送信"}
REFUSED_ACTION = "provision.refuse"


@dataclass(frozen=True)
class Policy:
    """Settings: how long a removed person stays answerable, when a held query is overdue."""

    removed_years: int = 5
    hold_working_days: int = 5
    closed_days: frozenset = frozenset()


@dataclass
class Answer:
    """What the HTTP side sends: a status code and a JSON body."""

    code: int
    body: dict


def network_actor(requester: str | None, terminal: str) -> audit.Actor:
    """The intermediate server as an audit actor (no staff member)."""
    return audit.Actor(staff_id=None, label=f"net:{requester or '-'}", role="provision",
                       terminal=terminal)


def _sha(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


def _step(query: ProvisionQuery, kind: str, at, staff_id=None, note: str = "") -> None:
    ProvisionStep.create(query=query.id, kind=kind, at=at, staff=staff_id, note=note[:400])


def _details(query: ProvisionQuery, **extra) -> dict:
    details = {"query_id": query.query_id, "requester": query.requester,
               "procedure": query.procedure, "requested": list(query.requested)}
    details.update(extra)
    return details


# --- validating the body ----------------------------------------------------------------------

@dataclass
class Asked:
    query_id: str
    requester: str
    procedure: str
    person: str
    items: list[str] = field(default_factory=list)

    def same_as(self, query: ProvisionQuery) -> bool:
        return (query.requester, query.procedure, query.person_no, list(query.requested)) == (
            self.requester, self.procedure, self.person, self.items)


def parse(body) -> Asked:
    """The query body, checked; Invalid names each bad field (English, for the network)."""
    if not isinstance(body, dict):
        raise Invalid({"-": ["the body must be a JSON object"]})
    errors: dict[str, list[str]] = {}

    def text(key):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and key != "procedure":
            value = str(value)  # a number written without quotes (leading zeros are then lost)
        if not isinstance(value, str) or not value.strip():
            errors[key] = ["required (a string)"]
            return ""
        return value.strip()

    query_id, requester, person = text("query_id"), text("requester"), text("person")
    procedure = permitted.clean_procedure(text("procedure"))
    if query_id and not QUERY_ID.fullmatch(query_id):
        errors["query_id"] = ["1-64 characters: letters, digits, . _ : -"]
    if requester and not REQUESTER.fullmatch(requester):
        errors["requester"] = ["a 地方公共団体コード (5 or 6 digits)"]
    if person and not PERSON.fullmatch(person):
        errors["person"] = ["a 団体内統合宛名番号 (1-15 digits)"]
    if len(procedure) > permitted.PROCEDURE_MAX:
        errors["procedure"] = [f"at most {permitted.PROCEDURE_MAX} characters"]
    items = body.get("items")
    if (not isinstance(items, list) or not items
            or not all(isinstance(i, str) and i in content_mod.ITEMS for i in items)):
        errors["items"] = ["a non-empty list of \"history\" and/or \"results\""]
        items = []
    unknown = sorted(set(body) - {"query_id", "requester", "procedure", "person", "items"})
    if unknown:
        errors["-"] = [f"unknown fields: {', '.join(unknown)}"]
    if errors:
        raise Invalid(errors)
    ordered = [i for i in content_mod.ITEMS if i in items]
    return Asked(query_id, requester, procedure, person, ordered)


def record_invalid(errors: dict, actor: audit.Actor) -> None:
    """A body that could not be read: audited with the fields at fault (never their values)."""
    with db.atomic():
        audit.record("provision.invalid", actor, outcome="failed",
                     details={"fields": sorted(errors)})


def record_unauthenticated(actor: audit.Actor, why: str) -> None:
    with db.atomic():
        audit.record("provision.unauthenticated", actor, outcome="denied", details={"why": why})


# --- receiving ----------------------------------------------------------------------------------

def _removed_long_ago(resident: Resident, today: date, years: int) -> bool:
    if resident.removed_on is None:
        return False
    removed = resident.removed_on
    if isinstance(removed, str):
        removed = date.fromisoformat(removed)
    # Retention counts in 年度 after the 消除 (the same rule as the purge of removed people).
    return fiscal_year(today) - fiscal_year(removed) > years


def receive(asked: Asked, terminal: str, policy: Policy, today: date | None = None) -> Answer:
    """Decide a new query: refused, unknown person, answered at once or held. One transaction.

    Two requests with the same new query_id at once: the second one's insert fails on the unique
    query_id after the first committed; it then answers as a repeat of the first."""
    try:
        return _receive(asked, terminal, policy, today)
    except IntegrityError:
        return _receive(asked, terminal, policy, today)


def _receive(asked: Asked, terminal: str, policy: Policy, today: date | None) -> Answer:
    today = today or today_jst()
    actor = network_actor(asked.requester, terminal)
    with db.atomic():
        existing = ProvisionQuery.get_or_none(ProvisionQuery.query_id == asked.query_id)
        if existing is not None:
            if not asked.same_as(existing):
                audit.record("provision.conflict", actor, outcome="failed",
                             object_type="provision_query", object_id=asked.query_id,
                             details={"query_id": asked.query_id})
                return Answer(409, {"status": "conflict",
                                    "reason": "query_id already used for a different query"})
            return _current(existing, actor, repeat=True)
        now = now_utc()
        query = ProvisionQuery.create(
            query_id=asked.query_id, requester=asked.requester, procedure=asked.procedure,
            person_no=asked.person, requested=asked.items, status="received", terminal=terminal[:64],
            received_at=now)
        _step(query, "received", now)
        audit.record("provision.query", actor, object_type="provision_query",
                     object_id=query.query_id, details=_details(query))

        off_list = permitted.missing(asked.requester, asked.procedure, asked.items)
        if off_list:
            query.status, query.reason = "refused", "照会許可用照合リストにない照会です（" + "、".join(off_list) + "）"
            query.save()
            _step(query, "refused", now, note=query.reason)
            audit.record(REFUSED_ACTION, actor, outcome="denied", object_type="provision_query",
                         object_id=query.query_id,
                         details=_details(query, reason=NOT_PERMITTED, not_listed=off_list))
            return Answer(403, {"status": "refused", "reason": NOT_PERMITTED})

        resident = Resident.get_or_none(Resident.togo_atena_no == asked.person)
        if resident is None or _removed_long_ago(resident, today, policy.removed_years):
            query.status, query.resident = "unknown_person", (resident.id if resident else None)
            query.reason = None if resident is None else "消除から保存期間を過ぎています"
            query.save()
            _step(query, "unknown", now, note=query.reason or "")
            audit.record("provision.unknown", actor, resident=resident, outcome="not_found",
                         object_type="provision_query", object_id=query.query_id,
                         details=_details(query, removed_long_ago=resident is not None))
            return Answer(404, {"status": "unknown_person"})
        query.resident = resident.id

        if resident.use_suspended:
            query.status, query.reason = "suspended", "利用停止中の方です（個人情報保護法 第98条）"
            query.save()
            _step(query, "suspended", now, note=query.reason)
            audit.record(REFUSED_ACTION, actor, resident=resident, outcome="denied",
                         object_type="provision_query", object_id=query.query_id,
                         details=_details(query, reason=USE_SUSPENDED))
            return Answer(403, {"status": "refused", "reason": USE_SUSPENDED})

        content = content_mod.build(resident.id, asked.items)
        query.content, query.content_sha256 = content, _sha(content)
        current_flags = flags.current()
        flagged = [item for item in asked.items if current_flags.get(item)]
        if flagged:
            query.status, query.held_items = "held", flagged
            query.save()
            _step(query, "held", now, note="自動応答不可: " + "、".join(flagged))
            audit.record("provision.hold", actor, resident=resident, object_type="provision_query",
                         object_id=query.query_id,
                         details=_details(query, flagged=flagged, counts=content_mod.count(content)))
            return Answer(202, {"status": "held"})
        query.status, query.answered_at, query.delivered_at = "answered", now, now
        query.save()
        _step(query, "answered", now)
        _step(query, "delivered", now)
        audit.record("provision.answer", actor, resident=resident, object_type="provision_query",
                     object_id=query.query_id,
                     details=_details(query, counts=content_mod.count(content), sha256=query.content_sha256))
        return Answer(200, {"status": "answered", **content})


def _current(query: ProvisionQuery, actor: audit.Actor, repeat: bool = False) -> Answer:
    """The query's status as the network sees it; an answer sent again is a delivery step."""
    if query.status == "answered":
        now = now_utc()
        if query.delivered_at is None:
            query.delivered_at = now
            query.save()
        _step(query, "delivered", now, note="再照会" if repeat else "")
        audit.record("provision.deliver", actor, resident=query.resident_id,
                     object_type="provision_query", object_id=query.query_id,
                     details={"query_id": query.query_id, "sha256": query.content_sha256})
        return Answer(200, {"status": "answered", **query.content})
    if query.status == "held":
        return Answer(202, {"status": "held"})
    if query.status == "declined":
        return Answer(403, {"status": "declined", "reason": "declined by the provider on review"})
    if query.status == "refused":
        return Answer(403, {"status": "refused", "reason": NOT_PERMITTED})
    if query.status == "suspended":
        return Answer(403, {"status": "refused", "reason": USE_SUSPENDED})
    return Answer(404, {"status": "unknown_person"})


def fetch(query_id: str, terminal: str) -> Answer:
    """GET /provision/queries/<query_id>: the current status and, once approved, the answer."""
    with db.atomic():
        query = ProvisionQuery.get_or_none(ProvisionQuery.query_id == query_id)
        if query is None:
            return Answer(404, {"status": "unknown_query"})
        return _current(query, network_actor(query.requester, terminal))


# --- the supervisor's side ------------------------------------------------------------------------

def get(query_pk: int) -> ProvisionQuery:
    query = (ProvisionQuery.select(ProvisionQuery, Resident)
             .join(Resident, JOIN.LEFT_OUTER, on=(ProvisionQuery.resident == Resident.id))
             .where(ProvisionQuery.id == query_pk).first())
    if query is None:
        raise NotFound("照会が見つかりません")
    return query


def view(query_pk: int, actor: audit.Actor) -> tuple[ProvisionQuery, list[ProvisionStep]]:
    """One query with its steps and content for the screen; the view is audited (health data)."""
    query = get(query_pk)
    with db.atomic():
        audit.record("provision.view", actor, resident=query.resident_id,
                     object_type="provision_query", object_id=query.query_id,
                     details={"query_id": query.query_id, "status": query.status})
    return query, steps(query.id)


def steps(query_pk: int) -> list[ProvisionStep]:
    return list(ProvisionStep.select(ProvisionStep, Staff)
                .join(Staff, JOIN.LEFT_OUTER, on=(ProvisionStep.staff == Staff.id))
                .where(ProvisionStep.query == query_pk)
                .order_by(ProvisionStep.at, ProvisionStep.id))


def _held(query_pk: int, actor: audit.Actor) -> ProvisionQuery:
    if actor.staff_id is None:
        raise Refused("承認・却下は係長が画面から行います")
    select = ProvisionQuery.select().where(ProvisionQuery.id == query_pk)
    if database.is_postgres():  # two supervisors deciding at once: the second waits, then sees it decided
        select = select.for_update()
    query = select.first()
    if query is None:
        raise NotFound("照会が見つかりません")
    if query.status != "held":
        raise Refused("この照会はすでに処理されています（" + STATUS_LABELS.get(query.status, query.status) + "）")
    return query


def approve(query_pk: int, shown_sha256: str, actor: audit.Actor) -> ProvisionQuery:
    """Release exactly the content the screen showed (its SHA-256); the answer becomes available."""
    with db.atomic():
        query = _held(query_pk, actor)
        if (shown_sha256 or "") != query.content_sha256:
            raise Refused("画面に表示した内容と提供内容が一致しません。画面を開き直してください")
        now = now_utc()
        query.status, query.answered_at = "answered", now
        query.decided_by, query.decided_at = actor.staff_id, now
        query.save()
        _step(query, "approved", now, actor.staff_id)
        audit.record("provision.approve", actor, resident=query.resident_id,
                     object_type="provision_query", object_id=query.query_id,
                     details=_details(query, sha256=query.content_sha256,
                                      counts=content_mod.count(query.content)))
    return query


def decline(query_pk: int, reason: str, actor: audit.Actor) -> ProvisionQuery:
    """Send nothing; the reason is kept (and given on screen, not to the network)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise Invalid({"reason": ["却下の理由を入力してください"]})
    if len(reason) > REASON_MAX:
        raise Invalid({"reason": [f"理由は{REASON_MAX}文字以内です"]})
    with db.atomic():
        query = _held(query_pk, actor)
        now = now_utc()
        query.status, query.reason = "declined", reason
        query.decided_by, query.decided_at = actor.staff_id, now
        query.save()
        _step(query, "declined", now, actor.staff_id, reason)
        audit.record("provision.decline", actor, resident=query.resident_id,
                     object_type="provision_query", object_id=query.query_id,
                     details=_details(query))
    return query


def working_days_waited(received_at, today: date, closed_days=frozenset()) -> int:
    """Office days after the day of receipt (Japan time) up to and including today."""
    day = to_jst(received_at).date()
    waited = 0
    while day < today:
        day += timedelta(days=1)
        if is_office_day(day, closed_days):
            waited += 1
    return waited


@dataclass
class HeldRow:
    query: ProvisionQuery
    waited: int
    overdue: bool


def held(policy: Policy, today: date | None = None) -> list[HeldRow]:
    """Queries waiting for a supervisor, oldest first, with the working days they have waited."""
    today = today or today_jst()
    rows = (ProvisionQuery.select(ProvisionQuery, Resident)
            .join(Resident, JOIN.LEFT_OUTER, on=(ProvisionQuery.resident == Resident.id))
            .where(ProvisionQuery.status == "held").order_by(ProvisionQuery.received_at))
    out = []
    for query in rows:
        waited = working_days_waited(query.received_at, today, policy.closed_days)
        out.append(HeldRow(query, waited, waited >= policy.hold_working_days))
    return out


def overdue_count(policy: Policy, today: date | None = None) -> int:
    return sum(1 for row in held(policy, today) if row.overdue)


# --- the provision record -------------------------------------------------------------------------

RECORD_LIMIT = 500


def search(person: str, actor: audit.Actor) -> list[ProvisionQuery]:
    """Provision records of one person, by 宛名番号 or 団体内統合宛名番号; the search is audited."""
    text = unicodedata.normalize("NFKC", (person or "").strip())
    if not PERSON.fullmatch(text):
        raise Invalid({"person": ["宛名番号または団体内統合宛名番号（数字15桁以内）を入力してください"]})
    residents = [r.id for r in Resident.select(Resident.id).where(
        (Resident.atena_no == text) | (Resident.togo_atena_no == text))]
    condition = ProvisionQuery.person_no == text
    if residents:
        condition = condition | ProvisionQuery.resident.in_(residents)
    rows = list(ProvisionQuery.select(ProvisionQuery, Resident)
                .join(Resident, JOIN.LEFT_OUTER, on=(ProvisionQuery.resident == Resident.id))
                .where(condition).order_by(ProvisionQuery.received_at.desc()).limit(RECORD_LIMIT))
    with db.atomic():
        audit.record("provision.search", actor, resident=residents[0] if len(residents) == 1 else None,
                     details={"found": len(rows)})
    return rows


def recent(limit: int = 50) -> list[ProvisionQuery]:
    """The newest queries (no personal data beyond numbers is shown in the list)."""
    return list(ProvisionQuery.select().order_by(ProvisionQuery.received_at.desc()).limit(limit))


@dataclass
class Provided:
    """One provision as the disclosure document names it: who received what, when."""

    at: object
    requester: str
    procedure: str
    items: str
    approved_by: str


def provided_to_others(resident_id: int) -> list[Provided]:
    """The answers that left for other offices about this person (for 「私の情報を受け取った者」)."""
    rows = (ProvisionQuery.select(ProvisionQuery, Staff)
            .join(Staff, JOIN.LEFT_OUTER, on=(ProvisionQuery.decided_by == Staff.id))
            .where((ProvisionQuery.resident == resident_id) & (ProvisionQuery.status == "answered")
                   & ProvisionQuery.delivered_at.is_null(False))
            .order_by(ProvisionQuery.delivered_at))
    return [Provided(q.delivered_at, q.requester, q.procedure,
                     "、".join(content_mod.ITEM_LABELS[i] for i in q.requested),
                     q.decided_by.name if q.decided_by_id else "自動応答")
            for q in rows]
