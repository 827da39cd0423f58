"""Audit events in plain Japanese (kenshin.audit.present): detail values in words, never JSON or
Python reprs; objects by name, resolved for a page at once; the stored events unchanged."""
import re
from datetime import date, timedelta

import models
from kenshin import audit
from kenshin.audit import log as audit_log
from kenshin.audit import present
from kenshin.core import dates

from . import factories

SYSTEM = audit.Actor.system("pytest")
RAW = re.compile(r"[{}\[\]]|\bTrue\b|\bFalse\b|\bNone\b|[a-z]+_[a-z]+")


def test_a_false_flag_and_item_codes_read_as_words():
    text = present.details_text({"exam": "colorectal", "round": 2, "agreed": False,
                                 "differences": ["fobt_result", "referral"], "status": "pending"})
    assert text == ("検診: 大腸がん、入力回: 2回目、一致: いいえ、"
                    "相違した項目: 便潜血検査の判定区分、大腸がん検診の精密検査の対象有無、状態: 未確定")
    assert not RAW.search(text), text


def test_a_filters_dict_leaves_out_empty_filters():
    assert present.details_text({"filters": {"kind": "", "status": "open"}}) == "絞り込み: 状態=未対応"
    assert present.details_text({"filters": {"kind": "", "status": ""}}) == "絞り込み: なし"


def test_counts_dates_files_and_flags_read_as_words():
    text = present.details_text({
        "file": "clinic.csv", "sha256": "ab" * 32, "encoding": "cp932", "outcome": "accepted",
        "counts": {"new": 3, "changed": 1}, "bytes": 1200, "from": "2026-11-01", "person": True,
        "more": True, "criteria": {"name_kana": "チバ", "birth_date": "1970-05-01"}})
    for words in ("ファイル: clinic.csv", "文字コード: シフトJIS", "結果: 受理", "件数: 新規 3件、変更 1件",
                  "大きさ: 1,200バイト", "令和8年11月1日", "対象者: 宛名番号で指定",
                  "表示件数を超える該当: はい", "条件: カナ氏名=チバ、生年月日=昭和45年5月1日"):
        assert words in text, (words, text)
    assert not RAW.search(text), text


def test_a_before_after_change_and_role_lists_read_as_words():
    text = present.details_text({"login_id": "x1", "before": ["clerk"], "after": ["clerk", "supervisor"],
                                 "changes": {"colorectal.attendance_rate.target": {"before": "90", "after": "95"}}})
    assert "変更前: 担当職員" in text and "変更後: 担当職員、係長" in text
    assert "変更: 大腸がん 精検受診率 目標値 90 → 95" in text, text
    assert "{" not in text and "[" not in text


def test_every_detail_key_the_code_records_is_labelled_in_the_text():
    from .test_audit_labels import _detail_keys_in_code

    for key in _detail_keys_in_code():
        assert "_" not in present.detail_name(key), key


def _page_of_events(db, count):
    person = factories.make_resident("000000000101", "野村 明美", "ノムラ アケミ")
    staff = models.Staff.create(login_id="yamada", name="山田 太郎", division="健康支援課",
                                roles="clerk", created_at=dates.now_utc())
    start = dates.now_utc() - timedelta(hours=1)
    models.UserSession.create(id="c" * 64, staff=staff, created_at=start, last_seen_at=start,
                              terminal="10.0.0.9")
    screening = factories.make_screening(person)
    actor = audit.Actor.of_staff(staff, "10.0.0.9")
    with models.db.atomic():
        for _ in range(count):
            audit.record("screening.view", actor, resident=person, object_type="screening",
                         object_id=screening.id, details={"exam": "colorectal"})
            audit.record("staff.unlock", actor, object_type="staff", object_id=staff.id,
                         details={"login_id": "yamada", "was_locked": False})
            audit.record("session.lock", actor, object_type="session", object_id="c" * 12,
                         details={"why": "idle"})
    return screening, staff


