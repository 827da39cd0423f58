"""突合待ち (reconciliation queue): parked forms and queued file rows, assigned or rejected."""
from flask import Blueprint, flash, g, request

from kenshin.access.roles import HEALTH_RESULT_ROLES
from kenshin.screening import catalogue
from kenshin.screening import reconciliation
from kenshin.screening import screenings
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.listing import page_number
from kenshin.screening.matching import IDENTITY_LABELS

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("queue", __name__, url_prefix="/queue")

PAGE = 100


@bp.get("/")
@requires(*HEALTH_RESULT_ROLES)
@menu("突合待ち", 110)
def index():
    """突合待ちの一覧（古い順）: 理由・出どころ・検診・受診日."""
    page = page_number(request.args.get("page"))
    items = reconciliation.open_items(actor(), limit=PAGE, offset=(page - 1) * PAGE)
    return render("queue/index.html", items=items, total=reconciliation.open_count(), page_no=page,
                  per_page=PAGE, exams=catalogue.EXAMS, sources=reconciliation.SOURCE_LABELS)


def _detail(item_id: int):
    return reconciliation.detail(item_id, actor())


def _show(detail, status=200, errors=None, values=None):
    return render("queue/show.html", "queue/_resolve.html", status=status, d=detail,
                  exams=catalogue.EXAMS, settings=catalogue.SETTINGS, labels=IDENTITY_LABELS,
                  sources=reconciliation.SOURCE_LABELS, statuses=reconciliation.STATUS_LABELS,
                  errors=errors or {}, values=values or {},
                  display=catalogue.display_items(detail.item.exam, detail.item.raw.get("items", {})),
                  outcome=_outcome(detail.item.exam, detail.item.raw.get("items", {})))


def _outcome(exam_code: str, items: dict) -> str:
    """The outcome the parked row's items give (they were checked when parked)."""
    exam = catalogue.EXAMS.get(exam_code)
    return exam.outcome(items) if exam is not None and items else ""


@bp.get("/<int:item_id>")
@requires(*HEALTH_RESULT_ROLES)
def show(item_id):
    """1件の内容（用紙の記載）と候補の住民."""
    return _show(_detail(item_id))


@bp.post("/<int:item_id>/assign")
@requires(*HEALTH_RESULT_ROLES)
def assign(item_id):
    """選んだ住民に割り当てて記録する（すべての規則で再確認）."""
    form = request.form
    # Only a supervisor's form may carry the decision to record someone outside the programme;
    # anyone else's is read without it, so nobody learns whether such a person exists.
    outside = bool(form.get("outside_programme")) and g.staff.has_any_role("supervisor")
    try:
        resident_id = reconciliation.chosen_person(form.get("resident_id"), form.get("atena_no"),
                                                   outside)
        recorded = reconciliation.assign(item_id, resident_id, actor(), note=form.get("note", ""),
                                         outside=outside)
    except Invalid as exc:
        return _show(_detail(item_id), 422, exc.errors, request.form)
    except screenings.Duplicate as exc:
        return _show(_detail(item_id), 422, {"-": [exc.reason + "（No." + str(exc.existing_id) + "）"]},
                     request.form)
    except (Refused, NotFound) as exc:
        return _show(_detail(item_id), 422, {"-": [getattr(exc, "reason", str(exc))]}, request.form)
    pending = "・未確定: 別の職員の確認入力で確定します" if recorded.screening.status == screenings.PENDING else ""
    flash(f"割り当てて記録しました（検診記録 No.{recorded.screening.id}{pending}）。", "ok")
    for warning in recorded.warnings:
        flash(f"注意: {warning}", "info")
    return redirect_to("queue.index")


@bp.post("/<int:item_id>/reject")
@requires(*HEALTH_RESULT_ROLES)
def reject(item_id):
    """記録せずに却下する（理由は必須）."""
    try:
        reconciliation.reject(item_id, request.form.get("reason", ""), actor())
    except Invalid as exc:
        return _show(_detail(item_id), 422, exc.errors, request.form)
    except (Refused, NotFound) as exc:
        return _show(_detail(item_id), 422, {"-": [getattr(exc, "reason", str(exc))]}, request.form)
    flash("却下しました。", "ok")
    return redirect_to("queue.index")
