"""検診結果ファイルの取込 (supervisors): upload, preview the counts and every problem, confirm.

The file waits in instance/uploads (kenshin.uploads) between preview and confirmation; the
confirmation re-reads and re-checks that same file, all or nothing, with one audit event."""
import os

from flask import Blueprint, current_app, flash, g, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from kenshin.access.roles import RESULT_IMPORT_ROLES
from kenshin.imports import csvimport
from kenshin.screening import result_import
from kenshin.imports import history, uploads

from .imports import ENCODINGS
from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("result_files", __name__, url_prefix="/result-files")

SHOWN_PROBLEMS = 1000


class UploadForm(FlaskForm):
    file = FileField("検診結果ファイル（CSV）", validators=[FileRequired("ファイルを選んでください")])
    encoding = SelectField("文字コード", choices=ENCODINGS, default=csvimport.AUTO)


def _directory() -> str:
    return os.path.join(current_app.instance_path, "uploads")


def _page(form, result=None, token=None, status=200):
    return render("result_files/index.html", form=form, result=result, token=token,
                  shown=SHOWN_PROBLEMS, status=status)


@bp.get("/")
@requires(*RESULT_IMPORT_ROLES)
@menu("検診結果ファイルの取込", 120)
def index():
    """アップロードの画面."""
    return _page(UploadForm())


@bp.post("/preview")
@requires(*RESULT_IMPORT_ROLES)
def preview():
    """ファイルを確認し、行ごとの結果（記録・突合待ち・重複）と件数・問題を示す（まだ何も記録しない）."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    upload = form.file.data
    source = csvimport.Source.from_bytes(upload.filename, upload.read(), form.encoding.data)
    result = result_import.preview(source, actor(), problem_limit=SHOWN_PROBLEMS)
    token = uploads.save(_directory(), source, g.staff.id, result_import.KIND) if result.accepted else None
    return _page(UploadForm(formdata=None), result, token, 200 if result.accepted else 422)


def _upload():
    return uploads.load(_directory(), request.form.get("token", ""), g.staff.id, result_import.KIND)


@bp.post("/confirm")
@requires(*RESULT_IMPORT_ROLES)
def confirm():
    """確認したファイルを取り込む（もう一度すべて検査し、全部かゼロか）."""
    upload = _upload()
    try:
        result = result_import.run(upload.source, actor(), problem_limit=SHOWN_PROBLEMS)
    finally:
        uploads.discard(_directory(), upload.token)
    if result.accepted:
        counts = {**result.counts, "different": result.different}
        flash(f"取り込みました（{upload.source.file_name}）: {history.count_words(result.kind, counts)}", "ok")
        return redirect_to("result_files.index")
    return _page(UploadForm(formdata=None), result, None, 422)


@bp.post("/cancel")
@requires(*RESULT_IMPORT_ROLES)
def cancel():
    """確認したファイルを取り込まずに削除する."""
    uploads.discard(_directory(), _upload().token)
    flash("取り込みを取りやめました。ファイルは削除しました。", "ok")
    return redirect_to("result_files.index")
