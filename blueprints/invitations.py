"""個別通知・受診券: the screening rules (supervisor), extraction with a preview, runs, printed
受診券 and address labels, the contractor file, 再勧奨, and per-person exclusions."""
from datetime import date

from flask import Blueprint, abort, flash, make_response, request

from kenshin.core.dates import DateError, fiscal_year, now_utc, parse_date, today_jst
from kenshin.core.errors import Invalid, NotFound
from kenshin.invitations import barcode, extraction, rules
from kenshin.registry import residents
from kenshin.screening import catalogue
from kenshin.screening.eligibility import (BASIS_LABELS, EXAM_ORDER, SEX_LABELS,
                                           birth_ranges_label)

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("invitations", __name__, url_prefix="/invitations")

LOT_SIZE = 100  # people per printed lot (LESSONS.md 3: counts reconciled per lot)
LABELS_PER_SHEET = 21  # A4, 3 × 7


def _year_arg() -> int:
    text = request.values.get("fiscal_year", "")
    if text.isdigit() and 2000 <= int(text) <= 2200:
        return int(text)
    return fiscal_year(today_jst())


def _rows(table, fy):
    """For the rules screen: each exam's rule with its 和暦 birth-date ranges."""
    return [{"code": code, "name": catalogue.EXAMS[code].name, "rule": rule,
             "ranges": birth_ranges_label(rule, fy)} for code, rule in table.rules.items()]


def _form_values(table) -> dict:
    values = {}
    for code, rule in table.rules.items():
        values.update({
            f"{code}-sex": str(rule.sex), f"{code}-min_age": "" if rule.min_age is None else str(rule.min_age),
            f"{code}-max_age": "" if rule.max_age is None else str(rule.max_age),
            f"{code}-ages": ",".join(str(a) for a in rule.ages),
            f"{code}-interval": "-" if rule.interval is None else str(rule.interval),
            f"{code}-group": rule.group, f"{code}-basis": rule.basis,
            f"{code}-on_request_above": "1" if rule.on_request_above else ""})
    return values


def _rules_page(fy, values=None, errors=None, reason="", status=200, ranges=None):
    table = rules.rules_for(fy)
    return render("invitations/rules.html", "invitations/_rules_form.html", status=status, fy=fy,
                  table=table, rows=_rows(table, fy), values=values or _form_values(table),
                  errors=errors or {}, reason=reason, versions=rules.versions(fy),
                  ranges=ranges or {r["code"]: r["ranges"] for r in _rows(table, fy)},
                  sex_labels=SEX_LABELS, basis_labels=BASIS_LABELS, exams=catalogue.EXAMS)


@bp.get("/rules")
@requires("supervisor")
@menu("対象者の条件（検診ルール）", 150)
def rules_page():
    """年度ごとの対象者の条件と、その和暦の生年月日の範囲."""
    return _rules_page(_year_arg())


@bp.post("/rules/ranges")
@requires("supervisor")
def rules_ranges():
    """The birth-date ranges of the rules as typed (nothing saved): the htmx check beside the form."""
    fy = _year_arg()
    edited, errors = rules.read_form(request.form, tuple(rules.rules_for(fy).rules))
    ranges = {code: birth_ranges_label(rule, fy) for code, rule in edited.items()}
    return render("invitations/_ranges.html", fy=fy, ranges=ranges, errors=errors,
                  exams=catalogue.EXAMS, codes=list(rules.rules_for(fy).rules))


@bp.post("/rules")
@requires("supervisor")
def rules_save():
    """対象者の条件を保存する（新しい版として。以前の版は残る）."""
    fy = _year_arg()
    codes = tuple(rules.rules_for(fy).rules)
    edited, errors = rules.read_form(request.form, codes)
    reason = request.form.get("reason", "")
    if not errors:
        try:
            table = rules.save(fy, edited, reason, actor())
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(f"{fy}年度の対象者の条件を第{table.version}版として保存しました。", "ok")
            return redirect_to("invitations.rules_page", fiscal_year=fy)
    values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "reason")}
    ranges = {code: birth_ranges_label(rule, fy) for code, rule in edited.items()}
    return _rules_page(fy, values, errors, reason, status=422, ranges=ranges)


# --- extraction ---------------------------------------------------------------------------

def _dates(*names) -> tuple[list, dict]:
    values, errors = [], {}
    for name in names:
        text = request.form.get(name, "").strip()
        try:
            values.append(parse_date(text))
        except DateError as exc:
            errors[name] = [str(exc) if text else "日付を入力してください"]
            values.append(None)
    return values, errors


def _index(status=200, **context):
    fy = context.pop("fy", None) or _year_arg()
    context.setdefault("values", {"fiscal_year": str(fy), "as_of": today_jst().isoformat()})
    context.setdefault("errors", {})
    return render("invitations/index.html", "invitations/_preview.html", status=status, fy=fy,
                  runs=extraction.runs(), kinds=extraction.KIND_LABELS, exams=catalogue.EXAMS, **context)


