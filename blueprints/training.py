"""研修受講記録 (admin): who attended the yearly training when, who has lapsed, and whether a
lapsed person may still sign in."""
from flask import Blueprint, flash, request

from kenshin.access.roles import STAFF_ADMIN_ROLES
from kenshin.core.errors import Invalid, NotFound
from kenshin.operations import training

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("training", __name__, url_prefix="/admin/training")


def _page(errors=None, values=None, status=200):
    return render("training/index.html", lines=training.listing(),
                  may_sign_in=training.lapsed_may_sign_in(), errors=errors or {},
                  values=values or {}, status=status)


@bp.get("/")
@requires(*STAFF_ADMIN_ROLES)
@menu("研修受講記録", 620)
def index():
    """期限切れ・期限間近の一覧、受講日の記録、期限切れの人のログイン可否."""
    return _page()


@bp.post("/record")
@requires(*STAFF_ADMIN_ROLES)
def record():
    """受講日を記録する（未来の日付は不可、同じ日の二重記録は何もしない）."""
    try:
        training.record(request.form.get("staff_id"), request.form.get("completed_on"), actor())
    except Invalid as exc:
        return _page(exc.errors, dict(request.form), status=422)
    except NotFound:
        return _page({"staff_id": ["職員を選んでください"]}, dict(request.form), status=422)
    flash("受講日を記録しました。", "ok")
    return redirect_to("training.index")


@bp.post("/setting")
@requires(*STAFF_ADMIN_ROLES)
def setting():
    """期限切れの人がログインできるか（既定: できる。メニューに警告を表示）."""
    training.set_lapsed_may_sign_in(request.form.get("lapsed_may_sign_in") == "yes", actor())
    flash("設定を変更しました。", "ok")
    return redirect_to("training.index")
