"""問合せ記録: inquiries about the file, recorded at reception and through their handling until closed.

The city's assessment (IV.2 ②) promises 「問合せの受付時及びその対応について記録を残す」. Every read,
change, print and export writes its audit event in the same transaction.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from peewee import JOIN, fn

from models import Inquiry, InquiryEntry, Resident, Staff, db

from kenshin import audit
from kenshin.access.roles import PERSONAL_DATA_ROLES
from kenshin.registry import concerned
from kenshin.core.kana import is_hiragana_or_katakana, kana_prefix_key
from kenshin.core.names import name_prefix_key
from kenshin.core.textinput import clean_text
from kenshin.core.textinput import ascii_text
from kenshin.core.dates import JST, DateError, now_utc, parse_date, to_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.ids import parse_id
from kenshin.core.listing import Page, csv_bytes, export_reason, paginate, period, utc_bounds

CHANNELS = ("窓口", "電話", "文書", "メール")
REQUESTER_TYPES = ("本人", "代理人", "医療機関", "その他")
STATUSES = {"open": "対応中", "closed": "完了"}
HEADING = "特定個人情報ファイルの取扱いに関する問合せ"
# The assessment (IV.2 ②): 問合せの受付時及びその対応について記録を残す。

NAME_MAX = 60
CONTACT_MAX = 120
SUBJECT_MAX = 2000
ENTRY_MAX = 2000
FUTURE_SLACK = timedelta(minutes=5)
_CLOCK = re.compile(r"(\d{1,2}):?(\d{2})")


# --- input -----------------------------------------------------------------------------------

_text = clean_text


def _moment(day_text: str | None, clock_text: str | None, prefix: str, errors: dict) -> datetime | None:
    """A Japan-time date and clock time typed by staff, as naive UTC; not in the future."""
    try:
        day = parse_date(day_text or "")
    except DateError as exc:
        errors.setdefault(f"{prefix}_date", []).append(str(exc))
        day = None
    match = _CLOCK.fullmatch(ascii_text(clock_text))
    clock = None
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        clock = time(int(match[1]), int(match[2]))
    else:
        errors.setdefault(f"{prefix}_time", []).append("時刻は 9:30 のように入力してください")
    if day is None or clock is None:
        return None
    moment = datetime.combine(day, clock, JST).astimezone(timezone.utc).replace(tzinfo=None)
    if moment > now_utc() + FUTURE_SLACK:
        errors.setdefault(f"{prefix}_date", []).append("未来の日時は入力できません")
    return moment


def _choice(value: str | None, choices, key: str, label: str, errors: dict) -> str:
    if value not in choices:
        errors.setdefault(key, []).append(f"{label}を選んでください")
    return value or ""


# --- recording -------------------------------------------------------------------------------

def create(actor: audit.Actor, *, received_date: str, received_time: str, channel: str,
           requester_type: str, requester_name: str, requester_contact: str, subject: str,
           atena_no: str = "", resident_id: str | int | None = None) -> Inquiry:
    """Record an inquiry as received at reception; the person concerned is optional."""
    errors: dict[str, list[str]] = {}
    received_at = _moment(received_date, received_time, "received", errors)
    channel = _choice(channel, CHANNELS, "channel", "受付方法", errors)
    requester_type = _choice(requester_type, REQUESTER_TYPES, "requester_type", "問合せ者の区分", errors)
    name = _text(requester_name, "requester_name", "問合せ者の氏名・名称", NAME_MAX, errors)
    contact = _text(requester_contact, "requester_contact", "連絡先", CONTACT_MAX, errors, required=False)
    subject = _text(subject, "subject", "問合せ内容", SUBJECT_MAX, errors, multiline=True)
    person = None
    try:
        person = concerned.confirmed(atena_no, resident_id)
    except Invalid as exc:
        errors.update(exc.errors)
    if errors:
        raise Invalid(errors)
    with db.atomic():
        inquiry = Inquiry.create(
            received_at=received_at, channel=channel, requester_type=requester_type,
            requester_name=name, requester_contact=contact, resident=person, subject=subject,
            status="open", created_by=actor.staff_id, created_at=now_utc())
        audit.record("inquiry.create", actor, resident=person, object_type="inquiry",
                     object_id=inquiry.id,
                     details={"channel": channel, "requester_type": requester_type,
                              "person_linked": person is not None})
    return inquiry


def _load(inquiry_id: int) -> Inquiry:
    inquiry = (Inquiry.select(Inquiry, Resident)
               .join(Resident, JOIN.LEFT_OUTER, on=(Inquiry.resident == Resident.id))
               .where(Inquiry.id == inquiry_id).first())
    if inquiry is None:
        raise NotFound("問合せ記録が見つかりません")
    return inquiry


def _open(inquiry_id: int) -> Inquiry:
    inquiry = _load(inquiry_id)
    if inquiry.status != "open":
        raise Refused("この問合せは完了しています。追記・変更はできません。")
    return inquiry


def add_entry(inquiry_id: int, actor: audit.Actor, text: str, at_date: str = "",
              at_time: str = "") -> "Record":
    """One handling step (what was done or answered), by the acting staff member, now or when given.

    Returns the record with its timeline as it now stands, for the screen to show at once."""
    errors: dict[str, list[str]] = {}
    body = _text(text, "text", "対応内容", ENTRY_MAX, errors, multiline=True)
    at = now_utc()
    if (at_date or "").strip() or (at_time or "").strip():
        at = _moment(at_date, at_time, "at", errors) or at
    with db.atomic():
        inquiry = _open(inquiry_id)
        if not errors.get("at_date") and at < inquiry.received_at:
            errors.setdefault("at_date", []).append("受付日時より前の日時は入力できません")
        if errors:
            raise Invalid(errors)
        entry = InquiryEntry.create(inquiry=inquiry, at=at, staff=actor.staff_id, text=body)
        audit.record("inquiry.entry", actor, resident=inquiry.resident_id, object_type="inquiry",
                     object_id=inquiry.id, details={"entry": entry.id})
        return _record(inquiry)


def close(inquiry_id: int, actor: audit.Actor, text: str = "") -> Inquiry:
    """Close the inquiry (who and when are kept); an optional last entry says how it ended."""
    errors: dict[str, list[str]] = {}
    body = _text(text, "text", "完了時の対応内容", ENTRY_MAX, errors, required=False, multiline=True)
    if errors:
        raise Invalid(errors)
    with db.atomic():
        inquiry = _open(inquiry_id)
        if body:
            InquiryEntry.create(inquiry=inquiry, at=now_utc(), staff=actor.staff_id, text=body)
        elif not inquiry.entries.exists():
            raise Invalid({"text": ["対応内容を記録してから完了にしてください"]})
        inquiry.status, inquiry.closed_by, inquiry.closed_at = "closed", actor.staff_id, now_utc()
        inquiry.save()
        audit.record("inquiry.close", actor, resident=inquiry.resident_id, object_type="inquiry",
                     object_id=inquiry.id, details={"entries": inquiry.entries.count()})
    return inquiry


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Record:
    """An inquiry with who received and closed it, and its handling in time order."""

    inquiry: Inquiry
    received_by: Staff
    closed_by: Staff | None
    entries: list[InquiryEntry]


def _record(inquiry: Inquiry) -> Record:
    entries = list(InquiryEntry.select(InquiryEntry, Staff).join(Staff)
                   .where(InquiryEntry.inquiry == inquiry.id)
                   .order_by(InquiryEntry.at, InquiryEntry.id))
    staff = {s.id: s for s in Staff.select().where(
        Staff.id.in_([i for i in (inquiry.created_by_id, inquiry.closed_by_id) if i]))}
    return Record(inquiry, staff[inquiry.created_by_id], staff.get(inquiry.closed_by_id), entries)


def view(inquiry_id: int, actor: audit.Actor, action: str = "inquiry.view") -> Record:
    """The whole record for the screen (or, with action inquiry.print, for printing); audited."""
    if action not in ("inquiry.view", "inquiry.print"):
        raise ValueError(action)
    with db.atomic():
        inquiry = _load(inquiry_id)
        record = _record(inquiry)
        audit.record(action, actor, resident=inquiry.resident_id, object_type="inquiry",
                     object_id=inquiry.id, details={"entries": len(record.entries)})
    return record


@dataclass
class Filters:
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    staff_id: int | None = None
    # Who the inquiry is about or from: the registry's folding (kenshin.core.kana / names) on the
    # linked person; the name also finds the requester's name as written. Personal data: these
    # travel only in POST bodies (the list's GET filters never carry them).
    kana: str = ""  # kana prefix key
    name: str = ""  # name prefix key
    name_typed: str = ""  # the typed name without spaces, for the requester's name

    @property
    def about_person(self) -> bool:
        return bool(self.kana or self.name)

    def as_details(self) -> dict:
        details = {"status": self.status, "from": self.date_from, "to": self.date_to,
                   "staff": self.staff_id}
        if self.kana:
            details["kana"] = self.kana
        if self.name:
            details["name"] = self.name_typed
        return details


PERSON_TEXT_MAX = 60


def parse_filters(status: str | None = "", date_from: str | None = "", date_to: str | None = "",
                  staff: str | None = "", kana: str | None = "", name: str | None = "") -> Filters:
    """Filters typed on the list screen; Invalid names what cannot be read."""
    errors: dict[str, list[str]] = {}
    if status and status not in STATUSES:
        errors["status"] = ["状態を選び直してください"]
    first, last = period(date_from, date_to, errors)
    staff_id = None
    if (staff or "").strip():
        if parse_id(staff) is None:
            errors["staff"] = ["担当者を選び直してください"]
        else:
            staff_id = parse_id(staff)
    kana_text, name_text = (kana or "").strip(), (name or "").strip()
    kana_prefix = ""
    if kana_text:
        if len(kana_text) > PERSON_TEXT_MAX or not is_hiragana_or_katakana(kana_text):
            errors["kana"] = ["カナ（ひらがな・カタカナ）で入力してください"]
        else:
            kana_prefix = kana_prefix_key(kana_text)
    if len(name_text) > PERSON_TEXT_MAX:
        errors["name"] = [f"氏名は{PERSON_TEXT_MAX}文字以内で入力してください"]
    if errors:
        raise Invalid(errors)
    plain_name = "".join(unicodedata.normalize("NFC", name_text).split())
    return Filters(status or "", first, last, staff_id, kana_prefix,
                   name_prefix_key(name_text) if plain_name else "", plain_name)


def _query(filters: Filters):
    entry_count = (InquiryEntry.select(fn.COUNT(InquiryEntry.id))
                   .where(InquiryEntry.inquiry == Inquiry.id))
    last_entry = (InquiryEntry.select(fn.MAX(InquiryEntry.at))
                  .where(InquiryEntry.inquiry == Inquiry.id))
    query = (Inquiry.select(Inquiry, Staff, Resident, entry_count.alias("entry_count"),
                            last_entry.alias("last_entry_at"))
             .join(Staff, on=(Inquiry.created_by == Staff.id))
             .switch(Inquiry)
             .join(Resident, JOIN.LEFT_OUTER, on=(Inquiry.resident == Resident.id)))
    if filters.status:
        query = query.where(Inquiry.status == filters.status)
    start, end = utc_bounds(filters.date_from, filters.date_to)
    if start:
        query = query.where(Inquiry.received_at >= start)
    if end:
        query = query.where(Inquiry.received_at < end)
    if filters.kana:
        query = query.where(Resident.kana_key.startswith(filters.kana))
    if filters.name:
        # the requester's name as written, spaces of either width ignored (REPLACE works the
        # same on SQLite and PostgreSQL); the linked person's by the registry's name key
        written = fn.REPLACE(fn.REPLACE(Inquiry.requester_name, " ", ""), "\u3000", "")
        query = query.where(Resident.name_key.startswith(filters.name)
                            | written.contains(filters.name_typed))
    if filters.staff_id:
        handled = (InquiryEntry.select(InquiryEntry.inquiry)
                   .where(InquiryEntry.staff == filters.staff_id))
        query = query.where((Inquiry.created_by == filters.staff_id)
                            | (Inquiry.closed_by == filters.staff_id)
                            | Inquiry.id.in_(handled))
    return query.order_by(Inquiry.received_at.desc(), Inquiry.id.desc())


def search(actor: audit.Actor, filters: Filters, page: int = 1) -> Page:
    """One page of inquiries matching the filters, newest first; the search is audited."""
    with db.atomic():
        result = paginate(_query(filters), page)
        audit.record("inquiry.list", actor, object_type="inquiry",
                     details={"filters": filters.as_details(), "count": result.total,
                              "page": result.number})
    return result


def staff_choices() -> list[tuple[int, str]]:
    """Staff who may record inquiries (retired ones too: their records stay), for the filter."""
    people = Staff.select().order_by(Staff.division, Staff.name, Staff.id)
    return [(s.id, f"{s.name}（{s.division}）") for s in people
            if s.has_any_role(*PERSONAL_DATA_ROLES)]


EXPORT_HEADER = ["受付番号", "受付日時", "受付方法", "問合せ者の区分", "対象者の特定", "状態",
                 "受付者", "対応回数", "最終対応日時", "完了日時", "完了者"]


def _clock(value: datetime | None) -> str:
    return to_jst(value).strftime("%Y-%m-%d %H:%M") if value else ""


def export_csv(actor: audit.Actor, filters: Filters, reason: str) -> tuple[bytes, int]:
    """The list as CSV for handling statistics: no names, contacts or contents of the inquiries.

    Only the columns needed to follow up the handling leave the system (LESSONS.md #8); the
    export is audited with its reason, filters and count in the same transaction.
    """
    reason = export_reason(reason)
    with db.atomic():
        rows = list(_query(filters))
        closers = {s.id: s.name for s in Staff.select().where(
            Staff.id.in_({r.closed_by_id for r in rows if r.closed_by_id}))}
        body = [[r.id, _clock(r.received_at), r.channel, r.requester_type,
                 "あり" if r.resident_id else "なし", STATUSES[r.status], r.created_by.name,
                 r.entry_count, _clock(_as_datetime(r.last_entry_at)), _clock(r.closed_at),
                 closers.get(r.closed_by_id, "")] for r in rows]
        audit.record("inquiry.export", actor, object_type="inquiry",
                     details={"reason": reason, "count": len(body),
                              "filters": filters.as_details(), "columns": EXPORT_HEADER})
    return csv_bytes(EXPORT_HEADER, body), len(body)


def _as_datetime(value) -> datetime | None:
    """A MAX() over a timestamp column comes back as text on SQLite."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
