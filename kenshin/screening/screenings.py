"""Screening records: check, record, correct and void — each with its audit event in one transaction.

The exam catalogue decides which items an exam has and whether they are valid; this module adds
the rules around them: the sex rule (a women-only exam is refused for a man), one record per
person, exam, 受診日 (and target) among the records that are not void, 年度 and age at the exam
derived from the dates, a registered institution, a 受診日 neither in the future (Japan time)
nor before birth. Age/interval eligibility and residence only warn (kenshin.eligibility).

Corrections never overwrite silently: each keeps before/after, who, when and a required reason.
A record entered against the wrong person is voided (with a reason) and entered again; nothing
is deleted. Audit details name which items changed, never their values.

Verified entry (ベリファイ入力, kenshin.verification): a keyed form is recorded `pending` (未確定)
and keeps its keying as round 1 of ScreeningKeying; it counts only once a second keying by
someone else agrees (`confirmed`). Clinic-file rows are recorded `confirmed`. Anything that
counts results — statistics, follow-up and referral lists, provision, printed summaries —
starts from `counted()`, which holds confirmed records only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from peewee import IntegrityError, fn

from models import (
    Institution,
    Resident,
    Screening,
    ScreeningChange,
    ScreeningKeying,
    Staff,
    db,
)

from kenshin import audit
from kenshin.screening import catalogue
from kenshin.screening import eligibility, extensions
from kenshin.core.dates import DateError, age_at, fiscal_year, now_utc, parse_date, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core import labels
from kenshin.core.textinput import ascii_text

PENDING, CONFIRMED, VOID = "pending", "confirmed", "void"
STATUS_LABELS = labels.SCREENING_STATUS
KEYED, FILE = "keyed", "file"
SOURCE_LABELS = {KEYED: "画面入力", FILE: "医療機関ファイル"}
REASON_MAX = 400
WOMEN_ONLY = "女性のみの検診です（男性には記録できません）"
# Audit detail of a screening.view that showed a pending record's values (the viewer may then
# not key it blind: kenshin.verification reads this back).
FIRST_KEYING_SHOWN = "first_keying_shown"


FIRST_VALUES_HIDDEN = ("未確定の記録です。訂正するには、先に「1回目の値を表示する」を押してください"
                       "（表示するとこの用紙の確認入力はできなくなります）。")


class Duplicate(Refused):
    """The same person, exam and 受診日 (and target) is already recorded; names the record."""

    def __init__(self, existing_id: int):
        super().__init__("同じ人・同じ検診・同じ受診日の記録がすでにあります")
        self.existing_id = existing_id


@dataclass(frozen=True)
class Checked:
    """A screening that passed every rule, ready to be written."""

    exam: str
    target: str
    exam_date: date
    fiscal_year: int
    age: int
    institution_id: int
    institution_code: str
    setting: int
    items: dict
    referral: bool
    pending: bool = False  # 判定保留 (catalogue.pending_flag)


def parse_exam_date(value, birth_date: date | None, today: date) -> tuple[date | None, list[str]]:
    """受診日: a date, not in the future (Japan time), not before birth."""
    if isinstance(value, date):
        exam_date = value
    else:
        text = value or ""
        if not str(text).strip():
            return None, [catalogue.REQUIRED]
        try:
            exam_date = parse_date(str(text))
        except DateError as problem:
            return None, [str(problem)]
    if exam_date > today:
        return None, ["受診日が未来の日付です"]
    if birth_date is not None and exam_date < birth_date:
        return None, ["受診日が生年月日より前です"]
    return exam_date, []


NO_SETTING = 0  # 検診種別 not given: allowed on 精密検査 records only (別添1 lists none for them)


def setting_required(exam_code: str) -> bool:
    exam = catalogue.EXAMS.get(exam_code)
    return exam is None or not exam.followup


def setting_text(value) -> str:
    """A stored 検診種別 as a form or file writes it ("" when none was given)."""
    return str(value) if value else ""


def parse_setting(value, required: bool = True) -> tuple[int | None, list[str]]:
    text = ascii_text(value)
    if not text:
        if not required:
            return NO_SETTING, []
        return None, [catalogue.REQUIRED]
    if text not in catalogue.SETTINGS:
        return None, ["1（個別）または 2（集団）です"]
    return int(text), []


def institution_by_code(code: str) -> Institution | None:
    from database import prepared_first  # compiled once: a saved form looks its institution up often

    return prepared_first("screenings.institution_by_code", _institution_by_code, ascii_text(code))


def _institution_by_code(code: str):
    return Institution.select().where(Institution.code == code).limit(1)


def check(*, exam, exam_date, institution, setting, items: Mapping[str, str | None], sex: int | None,
          birth_date: date | None, today: date | None = None,
          institutions: Mapping[str, int] | None = None,
          enabled: frozenset[str] | None = None) -> tuple[Checked | None, dict[str, list[str]]]:
    """Every rule for one screening of a person of `sex` born on `birth_date`; (checked, errors).

    `institution` is a code (or an Institution); `institutions` maps codes to ids when a caller
    has loaded them all (imports); `enabled` the Extensions turned on (read when not given).
    Errors are keyed by column: exam, exam_date, institution_code,
    setting, sex (the women-only rule) and the exam's item keys.
    """
    today = today or today_jst()
    errors: dict[str, list[str]] = {}
    exam_code = ascii_text(exam)
    try:
        exam_def = catalogue.get_exam(exam_code)
    except Exception:  # NotFound from the catalogue
        exam_def = None
        errors["exam"] = [f"検診の種類が不正です: {exam_code}" if exam_code else catalogue.REQUIRED]
    parsed_date, problems = parse_exam_date(exam_date, birth_date, today)
    if problems:
        errors["exam_date"] = problems
    institution_id = None
    if isinstance(institution, Institution):
        institution_id, institution_code = institution.id, institution.code
    else:
        institution_code = ascii_text(institution)
        if not institution_code:
            errors["institution_code"] = [catalogue.REQUIRED]
        else:
            if institutions is not None:
                institution_id = institutions.get(institution_code)
            else:
                found = institution_by_code(institution_code)
                institution_id = found.id if found else None
            if institution_id is None:
                errors["institution_code"] = [f"登録されていない医療機関です: {institution_code}"]
    setting_value, problems = parse_setting(setting, required=exam_def is None or not exam_def.followup)
    if problems:
        errors["setting"] = problems
    clean: dict = {}
    if exam_def is not None:
        if enabled is None:
            enabled = extensions.enabled_codes()
        clean, item_errors = catalogue.validate_items(exam_code, items, sex, enabled)
        for key, messages in item_errors.items():
            if key == "-":
                errors.setdefault("sex", []).append(WOMEN_ONLY)
            else:
                errors.setdefault(key, []).extend(messages)
    if errors:
        return None, errors
    return Checked(
        exam=exam_code, target=clean.get("target", "") if exam_def.has_target else "",
        exam_date=parsed_date, fiscal_year=fiscal_year(parsed_date),
        age=age_at(birth_date, parsed_date) if birth_date else 0,
        institution_id=institution_id, institution_code=institution_code, setting=setting_value,
        items=clean, referral=catalogue.referral_flag(exam_code, clean),
        pending=catalogue.pending_flag(exam_code, clean),
    ), {}


def existing(resident_id: int, exam: str, exam_date: date, target: str = "",
             exclude_id: int | None = None) -> Screening | None:
    """The record (not void) of this person, exam, 受診日 and target, if there is one."""
    query = Screening.select().where(
        (Screening.resident == resident_id) & (Screening.exam == exam)
        & (Screening.exam_date == exam_date) & (Screening.target == target)
        & (Screening.status != VOID))
    if exclude_id is not None:
        query = query.where(Screening.id != exclude_id)
    return query.first()


def warnings_for(resident: Resident, exam: str, exam_date: date,
                 exclude_id: int | None = None) -> list[str]:
    """Eligibility (age, interval) and residence warnings for a screening of this person."""
    fy = fiscal_year(exam_date)
    shared = eligibility.exams_sharing_interval(exam, fy)
    # Only the person's own records are read (the resident index); the exams are filtered here,
    # so that no planner is tempted by the (exam, fiscal_year) index of the statistics.
    query = (Screening.select(Screening.id, Screening.exam, Screening.fiscal_year)
             .where((Screening.resident == resident.id) & (Screening.status != VOID)))
    years = [year for sid, code, year in query.tuples()
             if code in shared and year <= fy and sid != exclude_id]
    return (eligibility.warnings(exam, resident.birth_date, fy, years, sex=resident.sex)
            + eligibility.residence_warnings(exam_date, resident.resident_since, resident.removed_on))


@dataclass
class Recorded:
    screening: Screening
    warnings: list[str] = field(default_factory=list)


def _resident(resident) -> Resident:
    """A person in the programme (registry.residents.get_in_programme); NotFound otherwise."""
    from kenshin.registry.residents import get_in_programme

    return get_in_programme(resident.id if isinstance(resident, Resident) else resident)


@dataclass(frozen=True)
class OutsideProgramme:
    """A supervisor's explicit decision to record a form for someone outside the programme (a
    child's form is an error on paper far more often than a real case): who and why."""

    reason: str


