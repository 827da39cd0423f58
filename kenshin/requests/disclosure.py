"""開示・訂正・利用停止請求: requests about what the file holds on a person, their statutory deadlines,
decisions, the disclosure document, and carrying out what was granted.

The city's information office receives the requests (assessment IV.1: 総務局 総務部 政策法務課
市政情報室); this office records each one it is asked to answer, with its handling.

Deadlines (個人情報の保護に関する法律): a decision is due within 30 days of the day the request was
made (第83条第1項, 訂正 第94条第1項, 利用停止 第102条第1項), counted without the first day (民法第140条),
so a request received on 4月1日 is due on 5月1日. With a proper reason the period may be extended by
up to 30 days (第83条第2項, 第94条第2項, 第102条第2項), decided within the original period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from peewee import fn

from models import DisclosureEntry, DisclosureRequest, Resident, ResidentChange, Staff, db

from kenshin import audit
from kenshin.registry import concerned
from kenshin.requests import holdings
from kenshin.core.textinput import clean_text
from kenshin.core.dates import DateError, format_both, now_utc, parse_date, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.listing import Page, csv_bytes, export_reason, paginate

RECEIVING_OFFICE = "総務局 総務部 政策法務課 市政情報室"  # assessment IV.1 ①
HEADING = "特定個人情報の開示・訂正・利用停止請求"

KINDS = {"disclosure": "開示請求", "correction": "訂正請求", "suspension": "利用停止請求"}
DECISIONS = {
    "disclosure": ("全部開示", "一部開示", "不開示"),
    "correction": ("訂正", "一部訂正", "不訂正"),
    "suspension": ("利用停止", "利用停止しない"),
}
FULLY_GRANTED = {"全部開示", "訂正", "利用停止"}  # other decisions must give their reasons
CORRECTION_GRANTED = {"訂正", "一部訂正"}
RELATIONS = ("本人", "代理人")
IDENTITY_DOCUMENTS = ("個人番号カード", "運転免許証", "旅券", "在留カード", "資格確認書等の公的書類", "その他")
STATUSES = {"open": "処理中", "decided": "決定済"}
ENTRY_KINDS = {"receive": "受付", "extend": "期限延長", "decide": "決定", "document": "開示文書作成",
               "correct": "訂正の実施", "suspend": "利用停止の実施", "note": "記録"}

STATUTORY_DAYS = 30
EXTENSION_DAYS = 30
WARN_DAYS = 7


# --- deadlines -------------------------------------------------------------------------------

def statutory_deadline(received_on: date) -> date:
    """30 days from the request, the first day not counted (第83条第1項, 民法第140条)."""
    return received_on + timedelta(days=STATUTORY_DAYS)


def latest_extension(deadline: date) -> date:
    """The furthest an extension may go: 30 more days (第83条第2項)."""
    return deadline + timedelta(days=EXTENSION_DAYS)


def effective_deadline(request: DisclosureRequest) -> date:
    return request.extended_deadline or request.deadline


@dataclass(frozen=True)
class Urgency:
    level: str  # overdue | due_soon | ok | done
    days_left: int | None
    label: str


def urgency(request: DisclosureRequest, today: date | None = None) -> Urgency:
    """How close an open request is to its deadline: overdue, due within 7 days, or in time."""
    if request.status != "open":
        return Urgency("done", None, "決定済")
    today = today or today_jst()
    left = (effective_deadline(request) - today).days
    if left < 0:
        return Urgency("overdue", left, f"期限超過（{-left}日）")
    if left <= WARN_DAYS:
        return Urgency("due_soon", left, "本日期限" if left == 0 else f"期限まであと{left}日")
    return Urgency("ok", left, f"あと{left}日")


# --- input -----------------------------------------------------------------------------------

_text = clean_text


def _day(value, key, label, errors, today) -> date | None:
    try:
        day = parse_date(value or "")
    except DateError as exc:
        errors.setdefault(key, []).append(f"{label}: {exc}")
        return None
    if day > today:
        errors.setdefault(key, []).append(f"{label}に未来の日付は入力できません")
    return day


def _entry(request, actor, kind, text):
    return DisclosureEntry.create(request=request, kind=kind, at=now_utc(), staff=actor.staff_id,
                                  text=text)


# --- recording -------------------------------------------------------------------------------

def create(actor: audit.Actor, *, kind: str, received_on: str, requester_name: str,
           requester_relation: str, identity_document: str, identity_note: str = "",
           details: str = "", atena_no: str = "", resident_id=None,
           today: date | None = None) -> DisclosureRequest:
    """Record a request as received, with its statutory deadline; the person concerned is required."""
    today = today or today_jst()
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = ["請求の種類を選んでください"]
    received = _day(received_on, "received_on", "請求を受けた日", errors, today)
    name = _text(requester_name, "requester_name", "請求者の氏名", 60, errors)
    if requester_relation not in RELATIONS:
        errors["requester_relation"] = ["本人か代理人かを選んでください"]
    if identity_document not in IDENTITY_DOCUMENTS:
        errors["identity_document"] = ["本人確認の方法を選んでください"]
    note = _text(identity_note, "identity_note", "本人確認の補足", 120, errors, required=False)
    if requester_relation == "代理人" and not note:
        errors.setdefault("identity_note", []).append(
            "代理人の場合は代理権の確認方法（委任状・戸籍謄本等）を入力してください")
    if identity_document == "その他" and not note:
        errors.setdefault("identity_note", []).append("確認に用いた書類を入力してください")
    body = _text(details, "details", "請求の内容", 2000, errors, required=kind != "disclosure",
                 multiline=True)
    person = None
    if not (atena_no or "").strip():
        errors.setdefault("atena_no", []).append("対象者の宛名番号を入力し、確認してください")
    else:
        try:
            person = concerned.confirmed(atena_no, resident_id)
        except Invalid as exc:
            errors.update(exc.errors)
    if errors:
        raise Invalid(errors)
    identity = identity_document + (f"／{note}" if note else "")
    deadline = statutory_deadline(received)
    with db.atomic():
        request = DisclosureRequest.create(
            kind=kind, received_on=received, requester_name=name,
            requester_relation=requester_relation, identity_check=identity, resident=person,
            details=body, deadline=deadline, status="open", created_by=actor.staff_id,
            created_at=now_utc())
        _entry(request, actor, "receive",
               f"{KINDS[kind]}を受付（決定期限 {format_both(deadline)}）")
        audit.record("disclosure.create", actor, resident=person, object_type="disclosure",
                     object_id=request.id,
                     details={"kind": kind, "received_on": received, "deadline": deadline,
                              "relation": requester_relation})
    return request


def _load(request_id: int) -> DisclosureRequest:
    request = (DisclosureRequest.select(DisclosureRequest, Resident).join(Resident)
               .where(DisclosureRequest.id == request_id).first())
    if request is None:
        raise NotFound("請求の記録が見つかりません")
    return request


def _open(request_id: int) -> DisclosureRequest:
    request = _load(request_id)
    if request.status != "open":
        raise Refused("この請求は決定済みです。")
    return request


def extend(request_id: int, actor: audit.Actor, new_deadline: str, reason: str,
           today: date | None = None) -> DisclosureRequest:
    """Extend the deadline once, by up to 30 days, with a reason, while the first period runs."""
    today = today or today_jst()
    errors: dict[str, list[str]] = {}
    reason_text = _text(reason, "reason", "延長の理由", 400, errors, multiline=True)
    try:
        extended = parse_date(new_deadline or "")
    except DateError as exc:
        errors.setdefault("new_deadline", []).append(f"延長後の期限: {exc}")
        extended = None
    with db.atomic():
        request = _open(request_id)
        if request.extended_deadline is not None:
            raise Refused("期限はすでに延長されています（延長は一度、30日以内に限ります）。")
        if today > request.deadline:
            raise Refused("当初の期限を過ぎているため延長できません（延長は期限内に決定します）。")
        if extended is not None:
            limit = latest_extension(request.deadline)
            if extended <= request.deadline:
                errors.setdefault("new_deadline", []).append("延長後の期限は当初の期限より後にしてください")
            elif extended > limit:
                errors.setdefault("new_deadline", []).append(
                    f"延長できるのは30日以内（{format_both(limit)}まで）です")
        if errors:
            raise Invalid(errors)
        request.extended_deadline, request.extension_reason = extended, reason_text
        request.save()
        _entry(request, actor, "extend",
               f"決定期限を {format_both(request.deadline)} から {format_both(extended)} に延長"
               f"（理由: {reason_text}）。請求者へ延長後の期間と理由を書面で通知すること。")
        audit.record("disclosure.extend", actor, resident=request.resident_id,
                     object_type="disclosure", object_id=request.id,
                     details={"deadline": request.deadline, "extended_deadline": extended})
    return request


def decide(request_id: int, actor: audit.Actor, decision: str, decided_on: str, note: str = "",
           today: date | None = None) -> DisclosureRequest:
    """Record the decision (with its date, who, and reasons unless fully granted).

    A granted 利用停止 takes effect here: the person is marked use_suspended, kept as a change of
    the registry record. A granted 訂正 is carried out afterwards with correct_screening().
    """
    today = today or today_jst()
    errors: dict[str, list[str]] = {}
    decided = _day(decided_on, "decided_on", "決定日", errors, today)
    text = _text(note, "note", "決定の理由・備考", 2000, errors, required=False, multiline=True)
    with db.atomic():
        request = _open(request_id)
        if decision not in DECISIONS[request.kind]:
            errors.setdefault("decision", []).append(
                f"決定を選んでください（{'・'.join(DECISIONS[request.kind])}）")
        elif decision not in FULLY_GRANTED and not text:
            errors.setdefault("note", []).append(f"「{decision}」の理由を入力してください")
        if decided is not None and decided < request.received_on:
            errors.setdefault("decided_on", []).append("決定日が請求を受けた日より前です")
        if errors:
            raise Invalid(errors)
        late = decided > effective_deadline(request)
        request.decision, request.decision_note, request.decided_on = decision, text, decided
        request.decided_by, request.status = actor.staff_id, "decided"
        request.save()
        _entry(request, actor, "decide",
               f"{decision}と決定（決定日 {format_both(decided)}）" + ("。期限後の決定" if late else ""))
        if request.kind == "suspension" and decision == "利用停止":
            _suspend_use(request, actor)
        audit.record("disclosure.decide", actor, resident=request.resident_id,
                     object_type="disclosure", object_id=request.id,
                     details={"kind": request.kind, "decision": decision, "decided_on": decided,
                              "late": late})
    return request


def _suspend_use(request: DisclosureRequest, actor: audit.Actor) -> None:
    person = Resident.get_by_id(request.resident_id)
    if person.use_suspended:
        _entry(request, actor, "suspend", "すでに利用停止中です")
        return
    now = now_utc()
    Resident.update(use_suspended=True).where(Resident.id == person.id).execute()
    ResidentChange.create(resident=person.id, item="use_suspended", before="利用中",
                          after=f"利用停止（{KINDS['suspension']} 受付番号{request.id}）",
                          staff=actor.staff_id, at=now)
    _entry(request, actor, "suspend", "対象者の情報を利用停止にしました")


def correct_screening(request_id: int, actor: audit.Actor, screening_id, item: str, value: str):
    """Carry out a granted 訂正請求 on one screening item, through the normal correction flow.

    The correction is made by kenshin.screenings.correct with the request as its reason, so it is
    re-checked by the catalogue and kept with before/after like any other correction.
    """
    from kenshin.screening import catalogue
    from kenshin.screening import screenings

    with db.atomic():
        request = _load(request_id)
        if request.kind != "correction" or request.decision not in CORRECTION_GRANTED:
            raise Refused("訂正を決定した訂正請求についてのみ実施できます。")
        try:
            screening = screenings.get(int(screening_id))
        except (TypeError, ValueError):
            raise Invalid({"screening": ["訂正する検診記録を選んでください"]}) from None
        if screening.resident_id != request.resident_id:
            raise Invalid({"screening": ["請求の対象者の検診記録ではありません"]})
        exam = catalogue.get_exam(screening.exam)
        if item not in exam.keys:
            raise Invalid({"item": [f"{exam.name}の項目を選んでください"]})
        items = dict(screening.items or {})
        items[item] = value
        if exam.referral_derivable and item != "referral":
            items["referral"] = ""  # derived again from the corrected items by the exam's rule
        result = screenings.correct(screening.id, items=items, actor=actor,
                                    reason=f"{KINDS['correction']}（受付番号{request.id}）により訂正")
        done = ("の訂正を提案しました（判定に関わるため、別の職員の確認で反映されます。確認待ち）"
                if result.proposal is not None else "を訂正しました")
        _entry(request, actor, "correct",
               f"{exam.name}（受診日 {format_both(screening.exam_date)}）の"
               f"「{exam.item(item).label}」{done}")
        audit.record("disclosure.correct", actor, resident=request.resident_id,
                     object_type="disclosure", object_id=request.id,
                     details={"screening": screening.id, "changed": result.changed})
    return result


def correctable(request: DisclosureRequest) -> dict[str, list[tuple[str, str]]]:
    """What a granted correction may touch: per screening of the person, its items as
    ("screening_id:item_key", label with the allowed codes)."""
    from kenshin.screening import catalogue
    from kenshin.screening import screenings

    groups: dict[str, list[tuple[str, str]]] = {}
    for s in screenings.of_resident(request.resident_id, include_void=False):
        exam = catalogue.get_exam(s.exam)
        title = f"{exam.name} 受診日 {format_both(s.exam_date)}（記録{s.id}）"
        groups[title] = [(f"{s.id}:{i.key}",
                          i.label + (f"（{', '.join(f'{c}={v}' for c, v in i.codes.items())}）"
                                     if i.kind == "code" else ""))
                         for i in exam.fields]
    return groups


def deadline_on_closed_day(day: date) -> bool:
    """A deadline on a weekend, 祝日 or 年末年始: the decision has to go out the office day before."""
    from kenshin.core.holidays import is_office_day

    return not is_office_day(day)


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Record:
    request: DisclosureRequest
    entries: list[DisclosureEntry]
    staff: dict[int, Staff]
    urgency: Urgency

    @property
    def received_by(self) -> Staff:
        return self.staff[self.request.created_by_id]

    @property
    def decided_by(self) -> Staff | None:
        return self.staff.get(self.request.decided_by_id)


def _record(request: DisclosureRequest, today: date | None) -> Record:
    entries = list(DisclosureEntry.select(DisclosureEntry, Staff).join(Staff)
                   .where(DisclosureEntry.request == request.id)
                   .order_by(DisclosureEntry.at, DisclosureEntry.id))
    ids = {i for i in (request.created_by_id, request.decided_by_id) if i}
    staff = {s.id: s for s in Staff.select().where(Staff.id.in_(ids))}
    return Record(request, entries, staff, urgency(request, today))


def view(request_id: int, actor: audit.Actor, today: date | None = None) -> Record:
    """The request with its handling, for the screen; audited as a read of the person's data."""
    with db.atomic():
        request = _load(request_id)
        audit.record("disclosure.view", actor, resident=request.resident_id,
                     object_type="disclosure", object_id=request.id)
        return _record(request, today)


