"""The trace a supervisor reads: both keyings, the differences and how they were resolved."""
from __future__ import annotations

from dataclasses import dataclass

from models import Screening, ScreeningDifference, ScreeningKeying, Staff

from kenshin.screening import catalogue
from kenshin.verification.rules import CHOICE_LABELS, FIRST, PAPER, PENDING, SECOND
from kenshin.verification.desk import DiffLine, shown_value, differences_of


# --- the trace a supervisor reads ---------------------------------------------------------------

@dataclass
class DifferenceLine:
    difference: ScreeningDifference
    label: str
    first: str
    second: str
    chosen: str
    choice: str


@dataclass
class Trace:
    keyings: list[ScreeningKeying]
    differences: list[DifferenceLine]
    awaiting: list[DiffLine]  # differences keyed but not yet resolved


def trace(screening: Screening) -> Trace:
    """Who keyed (round 1), who verified (round 2), and every difference with its resolution."""
    keyings = list(ScreeningKeying.select(ScreeningKeying, Staff).join(Staff)
                   .where(ScreeningKeying.screening == screening.id).order_by(ScreeningKeying.round))
    exam = catalogue.get_exam(screening.exam)
    lines = []
    for d in (ScreeningDifference.select(ScreeningDifference, Staff).join(Staff)
              .where(ScreeningDifference.screening == screening.id)
              .order_by(ScreeningDifference.at, ScreeningDifference.id)):
        try:
            item = exam.item(d.item)
        except KeyError:
            item = catalogue.Item(d.item, d.item, "text", required=False)
        first, second, chosen = d.first_value or "", d.second_value or "", d.chosen_value or ""
        choice = FIRST if chosen == first else SECOND if chosen == second else PAPER
        lines.append(DifferenceLine(d, item.label, shown_value(item, first), shown_value(item, second),
                                    shown_value(item, chosen), CHOICE_LABELS[choice]))
    second = next((k for k in keyings if k.round == 2), None)
    awaiting = differences_of(screening, second) if second is not None and screening.status == PENDING else []
    return Trace(keyings, lines, awaiting)
