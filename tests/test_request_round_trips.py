"""The fixed cost of a request, counted in database round trips (statements the driver sends,
BEGIN, COMMIT and the pool's liveness ping included): a search, and an authenticated request
that does nothing. A behaviour test — it counts statements, never times them (bench/search.py
times them).

On PostgreSQL the statements every request sends are server-side prepared statements
(database.fixed): a connection PREPAREs each once, by a message of its own, the first time it
sends it. The counts below are of a connection that has (each test makes the same request once
first); test_each_fixed_statement_is_prepared_once_per_connection counts the PREPAREs."""
import contextlib
from datetime import timedelta

import pytest
from peewee import SqliteDatabase

import models
from kenshin.core.dates import now_utc

from .conftest import page_csrf
from .factories import make_resident

SEARCH_MAX = 5  # the bound: PostgreSQL 4 (session, query, BEGIN+head, event+last search+COMMIT), SQLite 4 (session, query, event, last search); +1 when the activity write is due


@contextlib.contextmanager
def counting():
    """Every statement sent while the block runs (SQL text, in order), BEGIN and COMMIT included.
    PostgreSQL: counted by a cursor class on each driver connection, so the pool's liveness
    ping counts too. SQLite (in-process, no ping): counted on the cursors peewee takes — the
    driver's trace callback would also report a trigger's sub-programs, which are part of
    their statement."""
    sent: list[str] = []
    database = models.db.obj

    def note(sql):
        sent.append(" ".join(str(sql).split())[:160])

    if isinstance(database, SqliteDatabase):
        real_cursor = type(database).cursor

        class Noted:
            def __init__(self, cursor):
                self._cursor = cursor

            def execute(self, sql, params=()):
                note(sql)
                return self._cursor.execute(sql, params)

            def __getattr__(self, name):
                return getattr(self._cursor, name)

            def __iter__(self):
                return iter(self._cursor)

        database.cursor = lambda *args, **kwargs: Noted(real_cursor(database, *args, **kwargs))
        try:
            yield sent
        finally:
            del database.cursor
        return

    import psycopg2.extensions

    class Counted(psycopg2.extensions.cursor):
        def execute(self, sql, params=None):
            note(sql.decode() if isinstance(sql, bytes) else sql)
            return super().execute(sql, params)

    def pooled() -> list:
        return ([conn for _ts, _n, conn in database._connections]
                + [entry.connection for entry in database._in_use.values()])

    for conn in pooled():
        conn.cursor_factory = Counted
    real_connect = database._connect

    def connect():
        conn = real_connect()
        conn.cursor_factory = Counted
        return conn

    database._connect = connect
    try:
        yield sent
    finally:
        del database._connect
        for conn in pooled():
            conn.cursor_factory = None


@pytest.fixture
def clerk(login_as):
    client, _ = login_as("clerk")
    return client


def _search(clerk, token, person):
    return clerk.post("/residents/search", data={"csrf_token": token, "kana": "やまだ",
                                                 "birth_date": person.birth_date.isoformat()})


def test_a_search_takes_at_most_five_round_trips(app, db, clerk):
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    token = page_csrf(clerk, "/residents/")
    _search(clerk, token, person)
    with counting() as sent:
        response = _search(clerk, token, person)
    assert response.status_code == 200
    assert f'href="/residents/{person.id}"' in response.get_data(as_text=True)
    assert len(sent) <= SEARCH_MAX, "\n".join(sent)


def _age_activity(seconds: int) -> None:
    """Make the clerk's last recorded activity `seconds` old (as if idle that long)."""
    models.UserSession.update(last_seen_at=now_utc() - timedelta(seconds=seconds)).execute()


def test_a_search_that_also_records_activity_stays_within_five_round_trips(app, db, clerk):
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    _search(clerk, token, person)
    _age_activity(60)
    with counting() as sent:
        response = _search(clerk, token, person)
    assert response.status_code == 200
    assert len(sent) <= SEARCH_MAX, "\n".join(sent)
    seen = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert now_utc() - seen < timedelta(seconds=30)  # the activity was recorded


