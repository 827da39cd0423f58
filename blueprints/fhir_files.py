"""検診結果（FHIR）の取込 (supervisors): upload one bundle (.json) or a .zip of them, preview the
counts, each screening's outcome and every refusal, confirm. The same rules as the command line
(kenshin.fhir);
the upload waits in instance/uploads (kenshin.imports.uploads) between preview and confirm."""
import os

from flask import Blueprint, Response, abort, current_app, flash, g, request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from kenshin.access.roles import DISCLOSURE_ROLES, RESULT_IMPORT_ROLES
from kenshin.fhir import export as fhir_export
from kenshin.fhir import importer
from kenshin.imports import csvimport, history, uploads
from kenshin.registry import residents

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("fhir_files", __name__, url_prefix="/fhir-files")

ROLES = RESULT_IMPORT_ROLES  # the same people who take the CSV clinic files
SHOWN_PROBLEMS = 1000


class UploadForm(FlaskForm):
    file = FileField("検診結果（FHIR バンドル .json または .zip）",
                     validators=[FileRequired("ファイルを選んでください")])


def _directory() -> str:
    return os.path.join(current_app.instance_path, "uploads")


def _page(form, result=None, token=None, status=200):
    return render("fhir_files/index.html", form=form, result=result, token=token,
                  shown=SHOWN_PROBLEMS, status=status)


def _bundles(source):
    try:
        return importer.from_upload(source.file_name, source.data)
    except csvimport.CannotOpen as exc:
        return exc.reason


@bp.get("/")
@requires(*ROLES)
@menu("検診結果（FHIR）の取込", 121)
def index():
    """アップロードの画面."""
    return _page(UploadForm())


@bp.post("/preview")
@requires(*ROLES)
def preview():
    """バンドルを確認し、記録・突合待ち・重複・対象外項目の件数と問題を示す（まだ何も記録しない）."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    upload = form.file.data
    source = csvimport.Source.from_bytes(upload.filename, upload.read())
    bundles = _bundles(source)
    if isinstance(bundles, str) or not bundles:
        reason = bundles or "バンドル（.json）がありません"
        # audited and in the import history as not imported, as the command line's exit 2 is
        csvimport.record_unreadable(importer.ACTION, source.file_name, reason, actor())
        form.file.errors = [reason]
        return _page(form, status=422)
    result = importer.preview(bundles, actor())
    token = uploads.save(_directory(), source, g.staff.id, importer.KIND) if result.accepted else None
    return _page(UploadForm(formdata=None), result, token, 200 if result.accepted else 422)


def _upload():
    return uploads.load(_directory(), request.form.get("token", ""), g.staff.id, importer.KIND)


@bp.post("/confirm")
@requires(*ROLES)
def confirm():
    """確認したファイルを取り込む（もう一度すべて検査し、全部かゼロか）."""
    upload = _upload()
    try:
        result = importer.run(importer.from_upload(upload.source.file_name, upload.source.data), actor())
    finally:
        uploads.discard(_directory(), upload.token)
    if result.accepted:
        counts = {**result.counts, "different": result.different, "left_out": result.left_out}
        flash(f"取り込みました（{upload.source.file_name}）: {history.count_words(result.kind, counts)}", "ok")
        return redirect_to("fhir_files.index")
    return _page(UploadForm(formdata=None), result, None, 422)


@bp.post("/cancel")
@requires(*ROLES)
def cancel():
    """確認したファイルを取り込まずに削除する."""
    uploads.discard(_directory(), _upload().token)
    flash("取り込みを取りやめました。ファイルは削除しました。", "ok")
    return redirect_to("fhir_files.index")


@bp.post("/export/<int:resident_id>")
@requires(*DISCLOSURE_ROLES)
def export(resident_id: int):
    """その人の受診歴を、受診ごとに1つのFHIRバンドル（複数は .zip）で出力する（本人開示・転出先）."""
    residents.get_in_programme(resident_id)  # the same 404 as every loader, before the form
    purpose = request.form.get("purpose", "")
    if purpose not in fhir_export.PURPOSES:
        abort(400)
    name, data = fhir_export.history(resident_id, actor(), purpose)
    kind = "application/zip" if name.endswith(".zip") else "application/fhir+json"
    return Response(data, mimetype=kind,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
