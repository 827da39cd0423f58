"""Operations: the load balancer's health check and the maintainer's screen (no personal data)."""
from flask import Blueprint, current_app, jsonify

from kenshin.access.roles import OPERATIONS_ROLES
from kenshin.operations import health, jobs, status

from .web import menu, own_connection, public, render, requires

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


@bp.get("/operations/")
@requires(*OPERATIONS_ROLES)
@menu("運用状況（保守）", 780)
def maintainer():
    """運用状況: version, schema, sizes, backups, verification, job runs, free disk — no person."""
    paths = [current_app.instance_path, current_app.config.get("BACKUP_DIR")]
    return render("operations/status.html", state=status.status(paths),
                  labels=jobs.JOB_LABELS, stale_hours=int(status.BACKUP_STALE.total_seconds() // 3600))
