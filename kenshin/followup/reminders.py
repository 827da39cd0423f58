"""Print runs: 受診勧奨 letters to people still 未把握 after N days (N a setting), and 精検結果連絡票
to the 精検 institution of people whose 精密検査 is recorded. A run stores which screenings it
covered (shown on each line of the worklist) and is audited with its counts in the same
transaction; printing a run again is audited as a print.
"""
from __future__ import annotations

from datetime import date

from models import Reminder, ReminderRun, Screening, db

from kenshin import audit
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.errors import NotFound, Refused
from kenshin.followup import link
from kenshin.followup.worklist import (ATTENDED, LETTER, REFERRED, REMINDER_LABELS, REQUEST, UNKNOWN,
                                       Criteria, Line, all_lines)
from kenshin.statistics import settings

MAX_RUN = 2000  # one run is one printing session; more is split by exam or institution


def candidates(kind: str, fiscal_year: int, exam: str = "", today: date | None = None,
               again: bool = False) -> tuple[Criteria, list[Line]]:
    """Who a run of `kind` would cover: letters → 未把握 after N days; requests → 精検受診.
    Screenings a document of this kind was already printed for are left out unless `again`."""
    if kind == LETTER:
        criteria = Criteria(fiscal_year, exam, UNKNOWN, settings.reminder_after_days())
    elif kind == REQUEST:
        criteria = Criteria(fiscal_year, exam, ATTENDED)
    else:
        raise NotFound("reminder kind")
    lines = all_lines(criteria, REFERRED, today)
    if not again:
        lines = [l for l in lines if (l.letter_at if kind == LETTER else l.request_at) is None]
    return criteria, lines


def create_run(kind: str, fiscal_year: int, exam: str, actor: audit.Actor,
               today: date | None = None, again: bool = False) -> ReminderRun:
    """Record a print run of everyone the criteria give now; audited with the count."""
    criteria, lines = candidates(kind, fiscal_year, exam, today or today_jst(), again)
    if not lines:
        raise Refused("対象者がいません")
    if len(lines) > MAX_RUN:
        raise Refused(f"一度に印刷できるのは{MAX_RUN}件までです。検診の種類で分けてください")
    at = now_utc()
    with db.atomic():
        run = ReminderRun.create(kind=kind, fiscal_year=fiscal_year, exam=exam,
                                 after_days=criteria.min_days, count=len(lines), staff=actor.staff_id,
                                 at=at)
        Reminder.insert_many([(run.id, line.screening_id, kind, at) for line in lines],
                             fields=[Reminder.run, Reminder.screening, Reminder.kind, Reminder.at]).execute()
        audit.record("followup.reminder_run", actor, object_type="reminder_run", object_id=run.id,
                     details=dict(criteria.details(), kind=kind, again=again, count=len(lines),
                                  people=len({line.resident_id for line in lines})))
    return run


def run_lines(run_id: int, actor: audit.Actor, today: date | None = None) -> tuple[ReminderRun, list[dict]]:
    """A run's documents for printing (audited as a print with the count)."""
    run = ReminderRun.get_or_none(ReminderRun.id == run_id)
    if run is None:
        raise NotFound("reminder run")
    today = today or today_jst()
    screenings = (Screening.select().join(Reminder, on=(Reminder.screening == Screening.id))
                  .where(Reminder.run == run.id).order_by(Screening.exam_date, Screening.id))
    documents = []
    for screening in screenings:
        person = screening.resident
        followups = link.followups_of(screening) if run.kind == REQUEST else []
        documents.append({
            "screening": screening, "person": person, "institution": screening.institution,
            "followup": followups[0] if followups else None,
            "days_since": (today - screening.exam_date).days,
        })
    with db.atomic():
        audit.record("print", actor, object_type="reminder_run", object_id=run.id,
                     details={"document": f"followup_{run.kind}", "count": len(documents)})
    return run, documents


def recent_runs(limit: int = 20) -> list[ReminderRun]:
    return list(ReminderRun.select().order_by(ReminderRun.at.desc()).limit(limit))


KIND_LABELS = REMINDER_LABELS