@bp.get("/")
@requires("supervisor")
@menu("受診券の抽出・印刷", 160)
def index():
    """抽出（件数の確認と実行）、再勧奨、これまでの抽出結果."""
    return _index()


def _with_year_and_date(step):
    """Read 年度 and 基準日 from the form and call `step(fy, as_of, actor)`: (fy, values, result,
    None), or (fy, values, None, the page again with the errors)."""
    fy = _year_arg()
    (as_of,), errors = _dates("as_of")
    values = {"fiscal_year": str(fy), "as_of": request.form.get("as_of", "")}
    if not errors:
        try:
            return fy, values, step(fy, as_of, actor()), None
        except Invalid as exc:
            errors = exc.errors
    return fy, values, None, _index(422, fy=fy, values=values, errors=errors)


@bp.post("/preview")
@requires("supervisor")
def preview():
    """件数の確認: 検診ごとの件数（前年度を並べて）。何も書き込まない."""
    fy, values, result, refused = _with_year_and_date(extraction.preview)
    if refused:
        return refused
    return _index(fy=fy, values=values, preview=result)


@bp.post("/runs")
@requires("supervisor")
def run():
    """抽出を実行する（当初抽出、または追加抽出と送付停止）."""
    fy, values, result, refused = _with_year_and_date(extraction.extract)
    if refused:
        return refused
    flash(f"抽出しました（{extraction.KIND_LABELS[result.kind]}）: {result.people}人・{result.invitations}件、"
          f"送付停止 {result.stopped}人、利用停止により除外 {result.suspended}人。", "ok")
    return redirect_to("invitations.show", run_id=result.run_id)


@bp.post("/remind")
@requires("supervisor")
def remind():
    """再勧奨: 受診券を送った人のうち、ある日までに受診のない人を新しい抽出として作る."""
    fy = _year_arg()
    (screened_by, as_of), errors = _dates("screened_by", "as_of")
    values = {"fiscal_year": str(fy), "as_of": request.form.get("as_of", ""),
              "screened_by": request.form.get("screened_by", "")}
    if errors:
        return _index(422, fy=fy, values=values, errors=errors)
    try:
        result = extraction.remind(fy, screened_by, as_of, actor())
    except Invalid as exc:
        return _index(422, fy=fy, values=values, errors=exc.errors)
    flash(f"再勧奨の対象を抽出しました: {result.people}人・{result.invitations}件。", "ok")
    return redirect_to("invitations.show", run_id=result.run_id)


def _run_or_404(run_id):
    try:
        return extraction.get_run(run_id)
    except NotFound:
        abort(404)


def _show(run_obj, status=200, errors=None):
    counted = extraction.letters(run_obj.id, 0, 0)
    lots = (counted.total + LOT_SIZE - 1) // LOT_SIZE
    table = extraction.table_of_run(run_obj)
    own = actor().staff_id is not None and actor().staff_id == run_obj.created_by_id
    return render("invitations/run.html", status=status, run=run_obj, counted=counted, lots=lots,
                  lot_size=LOT_SIZE, table=table, rows=_rows(table, run_obj.fiscal_year),
                  bands=extraction.band_table(run_obj), own_run=own, errors=errors or {},
                  kinds=extraction.KIND_LABELS, exams=catalogue.EXAMS, sex_labels=SEX_LABELS,
                  basis_labels=BASIS_LABELS, encodings=extraction.ENCODINGS,
                  default_reason=extraction.DEFAULT_EXPORT_REASON)


@bp.get("/runs/<int:run_id>")
@requires("supervisor")
def show(run_id):
    """抽出結果: 承認（条件と、検診・性別・年齢階級ごとの件数を前年度と並べて）、送付から外れる人の
    数、印刷（ロットごと）と委託先ファイル（承認のあとで）."""
    return _show(_run_or_404(run_id))


@bp.post("/runs/<int:run_id>/signoff")
@requires("supervisor")
def sign_off(run_id):
    """抽出を承認する: 実行した人とは別の職員が、条件と件数を確認して（監査記録に残る）."""
    run_obj = _run_or_404(run_id)
    try:
        extraction.sign_off(run_obj.id, request.form.get("confirmed") == "1", actor())
    except Invalid as exc:
        return _show(run_obj, 422, exc.errors)
    flash("抽出を承認しました。受診券・宛名ラベルの印刷と委託先ファイルの出力ができます。", "ok")
    return redirect_to("invitations.show", run_id=run_obj.id)


def _refuse_unsigned(run_obj):
    """The run page again with the reason, when nobody has signed the run off (None when signed)."""
    if run_obj.signed_at is not None:
        return None
    return _show(run_obj, 409, {"signoff": [extraction.NOT_SIGNED]})


def _lot(run_id):
    text = request.form.get("lot", "1")
    lot = int(text) if text.isdigit() and int(text) >= 1 else 1
    found = extraction.letters(run_id, (lot - 1) * LOT_SIZE, LOT_SIZE)
    return lot, found