def test_objects_are_named_with_their_person_staff_and_session_start(db):
    screening, staff = _page_of_events(db, 1)
    flt = audit_log.LogFilter(dates.today_jst() - timedelta(days=1), dates.today_jst())
    rows = audit_log.search(flt, SYSTEM).rows
    labels = {r.action: r.object_ref.label for r in rows if r.object_ref}
    assert labels["screening.view"] == f"検診記録 No.{screening.id}（野村 明美）"
    assert labels["staff.unlock"] == "職員 山田 太郎（yamada）"
    assert re.fullmatch(r"セッション（山田 太郎、\d+月\d+日 \d\d:\d\d 開始）", labels["session.lock"])
    unlock = next(r for r in rows if r.action == "staff.unlock")
    assert unlock.details == "ログインID: 山田 太郎（yamada）、ロック中だった: いいえ"
    # the stored events are unchanged: the chain still verifies, the details are the raw ones
    assert audit.verify().ok
    stored = models.AuditEvent.get(models.AuditEvent.action == "staff.unlock")
    assert stored.details == {"login_id": "yamada", "was_locked": False}


class _Counter:
    def __init__(self, database):
        database = getattr(database, "obj", database)  # the Proxy's database
        self.database, self.count = database, 0
        self.original = database.execute_sql

    def __enter__(self):
        def counting(sql, *args, **kwargs):
            self.count += 1
            return self.original(sql, *args, **kwargs)
        self.database.execute_sql = counting
        return self

    def __exit__(self, *exc):
        self.database.execute_sql = self.original


def test_names_for_a_page_take_the_same_queries_for_three_events_or_fifty(db):
    _page_of_events(db, 17)  # 51 events
    flt = audit_log.LogFilter(dates.today_jst() - timedelta(days=1), dates.today_jst())
    query = audit_log._query(audit_log._in_period(flt.period))
    with _Counter(models.db) as few:
        assert len(audit_log._rows(query.limit(3))) == 3
    with _Counter(models.db) as many:
        assert len(audit_log._rows(query.limit(50))) == 50
    assert many.count == few.count  # one query per kind of object, not one per row
    assert 2 <= few.count <= 4  # the events, then screenings, staff and sessions


def test_an_object_that_is_gone_keeps_its_kind_and_number(db):
    assert present.object_ref("screening", 99, {}).label == "検診記録 No.99"
    assert present.object_ref("session", "abc", {}).label == "セッション（終了・記録なし）"
    assert present.object_ref("report", "2026", {}).label == "検診統計（令和8年度）"
    assert present.object_ref("", "", {}) is None


def test_the_access_record_for_the_person_has_no_codes(db):
    person = factories.make_resident("000000000202", "開示 花子", "カイジ ハナコ")
    staff = models.Staff.create(login_id="sato01", name="佐藤 一郎", division="健康支援課",
                                roles="clerk", created_at=dates.now_utc())
    actor = audit.Actor.of_staff(staff, "10.0.0.9")
    with models.db.atomic():
        audit.record("screening.view", actor, resident=person, object_type="screening", object_id=1)
        audit.record("resident.view", actor, resident=person, outcome="not_found")
    period = audit_log.Period(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    report = audit_log.person_report("000000000202", period, SYSTEM)
    lines = [(line.who, line.what, line.outcome) for line in report.lines]
    assert lines == [("健康支援課の職員（佐藤 一郎）", "あなたの検診記録を見ました", ""),
                     ("健康支援課の職員（佐藤 一郎）", "あなたの住民記録（氏名・住所など）を画面で見ました",
                      "該当なし")]


def test_nested_keys_name_exams_and_items_and_a_screening_in_details_names_its_person():
    text = present.details_text({"fiscal_year": 2026, "changed": {
        "colorectal": {"before": "40歳以上", "after": "45歳以上"}, "lung": {"before": None, "after": "40歳以上"}}})
    assert text == "年度: 令和8年度、変更した項目: 大腸がん 40歳以上 → 45歳以上、肺がん なし → 40歳以上"
    assert present.details_text({"screening": 5, "differs": ["fobt_result"]},
                                {"screening:5": "No.5（野村 明美）"}) == \
        "検診記録: No.5（野村 明美）、相違する項目: 便潜血検査の判定区分"
