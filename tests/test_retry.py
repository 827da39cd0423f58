"""Retrying what the database asks to retry: a request that loses a deadlock (PostgreSQL) or meets
a locked database (SQLite) runs again, leaves one audit event, and only when the retries run out
answers a Japanese 503 page — never a bare 500."""
import logging
import sqlite3
import threading
import time

import peewee
import pytest

import database
import models
from kenshin import audit
from kenshin.requests import inquiries

from .conftest import page_csrf

TEXT = "電話で回答し了承を得た"


def _inquiry(person):
    actor = audit.Actor.of_staff(person.staff, "127.0.0.1")
    return inquiries.create(actor, received_date="2025-06-02", received_time="10:15",
                            channel="電話", requester_type="本人", requester_name="千葉 花子",
                            requester_contact="043-000-0000", subject="受診結果の通知はいつ届くか")


def _entry_events():
    return models.AuditEvent.select().where(models.AuditEvent.action == "inquiry.entry").count()


def _post_entry(client, inquiry, token):
    return client.post(f"/inquiries/{inquiry.id}/entries", data={"text": TEXT},
                       headers={"X-CSRFToken": token, "HX-Request": "true"})


class _OnRetry(logging.Handler):
    """Calls `action` when the app logs that it runs a request again."""

    def __init__(self, action):
        super().__init__(logging.WARNING)
        self.action, self.messages = action, []

    def emit(self, record):
        message = record.getMessage()
        self.messages.append(message)
        if "running it again" in message and len(self.messages) == 1:
            self.action()


def _sqlite_holder(app):
    """A second connection holding SQLite's write lock (as a long import would)."""
    holder = sqlite3.connect(app.config["DATABASE_URL"][len("sqlite:///"):],
                             check_same_thread=False, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


# --- which errors are retried -------------------------------------------------------------------

@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_a_real_serialization_failure_is_retryable(app, db):
    import psycopg2

    from .factories import make_resident

    person = make_resident()
    other = psycopg2.connect(app.config["DATABASE_URL"])
    try:
        with pytest.raises(peewee.OperationalError) as failure:
            with db.atomic(isolation_level="REPEATABLE READ"):
                db.execute_sql("SELECT address FROM resident WHERE id = %s", (person.id,))
                with other.cursor() as cur:
                    cur.execute("UPDATE resident SET address = 'x' WHERE id = %s", (person.id,))
                other.commit()
                db.execute_sql("UPDATE resident SET address = 'y' WHERE id = %s", (person.id,))
    finally:
        other.close()
    assert database.retry_reason(failure.value) == "serialization failure (40001)"
    with pytest.raises(peewee.IntegrityError) as duplicate:
        models.Resident.create(**{f.name: getattr(person, f.name)
                                  for f in models.Resident._meta.sorted_fields if f.name != "id"})
    assert database.retry_reason(duplicate.value) is None


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_database_is_locked_is_retryable(app, db):
    holder = _sqlite_holder(app)
    try:
        with pytest.raises(peewee.OperationalError) as failure:
            with db.atomic():
                db.execute_sql("UPDATE audit_head SET seq = seq")
    finally:
        holder.rollback()
        holder.close()
    assert database.retry_reason(failure.value) == "database is locked"


# --- a deadlock victim is run again --------------------------------------------------------------

@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_the_losing_request_of_a_deadlock_is_retried_and_answers_200_with_one_event(
        app, login_as, caplog):
    """Session A holds the audit head and then wants the table the request has just written to;
    the request holds that table and waits for the audit head: a deadlock. PostgreSQL picks the
    request (A waits longer before checking); the request runs again after A is gone."""
    import psycopg2

    client, clerk = login_as("clerk")
    inquiry = _inquiry(clerk)  # also creates the audit head row
    token = page_csrf(client, f"/inquiries/{inquiry.id}")
    models.db.close()

    url = app.config["DATABASE_URL"]
    session_a = psycopg2.connect(url)
    watcher = psycopg2.connect(url)
    watcher.autocommit = True
    answer = {}

    def request():
        answer["response"] = _post_entry(client, inquiry, token)

    caplog.set_level(logging.WARNING)
    thread = threading.Thread(target=request)
    try:
        with session_a.cursor() as a:
            a.execute("SET deadlock_timeout = '60s'")  # so that the request is the victim
            a.execute("SELECT pg_backend_pid()")
            a_pid = a.fetchone()[0]
            a.execute("UPDATE audit_head SET seq = seq")
            thread.start()
            deadline = time.monotonic() + 60
            while True:  # until the request waits for A's audit head
                with watcher.cursor() as w:
                    w.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND wait_event_type = 'Lock' AND pid <> %s",
                              (a_pid,))
                    if w.fetchone()[0]:
                        break
                assert time.monotonic() < deadline, "the request never waited for session A"
                time.sleep(0.005)
            # Now A wants what the request holds: the request is chosen as the victim.
            a.execute("LOCK TABLE inquiry_entry IN SHARE MODE")
        session_a.rollback()
        thread.join(60)
    finally:
        session_a.close()
        watcher.close()
    response = answer["response"]
    assert response.status_code == 200
    assert TEXT in response.get_data(as_text=True)
    assert "deadlock (40P01); running it again (attempt 2)" in caplog.text
    models.db.connect(reuse_if_open=True)
    assert models.InquiryEntry.select().where(models.InquiryEntry.text == TEXT).count() == 1
    assert _entry_events() == 1
    assert audit.verify().ok


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_a_request_meeting_a_locked_sqlite_database_is_retried(app, login_as):
    client, clerk = login_as("clerk")
    inquiry = _inquiry(clerk)
    token = page_csrf(client, f"/inquiries/{inquiry.id}")
    holder = _sqlite_holder(app)
    released = _OnRetry(holder.rollback)  # the first failed run lets the holder go
    app.logger.addHandler(released)
    try:
        response = _post_entry(client, inquiry, token)
    finally:
        app.logger.removeHandler(released)
        holder.rollback()
        holder.close()
    assert response.status_code == 200
    assert released.messages[0].endswith("database is locked; running it again (attempt 2)")
    models.db.connect(reuse_if_open=True)
    assert _entry_events() == 1