def test_each_fixed_statement_is_prepared_once_per_connection(app, db, clerk):
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    with counting() as first:
        assert _search(clerk, token, person).status_code == 200
    _age_activity(60)
    with counting() as again:
        assert _search(clerk, token, person).status_code == 200
    prepares = [s for s in first + again if s.startswith("PREPARE")]
    assert not [s for s in again if s.startswith("PREPARE")], "\n".join(again)
    if models.db.obj.__class__.__name__ == "_PooledPostgres":
        names = [s.split()[1] for s in prepares]
        assert len(names) == len(set(names)), "\n".join(prepares)
        # the first search on this connection prepared the look-up's, activity's and append's
        assert {"kenshin_session_touch", "kenshin_audit_append"} <= set(names) | _prepared_names()
        executed = [s for s in again if "EXECUTE kenshin_" in s]
        assert len(executed) == 4, "\n".join(again)  # look-up, activity, head, event
    else:
        assert not prepares  # SQLite's module caches its statements itself


def test_a_prepared_name_is_never_reused_for_other_sql(app, db):
    import database
    if not database.is_postgres():
        assert database.fixed("kenshin_test_one", "SELECT 1") == "SELECT 1"
        return
    assert database.fixed("kenshin_test_one", "SELECT %s::int") == "EXECUTE kenshin_test_one(%s)"
    assert models.db.execute_sql("EXECUTE kenshin_test_one(%s)", (7,)).fetchone() == (7,)
    with pytest.raises(ValueError, match="kenshin_test_one"):
        database.fixed("kenshin_test_one", "SELECT %s::int + 1")


def _prepared_names() -> set[str]:
    """The prepared statements of the connection in use (PostgreSQL)."""
    return {row[0] for row in models.db.execute_sql("SELECT name FROM pg_prepared_statements")}


def test_the_authenticated_no_op_is_one_look_up(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    with counting() as sent:
        response = clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    assert response.status_code == 204
    assert len(sent) == 1, "\n".join(sent)


def test_activity_is_written_at_most_once_per_touch_interval(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    first = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert now_utc() - first < timedelta(seconds=30)
    clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    assert models.UserSession.select(models.UserSession.last_seen_at).scalar() == first


def test_a_passive_poll_or_a_refused_page_records_no_activity(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    before = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert clerk.get("/lock/csrf").status_code == 200  # passive
    assert clerk.get("/admin/staff").status_code == 403  # a clerk is no administrator
    assert models.UserSession.select(models.UserSession.last_seen_at).scalar() == before


# PostgreSQL: session, person, screenings, history, BEGIN+head, event+COMMIT, and the clerk's four
# lists (inquiries, invitation run, invitations, 整理番号) = 10; before the reads left the
# transaction the event's INSERT and the COMMIT were round trips of their own. SQLite: 9 (the
# event is one statement; before, BEGIN IMMEDIATE and COMMIT too, the write lock held throughout).
PERSON_MAX = 10


def test_a_person_page_reads_before_its_event_and_sends_it_in_two_messages(app, db, clerk):
    """The person page: its reads run outside a transaction (no BEGIN … COMMIT round trips; on
    SQLite no write lock held while reading), then the view's event in a transaction of its own."""
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    clerk.get(f"/residents/{person.id}")
    with counting() as sent:
        response = clerk.get(f"/residents/{person.id}")
    assert response.status_code == 200
    assert len(sent) <= PERSON_MAX, "\n".join(sent)
    own = [s for s in sent if s.upper().split(";")[0].strip() in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")
           and "AUDIT_HEAD" not in s.upper() and "KENSHIN_AUDIT" not in s.upper()]
    assert not own, "\n".join(sent)
    events = models.AuditEvent.select().where(models.AuditEvent.action == "resident.view")
    assert [e.resident_id for e in events] == [person.id, person.id]