def _person_for_record(resident, actor: audit.Actor, outside: OutsideProgramme | None) -> Resident:
    """The person a new record is for: in the programme, or, only with a supervisor's decision
    and its reason, anyone on the registry (the decision is audited with the record)."""
    if outside is None:
        return _resident(resident)
    if "supervisor" not in actor.roles:
        raise Refused("事業の対象外の方への記録は、係長だけが判断できます")
    if not (outside.reason or "").strip():
        raise Invalid({"note": ["事業の対象外の方として記録する理由を入力してください"]})
    person = resident if isinstance(resident, Resident) else Resident.get_or_none(
        Resident.id == resident)
    if person is None:
        raise NotFound("該当する方はいません")
    return person


def _staff_id(actor: audit.Actor) -> int | None:
    return actor.staff_id


def record(resident, *, exam, exam_date, institution, setting, items: Mapping[str, str | None],
           actor: audit.Actor, source: str = KEYED, status: str | None = None, batch=None,
           today: date | None = None, audit_action: str = "screening.create",
           audit_details: dict | None = None, keyed_by: int | None = None,
           outside: OutsideProgramme | None = None) -> Recorded:
    """Check and write one screening of `resident` with its audit event, in one transaction.

    A keyed form also keeps its keying (round 1) by `keyed_by` — the clerk who keyed the paper,
    when that is not the one recording it (a form parked and assigned later) — or by the actor.
    The status defaults by source: a keyed form is pending (未確定) until a second keying agrees
    (kenshin.verification); a clinic-file row is confirmed.
    Only a person in the programme can be recorded; anyone else needs `outside`, a supervisor's
    decision, which is audited (`resident.outside_programme`) in the same transaction.
    Raises Invalid (errors by column), Duplicate (with the existing record's id) or NotFound.
    """
    if status is None:
        status = PENDING if source == KEYED else CONFIRMED
    if status not in (PENDING, CONFIRMED):
        raise ValueError(f"a new screening is pending or confirmed, not {status!r}")
    if source not in (KEYED, FILE):
        raise ValueError(f"unknown source {source!r}")
    person = _person_for_record(resident, actor, outside)
    checked, errors = check(exam=exam, exam_date=exam_date, institution=institution, setting=setting,
                            items=items, sex=person.sex, birth_date=person.birth_date, today=today)
    if errors:
        raise Invalid(errors)
    with db.atomic():
        same = existing(person.id, checked.exam, checked.exam_date, checked.target)
        if same is not None:
            raise Duplicate(same.id)
        found_warnings = warnings_for(person, checked.exam, checked.exam_date)
        now = now_utc()
        try:
            with db.atomic():
                screening = Screening.create(
                    resident=person.id, exam=checked.exam, target=checked.target,
                    exam_date=checked.exam_date, fiscal_year=checked.fiscal_year, age=checked.age,
                    institution=checked.institution_id, setting=checked.setting,
                    referral=checked.referral, pending=checked.pending, items=checked.items,
                    status=status, source=source,
                    batch=batch, entered_by=_staff_id(actor), entered_at=now)
        except IntegrityError:
            same = existing(person.id, checked.exam, checked.exam_date, checked.target)
            if same is None:
                raise
            raise Duplicate(same.id) from None
        keyer = keyed_by or actor.staff_id
        if source == KEYED and keyer is not None:
            ScreeningKeying.create(screening=screening, round=1, items=checked.items,
                                   staff=keyer, at=now)
        details = {"exam": checked.exam, "source": source, "status": status,
                   "fiscal_year": checked.fiscal_year, "institution_code": checked.institution_code,
                   "setting": checked.setting}
        details.update(audit_details or {})
        audit.record(audit_action, actor, resident=person.id, object_type="screening",
                     object_id=screening.id, details=details)
        if outside is not None:
            audit.record("resident.outside_programme", actor, resident=person.id,
                         object_type="screening", object_id=screening.id,
                         details={"exam": checked.exam, "reason": outside.reason.strip()[:200]})
    return Recorded(screening, found_warnings)


