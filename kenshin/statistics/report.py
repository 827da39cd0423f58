"""The yearly screening report (地域保健・健康増進事業報告 basis): FORMATS.md "Screening report".

One set-based query per 年度 on either database: the counted screenings (confirmed, not void —
`screenings.counted()`'s rule) of the 年度; each person once per exam, decided by their first
screening of that exam in the 年度 (setting, first_time, outcome); the age on the rules' basis in
5-year bands; first_time from the interval group's counted screenings in 年度 Y−3 … Y−1; and
follow-up attendance by the derived link (kenshin.followup.link). 精密検査 records are never rows.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import database
from models import db

from kenshin.core import listing
from kenshin.followup.link import FOLLOWUP_EXAMS, followup_match_sql, within_year_sql
from kenshin.screening.screenings import CONFIRMED
from kenshin.statistics.basis import FISCAL_YEAR_START, exam_rules, outcome_columns, report_exams

COLUMNS = ("exam", "sex", "age_band", "setting", "first_time", "screened", "referred", "pending",
           "followup_attended", "followup_unknown")
FIRST_TIME_YEARS = 3  # 初回: none of the group in 年度 Y−3 … Y−1
BANDS = ["0-19"] + [f"{low}-{low + 4}" for low in range(20, 85, 5)] + ["85+"]


def band_order(band: str) -> int:
    return BANDS.index(band)


@dataclass(frozen=True)
class Row:
    exam: str
    sex: int
    age_band: str
    setting: int
    first_time: int
    screened: int
    referred: int
    pending: int
    followup_attended: int

    @property
    def followup_unknown(self) -> int:
        return self.referred - self.followup_attended

    def values(self) -> list:
        return [self.exam, self.sex, self.age_band, self.setting, self.first_time, self.screened,
                self.referred, self.pending, self.followup_attended, self.followup_unknown]


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)  # codes from the catalogue, never user input


def _same_group_sql(exam: str, other: str, groups: dict[str, str]) -> str:
    """SQL: the exams in columns `exam` and `other` share an interval group (one OR per group, so
    that each side is a plain IN list an index can use)."""
    members: dict[str, list[str]] = {}
    for code, group in groups.items():
        members.setdefault(group, []).append(code)
    parts = [f"({exam} IN ({_quoted(codes)}) AND {other} IN ({_quoted(codes)}))"
             for codes in members.values()]
    return "(" + " OR ".join(parts) + ")"


def _age_sql(postgres: bool, fiscal_year: int, exams_start: list[str], birth: str = "r.birth_date",
             exam: str = "x.exam") -> str:
    """SQL: the age on the rules' basis (年度末 by default; 年度当初 for the exams listed), of the
    birth-date column `birth` for the exam in column `exam`."""
    if postgres:
        year = f"CAST(EXTRACT(YEAR FROM {birth}) AS INTEGER)"
        md = f"to_char({birth}, 'MM-DD')"
    else:
        year = f"CAST(substr({birth}, 1, 4) AS INTEGER)"
        md = f"substr({birth}, 6, 5)"
    end = f"({fiscal_year} - {year} + CASE WHEN {md} < '04-01' THEN 1 ELSE 0 END)"
    if not exams_start:
        return end
    start = f"({fiscal_year} - {year} - CASE WHEN {md} > '04-01' THEN 1 ELSE 0 END)"
    return f"CASE WHEN {exam} IN ({_quoted(exams_start)}) THEN {start} ELSE {end} END"


def age_sql(fiscal_year: int, exams_start: list[str], birth: str, exam: str,
            postgres: bool | None = None) -> str:
    """SQL: the age in 年度 `fiscal_year` of a birth-date column, on the basis of the exam in column
    `exam` (年度当初 for `exams_start`, else 年度末) — the report's age; `band_of` gives its band."""
    postgres = database.is_postgres() if postgres is None else postgres
    return _age_sql(postgres, int(fiscal_year), exams_start, birth, exam)


