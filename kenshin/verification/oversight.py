"""The pending list: forms waiting for their second keying, grouped in batches
(institution, exam, day of entry), with what is overdue."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from peewee import JOIN

from models import Institution, Screening, ScreeningKeying, Staff

from kenshin import audit
from kenshin.access.roles import SUPERVISOR
from kenshin.screening import catalogue
from kenshin.core.dates import JST, to_jst, today_jst
from kenshin.core.errors import NotFound
from kenshin.verification.rules import OVERDUE_DAYS, PENDING


# --- batches and the pending list ------------------------------------------------------------

@dataclass(frozen=True)
class BatchKey:
    """A stack of forms: keyed for one institution and exam on one day (Japan time)."""

    institution_code: str
    exam: str
    entered_on: date

    def url_args(self) -> dict:
        return {"code": self.institution_code, "exam": self.exam, "day": self.entered_on.isoformat()}

    @classmethod
    def parse(cls, code: str, exam: str, day: str) -> "BatchKey":
        """From a URL; NotFound when a part cannot be one."""
        if not re.fullmatch(r"[0-9]{10}", code or "") or exam not in catalogue.EXAMS:
            raise NotFound("確認入力の束が見つかりません")
        try:
            return cls(code, exam, date.fromisoformat(day))
        except (TypeError, ValueError):
            raise NotFound("確認入力の束が見つかりません") from None

    @classmethod
    def of(cls, screening: Screening) -> "BatchKey":
        return cls(screening.institution.code, screening.exam, entered_on(screening.entered_at))


def entered_on(at: datetime) -> date:
    """The Japan-time day of a stored UTC timestamp."""
    return to_jst(at).date()


def day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), JST).astimezone(timezone.utc).replace(tzinfo=None)
    return start, start + timedelta(days=1)


@dataclass
class PendingRow:
    """One pending screening as the oversight list shows it: no name, no values."""

    id: int
    institution_id: int
    exam: str
    exam_date: date
    entered_at: datetime
    entered_on: date
    days: int
    keyer_id: int | None
    recorder_id: int | None
    second_id: int | None
    institution: str = ""
    institution_code: str = ""
    keyer: str = ""
    second: str = ""

    @property
    def exam_name(self) -> str:
        exam = catalogue.EXAMS.get(self.exam)
        return exam.name if exam else self.exam


@dataclass
class PendingBatch:
    key: BatchKey
    institution: str
    exam_name: str
    count: int = 0
    awaiting_resolution: int = 0
    oldest_days: int = 0
    keyers: list = field(default_factory=list)
    own: int = 0  # forms the asking person keyed or recorded (they cannot verify those)
    overdue: bool = False


@dataclass
class Group:
    """Pending forms of one institution."""

    institution: str
    count: int
    oldest_days: int
    overdue: bool


@dataclass
class Overview:
    rows: list[PendingRow]
    batches: list[PendingBatch]
    institutions: list[Group]
    total: int
    overdue_count: int
    overdue_days: int
    own_only: bool


def _pending_rows(today: date) -> list[PendingRow]:
    """Every pending screening with its keyers (ordered oldest first)."""
    rows: dict[int, PendingRow] = {}
    query = (Screening.select(Screening.id, Screening.institution, Screening.exam, Screening.exam_date,
                              Screening.entered_at, Screening.entered_by, ScreeningKeying.round,
                              ScreeningKeying.staff)
             .join(ScreeningKeying, JOIN.LEFT_OUTER, on=(ScreeningKeying.screening == Screening.id))
             .where(Screening.status == PENDING)
             .order_by(Screening.entered_at, Screening.id).tuples())
    for sid, institution_id, exam, exam_date, at, recorder, round_no, staff_id in query:
        row = rows.get(sid)
        if row is None:
            day = entered_on(at)
            row = rows[sid] = PendingRow(sid, institution_id, exam, exam_date, at, day,
                                         (today - day).days, None, recorder, None)
        if round_no == 1:
            row.keyer_id = staff_id
        elif round_no == 2:
            row.second_id = staff_id
    result = list(rows.values())
    institutions = {i.id: i for i in Institution.select().where(
        Institution.id.in_(sorted({r.institution_id for r in result})))} if result else {}
    staff_ids = {i for r in result for i in (r.keyer_id, r.second_id) if i}
    names = ({s.id: s.name for s in Staff.select(Staff.id, Staff.name).where(Staff.id.in_(sorted(staff_ids)))}
             if staff_ids else {})
    for r in result:
        institution = institutions.get(r.institution_id)
        r.institution = institution.name if institution else ""
        r.keyer = names.get(r.keyer_id, "")
        r.second = names.get(r.second_id, "")
        r.institution_code = institution.code if institution else ""
    return result


def _batches(rows: list[PendingRow], staff_id: int | None, overdue_days: int) -> list[PendingBatch]:
    batches: dict[BatchKey, PendingBatch] = {}
    for r in rows:
        key = BatchKey(r.institution_code, r.exam, r.entered_on)
        batch = batches.get(key)
        if batch is None:
            batch = batches[key] = PendingBatch(key, r.institution, r.exam_name)
        batch.count += 1
        batch.awaiting_resolution += r.second_id is not None
        batch.oldest_days = max(batch.oldest_days, r.days)
        if r.keyer and r.keyer not in batch.keyers:
            batch.keyers.append(r.keyer)
        batch.own += staff_id is not None and staff_id in (r.keyer_id, r.recorder_id)
        batch.overdue = batch.oldest_days > overdue_days
    return sorted(batches.values(), key=lambda b: (b.key.entered_on, b.institution, b.key.exam))


def batches(actor: audit.Actor, overdue_days: int = OVERDUE_DAYS, today: date | None = None) -> list[PendingBatch]:
    """Pending forms grouped into batches (institution, exam, day of entry), oldest first.

    Counts and staff names only — no person, no value — so the list is not an audited read."""
    return _batches(_pending_rows(today or today_jst()), actor.staff_id, overdue_days)


def overview(actor: audit.Actor, overdue_days: int = OVERDUE_DAYS, today: date | None = None,
             limit: int = 500) -> Overview:
    """Oversight: pending screenings by batch, institution and age, so that nothing waits unnoticed.

    A supervisor sees every pending screening; anyone else only those they keyed or recorded."""
    rows = _pending_rows(today or today_jst())
    own_only = SUPERVISOR not in actor.roles
    if own_only:
        rows = [r for r in rows if actor.staff_id is not None
                and actor.staff_id in (r.keyer_id, r.recorder_id)]
    groups: dict[int, Group] = {}
    for r in rows:
        group = groups.setdefault(r.institution_id, Group(r.institution, 0, 0, False))
        group.count += 1
        group.oldest_days = max(group.oldest_days, r.days)
        group.overdue = group.oldest_days > overdue_days
    return Overview(rows[:limit], _batches(rows, actor.staff_id, overdue_days),
                    sorted(groups.values(), key=lambda g: (-g.oldest_days, g.institution)),
                    len(rows), sum(1 for r in rows if r.days > overdue_days), overdue_days, own_only)
