"""検診記録: the detail page with its history, correction, void, the person's list and the
printable result summary. Every read of health results and every print is audited."""
from flask import Blueprint, flash, request

from kenshin.access.roles import HEALTH_RESULT_ROLES
from kenshin.screening import catalogue, extensions
from kenshin.registry import institutions
from kenshin.screening import entry, screenings
from kenshin import verification
from kenshin.core.dates import format_wareki
from kenshin.core.errors import Invalid, Refused

from .web import actor, redirect_to, render, requires

bp = Blueprint("screenings", __name__, url_prefix="/screenings")

COMMON = {"exam_date": "受診日", "institution_code": "医療機関コード", "setting": "検診種別"}
PENDING_HIDDEN = screenings.FIRST_VALUES_HIDDEN


def _labels(exam_code: str) -> dict:
    labels = dict(COMMON)
    labels.update({item.key: item.label for item in catalogue.get_exam(exam_code).fields})
    return labels


def _describe(exam_code: str, key: str, snapshot: dict | None) -> str:
    """One value of a before/after snapshot, as the clerk reads it."""
    if not snapshot:
        return ""
    if key in COMMON:
        value = snapshot.get(key, "")
        return catalogue.SETTINGS.get(value, value) if key == "setting" else value
    if key == "status":
        return screenings.STATUS_LABELS.get(snapshot.get("status"), snapshot.get("status", ""))
    item = catalogue.get_exam(exam_code).item(key)
    return item.display((snapshot.get("items") or {}).get(key))


def _context(screening, changes, **extra):
    rows = []
    me = actor()
    visible = verification.first_values_visible(screening, me)
    for change in changes:
        if change.kind == "void":
            keys = ["status"]
        else:
            keys = screenings.changed_keys(change.before or {}, change.after or {})
        rows.append((change, [(k, _describe(screening.exam, k, change.before),
                               _describe(screening.exam, k, change.after)) for k in keys]))
    exam = catalogue.get_exam(screening.exam)
    enabled = extensions.enabled_codes()
    held = screening.items or {}
    context = {"s": screening, "exam": exam, "history": rows,
               # the items in use, and any item beyond 別添1 the record holds (shown to be cleared)
               "fields": [i for i in exam.all_fields
                          if i.extension is None or i.extension in enabled or held.get(i.key)],
               "labels": {**_labels(screening.exam), "status": "状態"},
               "items": catalogue.display_items(screening.exam, screening.items),
               "statuses": screenings.STATUS_LABELS, "sources": screenings.SOURCE_LABELS,
               "settings": catalogue.SETTINGS, "values_visible": visible,
               # who keyed, who verified, each difference: for supervisors (issue 8 oversight)
               "trace": verification.trace(screening) if "supervisor" in me.roles else None}
    context["followup_link"] = _followup_link(screening)
    context.update(extra)
    return context


def _followup_link(screening) -> dict:
    """The derived link, both ways: a referred screening's 精密検査, a 精密検査's screenings."""
    from kenshin.followup import link

    if screening.status != "confirmed":
        return {}
    if screening.exam in link.FOLLOWUP_EXAMS:
        return {"followed": link.followed_screenings(screening)}
    if screening.referral and link.has_followup(screening.exam):
        return {"followups": link.followups_of(screening),
                "until": link.one_year_after(screening.exam_date)}
    return {}


def _view(screening_id, reveal=False):
    return screenings.view(screening_id, actor(), reveal=reveal)


def _hidden_pending(screening) -> bool:
    """A pending record whose first values this person has not seen (blind second keying)."""
    return not verification.first_values_visible(screening, actor())


@bp.get("/<int:screening_id>")
@requires(*HEALTH_RESULT_ROLES)
def show(screening_id):
    """検診記録の詳細: 項目（日本語）、状態、入力・訂正した職員、訂正の履歴."""
    screening, changes = _view(screening_id)
    return render("screenings/show.html", **_context(screening, changes))


@bp.post("/<int:screening_id>/reveal")
@requires(*HEALTH_RESULT_ROLES)
def reveal(screening_id):
    """未確定の記録の1回目の値を表示する（表示した職員はこの用紙の確認入力ができなくなる）."""
    screening, changes = _view(screening_id, reveal=True)
    return render("screenings/show.html", **_context(screening, changes))