def get(screening_id: int) -> Screening:
    """The screening with this id, with its resident and institution; NotFound otherwise."""
    screening = (Screening.select(Screening, Resident, Institution)
                 .join(Resident).switch(Screening).join(Institution)
                 .where(Screening.id == screening_id).first())
    if screening is None:
        raise NotFound("検診記録が見つかりません")
    return screening


def snapshot(screening: Screening) -> dict:
    """What a correction may change, as plain values (kept before/after in ScreeningChange)."""
    return {"exam_date": screening.exam_date.isoformat(),
            "institution_code": screening.institution.code,
            "setting": str(screening.setting), "items": dict(screening.items)}


def changed_keys(before: Mapping, after: Mapping) -> list[str]:
    """Which common columns and items differ between two snapshots (items in catalogue order)."""
    keys = [k for k in ("exam_date", "institution_code", "setting") if before.get(k) != after.get(k)]
    b_items, a_items = before.get("items") or {}, after.get("items") or {}
    keys += [k for k in dict.fromkeys([*a_items, *b_items]) if b_items.get(k, "") != a_items.get(k, "")]
    return keys


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise Invalid({"reason": ["理由を入力してください"]})
    if len(text) > REASON_MAX:
        raise Invalid({"reason": [f"理由は{REASON_MAX}文字以内です"]})
    return text


