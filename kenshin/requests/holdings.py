"""Everything the file holds about one person, and who accessed it — the body of a disclosure document.

Built for 開示請求 (個人情報保護法 第76条 ff.) and for "print a person's access history for them"
(LESSONS.md #9). Plain values in Japanese, ready to print; the caller audits the production.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from peewee import JOIN

from models import (
    AuditEvent,
    ImportBatch,
    Institution,
    Resident,
    ResidentChange,
    Screening,
    ScreeningChange,
    ScreeningDifference,
    SeiriNumber,
    Staff,
)

from kenshin.audit.labels import (RESIDENT_OUTCOMES, action_label, outcome_label, resident_actor,
                                  resident_phrase)
from kenshin.core import labels
from kenshin.screening import catalogue
from kenshin.core.dates import DateError, fiscal_year_label, format_both

SOURCES = {"keyed": "検診票から画面入力", "file": "医療機関からのファイル"}
DATE_ITEMS = {"birth_date", "resident_since", "removed_on", "exam_date"}
COMMON_ITEMS = {"exam_date": "受診日", "institution_code": "医療機関", "institution": "医療機関",
                "setting": "検診種別", "status": "状態", "resident": "対象者", "target": "精密検査の対象"}


def _date_text(value) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, (date, datetime)):
        return format_both(value)
    try:
        return format_both(date.fromisoformat(str(value)[:10]))
    except (ValueError, DateError):
        return str(value)


def registry_value(item: str, value) -> str:
    """A registry item's stored value as printed (dates in 和暦, sex as 男/女)."""
    if value in (None, ""):
        return "（なし）"
    if item in DATE_ITEMS:
        return _date_text(value)
    if item == "sex":
        return labels.sex_label(value)
    return str(value)


@dataclass
class Diff:
    label: str
    before: str
    after: str


@dataclass
class Change:
    kind: str
    at: datetime
    staff: str
    reason: str
    diffs: list[Diff]


@dataclass
class ScreeningRecord:
    screening: Screening
    exam_name: str
    exam_date: str
    fiscal_year: str
    institution: str
    setting: str
    referral: str
    status: str
    source: str
    items: list[tuple[str, str]]
    changes: list[Change] = field(default_factory=list)


@dataclass
class RegistryChange:
    at: datetime
    item: str
    before: str
    after: str
    source: str


@dataclass
class Access:
    at: datetime
    staff: str
    division: str
    action: str
    outcome: str
    who: str = ""   # in words the person understands: 「健康支援課の職員（検診 花子）」
    what: str = ""  # 「あなたの検診記録を見ました」


@dataclass
class Holdings:
    resident: Resident
    basic: list[tuple[str, str]]
    registry: list[tuple[str, str]]
    seiri_numbers: list[tuple[str, str]]
    screenings: list[ScreeningRecord]
    registry_changes: list[RegistryChange]
    accesses: list[Access]
    # 「私の情報を受け取った者」: answers sent to other offices through the intermediate server.
    provided: list = field(default_factory=list)

    @property
    def item_labels(self) -> set[str]:
        return {label for record in self.screenings for label, _ in record.items}


def _flatten(snapshot) -> dict:
    """A ScreeningChange before/after as one flat dict: common columns and the exam's items."""
    if not isinstance(snapshot, dict):
        return {}
    flat = {k: v for k, v in snapshot.items() if k != "items"}
    if isinstance(snapshot.get("items"), dict):
        flat.update(snapshot["items"])
    return flat


def _value(exam: catalogue.Exam, key: str, value, institutions: dict) -> str:
    if key in exam.all_keys:
        return exam.item(key).display(value)
    if value in (None, ""):
        return "（なし）"
    if key in DATE_ITEMS:
        return _date_text(value)
    if key == "setting":
        return catalogue.SETTINGS.get(str(value), str(value))
    if key == "status":
        return labels.SCREENING_STATUS.get(str(value), str(value))
    if key in ("institution_code", "institution"):
        return institutions.get(str(value), str(value))
    return str(value)


def _diffs(exam: catalogue.Exam, before, after, institutions: dict) -> list[Diff]:
    b, a = _flatten(before), _flatten(after)
    keys = [k for k in COMMON_ITEMS if k in b or k in a]
    keys += [k for k in exam.all_keys if k in b or k in a]
    keys += [k for k in dict.fromkeys([*b, *a]) if k not in keys]
    return [Diff(COMMON_ITEMS.get(k) or _item_label(exam, k),
                 _value(exam, k, b.get(k), institutions), _value(exam, k, a.get(k), institutions))
            for k in keys if (b.get(k) or "") != (a.get(k) or "")]


def _item_label(exam: catalogue.Exam, key: str) -> str:
    try:
        return exam.item(key).label
    except KeyError:
        return key


