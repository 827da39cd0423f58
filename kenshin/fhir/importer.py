"""`import-fhir`: a set of IG bundles (files, folders, .zip) as one results import.

Each bundle is read by kenshin.fhir.reader; the rows then go through the results import's own
pipeline (kenshin.screening.result_import `_plan` and `_write`: matching, the queue, duplicates,
one ImportBatch), so the rules are the CSV file's to the letter. All or nothing across the set:
one refused bundle refuses the set, which then writes its audit event and nothing else.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from datetime import date

from models import Institution, db

from kenshin import audit
from kenshin.core.dates import today_jst
from kenshin.fhir import reader
from kenshin.imports import csvimport, history
from kenshin.imports.csvimport import CannotOpen, Source
from kenshin.screening import reconciliation, result_import

ACTION = "import.fhir"
KIND = "fhir"
MAX_FILES = 10_000


@dataclass(frozen=True, order=True)
class Problem:
    """One refusal: printed as `FILE, entry[N].resource.PATH: reason`."""

    position: int
    file_name: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file_name}, {self.path}: {self.reason}"

    def screen(self, labels: dict | None = None) -> str:
        """The screens' rendering: the file first, the place inside it after."""
        place = "" if self.path in ("", "-") else f"（{self.path}）"
        return f"{self.file_name}{place}: {self.reason}"


class FhirResult(result_import.ResultsResult):
    left_out: int = 0

    def summary(self) -> str:
        return super().summary() + f" left_out={self.left_out}"


@dataclass(frozen=True)
class Bundle:
    name: str  # as printed: the file, or ZIP/member
    data: bytes


def _from_zip(name: str, data: bytes) -> list[Bundle]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = sorted(m for m in archive.namelist() if m.lower().endswith(".json") and not m.endswith("/"))
        return [Bundle(f"{name}/{m}", archive.read(m)) for m in members[:MAX_FILES]]
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise CannotOpen(f"ZIPファイルとして読めません: {name} ({exc})") from None


def collect(paths: list[str]) -> list[Bundle]:
    """The bundles of every PATH in order: a file, a .zip's .json members, a folder's .json and
    .zip files (sorted by name). CannotOpen when one cannot be read."""
    found: list[Bundle] = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.lower().endswith((".json", ".zip")))
            if not names:
                raise CannotOpen(f"フォルダにJSONもZIPもありません: {path}")
            found.extend(collect([os.path.join(path, n) for n in names]))
            continue
        source = Source.from_path(path)
        found.extend(from_upload(source.file_name, source.data))
    return found


def from_upload(name: str, data: bytes) -> list[Bundle]:
    if name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04":
        return _from_zip(name, data)
    return [Bundle(name, data)]


def set_source(bundles: list[Bundle]) -> Source:
    """The set as one Source for the batch and the audit: a name and a checksum over the files."""
    if len(bundles) == 1:
        return Source(bundles[0].name[:255], bundles[0].data)
    digest = "\n".join(f"{b.name}\t{hashlib.sha256(b.data).hexdigest()}" for b in bundles).encode()
    return Source(f"{len(bundles)} bundles: {bundles[0].name} …"[:255], digest)


class _Lines:
    """result_import._plan reports a repeated screening by row line: here, by bundle and entry."""

    def __init__(self, places: dict[int, tuple[str, str]], problems: list[Problem]):
        self.places, self.problems = places, problems

    def add(self, line: int, column: str, reason: str) -> None:
        name, path = self.places[line]
        self.problems.append(Problem(line, name, path, reason))


