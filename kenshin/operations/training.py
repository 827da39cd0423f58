"""Training records: the yearly security and privacy training (情報セキュリティ・個人情報保護研修).

A training is valid for one year: attended on 2026-05-10, it lapses after 2027-05-09 (the same
date a year later is the first day without it). From a month before that day the person's menu
warns them. Someone with no record at all counts as lapsed. Whether a lapsed person may still
sign in is an administrator's setting (default: may, with the warning); administrators may always
sign in, so that someone can still record trainings.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models import Setting, Staff, TrainingRecord, db
from peewee import fn

from kenshin import audit
from kenshin.core.dates import DateError, now_utc, parse_date, today_jst
from kenshin.core.errors import Invalid, NotFound

LAPSED_MAY_SIGN_IN = "training.lapsed_may_sign_in"
LAPSED_MESSAGE = ("年次の情報セキュリティ・個人情報保護研修の受講期限が切れているため、ログインできません。"
                  "受講後、システム利用管理者に受講日の記録を依頼してください。")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 2月29日
        return day.replace(year=day.year + years, day=28)


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass
class Standing:
    staff_id: int
    last: date | None
    lapses_on: date | None  # the first day without a valid training
    state: str  # ok | due | lapsed (no record counts as lapsed)

    @property
    def warn_from(self) -> date | None:
        return _months_before(self.lapses_on, 1) if self.lapses_on else None


def standing(staff_id: int, last: date | None, today: date | None = None) -> Standing:
    today = today or today_jst()
    if last is None:
        return Standing(staff_id, None, None, "lapsed")
    lapses_on = _add_years(last, 1)
    if today >= lapses_on:
        state = "lapsed"
    elif today >= _months_before(lapses_on, 1):
        state = "due"
    else:
        state = "ok"
    return Standing(staff_id, last, lapses_on, state)


def of(staff_id: int, today: date | None = None) -> Standing:
    last = (TrainingRecord.select(fn.MAX(TrainingRecord.completed_on))
            .where(TrainingRecord.staff == staff_id).scalar())
    if isinstance(last, str):
        last = date.fromisoformat(last)
    return standing(staff_id, last, today)


def lapsed_may_sign_in() -> bool:
    row = Setting.get_or_none(Setting.key == LAPSED_MAY_SIGN_IN)
    return True if row is None else bool(row.value)


def may_sign_in(staff: Staff, today: date | None = None) -> bool:
    if staff.has_any_role("admin") or lapsed_may_sign_in():
        return True
    return of(staff.id, today).state != "lapsed"


def set_lapsed_may_sign_in(allowed: bool, actor: audit.Actor) -> None:
    with db.atomic():
        before = lapsed_may_sign_in()
        row = Setting.get_or_none(Setting.key == LAPSED_MAY_SIGN_IN)
        if row is None:
            Setting.create(key=LAPSED_MAY_SIGN_IN, value=bool(allowed), changed_by=actor.staff_id,
                           changed_at=now_utc())
        else:
            (Setting.update(value=bool(allowed), changed_by=actor.staff_id, changed_at=now_utc())
             .where(Setting.id == row.id).execute())
        audit.record("training.setting", actor, object_type="setting",
                     object_id=LAPSED_MAY_SIGN_IN, details={"before": before, "after": bool(allowed)})


def record(staff_id, completed_on: str, actor: audit.Actor, today: date | None = None) -> TrainingRecord:
    """Record an attended training; the date may not be in the future. Recording the same date
    twice changes nothing (and says so by returning the existing record)."""
    today = today or today_jst()
    try:
        staff = Staff.get_by_id(int(staff_id))
    except (Staff.DoesNotExist, TypeError, ValueError):
        raise NotFound("staff")
    try:
        day = parse_date((completed_on or "").strip())
    except DateError as exc:
        raise Invalid({"completed_on": [f"受講日: {exc}"]})
    if day > today:
        raise Invalid({"completed_on": ["受講日に未来の日付は指定できません"]})
    with db.atomic():
        existing = TrainingRecord.get_or_none((TrainingRecord.staff == staff.id)
                                              & (TrainingRecord.completed_on == day))
        if existing is not None:
            return existing
        row = TrainingRecord.create(staff=staff.id, completed_on=day, recorded_by=actor.staff_id,
                                    recorded_at=now_utc())
        audit.record("training.record", actor, object_type="staff", object_id=staff.id,
                     details={"completed_on": day})
    return row


@dataclass
class Line:
    staff: Staff
    standing: Standing


def listing(today: date | None = None) -> list[Line]:
    """Every active staff member with their standing; lapsed first, then due, by lapse date."""
    today = today or today_jst()
    last = dict(TrainingRecord.select(TrainingRecord.staff, fn.MAX(TrainingRecord.completed_on))
                .group_by(TrainingRecord.staff).tuples())
    lines = []
    for person in Staff.select().where(Staff.status == "active").order_by(Staff.login_id):
        day = last.get(person.id)
        if isinstance(day, str):
            day = date.fromisoformat(day)
        lines.append(Line(person, standing(person.id, day, today)))
    rank = {"lapsed": 0, "due": 1, "ok": 2}
    lines.sort(key=lambda l: (rank[l.standing.state], l.standing.lapses_on or date.min,
                              l.staff.login_id))
    return lines
