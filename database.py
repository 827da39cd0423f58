"""Binding the models to a database, the numbered schema steps, and retrying what the database
asks to retry.

models.py declares the tables; this module knows the two databases (SQLite for one machine,
PostgreSQL for production) and what each needs beyond the declarations.

Schema changes are numbered steps (STEPS, below), each applied once and recorded in the
schema_migration table. `create_schema()` — what `flask init-db`, `make run`, the tests and the
benchmarks all call — reads the last recorded step and, when it is the last in STEPS, stops there:
no DDL, no lock beyond reading that one table; it says "current". docs/MIGRATIONS.md explains why.

ADDING TO THE SCHEMA (a new table, column or index) — append ONE step, never edit a shipped one:

    STEPS = [
        ...                                   # steps 1-10 as they are
        Step(11, "visits", create_tables(models.Visit, models.VisitLine)),
        Step(12, "resident.moved_out_on", add_columns("resident", ("moved_out_on", "DATE"))),
        Step(13, "index resident(moved_out_on)",
             build_index("resident", "resident_moved_out_on", ["moved_out_on"]), transaction=False),
    ]

- New tables: add the model to models.ALL_MODELS AND a `create_tables(...)` step. A model that
  no step creates fails tests/test_migrations.py (a fresh database lacks its table).
- New columns on a shipped table: `add_columns(table, (column, ddl))`, with the same type and
  default as the model field (a fresh database gets the column from the model already; the step
  skips it). On PostgreSQL ADD COLUMN with a constant default touches only the catalogue.
- Indexes on a big shipped table: `build_index(...)` with transaction=False (PostgreSQL builds it
  CONCURRENTLY, which cannot run inside a transaction). Indexes of a new table come with it.
- Every step body must be idempotent: a fresh database runs all steps after the baseline has
  already created today's models. A step that takes an ACCESS EXCLUSIVE lock on a busy table
  names it in `locks=`; every step on PostgreSQL runs with a short lock_timeout and is retried
  rather than queueing the clerks' queries behind it.
- Two branches that both appended step N: renumber yours to N+1 when you rebase (versions must
  run 1, 2, 3 … — checked when this module is imported).
"""
import io
import logging
import os
import random
import select
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import unquote, urlparse

from peewee import DatabaseError, PostgresqlDatabase, fn
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

import models
from models import SchemaMigration, db

log = logging.getLogger("kenshin.database")


class _SqliteDatabase(PooledSqliteDatabase):
    """SQLite with a small pool of open connections per process, one of which stays open.

    Requests connect and close (teardown_request). Opening a SQLite connection and setting its
    pragmas cost about 0.7 ms of CPU — half of what a signed-in request that does nothing
    costs — so closing returns the connection to the pool instead. And when the LAST connection
    to a WAL database closes, SQLite checkpoints the WAL into the database (an fsync) and deletes
    it: an idle connection that has read the database once keeps the WAL open (~10 ms a write
    before, bench/audit.py); the usual auto-checkpoint (every 1000 pages) still runs."""

    _keeper = None

    def _connect(self):
        conn = super()._connect()
        if self._keeper is None and self.database != ":memory:":
            import sqlite3

            keeper = sqlite3.connect(self.database, check_same_thread=False)
            keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            self._keeper = keeper
        return conn


def _pooled_postgres_class():
    from playhouse.pool import PooledPostgresqlDatabase

    class _PooledPostgres(PooledPostgresqlDatabase):
        """The pool, checking a connection as it is taken out without a round trip, and sending
        BEGIN with the transaction's first statement.

        After a PostgreSQL restart, a failover or pg_terminate_backend, every pooled connection
        is dead but looks idle. The server said so before it went (a FATAL message, then the
        socket's end), so an idle connection whose socket has anything to read is dead: it is
        discarded and a new one opened. peewee's own check sent `SELECT 1` on every checkout.

        BEGIN travels with the transaction's first statement ("BEGIN; UPDATE …" in one
        simple-protocol message): one round trip less for every transaction. A transaction that
        sends nothing sends no BEGIN and no COMMIT; a caller that takes the raw cursor gets the
        BEGIN sent first."""

        def _is_closed(self, conn):
            if conn.closed or conn.get_transaction_status() != 0:  # 0: idle, ready
                return super()._is_closed(conn)  # unknown → dead; in a transaction → rolled back
            try:
                readable, _, _ = select.select([conn.fileno()], [], [], 0)
            except (OSError, ValueError):
                return True
            return bool(readable)

        def begin(self, isolation_level=None):
            if isolation_level or self._isolation_level:
                return super().begin(isolation_level)
            if self.is_closed():
                self.connect()  # as cursor() would (autoconnect), before the transaction is pushed
            self._state.begin_pending = self._state.conn

        def _take_pending_begin(self) -> bool:
            pending = getattr(self._state, "begin_pending", None)
            if pending is None:
                return False
            self._state.begin_pending = None
            return pending is self._state.conn and pending is not None

        def execute_sql(self, sql, params=None):
            if self._take_pending_begin():
                sql = "BEGIN; " + sql
            return super().execute_sql(sql, params)

        def cursor(self, named_cursor=None):
            cursor = super().cursor(named_cursor)
            if self._take_pending_begin():
                cursor.execute("BEGIN")
            return cursor

        def connection(self):
            conn = super().connection()
            if self._take_pending_begin():
                conn.cursor().execute("BEGIN")
            return conn

        def close(self):
            self._state.begin_pending = None
            return super().close()

        def fixed(self, name: str, sql: str) -> str:
            """`EXECUTE name(%s, …)` of `sql`, the server-side prepared statement `name` of the
            connection in use: PREPAREd by a message of its own the first time on each
            connection (a PREPARE that fails creates nothing; one that succeeds stays, even if
            its transaction rolls back)."""
            if self.is_closed():
                self.connect()
            conn = self._state.conn
            kept = conn.prepared.get(name)
            if kept is None:
                with conn.cursor() as cursor:  # not self.cursor(): a pending BEGIN waits
                    cursor.execute(f"PREPARE {name} AS {_dollar_params(sql)}")
                conn.prepared[name] = sql
            elif kept != sql:  # the name would run the other statement
                raise ValueError(f"prepared statement {name} already stands for other SQL")
            places = sql.count("%s")
            return f"EXECUTE {name}({', '.join(['%s'] * places)})" if places else f"EXECUTE {name}"

        def commit(self):
            if self._take_pending_begin():
                return None  # nothing was sent: nothing to commit
            return super().commit()

        def rollback(self):
            if self._take_pending_begin():
                return None
            return super().rollback()

    return _PooledPostgres


