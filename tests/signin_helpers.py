"""Steps the sign-in, lock and account tests share (they go through the real routes)."""
from datetime import timedelta

import models
from kenshin.access import sessions

from .conftest import csrf_from, page_csrf
from .factories import webauthn_step


def sid(client) -> str | None:
    """The session token the browser holds (inside Flask's signed cookie)."""
    with client.session_transaction() as flask_session:
        return flask_session.get("sid")


def session_row(client) -> models.UserSession:
    return sessions.get(sid(client))


def lock(client):
    """Press 画面ロック."""
    return client.post("/lock", headers={"X-CSRFToken": page_csrf(client)})


def unlock(client, person, *, token=None, authenticator=None, **assert_kwargs):
    """Lift the lock through the lock screen's WebAuthn step; returns the verify response."""
    token = token or csrf_from(client.get("/lock").get_data(as_text=True))
    return webauthn_step(client, "/lock", token, authenticator or person.authenticator,
                         **assert_kwargs)


def age_session(client, *, idle: int = 0, age: int = 0) -> None:
    """Move the current session's clock back: `idle` seconds since activity, `age` since start."""
    row = session_row(client)
    (models.UserSession.update(last_seen_at=row.last_seen_at - timedelta(seconds=idle),
                               created_at=row.created_at - timedelta(seconds=age))
     .where(models.UserSession.id == row.id).execute())


def events(action: str, **details):
    """Audit events of one action whose details contain `details`, oldest first."""
    rows = (models.AuditEvent.select().where(models.AuditEvent.action == action)
            .order_by(models.AuditEvent.seq))
    return [e for e in rows if all(e.details.get(k) == v for k, v in details.items())]


def reauth(client, person, *, authenticator=None, **assert_kwargs):
    """The fresh WebAuthn check on 認証器の管理."""
    token = page_csrf(client, "/account/")
    return webauthn_step(client, "/account/reauth", token, authenticator or person.authenticator,
                         **assert_kwargs)
