"""The yearly screening report (地域保健・健康増進事業報告 basis): FORMATS.md "Screening report".

One set-based query per 年度 on either database: the counted screenings (confirmed, not void —
`screenings.counted()`'s rule) of the 年度; each person once per exam, decided by their first
screening of that exam in the 年度 (setting, first_time, outcome); the age on the rules' basis in
5-year bands; first_time from the interval group's counted screenings in 年度 Y−3 … Y−1; and
follow-up attendance by the derived link (kenshin.followup.link). 精密検査 records are never rows.
"""
from __future__ import annotations

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


def _band_sql(age: str) -> str:
    whens = " ".join(f"WHEN {age} < {low + 5} THEN '{low}-{low + 4}'" for low in range(20, 85, 5))
    return f"CASE WHEN {age} < 20 THEN '0-19' {whens} ELSE '85+' END"


def age_sql(fiscal_year: int, exams_start: list[str], birth: str, exam: str,
            postgres: bool | None = None) -> str:
    """SQL: the age in 年度 `fiscal_year` of a birth-date column, on the basis of the exam in column
    `exam` (年度当初 for `exams_start`, else 年度末) — the report's age; `band_of` gives its band."""
    postgres = database.is_postgres() if postgres is None else postgres
    return _age_sql(postgres, int(fiscal_year), exams_start, birth, exam)


def band_of(age: int) -> str:
    """The report's 5-year band of an age (what `_band_sql` computes in SQL)."""
    if age < 20:
        return BANDS[0]
    if age >= 85:
        return BANDS[-1]
    low = age - age % 5
    return f"{low}-{low + 4}"


def people_sql(fiscal_year: int, postgres: bool | None = None) -> str:
    """The WITH clauses up to `people`: one row per person and exam of the 年度 (their first
    screening), with the report's columns and resident_id (codes and years inlined, never input)."""
    postgres = database.is_postgres() if postgres is None else postgres
    fiscal_year = int(fiscal_year)
    rules = exam_rules(fiscal_year)
    exams = report_exams()
    groups = {exam: rule.group for exam, rule in rules.items()}
    starts = [exam for exam, rule in rules.items() if rule.basis == FISCAL_YEAR_START]
    referred, pending = outcome_columns("s")
    age = _age_sql(postgres, fiscal_year, starts)
    # SQLite keeps no planner statistics (unless someone ran ANALYZE) and would read every
    # confirmed screening of every 年度 through the (status, entered_at) index: name the 年度's
    year_index = "" if postgres else " INDEXED BY screening_exam_fiscal_year_referral"
    return f"""
WITH firsts AS (
  SELECT resident_id, exam, exam_date, setting, referred, pending FROM (
    SELECT s.resident_id, s.exam, s.exam_date, s.setting, {referred} AS referred, {pending} AS pending,
           ROW_NUMBER() OVER (PARTITION BY s.resident_id, s.exam ORDER BY s.exam_date, s.id) AS rn
    FROM screening s{year_index}
    WHERE s.status = '{CONFIRMED}' AND s.fiscal_year = {fiscal_year} AND s.exam IN ({_quoted(exams)})
  ) numbered WHERE rn = 1
),
people AS (
  SELECT x.resident_id, x.exam_date, x.exam, r.sex, {_band_sql(age)} AS age_band, x.setting,
         CASE WHEN EXISTS (
           SELECT 1 FROM screening p
           WHERE p.resident_id = x.resident_id AND p.status = '{CONFIRMED}'
             AND p.fiscal_year BETWEEN {fiscal_year - FIRST_TIME_YEARS} AND {fiscal_year - 1}
             AND {_same_group_sql('x.exam', 'p.exam', groups)}
         ) THEN 0 ELSE 1 END AS first_time,
         x.referred, x.pending,
         CASE WHEN x.referred = 1 AND EXISTS (
           SELECT 1 FROM screening f
           WHERE f.resident_id = x.resident_id AND f.status = '{CONFIRMED}'
             AND f.exam IN ({_quoted(FOLLOWUP_EXAMS)}) AND {followup_match_sql('x.exam', 'f')}
             AND {within_year_sql(postgres, 'f.exam_date', 'x.exam_date')}
         ) THEN 1 ELSE 0 END AS attended
  FROM firsts x
  JOIN resident r ON r.id = x.resident_id
)
"""


def report_sql(fiscal_year: int, postgres: bool | None = None) -> str:
    """The whole report for a 年度 as one SELECT."""
    return people_sql(fiscal_year, postgres) + """
SELECT exam, sex, age_band, setting, first_time, COUNT(*), SUM(referred), SUM(pending), SUM(attended)
FROM people
GROUP BY exam, sex, age_band, setting, first_time
"""


def rows(fiscal_year: int) -> list[Row]:
    """The report's rows, sorted by exam (table order), sex, age_band, setting, first_time."""
    order = {exam: i for i, exam in enumerate(report_exams())}
    out = [Row(exam, int(sex), band, int(setting), int(first), int(n), int(ref or 0), int(pend or 0),
               int(att or 0))
           for exam, sex, band, setting, first, n, ref, pend, att in db.execute_sql(report_sql(fiscal_year))]
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
