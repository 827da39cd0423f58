"""Test-only fault points: stop a process inside a transaction so a test can kill it there.

The fault tests (tests/test_faults.py) start gunicorn or `flask import-results` with
KENSHIN_TESTING=true, KENSHIN_FAULT_PAUSE_AT=<audit action> and KENSHIN_FAULT_PAUSE_FILE=<path>:
when that audit event has been written — the record it audits already written too, nothing
committed yet — the process creates the file with its pid and sleeps, and the test `kill -9`s
it. Only the first process to get there pauses (the file exists afterwards), so the same
action tried again after the kill goes through.
app.create_app refuses the setting outside TESTING, so a production process never pauses.
"""
import os
import time

_pause: tuple[str, str] | None = None
PAUSE_SECONDS = 300  # longer than any test waits; the test kills the process long before


def configure(action: str | None, path: str | None) -> None:
    global _pause
    _pause = (action, path) if action and path else None


def point(action: str) -> None:
    """Called inside the audited transaction; pauses only in a process configured for `action`."""
    if _pause is None or _pause[0] != action:
        return
    try:  # once per file, whichever process gets there first: the next attempt goes through
        fd = os.open(_pause[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(PAUSE_SECONDS)
