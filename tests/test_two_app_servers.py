"""Two app processes (gunicorn, as deployed) on two ports against one PostgreSQL: a person signs
in on one and carries on on the other, and both write audited views at once without forking
the chain. Sessions, challenges, failed-login counts and the chain all live in the database."""
import threading

import pytest

import models
from app import create_app
from kenshin import audit

from .conftest import BASE_CONFIG, _reset_postgres
from .factories import make_resident
from .http_servers import (Browser, enrolled, server_env, sign_in, start_gunicorn, stop, token,
                           wait_until_healthy)


@pytest.fixture
def two_servers(postgres_url):
    app = create_app(dict(BASE_CONFIG, DATABASE_URL=postgres_url))
    with app.app_context():
        _reset_postgres()
    servers, urls = [], []
    try:
        for _ in range(2):
            server, url = start_gunicorn(server_env(postgres_url))
            servers.append(server)
            urls.append(url)
        for server, url in zip(servers, urls):
            wait_until_healthy(server, url)
        yield app, urls
    finally:
        for server in servers:
            stop(server)
        models.db.close()


def _clerk(app):
    with app.app_context():
        authenticator = enrolled("clerk-ha", "二重 太郎")
        resident = make_resident("000000000777")
        models.db.close()
    return authenticator, resident.id


def test_sign_in_on_one_server_and_carry_on_on_the_other(two_servers):
    app, (first, second) = two_servers
    authenticator, resident_id = _clerk(app)
    browser = Browser()
    sign_in(browser, first, "clerk-ha", authenticator)
    status, menu = browser.open(second + "/")
    assert status == 200 and "二重 太郎" in menu
    status, page = browser.open(second + f"/residents/{resident_id}")
    assert status == 200

    # Both servers write audited views at once: one chain, no fork, nothing lost.
    errors, per_thread = [], 15

    def view(url):
        try:
            for _ in range(per_thread):
                code, _html = browser.open(url + f"/residents/{resident_id}")
                assert code == 200, code
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=view, args=(url,)) for url in (first, second) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with app.app_context():
        views = (models.AuditEvent.select()
                 .where((models.AuditEvent.action == "resident.view")
                        & (models.AuditEvent.resident == resident_id)).count())
        assert views == 1 + len(threads) * per_thread
        result = audit.verify()
        assert result.ok, result.problem
        seqs = [e.seq for e in models.AuditEvent.select(models.AuditEvent.seq)]
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
        models.db.close()

    # Signing out on one server ends the session on the other.
    status, menu = browser.open(first + "/")
    status, _ = browser.open(second + "/logout", data={"csrf_token": token(menu)})
    assert status in (303, 302)
    status, _ = browser.open(first + "/")
    assert status == 303
