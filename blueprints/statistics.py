"""統計: the yearly screening report (the same numbers as `report screenings`), the process
indicators against the 許容値 / 目標値 with SVG charts, CSV and A4 print, the settings, and the
drill-down from a count to its people. Supervisors only; exports, prints and drill-downs audited."""
from flask import Blueprint, abort, flash, request
from flask_wtf import FlaskForm

from kenshin import audit
from kenshin.core.dates import fiscal_year, now_utc, today_jst
from kenshin.core.errors import Invalid
from kenshin.core.listing import csv_bytes, export_reason
from kenshin.screening import catalogue
from kenshin.statistics import chart, indicators, report, settings, snapshot

from .formhelp import csv_download
from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("statistics", __name__, url_prefix="/statistics")

ROLES = ("supervisor",)
CHARTS = ((settings.REFERRAL_RATE, "要精検率（%）", 20.0), (settings.ATTENDANCE_RATE, "精検受診率（%）", 100.0),
          (settings.UNKNOWN_RATE, "精検未把握率（%）", 100.0))


def _year() -> int:
    text = (request.values.get("fiscal_year") or "").strip()
    if not text:
        return fiscal_year(today_jst())
    if not text.isdigit() or not 1990 <= int(text) <= 2200:
        abort(400)
    return int(text)


def _numbers(year: int) -> dict:
    """The 年度's numbers from its snapshot (kenshin.statistics.snapshot: computed on the first
    visit, then again only on 再集計)."""
    kept = snapshot.current(year, actor())
    rows = kept.rows
    found = indicators.of_year(year, rows)
    return {"year": year, "rows": rows, "indicators": found, "snapshot": kept,
            "charts": [chart.svg(found, key, title, scale) for key, title, scale in CHARTS],
            "legend": chart.legend(), "not_recorded": indicators.NOT_RECORDED,
            "not_recorded_indicators": indicators.NOT_RECORDED_INDICATORS,
            "measures": indicators.MEASURE_LABELS, "columns": report.COLUMNS,
            "exam_name": lambda code: catalogue.get_exam(code).name}


@bp.get("/")
@requires(*ROLES)
@menu("統計・プロセス指標", 260)
def index():
    """検診統計（地域保健・健康増進事業報告の基礎）とプロセス指標."""
    year = _year()
    numbers = _numbers(year)
    _audit_reading(year, "view", len(numbers["rows"]))
    return render("statistics/index.html", **numbers)


def _audit_reading(year: int, how: str, rows: int) -> None:
    """The report's reading or print, audited with the 年度 and row count (counts only)."""
    from models import db

    with db.atomic():
        audit.record("statistics.view" if how == "view" else "print", actor(), object_type="report",
                     object_id=str(year), details={"fiscal_year": year, "rows": rows,
                                                   "document": "screening_report"})


@bp.post("/recompute")
@requires(*ROLES)
def recompute():
    """再集計: the 年度's report computed now from the records (audited), replacing the snapshot."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    year = _year()
    kept = snapshot.compute(year, actor())
    flash(f"{year}年度を再集計しました（{len(kept.rows)}行、{kept.milliseconds / 1000:.1f}秒）。", "success")
    return redirect_to("statistics.index", fiscal_year=year)


@bp.get("/print")
@requires(*ROLES)
def print_report():
    """A4印刷（表とグラフ）; audited as a print."""
    year = _year()
    numbers = _numbers(year)
    _audit_reading(year, "print", len(numbers["rows"]))
    return render("statistics/print.html", printed_at=now_utc(), **numbers)


@bp.post("/export")
@requires(*ROLES)
def export():
    """FORMATS.md の列でCSV出力（理由必須・監査）."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    year = _year()
    try:
        reason = export_reason(request.form.get("reason"))
    except Invalid:
        flash("出力の理由を入力してください（改行なし200文字以内）", "error")
        return redirect_to("statistics.index", fiscal_year=year)
    rows = snapshot.current(year, actor()).rows
    from models import db

    with db.atomic():
        audit.record("export", actor(), object_type="report", object_id=str(year),
                     details={"document": "screening_report", "fiscal_year": year, "rows": len(rows),
                              "reason": reason})
    return csv_download(csv_bytes(list(report.COLUMNS), [r.values() for r in rows]), len(rows),
                        f"screening-report-{year}")


@bp.get("/drill")
@requires(*ROLES)
def drill():
    """件数の内訳の方々（その件数を超えて表示しない）; audited with the criteria."""
    try:
        cell = indicators.parse_cell(request.args)
    except Invalid:
        abort(400)
    count, people = indicators.drill_down(cell, actor())
    return render("statistics/drill.html", cell=cell, count=count, people=people,
                  measures=indicators.MEASURE_LABELS, exam_name=catalogue.get_exam(cell.exam).name)


@bp.route("/settings", methods=["GET", "POST"])
@requires(*ROLES)
def settings_form():
    """許容値・目標値と受診勧奨までの日数の設定（変更は理由とともに監査）."""
    errors = {}
    values = settings.current()
    if request.method == "POST":
        if not FlaskForm().validate_on_submit():
            abort(400)
        try:
            changed = settings.save(request.form, request.form.get("reason", ""), actor())
        except Invalid as exc:
            errors = exc.errors
            values = {k: request.form.get(k, v) for k, v in values.items()}
        else:
            flash(f"{len(changed)}項目を変更しました" if changed else "変更はありません", "success")
            return redirect_to("statistics.settings_form")
    return render("statistics/settings.html", values=values, errors=errors, defaults=settings.defaults(),
                  national=settings.NATIONAL, indicator_labels=settings.INDICATOR_LABELS,
                  level_labels=settings.LEVEL_LABELS, key_of=settings.key_of,
                  reminder_key=settings.REMINDER_AFTER_DAYS,
                  exam_name=lambda code: catalogue.get_exam(code).name,
                  status=422 if errors else 200)
