"""The per-年度 screening rules as data: versions, a supervisor's edits, and how they read.

The rule itself (what a Rule means, the national guideline, the table in force) lives in
kenshin.screening.eligibility, which the entry screen uses too; this module keeps the versions:
every save is a new ScreeningRuleSet (earlier ones stay), audited with what changed and why.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from models import ScreeningRule, ScreeningRuleSet, db

from kenshin import audit
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid
from kenshin.screening import catalogue
from kenshin.screening.eligibility import (BASES, EXAM_ORDER, NATIONAL, SEX_WORDS, Rule, RuleTable,
                                           rules_for)

ACTION_CHANGE = "rules.change"
MAX_AGE = 120
MAX_INTERVAL = 10
_GROUP = re.compile(r"[a-z][a-z_]{0,23}")
FIELDS = ("sex", "min_age", "max_age", "ages", "interval", "group", "basis", "on_request_above")
ADOPTED = "国の指針（初期値）を採用"


def describe(rule: Rule) -> dict:
    """A rule as plain values (for audit details and the CLI)."""
    return {"sex": SEX_WORDS[rule.sex], "ages": rule.ages_text(),
            "interval": "-" if rule.interval is None else ("once" if rule.interval == 0 else rule.interval),
            "group": rule.group, "basis": rule.basis, "on_request_above": rule.on_request_above}


def show_lines(fiscal_year: int) -> list[str]:
    """`rules show`: one line per exam, beginning with the exam code."""
    table = rules_for(fiscal_year)
    lines = []
    for code, rule in table.rules.items():
        d = describe(rule)
        born = ",".join(f"{'' if a is None else a.isoformat()}..{'' if b is None else b.isoformat()}"
                        for a, b in rule.birth_ranges(fiscal_year))
        upper = "-" if rule.ages or rule.max_age is None else rule.max_age
        lines.append(f"{code} sex={d['sex']} ages={d['ages']} upper={upper} interval={d['interval']} "
                     f"group={d['group']} basis={d['basis']} born={born} version={table.version}")
    return lines


def _int(text: str, low: int, high: int, label: str, errors: list[str]) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        errors.append(f"{label}は{low}〜{high}の整数です")
        return None
    return int(text)


def read_rule(values: Mapping[str, str]) -> tuple[Rule | None, list[str]]:
    """One exam's rule from form-like text values (keys: FIELDS)."""
    errors: list[str] = []
    sex_text = (values.get("sex") or "0").strip()
    sex = {"0": 0, "1": 1, "2": 2, "any": 0, "men": 1, "women": 2}.get(sex_text)
    if sex is None:
        errors.append("性別は 男女・男性・女性 のいずれかです")
    ages_text = (values.get("ages") or "").replace("、", ",").replace("・", ",").replace(" ", "")
    ages: tuple[int, ...] = ()
    if ages_text:
        parts = ages_text.split(",")
        if not all(p.isdigit() and int(p) <= MAX_AGE for p in parts if p) or not any(parts):
            errors.append(f"対象年齢（列挙）は0〜{MAX_AGE}の整数をカンマで区切って入力してください")
        else:
            ages = tuple(sorted({int(p) for p in parts if p}))
    min_age = _int(values.get("min_age", ""), 0, MAX_AGE, "下限年齢", errors)
    max_age = _int(values.get("max_age", ""), 0, MAX_AGE, "上限年齢", errors)
    if ages and (min_age is not None or max_age is not None):
        errors.append("年齢は範囲（下限・上限）か列挙のどちらか一方で指定してください")
    if min_age is not None and max_age is not None and min_age > max_age:
        errors.append("上限年齢が下限年齢より小さくなっています")
    interval_text = (values.get("interval") or "").strip()
    interval: int | None = None
    if interval_text in ("", "-", "—"):
        interval = None
    elif interval_text in ("once", "0"):
        interval = 0
    else:
        interval = _int(interval_text, 1, MAX_INTERVAL, "受診間隔（年度）", errors)
    group = (values.get("group") or "").strip()
    if not _GROUP.fullmatch(group):
        errors.append("間隔グループは英小文字とアンダースコアで入力してください")
    basis = (values.get("basis") or "").strip()
    if basis not in BASES:
        errors.append("年齢の基準日を選んでください")
    on_request = (values.get("on_request_above") or "") in ("1", "on", "true", "True")
    if errors:
        return None, errors
    return Rule(min_age=min_age, ages=ages, interval=interval, group=group, sex=sex,
                max_age=max_age, basis=basis, on_request_above=on_request), []


