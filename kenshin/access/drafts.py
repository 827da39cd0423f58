"""Drafts kept over the screen lock (issue 14): a clerk typing an inquiry during a phone call is
locked after a few idle minutes; what they had typed must survive the lock and the unlock.

When the page locks itself it sends what was typed in its forms (fields whose value differs
from what the server rendered; never a password) here. The draft belongs to that server-side
session only: never the browser's storage or a cookie. The unlock gives the session a new id and
carries the draft over (sessions.start); the first page shown at the draft's path afterwards
gets it back and the draft is deleted. Ending the session deletes it. Audit events say that a
draft was kept or restored and how many fields — never their contents or the page's address.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from models import SessionDraft, UserSession, db

from kenshin import audit
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid

MAX_FIELDS = 200
MAX_VALUE = 20_000  # characters per field (an inquiry's text is far shorter)
MAX_PATH = 500
MAX_TOTAL = 200_000  # characters in all: a page of forms, not a store for anything else


def safe_path(path) -> str | None:
    """A same-site path to go back to: "/..." but never "//host" or a backslash trick."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH:
        return None
    if path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return None
    return path


def _clean_fields(fields) -> list[dict]:
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise Invalid({"fields": ["下書きの形式が正しくありません"]})
    out = []
    for field in fields:
        if not isinstance(field, dict):
            raise Invalid({"fields": ["下書きの形式が正しくありません"]})
        name = field.get("name")
        if not isinstance(name, str) or not name or len(name) > 100 or name == "csrf_token":
            continue
        if "password" in name.lower():  # never a password, whatever the page sent
            continue
        clean = {"name": name, "form": str(field.get("form") or "")[:100]}
        index = field.get("index")
        clean["index"] = index if isinstance(index, int) and 0 <= index < 1000 else -1
        nth = field.get("nth")
        clean["nth"] = nth if isinstance(nth, int) and 0 <= nth < MAX_FIELDS else 0
        if isinstance(field.get("value"), str):
            clean["value"] = field["value"][:MAX_VALUE]
        elif isinstance(field.get("checked"), bool):
            clean["checked"] = field["checked"]
            clean["value"] = str(field.get("option") or "")[:MAX_VALUE]
        elif isinstance(field.get("values"), list):
            clean["values"] = [str(v)[:MAX_VALUE] for v in field["values"][:MAX_FIELDS]]
        else:
            continue
        if field.get("focused") is True:
            clean["focused"] = True
        out.append(clean)
    total = sum(len(f.get("value", "")) + sum(len(v) for v in f.get("values", [])) for f in out)
    if total > MAX_TOTAL:
        raise Invalid({"fields": ["下書きが大きすぎます"]})
    return out


def save(user_session: UserSession, path, fields, actor: audit.Actor, max_age: int) -> int:
    """Keep what the page had typed for this session (replacing an earlier draft); audited.
    Returns how many fields were kept (0: nothing kept). Drafts of sessions past `max_age`
    seconds or ended are swept on the way."""
    where = safe_path(path)
    if where is None:
        raise Invalid({"path": ["下書きの画面が正しくありません"]})
    kept = _clean_fields(fields)
    now = now_utc()
    with db.atomic():
        stale = (UserSession.select(UserSession.id)
                 .where(UserSession.ended_at.is_null(False)
                        | (UserSession.created_at < now - timedelta(seconds=max_age))))
        SessionDraft.delete().where(SessionDraft.session.in_(stale)).execute()
        SessionDraft.delete().where(SessionDraft.session == user_session.id).execute()
        if not kept:
            return 0
        SessionDraft.create(session=user_session.id, path=where, fields=kept, saved_at=now)
        audit.record("session.draft_save", actor, object_type="session", object_id=user_session.id[:12],
                     details={"fields": len(kept)})
    return len(kept)


def path_of(session_id: str) -> str | None:
    """Where this session's draft belongs (the page to return to after the unlock)."""
    draft = SessionDraft.get_or_none(SessionDraft.session == session_id)
    return draft.path if draft is not None else None


@dataclass
class Restored:
    path: str
    fields: list[dict]


def take(user_session: UserSession, path: str, actor: audit.Actor) -> Restored | None:
    """The draft of this session when `path` is its page: handed back once, then deleted; audited.
    (The browser sends its address percent-encoded; the comparison reads both decoded.)"""
    with db.atomic():
        draft = SessionDraft.get_or_none(SessionDraft.session == user_session.id)
        if draft is None or unquote(draft.path) != unquote(path):
            return None
        deleted = SessionDraft.delete().where(SessionDraft.id == draft.id).execute()
        if not deleted:
            return None
        audit.record("session.draft_restore", actor, object_type="session",
                     object_id=user_session.id[:12], details={"fields": len(draft.fields or [])})
    return Restored(draft.path, draft.fields or [])


def move(old_session_id: str, new_session_id: str) -> None:
    """The unlock gave the session a new id: its draft goes with it (inside the caller's transaction)."""
    SessionDraft.update(session=new_session_id).where(SessionDraft.session == old_session_id).execute()


def discard(session_ids) -> None:
    """The sessions ended: their drafts go (inside the caller's transaction)."""
    ids = list(session_ids)
    if ids:
        SessionDraft.delete().where(SessionDraft.session.in_(ids)).execute()
