"""確認入力（ベリファイ入力）: a second, blind keying of pending paper forms, batch by batch, and the
oversight list of what still waits. The rules live in kenshin.verification."""
from flask import Blueprint, current_app, flash, request

from kenshin.access.roles import HEALTH_RESULT_ROLES
from kenshin.screening import catalogue
from kenshin.screening import screenings
from kenshin import verification
from kenshin.core.errors import Invalid, Refused

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("verify", __name__, url_prefix="/verify")



@bp.record_once
def _check_setting(state):
    """A typo in VERIFY_ALL_ITEMS stops the app at start-up instead of verifying fewer items."""
    verification.verify_all_exams(state.app.config.get("VERIFY_ALL_ITEMS"))


def _verify_all() -> frozenset:
    return verification.verify_all_exams(current_app.config.get("VERIFY_ALL_ITEMS"))


def _overdue_days() -> int:
    return int(current_app.config.get("VERIFY_OVERDUE_DAYS", verification.OVERDUE_DAYS))


def _page(desk, status=200, **extra):
    """The batch page, or only its workspace for htmx."""
    context = {"desk": desk, "values": {}, "errors": {}, "problem": None, "done": None,
               "resolved": False, "exams": catalogue.EXAMS}
    context.update(extra)
    return render("verify/batch.html", "verify/_workspace.html", status=status, **context)


@bp.get("/")
@requires(*HEALTH_RESULT_ROLES)
@menu("確認入力（ベリファイ）", 105)
def index():
    """確認入力を待つ束（医療機関・検診・入力日）: 件数と経過日数。氏名や値は出さない."""
    days = _overdue_days()
    return render("verify/index.html", batches=verification.batches(actor(), days), overdue_days=days)


@bp.get("/batch/<code>/<exam>/<day>")
@requires(*HEALTH_RESULT_ROLES)
def batch(code, exam, day):
    """1つの束: 確認入力できる最初の用紙と、束の用紙の一覧."""
    key = verification.BatchKey.parse(code, exam, day)
    desk = verification.desk(key, actor(), _verify_all())
    return _page(desk)


@bp.get("/form/<int:screening_id>")
@requires(*HEALTH_RESULT_ROLES)
def form(screening_id):
    """束の中の1枚を選んで確認入力する（1回目の入力者には理由を示して断る）."""
    try:
        desk = verification.form_desk(screening_id, actor(), _verify_all())
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("verify.index")
    return _page(desk)


def _same_form(screening_id, status=200, **extra):
    try:
        return _page(verification.form_desk(screening_id, actor(), _verify_all()), status, **extra)
    except Refused as exc:  # confirmed or voided meanwhile: on to the next form of the batch
        screening = screenings.get(screening_id)
        return _page(verification.next_desk(screening, actor(), _verify_all()), 422, problem=exc.reason)


@bp.post("/form/<int:screening_id>")
@requires(*HEALTH_RESULT_ROLES)
def key(screening_id):
    """2回目の入力（値を見ずに）: 一致すれば確定して次の用紙へ、相違があれば並べて表示する."""
    try:
        keyed = verification.key_second(screening_id, request.form, actor(), _verify_all())
    except Invalid as exc:
        return _same_form(screening_id, 422, values=request.form, errors=exc.errors)
    except Refused as exc:
        return _same_form(screening_id, 422, problem=exc.reason)
    if keyed.agreed:
        return _page(verification.next_desk(keyed.screening, actor(), _verify_all()), done=keyed.screening)
    return _same_form(screening_id)


def _resolutions(form) -> dict:
    """choice-KEY, paper-KEY and reason-KEY fields as {KEY: {choice, value, reason}}."""
    out: dict = {}
    for name, field in (("choice-", "choice"), ("paper-", "value"), ("reason-", "reason")):
        for posted in form:
            if posted.startswith(name):
                out.setdefault(posted[len(name):], {})[field] = form.get(posted, "")
    return out


@bp.post("/form/<int:screening_id>/resolve")
@requires(*HEALTH_RESULT_ROLES)
def resolve(screening_id):
    """相違を用紙で確かめて解決し、確定する（どの値か・理由・解決者を残す）."""
    resolutions = _resolutions(request.form)
    try:
        screening = verification.resolve(screening_id, resolutions, actor())
    except Invalid as exc:
        return _same_form(screening_id, 422, values=request.form, errors=exc.errors)
    except Refused as exc:
        return _same_form(screening_id, 422, problem=exc.reason)
    return _page(verification.next_desk(screening, actor(), _verify_all()), done=screening, resolved=True)


@bp.get("/oversight")
@requires(*HEALTH_RESULT_ROLES)
@menu("確認入力の状況", 106)
def oversight():
    """確認入力待ちの一覧（束・医療機関・経過日数）: 係長はすべて、担当職員は自分の入力分."""
    return render("verify/oversight.html", view=verification.overview(actor(), _overdue_days()),
                  exams=catalogue.EXAMS)
