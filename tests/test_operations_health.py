"""GET /healthz: for load balancers — no session, no personal data, 503 when the database is gone."""
import database
import models
from app import create_app

from .conftest import BASE_CONFIG
from .factories import make_resident


def test_healthz_answers_ok_with_the_schema_version_and_sets_no_session(app, client, db):
    make_resident("000000000001", name="健康　太郎")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "schema": database.LATEST_STEP}
    assert "Set-Cookie" not in response.headers
    assert "健康" not in response.get_data(as_text=True)
    assert client.head("/healthz").status_code == 200


def test_healthz_writes_no_audit_event(app, client, db):
    before = models.AuditEvent.select().count()
    client.get("/healthz")
    assert models.AuditEvent.select().count() == before


def test_healthz_is_503_when_the_database_cannot_be_reached():
    unreachable = create_app(dict(BASE_CONFIG,
                                  DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere"))
    response = unreachable.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] != "ok"


def test_healthz_is_503_before_the_schema_exists(tmp_path):
    fresh = create_app(dict(BASE_CONFIG, DATABASE_URL=f"sqlite:///{tmp_path}/new.db"))
    response = fresh.test_client().get("/healthz")
    assert response.status_code == 503
    models.db.close()