@dataclass
class Corrected:
    screening: Screening
    changed: list[str]
    warnings: list[str] = field(default_factory=list)
    # Set when the correction changes the outcome or a verified item of a confirmed record: it
    # waits for a second person (kenshin.verification.corrections) and the record is unchanged.
    proposal: object | None = None


AWAITING_SECOND_PERSON = ("この記録には確認待ちの訂正があります。訂正した職員が取り下げるか、"
                          "別の職員が確認してから訂正してください。")


def check_correction(screening: Screening, *, items: Mapping[str, str | None], exam_date=None,
                     institution=None, setting=None, today: date | None = None
                     ) -> tuple[Checked, dict, dict, list[str]]:
    """A correction of `screening` checked by every rule: (checked, before, after, changed).
    Raises Invalid (errors by column, or "-" when nothing changed) or Duplicate."""
    person = screening.resident
    checked, errors = check(
        exam=screening.exam,
        exam_date=screening.exam_date if exam_date is None else exam_date,
        institution=screening.institution if institution is None else institution,
        setting=screening.setting if setting is None else setting,
        items=items, sex=person.sex, birth_date=person.birth_date, today=today)
    if errors:
        raise Invalid(errors)
    before = snapshot(screening)
    after = {"exam_date": checked.exam_date.isoformat(), "institution_code": checked.institution_code,
             "setting": str(checked.setting), "items": checked.items}
    changed = changed_keys(before, after)
    if not changed:
        raise Invalid({"-": ["変更された項目がありません"]})
    same = existing(person.id, checked.exam, checked.exam_date, checked.target,
                    exclude_id=screening.id)
    if same is not None:
        raise Duplicate(same.id)
    return checked, before, after, changed