def _preparing_connection_class():
    from psycopg2.extensions import connection

    class _PreparingConnection(connection):
        """A psycopg2 connection that knows which of the fixed statements it has PREPAREd."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.prepared: dict[str, str] = {}  # name → the SQL it was prepared from

    return _PreparingConnection


def _dollar_params(sql: str) -> str:
    """psycopg2's %s placeholders as PREPARE's $1, $2, … (the fixed statements hold no other %)."""
    parts = sql.split("%s")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1))


def fixed(name: str, sql: str) -> str:
    """The text that runs `sql`, one of the statements every request sends (the gate's session
    look-up, the audit append): on PostgreSQL `EXECUTE name(…)` of a server-side prepared
    statement on the connection in use — parsing and planning the session look-up took longer
    than running it (0.23 ms a look-up, 0.12 ms prepared); on SQLite `sql` itself (its module
    keeps a statement cache of its own). Call it right before sending the text, on the same
    connection; `sql` in psycopg2's %s style on PostgreSQL."""
    if is_postgres():
        return db.obj.fixed(name, sql)
    return sql


def make_database(url: str, sqlite_busy_ms: int = 10000):
    """A peewee database for `sqlite:///path` or `postgresql://user@host[:port]/name`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else parsed.path
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # BEGIN IMMEDIATE: a deferred transaction that read first cannot upgrade to a write once
        # another worker has committed (SQLITE_BUSY_SNAPSHOT is not waited out by busy_timeout).
        from kenshin.audit.chain import SQLITE_MAC_FUNCTION, sqlite_mac

        database = _SqliteDatabase(path, max_connections=16, timeout=10, check_same_thread=False,
                                   lock_type="IMMEDIATE", pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "normal",
            "busy_timeout": int(sqlite_busy_ms),
            "cache_size": -64000,
        })
        # The audit chain's HMAC inside its one-statement append (kenshin.audit.chain._sql).
        database.register_function(sqlite_mac, SQLITE_MAC_FUNCTION, 4)
        return database
    if parsed.scheme in ("postgres", "postgresql"):
        # A small pool per worker: a new PostgreSQL connection costs more than most requests.
        # connect_timeout: a server that does not answer at all gives staff the "database
        # unavailable" page after 5 s instead of holding the worker.
        return _pooled_postgres_class()(
            max_connections=16, stale_timeout=300, timeout=10, connect_timeout=5,
            connection_factory=_preparing_connection_class(),
            database=unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or None,
            port=parsed.port or None,
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.scheme!r}")


def bind(url: str, sqlite_busy_ms: int = 10000):
    """Point the proxy at the database named by `url` (once per process or test app)."""
    database = make_database(url, sqlite_busy_ms)
    db.initialize(database)
    return database


def is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


# --- bulk writers: imports and demo data --------------------------------------------------------

SQLITE_CHUNK = 5_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_PREPARED: dict[tuple[str, str], tuple] = {}


def _marker(i: int, value):
    """A stand-in for a parameter value: the same type, a value no real query uses."""
    from datetime import date as _date

    if isinstance(value, bool):
        raise TypeError("a prepared query takes no booleans (they may shape the query)")
    if isinstance(value, int):
        return -7_340_000_000_017 - i
    if isinstance(value, str):
        return f"\x00kenshin-prepared-{i}\x00"
    if isinstance(value, _date) and not isinstance(value, datetime):
        return _date(1001, 1, 1 + i)
    raise TypeError(f"a prepared query takes int, str or date values, not {type(value).__name__}")


def prepared(name: str, build: Callable, *args):
    """Run the peewee query `build(*args)` from SQL compiled once per kind of database.

    Compiling a peewee query costs more than running it on an index (hundreds of compiler calls
    a query; the person page runs seven): the query is built once with stand-ins for `args`,
    compiled, and kept under `name`; each call puts its own values in the stand-ins' places and
    iterates the rows as the query would (models, joins). `build` must use its arguments only as
    values compared or selected, never to decide the query's shape."""
    key = (db.param, name)
    kept = _PREPARED.get(key)
    if kept is None:
        markers = [_marker(i, value) for i, value in enumerate(args)]
        query = build(*markers)
        sql, params = query.sql()
        places = {}
        for position, value in enumerate(params):
            for i, marker in enumerate(markers):
                if type(value) is type(marker) and value == marker:
                    places[position] = i
        if set(places.values()) != set(range(len(markers))):
            raise ValueError(f"prepared query {name}: an argument does not reach the SQL as a value")
        kept = _PREPARED[key] = (query, sql, params, places)
    query, sql, params, places = kept
    values = [args[places[i]] if i in places else value for i, value in enumerate(params)]
    return query._get_cursor_wrapper(db.execute_sql(sql, values))


