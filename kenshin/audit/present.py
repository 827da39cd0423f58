"""Audit events in plain Japanese, for the log viewer, its print and CSV, and the access record.

The stored events stay as they were written (the hash chain covers them); this module only
describes them: detail keys and code values by their Japanese names, lists and dicts as words
(never JSON or Python reprs), and the objects an event touched by name — 「検診記録 No.20360
（野村 明美）」, 「職員 山田 太郎（yamada）」, 「セッション（11月30日 9:02 開始）」.

Names are resolved for a whole page of events at once: one query per kind of object present on
the page (screenings with their person, staff, sessions, ...), never one per row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

from kenshin.access.roles import ROLES
from kenshin.audit.labels import (COUNT_LABELS, DETAIL_LABELS, OBJECT_LABELS, VALUE_LABELS,
                                  outcome_label)
from kenshin.core.dates import format_both, to_jst

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$")

# Keys whose values are screening item codes (shown by the catalogue's item names).
ITEM_KEYS = {"differences", "verified_keys", "item", "changed", "differs", "requested", "fields",
             "items"}
# Keys whose values are staff login ids (shown as 「氏名（ログインID）」 when the person is known).
STAFF_KEYS = {"staff", "login_id", "issued_by", "opened_in_session_of"}
# Keys whose values are counts of people or rows: 「3件」.
COUNT_KEYS = {"count", "hits", "results", "total", "found", "sessions", "sessions_ended",
              "credentials_revoked", "entries", "screenings", "registry_changes",
              "access_events", "people", "invitations", "rows", "screened", "shown", "bundles",
              "problems", "unnamed", "left_out", "heavy", "same_name", "refusal_spikes",
              "rejected_imports", "self_enrolled", "after_hours", "stopped", "suspended",
              "excluded", "failures"}
# Keys that hold people's ids: only how many (their names would be personal data of others).
PEOPLE_KEYS = {"candidates"}
# Keys whose value is a fiscal year.
YEAR_KEYS = {"fiscal_year", "from", "to"}


@dataclass
class Ref:
    """An object as a screen names it, with the page that shows it (when there is one)."""

    label: str
    endpoint: str = ""
    args: dict = field(default_factory=dict)


# --- values --------------------------------------------------------------------------------------

def _exam_name(code: str) -> str:
    from kenshin.screening import catalogue

    if code == "all":
        return "すべての検診"
    exam = catalogue.EXAMS.get(code)
    return exam.name if exam else code


def item_label(key: str, exam: str | None = None) -> str:
    """A screening item's Japanese name (the exam's own wording when the exam is known), or an
    item extension's title."""
    from kenshin.screening import catalogue

    exams = [catalogue.EXAMS[exam]] if exam in catalogue.EXAMS else []
    for candidate in exams + list(catalogue.EXAMS.values()):
        for item in candidate.all_fields:
            if item.key == key:
                return item.label
    if key in catalogue.EXTENSIONS:
        return catalogue.EXTENSIONS[key].title
    return VALUE_LABELS["item"].get(key, key)


def _date_text(text: str) -> str:
    try:
        return format_both(date.fromisoformat(text))
    except ValueError:
        return text


