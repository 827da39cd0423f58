"""The resident extract (住民記録連携ファイル): check a whole file, then write it in one transaction.

FORMATS.md "Resident extract" is the contract. The work runs in three steps:
1. `_check_rows` reads and checks every record on its own (no database);
2. `_plan` compares the rows with what is stored (one query into a dict) and checks the rules
   that need the stored record (a 消除事由 needs a 消除日, dates in order) — still no writes;
3. `_write` inserts the new people, updates the changed ones, keeps each changed item as
   history, and records the audit event — all in one transaction.
A file with any problem writes its audit event and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import database
from models import ImportBatch, Resident, db

from kenshin import audit
from kenshin.imports import csvimport, history
from kenshin.imports import rows as row_preview
from kenshin.imports.csvimport import ABSENT, INVALID, Columns, Problems, Reader, Row, Source
from kenshin.core.dates import format_wareki, now_utc
from kenshin.core import labels
from kenshin.core.kana import kana_key
from kenshin.core.names import name_key

ACTION = "import.residents"
KIND = "residents"

COLUMNS = Columns(
    required=("atena_no", "name", "name_kana", "sex", "birth_date", "address"),
    optional=("postal_code", "resident_since", "removed_on", "removal_reason", "togo_atena_no"),
)
#: each column by its Japanese name (the screens say 「3行目 生年月日: …」)
COLUMN_LABELS = {"atena_no": "宛名番号", "name": "氏名", "name_kana": "氏名の振り仮名", "sex": "性別",
                 "birth_date": "生年月日", "postal_code": "郵便番号", "address": "住所",
                 "resident_since": "住民となった日", "removed_on": "消除日", "removal_reason": "消除事由",
                 "togo_atena_no": "団体内統合宛名番号"}
REMOVAL_REASONS = {"転出": "転出", "死亡": "死亡", "職権消除": "職権消除", "その他": "その他"}
NAME_MAX = 60
ADDRESS_MAX = 200  # the column's size

#: the registry items in file order; each is a column and a Resident field of the same name
ITEMS = ("name", "name_kana", "sex", "birth_date", "postal_code", "address", "resident_since",
         "removed_on", "removal_reason", "togo_atena_no")
_DATE_ITEMS = ("birth_date", "resident_since", "removed_on")
# positions in an item tuple
_I = {name: i for i, name in enumerate(ITEMS)}
_BIRTH, _SINCE, _REMOVED, _REASON = _I["birth_date"], _I["resident_since"], _I["removed_on"], _I["removal_reason"]
_NAME, _KANA, _SEX = _I["name"], _I["name_kana"], _I["sex"]
_TOGO = _I["togo_atena_no"]


@dataclass
class _Checked:
    """One record after the checks of its own cells: values as stored (dates ISO text), ABSENT
    for an optional column left out of the header, INVALID for a cell with a problem (then ok
    is False: the record is only checked further, never written)."""

    line: int
    atena_no: str | None
    values: tuple
    ok: bool = True


def _check_rows(reader: Reader, today: date, keep: bool = True) -> tuple[list[_Checked], int]:
    """Check every record on its own; later rows repeating an atena_no are the invalid ones.

    Returns the rows kept for the comparison with the stored records, and how many rows were
    read. A row is not kept when `keep` is False (the file alone: the maintainer's preview) or
    once the file has more problems than are kept (it is rejected already, and a hostile file
    must not grow the worker): its own rules between items still run, so its problems count."""
    problems, index = reader.problems, reader.index
    read_date = csvimport.DateReader(today, iso=True)
    sex = csvimport.code(labels.SEXES, "性別")
    name = csvimport.text(NAME_MAX, "氏名")
    address = csvimport.text(ADDRESS_MAX, "住所", join_lines=True)
    reason = csvimport.code(REMOVAL_REASONS, "消除事由")
    togo = csvimport.digits(1, 15, "団体内統合宛名番号")
    seen: set[str] = set()
    seen_togo: set[str] = set()
    checked: list[_Checked] = []
    read = 0
    for record in reader.records():
        read += 1
        row = Row(record, problems, index)
        key = row.take("atena_no", csvimport.atena_no, required=True)
        if key is not None and key in seen:
            row.error("atena_no", "この宛名番号は、このファイルのもっと前の行にもあります（後の行を無効とします）")
        values = (
            row.take("name", name, required=True),
            row.take("name_kana", csvimport.kana, required=True),
            row.take("sex", sex, required=True),
            row.take("birth_date", read_date, required=True),
            row.take("postal_code", csvimport.postal_code),
            row.take("address", address, required=True),
            row.take("resident_since", read_date),
            row.take("removed_on", read_date),
            row.take("removal_reason", reason),
            row.take("togo_atena_no", togo),
        )
        if values[_TOGO] and values[_TOGO] in seen_togo:
            row.error("togo_atena_no", "この団体内統合宛名番号は、このファイルのもっと前の行にもあります"
                                       "（後の行を無効とします）")
        elif values[_TOGO]:
            seen_togo.add(values[_TOGO])
        if key is not None:
            seen.add(key)
        if row.bad:  # the rules between cells still run on the cells that are fine
            values = tuple(INVALID if column in row.bad else v for column, v in zip(ITEMS, values))
        one = _Checked(record.line, key, values, row.ok)
        if keep and not problems.full:
            checked.append(one)
        else:
            _cross_checks(one, _merge(values, None), problems)
    return checked, read


def _merge(new: tuple, stored: tuple | None) -> tuple:
    """The record as it will be: the row's values, the stored ones where a column was left out."""
    if stored is None:
        return tuple(None if v is ABSENT else v for v in new)
    return tuple(s if v is ABSENT else v for v, s in zip(new, stored))


def _cross_checks(row: _Checked, merged: tuple, problems: Problems) -> bool:
    """The rules between items, on the record as it will be stored. The column named is the
    one on the row (when a value comes from the stored record, the other one)."""
    values, ok = row.values, True

    def blame(own: int, other: int) -> str:
        return ITEMS[own] if values[own] is not ABSENT else ITEMS[other]

    birth, since, removed, reason = merged[_BIRTH], merged[_SINCE], merged[_REMOVED], merged[_REASON]
    if INVALID in (birth, since, removed, reason):
        # a cell with a problem of its own: only the rules it is not part of
        birth, since, removed, reason = (None if v is INVALID else v for v in (birth, since, removed, reason))
        if merged[_REMOVED] is INVALID:
            reason = None  # whether a 消除日 is there is unknown
    # ISO text compares as the dates do
    if since and birth and since < birth:
        problems.add(row.line, blame(_SINCE, _BIRTH), "住民となった日が生年月日より前です")
        ok = False
    if removed and birth and removed < birth:
        problems.add(row.line, blame(_REMOVED, _BIRTH), "消除日が生年月日より前です")
        ok = False
    if removed and since and removed < since:
        problems.add(row.line, blame(_REMOVED, _SINCE), "消除日が住民となった日より前です")
        ok = False
    if reason and not removed:
        if values[_REASON] is not ABSENT:
            where = "この行" if values[_REMOVED] is not ABSENT else "この行にも登録済みの記録にも"
            problems.add(row.line, "removal_reason", f"消除日のない消除事由です（{where}消除日がありません）")
        else:
            problems.add(row.line, "removed_on", "登録済みの消除事由があるため消除日を空にできません"
                                                 "（消除事由の列も空にしてください）")
        ok = False
    return ok


# --- the plan: what will change ------------------------------------------------------------------

_STORED_FIELDS = (Resident.id, Resident.atena_no, *(getattr(Resident, n) for n in ITEMS))


def _load_stored() -> dict[str, tuple]:
    """Every stored person as atena_no → (id, item values as text), in one query."""
    query = Resident.select(*_STORED_FIELDS)
    sql, params = query.sql()
    stored = {}
    for row in db.execute_sql(sql, params):
        values = [csvimport.iso(v) for v in row[2:]]
        values[_SEX] = str(values[_SEX])
        stored[row[1]] = (row[0], tuple(values))
    return stored


def _togo_holders(rows: list[_Checked], stored: dict[str, tuple]) -> dict[str, str]:
    """団体内統合宛名番号 → the atena_no that will hold it once the file is in, for the numbers
    the file does not give to someone else (a number moving between two people in one file is
    fine: the old holder's row clears or changes it)."""
    in_file = {row.atena_no: row.values[_TOGO] for row in rows if row.atena_no is not None}
    holders = {}
    for atena_no, (_, values) in stored.items():
        togo = values[_TOGO]
        if togo is None:
            continue
        after = in_file.get(atena_no, ABSENT)
        if after is ABSENT or after == togo:
            holders[togo] = atena_no  # still theirs after this file
    return holders


@dataclass
class Plan:
    new: list[tuple]  # (atena_no, merged values)
    changed: list[tuple]  # (resident id, merged values, [(item, before, after)])
    counts: dict[str, int]
    rows: list = None  # the first rows' outcomes (kenshin.imports.rows)


def _plan(rows: list[_Checked], problems: Problems) -> Plan:
    """Compare every row with the stored record; the rules that need the stored record."""
    stored = _load_stored()
    counts = {"new": 0, "changed": 0, "removed": 0, "unchanged": 0}
    new, changed = [], []
    shown = row_preview.RowList()
    togo_holders = _togo_holders(rows, stored)
    for row in rows:
        hit = stored.get(row.atena_no) if row.atena_no is not None else None
        before = hit[1] if hit else None
        merged = _merge(row.values, before)
        ok = _cross_checks(row, merged, problems)
        togo = row.values[_TOGO]
        if togo and togo is not INVALID and togo_holders.get(togo, row.atena_no) != row.atena_no:
            problems.add(row.line, "togo_atena_no",
                         f"この団体内統合宛名番号は、すでに別の人（宛名番号 {togo_holders[togo]}）に登録されています")
            ok = False
        if not ok or not row.ok:
            continue
        if hit is None:
            counts["new"] += 1
            new.append((row.atena_no, merged))
            shown.add(row.line, row_preview.NEW, person=merged[_NAME], subject=row.atena_no)
            continue
        if merged == before:
            counts["unchanged"] += 1
            shown.add(row.line, row_preview.UNCHANGED, person=before[_NAME], subject=row.atena_no)
            continue
        diffs = [(ITEMS[i], b, a) for i, (b, a) in enumerate(zip(before, merged)) if b != a]
        kind = "removed" if (before[_REMOVED] is None and merged[_REMOVED] is not None) else "changed"
        counts[kind] += 1
        changed.append((hit[0], merged, diffs))
        if not shown.full:
            shown.add(row.line, kind, person=before[_NAME], subject=row.atena_no,
                      note="、".join(COLUMN_LABELS[item] for item, _, _ in diffs))
    return Plan(new, changed, counts, shown.rows)


# --- writing -------------------------------------------------------------------------------------

_INSERT_COLUMNS = ("atena_no", "kana_key", "name_key", *ITEMS, "updated_at")
_UPDATE_COLUMNS = ("kana_key", "name_key", *ITEMS, "updated_at")
_CHANGE_COLUMNS = ("resident_id", "item", "before", "after", "batch_id", "at")


def _stored_form(values: tuple, now_text: str) -> tuple:
    """kana_key, name_key, the items (sex as an integer), updated_at."""
    out = list(values)
    out[_I["sex"]] = int(out[_I["sex"]])
    return (kana_key(values[_KANA]), name_key(values[_NAME]), *out, now_text)


def _history_text(item: str, value) -> str | None:
    return None if value is None else str(value)


def _write(plan: Plan, source: Source, actor: audit.Actor) -> int | None:
    """Insert, update and keep history inside the caller's transaction; the batch id (or None
    when nothing changes: the same file again writes only its audit event)."""
    if not plan.new and not plan.changed:
        return None
    now = now_utc()
    now_text = str(now)  # the form a DateTimeField takes on SQLite; PostgreSQL reads it too
    batch = ImportBatch.create(kind=KIND, file_name=source.file_name, sha256=source.sha256,
                               actor=actor.label, at=now, counts=plan.counts)
    database.bulk_insert("resident", _INSERT_COLUMNS,
                          [(atena_no, *_stored_form(values, now_text)) for atena_no, values in plan.new])
    database.bulk_update("resident", "id", _UPDATE_COLUMNS,
                          [(*_stored_form(values, now_text), rid) for rid, values, _ in plan.changed])
    history = [(rid, item, _history_text(item, b), _history_text(item, a), batch.id, now_text)
               for rid, _, diffs in plan.changed for item, b, a in diffs]
    database.bulk_insert("resident_change", _CHANGE_COLUMNS, history)
    return batch.id


# --- the entry points ----------------------------------------------------------------------------

def _read(source: Source, today: date | None, problem_limit: int | None = None,
          keep: bool = True) -> tuple[Reader, list[_Checked], int]:
    from kenshin.core.dates import today_jst

    reader = Reader(source, COLUMNS, problem_limit=problem_limit)
    rows, read = ([], 0) if reader.refused else _check_rows(reader, today or today_jst(), keep)
    return reader, rows, read


#: what the person who may not read stored records sees when the file disagrees with them
STORED_CONFLICT = ("登録済みの住民記録と合わない行が{count}件あるため、取り込めません（何も登録していません）。"
                   "どの行かは、システム利用管理者が取込の画面で確認してください")


def _conclude(source: Source, reader: Reader, rows: list[_Checked],
              conflict_detail: bool = True) -> tuple[csvimport.Result, Plan | None]:
    """The result and the plan. Without `conflict_detail` (the maintainer), problems that only
    the comparison with the stored records finds are reported as one count, never by line and
    reason, so that repeated attempts cannot read a stored item (issue 12, finding 5)."""
    result = _result(source)
    if reader.refused or (reader.problems and not conflict_detail):
        result.set_problems(reader.problems)
        return result, None
    plan = _plan(rows, reader.problems)
    if reader.problems:
        if conflict_detail:
            result.set_problems(reader.problems)
            result.rows = row_preview.with_problems(plan.rows, result.problems, COLUMN_LABELS)
        else:
            result.problems = [csvimport.Problem(csvimport.FILE_LINE, -1, csvimport.WHOLE_ROW, STORED_CONFLICT.format(
                count=len(reader.problems)))]
            result.problem_total = len(reader.problems)
        return result, None
    result.counts = plan.counts
    result.rows = plan.rows
    return result, plan


def _result(source: Source) -> csvimport.Result:
    return csvimport.Result(KIND, source.file_name, source.sha256, labels=COLUMN_LABELS,
                            encoding=source.encoding, encoding_detected=source.detected)


def check(source: Source, today: date | None = None, *, problem_limit: int | None = None,
          against_stored: bool = True) -> csvimport.Result:
    """Read and check the whole file and count; write nothing. With `against_stored` the rows
    are compared with the stored records (new / changed / removed / unchanged); without it the
    file is checked alone and only its rows are counted (`rows`)."""
    reader, rows, read = _read(source, today, problem_limit, keep=against_stored)
    if against_stored:
        return _conclude(source, reader, rows)[0]
    result = _result(source)
    if reader.problems:
        result.set_problems(reader.problems)
    else:
        result.counts = {"rows": read}
    return result


def run(source: Source, actor: audit.Actor, *, today: date | None = None,
        audit_extra: dict | None = None, problem_limit: int | None = None,
        conflict_detail: bool = True) -> csvimport.Result:
    """Import a resident extract: all or nothing, one audit event either way."""
    # The file is read and checked before the transaction (it needs no database), so the
    # write lock is held only while the stored records are compared and written.
    reader, rows, _read_count = _read(source, today, problem_limit)
    with db.atomic():
        result, plan = _conclude(source, reader, rows, conflict_detail)
        if plan is not None:
            result.batch_id = _write(plan, source, actor)
            result.written = result.batch_id is not None
        audit.record(ACTION, actor, object_type="import_batch" if result.batch_id else "file",
                     object_id=result.batch_id or source.sha256,
                     outcome=result.outcome,
                     details=csvimport.audit_details(result, source, audit_extra))
        history.record(KIND, result, source, actor)
    if result.written and database.is_postgres() and sum(result.counts.values()) >= 10_000:
        db.execute_sql("ANALYZE resident")  # keep the search plans right after a large load
    return result


def preview(source: Source, actor: audit.Actor, *, today: date | None = None,
            problem_limit: int | None = None, against_stored: bool = True) -> csvimport.Result:
    """Check an uploaded file and count what it would change; write nothing but the audit event.

    A file with problems ends its attempt here (an `import.residents` event, rejected); a valid
    one is logged as previewed and is imported only when the same person confirms it (`run`).
    The attempt is recorded before the file is read (csvimport.record_upload)."""
    csvimport.record_upload(KIND, source, actor)
    result = check(source, today, problem_limit=problem_limit, against_stored=against_stored)
    extra = {"stage": "preview"} if against_stored else {"stage": "preview", "file_alone": True}
    with db.atomic():
        audit.record(ACTION if result.problems else ACTION + ".preview", actor, object_type="file",
                     object_id=source.sha256, outcome=result.outcome if result.problems else "ok",
                     details=csvimport.audit_details(result, source, extra))
        if result.problems:  # the attempt ends here: it is in the history as not imported
            history.record(KIND, result, source, actor)
    return result


def describe(item: str, value: str | None) -> str:
    """A stored history value as the person page shows it."""
    if value is None or value == "":
        return "（なし）"
    if item in _DATE_ITEMS:
        try:
            d = date.fromisoformat(value)
            return f"{format_wareki(d)} ({d.isoformat()})"
        except ValueError:
            return value
    if item == "sex":
        return labels.SEXES.get(value, value)
    return value
