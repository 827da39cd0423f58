"""Shared web plumbing: role declarations, the session gate, htmx helpers and security headers.

Every route declares who may use it with `@requires(...)` or `@public`; an undeclared route
answers 500 (fail closed) and tests/test_routes_roles.py fails for it.
"""

from flask import (
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from peewee import DatabaseError, InterfaceError
from werkzeug.routing import IntegerConverter

import database
import models
from kenshin import audit
from kenshin.access import sessions
from kenshin.access.roles import ROLES
from kenshin.core.ids import MAX_ID

PUBLIC = "public"
ANY_STAFF = "any"  # any signed-in staff member, whatever their roles
MACHINE = "machine"  # another system with its own credentials; never a staff session


def requires(*roles: str):
    """Declare the roles a route admits (any one suffices); checked before the view runs."""
    unknown = set(roles) - set(ROLES) - {ANY_STAFF}
    if not roles or unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view):
        view.roles = frozenset(roles)
        return view
    return decorate


def public(view):
    """Declare a route that needs no sign-in (login, enrollment, static files)."""
    view.roles = frozenset({PUBLIC})
    return view


def machine(view):
    """Declare a route for another system (the intermediate server): the gate loads no staff
    session for it; the route authenticates the caller itself and refuses a staff cookie."""
    view.roles = frozenset({MACHINE})
    return view


def has_staff_cookie() -> bool:
    """Does the request carry this app's session cookie (a staff browser)?"""
    return current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies


def closed_days() -> frozenset:
    """KENSHIN_CLOSED_DAYS: extra closed days (ISO dates, comma-separated or a list)."""
    from datetime import date

    raw = current_app.config.get("CLOSED_DAYS") or ()
    if isinstance(raw, str):
        raw = [part for part in raw.replace(" ", "").split(",") if part]
    return frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in raw)


def allowed_when_locked(view):
    """Let a locked session reach this route (lock screen, unlock, logout)."""
    view.allowed_when_locked = True
    return view


def menu(label: str, order: int = 100):
    """Put a page in the menu; it shows only to people whose roles the page admits."""
    def decorate(view):
        view.menu_label = label
        view.menu_order = order
        return view
    return decorate


#: the menu's groups by task: (first menu order of the group, name). A page's `@menu` order
#: places it: 10–99 people, 100–149 keying and matching, 150–299 invitations and follow-up,
#: 300–399 requests and inquiries, 400–799 administration, 800–899 audit, 900– one's own settings.
NAV_GROUPS = ((0, "受診者・検診"), (100, "入力・突合"), (150, "受診券・精検"), (300, "請求・問合せ"),
              (400, "管理"), (800, "監査"), (900, "自分の設定"))


def _group_of(order: int) -> str:
    name = NAV_GROUPS[0][1]
    for start, group in NAV_GROUPS:
        if order >= start:
            name = group
    return name


def nav_items() -> list[dict]:
    """The menu entries the signed-in person may open; `current` marks the page being shown."""
    person = g.get("staff")
    if person is None or g.get("session_state") is None or g.session_state.status != "ok":
        return []
    # Every full page draws the menu: its entries are built once per app, script root and role set.
    menus = current_app.extensions.setdefault("kenshin_menus", {})
    key = (request.script_root, frozenset(person.role_set))
    if key not in menus:
        items = []
        for endpoint, view in current_app.view_functions.items():
            label = getattr(view, "menu_label", None)
            roles = getattr(view, "roles", frozenset())
            if label and (ANY_STAFF in roles or person.has_any_role(*roles)):
                items.append({"order": view.menu_order, "label": label, "url": url_for(endpoint),
                              "endpoint": endpoint, "group": _group_of(view.menu_order)})
        menus[key] = sorted(items, key=lambda item: (item["order"], item["label"]))
    return [{**item, "current": item["endpoint"] == request.endpoint} for item in menus[key]]


