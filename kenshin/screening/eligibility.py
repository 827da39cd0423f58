"""Who a screening is for (FORMATS.md "Screening rules"): one table per 年度, kept in the database.

The entry screen's warnings, the demo data and every invitation run (kenshin.invitations) read
the same table through `rules_for(fiscal_year)`. A 年度 nobody has edited uses the national
guideline (`NATIONAL`); supervisors edit a 年度's table on screen (kenshin.invitations.rules keeps
the versions). Cities screen outside the rules (FORMATS.md: "Not checked here" for files), so on
entry the rules only warn.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from kenshin.screening import catalogue
from kenshin.core.dates import (YEAR_END, YEAR_START, age_for_basis, birth_range_for_age,
                                fiscal_year_label, format_wareki)

# The age basis as FORMATS.md names it, and as kenshin.core.dates computes it.
FISCAL_YEAR_END = "fiscal_year_end"  # 年度末: the age reached on the birthday within the 年度
FISCAL_YEAR_START = "fiscal_year_start"  # 年度当初: the legal age on 4月1日
BASES = {FISCAL_YEAR_END: YEAR_END, FISCAL_YEAR_START: YEAR_START}
BASIS_LABELS = {FISCAL_YEAR_END: "年度末年齢", FISCAL_YEAR_START: "年度当初（4月1日）の年齢"}
SEX_LABELS = {0: "男女", 1: "男性", 2: "女性"}
SEX_WORDS = {0: "any", 1: "men", 2: "women"}


@dataclass(frozen=True)
class Rule:
    """Who one exam targets, and how often (in 年度)."""

    min_age: int | None = None
    ages: tuple[int, ...] = ()  # listed (節目) ages instead of a range
    interval: int | None = 1  # N: every N 年度; 0: once in a lifetime; None: no window (—)
    group: str = ""  # exams sharing one interval (胃: X線 and 内視鏡)
    sex: int = 0  # 0 any, 1 men, 2 women
    max_age: int | None = None
    basis: str = FISCAL_YEAR_END
    on_request_above: bool = False  # older never-tested people on request only (肝炎): not invited

    def age_fits(self, age: int) -> bool:
        if self.ages:
            return age in self.ages
        if self.min_age is not None and age < self.min_age:
            return False
        return self.max_age is None or age <= self.max_age

    admits_age = age_fits  # the name the demo data uses

    def too_close(self, fiscal_year: int, earlier_years: Iterable[int]) -> list[int]:
        """The earlier 年度 (newest first) within the window that make `fiscal_year` too soon."""
        window = self.window(fiscal_year)
        if window is None:
            return []
        first, last = window
        return [y for y in sorted(set(earlier_years), reverse=True)
                if (first is None or y >= first) and y <= last]

    def age_of(self, birth: date, fiscal_year: int) -> int:
        return age_for_basis(birth, fiscal_year, BASES[self.basis])

    def birth_ranges(self, fiscal_year: int) -> list[tuple[date | None, date | None]]:
        """The birth-date ranges (first, last; None open) of the people whose age fits."""
        basis = BASES[self.basis]
        if self.ages:
            return [birth_range_for_age(a, fiscal_year, basis) for a in sorted(self.ages)]
        first = birth_range_for_age(self.max_age, fiscal_year, basis)[0] if self.max_age is not None else None
        last = birth_range_for_age(self.min_age, fiscal_year, basis)[1] if self.min_age is not None else None
        return [(first, last)]

    def window(self, fiscal_year: int) -> tuple[int | None, int] | None:
        """The 年度 in which a counted screening of the group makes a person not eligible:
        (first, last), first None for ever; None when the exam has no window."""
        if self.interval is None:
            return None
        if self.interval == 0:
            return (None, fiscal_year)
        return (fiscal_year - self.interval + 1, fiscal_year)

    def ages_text(self) -> str:
        if self.ages:
            return ",".join(str(a) for a in self.ages)
        low = "" if self.min_age is None else str(self.min_age)
        if self.max_age is None:
            return f"{low}+" if low else "all"
        return f"{low or 0}-{self.max_age}"

    def ages_label(self) -> str:
        """In Japanese: 40歳以上, 40〜69歳, 40・45・50歳."""
        if self.ages:
            return "・".join(str(a) for a in self.ages) + "歳"
        if self.max_age is None:
            return f"{self.min_age}歳以上" if self.min_age is not None else "全年齢"
        return f"{self.min_age or 0}〜{self.max_age}歳"

    def interval_label(self) -> str:
        if self.interval is None:
            return "—"
        if self.interval == 0:
            return "生涯1回"
        return "毎年度" if self.interval == 1 else f"{self.interval}年度に1回"


# The national guideline (FORMATS.md "Screening rules" defaults), in the order of that table,
# which is also the order of exams on letters and in the contractor file.
NATIONAL: dict[str, Rule] = {
    "gastric_xray": Rule(min_age=40, interval=1, group="gastric"),  # 当分の間 40歳以上・年1回可
    "gastric_endoscopy": Rule(min_age=50, interval=2, group="gastric"),
    "colorectal": Rule(min_age=40, interval=1, group="colorectal"),
    "lung": Rule(min_age=40, interval=1, group="lung"),
    "breast": Rule(min_age=40, interval=2, group="breast", sex=2),
    "cervical": Rule(min_age=20, interval=2, group="cervical", sex=2),
    "osteoporosis": Rule(ages=(40, 45, 50, 55, 60, 65, 70), interval=None, group="osteoporosis", sex=2),
    "periodontal": Rule(ages=(20, 30, 40, 50, 60, 70), interval=None, group="periodontal"),
    "hepatitis": Rule(ages=(40,), interval=0, group="hepatitis", on_request_above=True),
}
RULES = NATIONAL  # the name earlier callers used
EXAM_ORDER: tuple[str, ...] = tuple(NATIONAL)
AGE_BASIS = YEAR_END  # the national default basis (FISCAL_YEAR_END), as kenshin.core.dates names it
_unknown = set(NATIONAL) - set(catalogue.EXAMS)
if _unknown:  # pragma: no cover - a configuration error must stop the program
    raise RuntimeError(f"eligibility rules for unknown exams: {sorted(_unknown)}")


@dataclass(frozen=True)
class RuleTable:
    """The rules in force for a 年度: `version` 0 is the national guideline, never saved."""

    fiscal_year: int
    version: int
    rules: dict[str, Rule] = field(default_factory=dict)
    rule_set_id: int | None = None

    def sharing(self, exam_code: str) -> tuple[str, ...]:
        rule = self.rules.get(exam_code)
        if rule is None or not rule.group:
            return (exam_code,)
        return tuple(code for code, r in self.rules.items() if r.group == rule.group)


def rule_from_row(row) -> Rule:
    """A Rule from a models.ScreeningRule row."""
    ages = tuple(int(a) for a in row.ages.split(",") if a) if row.ages else ()
    return Rule(min_age=row.min_age, ages=ages, interval=row.interval, group=row.interval_group,
                sex=row.sex, max_age=row.max_age, basis=row.age_basis,
                on_request_above=row.on_request_above)


def rules_for(fiscal_year: int) -> RuleTable:
    """The newest saved rules of the 年度, else the national guideline (version 0)."""
    from database import prepared, prepared_first  # compiled once: a saved form reads the rules twice

    newest = prepared_first("eligibility.newest_rule_set", _newest_rule_set, int(fiscal_year))
    if newest is None:
        return RuleTable(fiscal_year, 0, dict(NATIONAL))
    rows = {r.exam: rule_from_row(r) for r in prepared("eligibility.rules", _rules_of, newest.id)}
    ordered = {code: rows[code] for code in EXAM_ORDER if code in rows}
    ordered.update({code: rule for code, rule in rows.items() if code not in ordered})
    return RuleTable(fiscal_year, newest.version, ordered, newest.id)


def _newest_rule_set(fiscal_year: int):
    from models import ScreeningRuleSet

    return (ScreeningRuleSet.select().where(ScreeningRuleSet.fiscal_year == fiscal_year)
            .order_by(ScreeningRuleSet.version.desc()).limit(1))


def _rules_of(rule_set_id: int):
    from models import ScreeningRule

    return ScreeningRule.select().where(ScreeningRule.rule_set == rule_set_id)


def exams_sharing_interval(exam_code: str, fiscal_year: int | None = None) -> tuple[str, ...]:
    """The exams whose earlier screenings count for this exam's interval (in that 年度's rules)."""
    table = rules_for(fiscal_year) if fiscal_year is not None else RuleTable(0, 0, dict(NATIONAL))
    return table.sharing(exam_code)


def birth_ranges_label(rule: Rule, fiscal_year: int) -> str:
    """「昭和61年4月1日〜昭和62年3月31日生まれ」, one range per listed age, joined by 、."""
    parts = []
    for first, last in rule.birth_ranges(fiscal_year):
        if first is None and last is None:
            parts.append("生年月日を問わない")
        elif first is None:
            parts.append(f"{format_wareki(last)}以前生まれ")
        elif last is None:
            parts.append(f"{format_wareki(first)}以降生まれ")
        else:
            parts.append(f"{format_wareki(first)}〜{format_wareki(last)}生まれ")
    return "、".join(parts)


def with_changes(rule: Rule, **changes) -> Rule:
    return replace(rule, **changes)


def eligibility_age(birth_date: date, fiscal_year: int, exam_code: str) -> tuple[str, int]:
    """(label, age) on the basis the exam's rule uses — shown beside its warnings, so that the
    screen never puts the legal age at the exam next to a warning that speaks of another age."""
    rule = rules_for(fiscal_year).rules.get(exam_code)
    basis = rule.basis if rule is not None else FISCAL_YEAR_END
    return BASIS_LABELS[basis], age_for_basis(birth_date, fiscal_year, BASES[basis])


def warnings(exam_code: str, birth_date: date, fiscal_year: int,
             earlier_years: Iterable[int] = (), sex: int | None = None) -> list[str]:
    """Warnings for a screening of `exam_code` in `fiscal_year`; `earlier_years` are the 年度 of
    the person's other counted screenings of the exams sharing the interval."""
    rule = rules_for(fiscal_year).rules.get(exam_code)
    if rule is None:
        return []
    out = []
    years = sorted(set(earlier_years), reverse=True)
    age = rule.age_of(birth_date, fiscal_year)
    label = BASIS_LABELS[rule.basis]
    older_on_request = (rule.on_request_above and not years
                        and age > max(rule.ages or (rule.min_age or 0,)))
    if not rule.age_fits(age) and not older_on_request:
        out.append(f"対象年齢ではありません（{label}{age}歳。対象は{rule.ages_label()}）")
    if sex is not None and rule.sex and sex != rule.sex:
        out.append(f"対象の性別ではありません（対象は{SEX_LABELS[rule.sex]}）")
    close = rule.too_close(fiscal_year, years)
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
