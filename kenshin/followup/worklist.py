"""The follow-up worklist (精検管理) and the 判定保留 list, per exam and 年度.

Every counted referred (要精検) screening of the 年度 is a line: the person, the institution, the
date, the days since, and the status — 精検受診 when a 精密検査 follows it by the derived link
(kenshin.followup.link), else 未把握 — with the newest reminder printed for it. Lists are read
in one query with paging; opening a person from a list is audited like any view (the list's
own reading is audited with its criteria and count, never with names).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from peewee import SQL, fn

import database
from models import Institution, Reminder, Resident, Screening, db

from kenshin import audit
from kenshin.core.dates import fiscal_year as fiscal_year_of, today_jst
from kenshin.core.listing import Page, paginate
from kenshin.followup.link import FOLLOWUP_EXAMS, followup_match_sql, within_year_sql
from kenshin.screening import catalogue
from kenshin.screening.screenings import CONFIRMED
from kenshin.statistics.basis import pending_condition, report_exams

ATTENDED, UNKNOWN = "attended", "unknown"
STATUS_LABELS = {ATTENDED: "精検受診", UNKNOWN: "未把握"}
LETTER, REQUEST = "letter", "request"
REMINDER_LABELS = {LETTER: "受診勧奨", REQUEST: "精検結果連絡票"}
REFERRED, PENDING = "referred", "pending"

S = Screening.alias("s")


@dataclass(frozen=True)
class Criteria:
    """What a list shows: 年度, exam ("" every exam), status, and at least `min_days` since."""

    fiscal_year: int
    exam: str = ""
    status: str = ""
    min_days: int | None = None
    institution: str = ""

    def details(self) -> dict:
        return {k: v for k, v in (("fiscal_year", self.fiscal_year), ("exam", self.exam),
                                  ("status", self.status), ("min_days", self.min_days),
                                  ("institution", self.institution)) if v not in ("", None)}


def exam_choices() -> list[tuple[str, str]]:
    return [(code, catalogue.get_exam(code).name) for code in report_exams()]


def parse_criteria(args, today: date | None = None) -> tuple[Criteria, dict[str, list[str]]]:
    """Criteria from query values; unreadable values are reported, never guessed silently."""
    today = today or today_jst()
    errors: dict[str, list[str]] = {}
    text = (args.get("fiscal_year") or "").strip()
    year = fiscal_year_of(today)
    if text:
        if text.isdigit() and 1990 <= int(text) <= year + 1:
            year = int(text)
        else:
            errors["fiscal_year"] = ["年度を西暦4桁で入力してください"]
    exam = (args.get("exam") or "").strip()
    if exam and exam not in dict(exam_choices()):
        errors["exam"] = ["検診の種類を選んでください"]
        exam = ""
    status = (args.get("status") or "").strip()
    if status and status not in STATUS_LABELS:
        errors["status"] = ["状況を選んでください"]
        status = ""
    min_days = None
    days = (args.get("min_days") or "").strip()
    if days:
        if days.isdigit() and int(days) <= 3650:
            min_days = int(days)
        else:
            errors["min_days"] = ["日数を数字で入力してください"]
    institution = (args.get("institution") or "").strip()
    if institution and not (institution.isdigit() and len(institution) <= 10):
        errors["institution"] = ["医療機関コードは数字です"]
        institution = ""
    return Criteria(year, exam, status, min_days, institution), errors


def attended_sql() -> SQL:
    """SQL: a 精密検査 follows the screening `s` (the derived link)."""
    return SQL(
        "EXISTS (SELECT 1 FROM screening f WHERE f.resident_id = s.resident_id "
        f"AND f.status = '{CONFIRMED}' AND f.exam IN ('{FOLLOWUP_EXAMS[0]}', '{FOLLOWUP_EXAMS[1]}') "
        f"AND {followup_match_sql('s.exam', 'f')} "
        f"AND {within_year_sql(database.is_postgres(), 'f.exam_date', 's.exam_date')})")


def _base(criteria: Criteria, kind: str, today: date):
    exams = [criteria.exam] if criteria.exam else list(report_exams())
    query = (S.select(S, Resident, Institution)
             .join(Resident, on=(S.resident == Resident.id))
             .switch(S).join(Institution, on=(S.institution == Institution.id))
             .where((S.status == CONFIRMED) & (S.fiscal_year == criteria.fiscal_year)
                    & S.exam.in_(exams)))
    if kind == REFERRED:
        query = query.where(S.referral == True)  # noqa: E712
        if criteria.status == ATTENDED:
            query = query.where(attended_sql())
        elif criteria.status == UNKNOWN:
            query = query.where(~attended_sql())
    else:
        query = query.where(pending_condition(S))
    if criteria.min_days is not None:
        query = query.where(S.exam_date <= today - timedelta(days=criteria.min_days))
    if criteria.institution:
        query = query.where(Institution.code == criteria.institution)
    return query


def referred_query(criteria: Criteria, today: date | None = None):
    """The referred screenings of the criteria, with `attended` and the newest reminders."""
    today = today or today_jst()
    letter = (Reminder.select(fn.MAX(Reminder.at)).where((Reminder.screening == S.id)
                                                        & (Reminder.kind == LETTER)))
    request = (Reminder.select(fn.MAX(Reminder.at)).where((Reminder.screening == S.id)
                                                         & (Reminder.kind == REQUEST)))
    attended = SQL(f"CASE WHEN {attended_sql().sql} THEN 1 ELSE 0 END")
    return (_base(criteria, REFERRED, today)
            .select_extend(attended.alias("attended"), letter.alias("letter_at"),
                           request.alias("request_at"))
            .order_by(S.exam_date, S.id))


def pending_query(criteria: Criteria, today: date | None = None):
    return _base(criteria, PENDING, today or today_jst()).order_by(S.exam_date, S.id)


@dataclass
class Line:
    screening_id: int
    resident_id: int
    atena_no: str
    name: str
    name_kana: str
    exam: str
    exam_date: date
    institution: str
    institution_code: str
    days_since: int
    status: str = ""
    letter_at: object = None
    request_at: object = None
    postal_code: str = ""
    address: str = ""
    birth_date: date | None = None
    sex: int = 0

    @property
    def exam_name(self) -> str:
        return catalogue.get_exam(self.exam).name

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, "")


def _instant(value):
    """A MAX(at) read through a subquery: SQLite gives the stored text, PostgreSQL a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _line(row, today: date) -> Line:
    person, institution = row.resident, row.institution
    attended = getattr(row, "attended", None)
    return Line(row.id, person.id, person.atena_no, person.name, person.name_kana, row.exam,
                row.exam_date, institution.name, institution.code, (today - row.exam_date).days,
                "" if attended is None else (ATTENDED if int(attended) else UNKNOWN),
                _instant(getattr(row, "letter_at", None)), _instant(getattr(row, "request_at", None)),
                person.postal_code or "", person.address, person.birth_date, person.sex)


