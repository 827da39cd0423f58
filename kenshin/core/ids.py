"""Record ids that arrive from outside (a URL, a query string, a posted field): digits within the
range every database here can compare, or nothing. Python's int has no limit; SQLite's INTEGER
stops at 2**63 - 1 and answers anything larger with OverflowError (a 500), so a number beyond
that is refused before it reaches a query (issue 12, finding 6)."""
from __future__ import annotations

import re

MAX_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL bigint; serial ids stay far below
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(value) -> int | None:
    """A positive id from text (or an int); None for anything else, huge numbers included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    text = str(value or "").strip()
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None
