"""Who has seen a pending form's first values, and so who may key it a second time (blindness).

Nobody who has seen the first values may key round 2 — the first keyer, the clerk who recorded
the form from the queue (they saw it there), anyone who corrected the pending record, and anyone
who chose to show its values on the detail page (that view is audited with
`FIRST_KEYING_SHOWN`, and the audit log is what we read back).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from models import AuditEvent, Screening, ScreeningChange, ScreeningKeying, Staff

from kenshin import audit
from kenshin.access.roles import SUPERVISOR
from kenshin.screening import screenings
from kenshin.verification.rules import (
    CHUNK, CORRECTED, KEYED_FIRST, NOT_PENDING, PENDING, RECORDED, SHOWN,
)


# --- who has seen a pending form's values ----------------------------------------------------

@dataclass
class Facts:
    """What is known about a pending form's keyings and who has seen its first values."""

    keyer: int | None = None  # round 1
    recorder: int | None = None  # entered_by: the keyer, or whoever assigned it from the queue
    second: ScreeningKeying | None = None  # round 2, once keyed
    correctors: set = field(default_factory=set)
    shown_to: set = field(default_factory=set)

    def has_seen(self, staff_id: int | None) -> bool:
        """Whether this person has seen (or typed) the first values."""
        if staff_id is None:
            return False
        return (staff_id in (self.keyer, self.recorder) or staff_id in self.correctors
                or staff_id in self.shown_to
                or (self.second is not None and staff_id == self.second.staff_id))


def facts_for(rows: list[Screening]) -> dict[int, Facts]:
    facts = {s.id: Facts(recorder=s.entered_by_id) for s in rows}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        ids = [s.id for s in chunk]
        for keying in (ScreeningKeying.select(ScreeningKeying, Staff).join(Staff)
                       .where(ScreeningKeying.screening.in_(ids))):
            if keying.round == 1:
                facts[keying.screening_id].keyer = keying.staff_id
            elif keying.round == 2:
                facts[keying.screening_id].second = keying
        corrections = (ScreeningChange.select(ScreeningChange.screening, ScreeningChange.staff)
                       .where(ScreeningChange.screening.in_(ids) & (ScreeningChange.kind == "correct")))
        for screening_id, staff_id in corrections.tuples():
            facts[screening_id].correctors.add(staff_id)
        # The detail page's deliberate showing of first values is an audited view of the person.
        shown = (AuditEvent.select(AuditEvent.object_id, AuditEvent.actor, AuditEvent.details)
                 .where(AuditEvent.resident.in_(sorted({s.resident_id for s in chunk}))
                        & (AuditEvent.action == "screening.view")
                        & (AuditEvent.object_type == "screening")
                        & AuditEvent.object_id.in_([str(i) for i in ids])).tuples())
        for object_id, staff_id, details in shown:
            if staff_id is not None and (details or {}).get(screenings.FIRST_KEYING_SHOWN):
                facts[int(object_id)].shown_to.add(staff_id)
    return facts


def facts_of(screening: Screening) -> Facts:
    return facts_for([screening])[screening.id]


def first_values_visible(screening: Screening, actor: audit.Actor) -> bool:
    """Whether a screen may show this record's values to this person without spoiling the blind
    second keying: always for a record that is not pending or already keyed twice; for a pending
    one only to those who have seen them already (the keyer, the recorder, a corrector, anyone
    who chose to show them)."""
    if screening.status != PENDING:
        return True
    facts = facts_of(screening)
    # once round 2 is keyed nobody can key it blind any more: nothing left to protect
    return facts.second is not None or facts.has_seen(actor.staff_id)


KEY, RESOLVE, REFUSED = "key", "resolve", "refused"


@dataclass
class Step:
    """What this person can do with this form now: key it, resolve its differences, or nothing."""

    kind: str
    reason: str = ""
    short: str = ""  # for the batch's list of forms


def step_for(screening: Screening, facts: Facts, actor: audit.Actor) -> Step:
    if screening.status != PENDING:
        reason = NOT_PENDING.get(screening.status, "この記録は確認入力の対象ではありません。")
        return Step(REFUSED, reason, "確定・取消済み")
    staff_id = actor.staff_id
    if staff_id is None:
        return Step(REFUSED, "職員として操作してください。", "対象外")
    if facts.second is not None:
        if staff_id == facts.second.staff_id:
            return Step(RESOLVE, short="相違の解決待ち（あなたの確認入力）")
        if SUPERVISOR in actor.roles and staff_id not in (facts.keyer, facts.recorder):
            # the second keyer is away: a supervisor settles it with the paper
            return Step(RESOLVE, short=f"相違の解決待ち（{facts.second.staff.name}さんの確認入力）")
        who = facts.second.staff.name
        return Step(REFUSED, f"{who}さんが確認入力し、1回目との相違の解決を待っています。",
                    f"相違の解決待ち（{who}さん）")
    if staff_id == facts.keyer:
        return Step(REFUSED, KEYED_FIRST, "あなたの入力（他の職員が確認入力）")
    if staff_id == facts.recorder:
        return Step(REFUSED, RECORDED, "あなたが登録（他の職員が確認入力）")
    if staff_id in facts.correctors:
        return Step(REFUSED, CORRECTED, "あなたが訂正（他の職員が確認入力）")
    if staff_id in facts.shown_to:
        return Step(REFUSED, SHOWN, "1回目の値を表示済み（他の職員が確認入力）")
    return Step(KEY, short="確認入力できます")
