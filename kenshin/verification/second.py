"""The second keying and the resolution of its differences against the paper."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from peewee import IntegrityError

from models import Screening, ScreeningChange, ScreeningDifference, ScreeningKeying, db

from kenshin import audit
from kenshin.screening import catalogue, extensions
from kenshin.screening import screenings
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid, Refused
from kenshin.verification.rules import (
    ALREADY_KEYED, CONFIRMED, FIRST, PAPER, PENDING, REASON_MAX, SECOND, verified_keys,
)
from kenshin.verification.seen import KEY, RESOLVE, facts_of, step_for
from kenshin.verification.desk import differences_of


# --- the second keying -----------------------------------------------------------------------

def _clean_second(screening: Screening, keys: tuple[str, ...], values: Mapping[str, str | None]
                  ) -> tuple[dict, dict[str, list[str]]]:
    """The second keying's values of `keys`, checked by the catalogue as the first were: the
    record's other items stand in for the rest, and a blank derivable `referral` is derived."""
    merged = dict(screening.items or {})
    # keyed from the paper as on the entry screen: 陽性, ＋, 2 … read as the catalogue's codes
    typed, unread = catalogue.read_paper(screening.exam, {key: values.get(key) or "" for key in keys})
    merged.update(typed)
    clean, item_errors = catalogue.validate_items(screening.exam, merged, screening.resident.sex,
                                                      enabled=extensions.enabled_codes())
    errors: dict[str, list[str]] = {}
    for key, messages in item_errors.items():
        errors.setdefault(key if key in keys else "-", []).extend(messages)
    errors.update(unread)
    return {key: clean.get(key, "") for key in keys}, errors


@dataclass
class Keyed:
    screening: Screening
    agreed: bool
    differences: list[str]


def _confirm(screening: Screening, actor: audit.Actor, now: datetime, **changes) -> None:
    updated = (Screening.update(status=CONFIRMED, verified_by=actor.staff_id, verified_at=now, **changes)
               .where((Screening.id == screening.id) & (Screening.status == PENDING)).execute())
    if updated != 1:
        raise Refused("この記録は未確定ではなくなりました（確定または取消）。")


def key_second(screening_id: int, values: Mapping[str, str | None], actor: audit.Actor,
               verify_all: Collection[str] = ()) -> Keyed:
    """Round 2: the verified items keyed again, blind; confirmed at once when every one agrees.

    Refused for anyone who has seen the first values (the first keyer above all); Invalid for
    values the catalogue refuses. The keying is kept whatever the outcome."""
    with db.atomic():
        screening = screenings.get(screening_id)
        step = step_for(screening, facts_of(screening), actor)
        if step.kind != KEY:
            raise Refused(step.reason or ALREADY_KEYED)
        keys = verified_keys(screening.exam, verify_all)
        second, errors = _clean_second(screening, keys, values)
        if errors:
            raise Invalid(errors)
        now = now_utc()
        try:
            with db.atomic():
                keying = ScreeningKeying.create(screening=screening.id, round=2, items=second,
                                                staff=actor.staff_id, at=now)
        except IntegrityError:
            raise Refused(ALREADY_KEYED) from None
        differing = [d.key for d in differences_of(screening, keying)]
        if not differing:
            _confirm(screening, actor, now)
        audit.record("screening.verify", actor, resident=screening.resident_id, object_type="screening",
                     object_id=screening.id,
                     details={"exam": screening.exam, "round": 2, "verified_keys": list(keys),
                              "agreed": not differing, "differences": differing,
                              "status": PENDING if differing else CONFIRMED})
    return Keyed(screenings.get(screening.id), not differing, differing)


def _reason(text: str | None) -> tuple[str, list[str]]:
    value = (text or "").strip()
    if not value:
        return "", ["理由（用紙でどう確かめたか）を入力してください"]
    if len(value) > REASON_MAX:
        return "", [f"理由は{REASON_MAX}文字以内です"]
    return value, []


def resolve(screening_id: int, resolutions: Mapping[str, Mapping[str, str]], actor: audit.Actor) -> Screening:
    """Settle each difference against the paper and confirm the record.

    `resolutions` maps an item key to {"choice": first | second | paper, "value": the paper's
    value (for paper), "reason": why}. A paper value typed with no choice counts as the paper's.
    The record's items follow the choices (re-checked by the catalogue, 要精検 recomputed); each
    difference is kept with the chosen value, who and why, and audited (keys, never values)."""
    with db.atomic():
        screening = screenings.get(screening_id)
        facts = facts_of(screening)
        step = step_for(screening, facts, actor)
        if step.kind != RESOLVE:
            raise Refused(step.reason or "この用紙には解決する相違がありません。")
        exam = catalogue.get_exam(screening.exam)
        first = dict(screening.items or {})
        lines = differences_of(screening, facts.second)
        errors: dict[str, list[str]] = {}
        chosen: dict[str, str] = {}
        choices: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for line in lines:
            given = resolutions.get(line.key) or {}
            choice = (given.get("choice") or "").strip()
            if not choice and (given.get("value") or "").strip():
                choice = PAPER
            if choice == FIRST:
                chosen[line.key] = line.first
            elif choice == SECOND:
                chosen[line.key] = line.second
            elif choice == PAPER:
                typed = given.get("value") or ""
                code = line.item.from_paper(typed)  # 陽性, ＋ … as on the entry screen
                chosen[line.key] = code if code is not None else typed
                if code is None and line.item.kind == "code" and typed.strip():
                    errors[line.key] = [f"「{typed.strip()}」は読めません（{line.item.paper_list()}のいずれか）"]
            else:
                errors[line.key] = ["1回目・2回目・用紙の値のどれにするか選んでください"]
            choices[line.key] = choice
            reasons[line.key], problems = _reason(given.get("reason"))
            if problems:
                errors[f"reason:{line.key}"] = problems
        merged = {**first, **chosen}
        if (exam.referral_derivable and "referral" not in chosen
                and any(chosen[k] != first.get(k, "") for k in chosen)):
            merged["referral"] = ""  # derived again from the settled items by the exam's rule
        clean, item_errors = catalogue.validate_items(screening.exam, merged, screening.resident.sex,
                                                      enabled=extensions.enabled_codes())
        for key, messages in item_errors.items():
            errors.setdefault(key if key in chosen else "-", []).extend(messages)
        if errors:
            raise Invalid(errors)
        now = now_utc()
        staff_id = actor.staff_id
        for line in lines:
            ScreeningDifference.create(screening=screening.id, item=line.key, first_value=line.first,
                                       second_value=line.second, chosen_value=clean.get(line.key, ""),
                                       reason=reasons[line.key], resolved_by=staff_id, at=now)
            audit.record("screening.difference", actor, resident=screening.resident_id,
                         object_type="screening", object_id=screening.id,
                         details={"exam": screening.exam, "item": line.key, "choice": choices[line.key]})
        changes = {}
        if clean != first:
            before = screenings.snapshot(screening)
            after = {**before, "items": clean}
            ScreeningChange.create(screening=screening.id, kind="verify", before=before, after=after,
                                   reason="確認入力（ベリファイ）の相違を用紙で確かめて解決", staff=staff_id, at=now)
            changes = {"items": clean, "referral": catalogue.referral_flag(screening.exam, clean),
                       "pending": catalogue.pending_flag(screening.exam, clean)}
        _confirm(screening, actor, now, **changes)
    return screenings.get(screening.id)
