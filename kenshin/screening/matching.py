"""Matching (突合) a paper form or a file row to one resident, and candidates for the queue.

FORMATS.md "Matching (突合)": a form is recorded against a person only when an identifier
(整理番号 via SeiriNumber, or 宛名番号) finds exactly one resident — both, when both are given,
naming the same person — and that resident's 生年月日, 性別 and kana key all agree with the form.
Anything else is not an error but a reason to park the form in the reconciliation queue, where a
clerk chooses among candidates found by 生年月日 + 性別 + kana key (and kanji-variant names).
Nothing here ever matches on a name and a birth date alone.

An identifier that is given but finds nobody is a reason too, even when the other identifier
finds someone: "both given must name the same person", and a number that names nobody does not.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from models import Resident, SeiriNumber

from kenshin.core import identifiers, labels
from kenshin.core.dates import DateError, parse_keyed_date, today_jst
from kenshin.core.kana import KanaError, kana_key, normalize_kana
from kenshin.core.names import name_key
from kenshin.core.textinput import ascii_text

NAME_MAX = 60

# Reasons a form goes to the queue (shown to the clerk, stored on the queue item).
NO_IDENTIFIER = "整理番号・宛名番号の記載がありません"
UNKNOWN_SEIRI = "整理番号に該当する住民がいません"
UNKNOWN_ATENA = "宛名番号に該当する住民がいません"
TWO_PEOPLE = "整理番号と宛名番号が別の住民を指しています"
MISMATCH_PREFIX = "住民記録と一致しません"

# Which identity item disagreed, in the words the clerk sees.
IDENTITY_LABELS = {"birth_date": "生年月日", "sex": "性別", "name_kana": "カナ氏名"}

# Candidate flags (LESSONS.md #7: same-reading and variant spellings are flagged, never trusted).
FLAG_NUMBER = "番号で該当"
FLAG_KANA = "カナ一致"
FLAG_NAME = "氏名一致"
FLAG_VARIANT = "異体字で氏名一致（字形を確認）"
FLAG_READING_ONLY = "読みのみ一致・漢字が異なる（要確認）"
FLAG_SAME_READING = "同じ読み・生年月日の住民が複数（要確認）"

# Near misses (issue 20): one identity item slightly off, as a hand-written or keyed form often is.
# Offered after every exact candidate, each marked with how it differs; never matched by itself.
NEAR_DAY = "生年月日が1日違い"
NEAR_TRANSPOSED = "生年月日の月と日が入れ替わり"
NEAR_KANA = "カナが1文字違い"

CANDIDATE_LIMIT = 20


@dataclass(frozen=True)
class FormIdentity:
    """What a form or a file row says about its person, already checked and normalised."""

    seiri_no: str
    atena_no: str
    name_kana: str
    kana_key: str
    birth_date: date
    sex: int
    name: str = ""

    @property
    def has_identifier(self) -> bool:
        return bool(self.seiri_no or self.atena_no)

    def as_raw(self) -> dict[str, str]:
        """The identity as plain strings (the queue keeps it so)."""
        return {"seiri_no": self.seiri_no, "atena_no": self.atena_no, "name": self.name,
                "name_kana": self.name_kana, "birth_date": self.birth_date.isoformat(),
                "sex": str(self.sex)}


@dataclass
class TypedIdentity:
    """The identity items as typed so far (the entry screen reads a form while it is keyed): each
    parsed when it can be, empty or None otherwise; `errors` names what was typed but is wrong."""

    seiri_no: str = ""
    atena_no: str = ""
    name_kana: str | None = None
    kana_key: str | None = None
    birth_date: date | None = None
    sex: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def read_identity(raw: Mapping[str, str | None], today: date | None = None) -> TypedIdentity:
    """Read whatever identity items are given, as keyed from a paper form (生年月日 also as S300701:
    dates.parse_keyed_date); nothing is required here (see parse_identity)."""
    typed = TypedIdentity()
    seiri = ascii_text(raw.get("seiri_no"))
    if seiri and (problem := identifiers.seiri_no_problem(seiri)):
        typed.errors["seiri_no"] = [problem]  # a wrong check digit says so
    else:
        typed.seiri_no = seiri
    atena = ascii_text(raw.get("atena_no"))
    if atena and not identifiers.is_atena_no(atena):
        typed.errors["atena_no"] = [identifiers.ATENA_NO_MESSAGE]
    else:
        typed.atena_no = atena
    kana_text = raw.get("name_kana") or ""
    if kana_text.strip():
        try:
            typed.name_kana = normalize_kana(kana_text)
            typed.kana_key = kana_key(typed.name_kana)
        except KanaError as problem:
            typed.errors["name_kana"] = [str(problem)]
    birth_text = raw.get("birth_date") or ""
    if birth_text.strip():
        try:
            birth = parse_keyed_date(birth_text, today)
        except DateError as problem:
            typed.errors["birth_date"] = [str(problem)]
        else:
            if birth > (today or today_jst()):
                typed.errors["birth_date"] = ["未来の日付です"]
            else:
                typed.birth_date = birth
    sex_text = ascii_text(raw.get("sex"))
    if sex_text:
        if sex_text in labels.SEXES:
            typed.sex = int(sex_text)
        else:
            typed.errors["sex"] = ["1（男）または 2（女）です"]
    return typed


def parse_identity(raw: Mapping[str, str | None], today: date | None = None,
                   require_kana: bool = True) -> tuple[FormIdentity | None, dict[str, list[str]]]:
    """Read a whole identity (seiri_no, atena_no, name, name_kana, birth_date and sex);
    (identity, errors by column). 生年月日 and 性別 are required, and カナ unless told otherwise."""
    typed = read_identity(raw, today)
    errors = dict(typed.errors)
    name = unicodedata.normalize("NFC", (raw.get("name") or "").strip())
    name = " ".join(name.replace("\u3000", " ").split())
    if len(name) > NAME_MAX:
        errors["name"] = [f"氏名は{NAME_MAX}文字以内です"]
    elif any(unicodedata.category(ch) == "Cc" for ch in name):
        errors["name"] = ["制御文字は使えません"]
    for key, value, required in (("name_kana", typed.name_kana, require_kana),
                                 ("birth_date", typed.birth_date, True),
                                 ("sex", typed.sex, True)):
        if value is None and required and key not in errors:
            errors[key] = ["必須です"]
    if errors:
        return None, errors
    kana = typed.name_kana or ""
    return FormIdentity(typed.seiri_no, typed.atena_no, kana, kana_key(kana), typed.birth_date,
                        typed.sex, name), {}


@dataclass(frozen=True)
class Person:
    """The few registry items matching compares (a light row, so a file can preload thousands)."""

    id: int
    birth_date: date
    sex: int
    kana_key: str


@dataclass(frozen=True)
class Match:
    """The outcome: `resident_id` only when the form may be recorded against that person."""

    resident_id: int | None
    found_id: int | None = None  # who an identifier named, even when something disagrees
    reason: str = ""
    mismatches: tuple[str, ...] = ()
    person: Person | None = field(default=None, compare=False, repr=False)  # who named_by found

    @property
    def matched(self) -> bool:
        return self.resident_id is not None


def _in_programme():
    """The programme rule for today (registry.residents: one home, the same NotFound)."""
    from kenshin.registry.residents import programme_condition

    return programme_condition(today_jst())


class RegistryFinder:
    """Finds people by 整理番号 and 宛名番号; this one asks the database every time, and finds
    only people in the programme: a keyed form for anyone else names nobody (a supervisor may
    still record it from the queue, by an explicit decision: reconciliation.assign)."""

    def by_seiri(self, number: str) -> Person | None:
        row = (Resident.select(Resident.id, Resident.birth_date, Resident.sex, Resident.kana_key)
               .join(SeiriNumber).where((SeiriNumber.number == number) & _in_programme())
               .tuples().first())
        return Person(*row) if row else None

    def by_atena(self, number: str) -> Person | None:
        row = (Resident.select(Resident.id, Resident.birth_date, Resident.sex, Resident.kana_key)
               .where((Resident.atena_no == number) & _in_programme()).tuples().first())
        return Person(*row) if row else None


class PreloadedFinder(RegistryFinder):
    """All the people a file's identifiers name, loaded in a few queries (imports of 100,000 rows)."""

    CHUNK = 900

    def __init__(self, seiri_numbers: Iterable[str], atena_numbers: Iterable[str]):
        self._seiri = self._load(
            "SELECT s.number, r.id, r.birth_date, r.sex, r.kana_key FROM seiri_number s "
            "JOIN resident r ON r.id = s.resident_id WHERE s.number IN ({})", seiri_numbers)
        self._atena = self._load(
            "SELECT r.atena_no, r.id, r.birth_date, r.sex, r.kana_key FROM resident r "
            "WHERE r.atena_no IN ({})", atena_numbers)

    def _load(self, sql: str, numbers: Iterable[str]) -> dict[str, Person]:
        """Plain SQL, a chunk of numbers at a time (peewee's query building is the slow part)."""
        from models import db

        as_date = Resident.birth_date.python_value
        found: dict[str, Person] = {}
        wanted = sorted(set(filter(None, numbers)))
        for start in range(0, len(wanted), self.CHUNK):
            chunk = wanted[start:start + self.CHUNK]
            cursor = db.execute_sql(sql.format(", ".join([db.param] * len(chunk))), chunk)
            for number, rid, birth, sex, key in cursor.fetchall():
                found[number] = Person(rid, as_date(birth), sex, key)
        return found

    def by_seiri(self, number: str) -> Person | None:
        return self._seiri.get(number)

    def by_atena(self, number: str) -> Person | None:
        return self._atena.get(number)


