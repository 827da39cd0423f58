"""The desk: one batch of pending forms, one form at a time, with what this person may do."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from models import Institution, Resident, Screening, ScreeningKeying, db

from kenshin import audit
from kenshin.screening import catalogue
from kenshin.screening import screenings
from kenshin.core.errors import NotFound, Refused
from kenshin.verification.rules import NOT_PENDING, PENDING, verified_keys
from kenshin.verification.seen import KEY, RESOLVE, Step, facts_for, step_for
from kenshin.verification.oversight import BatchKey, day_range


# --- the desk: one batch, one form at a time ---------------------------------------------------

@dataclass
class DiffLine:
    """One item on which the two keyings differ, as the resolution screen shows it."""

    key: str
    item: catalogue.Item
    first: str
    second: str

    @property
    def label(self) -> str:
        return self.item.label

    @property
    def first_text(self) -> str:
        return shown_value(self.item, self.first)

    @property
    def second_text(self) -> str:
        return shown_value(self.item, self.second)


def shown_value(item: catalogue.Item, value: str) -> str:
    """A value as the paper writes it, with its meaning when that says more (3b（カテゴリー3b…）,
    陽性)."""
    text = item.display(value)
    written = item.written(value)
    if item.kind == "code" and value and text != written:
        return f"{written}（{text}）"
    return text or "（空欄）"


@dataclass
class Desk:
    """What the verification screen shows: the batch's forms and the one being worked on."""

    key: BatchKey
    institution: str
    exam: catalogue.Exam
    forms: list[Screening]
    steps: dict[int, Step]
    current: Screening | None = None
    keys: tuple[str, ...] = ()
    differences: list[DiffLine] = field(default_factory=list)

    @property
    def step(self) -> Step | None:
        return self.steps.get(self.current.id) if self.current is not None else None

    @property
    def items(self) -> list[catalogue.Item]:
        return [self.exam.item(k) for k in self.keys]

    @property
    def remaining(self) -> int:
        return sum(1 for s in self.steps.values() if s.kind in (KEY, RESOLVE))

    @property
    def position(self) -> int:
        return next((n for n, s in enumerate(self.forms, 1) if self.current and s.id == self.current.id), 0)


def _batch_forms(key: BatchKey) -> tuple[Institution, list[Screening]]:
    institution = Institution.get_or_none(Institution.code == key.institution_code)
    if institution is None:
        raise NotFound("確認入力の束が見つかりません")
    start, end = day_range(key.entered_on)
    forms = list(Screening.select(Screening, Resident).join(Resident)
                 .where((Screening.status == PENDING) & (Screening.institution == institution.id)
                        & (Screening.exam == key.exam) & (Screening.entered_at >= start)
                        & (Screening.entered_at < end))
                 .order_by(Screening.entered_at, Screening.id))
    for form in forms:
        form.institution = institution
    return institution, forms


def differences_of(screening: Screening, second: ScreeningKeying) -> list[DiffLine]:
    """Items (of those keyed in round 2) on which the record and the second keying differ.

    A derived 精密検査の対象 (`referral` of an exam whose rule derives it) is not listed when each
    keying's value is what the rule derives from that keying's items: it follows the items (便潜血
    陰性 vs 陽性 is one difference, not two) and is derived again once they are settled."""
    exam = catalogue.get_exam(screening.exam)
    first = screening.items or {}
    lines = [DiffLine(key, exam.item(key), first.get(key, "") or "", value or "")
             for key, value in _in_form_order(exam, second.items)
             if (value or "") != (first.get(key, "") or "")]
    if exam.referral_derivable:
        merged = {**first, **second.items}
        lines = [line for line in lines
                 if line.key != "referral" or not (_follows_rule(exam, first) and _follows_rule(exam, merged))]
    return lines


def _follows_rule(exam: catalogue.Exam, items: Mapping[str, str]) -> bool:
    derived = exam.referral_rule(items)
    return derived is not None and (items.get("referral") or "") == ("1" if derived else "0")


def _in_form_order(exam: catalogue.Exam, values: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(key, values[key]) for key in exam.all_keys if key in values]


def desk(key: BatchKey, actor: audit.Actor, verify_all: Collection[str] = (),
         current_id: int | None = None, after_id: int | None = None) -> Desk:
    """A batch with the form to work on: `current_id`, else the first form (after `after_id`,
    when given) this person can key or resolve. The desk shows the batch's list of forms (kana
    names) and the current form's person: both are audited views."""
    institution, forms = _batch_forms(key)
    facts = facts_for(forms)
    steps = {s.id: step_for(s, facts[s.id], actor) for s in forms}
    result = Desk(key, institution.name, catalogue.get_exam(key.exam), forms, steps)
    if current_id is not None:
        result.current = next((s for s in forms if s.id == current_id), None)
    else:
        order = forms
        if after_id is not None:
            index = next((n for n, s in enumerate(forms) if s.id == after_id), -1)
            order = forms[index + 1:] + forms[:index + 1]
        result.current = next((s for s in order if steps[s.id].kind in (KEY, RESOLVE)), None)
    with db.atomic():
        if forms:
            audit.record("screening.view", actor, object_type="screening",
                         details={"exam": key.exam, "screen": "verify", "list": True,
                                  "count": len(forms)})
        if result.current is not None:
            current = result.current
            if steps[current.id].kind == RESOLVE:
                result.differences = differences_of(current, facts[current.id].second)
            result.keys = verified_keys(current.exam, verify_all)
            audit.record("screening.view", actor, resident=current.resident_id, object_type="screening",
                         object_id=current.id, details={"exam": current.exam, "screen": "verify",
                                                        "step": steps[current.id].kind})
    return result


def form_desk(screening_id: int, actor: audit.Actor, verify_all: Collection[str] = ()) -> Desk:
    """The desk of the batch a form belongs to, with that form current (whatever its step)."""
    screening = screenings.get(screening_id)
    if screening.status != PENDING:
        raise Refused(NOT_PENDING.get(screening.status, "この記録は確認入力の対象ではありません。"))
    return desk(BatchKey.of(screening), actor, verify_all, current_id=screening.id)


def next_desk(screening: Screening, actor: audit.Actor, verify_all: Collection[str] = ()) -> Desk:
    """After a form: its batch with the next form this person can key or resolve."""
    return desk(BatchKey.of(screening), actor, verify_all, after_id=screening.id)