def read_form(form: Mapping[str, str], exams=EXAM_ORDER) -> tuple[dict[str, Rule], dict[str, list[str]]]:
    """Every exam's rule from a form whose keys are `<exam>-<field>`."""
    rules, errors = {}, {}
    for code in exams:
        rule, problems = read_rule({f: form.get(f"{code}-{f}", "") for f in FIELDS})
        if problems:
            errors[code] = problems
        else:
            rules[code] = rule
    for code, rule in rules.items():
        if rule.sex != catalogue.WOMEN and catalogue.EXAMS[code].sex == catalogue.WOMEN:
            errors.setdefault(code, []).append("女性のみの検診です（性別は女性にしてください）")
    return rules, errors


def save(fiscal_year: int, rules: Mapping[str, Rule], reason: str, actor: audit.Actor) -> RuleTable:
    """Save a new version of the 年度's rules (the earlier versions stay); audited with the changes."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": ["変更の理由を入力してください"]})
    if len(reason) > 400:
        raise Invalid({"reason": ["理由は400文字以内です"]})
    unknown = set(rules) - set(catalogue.EXAMS)
    if unknown:
        raise Invalid({"exam": [f"不明な検診です: {', '.join(sorted(unknown))}"]})
    with db.atomic():
        current = rules_for(fiscal_year)
        changed = {code: {"before": describe(current.rules[code]) if code in current.rules else None,
                          "after": describe(rule)}
                   for code, rule in rules.items() if current.rules.get(code) != rule}
        if not changed and current.version:
            raise Invalid({"rules": ["変更がありません"]})
        version = current.version + 1
        rule_set = ScreeningRuleSet.create(fiscal_year=fiscal_year, version=version, reason=reason,
                                           created_by=actor.staff_id, created_label=actor.label,
                                           created_at=now_utc())
        ordered = [c for c in EXAM_ORDER if c in rules] + [c for c in rules if c not in EXAM_ORDER]
        ScreeningRule.insert_many([
            {"rule_set": rule_set.id, "exam": code, "sex": r.sex, "min_age": r.min_age,
             "max_age": r.max_age, "ages": ",".join(str(a) for a in r.ages), "interval": r.interval,
             "interval_group": r.group, "age_basis": r.basis, "on_request_above": r.on_request_above}
            for code, r in ((c, rules[c]) for c in ordered)]).execute()
        audit.record(ACTION_CHANGE, actor, object_type="rules", object_id=f"{fiscal_year}-v{version}",
                     details={"fiscal_year": fiscal_year, "version": version, "why": reason,
                              "changed": changed})
    return rules_for(fiscal_year)


def in_force(fiscal_year: int, actor: audit.Actor) -> RuleTable:
    """The 年度's rules as a saved version (a run must name one): the national guideline is saved
    as version 1 the first time a run needs a 年度 nobody edited."""
    table = rules_for(fiscal_year)
    if table.version:
        return table
    return save(fiscal_year, dict(NATIONAL), ADOPTED, actor)


def versions(fiscal_year: int) -> list[ScreeningRuleSet]:
    return list(ScreeningRuleSet.select().where(ScreeningRuleSet.fiscal_year == fiscal_year)
                .order_by(ScreeningRuleSet.version.desc()))
