"""Recording, duplicates, the sex rule, dates, corrections with history, void and re-entry, the queue."""
from datetime import date, timedelta

import pytest

import models
from kenshin.screening import catalogue
from kenshin.screening import reconciliation
from kenshin.screening import screenings
from kenshin.core.dates import today_jst
from kenshin.core.errors import Invalid, Refused
from kenshin.screening.matching import parse_identity

from .factories import (
    INSTITUTION,
    VALID_ITEMS,
    actor_of,
    audit_actions,
    make_institution,
    make_resident,
)

EXAM_DATE = date(2025, 6, 2)


@pytest.fixture
def clerk(make_staff):
    return actor_of(make_staff("clerk"))


@pytest.fixture
def woman(db):
    make_institution()
    return make_resident()


@pytest.fixture
def man(db):
    return make_resident(atena_no="000000000009", name="千葉 太郎", kana="チバ タロウ", sex=1,
                         birth=date(1958, 8, 8))


def keyed(resident, clerk, exam="gastric_xray", items=None, exam_date=EXAM_DATE, **kw):
    return screenings.record(resident, exam=exam, exam_date=exam_date, institution=INSTITUTION,
                             setting="1", items=items if items is not None else VALID_ITEMS[exam],
                             actor=clerk, **kw)


@pytest.mark.parametrize("exam", list(catalogue.EXAMS))
def test_every_exam_is_recorded_with_derived_year_age_and_referral(woman, clerk, exam):
    recorded = keyed(woman, clerk, exam=exam)
    screening = models.Screening.get_by_id(recorded.screening.id)
    assert screening.fiscal_year == 2025 and screening.age == 65
    # a keyed form is pending (未確定) until a second keying agrees (issue 8, ベリファイ入力)
    assert screening.status == "pending" and screening.source == "keyed"
    assert screening.referral == catalogue.referral_flag(exam, screening.items)
    assert screening.entered_by_id == clerk.staff_id
    # the first keying is kept for verified entry (ベリファイ入力)
    assert models.ScreeningKeying.get(screening=screening).round == 1
    assert audit_actions()[-1] == "screening.create"
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.details["status"] == "pending"


def test_derived_referral_is_stored_and_marks_the_screening(woman, clerk):
    screening = keyed(woman, clerk, items={"xray_category": "4"}).screening
    assert screening.items["referral"] == "1" and screening.referral is True


def test_referral_contradicting_the_rule_is_an_error_with_the_reason(woman, clerk):
    with pytest.raises(Invalid) as caught:
        keyed(woman, clerk, items={"xray_category": "3a", "referral": "0"})
    assert caught.value.errors["referral"] == ["判定区分3a以上は要精検(1)です"]


def test_a_second_record_of_the_same_person_exam_and_day_is_refused_with_the_first_id(woman, clerk):
    first = keyed(woman, clerk).screening
    with pytest.raises(screenings.Duplicate) as caught:
        keyed(woman, clerk, items={"xray_category": "1"})
    assert caught.value.existing_id == first.id
    assert models.Screening.select().count() == 1


def test_followup_of_another_target_on_the_same_day_is_not_a_duplicate(woman, clerk):
    keyed(woman, clerk, exam="followup", items={"target": "gastric"})
    keyed(woman, clerk, exam="followup", items={"target": "lung"})
    with pytest.raises(screenings.Duplicate):
        keyed(woman, clerk, exam="followup", items={"target": "lung"})


@pytest.mark.parametrize("exam", [code for code, e in catalogue.EXAMS.items() if e.sex == 2])
def test_women_only_exam_for_a_man_is_refused(man, clerk, exam):
    make_institution()
    with pytest.raises(Invalid) as caught:
        keyed(man, clerk, exam=exam)
    assert caught.value.errors["sex"] == [screenings.WOMEN_ONLY]
    assert not models.Screening.select().exists()


@pytest.mark.parametrize("exam_date, message", [
    (today_jst() + timedelta(days=1), "受診日が未来の日付です"),
    (date(1960, 5, 9), "受診日が生年月日より前です"),
])
def test_exam_date_in_the_future_or_before_birth_is_refused(woman, clerk, exam_date, message):
    with pytest.raises(Invalid) as caught:
        keyed(woman, clerk, exam_date=exam_date)
    assert caught.value.errors["exam_date"] == [message]