def prepared_first(name: str, build: Callable, *args):
    """The first row of `prepared(name, build, *args)`, or None (build's query says LIMIT 1)."""
    return next(iter(prepared(name, build, *args)), None)


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _copy(table: str, columns: tuple[str, ...], rows) -> None:
    buffer = io.StringIO()
    write = buffer.write
    for row in rows:
        write("\t".join(map(_copy_text, row)))
        write("\n")
    buffer.seek(0)
    db.cursor().copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buffer)


def bulk_insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert many rows inside the caller's transaction: sqlite3 executemany or PostgreSQL COPY.
    Values are plain str/int/None (dates as ISO text, timestamps as str(datetime))."""
    if not rows:
        return
    if is_postgres():
        _copy(table, columns, rows)
        return
    sql = (f'INSERT INTO "{table}" ({", ".join(columns)}) '
           f'VALUES ({", ".join("?" * len(columns))})')
    connection = db.connection()
    for start in range(0, len(rows), SQLITE_CHUNK):
        connection.executemany(sql, rows[start:start + SQLITE_CHUNK])


def bulk_update(table: str, key: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """UPDATE table SET columns WHERE key = row[-1], for many rows, in the caller's transaction.
    Each row holds the new values in `columns` order, then the key."""
    if not rows:
        return
    if is_postgres():
        temp = f"_bulk_{table}"
        types = {row[0]: row[1] for row in db.execute_sql(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = %s::regclass AND a.attname = c.column_name "
            "WHERE c.table_name = %s", (table, table)).fetchall()}
        spec = ", ".join(f"{c} {types[c]}" for c in (*columns, key))
        db.execute_sql(f"CREATE TEMP TABLE {temp} ({spec}) ON COMMIT DROP")
        _copy(temp, (*columns, key), rows)
        assignments = ", ".join(f"{c} = t.{c}" for c in columns)
        db.execute_sql(f'UPDATE "{table}" SET {assignments} FROM {temp} t WHERE "{table}".{key} = t.{key}')
        db.execute_sql(f"DROP TABLE {temp}")
        return
    assignments = ", ".join(f"{c} = ?" for c in columns)
    sql = f'UPDATE "{table}" SET {assignments} WHERE {key} = ?'
    connection = db.connection()
    for start in range(0, len(rows), SQLITE_CHUNK):
        connection.executemany(sql, rows[start:start + SQLITE_CHUNK])



# --- retrying what the database asks to retry --------------------------------------------------

# PostgreSQL SQLSTATEs after which the whole transaction may simply run again.
RETRY_SQLSTATES = {"40P01": "deadlock", "40001": "serialization failure"}
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out (schema steps)
RETRY_ATTEMPTS = 4            # the first run and three more
RETRY_BUDGET_SECONDS = 20.0   # no new attempt after this long (SQLite waits busy_timeout per try)


class Busy(Exception):
    """The database kept refusing the unit of work (deadlock, serialization, locked)."""

    def __init__(self, reason: str, attempts: int):
        super().__init__(f"{reason} after {attempts} attempt(s)")
        self.reason = reason
        self.attempts = attempts


def _chain(exc: BaseException):
    """The exception, its causes and contexts, and the driver errors peewee wraps."""
    seen = set()
    todo = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        todo.extend([error.__cause__, error.__context__])
        todo.extend(arg for arg in getattr(error, "args", ())[:1] if isinstance(arg, BaseException))


def _sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind a peewee exception (peewee wraps psycopg2's)."""
    return next((error.pgcode for error in _chain(exc) if getattr(error, "pgcode", None)), None)


def retry_reason(exc: BaseException) -> str | None:
    """Why the database asked for the transaction to be run again, or None if it did not."""
    if not isinstance(exc, DatabaseError):
        return None
    code = _sqlstate(exc)
    if code in RETRY_SQLSTATES:
        return f"{RETRY_SQLSTATES[code]} ({code})"
    if code is None and "database is locked" in str(exc):
        return "database is locked"
    return None


def discard_connection() -> None:
    """Forget this thread's connection when closing it failed (it died with a transaction still
    open in peewee's bookkeeping): close the driver connection and, for the pool, free its slot
    — else each such failure would keep one of the pool's 16 slots for good."""
    database = db.obj
    state = database._state
    conn = None if state.closed else state.conn
    state.reset()
    if conn is None:
        return
    in_use = getattr(database, "_in_use", None)
    if in_use is not None:
        with database._pool_lock:
            in_use.pop(database.conn_key(conn), None)
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - it is dead already; nothing more to do with it
        log.debug("closing a dead connection failed", exc_info=True)


UNAVAILABLE = "unavailable"  # the server cannot be reached, or dropped the connection
DISK_FULL = "disk full"


