"""What each row of a file would do, shown before the import is confirmed (the row preview).

An importer's plan reports every row it looks at to a `RowList`; the list keeps the first
`cap` rows (in file order: the plans walk the rows in order) and only counts the rest, so a
file of a million rows costs no more than a file of two hundred. Rows with problems come from
the problems (`with_problems`): a row is either an outcome or a rejection, never both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ROW_CAP = 200

NEW, CHANGED, REMOVED, UNCHANGED = "new", "changed", "removed", "unchanged"
RECORDED, QUEUED, DUPLICATE, REJECTED = "recorded", "queued", "duplicate", "rejected"

#: the outcome of a row as staff say it
LABELS = {NEW: "新規", CHANGED: "変更", REMOVED: "消除", UNCHANGED: "変更なし",
          RECORDED: "記録", QUEUED: "突合待ち", DUPLICATE: "重複（記録しない）", REJECTED: "取り込めない"}


@dataclass
class RowOutcome:
    """One row: its line, what it would do, whom it names, and why (a changed item, a reason)."""

    line: int
    status: str
    person: str = ""  # the matched person's 氏名 (or the file's own name for a new person)
    subject: str = ""  # the exam, the institution: what the row is about
    note: str = ""
    file_name: str = ""  # the bundle, when one import reads several files

    @property
    def label(self) -> str:
        return LABELS[self.status]


@dataclass
class RowList:
    cap: int = ROW_CAP
    rows: list[RowOutcome] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """True once `cap` rows are kept: callers skip describing the rest (a large file)."""
        return len(self.rows) >= self.cap

    def add(self, line: int, status: str, **what) -> RowOutcome | None:
        """Keep the row if it is among the first `cap`; returns it (to be filled in) or None."""
        if len(self.rows) >= self.cap:
            return None
        row = RowOutcome(line, status, **what)
        self.rows.append(row)
        return row


def with_problems(outcomes: list[RowOutcome], problems, labels: dict, cap: int = ROW_CAP) -> list[RowOutcome]:
    """The first `cap` rows by line: the outcomes of the good rows and one rejected row per line
    with problems (its problems joined). Both inputs are the first rows of their kind, so the
    first `cap` of the two together are the file's first `cap` rows."""
    rejected: dict[int, list[str]] = {}
    for problem in problems:
        if problem.line > 1:  # the header's problems concern the whole file: shown above the rows
            reason = problem.reason + problem.screen_hint
            if problem.column != "-":
                reason = f"{labels.get(problem.column) or problem.column}: {reason}"
            rejected.setdefault(problem.line, []).append(reason)
    merged = [row for row in outcomes if row.line not in rejected]
    merged += [RowOutcome(line, REJECTED, note="、".join(reasons)) for line, reasons in rejected.items()]
    merged.sort(key=lambda row: (row.line, row.file_name))
    return merged[:cap]
