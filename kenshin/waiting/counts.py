"""How much work waits, per kind, for the menu. Which kinds a person sees is decided by the roles
of the list each count links to (blueprints/home.py); this module only counts.

Indexes each count stays on (models.py):
- 突合待ち: queue_item(status, created_at)
- 未確定 (確認入力待ち): screening(status, entered_at)
- 訂正の確認待ち: screening_proposal (open proposals: the partial unique index per record)
- 対応中の問合せ: inquiry(status, received_at)
- 請求の期限: the open requests (a handful a year; disclosure.alerts)
- 承認待ちの照会: provision_query(status, received_at)
- 精検 未把握: not counted — see followup_unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from peewee import SQL, fn

from models import Inquiry, ProvisionQuery, QueueItem, Screening, ScreeningProposal

from kenshin.provision import queries
from kenshin.requests import disclosure
from kenshin.screening.screenings import PENDING
from kenshin.verification import corrections


# COUNT(*), not COUNT(id): PostgreSQL can then answer from the index alone (an index-only scan)
# instead of visiting every counted row in the table.
_ROWS = fn.COUNT(SQL("*"))


@dataclass(frozen=True)
class Waiting:
    """One line of the menu: what waits, how many, and how many of them are late."""

    key: str
    label: str
    count: int | None  # None: not counted on the menu (too costly); the list shows it
    urgent: int = 0
    urgent_label: str = ""


def queue_open() -> Waiting:
    n = QueueItem.select(_ROWS).where(QueueItem.status == "open").scalar()
    return Waiting("queue", "突合待ち", n or 0)


def verification_pending() -> Waiting:
    n = Screening.select(_ROWS).where(Screening.status == PENDING).scalar()
    return Waiting("verify", "未確定（確認入力待ち）", n or 0)


def corrections_waiting() -> Waiting:
    n = ScreeningProposal.select(_ROWS).where(ScreeningProposal.status == corrections.OPEN).scalar()
    return Waiting("corrections", "訂正の確認待ち（2人目の確認）", n or 0)


def inquiries_open() -> Waiting:
    n = Inquiry.select(_ROWS).where(Inquiry.status == "open").scalar()
    return Waiting("inquiries", "対応中の問合せ", n or 0)


def request_deadlines(today: date | None = None) -> Waiting:
    alerts = disclosure.alerts(today)
    return Waiting("requests", "開示・訂正・利用停止請求の期限（7日以内）", alerts.due_soon,
                   alerts.overdue, "期限超過")


def provision_held(policy: queries.Policy, today: date | None = None) -> Waiting:
    held = queries.held(policy, today)  # the held queries only: a few at any time
    return Waiting("provision", "承認待ちの照会（情報提供）", len(held),
                   sum(1 for row in held if row.overdue), f"{policy.hold_working_days}業務日以上")


def followup_unknown() -> Waiting:
    """精検 未把握: a link without a number. Counting it means looking for a 精密検査 behind every
    referred screening of the 年度 — at 1M residents / 5M screenings (156,891 referred) the list's
    own count takes about 1 s and a set-based anti-join 0.4–0.5 s on either database
    (docs/STATISTICS.md), ten times what a menu may spend; the list counts when it is opened."""
    return Waiting("followup", "精検 未把握（今年度の要精検者）", None)