def agreement(identity: FormIdentity | TypedIdentity, person: Person | Resident) -> dict[str, bool]:
    """For each of 生年月日, 性別 and the kana key that the form gives: does the registry agree?"""
    out = {}
    if identity.birth_date is not None:
        out["birth_date"] = person.birth_date == identity.birth_date
    if identity.sex is not None:
        out["sex"] = person.sex == identity.sex
    if identity.kana_key is not None:
        out["name_kana"] = person.kana_key == identity.kana_key
    return out


def disagreements(identity: FormIdentity | TypedIdentity, person: Person | Resident) -> tuple[str, ...]:
    """Which of 生年月日, 性別 and the kana key differ between the form and the registry."""
    return tuple(key for key, same in agreement(identity, person).items() if not same)


def mismatch_reason(mismatches: Iterable[str]) -> str:
    return f"{MISMATCH_PREFIX}（{'・'.join(IDENTITY_LABELS[m] for m in mismatches)}）"


def named_by(seiri_no: str, atena_no: str, finder: RegistryFinder | None = None) -> Match:
    """Who the identifiers name: `found_id` when they name one person, else a reason (an unknown
    number, or two numbers naming two people). Nothing about agreement yet."""
    finder = finder or RegistryFinder()
    if not (seiri_no or atena_no):
        return Match(None, reason=NO_IDENTIFIER)
    by_seiri = finder.by_seiri(seiri_no) if seiri_no else None
    by_atena = finder.by_atena(atena_no) if atena_no else None
    if seiri_no and by_seiri is None:
        return Match(None, found_id=by_atena.id if by_atena else None, reason=UNKNOWN_SEIRI)
    if atena_no and by_atena is None:
        return Match(None, found_id=by_seiri.id if by_seiri else None, reason=UNKNOWN_ATENA)
    if by_seiri is not None and by_atena is not None and by_seiri.id != by_atena.id:
        return Match(None, reason=TWO_PEOPLE)
    return Match(None, found_id=(by_seiri or by_atena).id, person=by_seiri or by_atena)


