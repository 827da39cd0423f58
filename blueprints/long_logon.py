"""長時間ログオンの確認 (admin): sessions longer than a threshold in a period, by division; a
printable notice per division asking for the purpose of use; the answers and who closed them."""
from flask import Blueprint, current_app, flash, request

from kenshin.access.roles import STAFF_ADMIN_ROLES
from kenshin.audit import log as audit_log
from kenshin.audit import logon_review
from kenshin.core.dates import to_jst
from kenshin.core.errors import Invalid, Refused

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("long_logon", __name__, url_prefix="/long-logons")


def _limits() -> tuple[int, int]:
    cfg = current_app.config
    return int(cfg["LOGOFF_AFTER_SECONDS"]), int(cfg["SESSION_MAX_SECONDS"])


def _criteria(values):
    """Period (required, ≤ 366 days) and threshold hours from a form or query string."""
    errors: dict = {}
    period = audit_log.parse_period(values.get("start"), values.get("end"), errors=errors)
    try:
        hours = logon_review.parse_hours(values.get("hours"))
    except Invalid as exc:
        errors.update(exc.errors)
        hours = None
    return period, hours, errors


@bp.get("/")
@requires(*STAFF_ADMIN_ROLES)
@menu("長時間ログオンの確認", 840)
def index():
    """期間と基準時間（既定 8 時間）を指定して、所属ごとに一覧にする."""
    values, groups, errors = request.args, None, {}
    if values.get("start") or values.get("end"):
        period, hours, errors = _criteria(values)
        if not errors:
            groups = logon_review.review(period, hours, *_limits(), actor())
    else:
        period = audit_log.default_period(31)
        values = {"start": period.start.isoformat(), "end": period.end.isoformat(),
                  "hours": str(logon_review.DEFAULT_HOURS)}
    return render("long_logon/index.html", values=values, groups=groups, errors=errors,
                  open_count=logon_review.open_count(), hours_text=logon_review.hours_text,
                  status=422 if errors else 200)


@bp.post("/notices")
@requires(*STAFF_ADMIN_ROLES)
def create_notice():
    """所属あての通知を作成する（セッションごとに記録し、監査ログにも記録）→ 印刷用の通知文へ."""
    period, hours, errors = _criteria(request.form)
    division = (request.form.get("division") or "").strip()
    try:
        if errors or not division:
            raise Invalid(errors or {"division": ["所属を指定してください"]})
        reply_by = logon_review.parse_reply_by(request.form.get("reply_by"))
        notices = logon_review.create_notice(division, period, hours, reply_by, *_limits(),
                                             actor())
    except Invalid as exc:
        flash("通知を作成できません: " + "、".join(m for ms in exc.errors.values() for m in ms),
              "error")
        return redirect_to("long_logon.index")
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("long_logon.index")
    flash(f"{division}あての通知を作成しました（{len(notices)}件）。印刷して送付してください。", "ok")
    return redirect_to("long_logon.notice", notice_id=notices[0].id)


@bp.get("/notices/<int:notice_id>")
@requires(*STAFF_ADMIN_ROLES)
def notice(notice_id):
    """所属長あての通知文（A4）。表示のたびに印刷として記録する."""
    lines = logon_review.notice_batch(notice_id, *_limits(), actor())
    first = lines[0].notice
    return render("long_logon/notice.html", lines=lines, first=first,
                  notice_date=to_jst(first.notified_at).date(), hours_text=logon_review.hours_text)


@bp.get("/open")
@requires(*STAFF_ADMIN_ROLES)
@menu("長時間ログオン通知の回答", 845)
def open_list():
    """回答待ちの通知と、回答を記録するフォーム。完了した通知も新しい順に."""
    return render("long_logon/open.html", lines=logon_review.open_notices(*_limits()),
                  closed=logon_review.closed_notices(), hours_text=logon_review.hours_text,
                  errors={})


@bp.post("/notices/<int:notice_id>/answer")
@requires(*STAFF_ADMIN_ROLES)
def answer(notice_id):
    """報告された利用目的を記録し、通知を完了にする（完了者・完了日時）."""
    try:
        logon_review.record_answer(notice_id, request.form.get("answer", ""), actor())
    except Invalid as exc:
        return render("long_logon/open.html", lines=logon_review.open_notices(*_limits()),
                      closed=logon_review.closed_notices(), hours_text=logon_review.hours_text,
                      errors={notice_id: exc.errors["answer"]},
                      answers={notice_id: request.form.get("answer", "")}, status=422)
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("long_logon.open_list")
    flash("回答を記録し、通知を完了にしました。", "ok")
    return redirect_to("long_logon.open_list")
