"""Reading the access log: the filtered, paged viewer, its CSV and print, "who accessed this
person", and the daily heads. Every read here is itself recorded (audit.view, audit.export,
audit.print, audit.person_report, audit.heads) inside the same transaction as the query.

A query is never unbounded: a date range (at most MAX_DAYS) is required, pages hold PAGE_SIZE
events, an export at most EXPORT_MAX and a print at most PRINT_MAX events.
"""
from __future__ import annotations

import operator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import reduce
from typing import Mapping

from peewee import JOIN, fn

from models import AuditEvent, Resident, Staff, db

from kenshin import audit
from kenshin.access.roles import ROLES
from kenshin.audit import present
from kenshin.audit.labels import (RESIDENT_OUTCOMES, action_label, object_label, outcome_label,
                                  resident_actor, resident_phrase)
from kenshin.core.dates import JST, DateError, format_both, parse_date, to_jst, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core import identifiers
from kenshin.core.listing import csv_bytes

MAX_DAYS = 366
PAGE_SIZE = 50
COUNT_CAP = 10_000
EXPORT_MAX = 100_000
PRINT_MAX = 2_000
PERSON_MAX = 5_000


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[first instant, last instant) of the Japan-time days, as stored naive UTC."""
        return jst_day_start(self.start), jst_day_start(self.end + timedelta(days=1))

    def details(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def jst_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), JST).astimezone(timezone.utc).replace(tzinfo=None)


def parse_period(start_text: str | None, end_text: str | None, max_days: int = MAX_DAYS,
                 errors: dict | None = None) -> Period | None:
    """A required Japan-time date range of at most `max_days`; errors go into `errors`."""
    own = errors if errors is not None else {}
    found = {}
    for key, text, label in (("start", start_text, "開始日"), ("end", end_text, "終了日")):
        if not (text or "").strip():
            own.setdefault(key, []).append(f"{label}を入力してください")
            continue
        try:
            found[key] = parse_date(text.strip())
        except DateError as exc:
            own.setdefault(key, []).append(f"{label}: {exc}")
    if len(found) == 2:
        if found["end"] < found["start"]:
            own.setdefault("end", []).append("終了日は開始日以降にしてください")
        elif (found["end"] - found["start"]).days + 1 > max_days:
            own.setdefault("end", []).append(f"期間は{max_days}日以内にしてください")
    if own:
        if errors is None:
            raise Invalid(own)
        return None
    return Period(found["start"], found["end"])


@dataclass(frozen=True)
class LogFilter:
    """What the viewer asks for. `atena_no` is personal: it travels only in POST bodies."""

    start: date
    end: date
    login_id: str = ""
    action: str = ""
    atena_no: str = ""
    outcome: str = ""

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    def as_form(self) -> dict[str, str]:
        """The filter as form values (hidden fields of the paging and export forms)."""
        values = asdict(self)
        values["start"], values["end"] = self.start.isoformat(), self.end.isoformat()
        return values

    def details(self) -> dict:
        """The filter as an audit event records it: the person is the event's subject, not text."""
        d = self.period.details()
        for key in ("login_id", "action", "outcome"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.atena_no:
            d["person"] = True
        return d


def parse_filter(form: Mapping[str, str]) -> LogFilter:
    """Validate the filter form; raises Invalid with Japanese messages per field."""
    errors: dict[str, list[str]] = {}
    period = parse_period(form.get("start"), form.get("end"), errors=errors)
    login_id = (form.get("login_id") or "").strip()
    if len(login_id) > 64:
        errors.setdefault("login_id", []).append("ログインIDは64文字以内です")
    action = (form.get("action") or "").strip()
    if len(action) > 48:
        errors.setdefault("action", []).append("操作の指定が不正です")
    outcome = (form.get("outcome") or "").strip()
    if len(outcome) > 12:
        errors.setdefault("outcome", []).append("結果の指定が不正です")
    atena_no = (form.get("atena_no") or "").strip()
    if atena_no and not identifiers.is_atena_no(atena_no):
        errors.setdefault("atena_no", []).append(identifiers.ATENA_NO_MESSAGE)
    if errors:
        raise Invalid(errors)
    return LogFilter(period.start, period.end, login_id, action, atena_no, outcome)


def _distinct(column) -> list[str]:
    """Distinct values of an indexed column, one index probe per value (a loose index scan)."""
    table, name = AuditEvent._meta.table_name, column.column_name
    sql = (f"WITH RECURSIVE t(v) AS (SELECT MIN({name}) FROM {table} UNION ALL "
           f"SELECT (SELECT MIN({name}) FROM {table} WHERE {name} > t.v) FROM t WHERE t.v IS NOT NULL) "
           f"SELECT v FROM t WHERE v IS NOT NULL")
    return [row[0] for row in db.execute_sql(sql).fetchall()]


def action_choices() -> list[tuple[str, str]]:
    """The actions that exist in the log, with their Japanese names."""
    choices = sorted(((code, action_label(code)) for code in _distinct(AuditEvent.action)),
                     key=lambda c: c[0])
    # the Japanese name alone; the code only to tell apart two actions of the same name
    seen: dict[str, int] = {}
    for _, label in choices:
        seen[label] = seen.get(label, 0) + 1
    return [(code, f"{label}（{code}）" if seen[label] > 1 else label) for code, label in choices]


def outcome_choices() -> list[tuple[str, str]]:
    """The outcomes the screens offer (the label table: outcome has no index to list it from)."""
    from kenshin.audit.labels import OUTCOME_LABELS

    return list(OUTCOME_LABELS.items())


# --- rows as the screens show them ------------------------------------------------------------

def role_names(role: str) -> str:
    if role == "cli":
        return "コマンド"
    parts = [r for r in (role or "").split(",") if r]
    return "・".join(ROLES.get(r, r) for r in parts)


def details_text(details) -> str:
    """Details as 「項目: 値」 text in words (see kenshin.audit.present)."""
    return present.details_text(details)


@dataclass
class Row:
    seq: int
    at: datetime
    login_id: str
    staff_name: str
    division: str
    role: str
    terminal: str
    action: str
    action_label: str
    atena_no: str
    resident_name: str
    object_type: str
    object_id: str
    outcome: str
    outcome_label: str
    details: str
    object_ref: present.Ref | None = None
    object_kind: str = ""

    @property
    def at_jst(self) -> datetime:
        return to_jst(self.at)


def _query(where):
    """Events with their staff member and person, newest first (the at index keeps it bounded)."""
    return (AuditEvent
            .select(AuditEvent.seq, AuditEvent.at, AuditEvent.actor_label, AuditEvent.role,
                    AuditEvent.terminal, AuditEvent.action, AuditEvent.object_type,
                    AuditEvent.object_id, AuditEvent.outcome, AuditEvent.details,
                    Staff.name, Staff.division, Resident.atena_no, Resident.name.alias("rname"))
            .join(Staff, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Staff.id))
            .switch(AuditEvent)
            .join(Resident, JOIN.LEFT_OUTER, on=(AuditEvent.resident == Resident.id))
            .where(where)
            .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc()))


