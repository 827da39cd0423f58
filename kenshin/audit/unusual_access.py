"""Unusual access, listed for review (never blocked): views of persons outside office hours,
a staff member opening far more persons on a day than their peers (more than `ratio` times
the median of the others who opened anyone that day, and at least `minimum`), and a staff member opening a
person who shares their family name (四日市市 2019: found only when a resident asked), and a
spike of provision queries refused for not being on the permitted-query list (照会許可用照合リスト):
a day with at least `refusal_minimum` such refusals and more than `ratio` times the median of the
period's other days (someone probing the network interface, or a list that went wrong).
Also a staff member whose file imports were rejected again and again on one day (repeated
previews can probe stored records: issue 12, finding 5), and an enrollment completed from the
terminal or the session of the administrator who issued its link (an administrator sees every
link they issue, so they could enroll as someone else).

Works on `resident.view` events (the residents screens record them with the person as subject)
and on rejected `import.*` events.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from peewee import JOIN

from models import AuditEvent, Resident, Staff, db

from kenshin import audit
from kenshin.audit.log import Period
from kenshin.core.dates import to_jst
from kenshin.core.errors import Invalid
from kenshin.core.holidays import is_office_day
from kenshin.core.names import name_key

VIEW = "resident.view"
REFUSAL = "provision.refuse"  # kenshin.provision.queries.REFUSED_ACTION (audit sits below provision)
IMPORT_ACTIONS = ("import.residents", "import.results", "import.institutions")
ENROLL = "staff.enroll"
MAX_DAYS = 92
LIST_MAX = 1000


@dataclass(frozen=True)
class Rules:
    office_start: time = time(8, 30)
    office_end: time = time(17, 30)
    ratio: float = 3.0
    minimum: int = 30
    closed_days: frozenset = frozenset()
    refusal_minimum: int = 5
    rejected_imports: int = 3  # rejected import attempts by one person on one day

    def details(self) -> dict:
        return {"office": f"{self.office_start:%H:%M}-{self.office_end:%H:%M}",
                "ratio": self.ratio, "minimum": self.minimum,
                "refusal_minimum": self.refusal_minimum,
                "rejected_imports_at_least": self.rejected_imports}


def _time(text: str, key: str, label: str, errors: dict) -> time | None:
    try:
        hours, minutes = (text or "").strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        errors.setdefault(key, []).append(f"{label}は 08:30 のように入力してください")
        return None


def parse_rules(form, closed_days=frozenset(), defaults: Rules = Rules()) -> Rules:
    """Rules from the form (blank fields keep the defaults); raises Invalid."""
    errors: dict[str, list[str]] = {}
    start = _time(form.get("office_start") or f"{defaults.office_start:%H:%M}", "office_start",
                  "開庁時刻", errors)
    end = _time(form.get("office_end") or f"{defaults.office_end:%H:%M}", "office_end",
                "閉庁時刻", errors)
    if start and end and end <= start:
        errors.setdefault("office_end", []).append("閉庁時刻は開庁時刻より後にしてください")
    try:
        ratio = float(form.get("ratio") or defaults.ratio)
        if not 1 <= ratio <= 100:
            raise ValueError
    except ValueError:
        errors.setdefault("ratio", []).append("倍率は1〜100の数で入力してください")
        ratio = defaults.ratio
    try:
        minimum = int(form.get("minimum") or defaults.minimum)
        if not 1 <= minimum <= 100_000:
            raise ValueError
    except ValueError:
        errors.setdefault("minimum", []).append("最低件数は1以上の整数で入力してください")
        minimum = defaults.minimum
    try:
        refusal_minimum = int(form.get("refusal_minimum") or defaults.refusal_minimum)
        if not 1 <= refusal_minimum <= 100_000:
            raise ValueError
    except ValueError:
        errors.setdefault("refusal_minimum", []).append("拒否件数の基準は1以上の整数で入力してください")
        refusal_minimum = defaults.refusal_minimum
    if errors:
        raise Invalid(errors)
    return Rules(start, end, ratio, minimum, frozenset(closed_days), refusal_minimum)


@dataclass
class View:
    at: datetime  # UTC as stored
    staff_id: int | None
    login_id: str
    staff_name: str
    division: str
    atena_no: str
    resident_name: str

    @property
    def at_jst(self) -> datetime:
        return to_jst(self.at)


@dataclass
class HeavyDay:
    day: date
    login_id: str
    staff_name: str
    division: str
    persons: int
    median: float  # of the other staff who opened anyone that day
    peers: int


@dataclass
class SameName:
    login_id: str
    staff_name: str
    division: str
    atena_no: str
    resident_name: str
    views: int
    first: datetime
    last: datetime


@dataclass
class RefusalSpike:
    day: date
    refusals: int
    median: float  # of the period's other days
    requesters: list[str]


@dataclass
class RejectedImports:
    day: date
    login_id: str
    staff_name: str
    division: str
    attempts: int
    files: int  # distinct checksums


@dataclass
class SelfEnrolled:
    at: datetime  # UTC as stored
    login_id: str  # the account enrolled
    staff_name: str
    issued_by: str
    issuer_name: str
    terminal: str
    same_terminal: bool
    issuer_session: bool

    @property
    def at_jst(self) -> datetime:
        return to_jst(self.at)


def self_enrolled_suspect(details: dict | None) -> bool:
    """Was this enrollment completed from the issuing administrator's terminal or session?
    (kenshin.access.staff writes these keys into the `staff.enroll` event.)"""
    details = details or {}
    return bool(details.get("same_terminal_as_issuer")) or (
        bool(details.get("opened_in_session_of"))
        and details.get("opened_in_session_of") == details.get("issued_by"))


@dataclass
class Findings:
    after_hours: list[View] = field(default_factory=list)
    after_hours_total: int = 0
    heavy: list[HeavyDay] = field(default_factory=list)
    same_name: list[SameName] = field(default_factory=list)
    refusal_spikes: list[RefusalSpike] = field(default_factory=list)
    rejected_imports: list[RejectedImports] = field(default_factory=list)
    self_enrolled: list[SelfEnrolled] = field(default_factory=list)


def family_name(name: str) -> str:
    """The family part of a name written 「姓 名」 (full- or half-width space); '' if no space."""
    parts = (name or "").split()
    return parts[0] if len(parts) >= 2 else ""


def shares_family_name(staff_name: str, resident_name: str) -> bool:
    """Does the resident carry the staff member's family name (髙橋 = 高橋, 﨑 = 崎)?"""
    staff_family = name_key(family_name(staff_name))
    if not staff_family:
        return False
    resident_family = family_name(resident_name)
    if resident_family:
        return name_key(resident_family) == staff_family
    # A name stored without the space: the family name is its beginning.
    return name_key(resident_name).startswith(staff_family)


