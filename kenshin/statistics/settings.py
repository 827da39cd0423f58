"""Settings of follow-up and statistics: a table a supervisor edits (each change audited).

Defaults are the national guideline: the 許容値 / 目標値 of the process indicators from
「今後の我が国におけるがん検診事業評価の在り方について」報告書 (厚生労働省 がん検診事業の評価に関する
委員会, 2008) p.39 and its table in the 職域マニュアル 表2 (DOMAIN.md §3.2, sources S37/S38);
docs/STATISTICS.md lists each number with its source. Gastric endoscopy shares the cancer's
精検受診率 / 未把握率 values; the 2008 report gives 要精検率 for X-ray only.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from models import StatisticsSetting, db

from kenshin import audit
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid
from kenshin.core.textinput import ascii_text

REMINDER_AFTER_DAYS = "followup.reminder_after_days"
REMINDER_DEFAULT = 90  # about three months after the result letter, as many cities' 再勧奨

REFERRAL_RATE, ATTENDANCE_RATE, UNKNOWN_RATE = "referral_rate", "attendance_rate", "unknown_rate"
ACCEPTABLE, TARGET = "acceptable", "target"
# Whether a higher value is better (精検受診率) or worse (要精検率, 未把握率).
HIGHER_IS_BETTER = {REFERRAL_RATE: False, ATTENDANCE_RATE: True, UNKNOWN_RATE: False}

_ATTEND = {ACCEPTABLE: "70", TARGET: "90"}
_UNKNOWN = {ACCEPTABLE: "10", TARGET: "5"}
NATIONAL: dict[str, dict[str, dict[str, str]]] = {
    "gastric_xray": {REFERRAL_RATE: {ACCEPTABLE: "11.0"}, ATTENDANCE_RATE: _ATTEND, UNKNOWN_RATE: _UNKNOWN},
    "gastric_endoscopy": {ATTENDANCE_RATE: _ATTEND, UNKNOWN_RATE: _UNKNOWN},
    "colorectal": {REFERRAL_RATE: {ACCEPTABLE: "7.0"}, ATTENDANCE_RATE: _ATTEND, UNKNOWN_RATE: _UNKNOWN},
    "lung": {REFERRAL_RATE: {ACCEPTABLE: "3.0"}, ATTENDANCE_RATE: _ATTEND, UNKNOWN_RATE: _UNKNOWN},
    "breast": {REFERRAL_RATE: {ACCEPTABLE: "11.0"}, ATTENDANCE_RATE: {ACCEPTABLE: "80", TARGET: "90"},
               UNKNOWN_RATE: _UNKNOWN},
    "cervical": {REFERRAL_RATE: {ACCEPTABLE: "1.4"}, ATTENDANCE_RATE: _ATTEND, UNKNOWN_RATE: _UNKNOWN},
}
INDICATOR_LABELS = {REFERRAL_RATE: "要精検率", ATTENDANCE_RATE: "精検受診率", UNKNOWN_RATE: "精検未把握率"}
LEVEL_LABELS = {ACCEPTABLE: "許容値", TARGET: "目標値"}


def key_of(exam: str, indicator: str, level: str) -> str:
    return f"{exam}.{indicator}.{level}"


def defaults() -> dict[str, str]:
    out = {REMINDER_AFTER_DAYS: str(REMINDER_DEFAULT)}
    for exam, indicators in NATIONAL.items():
        for indicator in (REFERRAL_RATE, ATTENDANCE_RATE, UNKNOWN_RATE):
            for level in (ACCEPTABLE, TARGET):
                out[key_of(exam, indicator, level)] = indicators.get(indicator, {}).get(level, "")
    return out


def current() -> dict[str, str]:
    """Every setting: the stored value, else the default ("" = no value)."""
    values = defaults()
    for row in StatisticsSetting.select():
        if row.key in values:
            values[row.key] = row.value
    return values


def reminder_after_days() -> int:
    return int(current()[REMINDER_AFTER_DAYS])


@dataclass(frozen=True)
class Standard:
    acceptable: Decimal | None
    target: Decimal | None


def standards() -> dict[tuple[str, str], Standard]:
    """(exam, indicator) → its 許容値 and 目標値 (percent), as set now."""
    values = current()
    out = {}
    for exam in NATIONAL:
        for indicator in HIGHER_IS_BETTER:
            a, t = (values[key_of(exam, indicator, level)] for level in (ACCEPTABLE, TARGET))
            out[(exam, indicator)] = Standard(Decimal(a) if a else None, Decimal(t) if t else None)
    return out


def _clean(key: str, text: str) -> str:
    text = ascii_text(text)
    if key == REMINDER_AFTER_DAYS:
        if not text.isdigit() or not 1 <= int(text) <= 730:
            raise ValueError("1〜730の日数で入力してください")
        return str(int(text))
    if not text:
        return ""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("0〜100の数値（%）で入力してください") from None
    if not number.is_finite() or not Decimal(0) <= number <= Decimal(100) or len(text) > 8:
        raise ValueError("0〜100の数値（%）で入力してください")
    return text


def save(form, reason: str, actor: audit.Actor) -> list[str]:
    """Store the changed settings of a form (all or nothing); audited with each before/after."""
    reason = ascii_text(reason)
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["変更の理由を入力してください"]
    values = current()
    changed = {}
    for key, before in values.items():
        if key not in form:
            continue
        try:
            after = _clean(key, form.get(key) or "")
        except ValueError as problem:
            errors[key] = [str(problem)]
            continue
        if after != before:
            changed[key] = (before, after)
    if errors:
        raise Invalid(errors)
    if not changed:
        return []
    with db.atomic():
        for key, (_, after) in changed.items():
            row = StatisticsSetting.get_or_none(StatisticsSetting.key == key)
            if row is None:
                StatisticsSetting.create(key=key, value=after, staff=actor.staff_id, at=now_utc())
            else:
                StatisticsSetting.update(value=after, staff=actor.staff_id, at=now_utc()).where(
                    StatisticsSetting.id == row.id).execute()
        audit.record("statistics.settings", actor, object_type="settings",
                     details={"reason": reason[:200],
                              "changes": {k: {"before": b, "after": a} for k, (b, a) in changed.items()}})
    return sorted(changed)
