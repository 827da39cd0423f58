"""The menu each person lands on: the work waiting for them, counted, each count linking to its
list — only the lists their roles may open. The screens themselves are in the header."""
from flask import Blueprint, current_app, g, url_for

from kenshin.operations import training
from kenshin.provision import queries
from kenshin.waiting import counts

from .web import ANY_STAFF, closed_days, render, requires

bp = Blueprint("home", __name__)

# (endpoint of the list, its query values, the count). The list's own role declaration decides
# who sees the count: a count nobody may open is never computed.
WAITING = (
    ("queue.index", {}, lambda: counts.queue_open()),
    ("verify.index", {}, lambda: counts.verification_pending()),
    ("screenings.corrections_list", {}, lambda: counts.corrections_waiting()),
    ("inquiries.index", {"status": "open"}, lambda: counts.inquiries_open()),
    ("disclosures.index", {}, lambda: counts.request_deadlines()),
    ("provision.index", {}, lambda: counts.provision_held(_provision_policy())),
    ("followup.index", {"status": "unknown"}, lambda: counts.followup_unknown()),
)


def _provision_policy() -> queries.Policy:
    cfg = current_app.config
    return queries.Policy(removed_years=int(cfg.get("PROVISION_REMOVED_YEARS", 5)),
                          hold_working_days=int(cfg.get("PROVISION_HOLD_WORKING_DAYS", 5)),
                          closed_days=closed_days())


def waiting_work() -> list[dict]:
    """The counts the signed-in person may follow, each with the URL of its list."""
    out = []
    for endpoint, values, count in WAITING:
        view = current_app.view_functions.get(endpoint)
        roles = getattr(view, "roles", frozenset())
        if view is None or not (ANY_STAFF in roles or g.staff.has_any_role(*roles)):
            continue
        out.append({"waiting": count(), "url": url_for(endpoint, **values)})
    return out


@bp.get("/")
@requires(ANY_STAFF)
def index():
    """メニュー: 待っている仕事の件数（一覧へのリンク）."""
    return render("home/index.html", training=training.of(g.staff.id), waiting=waiting_work())
