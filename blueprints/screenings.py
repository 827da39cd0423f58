"""検診記録: the detail page with its history, correction, void, the person's list and the
printable result summary. Every read of health results and every print is audited."""
from functools import wraps

from flask import Blueprint, current_app, flash, request

from kenshin.access.roles import HEALTH_RESULT_ROLES, SUPERVISOR
from kenshin.screening import catalogue, extensions
from kenshin.registry import institutions
from kenshin.screening import entry, screenings
from kenshin import verification
from kenshin.core.dates import format_wareki
from kenshin.core.errors import Invalid, Refused

from kenshin.verification import corrections

from .web import actor, menu, redirect_to, render, requires

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
    context.update(_proposals(screening, me))
    context.update(extra)
    return context


def _proposals(screening, me) -> dict:
    """The correction waiting for a second person (its proposed values only for the proposer),
    and every proposal by the change it became, so that the history names both people."""
    waiting = corrections.open_proposal(screening.id)
    own = waiting is not None and waiting.proposed_by_id == me.staff_id
    if waiting is not None:
        waiting.screening = screening
    everything = corrections.proposals_of(screening.id)
    return {"proposal": waiting, "proposal_own": own,
            "proposal_lines": corrections.lines(waiting) if own else
            ([] if waiting is None else [line.label for line in corrections.lines(waiting)]),
            "proposal_by_change": {p.change_id: p for p in everything if p.change_id},
            "proposals_closed": [p for p in everything if p.status not in (corrections.OPEN, corrections.APPLIED)],
            "proposal_statuses": corrections.STATUS_LABELS, "decisions": corrections.DECISION_LABELS,
            "is_supervisor": SUPERVISOR in me.roles}


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


def _verify_all() -> frozenset:
    return verification.verify_all_exams(current_app.config.get("VERIFY_ALL_ITEMS"))


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
    if corrections.open_proposal(screening.id) is not None:
        flash(screenings.AWAITING_SECOND_PERSON, "error")
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
                institution=form.get("institution_code", ""), setting=form.get("setting", ""),
                verify_all=_verify_all())
    except (Invalid, screenings.Duplicate, Refused) as exc:
        errors = exc.errors if isinstance(exc, Invalid) else {"-": [exc.reason]}
        screening, changes = _view(screening_id)
        return render("screenings/correct.html", status=422, **_context(
            screening, changes, values=form, errors=errors,
            institution_choices=institutions.all_institutions()))
    labels = _labels(screening.exam)
    if result.proposal is not None:
        flash("訂正を「確認待ち」として保存しました（" + "・".join(labels.get(k, k) for k in result.changed)
              + "）。判定に関わる訂正のため、別の職員（係長の承認、または値を見ない確認入力）が確認するまで"
              "記録は変わりません。", "ok")
        return redirect_to("screenings.show", screening_id=screening.id)
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


# --- corrections that wait for a second person (kenshin.verification.corrections) -------------

@bp.get("/corrections")
@requires(*HEALTH_RESULT_ROLES)
@menu("訂正の確認待ち", 107)
def corrections_list():
    """判定に関わる訂正の確認待ち一覧: 記録番号・検診・項目名・提案者。氏名や値は出さない."""
    return render("screenings/corrections.html", rows=corrections.worklist(actor()),
                  is_supervisor=SUPERVISOR in actor().roles)


def _review_page(proposal_id, status=200, **extra):
    proposal = corrections.view_for_review(proposal_id, actor())
    me = actor()
    before, after = corrections.outcome_labels(proposal)
    context = {"p": proposal, "s": proposal.screening, "exam": catalogue.get_exam(proposal.screening.exam),
               "lines": corrections.lines(proposal), "outcome_before": before, "outcome_after": after,
               "may_decide": (SUPERVISOR in me.roles and me.staff_id != proposal.proposed_by_id
                              and proposal.status == corrections.OPEN),
               "own": me.staff_id == proposal.proposed_by_id, "errors": {}, "values": {},
               "statuses": corrections.STATUS_LABELS, "decisions": corrections.DECISION_LABELS}
    context.update(extra)
    return render("screenings/correction_review.html", status=status, **context)


