"""Faults: a worker killed mid-save, an import killed mid-run, the database going away, a full
disk. Each leaves either the whole record with its audit event or nothing, an intact chain, and
staff a Japanese page instead of a traceback.

The kill tests stop the process at a test-only fault point (kenshin.core.faults): inside the
transaction, after the record AND its audit event are written, before commit — the worst moment.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from urllib.parse import urlparse, urlunparse

import pytest

import models
from app import create_app
from kenshin import audit

from .conftest import BASE_CONFIG, TEST_PASSWORD, _reset_postgres, login, page_csrf
from .factories import INSTITUTION, VALID_ITEMS, make_institution, make_resident
from .http_servers import (Browser, enrolled, free_port, server_env, sign_in, start_gunicorn, stop,
                           token, wait_until_healthy)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
HX = {"HX-Request": "true"}
ENTRY_FORM = {"seiri_no": "", "atena_no": "000000000001", "name_kana": "ちば はなこ",
              "birth_date": "S35.5.10", "sex": "2", "exam_date": "R7.6.2", "sheet": "1",
              **VALID_ITEMS["gastric_xray"]}


def _server_env(app, pause_at=None, pause_file=None):
    extra = {}
    if pause_at:
        extra = dict(KENSHIN_TESTING="true", KENSHIN_FAULT_PAUSE_AT=pause_at,
                     KENSHIN_FAULT_PAUSE_FILE=str(pause_file))
    return server_env(app.config["DATABASE_URL"], **extra)


def _enrolled(login_id, roles=("clerk",)):
    return enrolled(login_id, "障害 太郎", roles)


def _wait_for(path, process=None, seconds=60):
    """The pid written by the process that reached the fault point."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as handle:
                text = handle.read().strip()
            if text:
                return int(text)
        assert process is None or process.poll() is None, "the process ended before the fault point"
        time.sleep(0.05)
    raise AssertionError("the fault point was never reached")


