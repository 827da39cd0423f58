"""The reconciliation queue (突合待ち): forms and file rows that could not be matched to one person.

A keyed form is parked by a clerk (with the matching reason); a file row is queued by the import.
A clerk then assigns the item to a person — the screening is checked against every rule again
and recorded — or rejects it with a reason. Everything is audited in the same transaction.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from models import ImportBatch, QueueItem, Resident, db

from kenshin import audit
from kenshin.screening import screenings
from kenshin.core.dates import now_utc, parse_date, today_jst
from kenshin.core.ids import parse_id
from kenshin.core.textinput import ascii_text
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.screening.matching import IDENTITY_LABELS, FormIdentity, Person, candidates, disagreements

OPEN, ASSIGNED, REJECTED = "open", "assigned", "rejected"
STATUS_LABELS = {OPEN: "未処理", ASSIGNED: "割当済", REJECTED: "却下"}
SOURCE_LABELS = {"keyed": "画面入力（保留）", "file": "医療機関ファイル"}
REASON_MAX = 200


def queue_key(identity: FormIdentity, exam: str, exam_date: date, target: str) -> tuple:
    """What makes two waiting items the same (FORMATS.md "Duplicates" for rows that would be queued)."""
    return (identity.seiri_no or None, identity.atena_no or None, identity.kana_key,
            identity.birth_date, identity.sex, exam, exam_date, target or "")


def waiting(identity: FormIdentity, exam: str, exam_date: date, target: str) -> QueueItem | None:
    """An open queue item for the same form, if one is already waiting."""
    seiri = identity.seiri_no or None
    atena = identity.atena_no or None
    return (QueueItem.select().where(
        (QueueItem.status == OPEN) & (QueueItem.kana_key == identity.kana_key)
        & (QueueItem.birth_date == identity.birth_date) & (QueueItem.sex == identity.sex)
        & (QueueItem.exam == exam) & (QueueItem.exam_date == exam_date)
        & (QueueItem.target == (target or ""))
        & (QueueItem.seiri_no.is_null() if seiri is None else QueueItem.seiri_no == seiri)
        & (QueueItem.atena_no.is_null() if atena is None else QueueItem.atena_no == atena))
        .first())


def raw_of(identity: FormIdentity, checked: screenings.Checked) -> dict:
    """What the queue keeps of a form: the identity as written and the checked screening."""
    raw = identity.as_raw()
    raw.update({"exam": checked.exam, "exam_date": checked.exam_date.isoformat(),
                "institution_code": checked.institution_code, "setting": screenings.setting_text(checked.setting),
                "items": checked.items})
    return raw


def row_fields(identity: FormIdentity, checked: screenings.Checked, reason: str) -> dict:
    """The QueueItem columns for one form (shared by parking and by imports' bulk inserts)."""
    return {
        "raw": raw_of(identity, checked), "reason": reason[:REASON_MAX], "exam": checked.exam,
        "target": checked.target, "exam_date": checked.exam_date,
        "birth_date": identity.birth_date, "sex": identity.sex, "kana_key": identity.kana_key,
        "seiri_no": identity.seiri_no or None, "atena_no": identity.atena_no or None,
    }


def park(identity: FormIdentity, *, exam, exam_date, institution, setting,
         items: Mapping[str, str | None], reason: str, actor: audit.Actor) -> QueueItem:
    """Park a keyed form in the queue with its reason (its items must already be valid)."""
    checked, errors = screenings.check(exam=exam, exam_date=exam_date, institution=institution,
                                       setting=setting, items=items, sex=identity.sex,
                                       birth_date=identity.birth_date)
    if errors:
        raise Invalid(errors)
    reason = (reason or "").strip() or "照合できませんでした"
    with db.atomic():
        same = waiting(identity, checked.exam, checked.exam_date, checked.target)
        if same is not None:
            raise Refused(f"同じ用紙がすでに突合待ちにあります（No.{same.id}）")
        item = QueueItem.create(source="keyed", created_by=actor.staff_id, created_at=now_utc(),
                                **row_fields(identity, checked, reason))
        audit.record("queue.park", actor, object_type="queue_item", object_id=item.id,
                     details={"source": "keyed", "exam": checked.exam, "reason": item.reason})
    return item


def get(item_id: int) -> QueueItem:
    item = QueueItem.get_or_none(QueueItem.id == item_id)
    if item is None:
        raise NotFound("突合待ちの項目が見つかりません")
    return item


def identity_of(item: QueueItem) -> FormIdentity:
    raw = item.raw
    return FormIdentity(raw.get("seiri_no", ""), raw.get("atena_no", ""), raw.get("name_kana", ""),
                        item.kana_key, item.birth_date, item.sex, raw.get("name", ""))


def open_items(actor: audit.Actor, limit: int = 200, offset: int = 0) -> list[QueueItem]:
    """Open items, oldest first (nothing should wait unnoticed); the list shows what the forms
    say about people, so viewing it is audited."""
    items = list(QueueItem.select().where(QueueItem.status == OPEN)
                 .order_by(QueueItem.created_at, QueueItem.id).offset(offset).limit(limit))
    with db.atomic():
        audit.record("queue.view", actor, object_type="queue_item",
                     details={"list": True, "offset": offset, "count": len(items)})
    return items


def open_count() -> int:
    return QueueItem.select().where(QueueItem.status == OPEN).count()


@dataclass
class Detail:
    item: QueueItem
    identity: FormIdentity
    candidates: list


def detail(item_id: int, actor: audit.Actor) -> Detail:
    """One queue item with the people offered for it; viewing them is audited."""
    item = get(item_id)
    identity = identity_of(item)
    found_id = None
    if item.status == OPEN and identity.has_identifier:
        from kenshin.screening.matching import match  # the number-named person leads the candidates
        found_id = match(identity).found_id
    offered = candidates(identity, found_id=found_id, near=True) if item.status == OPEN else []
    with db.atomic():
        audit.record("queue.view", actor, object_type="queue_item", object_id=item.id,
                     details={"candidates": [c.resident.id for c in offered]})
    return Detail(item, identity, offered)


def chosen_person(resident_id: str | None, atena_no: str | None, outside: bool = False) -> int:
    """The person a clerk chose for a form: a candidate's id or a typed 宛名番号. Only people in
    the programme, unless `outside` (a supervisor's decision, checked again by assign); a
    number naming nobody in reach gets the same answer as one naming nobody at all."""
    from kenshin.registry.residents import get_in_programme, programme_condition

    chosen = (resident_id or "").strip()
    atena = ascii_text(atena_no or "")
    if chosen:
        number = parse_id(chosen)
        try:
            if number is None:
                raise NotFound("resident")
            return (Resident.get_by_id(number) if outside else get_in_programme(number)).id
        except (NotFound, Resident.DoesNotExist):
            raise Invalid({"resident_id": ["候補から選び直してください"]}) from None
    if not atena:
        raise Invalid({"resident_id": ["割り当てる住民を選ぶか、宛名番号を入力してください"]})
    query = Resident.select(Resident.id).where(Resident.atena_no == atena)
    if not outside:
        query = query.where(programme_condition(today_jst()))
    person = query.first()
    if person is None:
        raise Invalid({"atena_no": ["この宛名番号の住民はいません"]})
    return person.id


def assign(item_id: int, resident_id: int, actor: audit.Actor, note: str = "",
           status: str | None = None, outside: bool = False) -> screenings.Recorded:
    """Record the waiting form against a person chosen by the clerk (every rule re-checked).

    A parked paper form is recorded pending (未確定) until a second keying agrees; a clinic-file
    row confirmed (screenings.record decides by source). Only people in the programme; with
    `outside`, a supervisor's explicit decision (its reason is the note), anyone on the
    registry, audited as `resident.outside_programme` (screenings.record)."""
    from kenshin.registry.residents import get_in_programme

    with db.atomic():
        item = get(item_id)
        if item.status != OPEN:
            raise Refused("この項目はすでに処理されています")
        try:
            person = get_in_programme(resident_id)
            outside = False  # in the programme after all: no decision to record
        except NotFound:
            person = Resident.get_or_none(Resident.id == resident_id) if outside else None
        if person is None:
            raise NotFound("住民が見つかりません")
        identity = identity_of(item)
        differs = disagreements(identity, Person(person.id, person.birth_date, person.sex,
                                                 person.kana_key))
        if differs and not (note or "").strip():
            raise Invalid({"note": ["住民記録と一致しない項目（" + "・".join(
                IDENTITY_LABELS[d] for d in differs) + "）があります。用紙を確かめ、割り当ての理由を入力してください"]})
        raw = item.raw
        batch = ImportBatch.get_by_id(item.batch_id) if item.batch_id else None
        recorded = screenings.record(
            person, exam=raw["exam"], exam_date=parse_date(raw["exam_date"]),
            institution=raw["institution_code"], setting=raw["setting"], items=raw["items"],
            actor=actor, source=item.source, status=status, batch=batch,
            audit_details={"queue_item": item.id}, keyed_by=item.created_by_id,
            outside=screenings.OutsideProgramme(note) if outside else None)
        (QueueItem.update(status=ASSIGNED, resolved_by=actor.staff_id, resolved_at=now_utc(),
                          resolution=(note or "").strip()[:400] or None,
                          screening=recorded.screening.id)
         .where(QueueItem.id == item.id).execute())
        audit.record("queue.assign", actor, resident=person.id, object_type="queue_item",
                     object_id=item.id,
                     details={"screening": recorded.screening.id, "differs": list(differs)})
    return recorded


def reject(item_id: int, reason: str, actor: audit.Actor) -> QueueItem:
    """Close a waiting item without recording it (not a screening of ours, a test sheet ...)."""
    text = (reason or "").strip()
    if not text:
        raise Invalid({"reason": ["却下の理由を入力してください"]})
    if len(text) > 400:
        raise Invalid({"reason": ["理由は400文字以内です"]})
    with db.atomic():
        item = get(item_id)
        if item.status != OPEN:
            raise Refused("この項目はすでに処理されています")
        (QueueItem.update(status=REJECTED, resolved_by=actor.staff_id, resolved_at=now_utc(),
                          resolution=text).where(QueueItem.id == item.id).execute())
        audit.record("queue.reject", actor, object_type="queue_item", object_id=item.id,
                     details={"exam": item.exam})
    return get(item_id)