def _rows(query) -> list[Row]:
    """The events in words: the objects and the staff their details name are resolved for all the
    rows at once (one query per kind of object, not one per row)."""
    raw = list(query.tuples())
    refs, staff_names = present.resolve([(r[6], r[7], r[9]) for r in raw])
    rows = []
    for (seq, at, label, role, terminal, action, object_type, object_id, outcome, details,
         staff_name, division, atena_no, rname) in raw:
        rows.append(Row(seq, at, label, staff_name or "", division or "", role_names(role),
                        terminal, action, action_label(action), atena_no or "", rname or "",
                        object_type, object_id, outcome, outcome_label(outcome),
                        present.details_text(details, staff_names),
                        present.object_ref(object_type, object_id, refs),
                        object_label(object_type) if object_type else ""))
    return rows


def _conditions(flt: LogFilter):
    """The filter as a WHERE clause; None for a person or staff member that does not exist."""
    conds = [_in_period(flt.period)]
    if flt.login_id:
        staff = Staff.get_or_none(Staff.login_id == flt.login_id)
        conds.append((AuditEvent.actor == staff.id) if staff
                     else (AuditEvent.actor_label == flt.login_id))
    if flt.action:
        conds.append(AuditEvent.action == flt.action)
    if flt.outcome:
        conds.append(AuditEvent.outcome == flt.outcome)
    resident = None
    if flt.atena_no:
        resident = Resident.get_or_none(Resident.atena_no == flt.atena_no)
        if resident is None:
            return None, None
        conds.append(AuditEvent.resident == resident.id)
    return reduce(operator.and_, conds), resident


@dataclass
class Page:
    rows: list[Row]
    page: int
    has_next: bool
    until_seq: int
    count: int
    count_capped: bool
    person_unknown: bool = False

    @property
    def first_number(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1


def _newest_seq() -> int:
    return AuditEvent.select(fn.MAX(AuditEvent.seq)).scalar() or 0


def search(flt: LogFilter, actor: audit.Actor, page: int = 1, until_seq: int | None = None) -> Page:
    """One page (newest first) of the events matching the filter; the view itself is recorded.

    `until_seq` pins the result to the log as it was when the search began, so paging is stable
    while new events arrive."""
    page = max(1, min(int(page), 100_000))
    with db.atomic():
        until = until_seq if until_seq else _newest_seq()
        cond, resident = _conditions(flt)
        if cond is None:
            result = Page([], 1, False, until, 0, False, person_unknown=True)
        else:
            cond &= AuditEvent.seq <= until
            query = _query(cond)
            rows = _rows(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE))
            count = AuditEvent.select(AuditEvent.id).where(cond).limit(COUNT_CAP + 1).count()
            result = Page(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE, until,
                          min(count, COUNT_CAP), count > COUNT_CAP)
        audit.record("audit.view", actor, resident=resident,
                     details=dict(flt.details(), page=page, count=len(result.rows)))
    return result


