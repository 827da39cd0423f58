"""開示・訂正・利用停止請求 (supervisor): list with deadline warnings, reception, extension, decision,
carrying out a granted correction, the printable disclosure document, CSV."""
from flask import Blueprint, abort, flash, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from kenshin.access.roles import DISCLOSURE_ROLES
from kenshin.registry import concerned
from kenshin.requests import disclosure
from kenshin.core.dates import format_both, format_wareki, now_utc, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.listing import page_number

from .formhelp import csv_download, messages, pick, resident_url, show_errors
from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("disclosures", __name__, url_prefix="/disclosures")



class RequestForm(FlaskForm):
    kind = pick("請求の種類", disclosure.KINDS.items())
    received_on = StringField("請求を受けた日", description="市政情報室が請求を受け付けた日。例: 令和7年4月1日、R7.4.1")
    requester_name = StringField("請求者の氏名")
    requester_relation = pick("請求者と対象者の関係", [(r, r) for r in disclosure.RELATIONS])
    identity_document = pick("本人確認の方法", [(d, d) for d in disclosure.IDENTITY_DOCUMENTS])
    identity_note = StringField("本人確認の補足（代理人は代理権の確認書類）")
    atena_no = StringField("対象者の宛名番号")
    resident_id = HiddenField()
    details = TextAreaField("請求の内容（訂正・利用停止は求める内容と理由）")


class ExtendForm(FlaskForm):
    new_deadline = StringField("延長後の期限")
    reason = TextAreaField("延長の理由")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="extend", **kwargs)


class DecideForm(FlaskForm):
    decision = SelectField("決定", validate_choice=False)
    decided_on = StringField("決定日")
    note = TextAreaField("決定の理由・備考（一部開示・不開示等は理由が必要）")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="decide", **kwargs)


class CorrectForm(FlaskForm):
    target = SelectField("訂正する検診記録と項目", validate_choice=False)
    value = StringField("訂正後の値", description="コードの項目はコードで入力します（例: 3a、negative）。")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="correct", **kwargs)


@bp.context_processor
def _context():
    return {"kinds": disclosure.KINDS, "statuses": disclosure.STATUSES,
            "entry_kinds": disclosure.ENTRY_KINDS, "resident_url": resident_url()}


def _filters():
    return disclosure.parse_filters(request.values.get("status"), request.values.get("kind"))


@bp.get("/")
@requires(*DISCLOSURE_ROLES)
@menu("開示・訂正・利用停止請求", 310)
def index():
    """請求の一覧: 処理中は期限の近い順、期限超過・7日以内を強調."""
    try:
        filters, errors = _filters(), {}
    except Invalid as exc:
        filters, errors = disclosure.Filters(), exc.errors
    result = disclosure.search(actor(), filters, page_number(request.args.get("page")))
    return render("disclosures/index.html", "disclosures/_list.html", result=result,
                  filters=filters, errors=errors, args=request.args, alerts=disclosure.alerts(),
                  urgency=disclosure.urgency, today=today_jst(), office=disclosure.RECEIVING_OFFICE,
                  status=422 if errors else 200)


