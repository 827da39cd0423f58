"""Retention of people removed from the registry, and the purge that deletes them when it ends.

The rule: a person removed from the registry (消除, `removed_on`) is kept for RETENTION_YEARS 年度
(default 5, the screening history's retention) counted from the 年度 after the removal — removed
on 2020-06-01 (令和2年度) means kept through 令和7年度 (until 2026-03-31) and deleted from
2026-04-01. People still in the registry are never purged, nor anyone with a 開示・訂正・利用停止
request still open (the request needs the data), nor anyone about whom data was provided
through the intermediate server less than PROVISION_KEEP_YEARS (7) years ago (the provision
record is kept 7 years, III.6); both are counted as `held`.

What goes: the person and every row that depends on them, found from the models' foreign keys
(screenings, their changes, keyings and differences, 整理番号, registry changes, inquiries and
their entries, closed requests, and whatever later tables point at a person or a screening),
plus queue rows that name the person's 宛名番号. What stays: the audit events — append-only and
hash-chained, holding no health values — which keep naming the person by their old id, and one
PurgeRun with the counts. See docs/OPERATIONS.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

import models
from models import (AuditEvent, DisclosureRequest, Invitation, ProvisionQuery, PurgeRun, QueueItem,
                    Resident, db)
from peewee import sort_models

from kenshin import audit
from kenshin.core.dates import fiscal_year, now_utc, today_jst

DEFAULT_YEARS = 5
PROVISION_KEEP_YEARS = 7  # provision records (中間サーバー) are kept 7 years
ACTION = "operations.purge"
# Rows that stay whoever they name: the access log (docs/OPERATIONS.md).
KEPT = {AuditEvent}
CHUNK = 500
# Short names for the summary line; other tables appear under their table name.
LABELS = {
    "resident": "people",
    "screening": "screenings",
    "screening_keying": "keyings",
    "screening_difference": "differences",
    "screening_change": "screening_changes",
    "queue_item": "queue_rows",
    "inquiry": "inquiries",
    "inquiry_entry": "inquiry_entries",
    "disclosure_request": "requests",
    "disclosure_entry": "request_entries",
    "seiri_number": "seiri_numbers",
    "resident_change": "registry_changes",
}
ORDER = list(LABELS.values())


class RetentionError(ValueError):
    """A setting or date the purge cannot work with."""


def retention_years(setting) -> int:
    """KENSHIN_RETENTION_YEARS as a whole number of 年度, at least 1."""
    if setting in (None, ""):
        return DEFAULT_YEARS
    try:
        years = int(setting)
    except (TypeError, ValueError):
        raise RetentionError(f"RETENTION_YEARS must be a whole number of 年度, not {setting!r}")
    if years < 1:
        raise RetentionError("RETENTION_YEARS must be at least 1")
    return years


def first_kept_fiscal_year(as_of: date, years: int) -> int:
    """People removed in a 年度 before this one are past retention on `as_of`."""
    return fiscal_year(as_of) - years


@dataclass
class Plan:
    as_of: date
    years: int
    removed_before: date  # removed_on before this date means past retention
    people: list[int]
    held: int
    counts: dict = field(default_factory=dict)

    def line(self) -> str:
        counts = dict(self.counts)
        keys = [k for k in ORDER if k in counts] + sorted(k for k in counts if k not in ORDER)
        parts = [f"{k}={counts[k]}" for k in keys]
        return " ".join(parts + [f"held={self.held}"])


def _chunks(values):
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _dependents():
    """For each model, the (child model, foreign key) pairs that point at it."""
    found = {}
    for model in models.ALL_MODELS:
        if model in KEPT:
            continue
        for fk in model._meta.refs:
            found.setdefault(fk.rel_model, []).append((model, fk))
    return found


def _collect(people: list[int]) -> dict:
    """Every row to delete, as {model: set of ids}, following foreign keys down from the people."""
    dependents = _dependents()
    rows: dict = {}

    def visit(model, ids):
        have = rows.setdefault(model, set())
        new = set(ids) - have
        if not new:
            return
        have |= new
        for child, fk in dependents.get(model, []):
            pk = child._meta.primary_key
            child_ids = set()
            for chunk in _chunks(new):
                child_ids.update(r[0] for r in child.select(pk).where(fk.in_(chunk)).tuples())
            if child_ids:
                visit(child, child_ids)

    visit(Resident, people)
    # Queue rows that were never matched but name the person's 宛名番号.
    atena = set()
    for chunk in _chunks(people):
        atena.update(r[0] for r in Resident.select(Resident.atena_no)
                     .where(Resident.id.in_(chunk)).tuples())
    queued = set()
    for chunk in _chunks(atena):
        queued.update(r[0] for r in QueueItem.select(QueueItem.id)
                      .where(QueueItem.atena_no.in_(chunk)).tuples())
    if queued:
        visit(QueueItem, queued)
    # Invitations name the person by a plain integer (no foreign key: kenshin.invitations).
    invited = set()
    for chunk in _chunks(people):
        invited.update(r[0] for r in Invitation.select(Invitation.id)
                       .where(Invitation.resident_id.in_(chunk)).tuples())
    if invited:
        visit(Invitation, invited)
    return {model: ids for model, ids in rows.items() if ids}


def _years_before(day: date, years: int) -> date:
    """The same calendar date `years` earlier (2月29日 → 2月28日)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def plan(as_of: date | None = None, years: int = DEFAULT_YEARS) -> tuple[Plan, dict]:
    """Who is past retention on `as_of` (Japan today by default) and what would go with them."""
    as_of = as_of or today_jst()
    if as_of > today_jst():
        raise RetentionError("a purge cannot be planned for a future date")
    removed_before = date(first_kept_fiscal_year(as_of, years), 4, 1)
    past = (Resident.select(Resident.id)
            .where(Resident.removed_on.is_null(False) & (Resident.removed_on < removed_before)))
    open_request = (DisclosureRequest.select(DisclosureRequest.resident)
                    .where(DisclosureRequest.status == "open"))
    provided_since = datetime.combine(_years_before(as_of, PROVISION_KEEP_YEARS), time.min)
    recent_provision = (ProvisionQuery.select(ProvisionQuery.resident)
                        .where(ProvisionQuery.resident.is_null(False)
                               & (ProvisionQuery.received_at >= provided_since)))
    keep = Resident.id.in_(open_request) | Resident.id.in_(recent_provision)
    people = [r[0] for r in past.where(~keep).tuples()]
    held = past.where(keep).count()
    rows = _collect(people)
    counts = {LABELS.get(m._meta.table_name, m._meta.table_name): len(ids)
              for m, ids in rows.items()}
    counts.setdefault("people", 0)
    return Plan(as_of, years, removed_before, sorted(people), held, counts), rows


def purge(actor: audit.Actor, *, as_of: date | None = None, years: int = DEFAULT_YEARS,
          dry_run: bool = False) -> Plan:
    """Delete everyone past retention, in one transaction with its audit event and PurgeRun.

    A dry run only plans: it writes nothing at all."""
    if dry_run:
        return plan(as_of, years)[0]
    with db.atomic():
        the_plan, rows = plan(as_of, years)
        # Children before parents: the reverse of peewee's dependency order.
        for model in reversed(sort_models(list(rows))):
            pk = model._meta.primary_key
            for chunk in _chunks(rows[model]):
                model.delete().where(pk.in_(chunk)).execute()
        run = PurgeRun.create(at=now_utc(), as_of=the_plan.as_of, retention_years=years,
                              removed_before_fy=first_kept_fiscal_year(the_plan.as_of, years),
                              actor_label=actor.label[:64], counts=the_plan.counts)
        audit.record(ACTION, actor, object_type="purge_run", object_id=run.id,
                     details={"as_of": the_plan.as_of, "retention_years": years,
                              "removed_before": the_plan.removed_before,
                              "counts": the_plan.counts, "held": the_plan.held})
    return the_plan