def _in_period(period: Period):
    begin, end = period.utc_bounds()
    return (AuditEvent.at >= begin) & (AuditEvent.at < end)


def _all_rows(flt: LogFilter, cap: int, what: str) -> tuple[list[Row], object]:
    cond, resident = _conditions(flt)
    if cond is None:
        return [], None
    rows = _rows(_query(cond).limit(cap + 1))
    if len(rows) > cap:
        raise Refused(f"{what}できるのは{cap:,}件までです。期間や条件を絞ってください。")
    return rows, resident


CSV_HEADER = ["通番", "日時（日本時間）", "ログインID", "職員氏名", "所属", "役割", "端末", "操作",
              "操作コード", "宛名番号", "対象者氏名", "対象", "対象ID", "結果", "詳細"]


def export_csv(flt: LogFilter, actor: audit.Actor) -> tuple[str, bytes, int]:
    """The matching events as CSV for Excel (UTF-8 with BOM, Japanese header); recorded with the
    count and the filter. Returns (file name, bytes, count)."""
    with db.atomic():
        rows, resident = _all_rows(flt, EXPORT_MAX, "ファイル出力")
        data = csv_bytes(CSV_HEADER, ([
            r.seq, r.at_jst.strftime("%Y-%m-%d %H:%M:%S"), r.login_id, r.staff_name, r.division,
            r.role, r.terminal, r.action_label, r.action, r.atena_no, r.resident_name,
            r.object_ref.label if r.object_ref else "", r.object_id, r.outcome_label,
            r.details] for r in rows))
        audit.record("audit.export", actor, resident=resident,
                     details=dict(flt.details(), report="log", count=len(rows), format="csv"))
    name = f"audit-log-{flt.start:%Y%m%d}-{flt.end:%Y%m%d}.csv"
    return name, data, len(rows)


def print_rows(flt: LogFilter, actor: audit.Actor) -> list[Row]:
    """The matching events for the A4 print view; recorded with the count and the filter."""
    with db.atomic():
        rows, resident = _all_rows(flt, PRINT_MAX, "印刷")
        audit.record("audit.print", actor, resident=resident,
                     details=dict(flt.details(), report="log", count=len(rows)))
    return rows


# --- who accessed this person -----------------------------------------------------------------

@dataclass
class AccessLine:
    """One event of the person's access record, in the person's words."""

    at: datetime
    who: str
    what: str
    outcome: str


@dataclass
class PersonReport:
    resident: Resident
    period: Period
    rows: list[Row]

    @property
    def lines(self) -> list[AccessLine]:
        """The record as given to the person (本人開示用): no codes, terminals or login ids."""
        return [AccessLine(r.at, resident_actor(r.division, r.staff_name,
                                                system=not r.staff_name),
                           resident_phrase(r.action),
                           RESIDENT_OUTCOMES.get(r.outcome, r.outcome_label)) for r in self.rows]


def person_report(atena_no: str, period: Period, actor: audit.Actor, printing: bool = False
                  ) -> PersonReport:
    """Every event touching one person in the period (views, searches opened, entries,
    corrections, prints, exports), oldest first; recorded with the person as subject."""
    atena_no = (atena_no or "").strip()
    if not identifiers.is_atena_no(atena_no):
        raise Invalid({"atena_no": [identifiers.ATENA_NO_MESSAGE]})
    with db.atomic():
        resident = Resident.get_or_none(Resident.atena_no == atena_no)
        if resident is None:
            raise NotFound("resident")
        query = _query(_in_period(period) & (AuditEvent.resident == resident.id)).limit(
            PERSON_MAX + 1)
        rows = _rows(query)
        if len(rows) > PERSON_MAX:
            raise Refused(f"{PERSON_MAX:,}件を超えています。期間を絞ってください。")
        rows.reverse()
        action = "audit.print" if printing else "audit.person_report"
        audit.record(action, actor, resident=resident,
                     details=dict(period.details(), report="person", count=len(rows)))
    return PersonReport(resident, period, rows)


# --- daily heads ------------------------------------------------------------------------------

@dataclass
class Head:
    day: date
    seq: int
    hash: str


def heads(period: Period, actor: audit.Actor, how: str = "view") -> list[Head]:
    """The last hash of each day in the period, to keep outside the system; recorded."""
    with db.atomic():
        result = [Head(d, s, h) for d, s, h in audit.daily_heads(period.start, period.end)]
        action = {"view": "audit.heads", "csv": "audit.export", "print": "audit.print"}[how]
        audit.record(action, actor, details=dict(period.details(), report="heads",
                                                 count=len(result)))
    return result


def heads_csv(rows: list[Head]) -> bytes:
    return csv_bytes(["日付", "和暦", "その日の最後の通番", "ハッシュ（HMAC-SHA256）"],
                      ([h.day.isoformat(), format_both(h.day).split(" ")[0], h.seq, h.hash]
                       for h in rows))


def default_period(days: int = 7) -> Period:
    today = today_jst()
    return Period(today - timedelta(days=days - 1), today)