def _screenings(resident: Resident) -> list[ScreeningRecord]:
    rows = list(Screening.select(Screening, Institution).join(Institution)
                .where(Screening.resident == resident.id)
                .order_by(Screening.exam_date, Screening.id))
    changes: dict[int, list[ScreeningChange]] = {}
    for change in (ScreeningChange.select(ScreeningChange, Staff).join(Staff)
                   .where(ScreeningChange.screening.in_([s.id for s in rows]))
                   .order_by(ScreeningChange.at, ScreeningChange.id)):
        changes.setdefault(change.screening_id, []).append(change)
    codes = set()
    for change_list in changes.values():
        for change in change_list:
            for snap in (_flatten(change.before), _flatten(change.after)):
                codes.add(str(snap.get("institution_code") or snap.get("institution") or ""))
    institutions = {i.code: f"{i.name}（{i.code}）"
                    for i in Institution.select().where(Institution.code.in_(codes - {""}))}
    # Verified entry (ベリファイ入力): each difference between the two keyings and how it was settled.
    differences: dict[int, list[ScreeningDifference]] = {}
    for difference in (ScreeningDifference.select(ScreeningDifference, Staff).join(Staff)
                       .where(ScreeningDifference.screening.in_([s.id for s in rows]))
                       .order_by(ScreeningDifference.at, ScreeningDifference.id)):
        differences.setdefault(difference.screening_id, []).append(difference)
    records = []
    for s in rows:
        exam = catalogue.get_exam(s.exam)
        items = dict(s.items or {})
        if exam.has_target and not items.get("target"):
            items["target"] = s.target
        records.append(ScreeningRecord(
            screening=s, exam_name=exam.name, exam_date=_date_text(s.exam_date),
            fiscal_year=f"{fiscal_year_label(s.fiscal_year)}", institution=s.institution.name,
            setting=catalogue.SETTINGS.get(str(s.setting), str(s.setting)),
            # A pending record is held data, shown as 未確定: its 要精検 is no result until verified.
            referral=("未確定（確認入力前）" if s.status == "pending" else catalogue.OUTCOME_LABELS[
                catalogue.outcome_of(s.exam, bool(s.referral), bool(s.pending))]),
            status=labels.SCREENING_STATUS.get(s.status, s.status)
            + ("（確認入力待ち）" if s.status == "pending" else "")
            + (f"（{s.void_reason}）" if s.void_reason else ""),
            source=SOURCES.get(s.source, s.source),
            items=catalogue.display_items(s.exam, items),
            changes=[Change(labels.SCREENING_CHANGE_KINDS.get(c.kind, c.kind), c.at, c.staff.name, c.reason,
                            _diffs(exam, c.before, c.after, institutions))
                     for c in changes.get(s.id, [])]
            + [Change("確認入力の相違の解決", d.at, d.resolved_by.name, d.reason,
                      [Diff(_item_label(exam, d.item),
                            f"1回目 {_value(exam, d.item, d.first_value, institutions)}／"
                            f"2回目 {_value(exam, d.item, d.second_value, institutions)}",
                            _value(exam, d.item, d.chosen_value, institutions))])
               for d in differences.get(s.id, [])]))
    return records


def _registry_changes(resident: Resident) -> list[RegistryChange]:
    rows = (ResidentChange.select(ResidentChange, ImportBatch, Staff)
            .join(ImportBatch, JOIN.LEFT_OUTER).switch(ResidentChange)
            .join(Staff, JOIN.LEFT_OUTER)
            .where(ResidentChange.resident == resident.id)
            .order_by(ResidentChange.at, ResidentChange.id))
    result = []
    for c in rows:
        if c.batch_id:
            source = f"住民記録連携（{c.batch.file_name}）"
        elif c.staff_id:
            source = f"職員 {c.staff.name}（{c.staff.division}）"
        else:
            source = ""
        result.append(RegistryChange(c.at, labels.REGISTRY_ITEMS.get(c.item, c.item),
                                     registry_value(c.item, c.before), registry_value(c.item, c.after),
                                     source))
    return result


def _actor_text(label: str) -> str:
    if label.startswith("os:"):
        return "システム（一括処理）"
    if label.startswith("net:"):
        return f"中間サーバー（照会元 {label[4:]}）"
    return label


def accesses(resident_id: int) -> list[Access]:
    """Who accessed this person, oldest first: when, staff name and division, what, outcome."""
    rows = (AuditEvent.select(AuditEvent.at, AuditEvent.action, AuditEvent.outcome,
                              AuditEvent.actor_label, Staff.name, Staff.division)
            .join(Staff, JOIN.LEFT_OUTER, on=(AuditEvent.actor == Staff.id))
            .where(AuditEvent.resident == resident_id)
            .order_by(AuditEvent.seq).tuples())
    result = []
    for at, action, outcome, label, name, division in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        who = (resident_actor(division or "", name) if name
               else (_actor_text(label) if label.startswith(("os:", "net:")) else "市の職員"))
        # the outcome in the person's words: nothing to add when it went through
        result.append(Access(at, name or _actor_text(label), division or "", action_label(action),
                             RESIDENT_OUTCOMES.get(outcome, outcome_label(outcome)), who,
                             resident_phrase(action)))
    return result


def collect(resident: Resident) -> Holdings:
    """Everything held about the person: 5 items, registry dates, screenings, history, access log."""
    basic = [
        ("氏名", resident.name), ("氏名の振り仮名", resident.name_kana),
        ("性別", labels.sex_label(resident.sex)),
        ("生年月日", _date_text(resident.birth_date)),
        ("住所", (f"〒{resident.postal_code} " if resident.postal_code else "") + resident.address),
    ]
    registry = [
        ("その他識別情報（宛名番号）", resident.atena_no),
        ("団体内統合宛名番号", resident.togo_atena_no or "（なし）"),
        ("住民となった日", _date_text(resident.resident_since) or "（記録なし）"),
        ("消除日", _date_text(resident.removed_on) or "（なし）"),
        ("消除事由", resident.removal_reason or "（なし）"),
        ("利用停止", "利用停止中" if resident.use_suspended else "なし"),
    ]
    seiri = [(n.number, f"{fiscal_year_label(n.fiscal_year)}（{n.fiscal_year}年度）") for n in
             SeiriNumber.select().where(SeiriNumber.resident == resident.id)
             .order_by(SeiriNumber.fiscal_year, SeiriNumber.id)]
    from kenshin.provision.queries import provided_to_others

    return Holdings(resident, basic, registry, seiri, _screenings(resident),
                    _registry_changes(resident), accesses(resident.id),
                    provided_to_others(resident.id))
