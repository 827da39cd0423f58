"""問合せ記録: list, reception, the handling timeline (htmx), closing, the printable 問合せ記録票, CSV."""
from datetime import datetime

from flask import Blueprint, abort, flash, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField

from kenshin.access.roles import PERSONAL_DATA_ROLES
from kenshin.registry import concerned
from kenshin.requests import inquiries
from kenshin.core.dates import JST, format_wareki, now_utc
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.core.listing import page_number

from .formhelp import csv_download, messages, pick, resident_url, show_errors
from .web import actor, is_htmx, menu, redirect_to, render, requires

bp = Blueprint("inquiries", __name__, url_prefix="/inquiries")



class InquiryForm(FlaskForm):
    received_date = StringField("受付日", description="例: 令和7年4月1日、R7.4.1、2025-04-01")
    received_time = StringField("受付時刻", description="例: 9:30")
    channel = pick("受付方法", [(c, c) for c in inquiries.CHANNELS])
    requester_type = pick("問合せ者の区分", [(t, t) for t in inquiries.REQUESTER_TYPES])
    requester_name = StringField("問合せ者の氏名・名称")
    requester_contact = StringField("連絡先（電話番号・住所・メール等）")
    atena_no = StringField("対象者の宛名番号（わかる場合）")
    resident_id = HiddenField()
    subject = TextAreaField("問合せ内容")


class EntryForm(FlaskForm):
    text = TextAreaField("対応内容（行ったこと・回答したこと）")
    at_date = StringField("対応日", description="空欄なら現在の日時で記録します")
    at_time = StringField("対応時刻")


class CloseForm(FlaskForm):
    text = TextAreaField("完了時の対応内容（任意）")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="close", **kwargs)


@bp.context_processor
def _context():
    return {"statuses": inquiries.STATUSES, "resident_url": resident_url()}


FILTER_KEYS = ("status", "date_from", "date_to", "staff")
PERSON_KEYS = ("kana", "name")  # personal data: read from POST bodies only


def _filters():
    args = request.values
    person = request.form if request.method == "POST" else {}
    return inquiries.parse_filters(*(args.get(key, "") for key in FILTER_KEYS),
                                   *(person.get(key, "") for key in PERSON_KEYS))


def _list(values):
    """The list for the filters in `values` (the query string, or a POST body with kana/name)."""
    try:
        filters, errors = _filters(), {}
    except Invalid as exc:
        filters, errors = inquiries.Filters(), exc.errors
    result = inquiries.search(actor(), filters, page_number(values.get("page")))
    return render("inquiries/index.html", "inquiries/_list.html", result=result, filters=filters,
                  errors=errors, args={k: values.get(k, "") for k in FILTER_KEYS},
                  typed={k: values.get(k, "") for k in PERSON_KEYS},
                  posted=request.method == "POST", staff_choices=inquiries.staff_choices(),
                  status=422 if errors else 200)


@bp.get("/")
@requires(*PERSONAL_DATA_ROLES)
@menu("問合せ記録", 300)
def index():
    """問合せ記録の一覧: 状態・受付期間・担当者で絞り込み、50件ずつ."""
    return _list(request.args)


@bp.post("/search")
@requires(*PERSONAL_DATA_ROLES)
def search():
    """カナ・氏名（と他の条件）で探す: 条件は POST の本文だけで受け取る（URL やアクセスログに残さない）."""
    return _list(request.form)