@dataclass
class Document:
    record: Record
    holdings: holdings.Holdings


def document(request_id: int, actor: audit.Actor, today: date | None = None) -> Document:
    """The disclosure document: all the file holds on the person and who accessed it; audited.

    The access record it prints ends with this production itself."""
    with db.atomic():
        request = _load(request_id)
        if request.kind != "disclosure":
            raise Refused("開示文書は開示請求について作成します。")
        if request.decision == "不開示":
            raise Refused("不開示と決定した請求です。開示文書は作成しません。")
        _entry(request, actor, "document", "開示文書を作成（印刷用）")
        person = Resident.get_by_id(request.resident_id)
        held = holdings.collect(person)
        audit.record("disclosure.document", actor, resident=person.id, object_type="disclosure",
                     object_id=request.id,
                     details={"screenings": len(held.screenings),
                              "registry_changes": len(held.registry_changes),
                              "access_events": len(held.accesses)})
        held.accesses = holdings.accesses(person.id)
        return Document(_record(request, today), held)


@dataclass
class Filters:
    status: str = "open"
    kind: str = ""

    def as_details(self) -> dict:
        return {"status": self.status, "kind": self.kind}


def parse_filters(status: str | None = None, kind: str | None = None) -> Filters:
    errors: dict[str, list[str]] = {}
    status = "open" if status is None else status
    if status not in ("", *STATUSES):
        errors["status"] = ["状態を選び直してください"]
    if kind and kind not in KINDS:
        errors["kind"] = ["種類を選び直してください"]
    if errors:
        raise Invalid(errors)
    return Filters(status, kind or "")


