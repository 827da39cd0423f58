"""Operations: the load balancer's health check and the maintainer's screen (no personal data)."""
from flask import Blueprint, jsonify

from kenshin.operations import health

from .web import own_connection, public

bp = Blueprint("operations", __name__)


@bp.get("/healthz")
@public
@own_connection
def healthz():
    """200 {"status": "ok", "schema": N} when the database answers; 503 otherwise. No session."""
    ok, version = health.check()
    if ok:
        return jsonify({"status": "ok", "schema": version})
    return jsonify({"status": "unavailable"}), 503