@bp.post("/export")
@requires(*PERSONAL_DATA_ROLES)
def export():
    """一覧のCSV出力（理由必須・件数とともに監査記録）."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        body, count = inquiries.export_csv(actor(), _filters(), request.form.get("reason"))
    except Invalid as exc:
        flash("CSV出力: " + messages(exc.errors), "error")
        return redirect_to("inquiries.index")
    return csv_download(body, count, "inquiries")


@bp.route("/new", methods=["GET", "POST"])
@requires(*PERSONAL_DATA_ROLES)
def new():
    """問合せの受付: 日時・方法・問合せ者・対象者（任意）・内容."""
    form = InquiryForm()
    person, person_error, errors = None, None, {}
    if request.method == "GET":
        now = datetime.now(JST)
        form.received_date.data = format_wareki(now.date())
        form.received_time.data = now.strftime("%H:%M")
    elif form.validate_on_submit():
        try:
            inquiry = inquiries.create(actor(), **_fields(form))
        except Invalid as exc:
            errors = show_errors(form, exc.errors)
            person = _still_confirmed(form)
        else:
            flash(f"問合せを受け付けました（受付番号 {inquiry.id}）。", "ok")
            return redirect_to("inquiries.show", inquiry_id=inquiry.id)
    else:
        abort(400)
    status = 422 if (errors or any(f.errors for f in form)) else 200
    return render("inquiries/new.html", form=form, person=person, person_error=person_error,
                  errors=errors, status=status)


@bp.post("/new/person")
@requires(*PERSONAL_DATA_ROLES)
def new_for_person():
    """問合せの受付を個人の画面から: 対象者を確認済みにした受付の画面（番号は POST で受け取る）."""
    person = concerned.from_person_page(request.form.get("resident_id"), actor(), "inquiry")
    form = InquiryForm(formdata=None)
    now = datetime.now(JST)
    form.received_date.data = format_wareki(now.date())
    form.received_time.data = now.strftime("%H:%M")
    form.atena_no.data = person.atena_no
    return render("inquiries/new.html", form=form, person=person, person_error=None, errors={})


def _fields(form) -> dict:
    return {name: getattr(form, name).data or "" for name in (
        "received_date", "received_time", "channel", "requester_type", "requester_name",
        "requester_contact", "subject", "atena_no", "resident_id")}


def _still_confirmed(form):
    """The person confirmed earlier in this form, shown again when other fields need fixing."""
    try:
        return concerned.confirmed(form.atena_no.data, form.resident_id.data)
    except Invalid:
        return None


def _lookup(atena_no):
    try:
        return concerned.find(atena_no, actor(), "inquiry"), None
    except (Invalid, NotFound) as exc:
        message = exc.errors["atena_no"][0] if isinstance(exc, Invalid) else str(exc)
        return None, message


@bp.post("/person")
@requires(*PERSONAL_DATA_ROLES)
def person():
    """宛名番号で対象者を確認する（htmx の断片）: 氏名・ふりがな・生年月日・性別を表示."""
    found, error = _lookup(request.form.get("atena_no"))
    return render("_person_confirm.html", person=found, person_error=error)


@bp.get("/<int:inquiry_id>")
@requires(*PERSONAL_DATA_ROLES)
def show(inquiry_id):
    """問合せ記録の詳細と対応の経過."""
    record = _get(inquiry_id, "inquiry.view")
    return render("inquiries/show.html", record=record, entry_form=EntryForm(),
                  close_form=CloseForm())


def _get(inquiry_id, action):
    return inquiries.view(inquiry_id, actor(), action)


@bp.post("/<int:inquiry_id>/entries")
@requires(*PERSONAL_DATA_ROLES)
def add_entry(inquiry_id):
    """対応の記録を追加する（htmx なら経過の断片だけを返す）."""
    form = EntryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        record = inquiries.add_entry(inquiry_id, actor(), form.text.data, form.at_date.data,
                                     form.at_time.data)
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("inquiries.show", inquiry_id=inquiry_id)
    except Invalid as exc:
        show_errors(form, exc.errors)
        record = _get(inquiry_id, "inquiry.view")
        return render("inquiries/show.html", "inquiries/_timeline.html", status=422, record=record,
                      entry_form=form, close_form=CloseForm())
    if not is_htmx():
        flash("対応を記録しました。", "ok")
        return redirect_to("inquiries.show", inquiry_id=inquiry_id)
    return render("inquiries/show.html", "inquiries/_timeline.html", record=record,
                  entry_form=EntryForm(formdata=None), close_form=CloseForm(formdata=None),
                  added=True)


@bp.post("/<int:inquiry_id>/close")
@requires(*PERSONAL_DATA_ROLES)
def close(inquiry_id):
    """問合せを完了にする（完了者・完了日時を記録）."""
    form = CloseForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        inquiries.close(inquiry_id, actor(), form.text.data)
    except (Refused, Invalid) as exc:
        flash(exc.reason if isinstance(exc, Refused) else messages(exc.errors), "error")
    else:
        flash("問合せを完了にしました。", "ok")
    return redirect_to("inquiries.show", inquiry_id=inquiry_id)


@bp.get("/<int:inquiry_id>/print")
@requires(*PERSONAL_DATA_ROLES)
def print_view(inquiry_id):
    """問合せ記録票（A4）: 表示した時点で印刷として監査記録に残る."""
    record = _get(inquiry_id, "inquiry.print")
    return render("inquiries/print.html", record=record, printed_at=now_utc())