def _read(bundles: list[Bundle], today: date):
    """(rows, refusals, left_out, same-screening repeats, the repeat reporter or None)."""
    institutions = {code: iid for iid, code in Institution.select(Institution.id, Institution.code).tuples()}
    problems: list[Problem] = []
    rows: list[result_import._Checked] = []
    places: dict[int, tuple[str, str]] = {}
    left_out = 0
    same = 0
    seen: dict[tuple, tuple] = {}
    for position, bundle in enumerate(bundles, start=1):
        try:
            read = reader.read(bundle.name, bundle.data, institutions, today)
        except reader.Refusal as refusal:
            problems.append(Problem(position, bundle.name, refusal.path, refusal.reason))
            continue
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            # a shape the models accept but the IG does not describe: refuse, never a traceback
            problems.append(Problem(position, bundle.name, "-",
                                    f"{reader.NOT_DOCUMENT}（読めない構造です: {type(exc).__name__}）"))
            continue
        left_out += read.left_out
        for found in read.rows:
            reason = "; ".join(found.queue_reasons)
            checked = result_import._Checked(
                position, found.identity, found.exam, found.target, found.exam_date, found.institution_id,
                found.institution_code, found.setting, found.items,
                queue_reason=("FHIR " + reason)[:reconciliation.REASON_MAX] if reason else "",
                file_name=bundle.name[:255])
            key = (found.identity, found.exam, found.exam_date, found.target)
            whole = (found.items, found.institution_id, found.setting, checked.queue_reason)
            if key in seen and seen[key] == whole:
                same += 1  # the same screening twice in the set: a duplicate, not written twice
                continue
            seen.setdefault(key, whole)
            places[position] = (bundle.name, found.place)
            rows.append(checked)
    if not problems and rows:
        lines = _Lines(places, problems)
        return rows, problems, left_out, same, lines
    return rows, problems, left_out, same, None


def _conclude(bundles: list[Bundle], today: date | None):
    source = set_source(bundles)
    result = FhirResult(KIND, source.file_name, source.sha256)
    rows, problems, left_out, same, lines = _read(bundles, today or today_jst())
    plan = result_import._plan(rows, lines) if lines is not None else None
    if problems:
        result.problems = sorted(problems)
        return source, result, None
    if plan is None:
        plan = result_import._plan([], None)
    plan.counts["duplicates"] += same
    result.counts = dict(plan.counts)
    result.different = plan.different
    result.left_out = left_out
    result.rows = plan.rows or []
    return source, result, plan


def _details(result: FhirResult, source: Source, bundles: list[Bundle], extra: dict | None) -> dict:
    details = csvimport.audit_details(result, source, extra)
    details["files"] = [{"file": b.name, "sha256": hashlib.sha256(b.data).hexdigest()} for b in bundles[:200]]
    details["bundles"] = len(bundles)
    details["counts"] = ({**result.counts, "different": result.different, "left_out": result.left_out}
                         if result.accepted else {})
    return details


def check(bundles: list[Bundle], today: date | None = None) -> FhirResult:
    return _conclude(bundles, today)[1]


def run(bundles: list[Bundle], actor: audit.Actor, *, today: date | None = None,
        audit_extra: dict | None = None) -> FhirResult:
    """Import the set: all or nothing, idempotent, one audit event either way."""
    with db.atomic():
        source, result, plan = _conclude(bundles, today)
        if plan is not None:
            counts = {**result.counts, "different": result.different, "left_out": result.left_out}
            result.batch_id = result_import._write(plan, source, actor, counts)
            result.written = result.batch_id is not None
        audit.record(ACTION, actor, object_type="import_batch" if result.batch_id else "file",
                     object_id=result.batch_id or source.sha256, outcome=result.outcome,
                     details=_details(result, source, bundles, audit_extra))
        history.record(KIND, result, source, actor, counts=(
            {**result.counts, "different": result.different, "left_out": result.left_out}))
    return result


def preview(bundles: list[Bundle], actor: audit.Actor, *, today: date | None = None) -> FhirResult:
    """Check an uploaded set and count what it would do; write nothing but the audit event."""
    source, result, _ = _conclude(bundles, today)
    with db.atomic():
        audit.record(ACTION if result.problems else ACTION + ".preview", actor, object_type="file",
                     object_id=source.sha256, outcome=result.outcome if result.problems else "ok",
                     details=_details(result, source, bundles, {"stage": "preview"}))
        if result.problems:  # the attempt ends here: it is in the history as not imported
            history.record(KIND, result, source, actor)
    return result