def outside_office_hours(local: datetime, rules: Rules) -> bool:
    if not is_office_day(local.date(), rules.closed_days):
        return True
    return not (rules.office_start <= local.time().replace(tzinfo=None) < rules.office_end)


def find(period: Period, rules: Rules) -> Findings:
    """The three lists for the period (Japan-time days)."""
    if (period.end - period.start).days + 1 > MAX_DAYS:
        raise Invalid({"end": [f"期間は{MAX_DAYS}日以内にしてください"]})
    begin, end = period.utc_bounds()
    query = (AuditEvent
             .select(AuditEvent.at, AuditEvent.actor, AuditEvent.actor_label, Staff.name,
                     Staff.division, AuditEvent.resident, Resident.atena_no, Resident.name)
             .join(Staff, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Staff.id))
             .switch(AuditEvent)
             .join(Resident, on=(AuditEvent.resident == Resident.id))
             .where((AuditEvent.action == VIEW) & (AuditEvent.at >= begin) & (AuditEvent.at < end))
             .order_by(AuditEvent.at, AuditEvent.seq))
    found = Findings()
    per_day: dict[date, dict[int, set[int]]] = {}
    staff_info: dict[int, tuple[str, str, str]] = {}
    pairs: dict[tuple[int, int], SameName] = {}
    for at, staff_id, login_id, staff_name, division, resident_id, atena_no, rname in query.tuples():
        local = to_jst(at)
        view = View(at, staff_id, login_id, staff_name or "", division or "", atena_no, rname)
        if outside_office_hours(local, rules):
            found.after_hours_total += 1
            if len(found.after_hours) < LIST_MAX:
                found.after_hours.append(view)
        if staff_id is None:
            continue
        staff_info[staff_id] = (login_id, staff_name or "", division or "")
        per_day.setdefault(local.date(), {}).setdefault(staff_id, set()).add(resident_id)
        if staff_name and shares_family_name(staff_name, rname):
            pair = pairs.get((staff_id, resident_id))
            if pair is None:
                pairs[(staff_id, resident_id)] = SameName(login_id, staff_name, division or "",
                                                          atena_no, rname, 1, at, at)
            else:
                pair.views += 1
                pair.last = at
    for day, by_staff in sorted(per_day.items()):
        counts = {sid: len(persons) for sid, persons in by_staff.items()}
        for sid, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            peers = [c for other, c in counts.items() if other != sid]
            if count < rules.minimum or not peers:
                continue
            median = statistics.median(peers)
            if count > rules.ratio * median:
                login_id, name, division = staff_info[sid]
                found.heavy.append(HeavyDay(day, login_id, name, division, count, median,
                                            len(peers)))
    found.same_name = sorted(pairs.values(), key=lambda p: (p.first, p.login_id))
    found.refusal_spikes = refusal_spikes(period, rules)
    found.rejected_imports = _rejected_imports(begin, end, rules)
    found.self_enrolled = _self_enrolled(begin, end)
    return found