def _wait_gone(pid, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _chain_ok():
    result = audit.verify()
    assert result.ok, result.problem
    return result


def _screenings_have_their_events():
    """Every screening has its screening.create event, and no event names a missing screening."""
    screening_ids = {str(s.id) for s in models.Screening.select(models.Screening.id)}
    event_ids = {e.object_id for e in models.AuditEvent.select(models.AuditEvent.object_id)
                 .where(models.AuditEvent.action == "screening.create")}
    assert screening_ids == event_ids
    return screening_ids


# --- kill -9 of a gunicorn worker in the middle of saving a form ---------------------------------

def test_a_worker_killed_mid_save_leaves_nothing_and_the_form_saves_whole_afterwards(app, tmp_path):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        make_institution()
        make_resident()
        authenticator = _enrolled("clerk-kill")
        models.db.close()
    pause = tmp_path / "paused.pid"
    server, url = start_gunicorn(_server_env(app, "screening.create", pause))
    try:
        wait_until_healthy(server, url)
        browser = Browser()
        sign_in(browser, url, "clerk-kill", authenticator)
        status, page = browser.open(url + "/entry/")
        headers = {"X-CSRFToken": token(page), **HX}
        status, _ = browser.open(url + "/entry/batch", headers=headers, data={
            "institution_code": INSTITUTION, "setting": "1", "exam": "gastric_xray"})
        assert status == 200

        outcome = {}

        def save():
            try:
                outcome["first"] = browser.open(url + "/entry/save", data=ENTRY_FORM, headers=headers)
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                outcome["first"] = exc

        saving = threading.Thread(target=save)
        saving.start()
        worker = _wait_for(pause, server)
        os.kill(worker, signal.SIGKILL)
        saving.join(60)
        assert not isinstance(outcome["first"], tuple) or outcome["first"][0] >= 500
        _wait_gone(worker)

        with app.app_context():
            models.db.connect(reuse_if_open=True)
            assert models.Screening.select().count() == 0
            assert models.ScreeningKeying.select().count() == 0
            assert _screenings_have_their_events() == set()
            _chain_ok()
            models.db.close()

        # The clerk presses save again (the new worker): the whole record with its event.
        wait_until_healthy(server, url)
        status, html = browser.open(url + "/entry/save", data=ENTRY_FORM, headers=headers)
        assert status == 200 and "保存しました" in html
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            assert len(_screenings_have_their_events()) == 1
            assert models.ScreeningKeying.select().count() == 1
            _chain_ok()
            models.db.close()
    finally:
        stop(server)


# --- kill -9 of `flask import-results` mid-run ---------------------------------------------------

def _results_file(path, count):
    """`count` people in the registry and a clinic file with one colorectal result for each."""
    born = date(1950, 1, 1)
    rows = []
    with models.db.atomic():
        for n in range(count):
            atena = f"{n + 1:012d}"
            birth = born + timedelta(days=n)
            make_resident(atena_no=atena, birth=birth)
            rows.append(",".join(["", atena, "千葉 花子", "チバ ハナコ", birth.isoformat(), "2",
                                  "colorectal", "2025-06-02", INSTITUTION, "1", "positive"]))
    header = ("seiri_no,atena_no,name,name_kana,birth_date,sex,exam,exam_date,institution_code,"
              "setting,fobt_result")
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_an_import_killed_mid_run_leaves_nothing_and_the_file_imports_whole_afterwards(
        app, runner, tmp_path):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        make_institution()
        source = _results_file(tmp_path / "results.csv", 400)
        before = models.AuditEvent.select().count()
        models.db.close()
    pause = tmp_path / "paused.pid"
    process = subprocess.Popen(
        [os.path.join(BIN, "flask"), "--app", "app", "import-results", source], cwd=ROOT,
        env=_server_env(app, "import.results", pause),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pid = _wait_for(pause, process)
        assert pid == process.pid
        with app.app_context():  # on PostgreSQL the rows are there, written but not committed
            models.db.connect(reuse_if_open=True)
            assert models.Screening.select().count() == 0
            models.db.close()
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()

    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert models.Screening.select().count() == 0
        assert models.ImportBatch.select().count() == 0
        assert models.QueueItem.select().count() == 0
        assert models.AuditEvent.select().count() == before
        _chain_ok()
        models.db.close()

    result = runner.invoke(args=["import-results", source])
    assert result.exit_code == 0, result.output
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert models.Screening.select().count() == 400
        assert models.ImportBatch.select().count() == 1
        _chain_ok()
        models.db.close()


# --- PostgreSQL going away: a proxy between the app and the server -------------------------------

class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that the test can cut: drop every connection and refuse
    new ones (as a restarting server does), then accept again."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.pairs = []
        self.lock = threading.Lock()
        self.listener = None
        self.accept()

    def accept(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _accept_loop(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refusing
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            with TcpProxy._lock:
                TcpProxy._open.update((id(client), id(server)))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with TcpProxy._lock:
                TcpProxy._open.discard(id(source))
                TcpProxy._open.discard(id(target))
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    _lock = threading.Lock()
    _open: set = set()  # sockets whose pair is still passing data

    def wait_all_closed(self, seconds=30):
        """Until every proxied connection has ended (the server's goodbye has passed through)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with TcpProxy._lock:
                if not TcpProxy._open:
                    return
            time.sleep(0.01)
        raise AssertionError("the proxied connections did not end")

    def go_down(self):
        """Refuse new connections and drop every open one."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self):
        self.go_down()


@pytest.fixture
def proxied(postgres_url):
    """The app on the test PostgreSQL database, reached through a TcpProxy."""
    parsed = urlparse(postgres_url)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432)
    url = urlunparse(parsed._replace(netloc=f"{parsed.username or 'postgres'}@127.0.0.1:{proxy.port}"))
    application = create_app(dict(BASE_CONFIG, DATABASE_URL=url))
    with application.app_context():
        _reset_postgres()
        make_institution()
        person = make_resident()
        authenticator = _enrolled("clerk-pg")
        models.db.close()
    application.db_kind = "postgres"
    yield application, proxy, person.id, authenticator
    proxy.close()
    if not models.db.is_closed():
        models.db.close()
    models.db.obj.close_all()


class _Person:
    def __init__(self, login_id, authenticator):
        self.login_id, self.password, self.authenticator = login_id, TEST_PASSWORD, authenticator


def _backends_of(application):
    """The server pids of the app's own connections (through the proxy, from 127.0.0.1)."""
    database = urlparse(application.config["DATABASE_URL"]).path.lstrip("/")
    import psycopg2

    with psycopg2.connect(os.environ.get("KENSHIN_TEST_POSTGRES_URL",
                                         "postgresql://postgres@127.0.0.1:5432/postgres")) as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,))
            pids = [row[0] for row in cur.fetchall()]
            for pid in pids:  # waits until the backend has gone (PostgreSQL 14+)
                cur.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
    return pids


def _is_down_page(response):
    html = response.get_data(as_text=True)
    return (response.status_code == 503 and "データベースに接続できない" in html
            and "Traceback" not in html and "psycopg2" not in html and "OperationalError" not in html)


def test_postgres_going_away_gives_a_japanese_503_and_the_app_recovers_by_itself(proxied):
    application, proxy, resident_id, authenticator = proxied
    client = application.test_client()
    assert login(client, _Person("clerk-pg", authenticator)).get_json()["ok"]
    token = page_csrf(client, "/entry/")
    assert client.get(f"/residents/{resident_id}").status_code == 200

    proxy.go_down()  # the server restarts: every connection dropped, new ones refused
    page = client.get(f"/residents/{resident_id}")
    assert _is_down_page(page), (page.status_code, page.get_data(as_text=True)[:500])
    assert page.headers.get("Retry-After")
    saving = client.post("/entry/batch", headers={"X-CSRFToken": token, **HX},
                         data={"institution_code": INSTITUTION, "setting": "1", "exam": "gastric_xray"})
    assert _is_down_page(saving)
    assert _is_down_page(client.get("/"))

    proxy.accept()  # the server is back: the very next request works, nobody restarts the app
    assert client.get(f"/residents/{resident_id}").status_code == 200
    assert client.post("/entry/batch", headers={"X-CSRFToken": token, **HX}, data={
        "institution_code": INSTITUTION, "setting": "1", "exam": "gastric_xray"}).status_code == 200
    saved = client.post("/entry/save", data=ENTRY_FORM, headers={"X-CSRFToken": token, **HX})
    assert saved.status_code == 200 and "保存しました" in saved.get_data(as_text=True)

    # An administrator ends the app's connections (pg_terminate_backend): pooled connections are
    # found dead when taken from the pool and replaced; staff see nothing of it.
    for _ in range(3):
        assert _backends_of(application)
        proxy.wait_all_closed()
        assert client.get(f"/residents/{resident_id}").status_code == 200
    with application.app_context():
        models.db.connect(reuse_if_open=True)
        assert len(_screenings_have_their_events()) == 1
        _chain_ok()
        models.db.close()


# --- a full disk on SQLite -----------------------------------------------------------------------

def test_a_full_sqlite_disk_refuses_saves_whole_with_a_japanese_page_and_reads_go_on(app, login_as):
    if app.db_kind != "sqlite":
        pytest.skip("SQLITE_FULL through PRAGMA max_page_count is SQLite's; PostgreSQL's disk_full "
                    "(53100) takes the same path (database.unavailable_reason)")
    models.db.connect(reuse_if_open=True)
    make_institution()
    people = [make_resident(atena_no=f"{n:012d}", birth=date(1950, 1, 1) + timedelta(days=n))
              for n in range(1, 301)]
    client, _person = login_as("clerk")
    token = page_csrf(client, "/entry/")
    headers = {"X-CSRFToken": token, **HX}
    client.post("/entry/batch", headers=headers, data={
        "institution_code": INSTITUTION, "setting": "1", "exam": "gastric_xray"})
    # The disk is full: no page beyond those the database has now (every new connection).
    pages = models.db.execute_sql("PRAGMA page_count").fetchone()[0]
    models.db.obj.pragma("max_page_count", pages, permanent=True)
    models.db.close()

    refused = None
    for person in people:  # the free room inside the last pages fills up within a few forms
        form = dict(ENTRY_FORM, atena_no=person.atena_no,
                    birth_date=person.birth_date.isoformat(), name_kana="ちば はなこ")
        response = client.post("/entry/save", data=form, headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code in (200, 503), (response.status_code, html[:500])
        if response.status_code == 503:
            refused = person
            assert "ディスク" in html and "保存されていません" in html
            assert "Traceback" not in html and "sqlite" not in html.lower()
            break
        assert "保存しました" in html
    assert refused is not None, "the limit was never reached"

    models.db.connect(reuse_if_open=True)
    saved = _screenings_have_their_events()  # nothing partial: each saved one whole, with its event
    assert len(saved) == models.ScreeningKeying.select().count()
    assert not models.Screening.select().where(models.Screening.resident == refused.id).exists()
    _chain_ok()
    models.db.close()

    # Pages that write nothing still open; the form screen too.
    assert client.get("/").status_code == 200
    assert client.get("/entry/").status_code == 200

    # Room again (the administrator freed the disk): the same form saves, no restart.
    models.db.connect(reuse_if_open=True)
    models.db.obj.pragma("max_page_count", pages * 100, permanent=True)
    models.db.close()
    form = dict(ENTRY_FORM, atena_no=refused.atena_no, birth_date=refused.birth_date.isoformat())
    response = client.post("/entry/save", data=form, headers=headers)
    assert response.status_code == 200 and "保存しました" in response.get_data(as_text=True)
    models.db.connect(reuse_if_open=True)
    assert len(_screenings_have_their_events()) == len(saved) + 1
    _chain_ok()


def test_a_connection_that_cannot_be_closed_is_discarded_and_frees_its_pool_slot(proxied):
    application, proxy, _resident_id, _authenticator = proxied
    import database

    pool = models.db.obj
    with application.app_context():
        models.db.connect(reuse_if_open=True)
        models.db.push_transaction(object())  # peewee still thinks a transaction is open
        with pytest.raises(Exception):
            models.db.close()
        assert len(pool._in_use) == 1
        database.discard_connection()
        assert models.db.is_closed() and not pool._in_use
        models.db.connect()
        assert models.db.execute_sql("SELECT 1").fetchone() == (1,)
        models.db.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nobody listens there once the probe is closed


@pytest.mark.parametrize("args", [["import-results", "{file}"], ["audit-verify"], ["invitations", "export", "1",
                                                                                   "--output", "{out}"]])
def test_a_command_with_its_database_down_says_so_in_one_line_and_exits_2(tmp_path, args):
    source = tmp_path / "rows.csv"
    source.write_text("name_kana\n", encoding="utf-8")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "KENSHIN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_closed_port()}/none",
           "KENSHIN_SECRET_KEY": "x", "KENSHIN_AUDIT_KEY": "x"}
    argv = [a.format(file=source, out=tmp_path / "out.csv") for a in args]
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *argv], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith(argv[0] if argv[0] != "invitations"
                                                                          else "export")]
    assert said and ("the database cannot be used (unavailable)" in said[0]
                     or "could not walk the log" in said[0]), done.stderr


def test_commands_are_wrapped_once_however_many_apps_are_made():
    import cli

    for _ in range(3):
        create_app({**BASE_CONFIG, "DATABASE_URL": "sqlite:///:memory:"})
    callback = cli.import_results.callback
    # one wrapper: each test makes an app, and a wrapper per app ran thousands deep (RecursionError)
    assert callback.database_errors_said_plainly
    assert not getattr(callback.__wrapped__, "database_errors_said_plainly", False)
