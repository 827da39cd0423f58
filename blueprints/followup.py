"""精検管理: the follow-up worklist per exam and 年度, the 判定保留 list, their A4 prints, and the
print runs of 受診勧奨 letters and 精検結果連絡票. Reading a list is audited with its criteria;
opening a person goes through the screening page, whose view is audited."""
from flask import Blueprint, abort, flash, request

from kenshin.core.dates import now_utc, today_jst
from kenshin.screening import catalogue
from kenshin.core.errors import NotFound, Refused
from kenshin.core.listing import page_number
from kenshin.followup import reminders, worklist
from kenshin.statistics import settings

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("followup", __name__, url_prefix="/followup")

ROLES = ("clerk", "supervisor")
PRINT_MAX = 2000


@bp.context_processor
def _context():
    return {"exam_choices": worklist.exam_choices(), "status_labels": worklist.STATUS_LABELS,
            "reminder_labels": worklist.REMINDER_LABELS, "today": today_jst(),
            "exam_name": lambda code: catalogue.get_exam(code).name}


def _criteria():
    return worklist.parse_criteria(request.args)


@bp.get("/")
@requires(*ROLES)
@menu("精検管理（要精検者の追跡）", 250)
def index():
    """要精検者の一覧: 年度・検診・状況（精検受診／未把握）・経過日数・医療機関で絞り込み、50件ずつ."""
    criteria, errors = _criteria()
    page = worklist.lines_page(criteria, worklist.REFERRED, page_number(request.args.get("page")), actor())
    return render("followup/index.html", result=page, criteria=criteria, errors=errors, args=request.args,
                  after_days=settings.reminder_after_days(), status=422 if errors else 200)


@bp.get("/pending")
@requires(*ROLES)
def pending():
    """判定保留の一覧（再検査が必要な方）."""
    criteria, errors = _criteria()
    page = worklist.lines_page(criteria, worklist.PENDING, page_number(request.args.get("page")), actor())
    return render("followup/pending.html", result=page, criteria=criteria, errors=errors, args=request.args,
                  status=422 if errors else 200)


@bp.get("/print")
@requires(*ROLES)
def print_list():
    """一覧のA4印刷（条件に合う全件、上限あり）; audited as a print with the count."""
    criteria, errors = _criteria()
    if errors:
        abort(400)
    kind = worklist.PENDING if request.args.get("list") == "pending" else worklist.REFERRED
    lines = worklist.all_lines(criteria, kind)
    if len(lines) > PRINT_MAX:
        flash(f"印刷できるのは{PRINT_MAX}件までです。条件で絞り込んでください。", "error")
        return redirect_to("followup.pending" if kind == worklist.PENDING else "followup.index", **request.args)
    worklist.record_print(criteria, kind, len(lines), actor())
    return render("followup/print.html", lines=lines, criteria=criteria, kind=kind, printed_at=now_utc())


@bp.get("/reminders")
@requires(*ROLES)
def reminders_index():
    """受診勧奨・精検結果連絡票の印刷: 対象者数の確認と、これまでの印刷."""
    criteria, errors = _criteria()
    counts = {(kind, again): len(reminders.candidates(kind, criteria.fiscal_year, criteria.exam,
                                                      again=again)[1])
              for kind in (worklist.LETTER, worklist.REQUEST) for again in (False, True)}
    return render("followup/reminders.html", criteria=criteria, errors=errors, counts=counts,
                  runs=reminders.recent_runs(), after_days=settings.reminder_after_days(), args=request.args)


@bp.post("/reminders")
@requires(*ROLES)
def reminders_create():
    """印刷する: the run is recorded (who was covered) and audited with its count."""
    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        abort(400)
    kind = request.form.get("kind", "")
    if kind not in worklist.REMINDER_LABELS:
        abort(400)
    criteria, errors = worklist.parse_criteria(request.form)
    if errors:
        abort(400)
    try:
        run = reminders.create_run(kind, criteria.fiscal_year, criteria.exam, actor(),
                                   again=request.form.get("again") == "1")
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("followup.reminders_index", fiscal_year=criteria.fiscal_year, exam=criteria.exam)
    return redirect_to("followup.reminders_print", run_id=run.id)


@bp.get("/reminders/<int:run_id>")
@requires(*ROLES)
def reminders_print(run_id):
    """印刷用の文書（受診勧奨の通知 / 精検結果連絡票）、1人1枚のA4."""
    try:
        run, documents = reminders.run_lines(run_id, actor())
    except NotFound:
        abort(404)
    return render("followup/letters.html", run=run, documents=documents, printed_at=now_utc())