def _query(filters: Filters):
    query = DisclosureRequest.select(DisclosureRequest, Resident).join(Resident)
    if filters.status:
        query = query.where(DisclosureRequest.status == filters.status)
    if filters.kind:
        query = query.where(DisclosureRequest.kind == filters.kind)
    due = fn.COALESCE(DisclosureRequest.extended_deadline, DisclosureRequest.deadline)
    # Open requests first, the nearest deadline first; decided ones after, newest first.
    return query.order_by((DisclosureRequest.status != "open"), due,
                          DisclosureRequest.received_on.desc(), DisclosureRequest.id.desc())


@dataclass
class Alerts:
    overdue: int
    due_soon: int


def alerts(today: date | None = None) -> Alerts:
    """How many open requests are past their deadline, and how many fall due within 7 days."""
    today = today or today_jst()
    due = fn.COALESCE(DisclosureRequest.extended_deadline, DisclosureRequest.deadline)
    base = DisclosureRequest.select().where(DisclosureRequest.status == "open")
    return Alerts(base.where(due < today).count(),
                  base.where((due >= today) & (due <= today + timedelta(days=WARN_DAYS))).count())


def search(actor: audit.Actor, filters: Filters, page: int = 1) -> Page:
    """One page of requests (open ones by deadline); audited with the filters and the count."""
    with db.atomic():
        result = paginate(_query(filters), page)
        audit.record("disclosure.list", actor, object_type="disclosure",
                     details={"filters": filters.as_details(), "count": result.total,
                              "page": result.number})
    return result


