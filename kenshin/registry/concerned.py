"""The person concerned by an inquiry or a request: found by the 宛名番号 a clerk typed, shown to confirm.

The number arrives in a POST body (never a URL); the lookup is audited like any other search, and
the clerk binds the record only after seeing 氏名・ふりがな・生年月日・性別 side by side (LESSONS.md #7).
"""
from __future__ import annotations

from models import Resident, db

from kenshin import audit
from kenshin.core.dates import today_jst
from kenshin.core.errors import Invalid, NotFound
from kenshin.core.textinput import ascii_text
from kenshin.core import identifiers
from kenshin.core.ids import parse_id
from kenshin.registry.residents import get_in_programme, in_programme


def clean_atena_no(text: str | None) -> str:
    """The typed 宛名番号 as stored (full-width digits read as ASCII); Invalid if not 1–15 digits."""
    value = ascii_text(text)
    if not identifiers.is_atena_no(value):
        raise Invalid({"atena_no": [identifiers.ATENA_NO_MESSAGE]})
    return value


def find(atena_no: str, actor: audit.Actor, purpose: str) -> Resident:
    """The resident with this 宛名番号, for confirmation; the search is audited (found or not).

    Like every search, it reaches only people in the screening programme (kenshin.residents)."""
    number = clean_atena_no(atena_no)
    with db.atomic():
        person = Resident.get_or_none(Resident.atena_no == number)
        if person is not None and not in_programme(person, today_jst()):
            person = None
        audit.record("resident.lookup", actor, resident=person, object_type="resident",
                     object_id=person.id if person else "",
                     outcome="ok" if person else "not_found",
                     details={"criteria": {"atena_no": number}, "purpose": purpose,
                              "found": 1 if person else 0})
    if person is None:
        raise NotFound("この宛名番号の方は見つかりません")
    return person


def from_person_page(resident_id, actor: audit.Actor, purpose: str) -> Resident:
    """The person whose page the clerk came from (internal id in a POST body), to fill in the
    inquiry or request form already confirmed; audited like a lookup, found or not. NotFound
    outside the programme, like every loader."""
    with db.atomic():
        try:
            person = get_in_programme(resident_id)
        except NotFound:
            person = None
        audit.record("resident.lookup", actor, resident=person, object_type="resident",
                     object_id=person.id if person else str(parse_id(resident_id) or ""),
                     outcome="ok" if person else "not_found",
                     details={"purpose": purpose, "via": "person_page",
                              "found": 1 if person else 0})
    if person is None:
        raise NotFound("該当する方はいません")
    return person


def confirmed(atena_no: str | None, resident_id: str | int | None) -> Resident | None:
    """The person the clerk confirmed: the typed number and the confirmed person must agree.

    A blank number means no person is linked. A number whose confirmation is missing or belongs
    to another number (the clerk typed again after confirming) is refused, so nobody is linked
    without having been shown first.
    """
    if not (atena_no or "").strip():
        return None
    number = clean_atena_no(atena_no)
    # The same check as every loader: a hand-built POST naming someone outside the programme
    # gets the answer of a person never confirmed.
    try:
        person = get_in_programme(resident_id) if parse_id(resident_id) else None
    except NotFound:
        person = None
    if person is None or person.atena_no != number:
        raise Invalid({"atena_no": ["「確認」を押して、対象の方の氏名・生年月日を確かめてください"]})
    return person