@bp.get("/<int:screening_id>/correct")
@requires(*HEALTH_RESULT_ROLES)
def correct_form(screening_id):
    """訂正フォーム: すべての項目を直せる。理由は必須."""
    screening, changes = _view(screening_id)
    if screening.status == screenings.VOID:
        flash("取り消された記録は訂正できません。", "error")
        return redirect_to("screenings.show", screening_id=screening.id)
    if _hidden_pending(screening):
        flash(PENDING_HIDDEN, "error")
        return redirect_to("screenings.show", screening_id=screening.id)
    # as the clerk would type them from the paper: 受診日 in 和暦 like its hint, codes as printed
    values = {"exam_date": format_wareki(screening.exam_date, "short"),
              "institution_code": screening.institution.code,
              "setting": screenings.setting_text(screening.setting),
              **catalogue.as_paper(screening.exam, screening.items)}
    return render("screenings/correct.html", **_context(
        screening, changes, values=values, errors={},
        institution_choices=institutions.all_institutions()))


@bp.post("/<int:screening_id>/correct")
@requires(*HEALTH_RESULT_ROLES)
def correct(screening_id):
    """訂正を保存する: 変更前・変更後・理由・訂正者・日時が残る."""
    form = request.form
    screening = screenings.get(screening_id)
    if _hidden_pending(screening):
        flash(PENDING_HIDDEN, "error")
        return redirect_to("screenings.show", screening_id=screening.id)
    exam = catalogue.get_exam(screening.exam)
    items, unread = catalogue.read_paper(screening.exam, {key: form.get(key) for key in exam.all_keys})
    try:
        with entry.with_paper_errors(unread):
            result = screenings.correct(
                screening.id, items=items, reason=form.get("reason", ""), actor=actor(),
                exam_date=entry.keyed_date(form.get("exam_date", "")),
                institution=form.get("institution_code", ""), setting=form.get("setting", ""))
    except (Invalid, screenings.Duplicate, Refused) as exc:
        errors = exc.errors if isinstance(exc, Invalid) else {"-": [exc.reason]}
        screening, changes = _view(screening_id)
        return render("screenings/correct.html", status=422, **_context(
            screening, changes, values=form, errors=errors,
            institution_choices=institutions.all_institutions()))
    labels = _labels(screening.exam)
    flash("訂正しました（" + "・".join(labels.get(k, k) for k in result.changed) + "）。", "ok")
    for warning in result.warnings:
        flash(f"注意: {warning}", "info")
    return redirect_to("screenings.show", screening_id=screening.id)


@bp.post("/<int:screening_id>/void")
@requires(*HEALTH_RESULT_ROLES)
def void(screening_id):
    """記録を取り消す（別人に入力した等）。記録は残り、同じ受診を入力し直せる."""
    try:
        screenings.void(screening_id, reason=request.form.get("reason", ""), actor=actor())
    except Invalid as exc:
        flash("取消の理由を入力してください。" if "reason" in exc.errors else str(exc), "error")
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash("記録を取り消しました。正しい方の記録は「検診結果の入力」から入力し直してください。", "ok")
    return redirect_to("screenings.show", screening_id=screening_id)


@bp.get("/person/<int:resident_id>")
@requires(*HEALTH_RESULT_ROLES)
def person(resident_id):
    """ある人の検診記録（年度・検診ごと）: 人物ページに htmx で読み込む部分."""
    resident, rows = screenings.of_person(resident_id, actor())
    return render("screenings/person.html", "screenings/_person_list.html", resident=resident,
                  rows=rows, exams=catalogue.EXAMS, statuses=screenings.STATUS_LABELS,
                  display=catalogue.display_items)


@bp.get("/summary/<int:resident_id>")
@requires(*HEALTH_RESULT_ROLES)
def summary(resident_id):
    """検診結果のまとめ（A4印刷用）: 確定した記録のみ、要精検に印."""
    resident, rows = screenings.summary(resident_id, actor())
    return render("screenings/summary.html", resident=resident, rows=rows, exams=catalogue.EXAMS,
                  display=catalogue.display_items, settings=catalogue.SETTINGS)
