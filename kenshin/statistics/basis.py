"""What the statistics read from other capabilities, each in one place.

- `outcome_columns`: how a stored screening says 要精検 / 判定保留 (FORMATS.md "Judgement
  outcome": the `referral` and `pending` flags, 要精検 winning).
- `exam_rules`: per exam of a 年度, the age basis and the interval group of that 年度's screening
  rules (FORMATS.md "Screening rules").
"""
from __future__ import annotations

from dataclasses import dataclass

from kenshin.screening import catalogue, eligibility
from kenshin.followup.link import FOLLOWUP_EXAMS

FISCAL_YEAR_END, FISCAL_YEAR_START = eligibility.FISCAL_YEAR_END, eligibility.FISCAL_YEAR_START


def report_exams() -> tuple[str, ...]:
    """The exams that are report rows, in the order of the rules table, then the catalogue's."""
    order = list(eligibility.EXAM_ORDER)  # FORMATS.md's rules table: the report's sort order
    order += [code for code in catalogue.EXAMS if code not in order]
    return tuple(code for code in order if code not in FOLLOWUP_EXAMS)


def outcome_columns(alias: str) -> tuple[str, str]:
    """SQL for (要精検, 判定保留) of a screening row `alias`, each 1 or 0, from the stored flags
    (`referral`, `pending`: catalogue.outcome_of's rule — 要精検 wins)."""
    referred = f"CASE WHEN {alias}.referral THEN 1 ELSE 0 END"
    pending = f"CASE WHEN {alias}.referral THEN 0 WHEN {alias}.pending THEN 1 ELSE 0 END"
    return referred, pending


def pending_condition(model):
    """A peewee condition: the screening `model` (a model or alias) is 判定保留 (not 要精検)."""
    return (model.referral == False) & (model.pending == True)  # noqa: E712


@dataclass(frozen=True)
class ExamRule:
    basis: str  # fiscal_year_end | fiscal_year_start
    group: str  # the interval group


def exam_rules(fiscal_year: int) -> dict[str, ExamRule]:
    """The age basis and interval group of each report exam in the 年度's rules (the table a
    supervisor edits, else the national guideline); an exam without a rule or group is its own."""
    rules = eligibility.rules_for(fiscal_year).rules
    out = {}
    for exam in report_exams():
        rule = rules.get(exam)
        out[exam] = ExamRule(rule.basis if rule else FISCAL_YEAR_END, (rule.group if rule else "") or exam)
    return out
