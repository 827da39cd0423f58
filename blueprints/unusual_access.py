"""不審なアクセスの確認 (admin, auditor): views outside office hours, a staff member opening far
more persons than their peers on a day, and views of persons sharing the staff member's family
name. Listed for review, never blocked; the review itself is audited."""
from flask import Blueprint, current_app, request

from kenshin.audit import log as audit_log
from kenshin.audit import unusual_access
from kenshin.access.roles import AUDIT_READ_ROLES
from kenshin.core.errors import Invalid

from .web import actor, closed_days, menu, render, requires

bp = Blueprint("unusual_access", __name__, url_prefix="/unusual-access")


def _defaults() -> unusual_access.Rules:
    cfg = current_app.config
    return unusual_access.parse_rules({"office_start": cfg.get("OFFICE_START", ""),
                                       "office_end": cfg.get("OFFICE_END", "")})


@bp.get("/")
@requires(*AUDIT_READ_ROLES)
@menu("不審なアクセスの確認", 850)
def index():
    """期間（最長92日）と開庁時間などの基準を指定して、確認すべきアクセスを一覧にする."""
    values, found, errors = request.args, None, {}
    defaults = _defaults()
    if values.get("start") or values.get("end"):
        period = audit_log.parse_period(values.get("start"), values.get("end"),
                                        unusual_access.MAX_DAYS, errors=errors)
        try:
            rules = unusual_access.parse_rules(values, closed_days(), defaults)
        except Invalid as exc:
            errors.update(exc.errors)
        if not errors:
            found = unusual_access.review(period, rules, actor())
    else:
        period = audit_log.default_period(7)
        values = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    shown = {"office_start": f"{defaults.office_start:%H:%M}",
             "office_end": f"{defaults.office_end:%H:%M}", "ratio": f"{defaults.ratio:g}",
             "minimum": str(defaults.minimum), "refusal_minimum": str(defaults.refusal_minimum)}
    shown.update({k: v for k, v in values.items() if v})
    return render("unusual_access/index.html", values=shown, found=found, errors=errors,
                  list_max=unusual_access.LIST_MAX, rejected_min=defaults.rejected_imports,
                  status=422 if errors else 200)
