"""The derived link between a referred screening and the 精密検査 that follows it up.

A screening of exam E is followed up by a counted `followup` record of E's cancer (`target`;
for periodontal, a counted `periodontal_followup`) of the same person, dated on or after the
screening and no later than the same calendar date a year later, inclusive (FORMATS.md
"Screening report"). A screening dated 2月29日 has no such date the next year; like 民法143条
(a period ending in a month without the day ends on that month's last day) it runs to 2月28日.

The link is never stored: the worklist, the record pages and the report all derive it from
this rule — in Python for one record (`followups_of`, `followed_screenings`) and in SQL for sets
(`within_year_sql`, `followup_match_sql`).
"""
from __future__ import annotations

from datetime import date

from models import Screening

from kenshin.screening import catalogue
from kenshin.screening.screenings import CONFIRMED

FOLLOWUP = "followup"
PERIODONTAL_FOLLOWUP = "periodontal_followup"
FOLLOWUP_EXAMS = (FOLLOWUP, PERIODONTAL_FOLLOWUP)

# exam -> (the 精密検査 exam, its target or "" for any)
FOLLOWED_BY: dict[str, tuple[str, str]] = {
    exam: (FOLLOWUP, target)
    for target, exams in catalogue.FOLLOWUP_TARGET_EXAMS.items() for exam in exams
}
FOLLOWED_BY["periodontal"] = (PERIODONTAL_FOLLOWUP, "")


def one_year_after(day: date) -> date:
    """The same calendar date a year later; 2月29日 → 2月28日."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 2月29日
        return date(day.year + 1, 2, 28)


def has_followup(exam: str) -> bool:
    return exam in FOLLOWED_BY


def followups_of(screening: Screening) -> list[Screening]:
    """The counted 精密検査 records that follow up this screening (oldest first)."""
    if screening.exam not in FOLLOWED_BY:
        return []
    followup_exam, target = FOLLOWED_BY[screening.exam]
    query = (Screening.select()
             .where((Screening.status == CONFIRMED)
                    & (Screening.resident == screening.resident_id)
                    & (Screening.exam == followup_exam)
                    & (Screening.exam_date >= screening.exam_date)
                    & (Screening.exam_date <= one_year_after(screening.exam_date))))
    if target:
        query = query.where(Screening.target == target)
    return list(query.order_by(Screening.exam_date, Screening.id))


def followed_screenings(record: Screening) -> list[Screening]:
    """For a 精密検査 record: the counted referred screenings it follows up (newest first)."""
    if record.exam == FOLLOWUP:
        exams = catalogue.FOLLOWUP_TARGET_EXAMS.get(record.target, ())
    elif record.exam == PERIODONTAL_FOLLOWUP:
        exams = ("periodontal",)
    else:
        return []
    if not exams:
        return []
    earliest = date(record.exam_date.year - 1, record.exam_date.month, 1)
    rows = (Screening.select()
            .where((Screening.status == CONFIRMED) & (Screening.resident == record.resident_id)
                   & Screening.exam.in_(exams) & (Screening.referral == True)  # noqa: E712
                   & (Screening.exam_date <= record.exam_date) & (Screening.exam_date >= earliest))
            .order_by(Screening.exam_date.desc(), Screening.id.desc()))
    return [s for s in rows if one_year_after(s.exam_date) >= record.exam_date]


# --- SQL for sets ------------------------------------------------------------------------------

def within_year_sql(postgres: bool, later: str, earlier: str) -> str:
    """SQL: `later` (a date column) lies on or after `earlier` and no later than a year after it."""
    if postgres:
        return f"({later} >= {earlier} AND {later} <= CAST({earlier} + INTERVAL '1 year' AS DATE))"
    # SQLite's date(+1 year) turns 2月29日 into 3月1日; step back a day for that one date.
    return (f"({later} >= {earlier} AND {later} <= CASE WHEN substr({earlier}, 6, 5) = '02-29' "
            f"THEN date({earlier}, '+1 year', '-1 day') ELSE date({earlier}, '+1 year') END)")


def followup_match_sql(exam_column: str, followup_alias: str) -> str:
    """SQL: the 精密検査 row `followup_alias` is of the kind that follows up a screening whose
    exam is in `exam_column` (target for the cancers, periodontal_followup for periodontal)."""
    parts = []
    by_kind: dict[tuple[str, str], list[str]] = {}
    for exam, kind in FOLLOWED_BY.items():
        by_kind.setdefault(kind, []).append(exam)
    for (followup_exam, target), exams in by_kind.items():
        exam_list = ", ".join(f"'{e}'" for e in exams)
        cond = f"{followup_alias}.exam = '{followup_exam}'"
        if target:
            cond += f" AND {followup_alias}.target = '{target}'"
        parts.append(f"({exam_column} IN ({exam_list}) AND {cond})")
    return "(" + " OR ".join(parts) + ")"