def unavailable_reason(exc: BaseException) -> str | None:
    """UNAVAILABLE or DISK_FULL when the database cannot do the work right now for a reason no
    retry of the request fixes, None for any other error (those stay errors)."""
    from peewee import InterfaceError

    if not isinstance(exc, (DatabaseError, InterfaceError)):
        return None
    code = _sqlstate(exc)
    # SQLITE_FULL rolls the whole transaction back by itself; peewee's own ROLLBACK then fails
    # ("no transaction is active") and that error hides the first one in its context.
    if code == "53100" or any("database or disk is full" in str(error)
                              for error in _chain(exc)):  # PostgreSQL disk_full, SQLITE_FULL
        return DISK_FULL
    if code is not None:
        # 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now.
        return UNAVAILABLE if code.startswith("08") or code in ("57P01", "57P02", "57P03") else None
    if not is_postgres():
        return None
    if isinstance(exc, InterfaceError):  # psycopg2: "connection already closed"
        return UNAVAILABLE
    # psycopg2 raises OperationalError without a SQLSTATE when the connection itself failed.
    driver = next((arg for arg in exc.args[:1] if isinstance(arg, BaseException)), exc)
    return UNAVAILABLE if type(driver).__name__ == "OperationalError" else None


def run_retrying(work: Callable, *, safe_to_repeat: Callable[[], bool] = lambda: True,
                 before_retry: Callable[[str, int], None] | None = None,
                 attempts: int = RETRY_ATTEMPTS, budget_seconds: float = RETRY_BUDGET_SECONDS):
    """Run `work()`; when the database answers deadlock / serialization failure / locked, roll
    back (the failed transaction already is) and run it again, a bounded number of times with
    jittered back-off. `safe_to_repeat()` is asked before each retry: when part of the failed
    run was committed (an audit event), repeating it would write it twice, so it raises Busy.
    Raises Busy when the attempts or the time budget run out; other errors pass through."""
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DatabaseError as exc:
            reason = retry_reason(exc)
            if reason is None:
                raise
            if db.in_transaction():  # the caller's own transaction: it must decide, not us
                raise
            if (attempt == attempts or not safe_to_repeat()
                    or time.monotonic() - started > budget_seconds):
                raise Busy(reason, attempt) from exc
            # Full jitter: two losers of the same deadlock should not collide again in step.
            time.sleep(random.uniform(0, 0.05 * 2 ** attempt))
            if before_retry is not None:
                before_retry(reason, attempt)
    raise AssertionError("unreachable")


# --- numbered schema steps ---------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One schema change, applied once and recorded in schema_migration.

    locks: tables the step may take an ACCESS EXCLUSIVE lock on (said aloud by init-db).
    transaction: False for PostgreSQL statements that refuse a transaction (CREATE INDEX
    CONCURRENTLY); such a step must be idempotent, as it may be cut short and run again."""

    version: int
    name: str
    run: Callable[[], None]
    locks: tuple[str, ...] = ()
    transaction: bool = True


def create_tables(*tables) -> Callable[[], None]:
    """A step body creating new tables (with their indexes) that are not there yet."""
    def run():
        _create_missing(tables)
    return run


def _create_missing(tables):
    """Create the tables that do not exist and, on those that do, only the indexes they lack.
    (CREATE INDEX IF NOT EXISTS on PostgreSQL locks the table before it finds the index there.)"""
    from peewee import sort_models

    existing = set(db.get_tables())
    for model in sort_models(tables):
        name = model._meta.table_name
        if name not in existing:
            model.create_table(safe=True)
            continue
        have = {index.name for index in db.get_indexes(name)}
        present = _columns(name)
        for index in model._meta.fields_to_index():
            if getattr(index, "_name", None) in have:
                continue
            # An index over a column a later step adds (resident.togo_atena_no, step 6) is that
            # later step's business: the column is not there yet.
            if not {getattr(e, "column_name", None) or getattr(e, "name", None)
                    for e in index._expressions} <= present:
                continue
            db.execute(model._schema._create_index(index, safe=True))


def _columns(table: str) -> set[str]:
    return {c.name for c in db.get_columns(table)}


def add_columns(table: str, *columns: tuple[str, str]) -> Callable[[], None]:
    """A step body adding (column, DDL) pairs to a shipped table, skipping any already there."""
    def run():
        present = _columns(table)
        for column, ddl in columns:
            if column not in present:
                db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {ddl}')
    return run


def build_index(table: str, name: str, columns: list[str], unique: bool = False,
                where: str = "") -> Callable[[], None]:
    """A step body building an index without blocking writers: CONCURRENTLY on PostgreSQL (use
    it in a Step with transaction=False). A concurrent build cut short leaves an invalid index;
    the next run drops it and builds again. `where` (SQL text written in the step, never input)
    makes it a partial index."""
    def run():
        cols = ", ".join(f'"{c}"' for c in columns)
        partial = f" WHERE {where}" if where else ""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        if not is_postgres():
            db.execute_sql(f'CREATE {kind} IF NOT EXISTS "{name}" ON "{table}" ({cols}){partial}')
            return
        invalid = db.execute_sql(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace "
            "AND NOT i.indisvalid", (name,)).fetchone()
        if invalid:
            db.execute_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        db.execute_sql(f'CREATE {kind} CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ({cols}){partial}')
    return run


# The tables as the release before numbered steps shipped them. Frozen: a table added later
# gets its own step, so that a database at step 1 learns of it.
BASELINE_MODELS = [
    models.Staff, models.Credential, models.UserSession, models.PendingChallenge,
    models.ImportBatch, models.Resident, models.ResidentChange, models.SeiriNumber,
    models.Institution, models.InstitutionChange, models.Screening, models.ScreeningChange,
    models.ScreeningKeying, models.ScreeningDifference, models.QueueItem, models.AuditHead,
    models.AuditEvent, models.LongLogonNotice, models.Inquiry, models.InquiryEntry,
    models.DisclosureRequest, models.DisclosureEntry,
]

# Columns earlier releases added to shipped tables (create_tables never alters a table).
BASELINE_COLUMNS_ADDED = [
    ("resident", "use_suspended", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("long_logon_notice", "reply_by", "DATE"),
]

# Byte-order collation so that prefix ranges on kana keys use the B-tree index (PostgreSQL).
BASELINE_C_COLLATED = [
    ("resident", "kana_key", "VARCHAR(60)"),
    ("resident", "name_key", "VARCHAR(60)"),
    ("queue_item", "kana_key", "VARCHAR(60)"),
]

SQLITE_AUDIT_TRIGGERS = {  # the append-only guards (baseline)
    "audit_event_no_update": """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    "audit_event_no_delete": """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
}
# Step 11: the event that extends the chain moves the head in the same statement, so that
# kenshin.audit appends with ONE statement on SQLite (PostgreSQL does it with a CTE).
SQLITE_AUDIT_HEAD_TRIGGER = {
    "audit_event_moves_head": """CREATE TRIGGER IF NOT EXISTS audit_event_moves_head AFTER INSERT ON audit_event
       WHEN NEW.seq = (SELECT seq + 1 FROM audit_head WHERE id = 1)
        AND NEW.prev_hash = (SELECT hash FROM audit_head WHERE id = 1)
       BEGIN UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END""",
}

POSTGRES_AUDIT_FUNCTION = """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only'; END; $$ LANGUAGE plpgsql"""
POSTGRES_AUDIT_TRIGGER = """CREATE TRIGGER audit_event_append_only
       BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"""


