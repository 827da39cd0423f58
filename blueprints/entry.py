"""検診結果の入力: paper forms keyed one after another, every step an htmx partial.

The batch header (institution, 個別/集団, exam) lives in the Flask session and stays for the
next form; the last 受診日 is offered again. Code items are text inputs: the clerk types the
code printed on the form (`3a`, `E1`, `positive` …) with a datalist and the code table beside
the field — faster than a select for a stack of forms, and the same codes as the clinic files.
"""
from flask import Blueprint, abort, request, session, url_for

from kenshin.access.roles import HEALTH_RESULT_ROLES
from kenshin.screening import catalogue, extensions
from kenshin.screening import entry
from kenshin.registry import institutions
from kenshin.screening import screenings
from kenshin.core.dates import fiscal_year_label
from kenshin.core.errors import Invalid, NotFound, Refused

from .web import actor, menu, render, requires

bp = Blueprint("entry", __name__, url_prefix="/entry")

BATCH_KEY = "entry_batch"
DATE_KEY = "entry_exam_date"
SHOWN_KEY = "entry_shown"


@bp.app_template_filter("fiscal_label")
def fiscal_label(fy):
    """令和7年度 (2025年度)."""
    return f"{fiscal_year_label(fy)}（{fy}年度）" if fy else ""


def _batch() -> entry.Batch:
    return entry.Batch.from_mapping(session.get(BATCH_KEY))


def _context(batch: entry.Batch, **extra) -> dict:
    """What the workspace fragment needs; a fresh sheet unless values are given."""
    exam = catalogue.EXAMS.get(batch.exam)
    institution = screenings.institution_by_code(batch.institution_code) if batch.institution_code else None
    context = {
        "batch": batch, "exam": exam, "institution": institution, "exams": catalogue.EXAMS,
        "fields": exam.fields_with(extensions.enabled_codes()) if exam is not None else (),
        "settings": catalogue.SETTINGS, "institution_choices": institutions.all_institutions(active_only=True),
        "values": {"exam_date": session.get(DATE_KEY, "")}, "errors": {}, "batch_errors": {},
        "found": None, "preview": None, "saved": None, "problem": None, "parked": None,
        "ready": exam is not None and institution is not None and (
            batch.setting in catalogue.SETTINGS or (exam.followup and not batch.setting)),
    }
    context.update(extra)
    return context


def _workspace(status=200, **extra):
    return render("entry/index.html", "entry/_workspace.html", status=status, **_context(_batch(), **extra))


@bp.get("/")
@requires(*HEALTH_RESULT_ROLES)
@menu("検診結果の入力", 100)
def index():
    """入力画面: 一括ヘッダー（医療機関・個別/集団・検診）と検診票."""
    session.pop(SHOWN_KEY, None)
    return _workspace()


@bp.post("/batch")
@requires(*HEALTH_RESULT_ROLES)
def set_batch():
    """一括ヘッダーを設定し、その検診の入力欄を出す."""
    batch, errors = entry.check_batch(request.form)
    if errors:
        return render("entry/index.html", "entry/_workspace.html", status=422,
                      **_context(batch, batch_errors=errors))
    session[BATCH_KEY] = batch.as_dict()
    return _workspace()


@bp.post("/lookup")
@requires(*HEALTH_RESULT_ROLES)
def lookup():
    """整理番号・宛名番号（またはカナ＋生年月日＋性別）から住民を表示し、用紙と突き合わせる."""
    found = entry.lookup(request.form, actor(), already_shown=session.get(SHOWN_KEY))
    if found.person is not None:
        session[SHOWN_KEY] = found.person.id
    return render("entry/_match.html", found=found, values=request.form,
                  sheet=request.form.get("sheet", ""), oob=True)


@bp.post("/check")
@requires(*HEALTH_RESULT_ROLES)
def check():
    """入力中の1項目の検査と、年度・年齢・要精検の表示（htmx）."""
    batch = _batch()
    exam = catalogue.EXAMS.get(batch.exam)
    if exam is None:
        abort(409)
    field = request.headers.get("HX-Trigger-Name") or request.form.get("field", "")
    resident_id = request.form.get("matched_id", "")
    preview = entry.preview(batch, request.form, int(resident_id) if resident_id.isdigit() else None)
    return render("entry/_check.html", field=field, preview=preview, exam=exam, values=request.form)


@bp.post("/save")
@requires(*HEALTH_RESULT_ROLES)
def save():
    """保存（Enter）または突合待ちへの保留: 1件を1トランザクションで記録し、次の用紙へ."""
    batch, values = _batch(), request.form
    session[DATE_KEY] = values.get("exam_date", "")
    try:
        if values.get("action") == "park":
            parked = entry.park(batch, values, actor())
            session.pop(SHOWN_KEY, None)
            return _workspace(parked=parked)
        recorded = entry.save(batch, values, actor())
    except Invalid as exc:
        return _again(values, errors=exc.errors)
    except screenings.Duplicate as exc:
        return _again(values, problem={"kind": "duplicate", "message": exc.reason,
                                       "url": url_for("screenings.show", screening_id=exc.existing_id)})
    except entry.NotMatched as exc:
        return _again(values, problem={"kind": "unmatched", "message": exc.reason})
    except (Refused, NotFound) as exc:
        return _again(values, problem={"kind": "refused", "message": getattr(exc, "reason", str(exc))})
    session.pop(SHOWN_KEY, None)
    return _workspace(saved=recorded)


def _again(values, **extra):
    """The same sheet with what was typed, the errors and the person panel (422)."""
    found = entry.lookup(values, actor(), already_shown=session.get(SHOWN_KEY))
    if found.person is not None:
        session[SHOWN_KEY] = found.person.id
    batch = _batch()
    preview = entry.preview(batch, values, found.person.id if found.person else None) \
        if batch.exam in catalogue.EXAMS else None
    return render("entry/index.html", "entry/_workspace.html", status=422,
                  **_context(batch, values=values, found=found, preview=preview, **extra))
