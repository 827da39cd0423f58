"""Sign-in (password, then WebAuthn), screen lock and unlock, logout, enrollment from a link,
and the draft of a page's typing kept over the screen lock."""
import json
import time

from flask import Blueprint, current_app, flash, g, jsonify, request, session, url_for
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

import models
from kenshin import audit
from kenshin.access import drafts
from kenshin.access import passkeys
from kenshin.access import sessions
from kenshin.access import signin
from kenshin.access import staff as staff_domain
from kenshin.core.errors import Invalid, NotFound, Refused

from .filters import jst
from .web import (
    ANY_STAFF,
    actor,
    allowed_when_locked,
    is_htmx,
    json_error,
    passive,
    policy,
    public,
    redirect_to,
    relying_party,
    render,
    requires,
    terminal,
    webauthn_options,
)

bp = Blueprint("auth", __name__)

PENDING_SECONDS = 180  # between a correct password and the WebAuthn step


class LoginForm(FlaskForm):
    login_id = StringField("ログインID", validators=[DataRequired("ログインIDを入力してください"),
                                                     Length(max=64)])
    password = PasswordField("パスワード", validators=[DataRequired("パスワードを入力してください")])


def _pending_staff_id() -> int | None:
    pending = session.get("pending_login")
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    return pending.get("staff")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Step 1: login ID and password. Step 2 (same page): the WebAuthn assertion."""
    form = LoginForm()
    ended = session.pop("ended_reason", None)
    if form.validate_on_submit():
        try:
            person = signin.check_password_step(form.login_id.data, form.password.data, terminal())
        except Refused as exc:
            form.password.errors.append(exc.reason)
            return render("auth/login.html", form=form, status=422)
        session["pending_login"] = {"staff": person.id, "at": time.time()}
        return render("auth/login_webauthn.html", login_id=person.login_id)
    return render("auth/login.html", form=form, ended=ended,
                  status=422 if form.errors else 200)


@bp.post("/login/options")
@public
def login_options():
    """WebAuthn options for the person whose password was just accepted."""
    staff_id = _pending_staff_id()
    person = models.Staff.get_or_none(models.Staff.id == staff_id) if staff_id else None
    if person is None:
        return json_error("パスワードの確認からやり直してください。", 409)
    return webauthn_options(passkeys.authentication_options(relying_party(), person, "login"))


@bp.post("/login/verify")
@public
def login_verify():
    """The assertion: on success a fresh server-side session and a fresh cookie."""
    staff_id = _pending_staff_id()
    if staff_id is None:
        return json_error("パスワードの確認からやり直してください。", 409)
    previous_login = models.Staff.select(models.Staff.last_login_at).where(
        models.Staff.id == staff_id).scalar()
    try:
        token = signin.complete(relying_party(), staff_id, passkeys.challenge_from_text(session.get("challenge")),
                                request.get_data(as_text=True), terminal(),
                                request.user_agent.string, session.get("sid"))
    except Refused as exc:
        session.pop("challenge", None)
        return json_error(exc.reason, 403)
    session.clear()
    session["sid"] = token
    notice = staff_domain.enrollment_notice(staff_id, previous_login)
    if notice is not None:
        flash(f"このアカウントの利用登録は {jst(notice.at)} に、端末 {notice.terminal} から行われました。"
              "ご自身の登録でなければ、すぐにシステム利用管理者と監査担当に連絡してください。", "info")
    return jsonify({"ok": True, "redirect": url_for("home.index")})


@bp.post("/logout")
@requires(ANY_STAFF)
@allowed_when_locked
def logout():
    """End the session on the server, then forget the cookie."""
    sessions.end(g.user_session, actor(), "logout")
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect_to("auth.login")


@bp.get("/lock")
@requires(ANY_STAFF)
@allowed_when_locked
def lock():
    """The lock screen: no personal data, only the way back through WebAuthn.

    Reaching it locks the session, whoever decided (the server's timer or the page's)."""
    if g.user_session.locked_at is None:
        sessions.lock(g.user_session, actor(), "idle")
        # the page's own timer got here first: the header and menu follow the locked state
        g.user_session = sessions.get(session.get("sid"))
        g.session_state = sessions.evaluate(g.user_session, policy())
    return render("auth/lock.html")


@bp.post("/lock")
@requires(ANY_STAFF)
def lock_now():
    """Lock the screen at once (the person is leaving the desk)."""
    sessions.lock(g.user_session, actor(), "user")
    return redirect_to("auth.lock")


@bp.get("/lock/csrf")
@requires(ANY_STAFF)
@allowed_when_locked
@passive
def lock_csrf():
    """A fresh CSRF token for a lock screen left open longer than a token lives.

    Why not exempt the unlock endpoints from CSRF (the assertion is origin- and challenge-bound
    anyway)? Keeping one rule for every POST is easier to audit, and the lock screen's logout
    button needs a live token too. Before unlocking or logging out, webauthn.js fetches a token
    here (a same-origin GET: another site can neither read the answer nor, with SameSite=Strict,
    send the cookie). It is passive: fetching it is not activity, so it never delays the logoff.
    """
    return jsonify({"token": generate_csrf()})


@bp.post("/lock/options")
@requires(ANY_STAFF)
@allowed_when_locked
def unlock_options():
    return webauthn_options(passkeys.authentication_options(relying_party(), g.staff, "unlock",
                                                            g.user_session.id))


@bp.post("/lock/verify")
@requires(ANY_STAFF)
@allowed_when_locked
def unlock_verify():
    """Unlock with the same person's authenticator; the session id changes."""
    try:
        token = signin.unlock(relying_party(), g.user_session, passkeys.challenge_from_text(session.get("challenge")),
                              request.get_data(as_text=True), terminal(),
                              request.user_agent.string, session.get("sid"))
    except Refused as exc:
        session.pop("challenge", None)
        return json_error(exc.reason, 403)
    session.pop("challenge", None)
    session["sid"] = token
    return jsonify({"ok": True, "redirect": _after_unlock(token)})


