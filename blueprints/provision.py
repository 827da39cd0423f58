"""情報提供（中間サーバー）の画面: held queries to approve or decline (supervisor), the provision
record searchable by person, the permitted-query list, and the 自動応答不可 setting with history.

The network's own interface is blueprints/provision_api.py; the rules are kenshin.provision."""
import json

from flask import Blueprint, flash, request

from kenshin.access.roles import PROVISION_LIST_ROLES, PROVISION_ROLES
from kenshin.core.errors import Invalid, Refused
from kenshin.provision import content, flags, permitted, queries

from .provision_api import policy
from .web import actor, menu, redirect_to, render, requires

bp = Blueprint("provision", __name__, url_prefix="/provision-records")


@bp.get("/")
@requires(*PROVISION_ROLES)
@menu("中間サーバーからの照会（情報提供）", 320)
def index():
    """承認待ちの照会（長く待っているものに印）と最近の照会."""
    return _index_page("", None, {})


@bp.post("/search")
@requires(*PROVISION_ROLES)
def search():
    """本人ごとの提供記録の検索（番号は本文で受け取り、URL やアクセスログに残さない）."""
    person, rows, errors = request.form.get("person", "").strip(), None, {}
    try:
        rows = queries.search(person, actor())
    except Invalid as exc:
        errors = exc.errors
    return _index_page(person, rows, errors)


def _index_page(person, rows, errors):
    settings = policy()
    return render("provision/index.html", held=queries.held(settings),
                  hold_days=settings.hold_working_days, person=person, rows=rows, errors=errors,
                  recent=queries.recent() if rows is None else [], labels=queries.STATUS_LABELS,
                  status=422 if errors else 200)


@bp.get("/<int:query_pk>")
@requires(*PROVISION_ROLES)
def show(query_pk):
    """照会の内容・提供する（した）内容・経過。閲覧は記録される."""
    query, steps = queries.view(query_pk, actor())  # NotFound answers 404 (app handler)
    waited = None
    if query.status == "held":
        waited = queries.working_days_waited(query.received_at, queries.today_jst(),
                                             policy().closed_days)
    exact = json.dumps({"status": "answered", **query.content}, ensure_ascii=False, indent=2) \
        if query.content is not None else None
    return render("provision/show.html", query=query, steps=steps, labels=queries.STATUS_LABELS,
                  step_labels=queries.STEP_LABELS, blocks=content.describe(query.content or {}),
                  exact=exact, item_labels=content.ITEM_LABELS, waited=waited,
                  hold_days=policy().hold_working_days, errors={})


@bp.post("/<int:query_pk>/approve")
@requires(*PROVISION_ROLES)
def approve(query_pk):
    """表示した内容のとおりに提供する."""
    try:
        queries.approve(query_pk, request.form.get("content_sha256", ""), actor())
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash("承認しました。回答は中間サーバーからの次の問合せで送られます。", "ok")
    return redirect_to("provision.show", query_pk=query_pk)


@bp.post("/<int:query_pk>/decline")
@requires(*PROVISION_ROLES)
def decline(query_pk):
    """提供しない（理由を記録する）."""
    try:
        queries.decline(query_pk, request.form.get("reason", ""), actor())
    except Invalid as exc:
        flash("、".join(m for ms in exc.errors.values() for m in ms), "error")
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash("却下しました。情報は提供されません。", "ok")
    return redirect_to("provision.show", query_pk=query_pk)


@bp.get("/permitted")
@requires(*PROVISION_LIST_ROLES)
@menu("照会許可用照合リスト", 730)
def permitted_list():
    """中間サーバーの照会許可用照合リスト（取込はサーバーの運用担当が行う）."""
    return render("provision/permitted.html", rows=permitted.active(), removed=permitted.removed(),
                  item_labels=content.ITEM_LABELS)


@bp.get("/settings")
@requires(*PROVISION_ROLES)
@menu("自動応答不可の設定", 740)
def settings():
    """項目ごとの自動応答不可フラグと変更履歴."""
    return render("provision/settings.html", flags=flags.current(), history=flags.history(),
                  item_labels=content.ITEM_LABELS, errors={}, values={})


@bp.post("/settings")
@requires(*PROVISION_ROLES)
def change_setting():
    """自動応答不可フラグを変更する（理由は必須、履歴に残る）."""
    values = {k: request.form.get(k, "") for k in ("item", "no_auto_answer", "reason")}
    try:
        flags.change(values["item"], values["no_auto_answer"] == "1", values["reason"], actor())
    except Invalid as exc:
        return render("provision/settings.html", flags=flags.current(), history=flags.history(),
                      item_labels=content.ITEM_LABELS, errors=exc.errors, values=values, status=422)
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash("設定を変更しました。", "ok")
    return redirect_to("provision.settings")
