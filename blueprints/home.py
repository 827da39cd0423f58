"""The menu each person lands on: only the screens their roles open."""
from flask import Blueprint, g

from kenshin.operations import training

from .web import ANY_STAFF, render, requires

bp = Blueprint("home", __name__)


@bp.get("/")
@requires(ANY_STAFF)
def index():
    """メニュー."""
    return render("home/index.html", training=training.of(g.staff.id))