def match(identity: FormIdentity, finder: RegistryFinder | None = None) -> Match:
    """Match one form exactly as FORMATS.md says; a reason in Japanese when it cannot be recorded."""
    named = named_by(identity.seiri_no, identity.atena_no, finder)
    if named.reason:
        return named
    person = named.person
    mismatches = disagreements(identity, person)
    if mismatches:
        return Match(None, found_id=person.id, reason=mismatch_reason(mismatches),
                     mismatches=mismatches)
    return Match(person.id, found_id=person.id)


@dataclass
class Candidate:
    """A person the clerk may choose for a form, with why they were offered."""

    resident: Resident
    flags: list[str] = field(default_factory=list)
    mismatches: tuple[str, ...] = ()
    near: str = ""  # NEAR_DAY / NEAR_TRANSPOSED / NEAR_KANA: a near miss, offered after the exact ones


def _plain_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFC", name or "").split())


def candidates(identity: FormIdentity, found_id: int | None = None,
               limit: int = CANDIDATE_LIMIT, near: bool = False) -> list[Candidate]:
    """People offered for a form: 生年月日 + 性別 + kana key, kanji-variant names, and whoever an
    identifier named (even when something disagrees). Ordered: number first, then by kana.
    With `near`, the near misses follow (near_misses). Only people in the programme are offered."""
    base = ((Resident.birth_date == identity.birth_date) & (Resident.sex == identity.sex)
            & _in_programme())
    found: dict[int, Resident] = {}
    for person in Resident.select().where(base & (Resident.kana_key == identity.kana_key)).limit(limit):
        found[person.id] = person
    form_name_key = name_key(identity.name) if identity.name else ""
    if form_name_key:
        for person in (Resident.select().where(base & (Resident.name_key == form_name_key))
                       .limit(limit)):
            found.setdefault(person.id, person)
    if found_id is not None and found_id not in found:
        person = Resident.select().where((Resident.id == found_id) & _in_programme()).first()
        if person is not None:
            found[person.id] = person
    same_reading = sum(1 for p in found.values() if p.kana_key == identity.kana_key)
    out = []
    for person in found.values():
        flags = []
        if person.id == found_id:
            flags.append(FLAG_NUMBER)
        same_kana = person.kana_key == identity.kana_key
        if same_kana:
            flags.append(FLAG_KANA)
        if identity.name:
            if _plain_name(person.name) == _plain_name(identity.name):
                flags.append(FLAG_NAME)
            elif person.name_key == form_name_key:
                flags.append(FLAG_VARIANT)
            elif same_kana:
                flags.append(FLAG_READING_ONLY)
        if same_kana and same_reading > 1:
            flags.append(FLAG_SAME_READING)
        mismatches = disagreements(identity, person)
        out.append(Candidate(person, flags, mismatches))
    out.sort(key=lambda c: (c.resident.id != found_id, len(c.mismatches), c.resident.kana_key,
                            c.resident.id))
    out = out[:limit]
    if near:
        out += near_misses(identity, exclude={c.resident.id for c in out})
    return out


