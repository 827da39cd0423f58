"""Cooperating medical institutions (がん検診等協力医療機関): add, (de)activate, history, and the file.

Institutions are never deleted, only marked inactive; every change keeps before/after and
who or which import made it (InstitutionChange).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from peewee import JOIN

from models import ImportBatch, Institution, InstitutionChange, Staff, db

from kenshin import audit
from kenshin.imports import csvimport
from kenshin.imports import history as import_history
from kenshin.imports import rows as row_preview
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.textinput import ascii_text

CODE = re.compile(r"[0-9]{10}", re.A)
POSTAL = re.compile(r"([0-9]{3})-?([0-9]{4})", re.A)
PHONE = re.compile(r"[0-9()\-]{1,20}", re.A)
NAME_MAX = 100
ADDRESS_MAX = 200
# The items of an institution in display order, with their Japanese labels.
ITEMS = {"name": "医療機関名", "postal_code": "郵便番号", "address": "住所", "phone": "電話番号",
         "active": "参加状況"}
CONTACT = ("postal_code", "address", "phone")


def _text(value) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").replace("\u3000", " ").split())


def clean_code(value) -> tuple[str, list[str]]:
    code = ascii_text(value)
    if not code:
        return "", ["必須です"]
    if not CODE.fullmatch(code):
        return "", ["医療機関コードは10桁の数字です"]
    return code, []


def clean_field(key: str, value) -> tuple[str | bool | None, list[str]]:
    """One item's stored value (None for a blank contact item) or the reasons it is invalid."""
    if key == "name":
        text = _text(value)
        if not text:
            return None, ["必須です"]
        if len(text) > NAME_MAX:
            return None, [f"{NAME_MAX}文字以内です"]
        return text, []
    if key == "postal_code":
        text = ascii_text(value)
        if not text:
            return None, []
        m = POSTAL.fullmatch(text)
        if not m:
            return None, ["郵便番号は NNN-NNNN または7桁の数字です"]
        return f"{m[1]}-{m[2]}", []
    if key == "address":
        text = _text(value)
        if not text:
            return None, []
        if len(text) > ADDRESS_MAX:
            return None, [f"{ADDRESS_MAX}文字以内です"]
        return text, []
    if key == "phone":
        text = ascii_text(value).replace(" ", "")
        if not text:
            return None, []
        if not PHONE.fullmatch(text) or not any(c.isdigit() for c in text):
            return None, ["電話番号は数字・ハイフン・括弧で20文字以内です"]
        return text, []
    if key == "active":
        text = ascii_text(value)
        if text == "":
            return None, []
        if text not in ("0", "1"):
            return None, ["1（参加）または 0（終了）です"]
        return text == "1", []
    raise KeyError(key)


def _display(key: str, value) -> str | None:
    if value is None:
        return None
    if key == "active":
        return "1" if value else "0"
    return str(value)


def all_institutions(active_only: bool = False) -> list[Institution]:
    query = Institution.select().order_by(Institution.code)
    if active_only:
        query = query.where(Institution.active == True)  # noqa: E712 - peewee expression
    return list(query)


def get(institution_id: int) -> Institution:
    found = Institution.get_or_none(Institution.id == institution_id)
    if found is None:
        raise NotFound("医療機関が見つかりません")
    return found


def history(institution_id: int) -> list[InstitutionChange]:
    return list(InstitutionChange.select(InstitutionChange, Staff, ImportBatch)
                .join(Staff, join_type=JOIN.LEFT_OUTER, on=(InstitutionChange.staff == Staff.id))
                .switch(InstitutionChange)
                .join(ImportBatch, join_type=JOIN.LEFT_OUTER, on=(InstitutionChange.batch == ImportBatch.id))
                .where(InstitutionChange.institution == institution_id)
                .order_by(InstitutionChange.at.desc(), InstitutionChange.id.desc()))


