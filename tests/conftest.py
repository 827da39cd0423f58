"""Fixtures: every database test runs on SQLite and on PostgreSQL (a throwaway database per run).

Without PostgreSQL the postgres half skips with a loud reason; with REQUIRE_POSTGRES=1 that
skip is a failure instead.
"""
import os
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

import pytest
from flask.testing import FlaskCliRunner

import database
import models
from app import create_app
from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import staff as staff_domain
from kenshin.access.passwords import hash_password

from .factories import register_authenticator, webauthn_step
from .softauthn import SoftAuthenticator

POSTGRES_URL = os.environ.get("KENSHIN_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
ORIGIN = "http://localhost"
TEST_PASSWORD = "correct horse battery staple"

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "AUDIT_KEY": "test-audit-key",
    "ORIGIN": ORIGIN,
    "RP_ID": "localhost",
    "PASSWORD_HASH_N": 2 ** 4,  # a cheap scrypt cost for tests only (production: 2**14)
}


def _skip_or_fail(reason: str):
    if REQUIRE_POSTGRES:
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(f"!!! PostgreSQL tests SKIPPED: {reason} !!!")


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test run, with the schema, dropped at the end."""
    try:
        import psycopg2
    except ImportError:
        _skip_or_fail("psycopg2 is not installed")
    try:
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no PostgreSQL"
        _skip_or_fail(f"cannot connect to {POSTGRES_URL}: {exc}")
    admin.autocommit = True
    name = f"kenshin_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    url = urlunparse(urlparse(POSTGRES_URL)._replace(path="/" + name))
    bound = database.bind(url)
    database.create_schema()
    bound.close()
    try:
        yield url
    finally:
        if not models.db.is_closed():
            models.db.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _reset_postgres():
    """Empty every table between tests (the audit guard is bypassed for the test owner only)."""
    tables = ", ".join(f'"{m._meta.table_name}"' for m in models.ALL_MODELS
                       if m is not models.SchemaMigration)  # the schema stays at its version
    with models.db.atomic():
        models.db.execute_sql("SET LOCAL session_replication_role = replica")
        models.db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path):
    """The app on a fresh database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/kenshin-test.db"
    else:
        url = request.getfixturevalue("postgres_url")
    config = dict(BASE_CONFIG, DATABASE_URL=url)
    marker = request.node.get_closest_marker("config")
    if marker:
        config.update(marker.kwargs)
    application = create_app(config)
    with application.app_context():
        if request.param == "sqlite":
            database.create_schema()
        else:
            _reset_postgres()
        models.db.close()
    application.db_kind = request.param
    yield application
    if not models.db.is_closed():
        models.db.close()


@pytest.fixture
def db(app):
    """A connection to the app's database for arranging and inspecting data.

    It pushes no app context: the test client's requests would reuse it and share `g` between
    requests (a stale cached CSRF token, the previous request's staff), unlike a real server.
    """
    models.db.connect(reuse_if_open=True)
    yield models.db
    if not models.db.is_closed():
        models.db.close()


@pytest.fixture
def client(app):
    return app.test_client()


class _CliRunner(FlaskCliRunner):
    """Runs a command inside an app context, as `flask --app app ...` (FlaskGroup) does."""

    def invoke(self, *args, **kwargs):
        with self.app.app_context():
            return super().invoke(*args, **kwargs)


@pytest.fixture
def runner(app):
    return _CliRunner(app)


@pytest.fixture
def rp(app):
    return passkeys.RelyingParty(app.config["RP_ID"], app.config["RP_NAME"], app.config["ORIGIN"])


@dataclass
class Person:
    staff: models.Staff
    password: str
    authenticator: SoftAuthenticator

    @property
    def login_id(self):
        return self.staff.login_id


@pytest.fixture
def make_staff(db, rp):
    """Create an enrolled staff member with a password and a registered software authenticator."""
    counter = iter(range(1, 10_000))

    def make(*roles, login_id=None, name="検診 太郎", division="健康支援課", enrolled=True):
        roles = roles or ("clerk",)
        login_id = login_id or f"{roles[0]}{next(counter):02d}"
        person, _token = staff_domain.create(login_id, name, division, roles,
                                             audit.Actor.system("pytest"))
        authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
        if enrolled:
            register_authenticator(rp, person, authenticator)
            with models.db.atomic():
                person.password_hash = hash_password(TEST_PASSWORD)
                person.enroll_token_hash = None
                person.save()
        return Person(models.Staff.get_by_id(person.id), TEST_PASSWORD, authenticator)
    return make


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def login(client, person: Person, *, password=None, authenticator=None, **assert_kwargs):
    """Sign in through the real two-factor flow; returns the last response."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "login_id": person.login_id,
                                           "password": password or person.password})
    if response.status_code != 200 or "生体認証でログイン" not in response.get_data(as_text=True):
        return response
    token = csrf_from(response.get_data(as_text=True))
    return webauthn_step(client, "/login", token, authenticator or person.authenticator,
                         **assert_kwargs)


@pytest.fixture
def login_as(client, make_staff):
    """A client signed in as a new staff member holding `roles`; returns (client, person)."""
    def sign_in(*roles):
        person = make_staff(*roles)
        response = login(client, person)
        assert response.status_code == 200 and response.get_json()["ok"], response.get_data()
        return client, person
    return sign_in


def page_csrf(client, path="/") -> str:
    """A CSRF token from a page of the signed-in client (for POSTs made by tests)."""
    return csrf_from(client.get(path).get_data(as_text=True))
