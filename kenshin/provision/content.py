"""What a provision answer carries: `history` and `results` of counted screenings only.

Pending (未確定) and void records never leave: both items start from
`kenshin.screening.screenings.counted()`. 精密検査 records (follow-up) are not screenings and are
not provided. Values are the catalogue's codes, as in the screening results file.
"""
from __future__ import annotations

from datetime import date

from models import Screening

from kenshin.core.dates import fiscal_year_label, format_both
from kenshin.screening import catalogue
from kenshin.screening.screenings import counted

ITEMS = ("history", "results")
ITEM_LABELS = {"history": "受診歴（年度・検診・受診日・検診種別）", "results": "検診結果（検査項目・判定）"}
FOLLOWUP_EXAMS = ("followup", "periodontal_followup")


def _rows(resident_id: int) -> list[Screening]:
    order = {code: n for n, code in enumerate(catalogue.EXAMS)}
    rows = list(counted().where((Screening.resident == resident_id)
                                & Screening.exam.not_in(FOLLOWUP_EXAMS)))
    rows.sort(key=lambda s: (s.exam_date, order.get(s.exam, 99), s.id))
    return rows


def _common(s: Screening) -> dict:
    return {"fiscal_year": s.fiscal_year, "exam": s.exam, "exam_date": s.exam_date.isoformat(),
            "setting": str(s.setting)}


def build(resident_id: int, items: list[str]) -> dict:
    """The answer's items for one person: {"history": [...], "results": [...]} as requested."""
    rows = _rows(resident_id)
    out: dict[str, list] = {}
    if "history" in items:
        out["history"] = [_common(s) for s in rows]
    if "results" in items:
        out["results"] = []
        for s in rows:
            exam = catalogue.get_exam(s.exam)
            values = {key: (s.items or {}).get(key, "") for key in exam.keys}
            out["results"].append(dict(_common(s), items=values,
                                       outcome=catalogue.outcome_of(s.exam, s.referral, s.pending)))
    return out


def _fiscal_year(value) -> str:
    try:
        return f"{fiscal_year_label(int(value))}（{int(value)}年度）"
    except (TypeError, ValueError):
        return str(value)


def _date(value) -> str:
    try:
        return format_both(date.fromisoformat(value))
    except (TypeError, ValueError):
        return str(value)


def describe(content: dict) -> list[dict]:
    """The content as the supervisor's screen and the record show it: one block per item, each
    screening with Japanese labels (the exact JSON is shown beside it)."""
    blocks = []
    for item in ITEMS:
        if item not in content:
            continue
        rows = []
        for entry in content[item]:
            try:
                exam = catalogue.get_exam(entry["exam"])
                exam_name = exam.name
                shown = (catalogue.display_items(exam.code, entry.get("items") or {})
                         if "items" in entry else [])
            except Exception:  # noqa: BLE001 - an exam code the catalogue no longer has
                exam_name, shown = entry.get("exam", ""), []
            rows.append({"fiscal_year": _fiscal_year(entry.get("fiscal_year")), "exam": exam_name,
                         "exam_date": _date(entry.get("exam_date")),
                         "setting": catalogue.SETTINGS.get(str(entry.get("setting")), ""),
                         "items": shown,
                         "outcome": catalogue.OUTCOME_LABELS.get(entry.get("outcome"), entry.get("outcome", ""))})
        blocks.append({"item": item, "label": ITEM_LABELS[item], "rows": rows})
    return blocks


def count(content: dict | None) -> dict:
    """How many screenings each item carries (for audit details: never values)."""
    return {item: len(rows) for item, rows in (content or {}).items()}