def add(values: Mapping[str, str | None], actor: audit.Actor) -> Institution:
    """Register an institution from the admin screen (code, name, contact); audited."""
    errors: dict[str, list[str]] = {}
    code, problems = clean_code(values.get("institution_code"))
    if problems:
        errors["institution_code"] = problems
    clean = {}
    for key in ("name", *CONTACT):
        value, problems = clean_field(key, values.get(key))
        if problems:
            errors[key] = problems
        clean[key] = value
    if not errors and Institution.select().where(Institution.code == code).exists():
        errors["institution_code"] = ["この医療機関コードはすでに登録されています"]
    if errors:
        raise Invalid(errors)
    with db.atomic():
        now = now_utc()
        institution = Institution.create(code=code, active=True, updated_at=now, **clean)
        _changes(institution, {k: None for k in ITEMS}, {**clean, "active": True}, now,
                 staff=actor.staff_id)
        audit.record("institution.create", actor, object_type="institution", object_id=institution.id,
                     details={"code": code})
    return institution


def _changes(institution, before: Mapping, after: Mapping, at, *, staff=None, batch=None) -> list[str]:
    """Write one InstitutionChange per differing item; return the keys that changed."""
    changed = []
    for key in ITEMS:
        if key not in after:
            continue
        old, new = _display(key, before.get(key)), _display(key, after.get(key))
        if old != new:
            changed.append(key)
            InstitutionChange.create(institution=institution.id, item=key, before=old, after=new,
                                     staff=staff, batch=batch, at=at)
    return changed


def set_active(institution_id: int, active: bool, actor: audit.Actor) -> Institution:
    """Mark an institution as no longer (or again) participating; never deleted."""
    with db.atomic():
        institution = get(institution_id)
        if institution.active == active:
            raise Refused("すでにその状態です")
        now = now_utc()
        _changes(institution, {"active": institution.active}, {"active": active}, now,
                 staff=actor.staff_id)
        Institution.update(active=active, updated_at=now).where(Institution.id == institution.id).execute()
        audit.record("institution.activate" if active else "institution.deactivate", actor,
                     object_type="institution", object_id=institution.id,
                     details={"code": institution.code})
    return get(institution_id)


# --- the file (FORMATS.md "Cooperating medical institutions") ------------------------------------

ACTION = "import.institutions"
KIND = "institutions"
COLUMNS = csvimport.Columns(required=("institution_code", "name"),
                            optional=("postal_code", "address", "phone", "active"))
COLUMN_LABELS = {"institution_code": "医療機関コード", **ITEMS}


def _phone(value: str) -> str:
    text = ascii_text(value).replace(" ", "")
    if not PHONE.fullmatch(text) or not any(c.isdigit() for c in text):
        raise csvimport.CellError("電話番号は数字・ハイフン・括弧で20文字以内です")
    return text


def _active(value: str) -> bool:
    text = ascii_text(value)
    if text not in ("0", "1"):
        raise csvimport.CellError("1（参加）または 0（終了）で入力してください")
    return text == "1"


@dataclass
class _Row:
    line: int
    code: str
    values: dict  # the columns present in the header; blank contact cells are None


def _check_rows(reader: csvimport.Reader) -> list[_Row]:
    problems, index = reader.problems, reader.index
    code = csvimport.digits(10, 10, "医療機関コード")
    name = csvimport.text(NAME_MAX, "医療機関名")
    address = csvimport.text(ADDRESS_MAX, "住所")
    seen: set[str] = set()
    rows = []
    for record in reader.records():
        row = csvimport.Row(record, problems, index)
        key = row.take("institution_code", code, required=True)
        if key is not None and key in seen:
            row.error("institution_code",
                      "この医療機関コードは、このファイルのもっと前の行にもあります（後の行を無効とします）")
        values = {
            "name": row.take("name", name, required=True),
            "postal_code": row.take("postal_code", csvimport.postal_code),
            "address": row.take("address", address),
            "phone": row.take("phone", _phone),
            "active": row.take("active", _active),
        }
        if key is not None:
            seen.add(key)
        if row.ok:
            kept = {k: v for k, v in values.items() if v is not csvimport.ABSENT}
            if kept.get("active", "x") is None:
                del kept["active"]  # a blank cell counts as absent
            rows.append(_Row(record.line, key, kept))
    return rows