def band_ages(band: str) -> tuple[int | None, int | None]:
    """The ages (lowest, highest; None: open) of one of the report's bands, the inverse of band_of."""
    if band == BANDS[0]:
        return None, 19
    if band == BANDS[-1]:
        return 85, None
    low, high = band.split("-")
    return int(low), int(high)


def band_of(age: int) -> str:
    """The report's 5-year band of an age (the SQL groups by age; the bands are made here)."""
    if age < 20:
        return BANDS[0]
    if age >= 85:
        return BANDS[-1]
    low = age - age % 5
    return f"{low}-{low + 4}"


def people_sql(fiscal_year: int, postgres: bool | None = None, whole: bool = False) -> str:
    """The WITH clauses up to `people`: one row per person and exam of the 年度 (their first
    screening), with the report's columns but `age` for the band, and resident_id (codes and years
    inlined, never input). `whole`: every row will be read (the report), not a few (a drill-down)."""
    postgres = database.is_postgres() if postgres is None else postgres
    fiscal_year = int(fiscal_year)
    rules = exam_rules(fiscal_year)
    exams = report_exams()
    groups = {exam: rule.group for exam, rule in rules.items()}
    starts = [exam for exam, rule in rules.items() if rule.basis == FISCAL_YEAR_START]
    referred, pending = outcome_columns("s")
    age = _age_sql(postgres, fiscal_year, starts)
    attended = (f"CASE WHEN x.referred = 1 AND EXISTS ("
                f" SELECT 1 FROM screening f WHERE f.resident_id = x.resident_id AND f.status = '{CONFIRMED}'"
                f" AND f.exam IN ({_quoted(FOLLOWUP_EXAMS)}) AND {followup_match_sql('x.exam', 'f')}"
                f" AND {within_year_sql(postgres, 'f.exam_date', 'x.exam_date')}) THEN 1 ELSE 0 END")
    earlier_years = f"{fiscal_year - FIRST_TIME_YEARS} AND {fiscal_year - 1}"
    earlier = join = materialized = ""
    if postgres and whole:
        # One pass over Y−3 … Y−1 in person order: each person's interval groups as bits, merged
        # with the 年度's people (also in person order) instead of a probe per person and exam.
        bits = {group: 1 << i for i, group in enumerate(sorted(set(groups.values())))}
        whens = " ".join(f"WHEN '{exam}' THEN {bits[group]}" for exam, group in groups.items())
        bit = "(CASE {0} " + whens + " END)"
        earlier = f"""earlier AS (
  SELECT p.resident_id, bit_or({bit.format('p.exam')}) AS groups FROM screening p
  WHERE p.status = '{CONFIRMED}' AND p.fiscal_year BETWEEN {earlier_years} AND p.exam IN ({_quoted(exams)})
  GROUP BY p.resident_id
),
"""
        first_time = f"CASE WHEN COALESCE(e.groups, 0) & {bit.format('x.exam')} = 0 THEN 1 ELSE 0 END"
        join = "LEFT JOIN earlier e ON e.resident_id = x.resident_id"
    else:
        # A probe per person and exam (SQLite: in person order, on the covering by-resident index;
        # a drill-down probes only the people of its cell).
        by_resident = "" if postgres else " INDEXED BY screening_confirmed_by_resident"
        first_time = (f"CASE WHEN EXISTS (SELECT 1 FROM screening p{by_resident}"
                      f" WHERE p.resident_id = x.resident_id AND p.status = '{CONFIRMED}'"
                      f" AND p.fiscal_year BETWEEN {earlier_years}"
                      f" AND {_same_group_sql('x.exam', 'p.exam', groups)}) THEN 0 ELSE 1 END")
        if not postgres and whole:
            # else SQLite flattens `people` into the GROUP BY and probes twice per row
            materialized = " MATERIALIZED"
    year_index = "" if postgres else " INDEXED BY screening_confirmed_by_year"
    return f"""
WITH firsts AS (
  SELECT resident_id, exam, exam_date, setting, referred, pending FROM (
    SELECT s.resident_id, s.exam, s.exam_date, s.setting, {referred} AS referred, {pending} AS pending,
           ROW_NUMBER() OVER (PARTITION BY s.resident_id, s.exam ORDER BY s.exam_date, s.id) AS rn
    FROM screening s{year_index}
    WHERE s.status = '{CONFIRMED}' AND s.fiscal_year = {fiscal_year} AND s.exam IN ({_quoted(exams)})
  ) numbered WHERE rn = 1
),
{earlier}people AS{materialized} (
  SELECT x.resident_id, x.exam_date, x.exam, r.sex, {age} AS age, x.setting, {first_time} AS first_time,
         x.referred, x.pending, {attended} AS attended
  FROM firsts x
  JOIN resident r ON r.id = x.resident_id
  {join}
)
"""


