"""The load balancer's question: can this node reach its database, and at which schema version."""
from __future__ import annotations

import database
from models import db


def check() -> tuple[bool, int | None]:
    """(reachable, schema version). Never raises: an unreachable database is an answer here.

    A database without a schema counts as not ready: a node must not be sent traffic there."""
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1").fetchone()
        version = database.schema_version()
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ok"
        return False, None
    finally:
        try:
            if not db.is_closed():
                db.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close
            pass
    return version is not None, version
