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

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from models import Resident, SeiriNumber

from kenshin.core.dates import DateError, parse_date, today_jst
from kenshin.core.kana import KanaError, kana_key, normalize_kana
from kenshin.core.names import name_key

SEIRI_NO = re.compile(r"[0-9A-Za-z-]{1,20}", re.A)
ATENA_NO = re.compile(r"[0-9]{1,15}", re.A)
SEX_CODES = {"1": 1, "2": 2}
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

CANDIDATE_LIMIT = 20


def ascii_text(value) -> str:
    """NFKC (full-width digits and letters as ASCII) and stripped; None is ''."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", value if isinstance(value, str) else str(value)).strip()


_ascii = ascii_text


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


def parse_identity(raw: Mapping[str, str | None], today: date | None = None,
                   require_kana: bool = True) -> tuple[FormIdentity | None, dict[str, list[str]]]:
    """Read seiri_no, atena_no, name, name_kana, birth_date and sex; (identity, errors by column)."""
    errors: dict[str, list[str]] = {}
    today = today or today_jst()
    seiri = _ascii(raw.get("seiri_no"))
    if seiri and not SEIRI_NO.fullmatch(seiri):
        errors["seiri_no"] = ["整理番号は英数字とハイフンで20文字以内です"]
    atena = _ascii(raw.get("atena_no"))
    if atena and not ATENA_NO.fullmatch(atena):
        errors["atena_no"] = ["宛名番号は1〜15桁の数字です"]
    name = unicodedata.normalize("NFC", (raw.get("name") or "").strip())
    name = " ".join(name.replace("\u3000", " ").split())
    if len(name) > NAME_MAX:
        errors["name"] = [f"氏名は{NAME_MAX}文字以内です"]
    elif any(unicodedata.category(ch) == "Cc" for ch in name):
        errors["name"] = ["制御文字は使えません"]
    kana_text = raw.get("name_kana") or ""
    stored_kana = ""
    if kana_text.strip():
        try:
            stored_kana = normalize_kana(kana_text)
        except KanaError as problem:
            errors["name_kana"] = [str(problem)]
    elif require_kana:
        errors["name_kana"] = ["必須です"]
    birth = None
    birth_text = raw.get("birth_date") or ""
    if not birth_text.strip():
        errors["birth_date"] = ["必須です"]
    else:
        try:
            birth = parse_date(birth_text)
        except DateError as problem:
            errors["birth_date"] = [str(problem)]
        else:
            if birth > today:
                errors["birth_date"] = ["未来の日付です"]
    sex_text = _ascii(raw.get("sex"))
    if not sex_text:
        errors["sex"] = ["必須です"]
    elif sex_text not in SEX_CODES:
        errors["sex"] = ["1（男）または 2（女）です"]
    if errors:
        return None, errors
    return FormIdentity(seiri, atena, stored_kana, kana_key(stored_kana), birth,
                        SEX_CODES[sex_text], name), {}


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

    @property
    def matched(self) -> bool:
        return self.resident_id is not None


class Lookup:
    """Finds people by 整理番号 and 宛名番号; this one asks the database every time."""

    def by_seiri(self, number: str) -> Person | None:
        row = (Resident.select(Resident.id, Resident.birth_date, Resident.sex, Resident.kana_key)
               .join(SeiriNumber).where(SeiriNumber.number == number).tuples().first())
        return Person(*row) if row else None

    def by_atena(self, number: str) -> Person | None:
        row = (Resident.select(Resident.id, Resident.birth_date, Resident.sex, Resident.kana_key)
               .where(Resident.atena_no == number).tuples().first())
        return Person(*row) if row else None


class PreloadedLookup(Lookup):
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


def disagreements(identity: FormIdentity, person: Person) -> tuple[str, ...]:
    """Which of 生年月日, 性別 and the kana key differ between the form and the registry."""
    out = []
    if person.birth_date != identity.birth_date:
        out.append("birth_date")
    if person.sex != identity.sex:
        out.append("sex")
    if person.kana_key != identity.kana_key:
        out.append("name_kana")
    return tuple(out)


def mismatch_reason(mismatches: Iterable[str]) -> str:
    return f"{MISMATCH_PREFIX}（{'・'.join(IDENTITY_LABELS[m] for m in mismatches)}）"


def match(identity: FormIdentity, lookup: Lookup | None = None) -> Match:
    """Match one form exactly as FORMATS.md says; a reason in Japanese when it cannot be recorded."""
    lookup = lookup or Lookup()
    if not identity.has_identifier:
        return Match(None, reason=NO_IDENTIFIER)
    by_seiri = lookup.by_seiri(identity.seiri_no) if identity.seiri_no else None
    by_atena = lookup.by_atena(identity.atena_no) if identity.atena_no else None
    if identity.seiri_no and by_seiri is None:
        return Match(None, found_id=by_atena.id if by_atena else None, reason=UNKNOWN_SEIRI)
    if identity.atena_no and by_atena is None:
        return Match(None, found_id=by_seiri.id if by_seiri else None, reason=UNKNOWN_ATENA)
    if by_seiri is not None and by_atena is not None and by_seiri.id != by_atena.id:
        return Match(None, reason=TWO_PEOPLE)
    person = by_seiri or by_atena
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


def _plain_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFC", name or "").split())


def candidates(identity: FormIdentity, found_id: int | None = None,
               limit: int = CANDIDATE_LIMIT) -> list[Candidate]:
    """People offered for a form: 生年月日 + 性別 + kana key, kanji-variant names, and whoever an
    identifier named (even when something disagrees). Ordered: number first, then by kana."""
    base = (Resident.birth_date == identity.birth_date) & (Resident.sex == identity.sex)
    found: dict[int, Resident] = {}
    for person in Resident.select().where(base & (Resident.kana_key == identity.kana_key)).limit(limit):
        found[person.id] = person
    form_name_key = name_key(identity.name) if identity.name else ""
    if form_name_key:
        for person in (Resident.select().where(base & (Resident.name_key == form_name_key))
                       .limit(limit)):
            found.setdefault(person.id, person)
    if found_id is not None and found_id not in found:
        person = Resident.get_or_none(Resident.id == found_id)
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
        mismatches = disagreements(identity, Person(person.id, person.birth_date, person.sex,
                                                    person.kana_key))
        out.append(Candidate(person, flags, mismatches))
    out.sort(key=lambda c: (c.resident.id != found_id, len(c.mismatches), c.resident.kana_key,
                            c.resident.id))
    return out[:limit]