def _datetime_text(text: str) -> str:
    """An ISO timestamp as Japan time (a naive one is stored UTC, as everywhere here)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return to_jst(value).strftime("%Y-%m-%d %H:%M")


def value_text(key: str, value: Any, context: dict | None = None,
               staff_names: dict[str, str] | None = None) -> str:
    """One detail value in words; `context` is the whole details dict (an exam names its items);
    `staff_names` holds the names resolved for the page (login ids, and "screening:ID")."""
    context = context or {}
    staff_names = staff_names or {}
    if key == "screening" and f"screening:{value}" in staff_names:
        return staff_names[f"screening:{value}"]
    if value is None:
        return "なし"
    if value is True:
        return "はい"
    if value is False:
        return "いいえ"
    if key in PEOPLE_KEYS and isinstance(value, list):
        return f"{len(value)}人"
    if isinstance(value, dict):
        return _dict_text(key, value, context, staff_names)
    if isinstance(value, (list, tuple)):
        parts = [value_text(key, v, context, staff_names) for v in value]
        parts = [p for p in parts if p]
        return "、".join(parts) if parts else "なし"
    if isinstance(value, (int, float)):
        if key in YEAR_KEYS and isinstance(value, int) and 1900 < value < 2200:
            from kenshin.core.dates import fiscal_year_label

            return fiscal_year_label(value)
        if key in COUNT_KEYS:
            unit = {"people": "人", "unnamed": "人", "failures": "回"}.get(key, "件")
            return f"{value:,}{unit}"
        if key == "bytes" or key == "size":
            return f"{value:,}バイト"
        if key in ("hours", "link_hours"):
            return f"{value}時間"
        if key == "round":
            return f"{value}回目"
        return f"{value:,}" if isinstance(value, int) and key not in ("screening", "entry", "batch") \
            else str(value)
    text = str(value)
    if key == "exam":
        return _exam_name(text)
    if key in ITEM_KEYS:
        return item_label(text, context.get("exam"))
    if key == "roles" or (key in ("before", "after") and text in ROLES):
        return "・".join(ROLES.get(r, r) for r in text.split(",") if r) or "なし"
    if key in STAFF_KEYS and text in staff_names:
        return staff_names[text]
    if key == "outcome":
        return outcome_label(text)
    table = VALUE_LABELS.get(key)
    if table and text in table:
        return table[text]
    if key == "document" or key == "report":
        return VALUE_LABELS["document"].get(text, text)
    if _DATE.match(text):
        return _date_text(text)
    if _DATETIME.match(text):
        return _datetime_text(text)
    if key == "sha256" and len(text) == 64:
        return text[:16] + "…"
    return text


def _dict_text(key: str, value: dict, context: dict, staff_names: dict) -> str:
    """A nested dict: counts as 「新規 3件、変更 1件」, filters as 「状態=未対応」 (empty ones left out),
    a before/after change as 「変更前 → 変更後」."""
    if not value:
        return "なし"
    if set(value) == {"before", "after"}:
        return (f"{value_text(key, value['before'], context, staff_names)} → "
                f"{value_text(key, value['after'], context, staff_names)}")
    parts = []
    for k, v in value.items():
        if v in ("", None, [], {}):
            continue
        if isinstance(v, int) and not isinstance(v, bool) and (key == "counts" or k in COUNT_LABELS):
            parts.append(f"{COUNT_LABELS.get(k, key_name(k, context))} {v:,}件")
        elif key == "changes":
            parts.append(f"{setting_name(k)} {value_text(k, v, context, staff_names)}")
        elif isinstance(v, dict) and set(v) == {"before", "after"}:
            parts.append(f"{key_name(k, context)} {value_text(k, v, context, staff_names)}")
        else:
            parts.append(f"{key_name(k, context)}={value_text(k, v, context, staff_names)}")
    return "、".join(parts) if parts else "なし"


def setting_name(key: str) -> str:
    """A statistics setting's name: 「大腸がん 要精検率 許容値」, 「受診勧奨までの日数」."""
    from kenshin.statistics import settings

    if key == settings.REMINDER_AFTER_DAYS:
        return "受診勧奨までの日数"
    parts = key.split(".")
    if len(parts) == 3:
        exam, indicator, level = parts
        return " ".join((_exam_name(exam), settings.INDICATOR_LABELS.get(indicator, indicator),
                         settings.LEVEL_LABELS.get(level, level)))
    return detail_name(key)


def key_name(key: str, context: dict | None = None) -> str:
    """A key inside a nested detail: a detail label, an exam's or an item's name."""
    from kenshin.screening import catalogue

    if key in DETAIL_LABELS:
        return DETAIL_LABELS[key]
    if key in catalogue.EXAMS:
        return _exam_name(key)
    label = item_label(key, (context or {}).get("exam"))
    return label if label != key else detail_name(key)


def detail_name(key: str) -> str:
    """A detail key's Japanese name; an unknown key is shown with spaces for its underscores
    (the label table is checked by tests/test_audit_labels.py)."""
    return DETAIL_LABELS.get(key) or key.replace("_", " ")


