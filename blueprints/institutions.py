"""協力医療機関の管理 (admin): list, add, deactivate or reactivate; every change kept as history."""
from flask import Blueprint, flash, request

from kenshin.access.roles import STAFF_ADMIN_ROLES
from kenshin.registry import institutions
from kenshin.core.errors import Invalid, Refused

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("institutions", __name__, url_prefix="/institutions")

FIELDS = ("institution_code", "name", "postal_code", "address", "phone")


@bp.get("/")
@requires(*STAFF_ADMIN_ROLES)
@menu("協力医療機関", 700)
def index():
    """協力医療機関の一覧と追加フォーム."""
    return render("institutions/index.html", "institutions/_list.html",
                  rows=institutions.all_institutions(), values={}, errors={})


@bp.post("/")
@requires(*STAFF_ADMIN_ROLES)
def create():
    """医療機関を登録する."""
    values = {key: request.form.get(key, "") for key in FIELDS}
    try:
        added = institutions.add(values, actor())
    except Invalid as exc:
        return render("institutions/index.html", rows=institutions.all_institutions(),
                      values=values, errors=exc.errors, status=422)
    flash(f"{added.name}（{added.code}）を登録しました。", "ok")
    return redirect_to("institutions.index")


@bp.get("/<int:institution_id>")
@requires(*STAFF_ADMIN_ROLES)
def show(institution_id):
    """医療機関の内容と変更履歴."""
    institution = institutions.get(institution_id)
    return render("institutions/show.html", institution=institution,
                  history=institutions.history(institution.id), labels=institutions.ITEMS)


@bp.post("/<int:institution_id>/active")
@requires(*STAFF_ADMIN_ROLES)
def set_active(institution_id):
    """参加終了（または再開）にする: 削除はしない."""
    institution = institutions.get(institution_id)
    active = request.form.get("active") == "1"
    try:
        institutions.set_active(institution.id, active, actor())
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash(f"{institution.name} を{'参加中' if active else '参加終了'}にしました。", "ok")
    return redirect_to("institutions.show", institution_id=institution.id)
