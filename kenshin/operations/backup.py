"""Backup and restore, proven against the audit chain.

A backup is one file — SQLite: a page copy through the online backup API, consistent while the app
writes; PostgreSQL: `pg_dump` custom format (-Fc) — and beside it `NAME.json` with the file's
SHA-256, the time, and the audit head (seq and hash) *inside that snapshot*: read from the copy
itself (SQLite) or in the very snapshot pg_dump dumps (`pg_export_snapshot`, PostgreSQL). Backup
names carry no dot (`kenshin-pg-20261130T150000Z`), so NAME.json is the same file whether NAME is
read with or without an extension.

Restore goes into an empty database only, checks the SHA-256 before touching it, and afterwards
walks the audit chain and requires it to end exactly at the saved head. The chain's key
(KENSHIN_AUDIT_KEY) is not in the backup: the restoring installation must have the same key.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

import models

from kenshin import audit

NAME = re.compile(r"^kenshin-(sqlite|pg)-(\d{8}T\d{6}Z)(?:-(\d+))?$")
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(Exception):
    """The backup or restore cannot be done; str() says why, for the operator."""


@dataclass
class Backup:
    path: str
    meta_path: str
    sha256: str
    size: int
    time: str
    audit_seq: int
    audit_head: str
    database: str


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- where the configured database is --------------------------------------------------------

def _kind(url: str) -> str:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "pg"
    raise BackupError(f"unsupported database URL scheme: {scheme!r}")


def _sqlite_path(url: str) -> str:
    path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else urlparse(url).path
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return path


def _pg_env(url: str) -> dict:
    """libpq's environment for the URL: the password never appears on a command line."""
    parsed = urlparse(url)
    env = dict(os.environ)
    for name, value in (("PGHOST", parsed.hostname), ("PGPORT", parsed.port),
                        ("PGUSER", unquote(parsed.username) if parsed.username else None),
                        ("PGPASSWORD", unquote(parsed.password) if parsed.password else None),
                        ("PGDATABASE", unquote(parsed.path.lstrip("/")))):
        if value not in (None, ""):
            env[name] = str(value)
    return env


