"""評価書の範囲外の項目 (admin): catalogue items beyond 別添1, off until the amendment is recorded."""
from flask import Blueprint, abort, flash, request

from kenshin.access.roles import ADMIN
from kenshin.core.errors import Invalid, NotFound, Refused
from kenshin.screening import extensions

from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("extensions", __name__, url_prefix="/extensions")


def _page(status=200, errors=None, values=None, code=None):
    return render("extensions/index.html", status=status, states=extensions.states(),
                  errors=errors or {}, values=values or {}, failed=code)


@bp.get("/")
@requires(ADMIN)
@menu("評価書の範囲外の項目", 730)
def index():
    """評価書（別添1）にない記録項目の一覧: 状態、評価書の修正が含むべき事項、履歴."""
    return _page()


@bp.post("/<code>/on")
@requires(ADMIN)
def turn_on(code):
    """評価書の修正を記録して有効にする."""
    form = request.form
    try:
        extensions.turn_on(code, amended_on=form.get("amended_on", ""), amendment=form.get("amendment", ""),
                           confirmed=form.get("confirmed") == "1", actor=actor())
    except NotFound:
        abort(404)
    except Invalid as exc:
        return _page(422, exc.errors, form, code)
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("extensions.index")
    flash("有効にしました。以後、これらの項目を入力・取込できます。", "ok")
    return redirect_to("extensions.index")


@bp.post("/<code>/off")
@requires(ADMIN)
def turn_off(code):
    """無効に戻す（記録済みの値は残る。新しい値は受け付けない）."""
    form = request.form
    try:
        extensions.turn_off(code, reason=form.get("reason", ""), actor=actor())
    except NotFound:
        abort(404)
    except Invalid as exc:
        return _page(422, exc.errors, form, code)
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("extensions.index")
    flash("無効にしました。", "ok")
    return redirect_to("extensions.index")