def apply_correction(screening: Screening, checked: Checked, before: dict, after: dict,
                     changed: list[str], reason: str, staff_id: int, actor: audit.Actor,
                     audit_details: dict | None = None) -> ScreeningChange:
    """Write a checked correction inside the caller's transaction: the record's values, its
    before/after with the reason and `staff_id` (who made it), and the audit event of `actor`."""
    now = now_utc()
    person = screening.resident
    try:
        with db.atomic():
            (Screening.update(
                exam_date=checked.exam_date, fiscal_year=checked.fiscal_year, age=checked.age,
                institution=checked.institution_id, setting=checked.setting,
                target=checked.target, items=checked.items, referral=checked.referral,
                pending=checked.pending, changed_by=staff_id, changed_at=now)
             .where(Screening.id == screening.id).execute())
    except IntegrityError:
        same = existing(person.id, checked.exam, checked.exam_date, checked.target,
                        exclude_id=screening.id)
        if same is None:
            raise
        raise Duplicate(same.id) from None
    change = ScreeningChange.create(screening=screening.id, kind="correct", before=before, after=after,
                                    reason=reason, staff=staff_id, at=now)
    details = {"exam": screening.exam, "changed": changed}
    details.update(audit_details or {})
    audit.record("screening.correct", actor, resident=person.id, object_type="screening",
                 object_id=screening.id, details=details)
    return change


def correct(screening_id: int, *, items: Mapping[str, str | None], reason: str, actor: audit.Actor,
            exam_date=None, institution=None, setting=None, today: date | None = None,
            verify_all=()) -> Corrected:
    """Correct a record: re-checked by the catalogue, before/after kept with who, when and why.

    On a confirmed record, a correction that changes the outcome or an item verified entry
    verifies (`verify_all` as for verified entry) is not applied: it is saved as a proposal that
    a different person must confirm (Corrected.proposal), and the record keeps its values."""
    reason_text = _reason(reason)
    with db.atomic():
        screening = get(screening_id)
        if screening.status == VOID:
            raise Refused("取り消された記録は訂正できません")
        # Correcting shows the first values, and whoever has seen them may not key the second
        # round: so a pending record is corrected only by someone who has seen them already.
        from kenshin import verification  # verification builds on this module
        if not verification.first_values_visible(screening, actor):
            raise Refused(FIRST_VALUES_HIDDEN)
        if verification.open_proposal(screening.id) is not None:
            raise Refused(AWAITING_SECOND_PERSON)
        checked, before, after, changed = check_correction(
            screening, items=items, exam_date=exam_date, institution=institution, setting=setting,
            today=today)
        if screening.status == CONFIRMED and verification.needs_second_person(
                screening, checked, changed, verify_all):
            proposal = verification.propose(screening, before, after, changed, reason_text, actor)
            return Corrected(screening, changed, [], proposal)
        apply_correction(screening, checked, before, after, changed, reason_text,
                         _require_staff(actor), actor)
        found_warnings = warnings_for(screening.resident, checked.exam, checked.exam_date,
                                      exclude_id=screening.id)
    return Corrected(get(screening.id), changed, found_warnings)


def _require_staff(actor: audit.Actor) -> int:
    if actor.staff_id is None:
        raise Refused("職員として操作してください")
    return actor.staff_id


def void(screening_id: int, *, reason: str, actor: audit.Actor) -> Screening:
    """Void a record (entered against the wrong person, or twice); it stays, with its reason."""
    reason_text = _reason(reason)
    with db.atomic():
        screening = get(screening_id)
        if screening.status == VOID:
            raise Refused("すでに取り消されています")
        now = now_utc()
        (Screening.update(status=VOID, void_reason=reason_text[:200], changed_by=actor.staff_id,
                          changed_at=now).where(Screening.id == screening.id).execute())
        ScreeningChange.create(screening=screening.id, kind="void",
                               before={"status": screening.status}, after={"status": VOID},
                               reason=reason_text, staff=_require_staff(actor), at=now)
        from kenshin import verification  # verification builds on this module
        cancelled = verification.cancel_for_void(screening, actor, now)
        details = {"exam": screening.exam, "previous_status": screening.status}
        if cancelled is not None:
            details["proposal_cancelled"] = cancelled
        audit.record("screening.void", actor, resident=screening.resident_id,
                     object_type="screening", object_id=screening.id, details=details)
    return get(screening.id)


