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
from kenshin.access import passkeys
from kenshin.access import staff as staff_domain
from kenshin.access.passwords import hash_password

from .conftest import BASE_CONFIG, TEST_PASSWORD, _reset_postgres, login, page_csrf
from .factories import INSTITUTION, VALID_ITEMS, make_institution, make_resident
from .softauthn import SoftAuthenticator
from .test_two_app_servers import Browser, _free_port, _token, _wait_until_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
HX = {"HX-Request": "true"}
ENTRY_FORM = {"seiri_no": "", "atena_no": "000000000001", "name_kana": "ちば はなこ",
              "birth_date": "S35.5.10", "sex": "2", "exam_date": "R7.6.2", "sheet": "1",
              **VALID_ITEMS["gastric_xray"]}


def _server_env(app, pause_at=None, pause_file=None):
    env = dict(os.environ, PYTHONPATH=ROOT, KENSHIN_DATABASE_URL=app.config["DATABASE_URL"],
               KENSHIN_SECRET_KEY=BASE_CONFIG["SECRET_KEY"],
               KENSHIN_AUDIT_KEY=BASE_CONFIG["AUDIT_KEY"],
               KENSHIN_ORIGIN="http://localhost", KENSHIN_RP_ID="localhost")
    if pause_at:
        env.update(KENSHIN_TESTING="true", KENSHIN_FAULT_PAUSE_AT=pause_at,
                   KENSHIN_FAULT_PAUSE_FILE=str(pause_file))
    return env


def _enrolled(login_id, roles=("clerk",)):
    """A staff member with a password and a software authenticator (inside an app context)."""
    rp = passkeys.RelyingParty("localhost", "検診情報システム", "http://localhost")
    person, _token = staff_domain.create(login_id, "障害 太郎", "健康支援課", roles,
                                         audit.Actor.system("pytest"))
    authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
    options, challenge = passkeys.registration_options(rp, person)
    with models.db.atomic():
        passkeys.register(rp, person, challenge, authenticator.register(options), "テスト用")
        person.password_hash = hash_password(TEST_PASSWORD)
        person.enroll_token_hash = None
        person.save()
    return authenticator


def _sign_in(browser, url, login_id, authenticator):
    import json

    status, html = browser.open(url + "/login")
    status, html = browser.open(url + "/login", data={"csrf_token": _token(html),
                                                      "login_id": login_id,
                                                      "password": TEST_PASSWORD})
    assert status == 200 and "生体認証でログイン" in html, html[:300]
    token = _token(html)
    status, options = browser.open(url + "/login/options", data={},
                                   headers={"X-CSRFToken": token})
    assert status == 200, options
    status, result = browser.open(url + "/login/verify",
                                  json_body=authenticator.assert_(json.loads(options)),
                                  headers={"X-CSRFToken": token})
    assert status == 200 and json.loads(result)["ok"], result


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
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [os.path.join(BIN, "gunicorn"), "--workers", "2", "--timeout", "300",
         "--bind", f"127.0.0.1:{port}", "app:create_app()"],
        cwd=ROOT, env=_server_env(app, "screening.create", pause),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_healthy(server, url)
        browser = Browser()
        _sign_in(browser, url, "clerk-kill", authenticator)
        status, page = browser.open(url + "/entry/")
        token = _token(page)
        headers = {"X-CSRFToken": token, **HX}
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
        _wait_until_healthy(server, url)
        status, html = browser.open(url + "/entry/save", data=ENTRY_FORM, headers=headers)
        assert status == 200 and "保存しました" in html
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            assert len(_screenings_have_their_events()) == 1
            assert models.ScreeningKeying.select().count() == 1
            _chain_ok()
            models.db.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


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
