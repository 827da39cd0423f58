"""The person page as the office uses it on the phone: the person, and around them their inquiries,
disclosure requests, invitations (受診券) and provision records — each list only for the roles
that may open it, all read in the one audited view of the person.

The lists live here, not in kenshin.registry.residents, because they reach into the requests,
invitations and provision capabilities, which themselves depend on the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from peewee import JOIN

import database

from models import (DisclosureRequest, Inquiry, Invitation, InvitationRun, ProvisionQuery,
                    SeiriNumber, Staff)

from kenshin import audit
from kenshin.access.roles import DISCLOSURE_ROLES, PERSONAL_DATA_ROLES, PROVISION_ROLES
from kenshin.core.dates import fiscal_year_label
from kenshin.registry import residents
from kenshin.screening import catalogue

INQUIRIES, REQUESTS, INVITATIONS, PROVISION = "inquiries", "requests", "invitations", "provision"

# Who sees which list on the person page: the roles that may open the list's own screens
# (invitations: the per-person exclusions are clerk and supervisor work, SECURITY.md roles).
SECTION_ROLES = {
    INQUIRIES: PERSONAL_DATA_ROLES,
    REQUESTS: DISCLOSURE_ROLES,
    INVITATIONS: PERSONAL_DATA_ROLES,
    PROVISION: PROVISION_ROLES,
}
LIST_LIMIT = 100  # a person has a handful; the limit only bounds a pathological case


def sections_for(roles) -> tuple[str, ...]:
    """The lists a person holding `roles` sees, in page order."""
    held = set(roles)
    return tuple(name for name, allowed in SECTION_ROLES.items() if held & set(allowed))


@dataclass
class InvitationLine:
    fiscal_year: int
    year_label: str  # 令和7年度
    exam: str
    exam_name: str
    kind: str  # invite | remind
    as_of: date
    seiri_no: str
    stopped_on: date | None
    run_id: int


@dataclass
class PersonPage:
    record: residents.PersonRecord
    sections: tuple[str, ...]
    inquiries: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    invitations: list[InvitationLine] = field(default_factory=list)
    provision: list = field(default_factory=list)


def inquiries_of(resident_id: int) -> list[Inquiry]:
    """The person's inquiries, newest first (index: inquiry.resident_id)."""
    return list(database.prepared("person.inquiries", _inquiries_query, int(resident_id)))


def _inquiries_query(resident_id: int):
    return (Inquiry.select(Inquiry, Staff).join(Staff, on=(Inquiry.created_by == Staff.id))
            .where(Inquiry.resident == resident_id)
            .order_by(Inquiry.received_at.desc(), Inquiry.id.desc()).limit(LIST_LIMIT))


def requests_of(resident_id: int) -> list[DisclosureRequest]:
    """The person's disclosure, correction and suspension requests, newest first."""
    return list(DisclosureRequest.select().where(DisclosureRequest.resident == resident_id)
                .order_by(DisclosureRequest.received_on.desc(), DisclosureRequest.id.desc())
                .limit(LIST_LIMIT))


def invitations_of(resident_id: int) -> list[InvitationLine]:
    """The person's 受診券 and 再勧奨, newest 年度 first.

    Both reads stay on an index at millions of invitation rows: the 年度's invitations through
    the partial index (resident_id, fiscal_year) WHERE kind = 'invite', the reminders through
    (run_id, resident_id) with the few reminder runs named explicitly. A row holds the run's
    exams for the person as a set: one line per exam."""
    resident_id = int(resident_id)
    runs = {r.id: r for r in database.prepared("person.invitation_runs", InvitationRun.select)}
    reminder_runs = [rid for rid, r in runs.items() if r.kind == "reminder"]
    rows = list(database.prepared("person.invitations", _invitations_query, resident_id))
    if reminder_runs:
        rows += list(Invitation.select().where(Invitation.run_id.in_(reminder_runs)
                                               & (Invitation.resident_id == resident_id))
                     .limit(LIST_LIMIT))
    numbers = {n.fiscal_year: n.number for n in
               database.prepared("person.seiri_numbers", _seiri_query, resident_id)}
    order = {code: i for i, code in enumerate(catalogue.EXAMS)}
    out = []
    for row in rows:
        run = runs.get(row.run_id)
        for code in row.exam_codes:
            exam = catalogue.EXAMS.get(code)
            out.append(InvitationLine(row.fiscal_year, fiscal_year_label(row.fiscal_year), code,
                                      exam.name if exam else code, row.kind, run.as_of if run else None,
                                      numbers.get(row.fiscal_year, ""), row.stopped_on, row.run_id))
    out.sort(key=lambda i: (-i.fiscal_year, i.kind != "invite", order.get(i.exam, 999),
                            i.as_of or date.min))
    return out


def _invitations_query(resident_id: int):
    return (Invitation.select().where((Invitation.resident_id == resident_id)
                                      & (Invitation.kind == "invite")).limit(LIST_LIMIT))


def _seiri_query(resident_id: int):
    return SeiriNumber.select().where(SeiriNumber.resident == resident_id)


def provision_of(resident_id: int) -> list[ProvisionQuery]:
    """The queries the intermediate server made about the person, newest first
    (index: provision_query(resident_id, received_at))."""
    return list(ProvisionQuery.select(ProvisionQuery, Staff)
                .join(Staff, JOIN.LEFT_OUTER, on=(ProvisionQuery.decided_by == Staff.id))
                .where(ProvisionQuery.resident == resident_id)
                .order_by(ProvisionQuery.received_at.desc()).limit(LIST_LIMIT))


LOADERS = {INQUIRIES: inquiries_of, REQUESTS: requests_of, INVITATIONS: invitations_of,
           PROVISION: provision_of}


def open_page(resident_id: int, actor: audit.Actor, sections=(), today: date | None = None) -> PersonPage:
    """The person page with the lists in `sections`; one audited view names the lists shown."""
    sections = tuple(s for s in LOADERS if s in set(sections))
    record = residents.view(resident_id, actor, today=today, details={"lists": list(sections)})
    page = PersonPage(record, sections)
    for name in sections:
        setattr(page, name, LOADERS[name](record.resident.id))
    return page
