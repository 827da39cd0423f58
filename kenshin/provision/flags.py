"""The 自動応答不可 flag per item: a flagged item is never answered automatically.

Defaults: `results` flagged, `history` not. A change is a new ProvisionSetting row (who, when,
why); the newest row per item holds, the older ones are its history. Every change is audited.
"""
from __future__ import annotations

from models import ProvisionSetting, Staff, db

from kenshin import audit
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid, Refused

from .content import ITEMS

DEFAULTS = {"history": False, "results": True}
REASON_MAX = 400


def current() -> dict[str, bool]:
    """item → carries the 自動応答不可 flag."""
    flags = dict(DEFAULTS)
    for row in ProvisionSetting.select().order_by(ProvisionSetting.at, ProvisionSetting.id):
        flags[row.item] = row.no_auto_answer
    return flags


def history() -> list[ProvisionSetting]:
    return list(ProvisionSetting.select(ProvisionSetting, Staff).join(Staff)
                .order_by(ProvisionSetting.at.desc(), ProvisionSetting.id.desc()))


def change(item: str, no_auto_answer: bool, reason: str, actor: audit.Actor) -> ProvisionSetting:
    """Set or clear an item's flag, with a required reason; audited in the same transaction."""
    errors: dict[str, list[str]] = {}
    if item not in ITEMS:
        errors["item"] = ["項目が不正です"]
    reason = " ".join((reason or "").split())
    if not reason:
        errors["reason"] = ["変更の理由を入力してください"]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"理由は{REASON_MAX}文字以内です"]
    if errors:
        raise Invalid(errors)
    if actor.staff_id is None:
        raise Refused("設定の変更は職員が画面から行います")
    with db.atomic():
        before = current()[item]
        if before == no_auto_answer:
            raise Refused("すでにその設定です")
        row = ProvisionSetting.create(item=item, no_auto_answer=no_auto_answer, reason=reason,
                                      staff=actor.staff_id, at=now_utc())
        audit.record("provision.setting", actor, object_type="provision_setting", object_id=row.id,
                     details={"item": item, "no_auto_answer": no_auto_answer, "before": before})
    return row