def refusal_spikes(period: Period, rules: Rules) -> list[RefusalSpike]:
    """Days of the period with a spike of permitted-list refusals (see the module docstring)."""
    begin, end = period.utc_bounds()
    per_day: dict[date, list[str]] = {}
    query = (AuditEvent.select(AuditEvent.at, AuditEvent.details)
             .where((AuditEvent.action == REFUSAL) & (AuditEvent.at >= begin) & (AuditEvent.at < end)))
    for at, details in query.tuples():
        details = AuditEvent.details.python_value(details) if isinstance(details, str) else details
        if (details or {}).get("reason") != "not_permitted":
            continue  # a suspended person's refusal is the person's choice, not a probe
        per_day.setdefault(to_jst(at).date(), []).append(str(details.get("requester", "")))
    days = [period.start + timedelta(days=n) for n in range((period.end - period.start).days + 1)]
    spikes = []
    for day in days:
        count = len(per_day.get(day, []))
        if count < rules.refusal_minimum:
            continue
        others = [len(per_day.get(d, [])) for d in days if d != day]
        median = statistics.median(others) if others else 0
        if count > rules.ratio * median:
            spikes.append(RefusalSpike(day, count, median, sorted(set(per_day[day]))))
    return spikes

def _self_enrolled(begin: datetime, end: datetime) -> list[SelfEnrolled]:
    query = (AuditEvent
             .select(AuditEvent.at, AuditEvent.actor_label, Staff.name, AuditEvent.terminal,
                     AuditEvent.details)
             .join(Staff, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Staff.id))
             .where((AuditEvent.action == ENROLL) & (AuditEvent.at >= begin) & (AuditEvent.at < end))
             .order_by(AuditEvent.at, AuditEvent.seq))
    rows = [(at, login_id, name, terminal,
             AuditEvent.details.python_value(details) if isinstance(details, str) else details)
            for at, login_id, name, terminal, details in query.tuples()]
    flagged = [row for row in rows if self_enrolled_suspect(row[4])]
    issuers = {s.login_id: s.name for s in Staff.select(Staff.login_id, Staff.name).where(
        Staff.login_id.in_([(row[4] or {}).get("issued_by", "") for row in flagged] or [""]))}
    return [SelfEnrolled(at, login_id, name or "", details.get("issued_by", ""),
                         issuers.get(details.get("issued_by", ""), ""), terminal,
                         bool(details.get("same_terminal_as_issuer")),
                         details.get("opened_in_session_of") == details.get("issued_by"))
            for at, login_id, name, terminal, details in flagged][:LIST_MAX]


def _rejected_imports(begin: datetime, end: datetime, rules: Rules) -> list[RejectedImports]:
    """People with at least `rules.rejected_imports` rejected import attempts (previews and
    confirmations) on one Japan-time day."""
    query = (AuditEvent
             .select(AuditEvent.at, AuditEvent.actor, AuditEvent.actor_label, Staff.name,
                     Staff.division, AuditEvent.details)
             .join(Staff, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Staff.id))
             .where(AuditEvent.action.in_(IMPORT_ACTIONS) & (AuditEvent.outcome == "rejected")
                    & (AuditEvent.at >= begin) & (AuditEvent.at < end)))
    per_day: dict[tuple, list] = {}
    for at, staff_id, login_id, staff_name, division, details in query.tuples():
        details = AuditEvent.details.python_value(details) if isinstance(details, str) else details
        key = (to_jst(at).date(), staff_id, login_id)
        entry = per_day.setdefault(key, [staff_name or "", division or "", 0, set()])
        entry[2] += 1
        entry[3].add((details or {}).get("sha256"))
    return [RejectedImports(day, login_id, name, division, attempts, len(files))
            for (day, _sid, login_id), (name, division, attempts, files) in sorted(
                per_day.items(), key=lambda kv: (kv[0][0], kv[0][2]))
            if attempts >= rules.rejected_imports][:LIST_MAX]


def review(period: Period, rules: Rules, actor: audit.Actor) -> Findings:
    """The review's lists; the review itself is recorded with its counts."""
    with db.atomic():
        found = find(period, rules)
        audit.record("audit.unusual_review", actor, details=dict(
            period.details(), **rules.details(), after_hours=found.after_hours_total,
            heavy=len(found.heavy), same_name=len(found.same_name),
            refusal_spikes=len(found.refusal_spikes),
            rejected_imports=len(found.rejected_imports), self_enrolled=len(found.self_enrolled)))
    return found