def _plan(rows: list[_Row], shown: row_preview.RowList | None = None
          ) -> tuple[list[_Row], list[tuple[Institution, dict]], dict[str, int]]:
    known = {i.code: i for i in Institution.select()}
    counts = {"new": 0, "changed": 0, "unchanged": 0}
    new, changed = [], []
    shown = shown if shown is not None else row_preview.RowList(cap=0)
    for row in rows:
        current = known.get(row.code)
        if current is None:
            counts["new"] += 1
            new.append(row)
            shown.add(row.line, row_preview.NEW, person=row.values.get("name") or "", subject=row.code)
            continue
        diff = {k: v for k, v in row.values.items() if getattr(current, k) != v}
        if diff:
            counts["changed"] += 1
            changed.append((current, diff))
            shown.add(row.line, row_preview.CHANGED, person=current.name, subject=row.code,
                      note="、".join(ITEMS[k] for k in diff))
        else:
            counts["unchanged"] += 1
            shown.add(row.line, row_preview.UNCHANGED, person=current.name, subject=row.code)
    return new, changed, counts


def _write(new: list[_Row], changed, counts, source: csvimport.Source, actor: audit.Actor) -> int | None:
    if not new and not changed:
        return None
    now = now_utc()
    batch = ImportBatch.create(kind=KIND, file_name=source.file_name, sha256=source.sha256,
                               actor=actor.label, at=now, counts=counts)
    for row in new:
        values = {"postal_code": None, "address": None, "phone": None, "active": True, **row.values}
        institution = Institution.create(code=row.code, updated_at=now, **values)
        _changes(institution, {k: None for k in ITEMS}, values, now, batch=batch.id)
    for current, diff in changed:
        _changes(current, {k: getattr(current, k) for k in diff}, diff, now, batch=batch.id)
        Institution.update(updated_at=now, **diff).where(Institution.id == current.id).execute()
    return batch.id


def _result(source: csvimport.Source) -> csvimport.Result:
    return csvimport.Result(KIND, source.file_name, source.sha256, labels=COLUMN_LABELS,
                            encoding=source.encoding, encoding_detected=source.detected)


def check(source: csvimport.Source, *, problem_limit: int | None = None) -> csvimport.Result:
    """Read and check the file and say what each row would do; write nothing (the screen's preview)."""
    reader = csvimport.Reader(source, COLUMNS, problem_limit=problem_limit)
    rows = [] if reader.refused else _check_rows(reader)
    result = _result(source)
    shown = row_preview.RowList()
    _new, _changed, counts = _plan(rows, shown)
    if reader.problems:
        result.set_problems(reader.problems)
        result.rows = row_preview.with_problems(shown.rows, result.problems, COLUMN_LABELS)
    else:
        result.counts, result.rows = counts, shown.rows
    return result


def preview(source: csvimport.Source, actor: audit.Actor, *, problem_limit: int | None = None) -> csvimport.Result:
    """Check an uploaded file; write nothing but the audit event (and, for a file with problems,
    its line in the import history: the attempt ends there)."""
    csvimport.record_upload(KIND, source, actor)
    result = check(source, problem_limit=problem_limit)
    with db.atomic():
        audit.record(ACTION if result.problems else ACTION + ".preview", actor, object_type="file",
                     object_id=source.sha256, outcome=result.outcome if result.problems else "ok",
                     details=csvimport.audit_details(result, source, {"stage": "preview"}))
        if result.problems:
            import_history.record(KIND, result, source, actor)
    return result


def import_file(source: csvimport.Source, actor: audit.Actor, *, problem_limit: int | None = None
                ) -> csvimport.Result:
    """Import the institutions file: all or nothing, idempotent, one audit event either way."""
    reader = csvimport.Reader(source, COLUMNS, problem_limit=problem_limit)
    rows = [] if reader.refused else _check_rows(reader)
    result = _result(source)
    with db.atomic():
        if reader.problems:
            result.set_problems(reader.problems)
        else:
            new, changed, counts = _plan(rows)
            result.counts = counts
            result.batch_id = _write(new, changed, counts, source, actor)
            result.written = result.batch_id is not None
        audit.record(ACTION, actor, object_type="import_batch" if result.batch_id else "file",
                     object_id=result.batch_id or source.sha256, outcome=result.outcome,
                     details=csvimport.audit_details(result, source))
        import_history.record(KIND, result, source, actor)
    return result