NEAR_LIMIT = 10


def one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with exactly one character inserted, deleted or replaced (Levenshtein 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]  # one replaced
    return a[i:] == b[i + 1:]  # one inserted into the shorter


def near_birth_dates(birth: date) -> dict[date, str]:
    """The few birth dates a slip of the pen turns `birth` into: a day either side, and month and
    day swapped (4月12日 → 12月4日) when that is a date."""
    out = {birth - timedelta(days=1): NEAR_DAY, birth + timedelta(days=1): NEAR_DAY}
    if birth.month != birth.day and birth.day <= 12:
        try:
            out.setdefault(birth.replace(month=birth.day, day=birth.month), NEAR_TRANSPOSED)
        except ValueError:  # pragma: no cover - day <= 12 always makes a month
            pass
    return out


def near_misses(identity: FormIdentity, exclude: Iterable[int] = (),
                limit: int = NEAR_LIMIT) -> list[Candidate]:
    """People one slip away from the form: the same 性別 and kana key with a birth date one day
    off or month/day transposed, or the same 生年月日 and 性別 with the kana key one character off.

    Set-based and index-bound at any registry size: one query names the few birth dates
    explicitly (index birth_date, sex, kana_key), and the kana distance is judged in Python over
    the people born on the form's own date (tens at a million residents)."""
    if not identity.kana_key:
        return []
    skip = set(exclude)
    dates_off = near_birth_dates(identity.birth_date)
    wanted = [identity.birth_date, *dates_off]
    # the few columns the test needs first (tens of index-ordered rows), whole rows only for
    # the handful that pass
    rows = (Resident.select(Resident.id, Resident.birth_date, Resident.kana_key)
            .where(Resident.birth_date.in_(wanted) & (Resident.sex == identity.sex)
                   & _in_programme()).tuples())
    why: dict[int, str] = {}
    for rid, birth, key in rows:
        birth = Resident.birth_date.python_value(birth)
        if rid in skip:
            continue
        if birth == identity.birth_date:
            if one_edit_apart(key, identity.kana_key):
                why[rid] = NEAR_KANA
        elif key == identity.kana_key:
            why[rid] = dates_off[birth]
    out = [Candidate(person, [], disagreements(identity, person), near=why[person.id])
           for person in Resident.select().where(Resident.id.in_(list(why)))] if why else []
    rank = {NEAR_DAY: 0, NEAR_TRANSPOSED: 1, NEAR_KANA: 2}
    out.sort(key=lambda c: (rank[c.near], c.resident.kana_key, c.resident.id))
    return out[:limit]
