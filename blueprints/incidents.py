"""漏えい等調査 (admin, auditor): the people one staff member, terminal or import batch touched in
a period, printable and as CSV for the breach report. Conditions travel in POST bodies."""
from flask import Blueprint, Response, request

from kenshin.access.roles import AUDIT_READ_ROLES
from kenshin.audit import log as audit_log
from kenshin.operations import incident

from .web import actor, menu, render, requires

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _form(values, errors=None, report=None, status=200):
    return render("incidents/index.html", values=values, errors=errors or {}, report=report,
                  kinds=incident.KINDS, status=status)


@bp.get("/")
@requires(*AUDIT_READ_ROLES)
@menu("漏えい等の調査（影響を受けた人）", 840)
def index():
    """期間と、職員・端末・取込のいずれかを入力する画面."""
    period = audit_log.default_period(7)
    return _form({"start": period.start.isoformat(), "end": period.end.isoformat(),
                  "kind": "staff"})


def _scope():
    errors: dict = {}
    form = request.form
    period = audit_log.parse_period(form.get("start"), form.get("end"), errors=errors)
    scope = incident.parse_scope(period, form.get("kind"), form.get("value"), errors)
    return scope, errors


@bp.post("/")
@requires(*AUDIT_READ_ROLES)
def report():
    """対象者と操作の一覧（表示そのものも記録する）."""
    scope, errors = _scope()
    if errors:
        return _form(request.form, errors, status=422)
    return _form(request.form, report=incident.build(scope, actor()))


@bp.post("/print")
@requires(*AUDIT_READ_ROLES)
def print_view():
    """A4 印刷用（取扱注意）."""
    scope, errors = _scope()
    if errors:
        return _form(request.form, errors, status=422)
    return render("incidents/print.html", report=incident.build(scope, actor(), incident.PRINT),
                  kinds=incident.KINDS)


@bp.post("/export")
@requires(*AUDIT_READ_ROLES)
def export():
    """CSV（Excel用 BOM 付き UTF-8、数式として読まれる値は ' で始める）."""
    scope, errors = _scope()
    if errors:
        return _form(request.form, errors, status=422)
    name, data, count = incident.export_csv(scope, actor())
    return Response(data, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Export-Count": str(count)})
