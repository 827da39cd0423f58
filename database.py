"""Binding the models to a database, creating and upgrading the schema, and the audit guards.

models.py declares the tables; this module knows the two databases (SQLite for one machine,
PostgreSQL for production) and what each needs beyond the declarations.
"""
import io
import os
from urllib.parse import unquote, urlparse

from peewee import PostgresqlDatabase, SqliteDatabase

from models import ALL_MODELS, SchemaInfo, db

SCHEMA_VERSION = 4  # 2: 判定保留 (pending); 3: audit_event.resident_id without a constraint, resident ids
# never reused; 4: reminder runs and statistics settings (new tables only)


class _SqliteDatabase(SqliteDatabase):
    """SQLite that keeps one idle connection per process open on the file.

    When the LAST connection to a WAL database closes, SQLite checkpoints the WAL into the
    database (an fsync) and deletes it. Requests connect and close (teardown_request), so nearly
    every request that writes — and every personal-data view writes its audit event — paid that
    checkpoint: ~10 ms (bench/audit.py). An idle connection that has read the database once
    keeps the WAL open; the usual auto-checkpoint (every 1000 pages) still runs."""

    _keeper = None

    def _connect(self):
        conn = super()._connect()
        if self._keeper is None and self.database != ":memory:":
            import sqlite3

            keeper = sqlite3.connect(self.database, check_same_thread=False)
            keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            self._keeper = keeper
        return conn


def make_database(url: str):
    """A peewee database for `sqlite:///path` or `postgresql://user@host[:port]/name`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else parsed.path
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # BEGIN IMMEDIATE: a deferred transaction that read first cannot upgrade to a write once
        # another worker has committed (SQLITE_BUSY_SNAPSHOT is not waited out by busy_timeout).
        return _SqliteDatabase(path, lock_type="IMMEDIATE", pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "normal",
            "busy_timeout": 10000,
            "cache_size": -64000,
        })
    if parsed.scheme in ("postgres", "postgresql"):
        # A small pool per worker: a new PostgreSQL connection costs more than most requests.
        from playhouse.pool import PooledPostgresqlDatabase

        return PooledPostgresqlDatabase(
            max_connections=16, stale_timeout=300, timeout=10,
            database=unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or None,
            port=parsed.port or None,
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.scheme!r}")


def bind(url: str):
    """Point the proxy at the database named by `url` (once per process or test app)."""
    database = make_database(url)
    db.initialize(database)
    return database


def is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


SQLITE_AUDIT_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
]

POSTGRES_EXTRAS = [
    # Byte-order collation so that prefix ranges on kana keys use the B-tree index.
    'ALTER TABLE resident ALTER COLUMN kana_key TYPE VARCHAR(60) COLLATE "C"',
    'ALTER TABLE resident ALTER COLUMN name_key TYPE VARCHAR(60) COLLATE "C"',
    'ALTER TABLE queue_item ALTER COLUMN kana_key TYPE VARCHAR(60) COLLATE "C"',
    """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only'; END; $$ LANGUAGE plpgsql""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_event_append_only') THEN
           CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event
             FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
         END IF;
       END $$""",
]


# Columns added to tables that already shipped (create_tables never alters a table): (table, column, DDL).
ADDED_COLUMNS = [
    ("resident", "use_suspended", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("long_logon_notice", "reply_by", "DATE"),
    ("screening", "pending", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("resident", "togo_atena_no", "VARCHAR(15)"),
]
# Indexes on added columns (create_tables made them only for new tables): (name, table, columns).
ADDED_INDEXES = [
    ("resident_togo_atena_no", "resident", "togo_atena_no"),
]


def _backfill_pending() -> None:
    """Schema 2 (issue 13): results stored before 判定保留 existed keep their meaning under the new
    name. Of the codes that give 判定保留, only lung 読影不能 (A) and sputum 材料不適 (A) / 再検査 (C)
    could be stored before (the others joined the code lists with it); those records were 要精検 = 0
    and were shown as 精検不要 — now they are 判定保留. A 要精検 record stays 要精検."""
    grade, sputum = (("json_extract(items, '$.xray_grade')", "json_extract(items, '$.sputum_class')")
                     if not is_postgres() else ("(items::jsonb ->> 'xray_grade')", "(items::jsonb ->> 'sputum_class')"))
    db.execute_sql(f"UPDATE screening SET pending = {'TRUE' if is_postgres() else '1'} "
                   f"WHERE exam = 'lung' AND referral = {'FALSE' if is_postgres() else '0'} "
                   f"AND ({grade} = 'A' OR {sputum} IN ('A', 'C'))")


# Steps that change stored values, by the schema version they bring the database to. Schema 3
# (issue 16) only adds tables (statistics_setting, reminder_run, reminder), which create_tables
# makes; it has no step, and the version says an older database was upgraded.
UPGRADES = {2: _backfill_pending}


def _add_missing_columns() -> bool:
    added = False
    for table, column, ddl in ADDED_COLUMNS:
        if column not in {c.name for c in db.get_columns(table)}:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {ddl}')
            added = True
    for name, table, column in ADDED_INDEXES:
        db.execute_sql(f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')
    return added


def schema_version() -> int | None:
    """The schema version the database was last brought to (None before init-db): /healthz and
    the maintainer's screen read it here, whatever the upgrade machinery becomes."""
    if not db.table_exists("schema_info"):
        return None
    info = SchemaInfo.select(SchemaInfo.version).order_by(SchemaInfo.version.desc()).first()
    return info.version if info else None