@bp.post("/runs/<int:run_id>/letters")
@requires("supervisor")
def letters(run_id):
    """受診券（A4、1人1枚）をロットごとに印刷する（印刷として監査記録に残る）."""
    run_obj = _run_or_404(run_id)
    refused = _refuse_unsigned(run_obj)
    if refused:
        return refused
    lot, found = _lot(run_obj.id)
    table = extraction.table_of_run(run_obj)
    sheets = [{"letter": x, "lines": extraction.exam_lines(x, table),
               "barcode": barcode.svg(x.seiri_no, f"整理番号 {x.seiri_no}")} for x in found.letters]
    extraction.record_print(run_obj.id, "letters", len(sheets), lot, actor())
    return render("invitations/letters.html", run=run_obj, lot=lot, sheets=sheets, found=found,
                  printed_at=now_utc(), kinds=extraction.KIND_LABELS)


@bp.post("/runs/<int:run_id>/labels")
@requires("supervisor")
def labels(run_id):
    """宛名ラベル（A4、3列×7段）をロットごとに印刷する（印刷として監査記録に残る）."""
    run_obj = _run_or_404(run_id)
    refused = _refuse_unsigned(run_obj)
    if refused:
        return refused
    lot, found = _lot(run_obj.id)
    people = found.letters
    pages = [people[i:i + LABELS_PER_SHEET] for i in range(0, len(people), LABELS_PER_SHEET)]
    extraction.record_print(run_obj.id, "labels", len(people), lot, actor())
    return render("invitations/labels.html", run=run_obj, lot=lot, pages=pages, count=len(people),
                  printed_at=now_utc())


@bp.post("/runs/<int:run_id>/export")
@requires("supervisor")
def export(run_id):
    """委託先ファイル（CSV）を出力する: 理由を記録し、SHA-256 とともに監査記録に残す."""
    run_obj = _run_or_404(run_id)
    refused = _refuse_unsigned(run_obj)
    if refused:
        return refused
    encoding = request.form.get("encoding", "utf-8")
    reason = request.form.get("reason", "").strip()
    if encoding not in extraction.ENCODINGS or not reason:
        flash("出力の理由と文字コードを指定してください。", "error")
        return redirect_to("invitations.show", run_id=run_obj.id)
    found = extraction.letters(run_obj.id, drop_removed=False)
    try:
        data = extraction.export_bytes(found, encoding)
    except extraction.ExportProblem as exc:
        flash(str(exc), "error")
        return redirect_to("invitations.show", run_id=run_obj.id)
    name = f"invitations-run{run_obj.id}.csv"
    extraction.record_download(run_obj.id, name, data, len(found.letters), reason, encoding,
                               found.left_out, actor())
    response = make_response(data)
    response.headers["Content-Type"] = f"text/csv; charset={'Shift_JIS' if encoding == 'cp932' else 'utf-8'}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- per-person exclusions -------------------------------------------------------------

@bp.get("/people/<int:resident_id>/exclusions")
@requires("clerk", "supervisor")
def exclusions(resident_id):
    """この人を受診券の送付から外す（職域で受診・治療中・本人辞退など）、年度の範囲つき."""
    return _exclusions_page(resident_id)


def _exclusions_page(resident_id, values=None, errors=None, status=200):
    try:
        record = residents.view(resident_id, actor())
    except NotFound:
        abort(404)
    fy = fiscal_year(today_jst())
    return render("invitations/exclusions.html", status=status, record=record,
                  rows=extraction.exclusions_of(resident_id), reasons=extraction.EXCLUSION_REASONS,
                  exams=catalogue.EXAMS, order=EXAM_ORDER,
                  values=values or {"from_year": str(fy), "to_year": str(fy)}, errors=errors or {})


@bp.post("/people/<int:resident_id>/exclusions")
@requires("clerk", "supervisor")
def exclude(resident_id):
    form = {k: request.form.get(k, "").strip() for k in ("exam", "reason", "note", "from_year", "to_year")}
    errors = {}
    years = {}
    for key in ("from_year", "to_year"):
        text = form[key]
        if text.isdigit() and 2000 <= int(text) <= 2200:
            years[key] = int(text)
        elif text or key == "from_year":
            errors[key] = ["年度を西暦4桁で入力してください"]
        else:
            years[key] = None
    if not errors:
        try:
            extraction.exclude(resident_id, form["exam"], form["reason"], form["note"],
                               years["from_year"], years["to_year"], actor())
        except NotFound:
            abort(404)
        except Invalid as exc:
            errors = exc.errors
    if errors:
        return _exclusions_page(resident_id, form, errors, 422)
    flash("送付から外す記録を追加しました。", "ok")
    return redirect_to("invitations.exclusions", resident_id=resident_id)


@bp.post("/exclusions/<int:exclusion_id>/end")
@requires("clerk", "supervisor")
def end_exclusion(exclusion_id):
    from models import InvitationExclusion

    row = InvitationExclusion.get_or_none(InvitationExclusion.id == exclusion_id)
    if row is None:
        abort(404)
    try:
        extraction.end_exclusion(exclusion_id, actor())
    except NotFound:
        abort(404)
    flash("除外を終了しました（記録は残ります）。", "ok")
    return redirect_to("invitations.exclusions", resident_id=row.resident_id)
