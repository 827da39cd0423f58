"""The trace a supervisor reads: both keyings, the differences and how they were resolved."""
from __future__ import annotations

from dataclasses import dataclass

from models import AuditEvent, Screening, ScreeningDifference, ScreeningKeying, Staff

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


def recorded_choices(screening_id: int) -> dict[str, str]:
    """Item → the choice made when its difference was resolved (first, second or paper), from the
    `screening.difference` events resolve() writes in the same transaction as the differences."""
    events = (AuditEvent.select(AuditEvent.details)
              .where((AuditEvent.action == "screening.difference") & (AuditEvent.object_type == "screening")
                     & (AuditEvent.object_id == str(screening_id)))
              .order_by(AuditEvent.seq))
    choices = {}
    for (details,) in events.tuples():
        details = details or {}
        if details.get("item") and details.get("choice") in CHOICE_LABELS:
            choices[details["item"]] = details["choice"]
    return choices


def trace(screening: Screening) -> Trace:
    """Who keyed (round 1), who verified (round 2), and every difference with its resolution."""
    keyings = list(ScreeningKeying.select(ScreeningKeying, Staff).join(Staff)
                   .where(ScreeningKeying.screening == screening.id).order_by(ScreeningKeying.round))
    exam = catalogue.get_exam(screening.exam)
    recorded = recorded_choices(screening.id)
    lines = []
    for d in (ScreeningDifference.select(ScreeningDifference, Staff).join(Staff)
              .where(ScreeningDifference.screening == screening.id)
              .order_by(ScreeningDifference.at, ScreeningDifference.id)):
        try:
            item = exam.item(d.item)
        except KeyError:
            item = catalogue.Item(d.item, d.item, "text", required=False)
        first, second, chosen = d.first_value or "", d.second_value or "", d.chosen_value or ""
        # the choice the resolver made, as recorded with the difference (a paper value may equal
        # the second keying's: it is still 用紙の値を入力); inferred only for a row without one
        choice = recorded.get(d.item) or (FIRST if chosen == first else SECOND if chosen == second else PAPER)
        lines.append(DifferenceLine(d, item.label, shown_value(item, first), shown_value(item, second),
                                    shown_value(item, chosen), CHOICE_LABELS[choice]))
    second = next((k for k in keyings if k.round == 2), None)
    awaiting = differences_of(screening, second) if second is not None and screening.status == PENDING else []
    return Trace(keyings, lines, awaiting)
