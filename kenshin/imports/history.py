"""The import history (取込の履歴): one row per import attempt — file, SHA-256, who, when,
encoding, counts, outcome — written in the same transaction as the import (a rejected attempt
writes its row with its audit event, and nothing else). Plus the words staff read for counts."""
from __future__ import annotations

from peewee import JOIN

from models import ImportRecord, Staff

from kenshin.core.dates import now_utc
from kenshin.core.listing import paginate
from kenshin.imports.csvimport import ACCEPTED, ENCODING_NAMES, Result, Source

#: each kind of file as staff call it
KINDS = {"residents": "住民記録連携ファイル", "institutions": "協力医療機関",
         "results": "検診結果ファイル（CSV）", "fhir": "検診結果（FHIR）"}
OUTCOMES = {"accepted": "取込済み", "rejected": "取り込めなかった"}

# the counts of each kind, in order, with the word and the unit staff use
_COUNT_WORDS = {
    "residents": (("new", "新規", "人"), ("changed", "変更", "人"), ("removed", "消除", "人"),
                  ("unchanged", "変更なし", "人"), ("rows", "行数", "行")),
    "institutions": (("new", "新規", "件"), ("changed", "変更", "件"), ("unchanged", "変更なし", "件")),
    "results": (("recorded", "記録", "件"), ("queued", "突合待ち", "件"), ("duplicates", "重複", "件")),
}
_COUNT_WORDS["fhir"] = _COUNT_WORDS["results"]


def count_words(kind: str, counts: dict) -> str:
    """「記録 4件、突合待ち 1件、重複 0件」: the counts in the words of the screens."""
    parts = [f"{word} {counts[key]}{unit}" for key, word, unit in _COUNT_WORDS.get(kind, ()) if key in counts]
    if counts.get("different"):
        parts[-1] += f"（うち内容が異なる {counts['different']}件は記録されません。画面で訂正してください）"
    if counts.get("left_out"):
        parts.append(f"別添1にない項目 {counts['left_out']}件（記録しない）")
    return "、".join(parts)


def encoding_words(encoding: str, detected: bool) -> str:
    if not encoding:
        return ""
    name = ENCODING_NAMES.get(encoding, encoding)
    return f"{name}（自動判定）" if detected else name


def record(kind: str, result: Result, source: Source | None, actor, *, counts: dict | None = None,
           reason: str = "") -> ImportRecord:
    """The history row of one attempt; call inside the import's own transaction."""
    return ImportRecord.create(
        kind=kind, file_name=(result.file_name if result is not None else source.file_name)[:255],
        sha256=result.sha256 if result is not None else None,
        encoding=source.encoding if source is not None else "",
        encoding_detected=bool(source is not None and source.detected),
        staff=actor.staff_id, actor=actor.label[:64], at=now_utc(),
        outcome=result.outcome if result is not None else "rejected",
        counts=(counts if counts is not None else result.counts) if result is not None and result.accepted else {},
        problems=result.problem_count if result is not None else 0, reason=reason[:255],
        batch=result.batch_id if result is not None else None)


def page(kinds, number: int, per_page: int = 50):
    """The attempts of these kinds, newest first, with the staff member who made each."""
    query = (ImportRecord.select(ImportRecord, Staff)
             .join(Staff, join_type=JOIN.LEFT_OUTER, on=(ImportRecord.staff == Staff.id))
             .where(ImportRecord.kind.in_(list(kinds)))
             .order_by(ImportRecord.at.desc(), ImportRecord.id.desc()))
    return paginate(query, number, per_page)


def describe(entry: ImportRecord) -> dict:
    """One history row as the screen shows it."""
    return {"kind": KINDS.get(entry.kind, entry.kind), "outcome": OUTCOMES.get(entry.outcome, entry.outcome),
            "accepted": entry.outcome == ACCEPTED,
            "counts": count_words(entry.kind, entry.counts or {}),
            "encoding": encoding_words(entry.encoding, entry.encoding_detected)}
