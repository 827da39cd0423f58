"""The app as deployed, over real HTTP: gunicorn started on a free loopback port, a cookie-keeping
browser, and a clerk enrolled (password + software authenticator) and signed in through the
real login. Shared by the tests that need processes, not Flask's test client (two app servers,
a worker killed mid-save, a database restarted under use)."""
import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import models
from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import staff as staff_domain
from kenshin.access.passwords import hash_password

from .conftest import BASE_CONFIG, CSRF, TEST_PASSWORD
from .softauthn import SoftAuthenticator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """Cookies and CSRF tokens over real HTTP, shared between servers on the same host."""

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


def token(html):
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1) or match.group(2)


def server_env(database_url, **extra):
    """The environment of an app process on `database_url` with the tests' keys."""
    return dict(os.environ, PYTHONPATH=ROOT, KENSHIN_DATABASE_URL=database_url,
                KENSHIN_SECRET_KEY=BASE_CONFIG["SECRET_KEY"], KENSHIN_AUDIT_KEY=BASE_CONFIG["AUDIT_KEY"],
                KENSHIN_ORIGIN="http://localhost", KENSHIN_RP_ID="localhost", **extra)


def start_gunicorn(env, workers=2):
    """gunicorn serving `app:create_app()` on a free loopback port: (process, base URL)."""
    port = free_port()
    server = subprocess.Popen(
        [os.path.join(BIN, "gunicorn"), "--workers", str(workers), "--timeout", "300",
         "--bind", f"127.0.0.1:{port}", "app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return server, f"http://127.0.0.1:{port}"


def stop(server):
    server.terminate()
    server.wait(timeout=30)
    server.stderr.close()


def wait_until_healthy(server, url):
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


def enrolled(login_id, name, roles=("clerk",)):
    """A staff member with a password and a software authenticator (inside an app context)."""
    rp = passkeys.RelyingParty("localhost", "検診情報システム", "http://localhost")
    person, _enrol_token = staff_domain.create(login_id, name, "健康支援課", roles,
                                               audit.Actor.system("pytest"))
    authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
    options, challenge = passkeys.registration_options(rp, person)
    with models.db.atomic():
        passkeys.register(rp, person, challenge, authenticator.register(options), "テスト用")
        person.password_hash = hash_password(TEST_PASSWORD)
        person.enroll_token_hash = None
        person.save()
    return authenticator


def sign_in(browser, url, login_id, authenticator):
    """The real login over HTTP: password, then the WebAuthn assertion."""
    status, html = browser.open(url + "/login")
    assert status == 200
    status, html = browser.open(url + "/login", data={"csrf_token": token(html),
                                                      "login_id": login_id,
                                                      "password": TEST_PASSWORD})
    assert status == 200 and "生体認証でログイン" in html, html[:300]
    csrf = token(html)
    status, options = browser.open(url + "/login/options", data={}, headers={"X-CSRFToken": csrf})
    assert status == 200, options
    status, result = browser.open(url + "/login/verify",
                                  json_body=authenticator.assert_(json.loads(options)),
                                  headers={"X-CSRFToken": csrf})
    assert status == 200 and json.loads(result)["ok"], result
