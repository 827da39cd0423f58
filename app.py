"""kenshin — 検診情報システム: the app factory and the command line.

    flask --app app init-db | demo-data | create-user | import-residents | audit-verify ...
"""
import os
import secrets
import sys

import click
from flask import Flask

import models
from kenshin import audit

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
    "MAX_CONTENT_LENGTH": 512 * 1024 * 1024,
    "WTF_CSRF_SSL_STRICT": True,
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

    models.bind(app.config["DATABASE_URL"])
    audit.configure(app.config["AUDIT_KEY"])

    from blueprints import register_all
    register_all(app)
    register_cli(app)
    return app


def _complete_config(app):
    """Fill what the environment left out: a SQLite file and local secrets under instance/."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.setdefault("DATABASE_URL", "sqlite:///" + os.path.join(app.instance_path, "kenshin.db"))
    for name, file_name in (("SECRET_KEY", "secret_key"), ("AUDIT_KEY", "audit_key")):
        if not app.config.get(name):
            app.config[name] = _instance_secret(app, file_name)
    secure = app.config["ORIGIN"].startswith("https://")
    app.config.setdefault("SESSION_COOKIE_SECURE", secure)
    app.config.setdefault("SESSION_COOKIE_NAME", "__Host-kenshin" if secure else "kenshin")
    # The CSRF token lives as long as a session may: a lock screen left open must still unlock.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(app.config["SESSION_MAX_SECONDS"]))


def _instance_secret(app, file_name: str) -> str:
    """A secret kept in instance/ for a local installation; deployments set KENSHIN_* instead."""
    path = os.path.join(app.instance_path, file_name)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    with open(path) as handle:
        return handle.read().strip()


def register_cli(app):
    """Wire the command-line commands to domain functions."""
    for command in (init_db, demo_data, create_user, first_admin, reset_user, audit_verify,
                    audit_heads, import_residents, import_institutions, import_results):
        app.cli.add_command(command)


def _ensure_schema():
    """Create the schema on a new database; leave an existing one alone (the app role may not CREATE)."""
    if not models.db.table_exists("schema_info"):
        models.create_schema()


def _fail(message: str, code: int = 2):
    click.echo(message, err=True)
    sys.exit(code)


@click.command("init-db")
def init_db():
    """Create or upgrade the schema (safe to run twice)."""
    click.echo(f"schema {models.create_schema()} (version {models.SCHEMA_VERSION})")


@click.command("demo-data")
@click.option("--residents", type=click.IntRange(1, 5_000_000), default=20000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--years", type=click.IntRange(1, 10), default=3, show_default=True,
              help="how many 年度 of screenings, ending with the current one")
@click.option("--if-empty", is_flag=True, help="do nothing (exit 0) when residents exist")
def demo_data(residents, seed, years, if_empty):
    """Load realistic synthetic residents, institutions and screenings into an empty database."""
    from kenshin import demo

    _ensure_schema()
    if if_empty and models.Resident.select().exists():
        click.echo("demo-data: the database already has residents; nothing loaded")
        return
    try:
        counts = demo.generate(residents=residents, seed=seed, years=years,
                               actor=audit.Actor.system(), progress=click.echo)
    except demo.NotEmpty as exc:
        _fail(str(exc), 1)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@click.command("create-user")
@click.argument("login_id")
@click.option("--name", required=True, help="氏名")
@click.option("--division", required=True, help="所属")
@click.option("--role", "roles", multiple=True, required=True,
              help="clerk | supervisor | admin | auditor | maintainer (repeatable)")
def create_user(login_id, name, division, roles):
    """Create a staff member and print their one-time enrollment link."""
    from flask import current_app
    from kenshin import staff
    from kenshin.errors import Invalid

    _ensure_schema()
    try:
        _, token = staff.create(login_id, name, division, roles, audit.Actor.system(),
                                link_hours=current_app.config["ENROLL_LINK_HOURS"])
    except Invalid as exc:
        _fail("\n".join(f"{k}: {m}" for k, ms in exc.errors.items() for m in ms), 1)
    click.echo(f"{current_app.config['ORIGIN']}/enroll/{token}")


@click.command("first-admin")
@click.option("--login", "login_id", default="admin", show_default=True)
def first_admin(login_id):
    """For a new office: create the first administrator if there is none; print the enrollment link."""
    from flask import current_app
    from kenshin import staff

    _ensure_schema()
    link_hours = current_app.config["ENROLL_LINK_HOURS"]
    person, token = staff.first_admin(login_id, audit.Actor.system(), link_hours)
    if token is None:
        click.echo(f"first-admin: an enrolled administrator exists ({person.login_id}); nothing to do")
        return
    click.echo(f"初回管理者 {person.login_id} の利用登録リンク（{link_hours}時間有効・1回限り）:")
    click.echo(f"{current_app.config['ORIGIN']}/enroll/{token}")


@click.command("reset-user")
@click.argument("login_id")
def reset_user(login_id):
    """Recovery when no administrator can sign in (the only one lost their key): revoke the
    person's keys, clear the password, end their sessions and print a new enrollment link."""
    from flask import current_app
    from kenshin import staff
    from kenshin.errors import Refused

    person = models.Staff.get_or_none(models.Staff.login_id == login_id)
    if person is None:
        _fail(f"reset-user: no staff member {login_id}", 1)
    link_hours = current_app.config["ENROLL_LINK_HOURS"]
    try:
        _, token = staff.reset(person.id, audit.Actor.system(), link_hours)
    except Refused as exc:
        _fail(f"reset-user: {exc.reason}", 1)
    click.echo(f"{login_id} の利用登録リンク（{link_hours}時間有効・1回限り）:")
    click.echo(f"{current_app.config['ORIGIN']}/enroll/{token}")


