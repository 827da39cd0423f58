"""ベリファイ入力 (verified entry): a keyed paper form counts only after a second, independent keying agrees.

LESSONS.md #4: one person keying alone turned 要精検 into 異常認めず. So a keyed form is saved
`pending` (未確定, `screenings.record` with source keyed) and its keying is kept as round 1 of
`screening_keying`. A different staff member then picks a batch of pending forms (institution,
exam, day of entry), keys each form's verified items again without seeing the first values
(round 2). When both agree the screening becomes `confirmed` (verified_by, verified_at). When
they differ, both values are shown side by side and the second keyer resolves each difference
against the paper — the first value, the second, or the paper's value typed again, with a
reason — kept in `screening_difference`; the items (and 要精検) follow the resolution and the
screening is confirmed. Every step writes its audit event in the same transaction; details name
item keys, never values.

Which items are verified: `catalogue.verified_items` — the items that decide 要精検 (and
`target` for followup) — or every item of the exams in the VERIFY_ALL_ITEMS setting, which the
caller passes in as `verify_all` (see `verify_all_exams`).

Blindness: nobody who has seen the first values may key round 2 — the first keyer, the clerk who
recorded the form from the queue (they saw it there), anyone who corrected the pending record,
and anyone who chose to show its values on the detail page (that view is audited with
`FIRST_KEYING_SHOWN`, and the audit log is what we read back).
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from peewee import JOIN, IntegrityError

from models import (
    AuditEvent,
    Institution,
    Resident,
    Screening,
    ScreeningChange,
    ScreeningDifference,
    ScreeningKeying,
    Staff,
    db,
)

from kenshin import audit
from kenshin.screening import catalogue
from kenshin.screening import screenings
from kenshin.core.dates import JST, now_utc, to_jst, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused

PENDING, CONFIRMED, VOID = screenings.PENDING, screenings.CONFIRMED, screenings.VOID
OVERDUE_DAYS = 7
REASON_MAX = 400
CHUNK = 500
FIRST, SECOND, PAPER = "first", "second", "paper"
CHOICE_LABELS = {FIRST: "1回目の値", SECOND: "2回目の値", PAPER: "用紙から入力した値"}

# What the person at the keyboard is told when they may not key a form a second time.
KEYED_FIRST = "この用紙の1回目を入力したのはあなたです。確認入力（2回目）は別の職員が行ってください。"
RECORDED = ("この記録を突合待ちから登録したのはあなたです。1回目の値を見ているため、"
            "確認入力（2回目）は別の職員が行ってください。")
CORRECTED = ("この記録を訂正したのはあなたです。1回目の値を見ているため、"
             "確認入力（2回目）は別の職員が行ってください。")
SHOWN = ("あなたはこの記録の1回目の値を表示しています。値を見ずに入力するため、"
         "確認入力（2回目）は別の職員が行ってください。")
NOT_PENDING = {CONFIRMED: "この記録はすでに確定しています。", VOID: "この記録は取り消されています。"}
ALREADY_KEYED = "この用紙はすでに別の職員が確認入力しました。"


# --- configuration ---------------------------------------------------------------------------

def verify_all_exams(setting) -> frozenset[str]:
    """The VERIFY_ALL_ITEMS setting as exam codes: a list, or text separated by commas or spaces.

    An unknown code is a ValueError: a typo must not silently verify fewer items."""
    if setting is None:
        return frozenset()
    if isinstance(setting, str):
        codes = [code for code in re.split(r"[\s,]+", setting) if code]
    else:
        codes = [str(code).strip() for code in setting if str(code).strip()]
    unknown = sorted(set(codes) - set(catalogue.EXAMS))
    if unknown:
        raise ValueError(f"VERIFY_ALL_ITEMS names unknown exams {unknown}; "
                         f"the catalogue has {list(catalogue.EXAMS)}")
    return frozenset(codes)


def verified_keys(exam_code: str, verify_all: Collection[str] = ()) -> tuple[str, ...]:
    """The items a second keying must match for this exam, in form order."""
    return catalogue.verified_items(exam_code, all_items=exam_code in verify_all)


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


def _facts(rows: list[Screening]) -> dict[int, Facts]:
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
    return _facts([screening])[screening.id]


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
        if "supervisor" in actor.roles and staff_id not in (facts.keyer, facts.recorder):
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


# --- batches and the pending list ------------------------------------------------------------

@dataclass(frozen=True)
class BatchKey:
    """A stack of forms: keyed for one institution and exam on one day (Japan time)."""

    institution_code: str
    exam: str
    entered_on: date

    def url_args(self) -> dict:
        return {"code": self.institution_code, "exam": self.exam, "day": self.entered_on.isoformat()}

    @classmethod
    def parse(cls, code: str, exam: str, day: str) -> "BatchKey":
        """From a URL; NotFound when a part cannot be one."""
        if not re.fullmatch(r"[0-9]{10}", code or "") or exam not in catalogue.EXAMS:
            raise NotFound("確認入力の束が見つかりません")
        try:
            return cls(code, exam, date.fromisoformat(day))
        except (TypeError, ValueError):
            raise NotFound("確認入力の束が見つかりません") from None

    @classmethod
    def of(cls, screening: Screening) -> "BatchKey":
        return cls(screening.institution.code, screening.exam, entered_on(screening.entered_at))


def entered_on(at: datetime) -> date:
    """The Japan-time day of a stored UTC timestamp."""
    return to_jst(at).date()


def _day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), JST).astimezone(timezone.utc).replace(tzinfo=None)
    return start, start + timedelta(days=1)


@dataclass
class PendingRow:
    """One pending screening as the oversight list shows it: no name, no values."""

    id: int
    institution_id: int
    exam: str
    exam_date: date
    entered_at: datetime
    entered_on: date
    days: int
    keyer_id: int | None
    recorder_id: int | None
    second_id: int | None
    institution: str = ""
    institution_code: str = ""
    keyer: str = ""
    second: str = ""

    @property
    def exam_name(self) -> str:
        exam = catalogue.EXAMS.get(self.exam)
        return exam.name if exam else self.exam


@dataclass
class Batch:
    key: BatchKey
    institution: str
    exam_name: str
    count: int = 0
    awaiting_resolution: int = 0
    oldest_days: int = 0
    keyers: list = field(default_factory=list)
    own: int = 0  # forms the asking person keyed or recorded (they cannot verify those)
    overdue: bool = False


@dataclass
class Group:
    """Pending forms of one institution."""

    institution: str
    count: int
    oldest_days: int
    overdue: bool


@dataclass
class Overview:
    rows: list[PendingRow]
    batches: list[Batch]
    institutions: list[Group]
    total: int
    overdue_count: int
    overdue_days: int
    own_only: bool


def _pending_rows(today: date) -> list[PendingRow]:
    """Every pending screening with its keyers (ordered oldest first)."""
    rows: dict[int, PendingRow] = {}
    query = (Screening.select(Screening.id, Screening.institution, Screening.exam, Screening.exam_date,
                              Screening.entered_at, Screening.entered_by, ScreeningKeying.round,
                              ScreeningKeying.staff)
             .join(ScreeningKeying, JOIN.LEFT_OUTER, on=(ScreeningKeying.screening == Screening.id))
             .where(Screening.status == PENDING)
             .order_by(Screening.entered_at, Screening.id).tuples())
    for sid, institution_id, exam, exam_date, at, recorder, round_no, staff_id in query:
        row = rows.get(sid)
        if row is None:
            day = entered_on(at)
            row = rows[sid] = PendingRow(sid, institution_id, exam, exam_date, at, day,
                                         (today - day).days, None, recorder, None)
        if round_no == 1:
            row.keyer_id = staff_id
        elif round_no == 2:
            row.second_id = staff_id
    result = list(rows.values())
    institutions = {i.id: i for i in Institution.select().where(
        Institution.id.in_(sorted({r.institution_id for r in result})))} if result else {}
    staff_ids = {i for r in result for i in (r.keyer_id, r.second_id) if i}
    names = ({s.id: s.name for s in Staff.select(Staff.id, Staff.name).where(Staff.id.in_(sorted(staff_ids)))}
             if staff_ids else {})
    for r in result:
        institution = institutions.get(r.institution_id)
        r.institution = institution.name if institution else ""
        r.keyer = names.get(r.keyer_id, "")
        r.second = names.get(r.second_id, "")
        r.institution_code = institution.code if institution else ""
    return result


def _batches(rows: list[PendingRow], staff_id: int | None, overdue_days: int) -> list[Batch]:
    batches: dict[BatchKey, Batch] = {}
    for r in rows:
        key = BatchKey(r.institution_code, r.exam, r.entered_on)
        batch = batches.get(key)
        if batch is None:
            batch = batches[key] = Batch(key, r.institution, r.exam_name)
        batch.count += 1
        batch.awaiting_resolution += r.second_id is not None
        batch.oldest_days = max(batch.oldest_days, r.days)
        if r.keyer and r.keyer not in batch.keyers:
            batch.keyers.append(r.keyer)
        batch.own += staff_id is not None and staff_id in (r.keyer_id, r.recorder_id)
        batch.overdue = batch.oldest_days > overdue_days
    return sorted(batches.values(), key=lambda b: (b.key.entered_on, b.institution, b.key.exam))


def batches(actor: audit.Actor, overdue_days: int = OVERDUE_DAYS, today: date | None = None) -> list[Batch]:
    """Pending forms grouped into batches (institution, exam, day of entry), oldest first.

    Counts and staff names only — no person, no value — so the list is not an audited read."""
    return _batches(_pending_rows(today or today_jst()), actor.staff_id, overdue_days)


def overview(actor: audit.Actor, overdue_days: int = OVERDUE_DAYS, today: date | None = None,
             limit: int = 500) -> Overview:
    """Oversight: pending screenings by batch, institution and age, so that nothing waits unnoticed.

    A supervisor sees every pending screening; anyone else only those they keyed or recorded."""
    rows = _pending_rows(today or today_jst())
    own_only = "supervisor" not in actor.roles
    if own_only:
        rows = [r for r in rows if actor.staff_id is not None
                and actor.staff_id in (r.keyer_id, r.recorder_id)]
    groups: dict[int, Group] = {}
    for r in rows:
        group = groups.setdefault(r.institution_id, Group(r.institution, 0, 0, False))
        group.count += 1
        group.oldest_days = max(group.oldest_days, r.days)
        group.overdue = group.oldest_days > overdue_days
    return Overview(rows[:limit], _batches(rows, actor.staff_id, overdue_days),
                    sorted(groups.values(), key=lambda g: (-g.oldest_days, g.institution)),
                    len(rows), sum(1 for r in rows if r.days > overdue_days), overdue_days, own_only)


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
        return _shown(self.item, self.first)

    @property
    def second_text(self) -> str:
        return _shown(self.item, self.second)


def _shown(item: catalogue.Item, value: str) -> str:
    text = item.display(value)
    if item.kind == "code" and value and text != value:
        return f"{value}（{text}）"
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
    start, end = _day_range(key.entered_on)
    forms = list(Screening.select(Screening, Resident).join(Resident)
                 .where((Screening.status == PENDING) & (Screening.institution == institution.id)
                        & (Screening.exam == key.exam) & (Screening.entered_at >= start)
                        & (Screening.entered_at < end))
                 .order_by(Screening.entered_at, Screening.id))
    for form in forms:
        form.institution = institution
    return institution, forms


def differences_of(screening: Screening, second: ScreeningKeying) -> list[DiffLine]:
    """Items (of those keyed in round 2) on which the record and the second keying differ."""
    exam = catalogue.get_exam(screening.exam)
    first = screening.items or {}
    return [DiffLine(key, exam.item(key), first.get(key, "") or "", value or "")
            for key, value in _in_form_order(exam, second.items)
            if (value or "") != (first.get(key, "") or "")]


def _in_form_order(exam: catalogue.Exam, values: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(key, values[key]) for key in exam.keys if key in values]


def desk(key: BatchKey, actor: audit.Actor, verify_all: Collection[str] = (),
         current_id: int | None = None, after_id: int | None = None) -> Desk:
    """A batch with the form to work on: `current_id`, else the first form (after `after_id`,
    when given) this person can key or resolve. The desk shows the batch's list of forms (kana
    names) and the current form's person: both are audited views."""
    institution, forms = _batch_forms(key)
    facts = _facts(forms)
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


