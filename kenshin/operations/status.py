"""What the maintainer (委託先・運用保守) sees: the system's state, never a person.

Everything here is a count, a size, a time, a version or an outcome; job summaries hold counts
and file names of backups only (jobs.py). Table names are the schema's, row counts are exact.
"""
from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta

import database
import models
from models import db

from kenshin.core.dates import now_utc

from . import jobs

BACKUP_STALE = timedelta(hours=36)  # a nightly backup missed once is already a warning
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def version() -> str:
    try:
        with open(os.path.join(_ROOT, "pyproject.toml"), "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "不明"


def database_size() -> int | None:
    """Bytes on disk: the SQLite file with its WAL, or pg_database_size."""
    if database.is_postgres():
        return db.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0]
    path = db.obj.database
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def row_counts() -> list[tuple[str, int]]:
    return [(m._meta.table_name, m.select().count()) for m in models.ALL_MODELS]


@dataclass
class Disk:
    path: str
    total: int
    free: int

    @property
    def free_ratio(self) -> float:
        return self.free / self.total if self.total else 0.0


def disk(path: str) -> Disk:
    usage = shutil.disk_usage(path)
    return Disk(path, usage.total, usage.free)


@dataclass
class Status:
    version: str
    schema: int | None
    database_kind: str
    database_size: int | None
    tables: list[tuple[str, int]]
    last_backup: models.JobRun | None
    backup_age: timedelta | None
    backup_stale: bool
    last_verify: models.JobRun | None
    runs: list[models.JobRun]
    disks: list[Disk]


def status(paths: list[str], now: datetime | None = None) -> Status:
    """The maintainer's screen. `paths`: directories whose free space matters (instance, backups)."""
    now = now or now_utc()
    last_backup = jobs.latest("backup", "ok")
    age = (now - last_backup.finished_at) if last_backup else None
    seen, disks = set(), []
    for path in paths:
        if path and os.path.isdir(path):
            found = disk(path)
            if (found.total, found.free) not in seen:
                seen.add((found.total, found.free))
                disks.append(found)
    return Status(version=version(), schema=database.schema_version(),
                  database_kind="PostgreSQL" if database.is_postgres() else "SQLite",
                  database_size=database_size(), tables=row_counts(),
                  last_backup=last_backup, backup_age=age,
                  backup_stale=last_backup is None or age > BACKUP_STALE,
                  last_verify=jobs.latest("audit-verify"), runs=jobs.recent(50), disks=disks)