def detail_parts(details: Any, staff_names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The details as (項目, 値) pairs in words, empty filters and false flags of no interest left
    out only where they say nothing (an empty filter dict is 「なし」)."""
    if not details:
        return []
    if not isinstance(details, dict):
        return [("内容", str(details))]
    parts = []
    for key, value in details.items():
        if key == "person" and value is True:
            parts.append(("対象者", "宛名番号で指定"))
            continue
        parts.append((detail_name(key), value_text(key, value, details, staff_names)))
    return parts


def details_text(details: Any, staff_names: dict[str, str] | None = None) -> str:
    """Details as 「項目: 値」 text joined by 「、」 (escaped by the template, never markup)."""
    return "、".join(f"{k}: {v}" for k, v in detail_parts(details, staff_names))


def staff_logins_in(details: Any) -> set[str]:
    """Login ids mentioned in details (so that one query names them all)."""
    found: set[str] = set()
    if not isinstance(details, dict):
        return found
    for key in STAFF_KEYS:
        value = details.get(key)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found |= {v for v in value if isinstance(v, str)}
    return found


# --- objects -------------------------------------------------------------------------------------

def _ints(ids: Iterable[str]) -> list[int]:
    out = []
    for value in ids:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def resolve(events: list[tuple[str, str, Any]]) -> tuple[dict[tuple[str, str], Ref], dict[str, str]]:
    """Names for the objects of a page of events, and 「氏名（ログインID）」 for the login ids their
    details mention. `events` holds (object_type, object_id, details). One query per kind."""
    from models import (DisclosureRequest, ImportBatch, Inquiry, Institution, InvitationRun,
                        LongLogonNotice, ProvisionQuery, QueueItem, ReminderRun, Resident,
                        Screening, Staff, UserSession)
    from peewee import fn

    wanted: dict[str, set[str]] = {}
    logins: set[str] = set()
    for object_type, object_id, details in events:
        if object_type and object_id not in (None, ""):
            wanted.setdefault(object_type, set()).add(str(object_id))
        logins |= staff_logins_in(details)
        if isinstance(details, dict) and isinstance(details.get("screening"), int):
            wanted.setdefault("screening", set()).add(str(details["screening"]))
    refs: dict[tuple[str, str], Ref] = {}
    names: dict[str, str] = {}  # words for values in details: login ids, "screening:ID"

    ids = _ints(wanted.get("screening", ()))
    if ids:
        rows = (Screening.select(Screening.id, Screening.exam, Resident.name)
                .join(Resident).where(Screening.id.in_(ids)).tuples())
        for sid, exam, name in rows:
            refs[("screening", str(sid))] = Ref(f"検診記録 No.{sid}（{name}）", "screenings.show",
                                                {"screening_id": sid})
            names[f"screening:{sid}"] = f"No.{sid}（{name}）"

    staff_ids = _ints(wanted.get("staff", ()))
    staff_names = names
    if staff_ids or logins:
        cond = None
        if staff_ids:
            cond = Staff.id.in_(staff_ids)
        if logins:
            by_login = Staff.login_id.in_(sorted(logins))
            cond = by_login if cond is None else (cond | by_login)
        for sid, login_id, name in Staff.select(Staff.id, Staff.login_id, Staff.name).where(
                cond).tuples():
            staff_names[login_id] = f"{name}（{login_id}）"
            refs[("staff", str(sid))] = Ref(f"職員 {name}（{login_id}）", "admin.staff_detail",
                                            {"staff_id": sid})

    prefixes = sorted(wanted.get("session", ()))
    if prefixes:
        rows = (UserSession.select(UserSession.id, UserSession.created_at, Staff.name)
                .join(Staff).where(fn.SUBSTR(UserSession.id, 1, 12).in_(prefixes)).tuples())
        for sid, created, name in rows:
            start = to_jst(created)
            refs[("session", sid[:12])] = Ref(
                f"セッション（{name}、{start.month}月{start.day}日 {start:%H:%M} 開始）")

    ids = _ints(wanted.get("inquiry", ()))
    if ids:
        for iid, in Inquiry.select(Inquiry.id).where(Inquiry.id.in_(ids)).tuples():
            refs[("inquiry", str(iid))] = Ref(f"問合せ 受付番号{iid}", "inquiries.show",
                                              {"inquiry_id": iid})

    ids = _ints(wanted.get("disclosure", ()))
    if ids:
        for rid, kind in DisclosureRequest.select(DisclosureRequest.id, DisclosureRequest.kind).where(
                DisclosureRequest.id.in_(ids)).tuples():
            what = VALUE_LABELS["kind"].get(kind, "開示等請求")
            refs[("disclosure", str(rid))] = Ref(f"{what} 受付番号{rid}", "disclosures.show",
                                                 {"request_id": rid})

    ids = _ints(wanted.get("institution", ()))
    if ids:
        for iid, code, name in Institution.select(Institution.id, Institution.code,
                                                  Institution.name).where(
                Institution.id.in_(ids)).tuples():
            refs[("institution", str(iid))] = Ref(f"医療機関 {name}（{code}）", "institutions.show",
                                                  {"institution_id": iid})

    ids = _ints(wanted.get("import_batch", ()))
    if ids:
        for bid, kind, name in ImportBatch.select(ImportBatch.id, ImportBatch.kind,
                                                  ImportBatch.file_name).where(
                ImportBatch.id.in_(ids)).tuples():
            what = VALUE_LABELS["kind"].get(kind, "取込")
            refs[("import_batch", str(bid))] = Ref(f"取込 No.{bid}（{what}、{name}）")

    ids = _ints(wanted.get("invitation_run", ()))
    if ids:
        from kenshin.core.dates import fiscal_year_label

        for rid, fy in InvitationRun.select(InvitationRun.id, InvitationRun.fiscal_year).where(
                InvitationRun.id.in_(ids)).tuples():
            refs[("invitation_run", str(rid))] = Ref(
                f"受診券の抽出 第{rid}回（{fiscal_year_label(fy)}）", "invitations.show",
                {"run_id": rid})

    ids = _ints(wanted.get("long_logon_notice", ()))
    if ids:
        for nid, division in LongLogonNotice.select(LongLogonNotice.id,
                                                    LongLogonNotice.division).where(
                LongLogonNotice.id.in_(ids)).tuples():
            refs[("long_logon_notice", str(nid))] = Ref(
                f"長時間ログオンの照会 No.{nid}（{division}）", "long_logon.notice",
                {"notice_id": nid})

    qids = sorted(wanted.get("provision_query", ()))
    if qids:
        for pk, qid in ProvisionQuery.select(ProvisionQuery.id, ProvisionQuery.query_id).where(
                ProvisionQuery.query_id.in_(qids)).tuples():
            refs[("provision_query", qid)] = Ref(f"照会 {qid}", "provision.show", {"query_pk": pk})

    ids = _ints(wanted.get("queue_item", ()))
    if ids:
        for qid, in QueueItem.select(QueueItem.id).where(QueueItem.id.in_(ids)).tuples():
            refs[("queue_item", str(qid))] = Ref(f"突合待ち No.{qid}", "queue.show",
                                                 {"item_id": qid})

    ids = _ints(wanted.get("reminder_run", ()))
    if ids:
        for rid, kind in ReminderRun.select(ReminderRun.id, ReminderRun.kind).where(
                ReminderRun.id.in_(ids)).tuples():
            what = VALUE_LABELS["kind"].get(kind, "受診勧奨")
            refs[("reminder_run", str(rid))] = Ref(f"{what}の作成 No.{rid}",
                                                   "followup.reminders_print", {"run_id": rid})
    return refs, staff_names


def object_ref(object_type: str, object_id: Any, refs: dict[tuple[str, str], Ref]) -> Ref | None:
    """The object by name: resolved, or the kind's Japanese name with its number."""
    if not object_type:
        return None
    key = (object_type, "" if object_id is None else str(object_id))
    if key in refs:
        return refs[key]
    kind = OBJECT_LABELS.get(object_type, "対象")
    if object_id in (None, ""):
        return Ref(kind)
    if object_type == "session":
        return Ref(f"{kind}（終了・記録なし）")
    if object_type == "file":
        return Ref(f"{kind}（SHA-256 {str(object_id)[:16]}…）")
    if object_type in ("report", "rules", "item_extension", "backup", "setting"):
        return Ref(f"{kind}（{_object_id_text(object_type, object_id)}）")
    return Ref(f"{kind} No.{object_id}")


def _object_id_text(object_type: str, object_id: Any) -> str:
    text = str(object_id)
    if object_type == "report" and text.isdigit():
        from kenshin.core.dates import fiscal_year_label

        return fiscal_year_label(int(text))
    if object_type == "rules":
        match = re.match(r"^(\d{4})-v(\d+)$", text)
        if match:
            from kenshin.core.dates import fiscal_year_label

            return f"{fiscal_year_label(int(match[1]))} 第{match[2]}版"
    if object_type == "item_extension":
        return item_label(text)
    if object_type == "setting":
        return VALUE_LABELS["setting"].get(text, text)
    return text