# --- the second keying -----------------------------------------------------------------------

def _clean_second(screening: Screening, keys: tuple[str, ...], values: Mapping[str, str | None]
                  ) -> tuple[dict, dict[str, list[str]]]:
    """The second keying's values of `keys`, checked by the catalogue as the first were: the
    record's other items stand in for the rest, and a blank derivable `referral` is derived."""
    merged = dict(screening.items or {})
    for key in keys:
        merged[key] = values.get(key) or ""
    clean, item_errors = catalogue.validate_items(screening.exam, merged, screening.resident.sex)
    errors: dict[str, list[str]] = {}
    for key, messages in item_errors.items():
        errors.setdefault(key if key in keys else "-", []).extend(messages)
    return {key: clean.get(key, "") for key in keys}, errors


@dataclass
class Keyed:
    screening: Screening
    agreed: bool
    differences: list[str]


def _confirm(screening: Screening, actor: audit.Actor, now: datetime, **changes) -> None:
    updated = (Screening.update(status=CONFIRMED, verified_by=actor.staff_id, verified_at=now, **changes)
               .where((Screening.id == screening.id) & (Screening.status == PENDING)).execute())
    if updated != 1:
        raise Refused("この記録は未確定ではなくなりました（確定または取消）。")


def key_second(screening_id: int, values: Mapping[str, str | None], actor: audit.Actor,
               verify_all: Collection[str] = ()) -> Keyed:
    """Round 2: the verified items keyed again, blind; confirmed at once when every one agrees.

    Refused for anyone who has seen the first values (the first keyer above all); Invalid for
    values the catalogue refuses. The keying is kept whatever the outcome."""
    with db.atomic():
        screening = screenings.get(screening_id)
        step = step_for(screening, facts_of(screening), actor)
        if step.kind != KEY:
            raise Refused(step.reason or ALREADY_KEYED)
        keys = verified_keys(screening.exam, verify_all)
        second, errors = _clean_second(screening, keys, values)
        if errors:
            raise Invalid(errors)
        now = now_utc()
        try:
            with db.atomic():
                keying = ScreeningKeying.create(screening=screening.id, round=2, items=second,
                                                staff=actor.staff_id, at=now)
        except IntegrityError:
            raise Refused(ALREADY_KEYED) from None
        differing = [d.key for d in differences_of(screening, keying)]
        if not differing:
            _confirm(screening, actor, now)
        audit.record("screening.verify", actor, resident=screening.resident_id, object_type="screening",
                     object_id=screening.id,
                     details={"exam": screening.exam, "round": 2, "verified_keys": list(keys),
                              "agreed": not differing, "differences": differing,
                              "status": PENDING if differing else CONFIRMED})
    return Keyed(screenings.get(screening.id), not differing, differing)