@bp.post("/export")
@requires(*DISCLOSURE_ROLES)
def export():
    """一覧のCSV出力（理由必須・件数とともに監査記録）."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        body, count = disclosure.export_csv(actor(), _filters(), request.form.get("reason"))
    except Invalid as exc:
        flash("CSV出力: " + messages(exc.errors), "error")
        return redirect_to("disclosures.index")
    return csv_download(body, count, "disclosure-requests")


@bp.route("/new", methods=["GET", "POST"])
@requires(*DISCLOSURE_ROLES)
def new():
    """請求の受付を記録する（決定期限は受付日の翌日から30日）."""
    form = RequestForm()
    person, errors = None, {}
    if request.method == "GET":
        form.received_on.data = format_wareki(today_jst())
        form.kind.data = request.args.get("kind") if request.args.get("kind") in disclosure.KINDS else ""
    elif form.validate_on_submit():
        try:
            created = disclosure.create(actor(), **{name: form[name].data or "" for name in (
                "kind", "received_on", "requester_name", "requester_relation", "identity_document",
                "identity_note", "details", "atena_no", "resident_id")})
        except Invalid as exc:
            errors = show_errors(form, exc.errors)
            try:
                person = concerned.confirmed(form.atena_no.data, form.resident_id.data)
            except Invalid:
                person = None
        else:
            flash(f"{disclosure.KINDS[created.kind]}を記録しました（受付番号 {created.id}、"
                  f"決定期限 {format_both(created.deadline)}）。", "ok")
            return redirect_to("disclosures.show", request_id=created.id)
    else:
        abort(400)
    return render("disclosures/new.html", form=form, person=person, errors=errors,
                  status=422 if (errors or any(f.errors for f in form)) else 200)


@bp.post("/new/person")
@requires(*DISCLOSURE_ROLES)
def new_for_person():
    """請求の受付を個人の画面から: 対象者を確認済みにした記録の画面（番号は POST で受け取る）."""
    person = concerned.from_person_page(request.form.get("resident_id"), actor(), "disclosure")
    form = RequestForm(formdata=None)
    form.received_on.data = format_wareki(today_jst())
    form.atena_no.data = person.atena_no
    return render("disclosures/new.html", form=form, person=person, errors={})


@bp.post("/person")
@requires(*DISCLOSURE_ROLES)
def person():
    """宛名番号で対象者を確認する（htmx の断片）."""
    try:
        found, error = concerned.find(request.form.get("atena_no"), actor(), "disclosure"), None
    except Invalid as exc:
        found, error = None, exc.errors["atena_no"][0]
    except NotFound as exc:
        found, error = None, str(exc)
    return render("_person_confirm.html", person=found, person_error=error)


def _show(request_id, status=200, **forms):
    record = disclosure.view(request_id, actor())
    req = record.request
    decide = forms.get("decide") or DecideForm(formdata=None)
    decide.decision.choices = [SelectChoice("", "選んでください")] + [
        SelectChoice(d, d) for d in disclosure.DECISIONS[req.kind]]
    if not decide.decided_on.data:
        decide.decided_on.data = format_wareki(today_jst())
    extend = forms.get("extend") or ExtendForm(formdata=None)
    if not extend.new_deadline.data:
        extend.new_deadline.data = format_wareki(disclosure.latest_extension(req.deadline))
    correct, targets = forms.get("correct") or CorrectForm(formdata=None), {}
    if req.kind == "correction" and req.decision in disclosure.CORRECTION_GRANTED:
        targets = disclosure.correctable(req)
        correct.target.choices = [SelectChoice("", "選んでください")] + [
            SelectChoice(value, label, optgroup=title)
            for title, items in targets.items() for value, label in items]
    return render("disclosures/show.html", status=status, record=record, decide_form=decide,
                  extend_form=extend, correct_form=correct, targets=targets,
                  latest=disclosure.latest_extension(req.deadline), decisions=disclosure.DECISIONS,
                  closed_day=disclosure.deadline_on_closed_day)


@bp.get("/<int:request_id>")
@requires(*DISCLOSURE_ROLES)
def show(request_id):
    """請求の記録: 期限、経過、延長・決定・訂正の実施、開示文書."""
    return _show(request_id)


def _act(request_id, form, call, done: str):
    """Run one domain step from a form on the request page; errors re-render that page (422)."""
    if not form.validate_on_submit():
        abort(400)
    try:
        call()
    except Refused as exc:
        flash(exc.reason, "error")
    except Invalid as exc:
        rest = show_errors(form, exc.errors)
        if rest:
            flash(messages(rest), "error")
        return _show(request_id, 422, **{form._prefix.rstrip("-"): form})
    else:
        flash(done, "ok")
    return redirect_to("disclosures.show", request_id=request_id)


@bp.post("/<int:request_id>/extend")
@requires(*DISCLOSURE_ROLES)
def extend(request_id):
    """決定期限を延長する（30日以内・理由必須・当初の期限内に）."""
    form = ExtendForm()
    return _act(request_id, form, lambda: disclosure.extend(
        request_id, actor(), form.new_deadline.data, form.reason.data), "決定期限を延長しました。")


@bp.post("/<int:request_id>/decide")
@requires(*DISCLOSURE_ROLES)
def decide(request_id):
    """決定を記録する（決定・決定日・理由）."""
    form = DecideForm()
    return _act(request_id, form, lambda: disclosure.decide(
        request_id, actor(), form.decision.data, form.decided_on.data, form.note.data),
        "決定を記録しました。")


@bp.post("/<int:request_id>/correct")
@requires(*DISCLOSURE_ROLES)
def correct(request_id):
    """訂正の決定に基づき、検診記録の項目を通常の訂正の手順で訂正する."""
    form = CorrectForm()
    screening_id, _, item = (form.target.data or "").partition(":")

    def call():
        try:
            disclosure.correct_screening(request_id, actor(), screening_id, item, form.value.data)
        except Invalid as exc:  # the catalogue names the item; the form has one value field
            merged: dict[str, list[str]] = {}
            for key, messages in exc.errors.items():
                merged.setdefault("target" if key in ("screening", "item") else "value",
                                  []).extend(messages)
            raise Invalid(merged) from None
    return _act(request_id, form, call, "検診記録を訂正しました（訂正の理由に受付番号を記録）。")


@bp.get("/<int:request_id>/document")
@requires(*DISCLOSURE_ROLES)
def document(request_id):
    """開示文書（A4）: 保有するすべての項目とアクセスの記録。表示が作成・印刷として記録される."""
    try:
        doc = disclosure.document(request_id, actor())
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("disclosures.show", request_id=request_id)
    return render("disclosures/document.html", doc=doc, record=doc.record, held=doc.holdings,
                  printed_at=now_utc())