def _sqlite_rebuild(model) -> None:
    """Rebuild one SQLite table from its current declaration, keeping every row as it is.

    SQLite cannot drop a constraint or add AUTOINCREMENT in place (its documented 12-step
    recipe): new table, copy, drop, rename, indexes. Foreign keys are off meanwhile (the pragma
    only works outside a transaction) and checked before commit. Copying audit_event is an
    INSERT — the append-only triggers guard UPDATE and DELETE, and a DROP fires no trigger; they
    are created again below. Every row keeps its id and values, so the chain still verifies."""
    table = model._meta.table_name
    temp = f"{table}__rebuild"
    create_sql, params = model._schema._create_table(safe=False).query()
    create_sql = create_sql.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{temp}"', 1)
    columns = ", ".join(f'"{f.column_name}"' for f in model._meta.sorted_fields)
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with db.atomic():
            db.execute_sql(create_sql, params)
            db.execute_sql(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"')
            db.execute_sql(f'DROP TABLE "{table}"')
            db.execute_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
            model._schema.create_indexes(safe=True)
            problems = db.execute_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"rebuilding {table} would break foreign keys: {problems[:5]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def _upgrade_to_3() -> bool:
    """Schema 3 (purge, kenshin.operations.retention): audit_event.resident_id loses its foreign
    key, so a person past retention can be deleted while the append-only events that name them
    stay untouched; resident ids are never reused (AUTOINCREMENT on SQLite)."""
    changed = False
    if not db.table_exists("audit_event"):
        return False
    if is_postgres():
        rows = db.execute_sql(
            """SELECT conname FROM pg_constraint
                WHERE conrelid = 'audit_event'::regclass AND contype = 'f'
                  AND confrelid = 'resident'::regclass""").fetchall()
        for (name,) in rows:
            db.execute_sql(f'ALTER TABLE audit_event DROP CONSTRAINT "{name}"')
            changed = True
        return changed
    from models import AuditEvent, Resident

    references = db.execute_sql("PRAGMA foreign_key_list(audit_event)").fetchall()
    if any(row[2] == "resident" for row in references):
        _sqlite_rebuild(AuditEvent)
        changed = True
    sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'resident'"
                         ).fetchone()
    if sql and "AUTOINCREMENT" not in sql[0].upper():
        _sqlite_rebuild(Resident)
        changed = True
    return changed


def create_schema() -> str:
    """Create missing tables, indexes and guards; safe to run any number of times."""
    # Schema 3 runs before the transaction: SQLite's table rebuild needs foreign keys off, which
    # only works outside one. It looks at the schema itself, so it is safe on every run.
    upgraded = _upgrade_to_3()
    with db.atomic():
        existed = db.table_exists("schema_info")
        db.create_tables(ALL_MODELS, safe=True)
        altered = _add_missing_columns()
        if is_postgres():
            for statement in POSTGRES_EXTRAS:
                db.execute_sql(statement)
        else:
            for statement in SQLITE_AUDIT_TRIGGERS:
                db.execute_sql(statement)
        info = SchemaInfo.select().first()
        if info is None:
            SchemaInfo.create(version=SCHEMA_VERSION)
            return "created" if not existed else "upgraded"
        if info.version < SCHEMA_VERSION:
            for version in range(info.version + 1, SCHEMA_VERSION + 1):
                if version in UPGRADES:
                    UPGRADES[version]()
            SchemaInfo.update(version=SCHEMA_VERSION).execute()
            return "upgraded"
        return "upgraded" if (altered or upgraded) else "current"


# --- bulk writers: imports and demo data --------------------------------------------------------

SQLITE_CHUNK = 5_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
