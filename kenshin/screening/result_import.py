"""The screening results file (検診結果ファイル) from clinics and group-screening contractors.

FORMATS.md "Screening results" is the contract. Three steps, like the resident extract:
1. `_check_rows` reads every record and checks it on its own — common columns, the exam's
   items through the catalogue (a column of another exam must be blank; the women-only rule on
   the row's `sex`; a given `referral` must agree with the rule), 受診日 neither in the future
   nor before birth, a registered institution — with no per-row database query;
2. `_plan` matches every row (kenshin.matching, identifiers loaded in a few queries), finds the
   duplicates among what is recorded or already waiting in the queue (loaded per chunk of
   people); a screening repeated within the file is a duplicate when every cell agrees and an
   error on the later row when any differs;
3. `_write` bulk-inserts the screenings (source "file", status confirmed) and the queue items,
   with one ImportBatch and one audit event, in one transaction.
A file with any problem writes its audit event and nothing else; the same file again is all
duplicates.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import database
from models import ImportBatch, Institution, QueueItem, Resident, Screening, db

from kenshin import audit
from kenshin.screening import catalogue, extensions
from kenshin.imports import csvimport, history
from kenshin.imports import rows as row_preview
from kenshin.screening import reconciliation
from kenshin.imports.csvimport import Columns, Reader, Row, Source
from kenshin.core.dates import age_at, fiscal_year, format_both, now_utc, today_jst
from kenshin.core import labels
from kenshin.core.kana import kana_key
from kenshin.screening.matching import FormIdentity, PreloadedFinder, match
from kenshin.screening.screenings import CONFIRMED, FILE, NO_SETTING, VOID, WOMEN_ONLY, setting_text

ACTION = "import.results"
CHUNK = 900  # identifiers per IN (...) query
KIND = "results"
NAME_MAX = 60


def item_columns(enabled: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Every per-exam column in catalogue order (shared names once): the assessment's items and
    those of the Extensions turned on (an item beyond 別添1 that is off is an unknown column)."""
    seen: dict[str, None] = {}
    for exam in catalogue.EXAMS.values():
        for key in exam.keys_with(enabled):
            seen.setdefault(key, None)
    return tuple(seen)


def columns(enabled: frozenset[str] = frozenset()) -> Columns:
    return Columns(
        required=("name_kana", "birth_date", "sex", "exam", "exam_date", "institution_code"),
        # 検診種別 is required on every row but a 精密検査 one (別添1 lists none for them), so a
        # file of 精密検査 only may leave the column out.
        optional=("seiri_no", "atena_no", "name", "setting", *item_columns(enabled)),
    )


def column_labels() -> dict[str, str]:
    """Each column by its Japanese name (the screens say 「3行目 生年月日: …」)."""
    found = {"seiri_no": "整理番号", "atena_no": "宛名番号", "name_kana": "氏名（カナ）", "name": "氏名",
             "birth_date": "生年月日", "sex": "性別", "exam": "検診の種類", "exam_date": "受診日",
             "institution_code": "医療機関コード", "setting": "検診種別"}
    for exam in catalogue.EXAMS.values():
        for item in exam.all_fields:
            found.setdefault(item.key, item.label)
    return found


ITEM_COLUMNS = item_columns()
COLUMNS = columns()
REPEATED = ("このファイルの前の行と同じ受診（同じ人・検診・受診日{target}）ですが、ほかの値が違います。"
            "どちらが正しいか分からないため、後の行を無効とします")


class ResultsResult(csvimport.Result):
    """The results file's counts, with how many duplicates differ from what is stored."""

    different: int = 0

    def summary(self) -> str:
        line = " ".join(f"{k}={self.counts.get(k, 0)}" for k in ("recorded", "queued", "duplicates"))
        if self.different:
            line += f" ({self.different} with different values: correct them on screen)"
        return line


