"""Corrections that need a second person (issue 14).

Verified entry guards the first keying; a correction of a confirmed record could undo it by one
person alone (要精検 → 精検不要). So a correction of a confirmed record that changes its outcome
(要精検・判定保留・精検不要) or any item verified entry verifies is not applied: it is kept as a
`ScreeningProposal` and the record keeps its confirmed values — for counts, prints, reports,
invitations, follow-up, FHIR export and provision, which all read the record. It takes effect
only when a DIFFERENT person confirms it:

- a supervisor approves it, having seen the old and proposed values side by side (or rejects it);
- another clerk keys the changed items blind (without seeing the proposed values): agreement
  applies it; differences are shown and settled against the paper as verified entry does
  (proposed / blind / paper value, with a reason), by that clerk or a supervisor.

The proposer may withdraw it; voiding the record cancels it. Every step is audited in the same
transaction (keys, never values). The applied correction is a `ScreeningChange` under the
proposer's name, linked from the proposal, which names the confirmer.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from models import AuditEvent, Screening, ScreeningProposal, Staff, db

from kenshin import audit
from kenshin.access.roles import SUPERVISOR
from kenshin.screening import catalogue
from kenshin.screening import screenings
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.verification.rules import REASON_MAX, verified_keys

OPEN, APPLIED, WITHDRAWN, REJECTED, CANCELLED = "open", "applied", "withdrawn", "rejected", "cancelled"
STATUS_LABELS = {OPEN: "確認待ち", APPLIED: "反映済み", WITHDRAWN: "取下げ", REJECTED: "差戻し",
                 CANCELLED: "記録の取消により終了"}
APPROVED, AGREED, SETTLED = "approved", "agreed", "settled"
DECISION_LABELS = {APPROVED: "係長の承認", AGREED: "別の職員の確認入力（一致）",
                   SETTLED: "別の職員の確認入力（相違を用紙で解決）", WITHDRAWN: "提案者の取下げ",
                   REJECTED: "係長の差戻し", "void": "記録の取消"}
# What screenings.correct and screenings.void call through the package; the screens use the module.
__all__ = ["open_proposal", "needs_second_person", "propose", "cancel_for_void"]

PROPOSED, BLIND, PAPER = "proposed", "blind", "paper"
CHOICE_LABELS = {PROPOSED: "訂正案の値", BLIND: "確認入力の値", PAPER: "用紙から入力した値"}
COMMON = ("exam_date", "institution_code", "setting")
# Audit detail of a screening.view that showed a proposal's values (the viewer may then not key
# it blind; read back like screenings.FIRST_KEYING_SHOWN).
PROPOSAL_SHOWN = "proposal_shown"

PROPOSER = ("この訂正を提案したのはあなたです。確認は別の職員（係長の承認、または値を見ない確認入力）が"
            "行います。")
SHOWN = "あなたはこの訂正案の値を表示しています。値を見ずに入力するため、確認入力は別の職員が行ってください。"
NOT_OPEN = "この訂正はすでに確認待ちではありません（反映・取下げ・差戻しのいずれか）。"
ALREADY_KEYED = "この訂正はすでに別の職員が確認入力しました。"
CHANGED_MEANWHILE = "提案の後に記録が変わりました。訂正をやり直してください。"


# --- when a correction needs a second person ----------------------------------------------------

def _outcome(exam: str, referral: bool, pending: bool) -> str:
    return catalogue.outcome_of(exam, bool(referral), bool(pending))


def guarded_keys(screening: Screening, changed: Collection[str], verify_all: Collection[str] = ()
                 ) -> list[str]:
    """The changed keys verified entry verifies (in the order given)."""
    verified = set(verified_keys(screening.exam, verify_all))
    return [key for key in changed if key in verified]


def needs_second_person(screening: Screening, checked: screenings.Checked, changed: Collection[str],
                        verify_all: Collection[str] = ()) -> bool:
    """Whether a correction of this (confirmed) record must wait for another person: it changes
    the outcome (要精検・判定保留・精検不要) or an item verified entry verifies."""
    before = _outcome(screening.exam, screening.referral, screening.pending)
    after = _outcome(screening.exam, checked.referral, checked.pending)
    return before != after or bool(guarded_keys(screening, changed, verify_all))


def propose(screening: Screening, before: dict, after: dict, changed: list[str], reason: str,
            actor: audit.Actor) -> ScreeningProposal:
    """Keep the correction as a proposal (inside screenings.correct's transaction), audited."""
    if actor.staff_id is None:
        raise Refused("職員として操作してください")
    proposal = ScreeningProposal.create(
        screening=screening.id, status=OPEN, before=before, after=after, changed=list(changed),
        reason=reason, proposed_by=actor.staff_id, proposed_at=now_utc())
    audit.record("screening.correction_propose", actor, resident=screening.resident_id,
                 object_type="screening", object_id=screening.id,
                 details={"exam": screening.exam, "proposal": proposal.id, "changed": list(changed)})
    return proposal


# --- reading ----------------------------------------------------------------------------------

def open_proposal(screening_id: int) -> ScreeningProposal | None:
    """The correction of this record that waits for a second person, if any."""
    return (ScreeningProposal.select(ScreeningProposal, Staff)
            .join(Staff, on=(ScreeningProposal.proposed_by == Staff.id))
            .where((ScreeningProposal.screening == screening_id) & (ScreeningProposal.status == OPEN))
            .first())


def proposals_of(screening_id: int) -> list[ScreeningProposal]:
    """Every proposal of a record, oldest first (the history names proposer and confirmer)."""
    return list(ScreeningProposal.select()
                .where(ScreeningProposal.screening == screening_id)
                .order_by(ScreeningProposal.proposed_at, ScreeningProposal.id))


def get_proposal(proposal_id: int) -> ScreeningProposal:
    proposal = ScreeningProposal.get_or_none(ScreeningProposal.id == proposal_id)
    if proposal is None:
        raise NotFound("確認待ちの訂正が見つかりません")
    return proposal


def shown_to(proposal: ScreeningProposal) -> set[int]:
    """Staff who opened the side-by-side view of this proposal (its values)."""
    rows = (AuditEvent.select(AuditEvent.actor, AuditEvent.details)
            .where((AuditEvent.action == "screening.view") & (AuditEvent.object_type == "screening")
                   & (AuditEvent.object_id == str(proposal.screening_id))).tuples())
    return {actor for actor, details in rows
            if actor is not None and (details or {}).get(PROPOSAL_SHOWN) == proposal.id}


@dataclass
class Line:
    """One changed key as the screens show it."""

    key: str
    label: str
    before: str
    proposed: str
    blind: str = ""


def _label(exam: catalogue.Exam, key: str) -> str:
    common = {"exam_date": "受診日", "institution_code": "医療機関コード", "setting": "検診種別"}
    if key in common:
        return common[key]
    try:
        return exam.item(key).label
    except KeyError:
        return key


def _value(snapshot: Mapping | None, key: str):
    if not snapshot:
        return ""
    if key in COMMON:
        return snapshot.get(key, "") or ""
    return (snapshot.get("items") or {}).get(key, "") or ""


def _text(exam: catalogue.Exam, key: str, value: str) -> str:
    if key == "setting":
        return catalogue.SETTINGS.get(value, value) or "（空欄）"
    if key in COMMON:
        return value or "（空欄）"
    try:
        item = exam.item(key)
    except KeyError:
        return value
    text = item.display(value)
    if item.kind == "code" and value and text != value:
        return f"{value}（{text}）"
    return text or "（空欄）"


def lines(proposal: ScreeningProposal, keys: Collection[str] | None = None) -> list[Line]:
    exam = catalogue.get_exam(proposal.screening.exam)
    out = []
    for key in (proposal.changed if keys is None else keys):
        out.append(Line(key, _label(exam, key), _text(exam, key, _value(proposal.before, key)),
                        _text(exam, key, _value(proposal.after, key)),
                        _text(exam, key, (proposal.blind or {}).get(key, "")) if proposal.blind else ""))
    return out


def outcome_labels(proposal: ScreeningProposal) -> tuple[str, str]:
    """The outcome before and as proposed (要精検・判定保留・精検不要), for the approval screen."""
    exam = proposal.screening.exam
    before = (proposal.before or {}).get("items") or {}
    after = (proposal.after or {}).get("items") or {}
    return (catalogue.OUTCOME_LABELS[_outcome(exam, catalogue.referral_flag(exam, before),
                                              catalogue.pending_flag(exam, before))],
            catalogue.OUTCOME_LABELS[_outcome(exam, catalogue.referral_flag(exam, after),
                                              catalogue.pending_flag(exam, after))])


def blind_keys(proposal: ScreeningProposal) -> list[str]:
    """What the blind keyer types: the changed keys, except a `referral` the exam derives (it
    follows from the keyed items, as in verified entry)."""
    exam = catalogue.get_exam(proposal.screening.exam)
    return [key for key in proposal.changed if not (key == "referral" and exam.referral_derivable)]


@dataclass
class Waiting:
    """A line of the worklist: no name, no value (not an audited read)."""

    proposal: ScreeningProposal
    exam_name: str
    labels: list[str]
    proposer: str
    state: str
    own: bool


def worklist(actor: audit.Actor) -> list[Waiting]:
    """Every correction that waits for a second person, oldest first."""
    rows = (ScreeningProposal.select(ScreeningProposal, Screening, Staff)
            .join(Screening).switch(ScreeningProposal)
            .join(Staff, on=(ScreeningProposal.proposed_by == Staff.id))
            .where(ScreeningProposal.status == OPEN)
            .order_by(ScreeningProposal.proposed_at, ScreeningProposal.id))
    out = []
    for p in rows:
        exam = catalogue.get_exam(p.screening.exam)
        state = "相違の解決待ち" if p.blind is not None else "確認待ち"
        out.append(Waiting(p, exam.name, [_label(exam, k) for k in p.changed], p.proposed_by.name,
                           state, actor.staff_id == p.proposed_by_id))
    return out


def waiting_count() -> int:
    return ScreeningProposal.select().where(ScreeningProposal.status == OPEN).count()


def view_for_review(proposal_id: int, actor: audit.Actor) -> ScreeningProposal:
    """The side-by-side view (old and proposed values): a supervisor's, or the proposer's own.
    Audited as a view that showed the proposal's values (the viewer may no longer key it blind)."""
    proposal = get_proposal(proposal_id)
    if SUPERVISOR not in actor.roles and actor.staff_id != proposal.proposed_by_id:
        raise Refused("訂正案の値は、提案した職員と係長だけが見られます。")
    screening = screenings.get(proposal.screening_id)
    proposal.screening = screening
    with db.atomic():
        audit.record("screening.view", actor, resident=screening.resident_id, object_type="screening",
                     object_id=screening.id,
                     details={"exam": screening.exam, "screen": "correction", PROPOSAL_SHOWN: proposal.id})
    return proposal


def view_for_keying(proposal_id: int, actor: audit.Actor) -> ScreeningProposal:
    """The blind keying screen (no proposed value on it); refused to whoever may not key it."""
    proposal = get_proposal(proposal_id)
    settling = (proposal.status == OPEN and proposal.blind is not None and SUPERVISOR in actor.roles
                and actor.staff_id not in (None, proposal.proposed_by_id))
    if not settling:
        _may_key(proposal, actor)
    screening = screenings.get(proposal.screening_id)
    proposal.screening = screening
    with db.atomic():
        audit.record("screening.view", actor, resident=screening.resident_id, object_type="screening",
                     object_id=screening.id, details={"exam": screening.exam, "screen": "correction_key"})
    return proposal


# --- confirming -------------------------------------------------------------------------------

def _open(proposal_id: int) -> ScreeningProposal:
    proposal = get_proposal(proposal_id)
    if proposal.status != OPEN:
        raise Refused(NOT_OPEN)
    proposal.screening = screenings.get(proposal.screening_id)
    return proposal


def _may_key(proposal: ScreeningProposal, actor: audit.Actor) -> None:
    if proposal.status != OPEN:
        raise Refused(NOT_OPEN)
    if actor.staff_id is None:
        raise Refused("職員として操作してください")
    if actor.staff_id == proposal.proposed_by_id:
        raise Refused(PROPOSER)
    if proposal.blind is not None:
        if actor.staff_id == proposal.blind_by_id:
            return  # settling the differences of their own keying
        raise Refused(ALREADY_KEYED)
    if actor.staff_id in shown_to(proposal):
        raise Refused(SHOWN)


def _status_guard(proposal: ScreeningProposal, status: str, actor: audit.Actor, now: datetime,
                  decision: str, reason: str | None = None, **extra) -> None:
    updated = (ScreeningProposal.update(status=status, decision=decision, decided_by=actor.staff_id,
                                        decided_at=now, decision_reason=reason, **extra)
               .where((ScreeningProposal.id == proposal.id) & (ScreeningProposal.status == OPEN))
               .execute())
    if updated != 1:
        raise Refused(NOT_OPEN)


def _checked_from(proposal: ScreeningProposal, values: Mapping[str, str]):
    """The proposal's after-values with `values` (raw, by key) in place, checked by every rule:
    (checked, snapshot, errors). A derivable `referral` is derived again when not given."""
    screening = proposal.screening
    exam = catalogue.get_exam(screening.exam)
    after = proposal.after
    items = dict(after.get("items") or {})
    for key, value in values.items():
        if key not in COMMON:
            items[key] = value or ""
    if exam.referral_derivable and "referral" not in values:
        items["referral"] = ""
    checked, errors = screenings.check(
        exam=screening.exam, exam_date=values.get("exam_date", after.get("exam_date")),
        institution=values.get("institution_code", after.get("institution_code")),
        setting=values.get("setting", after.get("setting")), items=items,
        sex=screening.resident.sex, birth_date=screening.resident.birth_date)
    if errors:
        return None, None, errors
    snap = {"exam_date": checked.exam_date.isoformat(), "institution_code": checked.institution_code,
            "setting": str(checked.setting), "items": checked.items}
    return checked, snap, {}


def _apply(proposal: ScreeningProposal, values: Mapping[str, str], actor: audit.Actor, decision: str,
           **extra) -> ScreeningProposal:
    """Apply the proposal (with `values` in place of proposed ones) in the caller's transaction."""
    screening = proposal.screening
    if screening.status != screenings.CONFIRMED or screenings.snapshot(screening) != proposal.before:
        raise Refused(CHANGED_MEANWHILE)
    checked, after, errors = _checked_from(proposal, values)
    if errors:
        raise Invalid(errors)
    now = now_utc()
    changed = screenings.changed_keys(proposal.before, after)
    if not changed:  # the paper said the record was right after all
        _status_guard(proposal, REJECTED, actor, now, decision,
                      "確認の結果、記録の値のままとしました", **extra)
        audit.record("screening.correction_confirm", actor, resident=screening.resident_id,
                     object_type="screening", object_id=screening.id,
                     details={"exam": screening.exam, "proposal": proposal.id, "how": decision,
                              "applied": False})
        return get_proposal(proposal.id)
    same = screenings.existing(screening.resident_id, checked.exam, checked.exam_date, checked.target,
                               exclude_id=screening.id)
    if same is not None:
        raise screenings.Duplicate(same.id)
    _status_guard(proposal, APPLIED, actor, now, decision, None, **extra)
    change = screenings.apply_correction(
        screening, checked, proposal.before, after, changed, proposal.reason,
        proposal.proposed_by_id, actor,
        audit_details={"proposal": proposal.id, "how": decision,
                       "proposed_by": proposal.proposed_by_id})
    ScreeningProposal.update(change=change.id).where(ScreeningProposal.id == proposal.id).execute()
    audit.record("screening.correction_confirm", actor, resident=screening.resident_id,
                 object_type="screening", object_id=screening.id,
                 details={"exam": screening.exam, "proposal": proposal.id, "how": decision,
                          "applied": True, "changed": changed})
    return get_proposal(proposal.id)


def _supervisor_not_proposer(proposal: ScreeningProposal, actor: audit.Actor) -> None:
    if SUPERVISOR not in actor.roles:
        raise Refused("承認・差戻しは係長が行います。")
    if actor.staff_id is None or actor.staff_id == proposal.proposed_by_id:
        raise Refused(PROPOSER)


def approve(proposal_id: int, actor: audit.Actor) -> ScreeningProposal:
    """A supervisor (not the proposer) approves: the correction is applied."""
    with db.atomic():
        proposal = _open(proposal_id)
        _supervisor_not_proposer(proposal, actor)
        return _apply(proposal, {}, actor, APPROVED)


def _reason(text: str | None, key: str = "reason") -> str:
    value = (text or "").strip()
    if not value:
        raise Invalid({key: ["理由を入力してください"]})
    if len(value) > REASON_MAX:
        raise Invalid({key: [f"理由は{REASON_MAX}文字以内です"]})
    return value


def reject(proposal_id: int, reason: str, actor: audit.Actor) -> ScreeningProposal:
    """A supervisor (not the proposer) sends it back: the record stays as it is."""
    with db.atomic():
        proposal = _open(proposal_id)
        _supervisor_not_proposer(proposal, actor)
        text = _reason(reason)
        _status_guard(proposal, REJECTED, actor, now_utc(), REJECTED, text)
        audit.record("screening.correction_reject", actor, resident=proposal.screening.resident_id,
                     object_type="screening", object_id=proposal.screening_id,
                     details={"exam": proposal.screening.exam, "proposal": proposal.id})
    return get_proposal(proposal_id)


def withdraw(proposal_id: int, actor: audit.Actor) -> ScreeningProposal:
    """The proposer takes it back: the record stays as it is."""
    with db.atomic():
        proposal = _open(proposal_id)
        if actor.staff_id != proposal.proposed_by_id:
            raise Refused("取り下げられるのは、訂正を提案した職員だけです。")
        _status_guard(proposal, WITHDRAWN, actor, now_utc(), WITHDRAWN)
        audit.record("screening.correction_withdraw", actor, resident=proposal.screening.resident_id,
                     object_type="screening", object_id=proposal.screening_id,
                     details={"exam": proposal.screening.exam, "proposal": proposal.id})
    return get_proposal(proposal_id)


def cancel_for_void(screening: Screening, actor: audit.Actor, now: datetime) -> int | None:
    """Voiding the record ends its waiting correction (inside screenings.void's transaction)."""
    proposal = ScreeningProposal.get_or_none((ScreeningProposal.screening == screening.id)
                                             & (ScreeningProposal.status == OPEN))
    if proposal is None:
        return None
    _status_guard(proposal, CANCELLED, actor, now, "void")
    return proposal.id


@dataclass
class Keyed:
    proposal: ScreeningProposal
    agreed: bool
    differences: list[str]


def key_blind(proposal_id: int, values: Mapping[str, str | None], actor: audit.Actor) -> Keyed:
    """Another person keys the changed items from the paper without seeing the proposed values:
    agreement applies the correction; differences are kept and wait to be settled."""
    with db.atomic():
        proposal = _open(proposal_id)
        _may_key(proposal, actor)
        if proposal.blind is not None:
            raise Refused(ALREADY_KEYED)
        keys = blind_keys(proposal)
        raw = {key: (values.get(key) or "") for key in keys}
        checked, snap, errors = _checked_from(proposal, raw)
        if errors:
            raise Invalid({(k if k in keys else "-"): m for k, m in errors.items()})
        blind = {key: _value(snap, key) for key in keys}
        differing = [key for key in keys if blind[key] != _value(proposal.after, key)]
        now = now_utc()
        audit.record("screening.correction_key", actor, resident=proposal.screening.resident_id,
                     object_type="screening", object_id=proposal.screening_id,
                     details={"exam": proposal.screening.exam, "proposal": proposal.id, "keys": keys,
                              "agreed": not differing, "differences": differing})
        if not differing:
            result = _apply(proposal, {}, actor, AGREED, blind=blind, blind_by=actor.staff_id,
                            blind_at=now)
            return Keyed(result, True, [])
        (ScreeningProposal.update(blind=blind, blind_by=actor.staff_id, blind_at=now)
         .where((ScreeningProposal.id == proposal.id) & ScreeningProposal.blind.is_null()
                & (ScreeningProposal.status == OPEN)).execute())
    return Keyed(get_proposal(proposal_id), False, differing)


def differences(proposal: ScreeningProposal) -> list[Line]:
    """The keyed items on which the blind keying and the proposal differ."""
    if proposal.blind is None:
        return []
    keys = [k for k in blind_keys(proposal)
            if (proposal.blind or {}).get(k, "") != _value(proposal.after, k)]
    return lines(proposal, keys)


def settle(proposal_id: int, resolutions: Mapping[str, Mapping[str, str]], actor: audit.Actor
           ) -> ScreeningProposal:
    """Settle each difference against the paper — 訂正案の値 / 確認入力の値 / 用紙から入力 — with a
    reason, by the blind keyer or a supervisor who did not propose it; then apply what remains."""
    with db.atomic():
        proposal = _open(proposal_id)
        if proposal.blind is None:
            raise Refused("この訂正には解決する相違がありません。")
        if actor.staff_id == proposal.proposed_by_id:
            raise Refused(PROPOSER)
        if actor.staff_id != proposal.blind_by_id and SUPERVISOR not in actor.roles:
            raise Refused("相違の解決は、確認入力した職員か係長が行います。")
        errors: dict[str, list[str]] = {}
        chosen: dict[str, str] = {}
        kept: dict[str, dict] = {}
        for line in differences(proposal):
            given = resolutions.get(line.key) or {}
            choice = (given.get("choice") or "").strip()
            if not choice and (given.get("value") or "").strip():
                choice = PAPER
            if choice == PROPOSED:
                chosen[line.key] = _value(proposal.after, line.key)
            elif choice == BLIND:
                chosen[line.key] = proposal.blind.get(line.key, "")
            elif choice == PAPER:
                chosen[line.key] = given.get("value") or ""
            else:
                errors[line.key] = ["訂正案・確認入力・用紙の値のどれにするか選んでください"]
            text = (given.get("reason") or "").strip()
            if not text:
                errors[f"reason:{line.key}"] = ["理由（用紙でどう確かめたか）を入力してください"]
            elif len(text) > REASON_MAX:
                errors[f"reason:{line.key}"] = [f"理由は{REASON_MAX}文字以内です"]
            kept[line.key] = {"choice": choice, "reason": text}
        if errors:
            raise Invalid(errors)
        for key, settled in kept.items():  # one event per difference, as verified entry does
            audit.record("screening.correction_difference", actor,
                         resident=proposal.screening.resident_id, object_type="screening",
                         object_id=proposal.screening_id,
                         details={"exam": proposal.screening.exam, "proposal": proposal.id,
                                  "item": key, "choice": settled["choice"]})
        result = _apply(proposal, chosen, actor, SETTLED, settlement=kept)
    return result
