"""Process indicators (プロセス指標) of a 年度 from the report's counts, coloured against the
settings' 許容値 / 目標値, and the drill-down from a count to the people behind it.

受診者数 = screened; 要精検率 = referred ÷ screened; 精検受診率 = followup_attended ÷ referred;
精検未把握率 = followup_unknown ÷ referred (DOMAIN.md §3.1). The file holds no 精密検査結果
(評価書 別添1), so がん発見率 and 陽性反応適中度 are shown as not recorded, never as zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from models import Resident, db

from kenshin import audit
from kenshin.core.errors import Invalid
from kenshin.screening import catalogue
from kenshin.statistics import report, settings
from kenshin.statistics.basis import report_exams
from kenshin.statistics.settings import ATTENDANCE_RATE, HIGHER_IS_BETTER, REFERRAL_RATE, UNKNOWN_RATE

NOT_RECORDED = "本ファイルでは記録しない項目です（評価書 別添1）"
NOT_RECORDED_INDICATORS = ("がん発見率", "陽性反応適中度")
GOOD, FAIR, POOR, NONE = "good", "fair", "poor", "none"
JUDGEMENT_LABELS = {GOOD: "目標値を達成", FAIR: "許容値を達成（目標値は未達）", POOR: "許容値に未達",
                    NONE: "基準値なし"}
MEASURES = ("screened", "referred", "pending", "followup_attended", "followup_unknown")
MEASURE_LABELS = {"screened": "受診者数", "referred": "要精検者数", "pending": "判定保留",
                  "followup_attended": "精検受診者数", "followup_unknown": "精検未把握者数"}


@dataclass
class Rate:
    indicator: str
    value: Decimal | None  # percent, one decimal; None when the denominator is 0
    acceptable: Decimal | None
    target: Decimal | None
    judgement: str

    @property
    def label(self) -> str:
        return settings.INDICATOR_LABELS[self.indicator]

    @property
    def judgement_label(self) -> str:
        return JUDGEMENT_LABELS[self.judgement]


@dataclass
class ExamIndicators:
    exam: str
    screened: int
    referred: int
    pending: int
    followup_attended: int
    followup_unknown: int
    rates: list[Rate]

    @property
    def exam_name(self) -> str:
        return catalogue.get_exam(self.exam).name


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def judge(indicator: str, value: Decimal | None, standard) -> str:
    if value is None or standard is None or (standard.acceptable is None and standard.target is None):
        return NONE
    better = HIGHER_IS_BETTER[indicator]

    def meets(limit):
        return limit is None or (value >= limit if better else value <= limit)
    if standard.target is not None and meets(standard.target) and meets(standard.acceptable):
        return GOOD
    if standard.acceptable is not None and meets(standard.acceptable):
        return FAIR if standard.target is not None else GOOD
    return POOR if standard.acceptable is not None else FAIR


def of_year(fiscal_year: int, report_rows=None) -> list[ExamIndicators]:
    """Per exam with any screened person: the counts and the three rates, judged."""
    report_rows = report.rows(fiscal_year) if report_rows is None else report_rows
    standards = settings.standards()
    totals: dict[str, list[int]] = {}
    for row in report_rows:
        t = totals.setdefault(row.exam, [0, 0, 0, 0])
        t[0] += row.screened
        t[1] += row.referred
        t[2] += row.pending
        t[3] += row.followup_attended
    out = []
    for exam in report_exams():
        if exam not in totals:
            continue
        screened, referred, pending, attended = totals[exam]
        values = {REFERRAL_RATE: _percent(referred, screened),
                  ATTENDANCE_RATE: _percent(attended, referred),
                  UNKNOWN_RATE: _percent(referred - attended, referred)}
        rates = []
        for indicator, value in values.items():
            standard = standards.get((exam, indicator))
            rates.append(Rate(indicator, value, standard.acceptable if standard else None,
                              standard.target if standard else None, judge(indicator, value, standard)))
        out.append(ExamIndicators(exam, screened, referred, pending, attended, referred - attended, rates))
    return out


# --- drill-down --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One count of the report: a measure, optionally narrowed by the report's columns."""

    fiscal_year: int
    exam: str
    measure: str
    sex: int | None = None
    age_band: str | None = None
    setting: int | None = None
    first_time: int | None = None

    def details(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_cell(args) -> Cell:
    """A drill-down cell from query values; anything unknown is refused, nothing guessed."""
    errors = {}

    def number(key, allowed):
        text = (args.get(key) or "").strip()
        if not text:
            return None
        if text not in allowed:
            errors[key] = ["値が不正です"]
            return None
        return int(text)
    year_text = (args.get("fiscal_year") or "").strip()
    if not (year_text.isdigit() and 1990 <= int(year_text) <= 2200):
        errors["fiscal_year"] = ["年度が不正です"]
    exam = (args.get("exam") or "").strip()
    if exam not in report_exams():
        errors["exam"] = ["検診の種類が不正です"]
    measure = (args.get("measure") or "").strip()
    if measure not in MEASURES:
        errors["measure"] = ["件数の種類が不正です"]
    band = (args.get("age_band") or "").strip() or None
    if band is not None and band not in report.BANDS:
        errors["age_band"] = ["年齢階級が不正です"]
    cell = Cell(int(year_text) if not errors.get("fiscal_year") else 0, exam, measure,
                number("sex", ("1", "2")), band, number("setting", ("1", "2")),
                number("first_time", ("0", "1")))
    if errors:
        raise Invalid(errors)
    return cell


_MEASURE_SQL = {"screened": "1 = 1", "referred": "referred = 1", "pending": "pending = 1",
                "followup_attended": "attended = 1", "followup_unknown": "referred = 1 AND attended = 0"}


def drill_down(cell: Cell, actor: audit.Actor, limit: int = 5000) -> tuple[int, list]:
    """The people behind a count (the same set the report counts, never more), audited with the
    criteria and the number shown. Returns (count, [(resident, exam_date)])."""
    param = db.param
    where, params = [f"exam = {param}", _MEASURE_SQL[cell.measure]], [cell.exam]
    for column in ("sex", "setting", "first_time"):
        value = getattr(cell, column)
        if value is not None:
            where.append(f"{column} = {param}")
            params.append(value)
    if cell.age_band is not None:  # people carry the age; the band is its 5 years
        for bound, op in zip(report.band_ages(cell.age_band), (">=", "<=")):
            if bound is not None:
                where.append(f"age {op} {param}")
                params.append(bound)
    sql = (report.people_sql(cell.fiscal_year) + "SELECT resident_id, exam_date FROM people WHERE "
           + " AND ".join(where) + " ORDER BY exam_date, resident_id")
    found = db.execute_sql(sql, params).fetchall()
    count = len(found)
    shown = found[:limit]
    people = {p.id: p for p in Resident.select().where(Resident.id.in_([r for r, _ in shown]))} if shown else {}
    rows = [(people[r], d if isinstance(d, date) else date.fromisoformat(str(d)[:10])) for r, d in shown]
    with db.atomic():
        audit.record("statistics.drill_down", actor, object_type="report_cell",
                     details=dict(cell.details(), count=count, shown=len(rows)))
    return count, rows