def test_unknown_institution_is_refused_but_an_inactive_one_is_accepted(woman, clerk):
    with pytest.raises(Invalid) as caught:
        screenings.record(woman, exam="colorectal", exam_date=EXAM_DATE, institution="9999999999",
                          setting="2", items=VALID_ITEMS["colorectal"], actor=clerk)
    assert "institution_code" in caught.value.errors
    make_institution(code="1111111111", active=False)
    screenings.record(woman, exam="colorectal", exam_date=EXAM_DATE, institution="1111111111",
                      setting="2", items=VALID_ITEMS["colorectal"], actor=clerk)


def test_age_and_interval_only_warn(db, clerk):
    make_institution()
    young = make_resident(atena_no="7", birth=date(1990, 1, 1))
    first = keyed(young, clerk, exam="breast", exam_date=date(2024, 6, 1))
    assert any("対象年齢" in w for w in first.warnings)
    second = keyed(young, clerk, exam="breast", exam_date=date(2025, 6, 1))
    assert any("2年度に1回" in w for w in second.warnings)


def test_exam_after_removal_from_the_register_warns(db, clerk):
    make_institution()
    gone = make_resident(atena_no="8", removed_on=date(2025, 5, 1), removal_reason="転出")
    assert any("消除日" in w for w in keyed(gone, clerk).warnings)


def test_correction_keeps_before_after_reason_who_and_rechecks(woman, clerk):
    screening = keyed(woman, clerk, items={"xray_category": "1"}).screening
    corrected = screenings.correct(screening.id, items={"xray_category": "3b", "xray_findings": "隆起"},
                                   reason="用紙の読み違い", actor=clerk)
    assert corrected.changed == ["xray_category", "xray_findings", "referral"]
    assert corrected.screening.referral is True and corrected.screening.changed_by_id == clerk.staff_id
    (change,) = screenings.history(screening.id)
    assert change.kind == "correct" and change.reason == "用紙の読み違い"
    assert change.before["items"]["xray_category"] == "1"
    assert change.after["items"]["xray_category"] == "3b"
    assert change.staff.id == clerk.staff_id and change.at is not None
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "screening.correct"
    assert event.details["changed"] == ["xray_category", "xray_findings", "referral"]
    assert "3b" not in str(event.details) and "隆起" not in str(event.details)


def test_correction_needs_a_reason_a_change_and_valid_items(woman, clerk):
    screening = keyed(woman, clerk).screening
    with pytest.raises(Invalid) as caught:
        screenings.correct(screening.id, items=VALID_ITEMS["gastric_xray"], reason=" ", actor=clerk)
    assert "reason" in caught.value.errors
    with pytest.raises(Invalid) as caught:
        screenings.correct(screening.id, items=VALID_ITEMS["gastric_xray"], reason="確認", actor=clerk)
    assert "-" in caught.value.errors
    with pytest.raises(Invalid) as caught:
        screenings.correct(screening.id, items={"xray_category": "9"}, reason="確認", actor=clerk)
    assert "xray_category" in caught.value.errors
    assert not models.ScreeningChange.select().exists()


def test_correcting_the_exam_date_onto_another_record_is_a_duplicate(woman, clerk):
    keyed(woman, clerk, exam_date=date(2025, 6, 1))
    second = keyed(woman, clerk, exam_date=date(2025, 6, 2)).screening
    with pytest.raises(screenings.Duplicate):
        screenings.correct(second.id, items=VALID_ITEMS["gastric_xray"], exam_date="2025-06-01",
                           reason="日付誤り", actor=clerk)


def test_void_keeps_the_record_and_allows_entering_it_again(woman, clerk):
    screening = keyed(woman, clerk).screening
    voided = screenings.void(screening.id, reason="別人の用紙", actor=clerk)
    assert voided.status == "void" and voided.void_reason == "別人の用紙"
    again = keyed(woman, clerk).screening
    assert again.id != screening.id
    assert models.Screening.select().count() == 2
    with pytest.raises(Refused):
        screenings.void(screening.id, reason="もう一度", actor=clerk)
    with pytest.raises(Refused):
        screenings.correct(screening.id, items={"xray_category": "2"}, reason="x", actor=clerk)
    assert [c.kind for c in screenings.history(screening.id)] == ["void"]
    assert "screening.void" in audit_actions()


