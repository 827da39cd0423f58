"""Small helpers shared by the lists of records: pages, period filters and CSV files for export."""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from math import ceil
from typing import Iterable

from kenshin.core.dates import JST, DateError, parse_date_or_none
from kenshin.core.errors import Invalid
from kenshin.core.spreadsheet import safe_cell
from kenshin.core.textinput import ascii_text

PER_PAGE = 50
MAX_PAGE = 100_000
REASON_MAX = 200


@dataclass
class Page:
    """One page of a list: its rows, the page number (from 1), and the totals."""

    rows: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page_number(text) -> int:
    """A page number from a form or query value; anything unreadable is page 1, and a number
    beyond MAX_PAGE is MAX_PAGE (the list then shows its last page)."""
    try:
        return min(MAX_PAGE, max(1, int(str(text or "1").strip()[:12])))
    except ValueError:
        return 1


def paginate(query, number: int, per_page: int = PER_PAGE) -> Page:
    total = query.count()
    pages = max(1, ceil(total / per_page))
    number = min(max(1, number), pages)
    return Page(list(query.paginate(number, per_page)), number, per_page, total)


def period(date_from: str | None, date_to: str | None, errors: dict) -> tuple[date | None, date | None]:
    """Two dates typed as filters (any accepted form, 和暦 too); problems go into `errors`."""
    values = []
    for key, text in (("date_from", date_from), ("date_to", date_to)):
        try:
            values.append(parse_date_or_none(text))
        except DateError as exc:
            errors.setdefault(key, []).append(str(exc))
            values.append(None)
    first, last = values
    if first and last and first > last:
        errors.setdefault("date_to", []).append("期間の終わりが始まりより前です")
    return first, last


def utc_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Japan-time days [first, last] as naive UTC instants [start, end) for stored timestamps."""
    def at_midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), JST).astimezone(timezone.utc).replace(tzinfo=None)
    return (at_midnight(first) if first else None,
            at_midnight(last + timedelta(days=1)) if last else None)


def export_reason(text: str | None) -> str:
    """Every export says why (LESSONS.md #8): required, one line, at most 200 characters."""
    reason = ascii_text(text)
    if not reason:
        raise Invalid({"reason": ["出力の理由を入力してください"]})
    if len(reason) > REASON_MAX or any(unicodedata.category(ch) == "Cc" for ch in reason):
        raise Invalid({"reason": [f"理由は改行なしの{REASON_MAX}文字以内で入力してください"]})
    return reason


def csv_bytes(header: list[str], rows: Iterable[Iterable]) -> bytes:
    """The one CSV writer for every export (audit log, daily heads, inquiries, disclosures ...):
    UTF-8 with a BOM and CRLF line ends, which spreadsheet software on city PCs opens as UTF-8,
    and no cell that a spreadsheet would run as a formula (tests/test_security_findings.py
    checks that no other module builds a csv.writer)."""
    return ("\ufeff" + csv_text(header, rows)).encode("utf-8")


def csv_text(header: list[str], rows: Iterable[Iterable], line_end: str = "\r\n") -> str:
    """The same guarded CSV as text, CRLF line ends unless told, for a file whose encoding a
    contract sets (the invitations export for the print contractor: UTF-8 without a BOM, or
    cp932; the screening report: UTF-8 with LF)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow([_cell(v) for v in header])
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def _cell(value) -> str:
    """A cell that a spreadsheet will not run as a formula (core.spreadsheet, OWASP's advice)."""
    return safe_cell(value)
