"""The statistics screen's per-年度 snapshot of the screening report.

The report of a 年度 at a city's size (1,000,000 residents, 5,000,000 screenings) is a query of
tens of seconds on a busy machine (docs/STATISTICS.md, benchmark): too long to run on every visit of
the screen, its print and its CSV. The screen therefore reads the 年度's last computed rows, shows
when they were computed (集計日時) and by whom, and a supervisor recomputes them (再集計) when they
want today's numbers; the first visit of a 年度 computes them. Every computation is audited with
the row count and how long it took. `report screenings` (the CLI) always computes afresh.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from models import StatisticsSnapshot, db

from kenshin import audit
from kenshin.core.dates import now_utc
from kenshin.statistics import report

ACTION_COMPUTE = "statistics.compute"


@dataclass
class Snapshot:
    fiscal_year: int
    rows: list[report.Row]
    computed_at: datetime
    computed_label: str
    milliseconds: int


def _of(row: StatisticsSnapshot) -> Snapshot:
    rows = [report.Row(*values[:9]) for values in row.rows]
    return Snapshot(row.fiscal_year, rows, row.computed_at, row.computed_label, row.milliseconds)


def get(fiscal_year: int) -> Snapshot | None:
    row = StatisticsSnapshot.get_or_none(StatisticsSnapshot.fiscal_year == fiscal_year)
    return _of(row) if row else None


def compute(fiscal_year: int, actor: audit.Actor) -> Snapshot:
    """Compute the 年度's report now and keep it (replacing the last), audited."""
    started = time.perf_counter()
    rows = report.rows(fiscal_year)
    milliseconds = int((time.perf_counter() - started) * 1000)
    now = now_utc()
    values = [[r.exam, r.sex, r.age_band, r.setting, r.first_time, r.screened, r.referred, r.pending,
               r.followup_attended] for r in rows]
    with db.atomic():
        StatisticsSnapshot.delete().where(StatisticsSnapshot.fiscal_year == fiscal_year).execute()
        StatisticsSnapshot.create(fiscal_year=fiscal_year, rows=values, computed_at=now,
                                  computed_label=actor.label, milliseconds=milliseconds)
        audit.record(ACTION_COMPUTE, actor, object_type="report", object_id=str(fiscal_year),
                     details={"fiscal_year": fiscal_year, "rows": len(rows),
                              "screened": sum(r.screened for r in rows), "milliseconds": milliseconds})
    return get(fiscal_year)


def current(fiscal_year: int, actor: audit.Actor) -> Snapshot:
    """The 年度's snapshot, computed first when there is none yet."""
    return get(fiscal_year) or compute(fiscal_year, actor)
