"""Age and interval eligibility (DOMAIN.md section 1): warnings for the entry screen, never errors.

Cities screen outside the national ages (FORMATS.md: "Not checked here" for files), so the
entry screen only warns. The table below is configuration — the national guideline as a
starting point — keyed by the catalogue's exam codes (an unknown code fails at import time);
a city changes a number here, not code elsewhere.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from kenshin.screening import catalogue
from kenshin.core.dates import YEAR_END, YEAR_START, age_for_basis, fiscal_year_label, format_wareki


@dataclass(frozen=True)
class Rule:
    """Who the guideline targets, and how often (in 年度)."""

    min_age: int | None = None
    ages: tuple[int, ...] = ()  # 節目 ages; empty means every age from min_age
    interval: int = 1  # 1 yearly, 2 every second 年度, 0 once in a lifetime
    group: str = ""  # exams that share one interval (胃: X線 and 内視鏡)

    def admits_age(self, age: int) -> bool:
        """Whether the guideline targets this (basis) age."""
        if self.ages:
            return age in self.ages
        return self.min_age is None or age >= self.min_age

    def too_close(self, fiscal_year: int, earlier_years: Iterable[int]) -> list[int]:
        """The earlier 年度 (newest first) that make `fiscal_year` too soon; empty when due."""
        years = sorted(set(earlier_years), reverse=True)
        if self.interval == 0:
            return years
        return [y for y in years if fiscal_year - self.interval < y <= fiscal_year]


AGE_BASIS = YEAR_END  # 年度末 age, the commonest city rule (DOMAIN.md 5.3)
BASIS_LABELS = {YEAR_END: "年度末年齢", YEAR_START: "年度当初年齢"}


def eligibility_age(birth_date: date, fiscal_year: int) -> tuple[str, int]:
    """(label, age) on the basis the age warnings use — shown beside them, so that the screen
    never puts the legal age at the exam next to a warning that speaks of another age."""
    return BASIS_LABELS[AGE_BASIS], age_for_basis(birth_date, fiscal_year, AGE_BASIS)

RULES: dict[str, Rule] = {
    "gastric_xray": Rule(min_age=40, interval=1, group="gastric"),  # 当分の間 40歳以上・年1回可
    "gastric_endoscopy": Rule(min_age=50, interval=2, group="gastric"),
    "colorectal": Rule(min_age=40, interval=1),
    "lung": Rule(min_age=40, interval=1),
    "breast": Rule(min_age=40, interval=2),
    "cervical": Rule(min_age=20, interval=2),
    "periodontal": Rule(ages=(20, 30, 40, 50, 60, 70), interval=1),
    "osteoporosis": Rule(ages=(40, 45, 50, 55, 60, 65, 70), interval=1),
    "hepatitis": Rule(min_age=40, interval=0),
}
_unknown = set(RULES) - set(catalogue.EXAMS)
if _unknown:  # pragma: no cover - a configuration error must stop the program
    raise RuntimeError(f"eligibility rules for unknown exams: {sorted(_unknown)}")


def exams_sharing_interval(exam_code: str) -> tuple[str, ...]:
    """The exams whose earlier screenings count for this exam's interval."""
    rule = RULES.get(exam_code)
    if rule is None or not rule.group:
        return (exam_code,)
    return tuple(code for code, r in RULES.items() if r.group == rule.group)


def warnings(exam_code: str, birth_date: date, fiscal_year: int,
             earlier_years: Iterable[int] = ()) -> list[str]:
    """Warnings for a screening of `exam_code` in `fiscal_year`; `earlier_years` are the 年度 of
    the person's other non-void screenings of the exams sharing the interval."""
    rule = RULES.get(exam_code)
    if rule is None:
        return []
    out = []
    basis, age = eligibility_age(birth_date, fiscal_year)
    if not rule.admits_age(age):
        if rule.ages:
            listed = "・".join(str(a) for a in rule.ages)
            out.append(f"対象年齢ではありません（{basis}{age}歳。対象は{listed}歳）")
        else:
            out.append(f"対象年齢ではありません（{basis}{age}歳。対象は{rule.min_age}歳以上）")
    close = rule.too_close(fiscal_year, earlier_years)
    if close:
        if rule.interval == 0:
            out.append(f"生涯1回の検診です（{fiscal_year_label(close[0])}に受診済み）")
        elif rule.interval == 1:
            out.append(f"同じ年度にすでに受診があります（{fiscal_year_label(close[0])}）")
        else:
            out.append(f"{rule.interval}年度に1回の検診です（前回 {fiscal_year_label(close[0])}）")
    return out


def residence_warnings(exam_date: date, resident_since: date | None,
                       removed_on: date | None) -> list[str]:
    """A screening on a day the person was not (yet, or any longer) a resident."""
    out = []
    if resident_since is not None and exam_date < resident_since:
        out.append(f"受診日は住民となった日（{format_wareki(resident_since)}）より前です")
    if removed_on is not None and exam_date > removed_on:
        out.append(f"受診日は消除日（{format_wareki(removed_on)}）より後です")
    return out
