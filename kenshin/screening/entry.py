"""Keying paper forms (検診票) one after another: look up the person, preview, save or park.

The entry screen calls these with the posted values and the batch header (institution,
個別/集団, exam). Saving re-does the matching on the server from what was typed — the page's
earlier lookup is only for the clerk's eyes — so a form is recorded only when an identifier
finds one person whose 生年月日, 性別 and kana agree with the paper (FORMATS.md "Matching"), or
when the clerk picked a candidate who agrees on all three. Anything else can be parked in the
reconciliation queue with its reason.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from models import Resident, db

from kenshin import audit
from kenshin.screening import catalogue
from kenshin.screening import eligibility, extensions
from kenshin.screening import matching
from kenshin.screening import reconciliation
from kenshin.screening import screenings
from kenshin.core.dates import DateError, age_at, fiscal_year, parse_keyed_date, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.ids import parse_id
from kenshin.core.textinput import ascii_text
from kenshin.registry.residents import get_in_programme


@dataclass(frozen=True)
class Batch:
    """The header a clerk sets once for a stack of forms."""

    institution_code: str = ""
    setting: str = ""
    exam: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> "Batch":
        values = values or {}
        return cls(str(values.get("institution_code", "")).strip(),
                   str(values.get("setting", "")).strip(), str(values.get("exam", "")).strip())

    def as_dict(self) -> dict:
        return {"institution_code": self.institution_code, "setting": self.setting, "exam": self.exam}


def check_batch(values: Mapping[str, str]) -> tuple[Batch, dict[str, list[str]]]:
    """The batch header: a registered institution, 個別/集団, an exam of the catalogue."""
    batch = Batch.from_mapping(values)
    errors: dict[str, list[str]] = {}
    code = ascii_text(batch.institution_code)
    institution = screenings.institution_by_code(code) if code else None
    if not code:
        errors["institution_code"] = [catalogue.REQUIRED]
    elif institution is None:
        errors["institution_code"] = [f"登録されていない医療機関です: {code}"]
    _, problems = screenings.parse_setting(batch.setting, screenings.setting_required(batch.exam))
    if problems:
        errors["setting"] = problems
    if batch.exam not in catalogue.EXAMS:
        errors["exam"] = ["検診の種類を選んでください"]
    return Batch(code, ascii_text(batch.setting), batch.exam), errors


# --- what was typed about the person --------------------------------------------------------

@dataclass
class MatchPanel:
    """What the match panel shows: the identity as typed (matching.read_identity), the person an
    identifier named and, item by item, whether the registry agrees; or the candidates."""

    typed: matching.TypedIdentity
    person: Resident | None = None  # the person an identifier named
    agreement: dict = field(default_factory=dict)
    problem: str = ""  # why an identifier named nobody, or two people
    candidates: list = field(default_factory=list)
    searched: bool = False

    @property
    def mismatches(self) -> list[str]:
        return [key for key, ok in self.agreement.items() if not ok]


def lookup(values: Mapping[str, str], actor: audit.Actor,
           already_shown: int | None = None) -> MatchPanel:
    """Find the person of a form as typed so far. Every look-up is audited with its criteria and
    hit count, as the search is: a person shown is a `resident.view` (once per sheet), a number
    that names nobody, or a candidate search, a `resident.search` (issue 12, finding 7)."""
    typed = matching.read_identity(values)
    result = MatchPanel(typed)
    if "seiri_no" in typed.errors:  # e.g. a wrong check digit names nobody: say so, search nothing
        result.problem = typed.errors["seiri_no"][0]
        return result
    if typed.seiri_no or typed.atena_no:
        criteria = {key: value for key, value in (("seiri_no", typed.seiri_no),
                                                  ("atena_no", typed.atena_no)) if value}
        named = matching.named_by(typed.seiri_no, typed.atena_no)
        if named.reason:
            result.problem = named.reason
        else:
            result.person = Resident.get_by_id(named.found_id)
            result.agreement = matching.agreement(typed, result.person)
        if result.person is None:
            with db.atomic():
                audit.record("resident.search", actor, object_type="resident", outcome="not_found",
                             details={"screen": "entry", "criteria": criteria,
                                      "hits": 2 if result.problem == matching.TWO_PEOPLE else 0})
        elif result.person.id != already_shown:
            with db.atomic():
                audit.record("resident.view", actor, resident=result.person.id,
                             object_type="resident", object_id=result.person.id,
                             details={"screen": "entry",
                                      "by": "seiri_no" if typed.seiri_no else "atena_no",
                                      "criteria": criteria, "hits": 1})
        return result
    if typed.kana_key and typed.birth_date and typed.sex:
        identity = matching.FormIdentity("", "", typed.name_kana, typed.kana_key, typed.birth_date,
                                         typed.sex, (values.get("name") or "").strip())
        result.candidates = matching.candidates(identity)
        result.searched = True
        with db.atomic():
            audit.record("resident.search", actor, object_type="resident",
                         details={"screen": "entry", "by": ["name_kana", "birth_date", "sex"],
                                  "criteria": {"name_kana": typed.name_kana,
                                               "birth_date": typed.birth_date.isoformat(),
                                               "sex": typed.sex},
                                  "hits": len(result.candidates),
                                  "results": len(result.candidates)})
    return result


# --- the exam part: inline checks and derived items --------------------------------------------

@dataclass
class Preview:
    """Derived items shown live, and the errors of the exam part."""

    fiscal_year: int | None = None
    age: int | None = None
    # the age on the eligibility rules' basis (年度末年齢 …), shown beside the age warnings
    basis_label: str = ""
    basis_age: int | None = None
    exam_date: object = None  # the 受診日 as read (shown expanded beside the field before saving)
    referral: bool | None = None
    outcome: str = ""  # catalogue REFERRAL / PENDING / CLEAR / ATTENDED, "" while undecided
    errors: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    cautions: list = field(default_factory=list)  # items that look wrong together (catalogue)


def _person_or_none(resident_id) -> Resident | None:
    """The person the panel matched, if in the programme (the form posts the id back)."""
    try:
        return get_in_programme(resident_id) if parse_id(resident_id) else None
    except NotFound:
        return None


def preview(batch: Batch, values: Mapping[str, str], resident_id: int | None = None) -> Preview:
    """年度, age at the exam and the outcome (要精検 / 判定保留 / 精検不要) by the catalogue's rules, as
    far as the typed values allow."""
    out = Preview()
    if batch.exam not in catalogue.EXAMS:
        return out
    typed = matching.read_identity(values)
    person = _person_or_none(resident_id)
    birth = person.birth_date if person else typed.birth_date
    sex = person.sex if person else typed.sex
    exam_date, problems = screenings.parse_exam_date(keyed_date(values.get("exam_date")), birth, today_jst())
    if problems:
        out.errors["exam_date"] = problems
    elif exam_date is not None:
        out.exam_date = exam_date
        out.fiscal_year = fiscal_year(exam_date)
        if birth is not None:
            out.age = age_at(birth, exam_date)
            out.basis_label, out.basis_age = eligibility.eligibility_age(
                birth, out.fiscal_year, batch.exam)
    exam = catalogue.EXAMS[batch.exam]
    enabled = extensions.enabled_codes()
    raw, unread = catalogue.read_paper(batch.exam, {key: values.get(key) for key in exam.keys_with(enabled)})
    clean, errors = catalogue.validate_items(batch.exam, raw, sex, enabled)
    errors.update(unread)  # the forms the paper may use, not the refused value's code list
    for key, messages in errors.items():
        out.errors["sex" if key == "-" else key] = (
            [screenings.WOMEN_ONLY] if key == "-" else messages)
    if not any(k != "-" for k in errors):
        out.referral = catalogue.referral_flag(batch.exam, clean)
        out.outcome = exam.outcome(clean)
        out.cautions = catalogue.cautions(batch.exam, clean) + catalogue.age_cautions(batch.exam, clean, out.age)
    elif exam.referral_derivable:
        out.referral = exam.referral_rule(clean)  # None while the items it reads are invalid
        if out.referral is not None:  # shown live as soon as the deciding items allow
            out.outcome = catalogue.outcome_of(batch.exam, out.referral, exam.pending(clean))
    if person is not None and exam_date is not None:
        out.warnings = screenings.warnings_for(person, batch.exam, exam_date)
    return out


# --- saving ----------------------------------------------------------------------------------

class NotMatched(Refused):
    """The form cannot be recorded against anyone as typed; it may be parked with this reason."""

    def __init__(self, reason: str, found_id: int | None = None):
        super().__init__(reason)
        self.found_id = found_id


def _identity(values: Mapping[str, str]) -> matching.FormIdentity:
    identity, errors = matching.parse_identity(values)
    if errors:
        raise Invalid(errors)
    return identity


def keyed_date(text):
    """A date typed on a screen (S30/7/1, S300701, a bare 8.10.3 …: dates.parse_keyed_date) as a
    date; text it cannot read is passed on as typed, for the usual check to refuse with its reason."""
    try:
        return parse_keyed_date(text) if isinstance(text, str) and text.strip() else text
    except DateError:
        return text


def _exam_values(batch: Batch, values: Mapping[str, str]) -> tuple[dict, dict[str, list[str]]]:
    """The exam's items as typed from the paper, read into codes (catalogue.read_paper), and the
    values that read as no code."""
    exam = catalogue.get_exam(batch.exam)
    # every key the exam knows: a value for an item that is off reaches the catalogue and is refused
    return catalogue.read_paper(batch.exam, {key: values.get(key) for key in exam.all_keys})


@contextmanager
def with_paper_errors(unread: Mapping[str, list[str]]):
    """A refusal says which forms the paper may use, not the code list of the refused value
    (a value read_paper could not read is never a code, so the catalogue refuses it too)."""
    try:
        yield
    except Invalid as exc:
        exc.errors.update(unread)
        raise


def save(batch: Batch, values: Mapping[str, str], actor: audit.Actor,
         status: str | None = None) -> screenings.Recorded:
    """Record one keyed form — pending (未確定) until a second keying agrees (kenshin.verification);
    Invalid, Duplicate or NotMatched (with its reason) otherwise."""
    batch, errors = check_batch(batch.as_dict())
    if errors:
        raise Invalid(errors)
    identity = _identity(values)
    if identity.has_identifier:
        result = matching.match(identity)
        if not result.matched:
            raise NotMatched(result.reason, result.found_id)
        resident_id = result.resident_id
        how = "seiri_no" if identity.seiri_no else "atena_no"
    else:
        person = _person_or_none(ascii_text(values.get("resident_id")))
        if person is None:
            raise NotMatched(matching.NO_IDENTIFIER)
        differs = matching.disagreements(identity, person)
        if differs:
            raise NotMatched(matching.mismatch_reason(differs), person.id)
        resident_id = person.id
        how = "candidate"
    items, unread = _exam_values(batch, values)
    with with_paper_errors(unread):
        return screenings.record(resident_id, exam=batch.exam, exam_date=keyed_date(values.get("exam_date")),
                                 institution=batch.institution_code, setting=batch.setting,
                                 items=items, actor=actor, status=status,
                                 audit_details={"matched_by": how})


def park(batch: Batch, values: Mapping[str, str], actor: audit.Actor):
    """Park a keyed form in the reconciliation queue with the reason it could not be matched."""
    batch, errors = check_batch(batch.as_dict())
    if errors:
        raise Invalid(errors)
    identity = _identity(values)
    result = matching.match(identity) if identity.has_identifier else None
    if result is not None and result.matched:
        reason = (values.get("park_reason") or "").strip() or "入力者が確認のため保留"
    else:
        reason = result.reason if result is not None else matching.NO_IDENTIFIER
        note = (values.get("park_reason") or "").strip()
        if note:
            reason = f"{reason}／{note}"
    items, unread = _exam_values(batch, values)
    with with_paper_errors(unread):
        return reconciliation.park(identity, exam=batch.exam, exam_date=keyed_date(values.get("exam_date")),
                                   institution=batch.institution_code, setting=batch.setting,
                                   items=items, reason=reason, actor=actor)