@click.command("audit-verify")
@click.option("--head", "expected_head", help="a head hash kept outside the system")
def audit_verify(expected_head):
    """Walk the audit chain: exit 0 with the count and head, 1 naming the first bad event."""
    import re

    if expected_head is not None and not re.fullmatch(r"[0-9a-f]{64}", expected_head.strip()):
        _fail("audit-verify: --head must be 64 hexadecimal digits (as audit-verify printed it)")
    try:
        result = audit.verify(expected_head.strip() if expected_head else None)
    except Exception as exc:  # noqa: BLE001 - the command failed; exit 2, never 0 or 1
        _fail(f"audit-verify could not walk the log: {type(exc).__name__}: {exc}")
    if result.ok:
        click.echo(f"ok events={result.count} head={result.head}")
        return
    click.echo(f"NG: {result.problem}")
    sys.exit(1)


@click.command("audit-heads")
@click.option("--from", "start", required=True, help="first day (Japan time), e.g. 2026-11-01")
@click.option("--to", "end", required=True, help="last day (Japan time)")
def audit_heads(start, end):
    """Print the last hash of each day, for the city to keep outside the system."""
    from kenshin.dates import DateError, parse_date

    try:
        first, last = parse_date(start), parse_date(end)
    except DateError as exc:
        _fail(f"date: {exc}")
    for day, seq, digest in audit.daily_heads(first, last):
        click.echo(f"{day.isoformat()} seq={seq} head={digest}")


def _import_command(name: str, doc: str, module_name: str, entry: str):
    """An import command of FORMATS.md: all or nothing, exit 1 with every problem, 2 if unreadable."""
    @click.command(name, help=doc)
    @click.argument("path")
    @click.option("--encoding", type=click.Choice(["utf-8", "utf8", "cp932"], case_sensitive=False),
                  default="utf-8", show_default=True, help="cp932 for Windows Shift_JIS files")
    def command(path, encoding):
        import importlib

        from kenshin import csvimport

        module = importlib.import_module(f"kenshin.{module_name}")
        _ensure_schema()
        actor = audit.Actor.system()
        try:
            source = csvimport.Source.from_path(path, encoding)
        except csvimport.CannotOpen as exc:
            csvimport.record_unreadable(module.ACTION, os.path.basename(path), exc.reason, actor)
            _fail(f"{name}: {exc.reason}", 2)
        _import_outcome(getattr(module, entry)(source, actor))
    return command


import_residents = _import_command(
    "import-residents", "Import a resident extract (住民記録連携ファイル): all or nothing, FORMATS.md.",
    "resident_import", "run")
import_institutions = _import_command(
    "import-institutions",
    "Import cooperating medical institutions (協力医療機関): all or nothing, FORMATS.md.",
    "institutions", "import_file")
import_results = _import_command(
    "import-results",
    "Import a screening results file (検診結果ファイル): matching, queue, duplicates, FORMATS.md.",
    "result_import", "run")


def _import_outcome(result):
    """Print a file's problems (exit 1) or its one-line summary (exit 0)."""
    if result.problems:
        click.echo("\n".join(result.lines()))
        sys.exit(1)
    click.echo(result.summary())


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with: flask --app app <command>, or gunicorn 'app:create_app()'")
