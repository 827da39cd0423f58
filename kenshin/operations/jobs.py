"""Job runs: one row per operator job with its outcome, duration and counts (no personal data)."""
from __future__ import annotations

from contextlib import contextmanager

from dataclasses import dataclass
from datetime import datetime

from models import AuditEvent, JobRun, db

from kenshin.core.dates import now_utc

# What the maintainer's screen calls each job.
JOB_LABELS = {
    "backup": "バックアップ",
    "restore": "リストア",
    "purge": "保存期間経過データの消去",
    "audit-verify": "アクセスログ検証",
    "import.residents": "住民記録連携ファイル取込",
    "import.institutions": "協力医療機関取込",
    "import.results": "検診結果ファイル取込",
}
# Jobs whose run is their audit event (an import writes nothing but its data and that event —
# FORMATS.md — so it gets no JobRun row): action → outcome words of its details.
AUDITED_JOBS = ("import.residents", "import.institutions", "import.results")


class Run:
    """The run in progress: set `outcome` and `summary` before the block ends."""

    def __init__(self, job: str, actor_label: str):
        self.job = job
        self.actor_label = actor_label
        self.started_at = now_utc()
        self.outcome = "ok"
        self.summary: dict = {}


@contextmanager
def run(job: str, actor_label: str):
    """Time a job and record it when it ends, also when it fails (outcome `failed`).

    The record is written in its own transaction after the job: a job that failed and rolled
    back still leaves its run. A run that cannot be recorded (read-only database) is not an
    error of the job itself."""
    current = Run(job, actor_label)
    try:
        yield current
    except BaseException as exc:
        if not isinstance(exc, SystemExit) or exc.code not in (0, None):
            current.outcome = "failed" if current.outcome == "ok" else current.outcome
        raise
    finally:
        record(current)


def record(current: Run) -> None:
    try:
        with db.atomic():
            JobRun.create(job=current.job[:32], started_at=current.started_at,
                          finished_at=now_utc(), outcome=current.outcome[:12],
                          actor_label=current.actor_label[:64], summary=current.summary)
    except Exception:  # noqa: BLE001 - see run(): the job's own result stands
        pass


def latest(job: str, outcome: str | None = None) -> JobRun | None:
    query = JobRun.select().where(JobRun.job == job)
    if outcome:
        query = query.where(JobRun.outcome == outcome)
    return query.order_by(JobRun.started_at.desc(), JobRun.id.desc()).first()


@dataclass
class Listed:
    """One line of the job list: a JobRun, or an audited job (duration unknown)."""

    job: str
    started_at: datetime
    seconds: float | None
    outcome: str
    actor_label: str
    summary: dict


def recent(limit: int = 50) -> list[Listed]:
    """The newest job runs, JobRun rows and audited imports together, newest first.

    Only counts leave an import's event: not the file name, not the problems."""
    rows = [Listed(r.job, r.started_at, (r.finished_at - r.started_at).total_seconds(), r.outcome,
                   r.actor_label, r.summary)
            for r in JobRun.select().order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(limit)]
    events = (AuditEvent.select(AuditEvent.action, AuditEvent.at, AuditEvent.outcome,
                                AuditEvent.actor_label, AuditEvent.details)
              .where(AuditEvent.action.in_(AUDITED_JOBS))
              .order_by(AuditEvent.at.desc()).limit(limit))
    for event in events:
        details = event.details or {}
        counts = details.get("counts") if isinstance(details.get("counts"), dict) else {}
        summary = {k: v for k, v in counts.items() if isinstance(v, int)}
        if isinstance(details.get("problems"), int):
            summary["problems"] = details["problems"]
        outcome = "ok" if details.get("outcome", event.outcome) in ("accepted", "ok") else "rejected"
        rows.append(Listed(event.action, event.at, None, outcome, event.actor_label, summary))
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return rows[:limit]