def nav_groups() -> list[dict]:
    """The menu by task: the groups that hold a page this person may open, in order. A group is
    `current` when it holds the page shown, or a page of the same screen area (a preview, a detail)."""
    items = nav_items()
    exact = any(item["current"] for item in items)
    area = request.blueprint
    groups = []
    for _start, name in NAV_GROUPS:
        members = [item for item in items if item["group"] == name]
        if members:
            current = any(item["current"] for item in members) if exact else any(
                item["endpoint"].split(".", 1)[0] == area for item in members)
            groups.append({"label": name, "items": members, "current": current})
    return groups


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """The full page, or only its fragment for an htmx request (the page includes the fragment)."""
    template = fragment if (fragment and is_htmx()) else page
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def redirect_to(endpoint: str, **values):
    """A redirect that htmx follows as a full navigation (HX-Redirect), others as a 303."""
    url = url_for(endpoint, **values)
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, 303)


def webauthn_options(options_and_challenge):
    """Answer WebAuthn options (JSON) and keep their challenge in the session for the verify step."""
    options, challenge = options_and_challenge
    from kenshin.access.passkeys import challenge_to_text

    session["challenge"] = challenge_to_text(challenge)
    return current_app.response_class(options, mimetype="application/json")


def relying_party():
    """The WebAuthn relying party this deployment answers as (KENSHIN_RP_ID / KENSHIN_ORIGIN)."""
    from kenshin.access.passkeys import RelyingParty

    cfg = current_app.config
    return RelyingParty(cfg["RP_ID"], cfg["RP_NAME"], cfg["ORIGIN"])


def json_error(message: str, status: int):
    """A JSON refusal for the WebAuthn ceremonies' fetch calls."""
    return jsonify({"ok": False, "message": message}), status


def terminal() -> str:
    return (request.remote_addr or "")[:64]


def actor() -> audit.Actor:
    """The signed-in staff member as the domain's Actor."""
    return audit.Actor.of_staff(g.staff, terminal())


def policy() -> sessions.Policy:
    cfg = current_app.config
    return sessions.Policy(int(cfg["LOCK_AFTER_SECONDS"]), int(cfg["LOGOFF_AFTER_SECONDS"]),
                           int(cfg["SESSION_MAX_SECONDS"]))


def _gate():
    """Before every request: find the view's declaration, load the session, enforce lock and roles."""
    g.staff = None
    g.user_session = None
    g.session_state = None
    if request.endpoint is None:
        return None  # 404 / 405 answer on their own
    view = current_app.view_functions[request.endpoint]
    roles = getattr(view, "roles", None)
    if roles is None:
        current_app.logger.error("route %s declares no roles", request.endpoint)
        abort(500)
    if PUBLIC in roles or MACHINE in roles:
        return None

    # One look-up, which also records the activity when it counts (a usable session, a role
    # the route admits, not a passive poll): see sessions.for_request.
    user_session, state = sessions.for_request(
        session.get("sid"), policy(), touch=not getattr(view, "passive", False),
        roles=None if ANY_STAFF in roles else roles)
    if state.status == "ended":
        if user_session is not None and user_session.ended_at is None:
            sessions.end(user_session, audit.Actor.of_staff(user_session.staff, terminal()),
                         state.reason)
        session.clear()
        session["ended_reason"] = state.reason
        return redirect_to("auth.login")
    g.user_session = user_session
    g.staff = user_session.staff
    g.session_state = state
    if state.status == "locked":
        if user_session.locked_at is None:
            sessions.lock(user_session, actor(), "idle")
        if not getattr(view, "allowed_when_locked", False):
            return redirect_to("auth.lock")
        return None
    if ANY_STAFF not in roles and not g.staff.has_any_role(*roles):
        with models.db.atomic():
            audit.record("access.denied", actor(), outcome="denied",
                         details={"endpoint": request.endpoint, "method": request.method})
        abort(403)
    return None


def passive(view):
    """A request that does not count as activity (the countdown's status poll)."""
    view.passive = True
    return view


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


_SECURITY_HEADERS_BY_KEY = {name.lower(): (name, value) for name, value in SECURITY_HEADERS.items()}