def _after_unlock(token: str) -> str:
    """Back to the page the lock interrupted when a draft of its typing was kept (and that page
    can be opened again), else the menu."""
    unlocked = sessions.get(token)
    path = drafts.path_of(unlocked.id) if unlocked is not None else None
    if path and drafts.safe_path(path):
        try:
            current_app.url_map.bind("localhost").match(path.split("?", 1)[0], method="GET")
        except Exception:  # not a page one can open again (a POST's answer): nothing to restore into
            with models.db.atomic():
                drafts.discard([unlocked.id])
        else:
            session["draft_restore"] = True
            return path
    return url_for("home.index")


@bp.post("/session/draft")
@requires(ANY_STAFF)
@allowed_when_locked
@passive
def save_draft():
    """The page is locking: keep what was typed in its forms for this session (never a password,
    never in the browser). Passive: saving is not activity. The lock may have begun already."""
    payload = request.get_json(silent=True) or {}
    try:
        kept = drafts.save(g.user_session, payload.get("path"), payload.get("fields"), actor(),
                           policy().max_age)
    except Invalid as exc:
        return json_error("　".join(m for ms in exc.errors.values() for m in ms), 422)
    return jsonify({"ok": True, "kept": kept})


@bp.app_context_processor
def _restored_draft():
    """On the first page shown at a draft's address after the unlock: the draft, as JSON for
    app.js to put back in place (then it is gone from the server)."""
    if not session.get("draft_restore") or request.method != "GET" or is_htmx():
        return {"restored_draft": None}
    state = g.get("session_state")
    if g.get("user_session") is None or state is None or state.status != "ok":
        return {"restored_draft": None}
    here = request.path + ("?" + request.query_string.decode("latin-1") if request.query_string else "")
    restored = drafts.take(g.user_session, here, actor())
    if restored is None:
        return {"restored_draft": None}
    session.pop("draft_restore", None)
    return {"restored_draft": json.dumps(restored.fields, ensure_ascii=False)}


@bp.post("/session/heartbeat")
@requires(ANY_STAFF)
def heartbeat():
    """The page saw keyboard or mouse activity: keep the session from idling out."""
    return "", 204


@bp.get("/enroll/<token>")
@public
def enroll_link(token):
    """Take the one-time token out of the URL into the session, then show the form.

    A session open in this browser is ended on the server (audited), not only forgotten by the
    cookie; whose it was is kept for the enrollment's audit event (issue 12, finding 8)."""
    opened_by = None
    user_session = sessions.get(session.get("sid"))
    if user_session is not None and user_session.ended_at is None:
        sessions.end(user_session, audit.Actor.of_staff(user_session.staff, terminal()),
                     "enroll_link")
        opened_by = user_session.staff_id
    session.clear()
    session["enroll_token"] = token
    if opened_by is not None:
        session["enroll_opened_by"] = opened_by
    return redirect_to("auth.enroll")


def _enrolling():
    try:
        return staff_domain.by_enrollment_token(session.get("enroll_token", ""))
    except NotFound:
        return None


@bp.get("/enroll")
@public
def enroll():
    """Set a password and register a first authenticator (user verification required)."""
    person = _enrolling()
    if person is None:
        return render("auth/enroll_invalid.html", status=404)
    return render("auth/enroll.html", person=person)


ENROLL_CHECKED = "enroll_password_checked"


@bp.post("/enroll/check")
@public
def enroll_check():
    """The password is checked here, before the browser asks the authenticator for a credential:
    a refused password never leaves a credential behind. Errors come back by field."""
    person = _enrolling()
    if person is None:
        return json_error("登録用リンクが無効か、期限が切れています。", 404)
    payload = request.get_json(silent=True) or {}
    session.pop(ENROLL_CHECKED, None)
    try:
        staff_domain.check_enrollment_password(person, payload.get("password", ""),
                                               payload.get("password_confirm", ""))
    except Invalid as exc:
        return jsonify({"ok": False, "message": "入力内容を確認してください。", "errors": exc.errors}), 422
    session[ENROLL_CHECKED] = True
    return jsonify({"ok": True})


@bp.post("/enroll/options")
@public
def enroll_options():
    person = _enrolling()
    if person is None:
        return json_error("登録用リンクが無効か、期限が切れています。", 404)
    if not session.get(ENROLL_CHECKED):
        return json_error("先にパスワードを確認します。もう一度「認証器を登録して完了」を押してください。", 409)
    return webauthn_options(passkeys.registration_options(relying_party(), person))


@bp.post("/enroll/complete")
@public
def enroll_complete():
    """Password and credential together, in one transaction with its audit event."""
    person = _enrolling()
    if person is None:
        return json_error("登録用リンクが無効か、期限が切れています。", 404)
    payload = request.get_json(silent=True) or {}
    try:
        staff_domain.enroll(relying_party(), person, payload.get("password", ""),
                            payload.get("password_confirm", ""), payload.get("nickname", ""),
                            passkeys.challenge_from_text(session.get("challenge")),
                            payload.get("credential", ""), terminal(),
                            opened_by=session.get("enroll_opened_by"))
    except Invalid as exc:
        return json_error("　".join(m for ms in exc.errors.values() for m in ms), 422)
    except Refused as exc:
        return json_error(exc.reason, 403)
    session.clear()
    flash("登録が完了しました。ログインしてください。", "info")
    return jsonify({"ok": True, "redirect": url_for("auth.login")})
