"""File imports on screen: the resident extract (admins and maintainers) and the institutions
file (admins) — upload, preview what each row would do, then confirm — and the import history.

The uploaded file waits in instance/uploads under a random name, never in the session cookie;
confirming re-reads and re-checks that same file. Clinic result files: result_files, fhir_files."""
import os

from flask import Blueprint, current_app, flash, g, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from kenshin.access.roles import IMPORT_ROLES, RESULT_IMPORT_ROLES, STAFF_ADMIN_ROLES
from kenshin.core.listing import page_number
from kenshin.imports import csvimport, history, uploads
from kenshin.registry import institutions, resident_import

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("imports", __name__, url_prefix="/imports")

# Clinic and city systems mostly write Shift_JIS: it comes first after 自動判定, which reads the
# bytes (a UTF-8 BOM or valid UTF-8 say UTF-8, valid Shift_JIS says Shift_JIS).
ENCODINGS = [SelectChoice(csvimport.AUTO, "自動判定（Shift_JIS か UTF-8 かをファイルから判定）"),
             SelectChoice("cp932", "Shift_JIS（cp932・Windows）"),
             SelectChoice("utf-8", "UTF-8（BOMあり・なし）")]
SHOWN_PROBLEMS = 1000  # a broken file can have a problem on every line: the page shows this many
#: who may see which kind of file in the history: the people who may import it
HISTORY_KINDS = {"residents": IMPORT_ROLES, "institutions": STAFF_ADMIN_ROLES,
                 "results": RESULT_IMPORT_ROLES, "fhir": RESULT_IMPORT_ROLES}


class UploadForm(FlaskForm):
    file = FileField("取り込むファイル（CSV）", validators=[FileRequired("ファイルを選んでください")])
    encoding = SelectField("文字コード", choices=ENCODINGS, default=csvimport.AUTO)


def _directory() -> str:
    return os.path.join(current_app.instance_path, "uploads")


def _received(form) -> csvimport.Source:
    upload = form.file.data
    return csvimport.Source.from_bytes(upload.filename, upload.read(), form.encoding.data)


def _upload(kind: str):
    return uploads.load(_directory(), request.form.get("token", ""), g.staff.id, kind)


def _imported(source: csvimport.Source, result) -> None:
    flash(f"取り込みました（{source.file_name}）: {history.count_words(result.kind, result.counts)}", "ok")


def _cancel(kind: str, endpoint: str):
    uploads.discard(_directory(), _upload(kind).token)
    flash("取り込みを取りやめました。ファイルは削除しました。", "ok")
    return redirect_to(endpoint)


# --- the resident extract ------------------------------------------------------------------------

def _residents_page(form, result=None, token=None, status=200):
    return render("imports/residents.html", form=form, result=result, token=token,
                  shown=SHOWN_PROBLEMS, status=status)


@bp.get("/residents")
@requires(*IMPORT_ROLES)
@menu("住民記録の取込", 80)
def residents():
    """住民記録連携ファイルの取込: the upload form."""
    return _residents_page(UploadForm())


@bp.post("/residents/preview")
@requires(*IMPORT_ROLES)
def residents_preview():
    """Check the uploaded file and show what each row would change; nothing is written."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _residents_page(form, status=422)
    source = _received(form)
    result = resident_import.preview(source, actor(), problem_limit=SHOWN_PROBLEMS,
                                     against_stored=_reads_stored())
    token = uploads.save(_directory(), source, g.staff.id, resident_import.KIND) if result.accepted else None
    return _residents_page(UploadForm(formdata=None), result, token, 200 if result.accepted else 422)


def _reads_stored() -> bool:
    """An administrator's preview compares the file with the stored records; a maintainer's
    checks the file alone (a maintainer may not read personal data: issue 12, finding 5)."""
    return g.staff.has_any_role("admin")


@bp.post("/residents/confirm")
@requires(*IMPORT_ROLES)
def residents_confirm():
    """Import the previewed file: checked again as a whole, written all or nothing, audited."""
    upload = _upload(resident_import.KIND)
    try:
        result = resident_import.run(upload.source, actor(), problem_limit=SHOWN_PROBLEMS,
                                     conflict_detail=_reads_stored())
    finally:
        uploads.discard(_directory(), upload.token)
    if result.accepted:
        _imported(upload.source, result)
        return redirect_to("imports.residents")
    return _residents_page(UploadForm(formdata=None), result, status=422)


@bp.post("/residents/cancel")
@requires(*IMPORT_ROLES)
def residents_cancel():
    """Discard a previewed file without importing it."""
    return _cancel(resident_import.KIND, "imports.residents")


# --- the institutions file -----------------------------------------------------------------------

class InstitutionsForm(UploadForm):
    file = FileField("協力医療機関のファイル（CSV）", validators=[FileRequired("ファイルを選んでください")])


def _institutions_page(form, result=None, token=None, status=200):
    return render("imports/institutions.html", form=form, result=result, token=token,
                  shown=SHOWN_PROBLEMS, status=status)


@bp.get("/institutions")
@requires(*STAFF_ADMIN_ROLES)
def institutions_file():
    """協力医療機関のファイルの取込: the upload form."""
    return _institutions_page(InstitutionsForm())


@bp.post("/institutions/preview")
@requires(*STAFF_ADMIN_ROLES)
def institutions_preview():
    """Check the uploaded file and show what each row would do; nothing is written."""
    form = InstitutionsForm()
    if not form.validate_on_submit():
        return _institutions_page(form, status=422)
    source = _received(form)
    result = institutions.preview(source, actor(), problem_limit=SHOWN_PROBLEMS)
    token = uploads.save(_directory(), source, g.staff.id, institutions.KIND) if result.accepted else None
    return _institutions_page(InstitutionsForm(formdata=None), result, token, 200 if result.accepted else 422)


@bp.post("/institutions/confirm")
@requires(*STAFF_ADMIN_ROLES)
def institutions_confirm():
    """Import the previewed file: checked again as a whole, all or nothing, audited."""
    upload = _upload(institutions.KIND)
    try:
        result = institutions.import_file(upload.source, actor(), problem_limit=SHOWN_PROBLEMS)
    finally:
        uploads.discard(_directory(), upload.token)
    if result.accepted:
        _imported(upload.source, result)
        return redirect_to("institutions.index")
    return _institutions_page(InstitutionsForm(formdata=None), result, status=422)


@bp.post("/institutions/cancel")
@requires(*STAFF_ADMIN_ROLES)
def institutions_cancel():
    """Discard a previewed file without importing it."""
    return _cancel(institutions.KIND, "imports.institutions_file")


# --- the history ---------------------------------------------------------------------------------

@bp.get("/history")
@requires(*sorted(set(IMPORT_ROLES) | set(RESULT_IMPORT_ROLES) | set(STAFF_ADMIN_ROLES)))
@menu("取込の履歴", 125)
def import_history():
    """取込の履歴: every import attempt of the kinds this person may import, newest first."""
    kinds = [kind for kind, roles in HISTORY_KINDS.items() if g.staff.has_any_role(*roles)]
    result = history.page(kinds, page_number(request.args.get("page")))
    return render("imports/history.html", result=result, kinds=[history.KINDS[k] for k in kinds],
                  describe=history.describe)
