"""The signed-in person's own authenticators: list, add another, revoke one (fresh check first)."""
from datetime import datetime

from flask import Blueprint, flash, g, jsonify, request, session, url_for

from kenshin.access import credentials
from kenshin.access import passkeys
from kenshin.core.errors import NotFound, Refused

from .web import (
    ANY_STAFF,
    actor,
    json_error,
    menu,
    redirect_to,
    relying_party,
    render,
    requires,
    terminal,
    webauthn_options,
)

bp = Blueprint("account", __name__, url_prefix="/account")


def _reauth_at() -> datetime | None:
    """When this session last passed the fresh check (bound to the session, so unlock clears it)."""
    mark = session.get("reauth")
    if not mark or mark.get("sid") != g.user_session.id:
        return None
    try:
        return datetime.fromisoformat(mark["at"])
    except (KeyError, TypeError, ValueError):
        return None


@bp.get("/")
@requires(ANY_STAFF)
@menu("認証器の管理", 900)
def index():
    """自分の認証器: 名前、登録日時、最終使用日時; 追加と無効化は本人確認のあと."""
    return render("account/index.html", "account/_credentials.html",
                  credentials=credentials.of(g.staff),
                  fresh_for=credentials.fresh_for(_reauth_at()))


@bp.post("/reauth/options")
@requires(ANY_STAFF)
def reauth_options():
    """A challenge for the fresh check, limited to the person's own credentials."""
    return webauthn_options(passkeys.authentication_options(relying_party(), g.staff, "reauth",
                                                            g.user_session.id))


@bp.post("/reauth/verify")
@requires(ANY_STAFF)
def reauth_verify():
    """The fresh check itself; for FRESH afterwards this session may add or revoke."""
    try:
        at = credentials.reauthenticate(relying_party(), g.staff,
                                        passkeys.challenge_from_text(session.pop("challenge", "")),
                                        request.get_data(as_text=True), terminal())
    except Refused as exc:
        return json_error(exc.reason, 403)
    session["reauth"] = {"sid": g.user_session.id, "at": at.isoformat()}
    return jsonify({"ok": True, "redirect": url_for("account.index")})


@bp.post("/credentials/options")
@requires(ANY_STAFF)
def add_options():
    """Registration options for another authenticator (only within the fresh window)."""
    if credentials.fresh_for(_reauth_at()) <= 0:
        return json_error(credentials.NOT_FRESH, 403)
    return webauthn_options(passkeys.registration_options(relying_party(), g.staff))


@bp.post("/credentials")
@requires(ANY_STAFF)
def add():
    """Store the new authenticator (user verification required) and audit it."""
    payload = request.get_json(silent=True) or {}
    try:
        credential = credentials.add(relying_party(), g.staff, _reauth_at(),
                                     passkeys.challenge_from_text(session.pop("challenge", "")),
                                     str(payload.get("credential", "")),
                                     str(payload.get("nickname", "")), actor())
    except Refused as exc:
        return json_error(exc.reason, 403)
    flash(f"認証器「{credential.nickname}」を追加しました。", "ok")
    return jsonify({"ok": True, "redirect": url_for("account.index")})


@bp.post("/credentials/<int:credential_id>/revoke")
@requires(ANY_STAFF)
def revoke(credential_id):
    """Revoke one of one's own authenticators (never the last one)."""
    try:
        credential = credentials.revoke(g.staff, credential_id, _reauth_at(), actor())
    except NotFound:
        flash("認証器が見つかりません。", "error")
    except Refused as exc:
        flash(exc.reason, "error")
    else:
        flash(f"認証器「{credential.nickname}」を無効にしました。", "ok")
    return redirect_to("account.index")
