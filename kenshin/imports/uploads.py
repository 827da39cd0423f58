"""Uploaded import files kept on the server between preview and confirm.

The file waits in a directory (instance/uploads) under a random name, beside a small JSON note
of who uploaded it, its original name, encoding and checksum. Only the uploader can confirm or
discard it; it is deleted after the import (or when it is more than MAX_AGE old).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from kenshin.core.errors import NotFound
from kenshin.imports.csvimport import Source

MAX_AGE_SECONDS = 2 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class Upload:
    token: str
    source: Source
    staff_id: int
    kind: str


def _paths(directory: str, token: str) -> tuple[str, str]:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise NotFound("not an upload token")
    return os.path.join(directory, token + ".csv"), os.path.join(directory, token + ".json")


def save(directory: str, source: Source, staff_id: int, kind: str) -> str:
    """Keep an uploaded file; returns the token that names it."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    sweep(directory)
    token = secrets.token_urlsafe(24)  # 32 characters
    data_path, note_path = _paths(directory, token)
    for path, payload in ((data_path, source.data),
                          (note_path, json.dumps({"staff": staff_id, "kind": kind,
                                                  "file_name": source.file_name,
                                                  "encoding": source.encoding,
                                                  "detected": source.detected,
                                                  "sha256": source.sha256}).encode())):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
    return token


def load(directory: str, token: str, staff_id: int, kind: str) -> Upload:
    """The upload named by token, if this staff member made it for this kind; NotFound otherwise."""
    data_path, note_path = _paths(directory, token)
    try:
        with open(note_path, "rb") as handle:
            note = json.loads(handle.read())
        with open(data_path, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError):
        raise NotFound("no such upload") from None
    if note.get("staff") != staff_id or note.get("kind") != kind:
        raise NotFound("not this person's upload")
    source = Source(note["file_name"], data, note["encoding"], bool(note.get("detected")))
    if source.sha256 != note.get("sha256"):
        raise NotFound("the upload changed")
    return Upload(token, source, staff_id, kind)


def discard(directory: str, token: str) -> None:
    try:
        paths = _paths(directory, token)
    except NotFound:
        return
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def sweep(directory: str, max_age: int = MAX_AGE_SECONDS) -> None:
    """Delete uploads left behind (never confirmed or discarded)."""
    limit = time.time() - max_age
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            if os.path.getmtime(path) < limit:
                os.remove(path)
        except OSError:
            pass
