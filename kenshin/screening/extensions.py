"""Catalogue items beyond the assessment's 別添1 (catalogue.EXTENSIONS): off until turned on.

The city may record only what its 特定個人情報保護評価書 lists (別添1). The catalogue can hold more
— HPV 検査単独法 for cervical screening — marked with the Extension they belong to; such items are
neither shown, keyed, imported nor stored while their Extension is off. An administrator turns one
on by recording the amendment of the assessment that allows it (the day it took effect and the
document), and may turn it off again with a reason; each change is a new ItemExtensionChange row
(the newest per code is the state) and an audit event in the same transaction.

Callers pass `enabled_codes()` to the catalogue (validate_items, fields_with, verified_items).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from models import ItemExtensionChange, Staff, db

from kenshin import audit
from kenshin.access.roles import ADMIN
from kenshin.core.dates import DateError, now_utc, parse_date, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.textinput import clean_text
from kenshin.screening import catalogue

AMENDMENT_MAX = 1000


def enabled_codes() -> frozenset[str]:
    """The codes of the Extensions that are on now (one small query)."""
    from database import prepared  # compiled once: every entry page reads it

    newest: dict[str, bool] = {}
    for code, enabled in prepared("extensions.changes", _changes_query):
        newest[code] = bool(enabled)
    return frozenset(code for code, on in newest.items() if on and code in catalogue.EXTENSIONS)


def _changes_query():
    return (ItemExtensionChange.select(ItemExtensionChange.code, ItemExtensionChange.enabled)
            .order_by(ItemExtensionChange.at, ItemExtensionChange.id).tuples())


@dataclass
class State:
    extension: catalogue.Extension
    exam_name: str
    labels: list[str]  # the items' labels
    enabled: bool
    history: list[ItemExtensionChange]  # newest first

    @property
    def current(self) -> ItemExtensionChange | None:
        return self.history[0] if self.history else None


def states() -> list[State]:
    """Every Extension of the catalogue with its state and history (the administrator's screen)."""
    rows = list(ItemExtensionChange.select(ItemExtensionChange, Staff).join(Staff)
                .order_by(ItemExtensionChange.at.desc(), ItemExtensionChange.id.desc()))
    out = []
    for code, extension in catalogue.EXTENSIONS.items():
        exam = catalogue.get_exam(extension.exam)
        history = [r for r in rows if r.code == code]
        out.append(State(extension, exam.name,
                         [i.label for i in exam.all_fields if i.extension == code],
                         bool(history and history[0].enabled), history))
    return out


def _extension(code: str) -> catalogue.Extension:
    extension = catalogue.EXTENSIONS.get(code)
    if extension is None:
        raise NotFound("評価書の範囲外の項目が見つかりません")
    return extension


def _require_admin(actor: audit.Actor) -> None:
    if ADMIN not in actor.roles:
        raise Refused("評価書の範囲外の項目を有効・無効にできるのはシステム利用管理者だけです")


def turn_on(code: str, *, amended_on, amendment: str, confirmed: bool, actor: audit.Actor,
            today: date | None = None) -> ItemExtensionChange:
    """Turn an Extension on, recording the amendment of the assessment that allows it."""
    extension = _extension(code)
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    day = None
    if isinstance(amended_on, date):
        day = amended_on
    elif not (amended_on or "").strip():
        errors["amended_on"] = [catalogue.REQUIRED]
    else:
        try:
            day = parse_date(amended_on)
        except DateError as problem:
            errors["amended_on"] = [str(problem)]
    if day is not None and day > (today or today_jst()):
        errors["amended_on"] = ["未来の日付です（修正した評価書が効力を持ってから有効にしてください）"]
    text = clean_text(amendment, "amendment", "評価書の修正の記録（文書の版・番号と修正の内容）",
                      AMENDMENT_MAX, errors, multiline=True)
    if not confirmed:
        errors["confirmed"] = ["修正が上の事項をすべて含むことを確認してください"]
    if errors:
        raise Invalid(errors)
    with db.atomic():
        if code in enabled_codes():
            raise Refused("すでに有効です")
        row = ItemExtensionChange.create(code=code, enabled=True, amended_on=day, amendment=text,
                                         staff=actor.staff_id, at=now_utc())
        audit.record("catalogue.extension_on", actor, object_type="item_extension", object_id=code,
                     details={"exam": extension.exam, "amended_on": day.isoformat()})
    return row


def turn_off(code: str, *, reason: str, actor: audit.Actor) -> ItemExtensionChange:
    """Turn an Extension off again (records keep what they hold; no new value is accepted)."""
    extension = _extension(code)
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    text = clean_text(reason, "reason", "無効にする理由", AMENDMENT_MAX, errors, multiline=True)
    if errors:
        raise Invalid(errors)
    with db.atomic():
        if code not in enabled_codes():
            raise Refused("すでに無効です")
        row = ItemExtensionChange.create(code=code, enabled=False, amended_on=None, amendment=text,
                                         staff=actor.staff_id, at=now_utc())
        audit.record("catalogue.extension_off", actor, object_type="item_extension", object_id=code,
                     details={"exam": extension.exam})
    return row
