"""Numbered schema steps: a database from the previous release is adopted without DDL it does not
need, a current schema is only read, steps stay out of the way of live traffic."""
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

import database
import models
from app import create_app
from kenshin import audit

from .conftest import BASE_CONFIG, POSTGRES_URL, _skip_or_fail
from .factories import make_resident

FIXTURES = Path(__file__).parent / "fixtures" / "release_0ab0f08"
REPO = Path(__file__).resolve().parent.parent


# --- helpers ---------------------------------------------------------------------------------

@contextmanager
def _postgres_database():
    """A throwaway PostgreSQL database (URL), dropped afterwards."""
    try:
        import psycopg2
        admin = psycopg2.connect(POSTGRES_URL, connect_timeout=5)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here
        _skip_or_fail(f"cannot connect to {POSTGRES_URL}: {exc}")
    admin.autocommit = True
    name = f"kenshin_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    try:
        yield urlunparse(urlparse(POSTGRES_URL)._replace(path="/" + name))
    finally:
        if models.db.obj is not None and not models.db.is_closed():
            models.db.close()
        if hasattr(models.db.obj, "close_all"):
            models.db.obj.close_all()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def _database(kind, tmp_path, name):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/{name}.db"
    else:
        with _postgres_database() as url:
            yield url


def _load_previous_release(kind, url):
    """Fill an empty database with the dump of what the release before steps left behind."""
    script = (FIXTURES / f"{kind}.sql").read_text(encoding="utf-8")
    if kind == "sqlite":
        conn = sqlite3.connect(url[len("sqlite:///"):])
        conn.executescript(script)
        conn.close()
        return
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(script)
    conn.close()


@contextmanager
def _app_on(url):
    application = create_app(dict(BASE_CONFIG, DATABASE_URL=url))
    with application.app_context():
        yield application
    if not models.db.is_closed():
        models.db.close()


