"""kenshin — 検診情報システム: the app factory. The command line lives in cli.py."""
import os
import secrets
import sys

from flask import Flask

import database
from kenshin import audit
from kenshin.access import passwords
from kenshin.core import faults

DEFAULTS = {
    "LOCK_AFTER_SECONDS": 300,
    "LOGOFF_AFTER_SECONDS": 1800,
    "SESSION_MAX_SECONDS": 43200,
    "ENROLL_LINK_HOURS": 24,
    "RP_ID": "localhost",
    "RP_NAME": "検診情報システム",
    "ORIGIN": "http://localhost:8000",
    "CITY_NAME": "千葉市",
    "OFFICE_NAME": "保健福祉局 健康福祉部 健康支援課",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    # An upload (registry extract, clinic file) may be this large; deploy/ says the same to nginx.
    "MAX_CONTENT_LENGTH": 256 * 1024 * 1024,
    "WTF_CSRF_SSL_STRICT": True,
    # How long a SQLite writer waits for another's transaction before the request is retried.
    "SQLITE_BUSY_TIMEOUT_MS": 10000,
    "RETENTION_YEARS": 5,  # 年度 a person removed from the registry is kept (kenshin.operations)
}


def create_app(test_config=None):
    """Build the app: defaults, then KENSHIN_* from the environment, then the test dict."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("KENSHIN")
    if test_config:
        app.config.update(test_config)
    _complete_config(app)

    if app.config.get("BEHIND_PROXY"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    database.bind(app.config["DATABASE_URL"], int(app.config["SQLITE_BUSY_TIMEOUT_MS"]))
    audit.configure(app.config["AUDIT_KEY"])
    _password_cost(app)
    _fault_points(app)

    from blueprints import register_all
    register_all(app)
    from cli import register_cli
    register_cli(app)
    return app


def _complete_config(app):
    """Fill what the environment left out: a SQLite file and local secrets under instance/."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.setdefault("DATABASE_URL", "sqlite:///" + os.path.join(app.instance_path, "kenshin.db"))
    for name, file_name in (("SECRET_KEY", "secret_key"), ("AUDIT_KEY", "audit_key")):
        if not app.config.get(name):
            app.config[name] = _instance_secret(app, file_name)
    # Set, not setdefault: Flask already defines these two, so a default would never apply.
    # Served over https, the cookie is Secure and __Host- (no Domain, Path=/), and web.py sends HSTS.
    secure = str(app.config["ORIGIN"]).lower().startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["SESSION_COOKIE_NAME"] = "__Host-kenshin" if secure else "kenshin"
    app.config["SESSION_COOKIE_DOMAIN"] = None
    app.config["SESSION_COOKIE_PATH"] = "/"
    # The CSRF token lives as long as a session may: a lock screen left open must still unlock.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(app.config["SESSION_MAX_SECONDS"]))


def _password_cost(app):
    """A cheaper scrypt cost is for tests only: outside TESTING the setting is refused."""
    n = app.config.get("PASSWORD_HASH_N")
    if n is None:
        passwords.configure()
        return
    if not app.testing:
        raise RuntimeError("PASSWORD_HASH_N may be set only when TESTING")
    passwords.configure(int(n))


def _fault_points(app):
    """KENSHIN_FAULT_PAUSE_AT / _FILE stop a process inside a transaction (kenshin.core.faults):
    for the fault tests only, refused outside TESTING like the cheap password cost."""
    action = app.config.get("FAULT_PAUSE_AT")
    if not action:
        faults.configure(None, None)
        return
    if not app.testing:
        raise RuntimeError("FAULT_PAUSE_AT may be set only when TESTING")
    faults.configure(str(action), str(app.config["FAULT_PAUSE_FILE"]))


def _instance_secret(app, file_name: str) -> str:
    """A secret kept in instance/ for a local installation; deployments set KENSHIN_* instead."""
    path = os.path.join(app.instance_path, file_name)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    with open(path) as handle:
        return handle.read().strip()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with: flask --app app <command>, or gunicorn 'app:create_app()'")