def form_identity(**overrides):
    raw = {"atena_no": "000000000001", "name_kana": "チバ ハナコ", "birth_date": "1960-05-10",
           "sex": "2", **overrides}
    found, errors = parse_identity(raw)
    assert not errors
    return found


def park(identity, clerk, reason="住民記録と一致しません（生年月日）", **kw):
    values = dict(exam="colorectal", exam_date=EXAM_DATE, institution=INSTITUTION, setting="1",
                  items=VALID_ITEMS["colorectal"])
    values.update(kw)
    return reconciliation.park(identity, reason=reason, actor=clerk, **values)


def test_parked_form_is_assigned_to_a_person_and_recorded(woman, clerk):
    item = park(form_identity(birth_date="1960-05-11"), clerk)
    assert item.status == "open" and item.source == "keyed"
    # the chosen person disagrees with the form (生年月日): the clerk must say why
    with pytest.raises(Invalid) as caught:
        reconciliation.assign(item.id, woman.id, clerk)
    assert "生年月日" in caught.value.errors["note"][0]
    recorded = reconciliation.assign(item.id, woman.id, clerk, note="用紙の生年月日の誤記（本人確認済み）")
    item = models.QueueItem.get_by_id(item.id)
    assert item.status == "assigned" and item.screening_id == recorded.screening.id
    assert recorded.screening.resident_id == woman.id and recorded.screening.exam == "colorectal"
    assert audit_actions()[-3:] == ["queue.park", "screening.create", "queue.assign"]
    assert item.resolution == "用紙の生年月日の誤記（本人確認済み）"


def test_assignment_is_rechecked_against_the_rules(woman, man, clerk):
    item = park(form_identity(sex="2"), clerk, exam="breast", items=VALID_ITEMS["breast"])
    with pytest.raises(Invalid):
        reconciliation.assign(item.id, man.id, clerk)
    assert models.QueueItem.get_by_id(item.id).status == "open"
    keyed(woman, clerk, exam="breast")
    with pytest.raises(screenings.Duplicate):
        reconciliation.assign(item.id, woman.id, clerk)
    assert models.QueueItem.get_by_id(item.id).status == "open"


def test_rejecting_needs_a_reason_and_closes_the_item(woman, clerk):
    item = park(form_identity(atena_no=""), clerk, reason="整理番号・宛名番号の記載がありません")
    with pytest.raises(Invalid):
        reconciliation.reject(item.id, "", clerk)
    rejected = reconciliation.reject(item.id, "市外在住者の用紙", clerk)
    assert rejected.status == "rejected" and rejected.resolution == "市外在住者の用紙"
    with pytest.raises(Refused):
        reconciliation.assign(item.id, woman.id, clerk)
    assert audit_actions()[-1] == "queue.reject"


def test_the_same_form_cannot_wait_twice(woman, clerk):
    park(form_identity(atena_no=""), clerk)
    with pytest.raises(Refused):
        park(form_identity(atena_no=""), clerk)


def test_parking_checks_the_items_and_the_sex_rule(db, clerk):
    make_institution()
    with pytest.raises(Invalid) as caught:
        park(form_identity(sex="1"), clerk, exam="cervical", items=VALID_ITEMS["cervical"])
    assert "sex" in caught.value.errors
    with pytest.raises(Invalid):
        park(form_identity(), clerk, items={"fobt_result": "maybe"})
    assert not models.QueueItem.select().exists()


def test_an_assigned_keyed_form_keeps_its_keying_by_the_clerk_who_keyed_it(woman, clerk, make_staff):
    other = actor_of(make_staff("clerk"))
    item = park(form_identity(atena_no=""), clerk, reason="整理番号・宛名番号の記載がありません")
    recorded = reconciliation.assign(item.id, woman.id, other)
    keying = models.ScreeningKeying.get(screening=recorded.screening.id)
    assert keying.staff_id == clerk.staff_id and recorded.screening.entered_by_id == other.staff_id
