"""Two app processes (gunicorn, as deployed) on two ports against one PostgreSQL: a person signs
in on one and carries on on the other, and both write audited views at once without forking
the chain. Sessions, challenges, failed-login counts and the chain all live in the database."""
import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import models
from app import create_app
from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import staff as staff_domain
from kenshin.access.passwords import hash_password

from .conftest import BASE_CONFIG, CSRF, TEST_PASSWORD, _reset_postgres
from .factories import make_resident
from .softauthn import SoftAuthenticator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """Cookies and CSRF tokens over real HTTP, shared between the two servers (same host)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect)

    def open(self, url, data=None, headers=None, json_body=None):
        body = None
        headers = dict(headers or {})
        if json_body is not None:
            body = json_body.encode() if isinstance(json_body, str) else json_body
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(url, data=body, headers=headers,
                                         method="POST" if body is not None or data == {} else "GET")
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _token(html):
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1) or match.group(2)


@pytest.fixture
def two_servers(postgres_url):
    app = create_app(dict(BASE_CONFIG, DATABASE_URL=postgres_url))
    with app.app_context():
        _reset_postgres()
    env = dict(os.environ, PYTHONPATH=ROOT, KENSHIN_DATABASE_URL=postgres_url,
               KENSHIN_SECRET_KEY=BASE_CONFIG["SECRET_KEY"], KENSHIN_AUDIT_KEY=BASE_CONFIG["AUDIT_KEY"],
               KENSHIN_ORIGIN="http://localhost", KENSHIN_RP_ID="localhost")
    servers, urls = [], []
    try:
        for _ in range(2):
            port = _free_port()
            servers.append(subprocess.Popen(
                [GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{port}", "app:create_app()"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            urls.append(f"http://127.0.0.1:{port}")
        for server, url in zip(servers, urls):
            _wait_until_healthy(server, url)
        yield app, urls
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
            server.stderr.close()
        models.db.close()


def _wait_until_healthy(server, url):
    """Poll /healthz until the process answers (it must start within a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    server.terminate()
    raise AssertionError(f"{url} did not become healthy: {server.stderr.read().decode()[-3000:]}")


def _clerk(app):
    with app.app_context():
        rp = passkeys.RelyingParty("localhost", "検診情報システム", "http://localhost")
        person, _token = staff_domain.create("clerk-ha", "二重 太郎", "健康支援課", ("clerk",),
                                             audit.Actor.system("pytest"))
        authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
        options, challenge = passkeys.registration_options(rp, person)
        with models.db.atomic():
            passkeys.register(rp, person, challenge, authenticator.register(options), "テスト用")
            person.password_hash = hash_password(TEST_PASSWORD)
            person.enroll_token_hash = None
            person.save()
        resident = make_resident("000000000777")
        models.db.close()
    return authenticator, resident.id


def _sign_in(browser, url, authenticator):
    status, html = browser.open(url + "/login")
    assert status == 200
    status, html = browser.open(url + "/login", data={"csrf_token": _token(html),
                                                      "login_id": "clerk-ha",
                                                      "password": TEST_PASSWORD})
    assert status == 200 and "生体認証でログイン" in html
    token = _token(html)
    status, options = browser.open(url + "/login/options", data={},
                                   headers={"X-CSRFToken": token})
    assert status == 200, options
    answer = authenticator.assert_(json.loads(options))
    status, result = browser.open(url + "/login/verify", json_body=answer,
                                  headers={"X-CSRFToken": token})
    assert status == 200 and json.loads(result)["ok"], result


def test_sign_in_on_one_server_and_carry_on_on_the_other(two_servers):
    app, (first, second) = two_servers
    authenticator, resident_id = _clerk(app)
    browser = Browser()
    _sign_in(browser, first, authenticator)
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
    status, _ = browser.open(second + "/logout", data={"csrf_token": _token(menu)})
    assert status in (303, 302)
    status, _ = browser.open(first + "/")
    assert status == 303