EXPORT_HEADER = ["受付番号", "種類", "請求を受けた日", "請求者の区分", "決定期限", "延長後の期限",
                 "状態", "期限の状況", "決定", "決定日", "決定者"]


def export_csv(actor: audit.Actor, filters: Filters, reason: str,
               today: date | None = None) -> tuple[bytes, int]:
    """The list as CSV to follow deadlines: no names or contents of the requests; audited."""
    reason = export_reason(reason)
    with db.atomic():
        rows = list(_query(filters))
        deciders = {s.id: s.name for s in Staff.select().where(
            Staff.id.in_({r.decided_by_id for r in rows if r.decided_by_id}))}
        body = [[r.id, KINDS[r.kind], r.received_on.isoformat(), r.requester_relation,
                 r.deadline.isoformat(),
                 r.extended_deadline.isoformat() if r.extended_deadline else "",
                 STATUSES.get(r.status, r.status), urgency(r, today).label, r.decision or "",
                 r.decided_on.isoformat() if r.decided_on else "",
                 deciders.get(r.decided_by_id, "")] for r in rows]
        audit.record("disclosure.export", actor, object_type="disclosure",
                     details={"reason": reason, "count": len(body),
                              "filters": filters.as_details(), "columns": EXPORT_HEADER})
    return csv_bytes(EXPORT_HEADER, body), len(body)