def history(screening_id: int) -> list[ScreeningChange]:
    """The corrections and voids of a record, oldest first, with who made them."""
    return list(ScreeningChange.select(ScreeningChange, Staff).join(Staff)
                .where(ScreeningChange.screening == screening_id)
                .order_by(ScreeningChange.at, ScreeningChange.id))


def of_resident(resident_id: int, include_void: bool = True) -> list[Screening]:
    """A person's screenings, newest 年度 first, then by exam in catalogue order and 受診日."""
    query = (Screening.select(Screening, Institution).join(Institution)
             .where(Screening.resident == resident_id))
    if not include_void:
        query = query.where(Screening.status != VOID)
    order = {code: n for n, code in enumerate(catalogue.EXAMS)}
    rows = list(query)
    rows.sort(key=lambda s: (-s.fiscal_year, order.get(s.exam, 99), s.exam_date, s.id))
    return rows


# --- what counts --------------------------------------------------------------------------------

def counted():
    """The screenings that count as results: confirmed only. Statistics, follow-up and referral
    lists, provision and printed summaries start here; a pending (未確定) or void record never counts."""
    return Screening.select().where(Screening.status == CONFIRMED)


def outcome_counts(fiscal_year: int) -> dict[str, dict[str, int]]:
    """Per exam of a 年度, among the confirmed records: how many of each outcome (catalogue
    REFERRAL / PENDING / CLEAR; ATTENDED for 精密検査 records). 判定保留 is never 精検不要."""
    counts: dict[str, dict[str, int]] = {}
    query = (Screening.select(Screening.exam, Screening.referral, Screening.pending, fn.COUNT(Screening.id))
             .where((Screening.status == CONFIRMED) & (Screening.fiscal_year == fiscal_year))
             .group_by(Screening.exam, Screening.referral, Screening.pending).tuples())
    for exam, referral, pending, n in query:
        outcome = catalogue.outcome_of(exam, bool(referral), bool(pending))
        per_exam = counts.setdefault(exam, {})
        per_exam[outcome] = per_exam.get(outcome, 0) + n
    return counts


def referral_counts(fiscal_year: int) -> dict[str, tuple[int, int]]:
    """Per exam of a 年度: (screenings, 要精検) among the confirmed records."""
    return {exam: (sum(by.values()), by.get(catalogue.REFERRAL, 0))
            for exam, by in outcome_counts(fiscal_year).items()}


# --- reading (every read of health results is audited) -----------------------------------------

def view(screening_id: int, actor: audit.Actor,
         reveal: bool = False) -> tuple[Screening, list[ScreeningChange]]:
    """One record with its history, for the detail page; the view is audited. `reveal` marks a
    view that shows a pending record's first values (FIRST_KEYING_SHOWN)."""
    screening = get(screening_id)
    details = {"exam": screening.exam}
    if reveal and screening.status == PENDING:
        details[FIRST_KEYING_SHOWN] = True
    with db.atomic():
        audit.record("screening.view", actor, resident=screening.resident_id, object_type="screening",
                     object_id=screening.id, details=details)
    return screening, history(screening.id)


def of_person(resident_id: int, actor: audit.Actor) -> tuple[Resident, list[Screening]]:
    """A person's screenings for the person page (void ones too, marked); audited."""
    person = _resident(resident_id)
    rows = of_resident(person.id)
    with db.atomic():
        audit.record("screening.view", actor, resident=person.id, object_type="resident",
                     object_id=person.id, details={"list": True, "count": len(rows)})
    return person, rows


def summary(resident_id: int, actor: audit.Actor) -> tuple[Resident, list[Screening]]:
    """The printable result summary: confirmed screenings only (pending and void never count)."""
    person = _resident(resident_id)
    rows = [s for s in of_resident(person.id, include_void=False) if s.status == CONFIRMED]
    with db.atomic():
        audit.record("print", actor, resident=person.id, object_type="resident", object_id=person.id,
                     details={"document": "screening_summary", "count": len(rows)})
    return person, rows