def _collation(table: str, column: str) -> str | None:
    row = db.execute_sql(
        "SELECT co.collname FROM pg_attribute a "
        "JOIN pg_class t ON t.oid = a.attrelid "
        "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
        "WHERE t.relname = %s AND t.relnamespace = current_schema()::regnamespace "
        "AND a.attname = %s AND NOT a.attisdropped", (table, column)).fetchone()
    return row[0] if row else None


def _baseline():
    """Step 1: the schema of the last release before numbered steps. On a database that release
    built, every part finds itself done and changes nothing (no ALTER COLUMN, no trigger)."""
    _create_missing(BASELINE_MODELS)
    for table, column, ddl in BASELINE_COLUMNS_ADDED:
        add_columns(table, (column, ddl))()
    if is_postgres():
        for table, column, sql_type in BASELINE_C_COLLATED:
            if _collation(table, column) != "C":
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" '
                               f'TYPE {sql_type} COLLATE "C"')
        if not db.execute_sql("SELECT 1 FROM pg_proc WHERE proname = 'audit_event_append_only' "
                              "AND pronamespace = current_schema()::regnamespace").fetchone():
            db.execute_sql(POSTGRES_AUDIT_FUNCTION)
        if not db.execute_sql("SELECT 1 FROM pg_trigger WHERE tgname = 'audit_event_append_only' "
                              "AND tgrelid = 'audit_event'::regclass").fetchone():
            db.execute_sql(POSTGRES_AUDIT_TRIGGER)
    else:
        _sqlite_audit_triggers()


def _old_marker() -> int:
    """The version the one-row schema_info of releases before numbered steps recorded (0: none)."""
    if not db.table_exists("schema_info"):
        return 0
    return db.execute_sql('SELECT MAX(version) FROM "schema_info"').fetchone()[0] or 0


def _pending_results():
    """判定保留 (issue 13): the column, and results stored before it exist keep their meaning under
    the new name. Of the codes that give 判定保留, only lung 読影不能 (A) and sputum 材料不適 (A) /
    再検査 (C) could be stored before (the others joined the code lists with it); those records
    were 要精検 = 0 and were shown as 精検不要 — now they are 判定保留. A 要精検 record stays 要精検.
    A database whose schema_info already said 2 had this done by the release that added it."""
    pg = is_postgres()
    # The type peewee's BooleanField creates on each database, so the shape matches a fresh one.
    add_columns("screening", ("pending", "BOOLEAN NOT NULL DEFAULT FALSE" if pg
                              else "INTEGER NOT NULL DEFAULT 0"))()
    if _old_marker() >= 2:
        return
    grade, sputum = (("(items::jsonb ->> 'xray_grade')", "(items::jsonb ->> 'sputum_class')") if pg
                     else ("json_extract(items, '$.xray_grade')", "json_extract(items, '$.sputum_class')"))
    db.execute_sql(f"UPDATE screening SET pending = {'TRUE' if pg else '1'} "
                   f"WHERE exam = 'lung' AND referral = {'FALSE' if pg else '0'} "
                   f"AND ({grade} = 'A' OR {sputum} IN ('A', 'C'))")


