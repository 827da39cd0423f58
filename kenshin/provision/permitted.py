"""The permitted-query list (照会許可用照合リスト) the network publishes: (requester, procedure, item).

`flask --app app import-permitted PATH` reads the whole published list (columns
`requester,procedure,item`) under FORMATS.md's general import rules: all or nothing, idempotent,
one audit event per attempt. The file is the list as it now stands: a line it no longer has is
marked removed (kept, with the import that removed it), never deleted.
Summary: `new=N removed=N unchanged=N`.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from peewee import JOIN

from models import ImportBatch, PermittedQuery, db

from kenshin import audit
from kenshin.imports import csvimport
from kenshin.core.dates import now_utc
from kenshin.core.textinput import ascii_text

from .content import ITEMS

ACTION = "import.permitted"
KIND = "permitted"
COLUMNS = csvimport.Columns(required=("requester", "procedure", "item"), optional=())
PROCEDURE_MAX = 200


def clean_procedure(value: str) -> str:
    """事務 as compared: NFKC, spaces folded (the list and the queries are read the same way)."""
    return " ".join(unicodedata.normalize("NFKC", value or "").split())


def _procedure(value: str) -> str:
    text = clean_procedure(value)
    if len(text) > PROCEDURE_MAX:
        raise csvimport.CellError(f"事務は{PROCEDURE_MAX}文字以内です")
    return text


def _item(value: str) -> str:
    text = ascii_text(value)
    if text not in ITEMS:
        raise csvimport.CellError("item は history または results です")
    return text


requester_code = csvimport.digits(5, 6, "照会元の地方公共団体コード")


@dataclass
class _Row:
    line: int
    key: tuple[str, str, str]


def _check_rows(reader: csvimport.Reader) -> list[_Row]:
    rows, seen = [], set()
    for record in reader.records():
        row = csvimport.Row(record, reader.problems, reader.index)
        key = (row.take("requester", requester_code, required=True),
               row.take("procedure", _procedure, required=True),
               row.take("item", _item, required=True))
        if row.ok and key in seen:
            row.error(csvimport.WHOLE_ROW,
                      "同じ照会元・事務・項目の行が、このファイルのもっと前にもあります（後の行を無効とします）")
        if row.ok:
            seen.add(key)
            rows.append(_Row(record.line, key))
    return rows


def active() -> list[PermittedQuery]:
    """The list as it stands, for the screen."""
    return list(PermittedQuery.select(PermittedQuery, ImportBatch)
                .join(ImportBatch, on=(PermittedQuery.added_batch == ImportBatch.id))
                .where(PermittedQuery.removed_batch.is_null())
                .order_by(PermittedQuery.requester, PermittedQuery.procedure, PermittedQuery.item))


def removed(limit: int = 200) -> list[PermittedQuery]:
    """Lines later lists dropped, newest first (kept as history)."""
    Removed = ImportBatch.alias()
    return list(PermittedQuery.select(PermittedQuery, Removed)
                .join(Removed, JOIN.INNER, on=(PermittedQuery.removed_batch == Removed.id))
                .order_by(Removed.at.desc(), PermittedQuery.requester).limit(limit))


def missing(requester: str, procedure: str, items: list[str]) -> list[str]:
    """The requested items that are NOT on the list for this requester and procedure."""
    listed = {row.item for row in PermittedQuery.select(PermittedQuery.item).where(
        (PermittedQuery.requester == requester) & (PermittedQuery.procedure == procedure)
        & PermittedQuery.removed_batch.is_null())}
    return [item for item in items if item not in listed]


def import_file(source: csvimport.Source, actor: audit.Actor) -> csvimport.Result:
    """Import the published list: all or nothing, idempotent, one audit event either way."""
    reader = csvimport.Reader(source, COLUMNS)
    rows = [] if reader.refused else _check_rows(reader)
    result = csvimport.Result(KIND, source.file_name, source.sha256)
    with db.atomic():
        if reader.problems:
            result.problems = reader.problems.sorted()
        else:
            current = {(p.requester, p.procedure, p.item): p for p in PermittedQuery.select()
                       .where(PermittedQuery.removed_batch.is_null())}
            wanted = {row.key for row in rows}
            new = [row.key for row in rows if row.key not in current]
            gone = [p for key, p in current.items() if key not in wanted]
            result.counts = {"new": len(new), "removed": len(gone),
                             "unchanged": len(wanted) - len(new)}
            if new or gone:
                batch = ImportBatch.create(kind=KIND, file_name=source.file_name, sha256=source.sha256,
                                           actor=actor.label, at=now_utc(), counts=result.counts)
                for requester, procedure, item in new:
                    PermittedQuery.create(requester=requester, procedure=procedure, item=item,
                                          added_batch=batch.id)
                if gone:
                    (PermittedQuery.update(removed_batch=batch.id)
                     .where(PermittedQuery.id.in_([p.id for p in gone])).execute())
                result.batch_id, result.written = batch.id, True
        audit.record(ACTION, actor, object_type="import_batch" if result.batch_id else "file",
                     object_id=result.batch_id or source.sha256, outcome=result.outcome,
                     details=csvimport.audit_details(result, source))
    return result