class _Statements(logging.Handler):
    """Every statement peewee sends while installed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql = []

    def emit(self, record):
        message = record.msg
        sql = message[0] if isinstance(message, tuple) else str(message)
        # PostgreSQL sends a transaction's BEGIN with its first statement (database.py).
        self.sql.append(sql.removeprefix("BEGIN; "))


@contextmanager
def _statements():
    logger = logging.getLogger("peewee")
    handler, level = _Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.sql
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _snapshot() -> dict:
    """Tables with their columns, indexes, foreign keys and triggers, as the database reports them."""
    shape = {}
    pg = database.is_postgres()
    for table in sorted(models.db.get_tables()):
        columns = [(c.name, c.data_type.lower(), c.null, c.primary_key)
                   for c in models.db.get_columns(table)]
        if pg:
            collations = dict(models.db.execute_sql(
                "SELECT column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall())
            columns = [c + (collations.get(c[0]),) for c in columns]
        indexes = sorted((i.name, tuple(i.columns), i.unique) for i in models.db.get_indexes(table))
        keys = sorted((k.column, k.dest_table, k.dest_column)
                      for k in models.db.get_foreign_keys(table))
        shape[table] = (sorted(columns), indexes, keys)
    if pg:
        shape["triggers"] = sorted(r[0] for r in models.db.execute_sql(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall())
    else:
        shape["triggers"] = sorted(r[0] for r in models.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall())
        # Ids never reused (purge): AUTOINCREMENT is part of the table, not of a column.
        shape["autoincrement"] = sorted(r[0] for r in models.db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND upper(sql) LIKE '%AUTOINCREMENT%'").fetchall())
    return shape


def _is_read(sql: str) -> bool:
    """A query that reads (SQLite reports tables through PRAGMA table_info and the like)."""
    sql = sql.lstrip().upper()
    return sql.startswith("SELECT") or (sql.startswith("PRAGMA") and "=" not in sql)


# --- the previous release's database -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_database_from_the_previous_release_is_adopted_without_ddl(kind, tmp_path):
    with _database(kind, tmp_path, "fresh") as fresh_url:
        with _app_on(fresh_url):
            assert database.create_schema() == "created"
            fresh = _snapshot()

    with _database(kind, tmp_path, "old") as old_url:
        _load_previous_release(kind, old_url)
        with _app_on(old_url):
            assert database.schema_version() == 0  # tables, but no recorded steps
            with _statements() as sql:
                assert database.create_schema() == "upgraded"
            # Everything was there already: no ALTER (the old create_schema re-ran three
            # ALTER COLUMN … COLLATE "C" on every start), no CREATE INDEX, no trigger.
            ddl = [s for s in sql if not _is_read(s) and "schema_migration" not in s
                   and not s.startswith(("SET LOCAL lock_timeout", "SET lock_timeout",
                                          "RESET lock_timeout"))]
            # Later steps: the 判定保留 column and its backfill, the new tables, the old marker.
            assert ddl[0].startswith('ALTER TABLE "screening" ADD COLUMN "pending"')
            assert ddl[1].startswith("UPDATE screening SET pending")
            drop = ddl.index('DROP TABLE "schema_info"')
            later = {m._meta.table_name for m in models.ALL_MODELS} - {
                m._meta.table_name for m in database.BASELINE_MODELS}
            assert all(any(f'"{t}"' in s for t in later) for s in ddl[2:drop]), ddl
            # Steps 5-13: provision tables, resident.togo_atena_no and its unique index (built
            # CONCURRENTLY on PostgreSQL), operations tables, audit_event without its foreign
            # key to resident (SQLite: both tables rebuilt, resident with AUTOINCREMENT), the
            # follow-up tables. Nothing else: still no ALTER COLUMN.
            after = ddl[drop + 1:]
            assert not any("ALTER COLUMN" in s for s in ddl), ddl
            assert 'ALTER TABLE "resident" ADD COLUMN "togo_atena_no" VARCHAR(15)' in after
            index = [s for s in after if '"resident_togo_atena_no"' in s]
            assert index == ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "resident_togo_atena_no" '
                             'ON "resident" ("togo_atena_no")' if kind == "postgres" else
                             'CREATE UNIQUE INDEX IF NOT EXISTS "resident_togo_atena_no" '
                             'ON "resident" ("togo_atena_no")'] * (2 if kind == "sqlite" else 1), after
            if kind == "postgres":
                assert [s for s in after if s.startswith("ALTER TABLE audit_event")] == [
                    'ALTER TABLE audit_event DROP CONSTRAINT "audit_event_resident_id_fkey"']
            else:
                assert 'ALTER TABLE "audit_event__rebuild" RENAME TO "audit_event"' in after
                assert 'ALTER TABLE "resident__rebuild" RENAME TO "resident"' in after
            # Step 14: the invitations' covering index of confirmed screenings (CONCURRENTLY).
            covering = [s for s in after if '"screening_confirmed_by_resident"' in s]
            assert covering == [
                ('CREATE INDEX CONCURRENTLY IF NOT EXISTS' if kind == "postgres" else 'CREATE INDEX IF NOT EXISTS')
                + ' "screening_confirmed_by_resident" ON "screening" ("resident_id", "exam", "fiscal_year", '
                '"exam_date", "status") WHERE status = \'confirmed\''], after
            # Step 18: seiri_number without its foreign key to resident (an invitation run issues
            # the numbers in one statement) nor its index on resident alone: PostgreSQL drops the
            # constraint, SQLite rebuilds; both drop the index.
            if kind == "postgres":
                assert [s for s in after if s.startswith("ALTER TABLE seiri_number")] == [
                    'ALTER TABLE seiri_number DROP CONSTRAINT "seiri_number_resident_id_fkey"']
            else:
                assert 'ALTER TABLE "seiri_number__rebuild" RENAME TO "seiri_number"' in after
            assert not models.db.get_foreign_keys("seiri_number")
            assert 'DROP INDEX IF EXISTS "seiri_number_resident_id"' in after
            assert "seiri_number_resident_id" not in {i.name for i in models.db.get_indexes("seiri_number")}
            touched = later | {"resident", "audit_event", "resident__rebuild", "audit_event__rebuild",
                               "seiri_number", "seiri_number__rebuild", "seiri_number_resident_id"}
            # Step 20: the report's covering index of a 年度's confirmed screenings (CONCURRENTLY).
            by_year = [s for s in after if '"screening_confirmed_by_year"' in s]
            assert by_year == [
                ('CREATE INDEX CONCURRENTLY IF NOT EXISTS' if kind == "postgres" else 'CREATE INDEX IF NOT EXISTS')
                + ' "screening_confirmed_by_year" ON "screening" ("fiscal_year", "resident_id", "exam", '
                '"exam_date", "id", "setting", "referral", "pending", "status") WHERE status = \'confirmed\''], after
            strays = [s for s in after if not any(re.search(rf'(^|[\s"]){t}($|[\s"(])', s)
                                                  for t in touched)
                      and not s.startswith("PRAGMA foreign_keys") and s not in covering + by_year]
            assert not strays, strays
            assert database.schema_version() == database.LATEST_STEP
            assert _snapshot() == fresh

            # The data survived, and the audit chain still verifies with the old events.
            assert models.Resident.select().count() == 12
            assert models.Staff.get(models.Staff.login_id == "clerk1").name == "検診 太郎"
            assert models.Screening.select().count() == 3
            assert audit.verify().ok
            person = make_resident(atena_no="000000099999")
            assert models.Resident.get_by_id(person.id).use_suspended is False
            # Step 9: the newest person's id is not handed out again once they are gone (purge),
            # and audit events no longer hold a foreign key to the person.
            models.Resident.delete_by_id(person.id)
            assert make_resident(atena_no="000000099998").id > person.id
            assert not [k for k in models.db.get_foreign_keys("audit_event")
                        if k.dest_table == "resident"]

            with _statements() as sql:
                assert database.create_schema() == "current"
            assert sql and all(_is_read(s) for s in sql), sql


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_older_database_gets_the_columns_and_collation_it_lacks(kind, tmp_path):
    with _database(kind, tmp_path, "older") as url:
        _load_previous_release(kind, url)
        with _app_on(url):
            # A release before 利用停止 and the reply-by date, and (PostgreSQL) before "C" keys.
            models.db.execute_sql('ALTER TABLE "resident" DROP COLUMN "use_suspended"')
            models.db.execute_sql('ALTER TABLE "long_logon_notice" DROP COLUMN "reply_by"')
            if kind == "postgres":
                models.db.execute_sql('ALTER TABLE resident ALTER COLUMN kana_key '
                                      'TYPE VARCHAR(60) COLLATE "default"')
            progress = []
            assert database.create_schema(progress=progress.append) == "upgraded"
            assert progress[0] == ("step 1: baseline: the schema of the release before numbered "
                                   "steps (locks resident, queue_item briefly)")
            assert len(progress) == database.LATEST_STEP
            assert "use_suspended" in {c.name for c in models.db.get_columns("resident")}
            assert "reply_by" in {c.name for c in models.db.get_columns("long_logon_notice")}
            if kind == "postgres":
                assert database._collation("resident", "kana_key") == "C"
            assert models.Resident.select().where(~models.Resident.use_suspended).count() == 12


def test_every_model_gets_its_table_and_columns_from_the_steps(app, db):
    """A model added to ALL_MODELS without a step that creates it fails here."""
    tables = set(db.get_tables())
    for model in models.ALL_MODELS:
        name = model._meta.table_name
        assert name in tables, (f"{model.__name__} is in models.ALL_MODELS but no step in "
                                f"database.STEPS creates it: append Step(N, ..., create_tables("
                                f"models.{model.__name__}))")
        have = {c.name for c in db.get_columns(name)}
        missing = {f.column_name for f in model._meta.sorted_fields} - have
        assert not missing, f"{name} lacks {missing}: append an add_columns(...) step"
    assert database.schema_version() == database.LATEST_STEP
    assert [r.version for r in models.SchemaMigration.select()] == [
        s.version for s in database.STEPS]


def test_a_database_newer_than_the_code_is_refused(app, db, runner):
    models.SchemaMigration.create(version=database.LATEST_STEP + 1, name="from the future",
                                  applied_at=models.SchemaMigration.select().get().applied_at)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 1
    assert f"the database is at step {database.LATEST_STEP + 1}" in result.output
    models.SchemaMigration.delete().where(
        models.SchemaMigration.version > database.LATEST_STEP).execute()


# --- init-db on a current schema ----------------------------------------------------------------

def test_init_db_on_a_current_schema_only_reads_the_version(app, db, runner):
    with _statements() as sql:
        result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"schema current (version {database.LATEST_STEP})"
    assert sql and all(_is_read(s) for s in sql), sql
    tables_read = {t for t in (m._meta.table_name for m in models.ALL_MODELS)
                   if any(f'"{t}"' in s for s in sql)}
    assert tables_read == {"schema_migration"}


def test_init_db_takes_no_table_lock_on_a_current_postgres_database(postgres_url):
    """Another session holds every table of the application in ACCESS EXCLUSIVE mode (and
    schema_migration in EXCLUSIVE mode, which still lets it be read); init-db, run as the real
    command with a lock_timeout, must finish: it needs no lock on any of them but reading the
    version. Had it asked for any other lock, it would have failed with a lock timeout."""
    import psycopg2

    holder = psycopg2.connect(postgres_url)
    try:
        with holder.cursor() as cur:
            others = [m._meta.table_name for m in models.ALL_MODELS
                      if m is not models.SchemaMigration]
            cur.execute("LOCK TABLE " + ", ".join(f'"{t}"' for t in others)
                        + " IN ACCESS EXCLUSIVE MODE")
            cur.execute('LOCK TABLE "schema_migration" IN EXCLUSIVE MODE')
            env = dict(os.environ, PYTHONPATH=str(REPO), KENSHIN_DATABASE_URL=postgres_url,
                       KENSHIN_AUDIT_KEY="test-audit-key", KENSHIN_SECRET_KEY="test-secret-key",
                       PGOPTIONS="-c lock_timeout=5000", PGAPPNAME="kenshin-init-db-test")
            done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "init-db"],
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"schema current (version {database.LATEST_STEP})"
            cur.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                        "WHERE a.application_name = 'kenshin-init-db-test'")
            assert cur.fetchone()[0] == 0  # and nothing left behind
    finally:
        holder.rollback()
        holder.close()


# --- steps under traffic ----------------------------------------------------------------------

def _writers(app, stop, errors, count=4):
    """Threads that keep changing residents and recording audit events, like clerks would."""
    def work(n):
        try:
            with app.app_context():
                person = models.Resident.get(models.Resident.atena_no == f"0000000010{n:02d}")
                i = 0
                while not stop.is_set():
                    i += 1
                    with models.db.atomic():
                        (models.Resident.update(address=f"千葉県千葉市中央区{i}")
                         .where(models.Resident.id == person.id).execute())
                        audit.record("resident.test_write", audit.Actor.system("pytest"),
                                     resident=person.id, object_type="resident",
                                     object_id=person.id)
                    models.db.close()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    return threads


def _wait_for_writes(minimum):
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = (models.AuditEvent.select()
                 .where(models.AuditEvent.action == "resident.test_write").count())
        if count >= minimum:
            return count
        time.sleep(0.01)
    raise AssertionError("the writers made no progress")


def test_init_db_runs_again_and_again_while_clerks_write(app, db, runner):
    for n in range(4):
        make_resident(atena_no=f"0000000010{n:02d}")
    db.close()
    stop, errors = threading.Event(), []
    threads = _writers(app, stop, errors)
    for thread in threads:
        thread.start()
    try:
        _wait_for_writes(4)
        outputs = []
        for _ in range(25):
            result = runner.invoke(args=["init-db"])
            outputs.append((result.exit_code, result.output.strip()))
        written = _wait_for_writes(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert set(outputs) == {(0, f"schema current (version {database.LATEST_STEP})")}
    assert written >= 8 and audit.verify().ok


def test_a_step_that_locks_a_busy_table_waits_its_turn_and_the_writers_see_no_error(app, db):
    """A new step adding a column to resident while four writers keep updating residents: it
    waits at most a short lock_timeout at a time (not queueing the clerks behind it), retries,
    and lands; no writer sees an error."""
    for n in range(4):
        make_resident(atena_no=f"0000000010{n:02d}")
    db.close()
    extra = database.Step(database.LATEST_STEP + 1, "test: resident.note_for_test",
                          database.add_columns("resident", ("note_for_test", "TEXT")),
                          locks=("resident",))
    stop, errors = threading.Event(), []
    threads = _writers(app, stop, errors)
    for thread in threads:
        thread.start()
    progress = []
    try:
        _wait_for_writes(4)
        outcome = database.create_schema(progress=progress.append,
                                          steps=database.STEPS + [extra], lock_timeout_ms=50)
        _wait_for_writes(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        try:
            assert not errors, errors
            assert outcome == "upgraded"
            assert progress[0].startswith(f"step {extra.version}: test: resident.note_for_test "
                                          "(locks resident briefly)")
            assert "note_for_test" in {c.name for c in db.get_columns("resident")}
            assert database.schema_version() == extra.version
        finally:  # the shared PostgreSQL database goes back to the real schema
            if "note_for_test" in {c.name for c in db.get_columns("resident")}:
                db.execute_sql('ALTER TABLE "resident" DROP COLUMN "note_for_test"')
            models.SchemaMigration.delete().where(
                models.SchemaMigration.version == extra.version).execute()


def test_an_index_step_builds_concurrently_outside_a_transaction(app, db):
    """CREATE INDEX CONCURRENTLY refuses to run in a transaction: the step runs without one."""
    make_resident()
    extra = database.Step(database.LATEST_STEP + 1, "test: index resident(postal_code)",
                          database.build_index("resident", "resident_postal_code_test",
                                               ["postal_code"]), transaction=False)
    try:
        with _statements() as sql:
            assert database.create_schema(steps=database.STEPS + [extra]) == "upgraded"
        assert "resident_postal_code_test" in {i.name for i in db.get_indexes("resident")}
        if app.db_kind == "postgres":
            assert any("CREATE INDEX CONCURRENTLY" in s for s in sql)
        assert database.create_schema(steps=database.STEPS + [extra]) == "current"
    finally:
        db.execute_sql('DROP INDEX IF EXISTS "resident_postal_code_test"')
        models.SchemaMigration.delete().where(
            models.SchemaMigration.version == extra.version).execute()


def test_step_19_merges_a_run_s_rows_of_a_person_into_one_with_the_exams_as_a_set(app, db):
    """Invitation rows of the shape before step 19 (one per person × exam) become one row per
    person × run with the exams' bits; the stop stays, and the indexes are today's."""
    from datetime import date

    from kenshin.invitations import extraction

    from .factories import CLI

    pg = app.db_kind == "postgres"
    r1, r2, r3 = (extraction.extract(2025, date(2025, 4, 1), CLI).run_id for _ in range(3))  # nobody yet
    a, b = make_resident("000000000001").id, make_resident("000000000002").id
    try:
        db.execute_sql('DROP TABLE "invitation"')
        db.execute_sql(
            f'CREATE TABLE "invitation" ("id" {"SERIAL" if pg else "INTEGER"} PRIMARY KEY, '
            '"run_id" INTEGER NOT NULL, "resident_id" INTEGER NOT NULL, "fiscal_year" INTEGER NOT NULL, '
            '"exam" VARCHAR(24) NOT NULL, "kind" VARCHAR(8) NOT NULL, '
            '"stopped_run_id" INTEGER REFERENCES "invitation_run" ("id"), "stopped_on" DATE)')
        db.execute_sql('CREATE INDEX "invitation_run_id_resident_id" ON "invitation" ("run_id", "resident_id")')
        db.execute_sql('CREATE UNIQUE INDEX "invitation_once_per_year" ON "invitation" '
                       '("resident_id", "fiscal_year", "exam") WHERE ("kind" = \'invite\')')
        rows = [(r1, a, "lung", "invite", None, None), (r1, a, "colorectal", "invite", None, None),
                (r1, b, "breast", "invite", r2, "2025-07-01"), (r1, b, "cervical", "invite", r2, "2025-07-01"),
                (r2, a, "periodontal", "invite", None, None), (r3, a, "lung", "remind", None, None)]
        mark = "%s" if pg else "?"
        for row in rows:
            db.execute_sql('INSERT INTO "invitation" (run_id, resident_id, fiscal_year, exam, kind, '
                           f'stopped_run_id, stopped_on) VALUES ({mark}, {mark}, 2025, {mark}, {mark}, '
                           f'{mark}, {mark})', row)
        with db.atomic():
            database._invitation_sets()
        bits = models.INVITATION_EXAM_BITS
        got = sorted((i.run_id, i.resident_id, i.exams, i.kind, i.stopped_run_id, str(i.stopped_on))
                     for i in models.Invitation.select())
        assert got == sorted([(r1, a, bits["lung"] + bits["colorectal"], "invite", None, "None"),
                              (r1, b, bits["breast"] + bits["cervical"], "invite", r2, "2025-07-01"),
                              (r2, a, bits["periodontal"], "invite", None, "None"),
                              (r3, a, bits["lung"], "remind", None, "None")])
        assert "exam" not in {c.name for c in db.get_columns("invitation")}
        assert not db.get_foreign_keys("invitation")  # the stop's run: unchecked
        indexes = {i.name: i.unique for i in db.get_indexes("invitation") if not i.name.endswith("pkey")}
        assert indexes == {"invitation_run_id_resident_id": True, "invitation_invite_by_person": False}
        with db.atomic():  # done already: nothing to do
            database._invitation_sets()
        assert models.Invitation.select().count() == 4
    finally:  # back to the table a fresh database has
        db.execute_sql('DROP TABLE IF EXISTS "invitation"')
        models.Invitation.create_table()