def _drop_old_marker():
    """The one-row schema_info of releases before numbered steps: nothing reads it any more."""
    if db.table_exists("schema_info"):
        db.execute_sql('DROP TABLE "schema_info"')


def _sqlite_triggers() -> set[str]:
    return {row[0] for row in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}


def _sqlite_audit_triggers(triggers: dict[str, str] = SQLITE_AUDIT_TRIGGERS):
    present = _sqlite_triggers()
    for name, statement in triggers.items():
        if name not in present:
            db.execute_sql(statement)


def _sqlite_rebuild(model) -> None:
    """Rebuild one SQLite table from its current declaration, keeping every row as it is.

    SQLite cannot drop a constraint or add AUTOINCREMENT in place (its documented 12-step
    recipe): new table, copy, drop, rename, indexes. Foreign keys are off meanwhile (the pragma
    only works outside a transaction, hence step 9 has transaction=False) and checked before
    commit. Only the columns the old table has are copied (a column a later step adds is then
    already there, and that step skips it). Copying audit_event is an INSERT — the append-only
    triggers guard UPDATE and DELETE, and a DROP fires no trigger; they are created again inside
    the same transaction. Every row keeps its id and values, so the chain still verifies."""
    table = model._meta.table_name
    temp = f"{table}__rebuild"
    create_sql, params = model._schema._create_table(safe=False).query()
    create_sql = create_sql.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{temp}"', 1)
    present = _columns(table)
    columns = ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields
                        if f.column_name in present)
    # The DROP takes the table's triggers with it: those there now are created again.
    all_triggers = {**SQLITE_AUDIT_TRIGGERS, **SQLITE_AUDIT_HEAD_TRIGGER}
    kept = {name: all_triggers[name] for name in _sqlite_triggers() if name in all_triggers}
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with db.atomic():
            db.execute_sql(f'DROP TABLE IF EXISTS "{temp}"')
            db.execute_sql(create_sql, params)
            db.execute_sql(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"')
            db.execute_sql(f'DROP TABLE "{table}"')
            db.execute_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
            model._schema.create_indexes(safe=True)
            _sqlite_audit_triggers({**SQLITE_AUDIT_TRIGGERS, **kept})
            problems = db.execute_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"rebuilding {table} would break foreign keys: {problems[:5]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def _drop_foreign_keys(table: str, parent: str | None = None) -> None:
    """PostgreSQL: drop `table`'s foreign keys (only those to `parent`, when named)."""
    to_parent = f" AND confrelid = '{parent}'::regclass" if parent else ""
    for (name,) in db.execute_sql(
            f"SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass "
            f"AND contype = 'f'{to_parent}").fetchall():
        db.execute_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def _sqlite_references(table: str, parent: str | None = None) -> bool:
    """SQLite: whether `table` has a foreign key (to `parent`, when named)."""
    return any(parent is None or row[2] == parent
               for row in db.execute_sql(f"PRAGMA foreign_key_list({table})").fetchall())


def _purge_ready():
    """Step 9 (purge, kenshin.operations.retention): audit_event.resident_id loses its foreign
    key, so a person past retention can be deleted while the append-only events that name them
    stay untouched; resident ids are never reused (AUTOINCREMENT on SQLite; a PostgreSQL
    sequence never reuses a number). PostgreSQL drops the constraint in one short transaction
    (ACCESS EXCLUSIVE on audit_event, under the step's lock_timeout). SQLite rebuilds the two
    tables (its pragma foreign_keys only changes outside a transaction), each in its own
    transaction; each part checks the schema first, so a run cut short simply runs again."""
    if is_postgres():
        with db.atomic():
            _drop_foreign_keys("audit_event", "resident")
        return
    if _sqlite_references("audit_event", "resident"):
        _sqlite_rebuild(models.AuditEvent)
    sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'resident'"
                         ).fetchone()
    if sql and "AUTOINCREMENT" not in sql[0].upper():
        _sqlite_rebuild(models.Resident)


def _audit_head_trigger():
    """Step 11: SQLite's trigger audit_event_moves_head (PostgreSQL: nothing, its CTE does it)."""
    if not is_postgres():
        _sqlite_audit_triggers(SQLITE_AUDIT_HEAD_TRIGGER)


def _seiri_unchecked():
    """Step 18 (issue 15): seiri_number.resident_id without a foreign key, as invitation's ids
    already are: a run issues 整理番号 to every person it invites in one statement, and
    PostgreSQL checked the key row by row with a lock on each resident's row (7 of 30 seconds of
    a 1M-resident run), and without its index on resident_id alone, which the unique
    (resident_id, fiscal_year) index makes redundant (one index fewer to write per number).
    PostgreSQL drops the constraint (ACCESS EXCLUSIVE on seiri_number, under
    the step's lock_timeout); SQLite rebuilds the table (foreign keys off, hence
    transaction=False). The purge still deletes a person's numbers first (it follows peewee's
    references, which models.UncheckedForeignKey keeps). Checks the schema first: a run cut
    short simply runs again."""
    if is_postgres():
        with db.atomic():
            _drop_foreign_keys("seiri_number", "resident")
            db.execute_sql('DROP INDEX IF EXISTS "seiri_number_resident_id"')
        return
    if _sqlite_references("seiri_number", "resident"):
        _sqlite_rebuild(models.SeiriNumber)
    db.execute_sql('DROP INDEX IF EXISTS "seiri_number_resident_id"')