def _reason(text: str | None) -> tuple[str, list[str]]:
    value = (text or "").strip()
    if not value:
        return "", ["理由（用紙でどう確かめたか）を入力してください"]
    if len(value) > REASON_MAX:
        return "", [f"理由は{REASON_MAX}文字以内です"]
    return value, []


def resolve(screening_id: int, resolutions: Mapping[str, Mapping[str, str]], actor: audit.Actor) -> Screening:
    """Settle each difference against the paper and confirm the record.

    `resolutions` maps an item key to {"choice": first | second | paper, "value": the paper's
    value (for paper), "reason": why}. A paper value typed with no choice counts as the paper's.
    The record's items follow the choices (re-checked by the catalogue, 要精検 recomputed); each
    difference is kept with the chosen value, who and why, and audited (keys, never values)."""
    with db.atomic():
        screening = screenings.get(screening_id)
        facts = facts_of(screening)
        step = step_for(screening, facts, actor)
        if step.kind != RESOLVE:
            raise Refused(step.reason or "この用紙には解決する相違がありません。")
        exam = catalogue.get_exam(screening.exam)
        first = dict(screening.items or {})
        lines = differences_of(screening, facts.second)
        errors: dict[str, list[str]] = {}
        chosen: dict[str, str] = {}
        choices: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for line in lines:
            given = resolutions.get(line.key) or {}
            choice = (given.get("choice") or "").strip()
            if not choice and (given.get("value") or "").strip():
                choice = PAPER
            if choice == FIRST:
                chosen[line.key] = line.first
            elif choice == SECOND:
                chosen[line.key] = line.second
            elif choice == PAPER:
                chosen[line.key] = given.get("value") or ""
            else:
                errors[line.key] = ["1回目・2回目・用紙の値のどれにするか選んでください"]
            choices[line.key] = choice
            reasons[line.key], problems = _reason(given.get("reason"))
            if problems:
                errors[f"reason:{line.key}"] = problems
        merged = {**first, **chosen}
        if (exam.referral_derivable and "referral" not in chosen
                and any(chosen[k] != first.get(k, "") for k in chosen)):
            merged["referral"] = ""  # derived again from the settled items by the exam's rule
        clean, item_errors = catalogue.validate_items(screening.exam, merged, screening.resident.sex)
        for key, messages in item_errors.items():
            errors.setdefault(key if key in chosen else "-", []).extend(messages)
        if errors:
            raise Invalid(errors)
        now = now_utc()
        staff_id = actor.staff_id
        for line in lines:
            ScreeningDifference.create(screening=screening.id, item=line.key, first_value=line.first,
                                       second_value=line.second, chosen_value=clean.get(line.key, ""),
                                       reason=reasons[line.key], resolved_by=staff_id, at=now)
            audit.record("screening.difference", actor, resident=screening.resident_id,
                         object_type="screening", object_id=screening.id,
                         details={"exam": screening.exam, "item": line.key, "choice": choices[line.key]})
        changes = {}
        if clean != first:
            before = screenings.snapshot(screening)
            after = {**before, "items": clean}
            ScreeningChange.create(screening=screening.id, kind="verify", before=before, after=after,
                                   reason="確認入力（ベリファイ）の相違を用紙で確かめて解決", staff=staff_id, at=now)
            changes = {"items": clean, "referral": catalogue.referral_flag(screening.exam, clean)}
        _confirm(screening, actor, now, **changes)
    return screenings.get(screening.id)


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
        lines.append(DifferenceLine(d, item.label, _shown(item, first), _shown(item, second),
                                    _shown(item, chosen), CHOICE_LABELS[choice]))
    second = next((k for k in keyings if k.round == 2), None)
    awaiting = differences_of(screening, second) if second is not None and screening.status == PENDING else []
    return Trace(keyings, lines, awaiting)