@dataclass
class _Checked:
    """A record whose every cell passed: the form's identity and the checked screening."""

    line: int
    identity: FormIdentity
    exam: str
    target: str
    exam_date: date
    institution_id: int
    institution_code: str
    setting: int
    items: dict
    # Set by a front-end that knows the row must wait whoever it names (an imperfect FHIR bundle)
    queue_reason: str = ""
    file_name: str = ""  # the row's own file when one import reads several (else the source's)


def _check_rows(reader: Reader, today: date, enabled: frozenset[str]) -> list[_Checked]:
    problems, present, index = reader.problems, reader.present, reader.index
    read_date = csvimport.DateReader(today)
    name = csvimport.text(NAME_MAX, "氏名")
    sex_code = csvimport.code(labels.SEXES, "性別")
    setting_code = csvimport.code(catalogue.SETTINGS, "検診種別")
    exam_code = csvimport.code({code: e.name for code, e in catalogue.EXAMS.items()}, "検診の種類")
    institution_code = csvimport.digits(10, 10, "医療機関コード")
    institutions = {code: iid for iid, code in Institution.select(Institution.id, Institution.code).tuples()}
    in_file = [key for key in item_columns(enabled) if key in present]
    item_positions = [index[key] for key in in_file]
    checked: list[_Checked] = []
    kana_keys: dict[str, str] = {}
    validated: dict[tuple, tuple] = {}
    for record in reader.records():
        row = Row(record, problems, index)
        seiri = row.take("seiri_no", csvimport.seiri_no) or ""
        atena_no = row.take("atena_no", csvimport.atena_no) or ""
        person_name = row.take("name", name) or ""
        kana = row.take("name_kana", csvimport.kana, required=True)
        birth = row.take("birth_date", read_date, required=True)
        sex = row.take("sex", sex_code, required=True)
        exam = row.take("exam", exam_code, required=True)
        exam_date = row.take("exam_date", read_date, required=True)
        code = row.take("institution_code", institution_code, required=True)
        setting = row.take("setting", setting_code)
        if (setting is None or setting is csvimport.ABSENT) and "setting" not in row.bad:
            if exam and exam is not csvimport.ABSENT and catalogue.EXAMS[exam].followup:
                setting = str(NO_SETTING)
            elif exam and exam is not csvimport.ABSENT:
                row.error("setting", catalogue.REQUIRED if setting is None
                          else "検診種別の列がありません（精密検査以外の行には必須です）")
        # a required column missing from the header is a header problem; its cells are ABSENT
        kana, birth, sex, exam, exam_date, code, setting = (
            None if v is csvimport.ABSENT else v for v in (kana, birth, sex, exam, exam_date, code, setting))
        if exam_date and birth and exam_date < birth:
            row.error("exam_date", "受診日が生年月日より前です")
        institution_id = institutions.get(code) if code else None
        if code and institution_id is None:
            row.error("institution_code", f"登録されていない医療機関です: {code}")
        clean: dict = {}
        if exam:
            # clinic files repeat the same results a lot: validate each combination once
            fields = record.fields
            cells = tuple([fields[i].strip() for i in item_positions])
            hit = validated.get((exam, sex, cells))
            if hit is None:
                hit = catalogue.validate_items(exam, dict(zip(in_file, cells)), sex, enabled)
                if len(validated) < 200_000:
                    validated[(exam, sex, cells)] = hit
            clean, errors = hit
            clean = dict(clean)
            for key, messages in errors.items():
                for message in messages:
                    row.error("sex" if key == "-" else key, WOMEN_ONLY if key == "-" else message)
        if not row.ok or None in (kana, birth, sex, exam, exam_date, code, setting):
            continue
        if problems.full:
            continue  # rejected already with more problems than are kept: only count the rest
        key = kana_keys.get(kana)
        if key is None:
            key = kana_keys[kana] = kana_key(kana)
        identity = FormIdentity(seiri, atena_no, kana, key, birth, int(sex), person_name)
        checked.append(_Checked(record.line, identity, exam,
                                clean.get("target", "") if catalogue.EXAMS[exam].has_target else "",
                                exam_date, institution_id, code, int(setting), clean))
    return checked