def _invitation_sets():
    """Step 19 (issue 15): invitation holds one row per person × run with the run's exams for
    the person as a set (`exams`, the sum of models.INVITATION_EXAM_BITS) instead of a row per
    person × exam: a run at a city's size wrote 2.8 million rows, most of its time on
    PostgreSQL. The rows of a person in a run become one (the lowest id kept, its stop kept —
    a stop always applied to all of a person's rows of the 年度); the per-exam unique index
    gives way to (resident_id, fiscal_year) WHERE kind = 'invite', and (run_id, resident_id)
    becomes unique. The stop's run (stopped_run_id) loses its foreign key: PostgreSQL ran the
    check for each of the 0.7M rows a run writes (0.4 s), though they are all NULL; SQLite
    rebuilds the table for it (a child table: no pragma needed). In the step's transaction; a
    database made at this shape already (step 3 creates today's model) has nothing to do."""
    present = _columns("invitation")
    if "exam" in present:
        _merge_invitation_rows(present)
    if is_postgres():
        _drop_foreign_keys("invitation")
    elif _sqlite_references("invitation"):
        _sqlite_rebuild(models.Invitation)


def _merge_invitation_rows(present: set[str]):
    """Step 19's merge: a person's rows of a run become one, with the exams' bits."""
    bits = " ".join(f"WHEN '{code}' THEN {bit}" for code, bit in models.INVITATION_EXAM_BITS.items())
    if "exams" not in present:
        db.execute_sql('ALTER TABLE "invitation" ADD COLUMN "exams" INTEGER NOT NULL DEFAULT 0')
    db.execute_sql(f"UPDATE invitation SET exams = (SELECT SUM(CASE j.exam {bits} ELSE 0 END) "
                   f"FROM invitation j WHERE j.run_id = invitation.run_id "
                   f"AND j.resident_id = invitation.resident_id) "
                   f"WHERE id IN (SELECT MIN(id) FROM invitation GROUP BY run_id, resident_id)")
    # EXISTS, not NOT IN (SELECT MIN(id) …): PostgreSQL cannot turn NOT IN into an anti-join and
    # ran it as a subplan per row — over 14 minutes at 2.8 million rows
    db.execute_sql("DELETE FROM invitation WHERE EXISTS (SELECT 1 FROM invitation k "
                   "WHERE k.run_id = invitation.run_id AND k.resident_id = invitation.resident_id "
                   "AND k.id < invitation.id)")
    db.execute_sql('DROP INDEX IF EXISTS "invitation_once_per_year"')
    db.execute_sql('DROP INDEX IF EXISTS "invitation_run_id_resident_id"')
    db.execute_sql('ALTER TABLE "invitation" DROP COLUMN "exam"')
    _create_missing([models.Invitation])


STEPS = [
    Step(1, "baseline: the schema of the release before numbered steps", _baseline,
         locks=("resident", "queue_item")),
    Step(2, "screening.pending (判定保留) and its backfill", _pending_results, locks=("screening",)),
    Step(3, "item extensions, 整理番号 counter, screening rules, invitations",
         create_tables(models.ItemExtensionChange, models.SeiriCounter, models.ScreeningRuleSet,
                       models.ScreeningRule, models.InvitationRun, models.Invitation,
                       models.InvitationExclusion)),
    Step(4, "drop schema_info (replaced by schema_migration)", _drop_old_marker),
    Step(5, "provision: permitted queries, settings, queries and their steps (中間サーバー)",
         create_tables(models.PermittedQuery, models.ProvisionSetting, models.ProvisionQuery,
                       models.ProvisionStep)),
    Step(6, "resident.togo_atena_no (団体内統合宛名番号)",
         add_columns("resident", ("togo_atena_no", "VARCHAR(15)")), locks=("resident",)),
    Step(7, "unique index resident(togo_atena_no)",
         build_index("resident", "resident_togo_atena_no", ["togo_atena_no"], unique=True),
         transaction=False),
    Step(8, "operations: job runs, purge runs, training records, settings",
         create_tables(models.JobRun, models.PurgeRun, models.TrainingRecord, models.Setting)),
    Step(9, "audit_event.resident_id without a foreign key; resident ids never reused",
         _purge_ready, locks=("audit_event", "resident"), transaction=False),
    Step(10, "follow-up and statistics: statistics settings, reminder runs, reminders",
         create_tables(models.StatisticsSetting, models.ReminderRun, models.Reminder)),
    Step(11, "import history (取込の履歴): every import attempt with its outcome",
         create_tables(models.ImportRecord)),
    Step(12, "corrections that wait for a second person; drafts kept over the screen lock",
         create_tables(models.ScreeningProposal, models.SessionDraft)),
    Step(13, "last_search: a session's last resident search, kept on the server",
         create_tables(models.LastSearch)),
    Step(14, "index screening(resident, exam, fiscal_year, exam_date, status) of confirmed screenings",
         build_index("screening", "screening_confirmed_by_resident",
                     ["resident_id", "exam", "fiscal_year", "exam_date", "status"],
                     where="status = 'confirmed'"),
         transaction=False),
    Step(15, "invitation_run: the registry it read and its sign-off (承認)",
         add_columns("invitation_run", ("registry_batch_id", "INTEGER"), ("registry_at", "TIMESTAMP"),
                     ("signed_by_id", "INTEGER REFERENCES staff (id) ON DELETE RESTRICT"),
                     ("signed_label", "VARCHAR(64)"), ("signed_at", "TIMESTAMP")),
         locks=("invitation_run",)),
    Step(16, "statistics: the per-年度 snapshot of the screening report",
         create_tables(models.StatisticsSnapshot)),
    Step(17, "SQLite: an audit event that extends the chain moves audit_head (trigger)",
         _audit_head_trigger),
    Step(18, "seiri_number.resident_id without a foreign key nor its own index (numbers are issued in bulk)",
         _seiri_unchecked, locks=("seiri_number",), transaction=False),
    Step(19, "invitation: one row per person × run, the exams as a set (bits)", _invitation_sets,
         locks=("invitation",)),
    Step(20, "index screening(fiscal_year, resident_id, exam, exam_date, id, outcome) of confirmed "
             "screenings (the report's 年度 in person order)",
         build_index("screening", "screening_confirmed_by_year",
                     ["fiscal_year", "resident_id", "exam", "exam_date", "id", "setting", "referral",
                      "pending", "status"],
                     where="status = 'confirmed'"),
         transaction=False),
]

