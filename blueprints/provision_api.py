"""The intermediate server's interface (FORMATS.md "Provision"): JSON in, JSON out.

`POST /provision/queries` and `GET /provision/queries/<query_id>`, for another system only:
- no `KENSHIN_PROVISION_TOKEN` configured → 404 (provision is off; the app logs that);
- a request carrying a staff session cookie → 403 (never reachable from a staff browser);
- a remote address outside `KENSHIN_PROVISION_ALLOW` (default 127.0.0.1) → 403;
- no or a wrong `Authorization: Bearer` token → 401 (compared in constant time).
No staff session is loaded and CSRF does not apply (the blueprint is exempt: the bearer token,
which a browser never sends on its own, is the protection). Domain: kenshin.provision.queries.
"""
import hmac
import ipaddress

from flask import Blueprint, current_app, jsonify, request

from kenshin.core.errors import Invalid
from kenshin.provision import queries

from .web import closed_days, has_staff_cookie, machine, terminal

bp = Blueprint("provision_api", __name__, url_prefix="/provision/queries")
MAX_BODY = 64 * 1024


def policy() -> queries.Policy:
    cfg = current_app.config
    return queries.Policy(removed_years=int(cfg.get("PROVISION_REMOVED_YEARS", 5)),
                          hold_working_days=int(cfg.get("PROVISION_HOLD_WORKING_DAYS", 5)),
                          closed_days=closed_days())


def _allowed(address: str) -> bool:
    raw = current_app.config.get("PROVISION_ALLOW", "127.0.0.1")
    entries = raw if isinstance(raw, (list, tuple)) else str(raw).replace(" ", "").split(",")
    try:
        remote = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in entries:
        if not entry:
            continue
        try:
            if remote in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            current_app.logger.error("KENSHIN_PROVISION_ALLOW has an entry that is no address: %r", entry)
    return False


def _json(body: dict, code: int):
    response = jsonify(body)
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="kenshin-provision"'
    return response


@bp.before_request
def _guard():
    """Cookie, configuration, address, token — in that order; nothing else runs before it."""
    if has_staff_cookie():
        return _json({"status": "refused", "reason": "staff_session"}, 403)
    token = str(current_app.config.get("PROVISION_TOKEN") or "")  # env JSON may make it a number
    if not token:
        current_app.logger.warning(
            "provision is off: KENSHIN_PROVISION_TOKEN is not set; %s %s answered 404",
            request.method, request.path.split("/queries")[0] + "/queries")
        return _json({"status": "not_found"}, 404)
    if not _allowed(request.remote_addr or ""):
        queries.record_unauthenticated(queries.network_actor(None, terminal()), "address")
        return _json({"status": "refused", "reason": "address_not_allowed"}, 403)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        queries.record_unauthenticated(queries.network_actor(None, terminal()),
                                       "no_token" if not header else "bad_token")
        return _json({"status": "unauthorized"}, 401)
    return None


@bp.post("")
@machine
def receive():
    """One query from the intermediate server."""
    if (request.content_length or 0) > MAX_BODY:
        return _json({"status": "invalid", "errors": {"-": ["the body is too large"]}}, 413)
    body = request.get_json(force=True, silent=True)
    actor = queries.network_actor(None, terminal())
    if body is None:
        queries.record_invalid({"-": ["not JSON"]}, actor)
        return _json({"status": "invalid", "errors": {"-": ["the body must be JSON"]}}, 400)
    try:
        asked = queries.parse(body)
    except Invalid as exc:
        queries.record_invalid(exc.errors, actor)
        return _json({"status": "invalid", "errors": exc.errors}, 400)
    answer = queries.receive(asked, terminal(), policy())
    return _json(answer.body, answer.code)


@bp.get("/<query_id>")
@machine
def status(query_id):
    """The current status of a query and, once approved, the answer."""
    if not queries.QUERY_ID.fullmatch(query_id):
        return _json({"status": "unknown_query"}, 404)
    answer = queries.fetch(query_id, terminal())
    return _json(answer.body, answer.code)