@dataclass
class Plan:
    screenings: list[tuple[_Checked, int]]  # (row, resident id)
    queued: list[tuple[_Checked, str]]  # (row, reason)
    counts: dict[str, int]
    different: int
    rows: list = None  # the first rows' outcomes (kenshin.imports.rows)


def _differs(row: _Checked, items: dict, institution_id, setting) -> bool:
    return items != row.items or institution_id != row.institution_id or int(setting) != row.setting


def _stored_screenings(resident_ids: set[int], first: date, last: date) -> dict[tuple, tuple]:
    """(resident, exam, 受診日, target) → (items, institution, setting) of the records not void."""
    found: dict[tuple, tuple] = {}
    ids = sorted(resident_ids)
    param = db.param
    as_date = Screening.exam_date.python_value
    as_items = Screening.items.python_value
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        sql = (f"SELECT resident_id, exam, exam_date, target, items, institution_id, setting "
               f"FROM screening WHERE resident_id IN ({', '.join([param] * len(chunk))}) "
               f"AND exam_date >= {param} AND exam_date <= {param} AND status <> {param}")
        cursor = db.execute_sql(sql, (*chunk, first.isoformat(), last.isoformat(), VOID))
        for resident, exam, exam_date, target, items, institution, setting in cursor.fetchall():
            found[(resident, exam, as_date(exam_date), target)] = (as_items(items), institution, setting)
    return found


def _waiting(first: date, last: date) -> dict[tuple, tuple]:
    """Open queue items in the file's date range by their duplicate key → (items, institution, setting)."""
    found: dict[tuple, tuple] = {}
    query = (QueueItem.select(QueueItem.seiri_no, QueueItem.atena_no, QueueItem.kana_key,
                              QueueItem.birth_date, QueueItem.sex, QueueItem.exam,
                              QueueItem.exam_date, QueueItem.target, QueueItem.raw)
             .where((QueueItem.status == reconciliation.OPEN) & (QueueItem.exam_date >= first)
                    & (QueueItem.exam_date <= last)).tuples())
    institutions = {code: iid for iid, code in Institution.select(Institution.id, Institution.code).tuples()}
    for seiri, atena, key, birth, sex, exam, exam_date, target, raw in query:
        found[(seiri, atena, key, birth, sex, exam, exam_date, target)] = (
            raw.get("items", {}), institutions.get(raw.get("institution_code")), raw.get("setting", 0))
    return found