def lines_page(criteria: Criteria, kind: str, number: int, actor: audit.Actor,
               today: date | None = None) -> Page:
    """One page of a list; the reading is audited with the criteria and the total."""
    today = today or today_jst()
    query = referred_query(criteria, today) if kind == REFERRED else pending_query(criteria, today)
    page = paginate(query, number)
    page.rows = [_line(r, today) for r in page.rows]
    with db.atomic():
        audit.record("followup.list", actor, object_type="followup_list",
                     details=dict(criteria.details(), list=kind, total=page.total, page=page.number))
    return page


def record_print(criteria: Criteria, kind: str, count: int, actor: audit.Actor) -> None:
    with db.atomic():
        audit.record("print", actor, object_type="followup_list",
                     details=dict(criteria.details(), document=f"followup_{kind}_list", count=count))


def all_lines(criteria: Criteria, kind: str, today: date | None = None) -> list[Line]:
    today = today or today_jst()
    query = referred_query(criteria, today) if kind == REFERRED else pending_query(criteria, today)
    return [_line(r, today) for r in query]


def open_person(screening_id: int, actor: audit.Actor) -> Screening:
    """Opening a person from a list: the screening's view is audited like any other."""
    from kenshin.screening import screenings

    screening, _ = screenings.view(screening_id, actor)
    return screening