def report_sql(fiscal_year: int, postgres: bool | None = None) -> str:
    """The report's counts for a 年度 as one SELECT, by age (`rows` puts the ages in bands)."""
    return people_sql(fiscal_year, postgres, whole=True) + """
SELECT exam, sex, age, setting, first_time, COUNT(*), SUM(referred), SUM(pending), SUM(attended)
FROM people
GROUP BY exam, sex, age, setting, first_time
"""


# PostgreSQL, for the report's one statement: the window's "first screening" (rn = 1) is estimated
# at 0.5% of the 年度's rows and the GROUP BY's keys as millions of groups, so the planner would hash
# the earlier 年度 and sort every person before grouping. The data come in person order from the
# indexes: merge and nested-loop joins, a hashed GROUP BY (a few thousand groups), memory for it;
# JIT compiling costs more than it saves on this plan.
PG_REPORT_SETTINGS = (("work_mem", "256MB"), ("enable_hashjoin", "off"), ("enable_sort", "off"),
                      ("jit", "off"))


@contextmanager
def _planned_for_the_report():
    """PostgreSQL: PG_REPORT_SETTINGS for the statements inside, set back after (transaction-local,
    so even a caller's open transaction keeps its own settings)."""
    if not database.is_postgres():
        yield
        return
    with db.atomic():
        names = [name for name, _ in PG_REPORT_SETTINGS]
        before = db.execute_sql("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names).fetchone()
        for name, value in PG_REPORT_SETTINGS:
            db.execute_sql("SELECT set_config(%s, %s, true)", (name, value))
        try:
            yield
        finally:
            for name, value in zip(names, before):
                db.execute_sql("SELECT set_config(%s, %s, true)", (name, value))


def rows(fiscal_year: int) -> list[Row]:
    """The report's rows, sorted by exam (table order), sex, age_band, setting, first_time."""
    order = {exam: i for i, exam in enumerate(report_exams())}
    cells: dict[tuple, list[int]] = {}
    with _planned_for_the_report():
        found = db.execute_sql(report_sql(fiscal_year)).fetchall()
    for exam, sex, age, setting, first, n, ref, pend, att in found:
        key = (exam, int(sex), band_of(int(age)), int(setting), int(first))
        cell = cells.setdefault(key, [0, 0, 0, 0])
        cell[0] += int(n)
        cell[1] += int(ref or 0)
        cell[2] += int(pend or 0)
        cell[3] += int(att or 0)
    out = [Row(*key, *counts) for key, counts in cells.items()]
    out.sort(key=lambda r: (order[r.exam], r.sex, band_order(r.age_band), r.setting, r.first_time))
    return out


def csv_text(report_rows: list[Row]) -> str:
    """The report file: the header of FORMATS.md, one line per row (plain UTF-8, LF)."""
    return listing.csv_text(COLUMNS, (r.values() for r in report_rows), line_end="\n")


def write(fiscal_year: int, path: str, actor) -> int:
    """Write the report for a 年度 to `path`, audited with the row count in the same transaction
    (a file that cannot be written leaves no event). Returns the number of rows."""
    from kenshin import audit

    report_rows = rows(fiscal_year)
    text = csv_text(report_rows)
    with db.atomic():
        audit.record("report.screenings", actor, object_type="report", object_id=str(fiscal_year),
                     details={"fiscal_year": fiscal_year, "rows": len(report_rows),
                              "screened": sum(r.screened for r in report_rows)})
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return len(report_rows)