def _headers(response):
    present = {name.lower() for name in response.headers.keys()}
    for key, (name, value) in _SECURITY_HEADERS_BY_KEY.items():
        if key not in present:  # a view's own value stands
            response.headers.add(name, value)
    if request.endpoint != "static":
        # Pages may carry personal data: never store them in a cache or the back-forward cache.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def own_connection(view):
    """A route that opens (and closes) the database connection itself: /healthz must answer 503,
    not fail before its view, when the database is down."""
    view.own_connection = True
    return view


class BoundedIntConverter(IntegerConverter):
    """Every `<int:...>` route: a number beyond the databases' integer range matches no route
    (404), instead of reaching a query that overflows (500). Installed as the `int` converter,
    so routes added later are bounded too."""

    regex = r"\d{1,19}"  # longer never matches (404 for every method, not a 405)

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ID if max is None else max, signed)


def _connect():
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if getattr(view, "own_connection", False):
        return
    models.db.connect(reuse_if_open=True)


def _close(exc):
    if models.db.is_closed():
        return
    try:
        models.db.close()
    except (DatabaseError, InterfaceError):
        # The connection died with a transaction open (the server went away mid-request).
        database.discard_connection()


UNAVAILABLE_MESSAGES = {
    database.UNAVAILABLE: ("データベースに接続できないため、操作を完了できませんでした。"
                           "入力中の内容は保存されていません。数分おいてから画面を開き直して、"
                           "もう一度操作してください。続く場合はシステム管理者に連絡してください。"),
    database.DISK_FULL: ("記録する領域（ディスク）が一杯のため、保存できませんでした。"
                         "入力中の内容は保存されていません（一部だけが保存されることもありません）。"
                         "閲覧・検索はこれまでどおりできます。システム管理者に連絡してください。"),
}

BUSY_MESSAGE = ("ただいま処理が混み合っているため、操作を完了できませんでした。"
                "少し時間をおいて、画面を開き直してからもう一度操作してください。")


def _retrying(full_dispatch_request):
    """The request is the unit of work: when the database picks it as a deadlock victim, refuses
    it for a serialization conflict, or stays locked (SQLite), the whole request — gate, view,
    its audit event — runs again, a few times with jitter; then a 503 page, never a bare 500.
    It is not run again once an audit event of the failed run has committed (that would leave
    two): that request answers 503 too."""
    def dispatch():
        committed = audit.committed_events()

        def before_retry(reason, attempt):
            current_app.logger.warning("request %s %s: %s; running it again (attempt %d)",
                                       request.method, request.endpoint, reason, attempt + 1)
            for upload in request.files.values():  # the failed run may have read the file
                upload.stream.seek(0)

        try:
            return database.run_retrying(
                full_dispatch_request, before_retry=before_retry,
                safe_to_repeat=lambda: audit.committed_events() == committed)
        except database.Busy as exc:
            current_app.logger.error("request %s %s: %s; answered 503", request.method,
                                     request.endpoint, exc)
            return _unavailable(BUSY_MESSAGE)
        except (DatabaseError, InterfaceError) as exc:
            reason = database.unavailable_reason(exc)
            if reason is None:
                raise
            # The kind and the exception's type only: the driver's text may quote values.
            current_app.logger.error("request %s %s: database %s (%s); answered 503",
                                     request.method, request.endpoint, reason, type(exc).__name__)
            return _unavailable(UNAVAILABLE_MESSAGES[reason])
    return dispatch


def _unavailable(message: str):
    """503 with a Japanese page: the transaction was rolled back, nothing of it was written.
    The page is drawn without the person's menu (it would need the database)."""
    g.staff = None
    g.session_state = None
    response = make_response(render_template("error.html", code=503, message=message), 503)
    response.headers["Retry-After"] = "5"
    return current_app.finalize_request(response)


def init_app(app):
    """Install the gate, the headers, the connection handling and the retry on the app."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.full_dispatch_request = _retrying(app.full_dispatch_request)
    app.before_request(_connect)
    app.before_request(_gate)
    app.after_request(_headers)
    app.teardown_request(_close)
    app.view_functions["static"].roles = frozenset({PUBLIC})

    @app.context_processor
    def _context():
        return {"current_staff": g.get("staff"), "session_state": g.get("session_state"),
                "role_names": ROLES, "nav_items": nav_items, "nav_groups": nav_groups}