def _plan(rows: list[_Checked], problems: csvimport.Problems) -> Plan:
    """Match, find duplicates and split into recorded and queued; `problems.add(line, column,
    reason)` hears of a screening repeated within the file (kenshin.fhir feeds it too)."""
    counts = {"recorded": 0, "queued": 0, "duplicates": 0}
    plan = Plan([], [], counts, 0, [])
    if not rows:
        return plan
    repeats, shown = row_preview.RowList(), row_preview.RowList()
    finder = PreloadedFinder((r.identity.seiri_no for r in rows), (r.identity.atena_no for r in rows))
    matches = [match(r.identity, finder) for r in rows]
    first = min(r.exam_date for r in rows)
    last = max(r.exam_date for r in rows)
    stored = _stored_screenings({m.resident_id for m in matches if m.matched}, first, last)
    waiting = _waiting(first, last)
    seen: dict[tuple, _Checked] = {}
    accepted = []
    for row, result in zip(rows, matches):
        if result.matched and not row.queue_reason:
            key = ("person", result.resident_id, row.exam, row.exam_date, row.target)
            existing = stored.get(key[1:])
        else:
            key = ("queue", *reconciliation.queue_key(row.identity, row.exam, row.exam_date, row.target))
            existing = waiting.get(key[1:])
        if key in seen:
            if replace(seen[key], line=row.line) == row:
                counts["duplicates"] += 1  # an exact repeat within the file: counted, not written
                if not repeats.full:
                    repeats.add(row.line, row_preview.DUPLICATE, subject=_subject(row), file_name=row.file_name,
                                note=f"{seen[key].line}行目と同じ受診", person=_on_file(row))
                continue
            target = f"・{catalogue.FOLLOWUP_TARGETS[row.target]}" if row.target else ""
            problems.add(row.line, csvimport.WHOLE_ROW, REPEATED.format(target=target))
            continue
        seen[key] = row
        accepted.append((row, result, existing))
    people = {}  # the first rows' matched people: resident id → the row shown
    for row, result, existing in accepted:
        person = result.resident_id if result.matched and not row.queue_reason else None
        describe = not shown.full  # only the first rows are described (kenshin.imports.rows)
        shown_row = None
        if existing is not None:
            counts["duplicates"] += 1
            differs = _differs(row, *existing)
            if differs:
                plan.different += 1
            if describe:
                place = "記録済み" if person else "突合待ちにあり"
                shown_row = shown.add(row.line, row_preview.DUPLICATE, subject=_subject(row), file_name=row.file_name,
                                      note=f"{place}（内容が異なります: 画面で訂正してください）" if differs else place,
                                      person="" if person else _on_file(row))
        elif person:
            counts["recorded"] += 1
            plan.screenings.append((row, result.resident_id))
            if describe:
                shown_row = shown.add(row.line, row_preview.RECORDED, subject=_subject(row), file_name=row.file_name)
        else:
            counts["queued"] += 1
            reason = row.queue_reason if result.matched else "; ".join(
                r for r in (result.reason, row.queue_reason) if r)
            plan.queued.append((row, reason))
            if describe:
                shown.add(row.line, row_preview.QUEUED, subject=_subject(row), file_name=row.file_name,
                          note=reason, person=_on_file(row))
            continue
        if shown_row is not None and person:
            people.setdefault(person, []).append(shown_row)
    if people:
        for rid, name in Resident.select(Resident.id, Resident.name).where(Resident.id.in_(list(people))).tuples():
            for shown_row in people[rid]:
                shown_row.person = name
    plan.rows = sorted(repeats.rows + shown.rows, key=lambda r: (r.line, r.file_name))[:row_preview.ROW_CAP]
    return plan


def _subject(row: _Checked) -> str:
    exam = catalogue.EXAMS[row.exam]
    target = f"（{catalogue.FOLLOWUP_TARGETS[row.target]}）" if row.target else ""
    return f"{exam.name}{target} {format_both(row.exam_date)}"


def _on_file(row: _Checked) -> str:
    """Whom an unmatched row names, as the file says it (not a match: marked as such)."""
    return f"ファイル上: {row.identity.name or row.identity.name_kana}"


_SCREENING_COLUMNS = ("resident_id", "exam", "target", "exam_date", "fiscal_year", "age",
                      "institution_id", "setting", "referral", "pending", "items", "status", "source",
                      "batch_id", "entered_at")
_QUEUE_COLUMNS = ("source", "file_name", "line_no", "batch_id", "raw", "reason", "exam", "target",
                  "exam_date", "birth_date", "sex", "kana_key", "seiri_no", "atena_no", "status",
                  "created_at")


def _write(plan: Plan, source: Source, actor: audit.Actor, counts: dict) -> int | None:
    if not plan.screenings and not plan.queued:
        return None
    now = now_utc()
    now_text = str(now)
    batch = ImportBatch.create(kind=KIND, file_name=source.file_name, sha256=source.sha256,
                               actor=actor.label, at=now, counts=counts)
    as_json = Screening.items.db_value
    rows = []
    for row, resident_id in plan.screenings:
        rows.append((resident_id, row.exam, row.target, row.exam_date.isoformat(),
                     fiscal_year(row.exam_date), age_at(row.identity.birth_date, row.exam_date),
                     row.institution_id, row.setting, catalogue.referral_flag(row.exam, row.items),
                     catalogue.pending_flag(row.exam, row.items),
                     as_json(row.items), CONFIRMED, FILE, batch.id, now_text))
    database.bulk_insert("screening", _SCREENING_COLUMNS, rows)
    queue_rows = []
    for row, reason in plan.queued:
        raw = row.identity.as_raw()
        raw.update({"exam": row.exam, "exam_date": row.exam_date.isoformat(),
                    "institution_code": row.institution_code, "setting": setting_text(row.setting),
                    "items": row.items})
        identity = row.identity
        queue_rows.append(("file", row.file_name or source.file_name, row.line, batch.id, QueueItem.raw.db_value(raw),
                           reason[:reconciliation.REASON_MAX], row.exam, row.target,
                           row.exam_date.isoformat(), identity.birth_date.isoformat(), identity.sex,
                           identity.kana_key, identity.seiri_no or None, identity.atena_no or None,
                           reconciliation.OPEN, now_text))
    database.bulk_insert("queue_item", _QUEUE_COLUMNS, queue_rows)
    return batch.id