# --- when the retries run out ---------------------------------------------------------------------

@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_when_retries_run_out_the_answer_is_a_japanese_503_without_traceback(app, login_as):
    client, clerk = login_as("clerk")
    inquiry = _inquiry(clerk)
    token = page_csrf(client, f"/inquiries/{inquiry.id}")
    page = client.get(f"/inquiries/{inquiry.id}")
    holder = _sqlite_holder(app)
    try:
        response = client.post(f"/inquiries/{inquiry.id}/entries", data={"text": TEXT},
                               headers={"X-CSRFToken": token})
    finally:
        holder.rollback()
        holder.close()
    assert page.status_code == 200
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_data(as_text=True)
    assert "混み合っている" in body and "もう一度操作してください" in body
    assert "Traceback" not in body and "locked" not in body and "OperationalError" not in body
    assert response.headers["Content-Security-Policy"]  # the usual headers still apply
    models.db.connect(reuse_if_open=True)
    assert models.InquiryEntry.select().count() == 0 and _entry_events() == 0


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.config(SQLITE_BUSY_TIMEOUT_MS=50)
def test_work_is_not_repeated_once_an_audit_event_of_it_committed(app, db):
    """The unit of work committed its event, then met the lock: repeating it would write the
    event twice, so the wrapper gives up at once."""
    runs = []
    holder = None

    def work():
        nonlocal holder
        runs.append(1)
        with db.atomic():
            audit.record("test.unit", audit.Actor.system("pytest"))
        holder = _sqlite_holder(app)
        with db.atomic():
            audit.record("test.unit", audit.Actor.system("pytest"))

    start = audit.committed_events()
    try:
        with pytest.raises(database.Busy) as busy:
            database.run_retrying(work, safe_to_repeat=lambda: audit.committed_events() == start)
    finally:
        holder.rollback()
        holder.close()
    assert busy.value.reason == "database is locked" and busy.value.attempts == 1
    assert runs == [1]
    assert models.AuditEvent.select().where(models.AuditEvent.action == "test.unit").count() == 1