def _refusals_to_worklist(view):
    """A correction step refused (decided meanwhile, or not this person's to take) says why and
    goes back to the worklist 「訂正の確認待ち」."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Refused as exc:
            flash(exc.reason, "error")
            return redirect_to("screenings.corrections_list")
    return wrapped


@bp.get("/corrections/<int:proposal_id>")
@requires(*HEALTH_RESULT_ROLES)
@_refusals_to_worklist
def correction_review(proposal_id):
    """訂正案を記録の値と並べて見る（係長・提案者のみ。見た職員は値を見ない確認入力ができない）."""
    return _review_page(proposal_id)


@bp.post("/corrections/<int:proposal_id>/approve")
@requires(SUPERVISOR)
def correction_approve(proposal_id):
    """係長が訂正案を承認し、記録に反映する（提案者とは別の職員）."""
    try:
        proposal = corrections.approve(proposal_id, actor())
    except (Refused, screenings.Duplicate) as exc:
        flash(exc.reason, "error")
        return redirect_to("screenings.correction_review", proposal_id=proposal_id)
    except Invalid as exc:
        return _review_page(proposal_id, 422, errors=exc.errors)
    flash("訂正を承認し、記録に反映しました。", "ok")
    return redirect_to("screenings.show", screening_id=proposal.screening_id)


@bp.post("/corrections/<int:proposal_id>/reject")
@requires(SUPERVISOR)
def correction_reject(proposal_id):
    """係長が訂正案を差し戻す（理由は必須）。記録は変わらない."""
    try:
        proposal = corrections.reject(proposal_id, request.form.get("reason", ""), actor())
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("screenings.correction_review", proposal_id=proposal_id)
    except Invalid as exc:
        return _review_page(proposal_id, 422, errors=exc.errors, values=request.form)
    flash("訂正を差し戻しました。記録は変わっていません。", "ok")
    return redirect_to("screenings.show", screening_id=proposal.screening_id)


@bp.post("/corrections/<int:proposal_id>/withdraw")
@requires(*HEALTH_RESULT_ROLES)
@_refusals_to_worklist
def correction_withdraw(proposal_id):
    """提案した職員が訂正案を取り下げる。記録は変わらない."""
    proposal = corrections.withdraw(proposal_id, actor())
    flash("訂正を取り下げました。記録は変わっていません。", "ok")
    return redirect_to("screenings.show", screening_id=proposal.screening_id)


def _key_page(proposal, status=200, **extra):
    exam = catalogue.get_exam(proposal.screening.exam)
    keys = corrections.blind_keys(proposal)
    context = {"p": proposal, "s": proposal.screening, "exam": exam,
               "fields": [(k, corrections._label(exam, k), exam.item(k) if k not in corrections.COMMON else None)
                          for k in keys],
               "differences": corrections.differences(proposal), "errors": {}, "values": {},
               "choices": corrections.CHOICE_LABELS}
    context.update(extra)
    return render("screenings/correction_key.html", status=status, **context)


@bp.get("/corrections/<int:proposal_id>/key")
@requires(*HEALTH_RESULT_ROLES)
@_refusals_to_worklist
def correction_key_form(proposal_id):
    """訂正された項目を、訂正案を見ずに用紙から入力する（提案者以外）。相違があれば解決する."""
    return _key_page(corrections.view_for_keying(proposal_id, actor()))


@bp.post("/corrections/<int:proposal_id>/key")
@requires(*HEALTH_RESULT_ROLES)
@_refusals_to_worklist
def correction_key(proposal_id):
    """値を見ない確認入力を保存する: 一致すれば訂正を反映、相違があれば並べて表示する."""
    try:
        with entry.with_paper_errors(unread := {}):
            keyed = corrections.key_blind(proposal_id, _as_keyed(proposal_id, request.form, unread), actor())
    except screenings.Duplicate as exc:
        flash(exc.reason, "error")
        return redirect_to("screenings.corrections_list")
    except Invalid as exc:
        proposal = corrections.view_for_keying(proposal_id, actor())
        return _key_page(proposal, 422, errors=exc.errors, values=request.form)
    if keyed.agreed:
        flash("確認入力が訂正案と一致しました。訂正を記録に反映しました。", "ok")
        return redirect_to("screenings.show", screening_id=keyed.proposal.screening_id)
    flash("確認入力と訂正案に相違があります。用紙で確かめて解決してください。", "error")
    return redirect_to("screenings.correction_key_form", proposal_id=proposal_id)


def _as_keyed(proposal_id, form, unread: dict) -> dict:
    """The blind keying as typed from the paper (陽性, ＋, R8.10.3 …) read into catalogue codes and
    an ISO date, as the correction form reads them; what cannot be read goes into `unread`."""
    proposal = corrections.get_proposal(proposal_id)
    values = {key: form.get(key, "") for key in form}
    items, problems = catalogue.read_paper(proposal.screening.exam,
                                           {k: v for k, v in values.items() if k not in corrections.COMMON})
    unread.update(problems)
    values.update(items)
    keyed = entry.keyed_date(values.get("exam_date", ""))
    if hasattr(keyed, "isoformat"):
        values["exam_date"] = keyed.isoformat()
    return values


def _settlements(form) -> dict:
    out: dict = {}
    for prefix, name in (("choice-", "choice"), ("paper-", "value"), ("reason-", "reason")):
        for posted in form:
            if posted.startswith(prefix):
                out.setdefault(posted[len(prefix):], {})[name] = form.get(posted, "")
    return out


@bp.post("/corrections/<int:proposal_id>/settle")
@requires(*HEALTH_RESULT_ROLES)
def correction_settle(proposal_id):
    """確認入力と訂正案の相違を用紙で確かめて解決し、訂正を反映する（理由は必須）."""
    try:
        proposal = corrections.settle(proposal_id, _settlements(request.form), actor())
    except (Refused, screenings.Duplicate) as exc:
        flash(exc.reason, "error")
        return redirect_to("screenings.corrections_list")
    except Invalid as exc:
        proposal = corrections.view_for_keying(proposal_id, actor())
        return _key_page(proposal, 422, errors=exc.errors, values=request.form)
    flash("相違を解決しました。" + ("訂正を記録に反映しました。" if proposal.status == corrections.APPLIED
                                 else "記録の値のままとしました。"), "ok")
    return redirect_to("screenings.show", screening_id=proposal.screening_id)