def _conclude(source: Source, reader: Reader, rows: list[_Checked]) -> tuple[ResultsResult, Plan | None]:
    result = ResultsResult(KIND, source.file_name, source.sha256, labels=column_labels(),
                           encoding=source.encoding, encoding_detected=source.detected)
    # Rows with bad cells are left out; the good ones are still matched, so that a key repeated
    # within the file is reported together with the other problems.
    plan = None if reader.refused else _plan(rows, reader.problems)
    if reader.problems:
        result.set_problems(reader.problems)
        result.rows = row_preview.with_problems(plan.rows if plan else [], result.problems, result.labels)
        return result, None
    result.counts = dict(plan.counts)
    result.different = plan.different
    result.rows = plan.rows
    return result, plan


def _read(source: Source, today: date | None,
          problem_limit: int | None = None) -> tuple[Reader, list[_Checked]]:
    enabled = extensions.enabled_codes()
    reader = Reader(source, columns(enabled), problem_limit=problem_limit)
    rows = [] if reader.refused else _check_rows(reader, today or today_jst(), enabled)
    return reader, rows


def check(source: Source, today: date | None = None, *,
          problem_limit: int | None = None) -> ResultsResult:
    """Read, check, match and count the whole file; write nothing (the upload screen's preview)."""
    reader, rows = _read(source, today, problem_limit)
    return _conclude(source, reader, rows)[0]


def run(source: Source, actor: audit.Actor, *, today: date | None = None,
        audit_extra: dict | None = None, problem_limit: int | None = None) -> ResultsResult:
    """Import a results file: all or nothing, idempotent, one audit event either way."""
    reader, rows = _read(source, today, problem_limit)
    with db.atomic():
        result, plan = _conclude(source, reader, rows)
        counts = {**result.counts, "different": result.different}
        if plan is not None:
            result.batch_id = _write(plan, source, actor, counts)
            result.written = result.batch_id is not None
        details = csvimport.audit_details(result, source, audit_extra)
        details["counts"] = counts if result.accepted else {}
        audit.record(ACTION, actor, object_type="import_batch" if result.batch_id else "file",
                     object_id=result.batch_id or source.sha256, outcome=result.outcome,
                     details=details)
        history.record(KIND, result, source, actor, counts=counts)
    if result.written and database.is_postgres() and len(rows) >= 10_000:
        db.execute_sql("ANALYZE screening")
    return result


def preview(source: Source, actor: audit.Actor, *, today: date | None = None,
            problem_limit: int | None = None) -> ResultsResult:
    """Check an uploaded file and count what it would record, queue and skip; write nothing but
    the audit event (a file with problems ends its attempt here: `import.results`, rejected).
    The attempt is recorded before the file is read (csvimport.record_upload)."""
    csvimport.record_upload(KIND, source, actor)
    result = check(source, today, problem_limit=problem_limit)
    details = csvimport.audit_details(result, source, {"stage": "preview"})
    details["counts"] = {**result.counts, "different": result.different} if result.accepted else {}
    with db.atomic():
        audit.record(ACTION if result.problems else ACTION + ".preview", actor, object_type="file",
                     object_id=source.sha256, outcome=result.outcome if result.problems else "ok",
                     details=details)
        if result.problems:  # the attempt ends here: it is in the history as not imported
            history.record(KIND, result, source, actor)
    return result
