"""職員管理 (administrators only): staff list, create with a one-time link, roles, reset, unlock,
retire (元職員), end a person's sessions, and the list of sessions in use."""
from flask import Blueprint, current_app, flash, g, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from kenshin.access import credentials
from kenshin.access import staff as staff_domain
from kenshin.access.roles import ROLES, STAFF_ADMIN_ROLES
from kenshin.core.errors import Invalid, Refused
from kenshin.core.listing import page_number

from .web import actor, menu, policy, redirect_to, render, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


class RolesField(SelectMultipleField):
    """One labelled checkbox per role."""
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _roles_field():
    return RolesField("役割", choices=[SelectChoice(key, label) for key, label in ROLES.items()],
                      validators=[DataRequired("役割を一つ以上選んでください")])


class StaffForm(FlaskForm):
    login_id = StringField("ログインID", validators=[DataRequired("ログインIDを入力してください"),
                                                     Length(max=64)])
    name = StringField("氏名", validators=[DataRequired("氏名を入力してください"), Length(max=60)])
    division = StringField("所属", validators=[DataRequired("所属を入力してください"),
                                               Length(max=60)])
    roles = _roles_field()


class RolesForm(FlaskForm):
    roles = _roles_field()


class ConfirmForm(FlaskForm):
    confirm = BooleanField("内容を確認しました",
                           validators=[DataRequired("確認のチェックを入れてください")])


def _link(token: str) -> str:
    """The enrollment link as the person will open it (ORIGIN is the public address)."""
    return current_app.config["ORIGIN"].rstrip("/") + url_for("auth.enroll_link", token=token)


def _link_page(person, token: str, heading: str):
    return render("admin/link.html", person=person, link=_link(token), heading=heading,
                  hours=current_app.config["ENROLL_LINK_HOURS"])


@bp.get("/staff")
@requires(*STAFF_ADMIN_ROLES)
@menu("職員管理", 710)
def staff_list():
    """職員一覧: 役割、所属、最終ログイン、状態 (paged)."""
    listing = staff_domain.listing(page_number(request.args.get("page")))
    return render("admin/staff_list.html", "admin/_staff_table.html", listing=listing,
                  labels=staff_domain.STATUS_LABELS)


@bp.route("/staff/new", methods=["GET", "POST"])
@requires(*STAFF_ADMIN_ROLES)
def staff_new():
    """職員の登録: the one-time enrollment link is shown once, on the answer to this POST."""
    form = StaffForm()
    if form.validate_on_submit():
        try:
            person, token = staff_domain.create(
                form.login_id.data.strip(), form.name.data, form.division.data, form.roles.data,
                actor(), link_hours=current_app.config["ENROLL_LINK_HOURS"])
        except Invalid as exc:
            for key, messages in exc.errors.items():
                getattr(form, key, form.login_id).errors.extend(messages)
        else:
            return _link_page(person, token, "職員を登録しました")
    return render("admin/staff_new.html", form=form, status=422 if form.errors else 200)


@bp.get("/staff/<int:staff_id>")
@requires(*STAFF_ADMIN_ROLES)
def staff_detail(staff_id):
    """職員の詳細: 認証器、利用中のセッション、操作."""
    person = staff_domain.get(staff_id)
    roles_form = RolesForm(data={"roles": sorted(person.role_set)})
    return render("admin/staff_detail.html", person=person, roles_form=roles_form,
                  confirm_form=ConfirmForm(), credentials=credentials.of(person),
                  person_status=staff_domain.status_of(person),
                  labels=staff_domain.STATUS_LABELS,
                  sessions=staff_domain.open_sessions(policy(), staff=person).rows,
                  current_session=g.user_session.id)


def _act(staff_id, done: str, action):
    """Run one administrative action on a person; flash the outcome, back to their page."""
    staff_domain.get(staff_id)
    try:
        action()
    except Refused as exc:
        flash(exc.reason, "error")
    except Invalid as exc:
        flash("　".join(m for ms in exc.errors.values() for m in ms), "error")
    else:
        flash(done, "ok")
    return redirect_to("admin.staff_detail", staff_id=staff_id)


@bp.post("/staff/<int:staff_id>/roles")
@requires(*STAFF_ADMIN_ROLES)
def staff_roles(staff_id):
    """役割の変更."""
    roles = RolesForm().roles.data or []
    return _act(staff_id, "役割を変更しました。",
                lambda: staff_domain.change_roles(staff_id, roles, actor()))


@bp.post("/staff/<int:staff_id>/unlock")
@requires(*STAFF_ADMIN_ROLES)
def staff_unlock(staff_id):
    """ログイン失敗によるロックの解除."""
    return _act(staff_id, "ロックを解除しました。", lambda: staff_domain.unlock(staff_id, actor()))


@bp.post("/staff/<int:staff_id>/end-sessions")
@requires(*STAFF_ADMIN_ROLES)
def staff_end_sessions(staff_id):
    """この職員のセッションをすべて終了 (an administrator's own current session stays)."""
    keep = g.user_session.id if staff_id == g.staff.id else None
    return _act(staff_id, "セッションを終了しました。",
                lambda: staff_domain.end_sessions(staff_id, actor(), keep))


@bp.post("/staff/<int:staff_id>/retire")
@requires(*STAFF_ADMIN_ROLES)
def staff_retire(staff_id):
    """元職員にする: no more sign-in, sessions end at once; nothing is deleted."""
    if not ConfirmForm().validate_on_submit():
        flash("確認のチェックを入れてから操作してください。", "error")
        return redirect_to("admin.staff_detail", staff_id=staff_id)
    return _act(staff_id, "元職員にしました。セッションはすべて終了しました。",
                lambda: staff_domain.retire(staff_id, actor()))


@bp.post("/staff/<int:staff_id>/reset")
@requires(*STAFF_ADMIN_ROLES)
def staff_reset(staff_id):
    """リセット: credentials revoked, password cleared, sessions ended, a new one-time link."""
    person = staff_domain.get(staff_id)
    if not ConfirmForm().validate_on_submit():
        flash("確認のチェックを入れてから操作してください。", "error")
        return redirect_to("admin.staff_detail", staff_id=staff_id)
    try:
        person, token = staff_domain.reset(staff_id, actor(),
                                           current_app.config["ENROLL_LINK_HOURS"])
    except Refused as exc:
        flash(exc.reason, "error")
        return redirect_to("admin.staff_detail", staff_id=person.id)
    return _link_page(person, token, "リセットしました")


@bp.get("/sessions")
@requires(*STAFF_ADMIN_ROLES)
@menu("利用中のセッション", 720)
def session_list():
    """利用中のセッション: 誰が、どの端末で、いつから、最終操作、ロック中か."""
    listing = staff_domain.open_sessions(policy(), page_number(request.args.get("page")))
    return render("admin/sessions.html", listing=listing, current_session=g.user_session.id)