assert [s.version for s in STEPS] == list(range(1, len(STEPS) + 1)), \
    "schema steps must be numbered 1, 2, 3 … in order (renumber yours after a rebase)"
LATEST_STEP = STEPS[-1].version

STEP_LOCK_TIMEOUT_MS = 500   # how long a step waits for a table lock before letting traffic pass
STEP_LOCK_ATTEMPTS = 30      # then waits a little and tries again, this many times in all
_MIGRATION_LOCK_KEY = 0x6B656E7368696E  # pg_advisory_lock key: one migrator at a time


class SchemaBusy(Exception):
    """A step could not get its locks while the system was busy; nothing of it was applied."""


class SchemaTooNew(Exception):
    """The database records steps this code does not know (an older release against a newer schema)."""


def schema_version() -> int | None:
    """The last step applied; 0 for a database made before numbered steps; None when empty.
    Reads the catalogue and schema_migration only."""
    if db.table_exists(SchemaMigration._meta.table_name):
        version = SchemaMigration.select(fn.MAX(SchemaMigration.version)).scalar()
        if version:
            return version
    return 0 if db.table_exists(models.Staff._meta.table_name) else None


def create_schema(progress: Callable[[str], None] | None = None, steps: list[Step] | None = None,
                  lock_timeout_ms: int = STEP_LOCK_TIMEOUT_MS,
                  lock_attempts: int = STEP_LOCK_ATTEMPTS) -> str:
    """Bring the schema to the last step: "created" (empty database), "upgraded", or "current"
    (nothing to do: only the version was read). `steps` is for tests; the app uses STEPS."""
    steps = STEPS if steps is None else steps
    say = progress or (lambda message: None)
    latest = steps[-1].version
    version = schema_version()
    if version == latest:
        return "current"
    if version is not None and version > latest:
        raise SchemaTooNew(f"the database is at step {version}; this code knows {latest}")
    fresh = version is None
    with _migration_lock():
        SchemaMigration.create_table(safe=True)
        done = schema_version() or 0  # another migrator may have finished meanwhile
        for step in steps[done:]:
            _apply(step, say, lock_timeout_ms, lock_attempts)
    return "created" if fresh else "upgraded"


class _migration_lock:
    def __enter__(self):
        if is_postgres():
            db.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def __exit__(self, *exc):
        if is_postgres() and not db.is_closed():
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))


def _retryable_for_steps(exc: BaseException) -> str | None:
    if _sqlstate(exc) == LOCK_NOT_AVAILABLE:
        return "lock timeout"
    return retry_reason(exc)


def _apply(step: Step, say, lock_timeout_ms: int, lock_attempts: int):
    locks = f" (locks {', '.join(step.locks)} briefly)" if step.locks else ""
    say(f"step {step.version}: {step.name}{locks}")
    for attempt in range(1, lock_attempts + 1):
        try:
            _apply_once(step, lock_timeout_ms)
            return
        except DatabaseError as exc:
            reason = _retryable_for_steps(exc)
            if reason is None:
                raise
            if attempt == lock_attempts:
                raise SchemaBusy(f"step {step.version} ({step.name}): {reason} on every one of "
                                 f"{lock_attempts} attempts; nothing of it was applied — run "
                                 f"init-db again when the system is quieter") from exc
            say(f"step {step.version}: {reason}, letting traffic pass (attempt {attempt})")
            time.sleep(random.uniform(0.05, 0.25) * min(attempt, 8))


def _recorded(version: int) -> bool:
    return SchemaMigration.select().where(SchemaMigration.version == version).exists()


def _record(step: Step):
    SchemaMigration.create(version=step.version, name=step.name[:200],
                           applied_at=datetime.now(timezone.utc).replace(tzinfo=None))


def _apply_once(step: Step, lock_timeout_ms: int):
    pg = is_postgres()
    if step.transaction:
        with db.atomic():
            if pg:
                db.execute_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            if _recorded(step.version):
                return
            step.run()
            _record(step)
        return
    if _recorded(step.version):
        return
    if pg:
        db.execute_sql(f"SET lock_timeout = {int(lock_timeout_ms)}")
    try:
        step.run()
    finally:
        if pg and not db.is_closed():
            db.execute_sql("RESET lock_timeout")
    with db.atomic():
        if not _recorded(step.version):
            _record(step)
