"""監査ログ (admin, auditor): the viewer (filter first, paged, CSV, print), the access record of
one person for disclosure requests, and the daily heads. Every read here is itself audited.

Filters travel in POST bodies (a 宛名番号 is personal and never goes into a URL); paging posts
the same filter again with the page number. Only the daily heads' dates use a query string.
"""
from flask import Blueprint, Response, current_app, flash, g, request

from kenshin.audit import log as audit_log
from kenshin.audit.labels import action_label, outcome_label
from kenshin.access.roles import AUDIT_READ_ROLES
from kenshin.core.errors import Invalid, NotFound, Refused

from .web import ANY_STAFF, actor, menu, redirect_to, render, requires

bp = Blueprint("audit_log", __name__, url_prefix="/audit")


@bp.app_template_global()
def may_open(endpoint: str) -> bool:
    """Whether the signed-in person's roles admit the page of an object the log names (the
    object is then a link; otherwise its name alone)."""
    view = current_app.view_functions.get(endpoint)
    staff = g.get("staff")
    roles = getattr(view, "roles", frozenset())
    return bool(view is not None and staff is not None and roles
                and (ANY_STAFF in roles or staff.has_any_role(*roles)))


@bp.context_processor
def _labels():
    return {"action_label": action_label, "outcome_label": outcome_label}


def _index(flt_values, errors=None, page=None, status=200):
    return render("audit_log/index.html", "audit_log/_results.html", values=flt_values,
                  errors=errors or {}, result=page, actions=audit_log.action_choices(),
                  outcomes=audit_log.outcome_choices(), status=status)


@bp.get("/")
@requires(*AUDIT_READ_ROLES)
@menu("監査ログの閲覧", 800)
def index():
    """条件を指定する画面（期間は必須）。条件なしの検索はしない."""
    period = audit_log.default_period()
    return _index({"start": period.start.isoformat(), "end": period.end.isoformat()})


def _filter():
    return audit_log.parse_filter(request.form)


@bp.post("/")
@requires(*AUDIT_READ_ROLES)
def search():
    """条件に合う記録を新しい順に50件ずつ（閲覧自体も記録する）."""
    try:
        flt = _filter()
    except Invalid as exc:
        return _index(request.form, exc.errors, status=422)
    page = audit_log.search(flt, actor(), _int(request.form.get("page"), 1),
                            _int(request.form.get("until_seq"), None))
    return _index(flt.as_form(), page=page)


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


@bp.post("/export")
@requires(*AUDIT_READ_ROLES)
def export():
    """条件に合う記録のCSV（Excel用 BOM 付き UTF-8、見出しは日本語）。件数と条件を記録する."""
    try:
        flt = _filter()
        name, data, count = audit_log.export_csv(flt, actor())
    except Invalid as exc:
        return _index(request.form, exc.errors, status=422)
    except Refused as exc:
        flash(exc.reason, "error")
        return _index(request.form, status=422)
    return Response(data, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Export-Count": str(count)})


@bp.post("/print")
@requires(*AUDIT_READ_ROLES)
def print_view():
    """A4 印刷用の一覧。件数と条件を記録する."""
    try:
        flt = _filter()
        rows = audit_log.print_rows(flt, actor())
    except Invalid as exc:
        return _index(request.form, exc.errors, status=422)
    except Refused as exc:
        flash(exc.reason, "error")
        return _index(request.form, status=422)
    return render("audit_log/print.html", rows=rows, flt=flt)


@bp.get("/person")
@requires(*AUDIT_READ_ROLES)
@menu("アクセス記録（本人開示用）", 810)
def person_form():
    """宛名番号と期間を入力する画面."""
    period = audit_log.default_period(365)
    return render("audit_log/person.html", values={"start": period.start.isoformat(),
                                                    "end": period.end.isoformat()},
                  errors={}, report=None)


@bp.post("/person")
@requires(*AUDIT_READ_ROLES)
def person():
    """その人に触れたすべての操作（閲覧・検索からの表示・入力・訂正・印刷・出力）。A4 で印刷できる."""
    errors: dict = {}
    period = audit_log.parse_period(request.form.get("start"), request.form.get("end"),
                                    errors=errors)
    report = None
    if period is not None:
        try:
            report = audit_log.person_report(request.form.get("atena_no", ""), period, actor())
        except Invalid as exc:
            errors.update(exc.errors)
        except NotFound:
            errors["atena_no"] = ["この宛名番号の対象者は登録されていません"]
        except Refused as exc:
            errors["-"] = [exc.reason]
    return render("audit_log/person.html", values=request.form, errors=errors, report=report,
                  status=422 if errors else 200)


@bp.get("/heads")
@requires(*AUDIT_READ_ROLES)
@menu("監査ログの日次ハッシュ", 830)
def heads():
    """日ごとの最後のハッシュ（市が外部に保管し、audit-verify --head で照合する）."""
    values = request.args
    heads_list, errors = None, {}
    if values.get("start") or values.get("end"):
        period = audit_log.parse_period(values.get("start"), values.get("end"), errors=errors)
        if period is not None:
            heads_list = audit_log.heads(period, actor())
    else:
        period = audit_log.default_period(31)
        values = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    return render("audit_log/heads.html", values=values, errors=errors, heads=heads_list,
                  status=422 if errors else 200)


def _heads_for(how):
    errors: dict = {}
    period = audit_log.parse_period(request.form.get("start"), request.form.get("end"),
                                    errors=errors)
    if period is None:
        flash("、".join(m for ms in errors.values() for m in ms), "error")
        return None, None
    return period, audit_log.heads(period, actor(), how)


@bp.post("/heads/export")
@requires(*AUDIT_READ_ROLES)
def heads_export():
    """日次ハッシュのCSV（BOM 付き UTF-8）。記録する."""
    period, rows = _heads_for("csv")
    if period is None:
        return redirect_to("audit_log.heads")
    name = f"audit-heads-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return Response(audit_log.heads_csv(rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Export-Count": str(len(rows))})


@bp.post("/heads/print")
@requires(*AUDIT_READ_ROLES)
def heads_print():
    """日次ハッシュの A4 印刷用ページ。記録する."""
    period, rows = _heads_for("print")
    if period is None:
        return redirect_to("audit_log.heads")
    return render("audit_log/heads_print.html", period=period, heads=rows)