def _pg_connect(url: str):
    import psycopg2

    env = _pg_env(url)
    return psycopg2.connect(dbname=env.get("PGDATABASE"), user=env.get("PGUSER"),
                            password=env.get("PGPASSWORD"), host=env.get("PGHOST"),
                            port=env.get("PGPORT"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} was not found on PATH (install the PostgreSQL client tools "
                          f"of the server's major version)")
    return path


# --- backup ----------------------------------------------------------------------------------

def _new_name(output_dir: str, kind: str, now: datetime) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    name, n = f"kenshin-{kind}-{stamp}", 1
    while os.path.exists(os.path.join(output_dir, name)) or \
            os.path.exists(os.path.join(output_dir, name + ".json")):
        n += 1
        name = f"kenshin-{kind}-{stamp}-{n}"
    return name


def _head_of(cursor) -> tuple[int, str]:
    """The audit head inside a snapshot: (0, GENESIS) before the first event."""
    try:
        cursor.execute("SELECT seq, hash FROM audit_head")
        rows = cursor.fetchall()
    except Exception as exc:  # noqa: BLE001 - no audit_head table: an empty database
        raise BackupError(f"the database has no audit_head table (run init-db first): {exc}")
    if not rows:
        return 0, audit.GENESIS
    if len(rows) != 1:
        raise BackupError(f"audit_head has {len(rows)} rows (expected 1)")
    return int(rows[0][0]), rows[0][1]


def _backup_sqlite(url: str, target: str) -> tuple[int, str]:
    source = sqlite3.connect(_sqlite_path(url), timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            # One step (pages=-1): the whole database under one read transaction, so the copy is
            # a single consistent moment even while other processes write (WAL lets them go on).
            source.backup(copy)
            head = _head_of(copy.cursor())
            # The copy carries the source's WAL flag; as a rollback-journal file it is one
            # self-contained file that can be read (restore) without -wal/-shm files beside it.
            copy.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            copy.close()
    finally:
        source.close()
    return head


def _backup_pg(url: str, target: str) -> tuple[int, str]:
    pg_dump = _tool("pg_dump")
    conn = _pg_connect(url)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            head = _head_of(cur)
        # pg_dump reads the same snapshot while this transaction stays open.
        done = subprocess.run([pg_dump, "--format=custom", f"--snapshot={snapshot}",
                               f"--file={target}"], env=_pg_env(url),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()[:800]}")
    finally:
        conn.rollback()
        conn.close()
    return head


def take(output_dir: str, url: str, schema: int | None = None) -> Backup:
    """Write one backup file and its NAME.json into output_dir (created if missing, mode 0700).

    The file is written under a temporary name and renamed when complete, so a backup name
    always means a whole file; the files are readable by their owner only (personal data)."""
    kind = _kind(url)
    os.makedirs(output_dir, mode=0o700, exist_ok=True)
    now = datetime.now(timezone.utc)
    name = _new_name(output_dir, kind, now)
    path = os.path.join(output_dir, name)
    partial = path + ".partial"
    old_umask = os.umask(0o077)
    try:
        if kind == "sqlite":
            seq, head = _backup_sqlite(url, partial)
        else:
            seq, head = _backup_pg(url, partial)
        os.chmod(partial, 0o600)
        digest, size = sha256_of(partial), os.path.getsize(partial)
        os.replace(partial, path)
        meta = {"file": name, "database": "sqlite" if kind == "sqlite" else "postgresql",
                "sha256": digest, "size": size,
                "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "audit_seq": seq, "audit_head": head, "schema": schema}
        meta_path = path + ".json"
        with open(meta_path + ".partial", "w", encoding="utf-8") as handle:
            json.dump(meta, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        os.replace(meta_path + ".partial", meta_path)
    except BaseException:
        for leftover in (partial, path + ".json.partial"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    finally:
        os.umask(old_umask)
    return Backup(path, meta_path, digest, size, meta["time"], seq, head, meta["database"])


def rotate(output_dir: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups (file and NAME.json) of this system in output_dir.

    Only names this module writes are touched; a file someone else put there stays."""
    if keep < 1:
        raise BackupError("keep must be at least 1")
    found = []
    for entry in os.listdir(output_dir):
        match = NAME.match(entry)
        if match and os.path.isfile(os.path.join(output_dir, entry)):
            found.append((match.group(2), int(match.group(3) or 1), entry))
    found.sort(reverse=True)
    removed = []
    for _stamp, _n, entry in found[keep:]:
        for name in (entry, entry + ".json"):
            path = os.path.join(output_dir, name)
            if os.path.exists(path):
                os.remove(path)
        removed.append(entry)
    return removed


# --- restore ---------------------------------------------------------------------------------

@dataclass
class Restored:
    path: str
    events: int
    audit_head: str


def read_meta(path: str) -> tuple[str, dict]:
    """The backup file and its NAME.json (PATH may name either)."""
    if path.endswith(".json"):
        path = path[:-len(".json")]
    meta_path = path + ".json"
    if not os.path.isfile(path):
        raise BackupError(f"no backup file at {path}")
    if not os.path.isfile(meta_path):
        raise BackupError(f"{os.path.basename(meta_path)} is missing beside the backup: "
                          f"without its SHA-256 and audit head the backup cannot be proven")
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
        for key in ("sha256", "audit_head", "audit_seq"):
            meta[key]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{os.path.basename(meta_path)} cannot be read: {exc}")
    return path, meta


# Tables that only record which schema steps ran (init-db fills them on an empty database):
# schema_migration (numbered steps, database.STEPS), schema_info (releases before them).
SCHEMA_BOOKKEEPING = frozenset({"schema_migration", "schema_info"})


def _tables_with_rows_sqlite(path: str) -> tuple[list[str], list[str]]:
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return [], []
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        full = [t for t in tables if t not in SCHEMA_BOOKKEEPING
                and conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
    finally:
        conn.close()
    return tables, full


def _tables_with_rows_pg(conn) -> tuple[list[str], list[str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cur.fetchall()]
        full = []
        for table in tables:
            if table in SCHEMA_BOOKKEEPING:
                continue
            cur.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
            if cur.fetchone():
                full.append(table)
    return tables, full


def _not_empty(full: list[str]) -> BackupError:
    return BackupError(
        f"the configured database is not empty ({len(full)} tables hold rows, e.g. "
        f"{', '.join(sorted(full)[:5])}); restore only into a newly created, empty database — "
        f"nothing was changed")


def _close_app_connections() -> None:
    """Close this process's connections so the restore has the database to itself."""
    database = models.db.obj
    if not models.db.is_closed():
        models.db.close()
    keeper = getattr(database, "_keeper", None)
    if keeper is not None:
        keeper.close()
        database._keeper = None
    if hasattr(database, "close_all"):
        database.close_all()


def _restore_sqlite(path: str, url: str) -> None:
    target = _sqlite_path(url)
    _tables, full = _tables_with_rows_sqlite(target)
    if full:
        raise _not_empty(full)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    _close_app_connections()
    # immutable: read the file as it is, creating nothing beside it in the backup directory.
    source = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()


def _restore_pg(path: str, url: str) -> None:
    pg_restore = _tool("pg_restore")
    conn = _pg_connect(url)
    try:
        tables, full = _tables_with_rows_pg(conn)
        if full:
            raise _not_empty(full)
        if tables:
            # An empty schema (init-db on a new database): nothing to lose; make way for the dump.
            with conn.cursor() as cur:
                cur.execute("DROP TABLE IF EXISTS " + ", ".join(f'"{t}"' for t in tables)
                            + " CASCADE")
                cur.execute("DROP FUNCTION IF EXISTS audit_event_append_only() CASCADE")
            conn.commit()
    finally:
        conn.close()
    _close_app_connections()
    env = _pg_env(url)
    done = subprocess.run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
                           "--single-transaction", f"--dbname={env['PGDATABASE']}", path],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing restored): {done.stderr.strip()[:800]}")


def restore(path: str, url: str) -> Restored:
    """Restore PATH into the empty configured database and prove it against the saved head."""
    path, meta = read_meta(path)
    actual = sha256_of(path)
    if actual != meta["sha256"]:
        raise BackupError(f"SHA-256 mismatch: the file is {actual}, {os.path.basename(path)}.json "
                          f"says {meta['sha256']} — the backup is damaged or was altered; "
                          f"nothing was restored")
    with open(path, "rb") as handle:
        magic = handle.read(16)
    kind = _kind(url)
    if kind == "sqlite" and magic != SQLITE_MAGIC:
        raise BackupError("the configured database is SQLite but the file is not a SQLite backup")
    if kind == "pg" and not magic.startswith(PG_MAGIC):
        raise BackupError("the configured database is PostgreSQL but the file is not a "
                          "pg_dump custom-format backup")
    if kind == "sqlite":
        _restore_sqlite(path, url)
    else:
        _restore_pg(path, url)
    return Restored(path, *prove(int(meta["audit_seq"]), meta["audit_head"]))


def prove(seq: int, head: str) -> tuple[int, str]:
    """The restored chain must verify and end exactly at the saved head."""
    result = audit.verify(head if seq > 0 else None)
    if not result.ok:
        hint = (" (is KENSHIN_AUDIT_KEY the key of the system the backup came from?)"
                if result.bad_seq == 1 else "")
        raise BackupError(f"restored, but the audit chain does not verify: {result.problem}{hint}")
    if result.count != seq or result.head != head:
        raise BackupError(f"restored, but the audit chain ends at seq={result.count} "
                          f"head={result.head}, not at the saved seq={seq} head={head}")
    return result.count, result.head
