"""File imports on screen (admins and maintainers): upload, preview the counts and every problem,
then confirm. The uploaded file waits in instance/uploads under a random name, never in the
session cookie; confirming re-reads and re-checks that same file."""
import os

from flask import Blueprint, current_app, flash, g, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from kenshin.access.roles import IMPORT_ROLES
from kenshin.imports import csvimport
from kenshin.registry import resident_import
from kenshin.imports import uploads

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("imports", __name__, url_prefix="/imports")

ENCODINGS = [SelectChoice("utf-8", "UTF-8（BOMあり・なし）"), SelectChoice("cp932", "Shift_JIS（cp932・Windows）")]
SHOWN_PROBLEMS = 1000  # a broken file can have a problem on every line: the page shows this many


class UploadForm(FlaskForm):
    file = FileField("取り込むファイル（CSV）", validators=[FileRequired("ファイルを選んでください")])
    encoding = SelectField("文字コード", choices=ENCODINGS, default="utf-8")


def _directory() -> str:
    return os.path.join(current_app.instance_path, "uploads")


@bp.get("/residents")
@requires(*IMPORT_ROLES)
@menu("住民記録の取込", 80)
def residents():
    """住民記録連携ファイルの取込: the upload form."""
    return render("imports/residents.html", form=UploadForm())


@bp.post("/residents/preview")
@requires(*IMPORT_ROLES)
def residents_preview():
    """Check the uploaded file and show what it would change; nothing is written."""
    form = UploadForm()
    if not form.validate_on_submit():
        return render("imports/residents.html", form=form, status=422)
    upload = form.file.data
    source = csvimport.Source.from_bytes(upload.filename, upload.read(), form.encoding.data)
    result = resident_import.preview(source, actor(), problem_limit=SHOWN_PROBLEMS,
                                     against_stored=_reads_stored())
    token = None
    if result.accepted:
        token = uploads.save(_directory(), source, g.staff.id, resident_import.KIND)
    return render("imports/residents.html", form=UploadForm(formdata=None), result=result,
                  token=token, shown=SHOWN_PROBLEMS, status=200 if result.accepted else 422)


def _reads_stored() -> bool:
    """An administrator's preview compares the file with the stored records; a maintainer's
    checks the file alone (a maintainer may not read personal data: issue 12, finding 5)."""
    return g.staff.has_any_role("admin")


def _upload():
    return uploads.load(_directory(), request.form.get("token", ""), g.staff.id, resident_import.KIND)


@bp.post("/residents/confirm")
@requires(*IMPORT_ROLES)
def residents_confirm():
    """Import the previewed file: checked again as a whole, written all or nothing, audited."""
    upload = _upload()
    try:
        result = resident_import.run(upload.source, actor(), problem_limit=SHOWN_PROBLEMS,
                                     conflict_detail=_reads_stored())
    finally:
        uploads.discard(_directory(), upload.token)
    if result.accepted:
        c = result.counts
        flash(f"取り込みました（{upload.source.file_name}）: 新規 {c['new']}人、変更 {c['changed']}人、"
              f"消除 {c['removed']}人、変更なし {c['unchanged']}人", "ok")
        return redirect_to("imports.residents")
    return render("imports/residents.html", form=UploadForm(formdata=None), result=result,
                  token=None, shown=SHOWN_PROBLEMS, status=422)


@bp.post("/residents/cancel")
@requires(*IMPORT_ROLES)
def residents_cancel():
    """Discard a previewed file without importing it."""
    uploads.discard(_directory(), _upload().token)
    flash("取り込みを取りやめました。ファイルは削除しました。", "ok")
    return redirect_to("imports.residents")
