"""Incident support (漏えい等の報告): who was touched, and how, by one staff member, one terminal
or one import batch in a time window — as a list to print and a CSV for the report.

From the access log for a staff member or terminal (every view, search hit, entry, correction,
print and export of a person is an event naming them), from the data itself for an import batch
(the registry changes and screenings it wrote). Events that name no single person (a list
exported, a search) are counted separately: they may have touched more people than the list
shows, and the report says so. Producing the list or the CSV is itself audited.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from models import (AuditEvent, ImportBatch, QueueItem, Resident, ResidentChange, Screening,
                    Staff, db)
from peewee import fn

from kenshin import audit
from kenshin.audit.labels import action_label
from kenshin.audit.log import Period
from kenshin.core.dates import to_jst
from kenshin.core.errors import Invalid
from kenshin.core.listing import csv_bytes

KINDS = {"staff": "職員", "terminal": "端末", "batch": "取込"}
VIEW = "incident.view"
PRINT = "incident.print"
EXPORT = "incident.export"
MAX_PEOPLE = 50_000


@dataclass(frozen=True)
class Scope:
    period: Period
    kind: str  # staff | terminal | batch
    value: str

    def details(self) -> dict:
        return dict(self.period.details(), kind=self.kind, scope=self.value)


def parse_scope(period: Period | None, kind: str | None, value: str | None,
                errors: dict | None = None) -> Scope | None:
    own = errors if errors is not None else {}
    kind = (kind or "").strip()
    value = (value or "").strip()
    if kind not in KINDS:
        own.setdefault("kind", []).append("職員・端末・取込のどれで調べるか選んでください")
    elif not value:
        own.setdefault("value", []).append(f"{KINDS[kind]}を入力してください")
    elif kind == "staff" and not Staff.select().where(Staff.login_id == value).exists():
        own.setdefault("value", []).append("このログインIDの職員はいません")
    elif kind == "batch" and (not value.isdigit() or ImportBatch.get_or_none(id=int(value)) is None):
        own.setdefault("value", []).append("この番号の取込はありません")
    elif len(value) > 64:
        own.setdefault("value", []).append("64文字以内で入力してください")
    if own or period is None:
        if errors is None:
            raise Invalid(own)
        return None
    return Scope(period, kind, value)


@dataclass
class Touched:
    resident_id: int
    atena_no: str
    name: str
    name_kana: str
    birth_date: object
    postal_code: str
    address: str
    actions: dict = field(default_factory=dict)  # label → count
    first: datetime | None = None
    last: datetime | None = None

    @property
    def purged(self) -> bool:
        return not self.atena_no

    def add(self, label: str, at: datetime, count: int = 1) -> None:
        self.actions[label] = self.actions.get(label, 0) + count
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last

    @property
    def actions_text(self) -> str:
        return "、".join(f"{label}×{count}" for label, count in sorted(self.actions.items()))


@dataclass
class Report:
    scope: Scope
    people: list[Touched]
    unnamed: list[tuple[str, int]]  # actions that named no single person: (label, count)
    queue_rows: int = 0  # batch only: rows that matched nobody (wait in the queue)


def _touched(ids) -> dict[int, Touched]:
    found = {}
    ids = sorted(set(ids))
    for start in range(0, len(ids), 500):
        for r in Resident.select().where(Resident.id.in_(ids[start:start + 500])):
            found[r.id] = Touched(r.id, r.atena_no, r.name, r.name_kana, r.birth_date,
                                  r.postal_code or "", r.address)
    for missing in set(ids) - set(found):  # purged since (retention): only the id is left
        found[missing] = Touched(missing, "", "", "", None, "", "")
    return found


def _from_log(scope: Scope) -> Report:
    begin, end = scope.period.utc_bounds()
    cond = (AuditEvent.at >= begin) & (AuditEvent.at < end)
    if scope.kind == "staff":
        staff = Staff.get(Staff.login_id == scope.value)
        cond &= (AuditEvent.actor == staff.id)
    else:
        cond &= (AuditEvent.terminal == scope.value)
    named = (AuditEvent.select(AuditEvent.resident, AuditEvent.action, fn.COUNT(AuditEvent.id),
                               fn.MIN(AuditEvent.at), fn.MAX(AuditEvent.at))
             .where(cond & AuditEvent.resident.is_null(False))
             .group_by(AuditEvent.resident, AuditEvent.action).tuples())
    rows = list(named)
    people = _touched(r[0] for r in rows)
    for resident_id, action, count, first, last in rows:
        person = people[resident_id]
        person.add(action_label(action), _dt(first), count)
        person.add(action_label(action), _dt(last), 0)
    unnamed = [(action_label(a), c) for a, c in
               AuditEvent.select(AuditEvent.action, fn.COUNT(AuditEvent.id))
               .where(cond & AuditEvent.resident.is_null(True))
               .group_by(AuditEvent.action).tuples()]
    return Report(scope, _sorted(people), sorted(unnamed))


def _dt(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _from_batch(scope: Scope) -> Report:
    batch = int(scope.value)
    begin, end = scope.period.utc_bounds()
    changes = list(ResidentChange.select(ResidentChange.resident, ResidentChange.item,
                                         ResidentChange.at)
                   .where((ResidentChange.batch == batch) & (ResidentChange.at >= begin)
                          & (ResidentChange.at < end)).tuples())
    screenings = list(Screening.select(Screening.resident, Screening.exam, Screening.entered_at)
                      .where((Screening.batch == batch) & (Screening.entered_at >= begin)
                             & (Screening.entered_at < end)).tuples())
    people = _touched([c[0] for c in changes] + [s[0] for s in screenings])
    for resident_id, item, at in changes:
        people[resident_id].add(f"住民記録の変更（{item}）", _dt(at))
    for resident_id, exam, at in screenings:
        people[resident_id].add(f"検診結果の登録（{exam}）", _dt(at))
    queued = (QueueItem.select().where((QueueItem.batch == batch) & (QueueItem.created_at >= begin)
                                       & (QueueItem.created_at < end)).count())
    return Report(scope, _sorted(people), [], queued)


def _sorted(people: dict[int, Touched]) -> list[Touched]:
    return sorted(people.values(), key=lambda p: (p.purged, p.atena_no, p.resident_id))


def build(scope: Scope, actor: audit.Actor, action: str = VIEW) -> Report:
    """The report; recorded as VIEW, PRINT or EXPORT."""
    with db.atomic():
        report = _from_batch(scope) if scope.kind == "batch" else _from_log(scope)
        audit.record(action, actor, object_type="incident",
                     details=dict(scope.details(), people=len(report.people),
                                  unnamed=sum(c for _, c in report.unnamed)))
    return report


CSV_HEADER = ["宛名番号", "氏名", "氏名カナ", "生年月日", "郵便番号", "住所", "行われた操作",
              "最初（日本時間）", "最後（日本時間）", "備考"]


def export_csv(scope: Scope, actor: audit.Actor) -> tuple[str, bytes, int]:
    """The people as CSV for Excel (UTF-8 with BOM), every text cell through the formula guard."""
    report = build(scope, actor, EXPORT)
    rows = []
    for p in report.people:
        rows.append([
            p.atena_no, p.name, p.name_kana, p.birth_date.isoformat() if p.birth_date else "",
            p.postal_code, p.address, p.actions_text,
            to_jst(p.first).strftime("%Y-%m-%d %H:%M:%S") if p.first else "",
            to_jst(p.last).strftime("%Y-%m-%d %H:%M:%S") if p.last else "",
            f"保存期間経過により消去済み（内部番号 {p.resident_id}）" if p.purged else ""])
    for label, count in report.unnamed:
        rows.append(["", "", "", "", "", "", label, "", "",
                     f"対象者を特定しない操作 {count}件（一覧・検索など）"])
    if report.queue_rows:
        rows.append(["", "", "", "", "", "", "突合待ちの行", "", "",
                     f"{report.queue_rows}件（本人未特定）"])
    data = csv_bytes(CSV_HEADER, rows)  # the one guarded CSV writer (core.listing)
    name = (f"incident-{scope.kind}-{scope.period.start:%Y%m%d}-{scope.period.end:%Y%m%d}.csv")
    return name, data, len(report.people)
