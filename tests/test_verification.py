"""Verified entry (ベリファイ入力): a keyed form counts only after a second, independent keying
agrees; every difference leaves a trace; the first keyer is refused; a pending record counts
nowhere (printed summary, referral counts, person page marks) until it is verified."""
from datetime import date, timedelta

import pytest

import models
from app import create_app
from kenshin.screening import catalogue
from kenshin.requests import holdings
from kenshin.screening import reconciliation
from kenshin.screening import screenings
from kenshin import verification
from kenshin.core.errors import Invalid, Refused
from kenshin.screening.matching import parse_identity

from .conftest import BASE_CONFIG, page_csrf
from .factories import INSTITUTION, VALID_ITEMS, actor_of, make_institution, make_resident

EXAM_DATE = date(2025, 6, 2)
HX = {"HX-Request": "true"}


@pytest.fixture
def woman(db):
    make_institution()
    return make_resident()


@pytest.fixture
def first(make_staff):
    return actor_of(make_staff("clerk", name="入力 一郎"))


@pytest.fixture
def second(make_staff):
    return actor_of(make_staff("clerk", name="確認 二郎"))


def keyed(resident, actor, exam="gastric_xray", items=None, **kw):
    """A paper form keyed once: the first keying."""
    return screenings.record(resident, exam=exam, exam_date=EXAM_DATE, institution=INSTITUTION,
                             setting="1", items=items if items is not None else VALID_ITEMS[exam],
                             actor=actor, **kw).screening


def events(action):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


# --- the domain -------------------------------------------------------------------------------

def test_only_someone_who_has_seen_the_first_values_may_correct_a_pending_record(woman, first, second):
    screening = keyed(woman, first)
    changed = {"xray_category": "3a", "xray_findings": "胃角部変形・訂正"}
    with pytest.raises(Refused) as caught:  # the domain refuses, whatever screen calls it
        screenings.correct(screening.id, items=changed, reason="用紙の確認", actor=second)
    assert caught.value.reason == screenings.FIRST_VALUES_HIDDEN
    assert models.ScreeningChange.select().where(models.ScreeningChange.kind == "correct").count() == 0
    screenings.view(screening.id, second, reveal=True)  # now they have seen them
    screenings.correct(screening.id, items=changed, reason="用紙の確認", actor=second)
    with pytest.raises(Refused):  # and so they may not key the second round
        verification.key_second(screening.id, {"xray_category": "3a", "referral": ""}, second)



def test_a_keyed_form_is_pending_and_its_first_keying_is_audited_as_such(woman, first):
    screening = keyed(woman, first)
    assert screening.status == "pending"
    assert models.ScreeningKeying.get(screening=screening.id, round=1).staff_id == first.staff_id
    (event,) = events("screening.create")
    assert event.details["status"] == "pending" and event.details["source"] == "keyed"


def test_agreement_confirms_with_who_and_when_and_keeps_round_two(woman, first, second):
    screening = keyed(woman, first, items={"xray_category": "3a", "xray_findings": "胃角部変形"})
    result = verification.key_second(screening.id, {"xray_category": "3A", "referral": ""}, second)
    assert result.agreed and result.differences == []
    stored = models.Screening.get_by_id(screening.id)
    assert stored.status == "confirmed" and stored.verified_by_id == second.staff_id
    assert stored.verified_at is not None and stored.referral is True
    keying = models.ScreeningKeying.get(screening=screening.id, round=2)
    assert keying.staff_id == second.staff_id
    assert keying.items == {"xray_category": "3a", "referral": "1"}  # only the verified items
    assert not models.ScreeningDifference.select().exists()
    (event,) = events("screening.verify")
    assert event.details["agreed"] is True and event.details["status"] == "confirmed"
    assert event.details["verified_keys"] == ["xray_category", "referral"]
    assert event.actor_id == second.staff_id and event.resident_id == woman.id


def test_a_difference_is_resolved_against_the_paper_with_a_full_trace(woman, first, second):
    screening = keyed(woman, first, items={"xray_category": "1", "xray_findings": ""})
    result = verification.key_second(screening.id, {"xray_category": "3b"}, second)
    # one difference: the derived 精密検査の対象 follows the category and is not settled apart
    assert not result.agreed and result.differences == ["xray_category"]
    assert models.Screening.get_by_id(screening.id).status == "pending"  # nothing counts yet
    (verify_event,) = events("screening.verify")
    assert verify_event.details["agreed"] is False and verify_event.details["status"] == "pending"

    with pytest.raises(Invalid) as caught:  # each difference needs a choice and a reason
        verification.resolve(screening.id, {"xray_category": {"choice": "second"}}, second)
    assert set(caught.value.errors) == {"reason:xray_category"}
    assert models.Screening.get_by_id(screening.id).status == "pending"

    confirmed = verification.resolve(screening.id, {
        "xray_category": {"choice": "second", "reason": "用紙は3b（1回目の読み違い）"}}, second)
    assert confirmed.status == "confirmed" and confirmed.verified_by_id == second.staff_id
    assert confirmed.items["xray_category"] == "3b" and confirmed.items["referral"] == "1"
    assert confirmed.referral is True  # derived again by the catalogue from the settled category
    differences = {d.item: d for d in models.ScreeningDifference.select()}
    assert set(differences) == {"xray_category"}
    category = differences["xray_category"]
    assert (category.first_value, category.second_value, category.chosen_value) == ("1", "3b", "3b")
    assert category.reason == "用紙は3b（1回目の読み違い）" and category.resolved_by_id == second.staff_id
    (change,) = screenings.history(screening.id)
    assert change.kind == "verify" and change.before["items"]["xray_category"] == "1"
    assert change.after["items"]["xray_category"] == "3b"
    difference_events = events("screening.difference")
    assert [e.details["item"] for e in difference_events] == ["xray_category"]
    assert {e.details["choice"] for e in difference_events} == {"second"}
    # audit details name item keys, never values or the reasons typed
    for event in events("screening.verify") + difference_events:
        text = str(event.details)
        assert "3b" not in text and "読み違い" not in text and "'1'" not in text


def test_the_paper_value_typed_again_can_settle_a_difference(woman, first, second):
    screening = keyed(woman, first, exam="cervical", items={"symptoms": "0", "referral": "0"})
    result = verification.key_second(screening.id, {"referral": "1"}, second)
    assert result.differences == ["referral"]
    with pytest.raises(Invalid) as caught:  # the typed value is checked like any keying
        verification.resolve(screening.id, {"referral": {"value": "7", "reason": "用紙を確認"}}, second)
    assert "「7」は読めません" in caught.value.errors["referral"][0]
    assert "要精検" in caught.value.errors["referral"][0]  # the forms the paper may use
    # a paper value typed without a choice counts as the paper's
    done = verification.resolve(screening.id, {"referral": {"value": "0", "reason": "用紙は0"}}, second)
    assert done.status == "confirmed" and done.referral is False
    difference = models.ScreeningDifference.get()
    assert (difference.first_value, difference.second_value, difference.chosen_value) == ("0", "1", "0")
    assert not models.ScreeningChange.select().exists()  # the record kept its first values


def test_choosing_another_category_derives_referral_again(woman, first, second):
    screening = keyed(woman, first, items={"xray_category": "3a", "xray_findings": ""})
    verification.key_second(screening.id, {"xray_category": "3b", "referral": ""}, second)
    # both derive 要精検: only the category differs; the paper says 2 → referral follows
    done = verification.resolve(screening.id, {"xray_category": {"value": "2", "reason": "用紙は2"}},
                                second)
    assert done.items["xray_category"] == "2" and done.items["referral"] == "0"
    assert done.referral is False


def test_the_first_keyer_is_refused_with_the_reason(woman, first):
    screening = keyed(woman, first)
    with pytest.raises(Refused) as caught:
        verification.key_second(screening.id, VALID_ITEMS["gastric_xray"], first)
    assert caught.value.reason == verification.KEYED_FIRST
    assert "1回目を入力したのはあなたです" in caught.value.reason
    assert not models.ScreeningKeying.select().where(models.ScreeningKeying.round == 2).exists()
    assert models.Screening.get_by_id(screening.id).status == "pending"


def test_whoever_saw_the_first_values_is_refused_too(woman, first, second, make_staff):
    # the clerk who assigned a parked form from the queue saw its values there
    identity, _ = parse_identity({"atena_no": "", "name_kana": "チバ ハナコ", "birth_date": "1960-05-10",
                                  "sex": "2"})
    item = reconciliation.park(identity, exam="colorectal", exam_date=EXAM_DATE, institution=INSTITUTION,
                               setting="1", items=VALID_ITEMS["colorectal"], reason="番号なし", actor=first)
    assigned = reconciliation.assign(item.id, woman.id, second).screening
    assert assigned.status == "pending"
    with pytest.raises(Refused) as caught:
        verification.key_second(assigned.id, VALID_ITEMS["colorectal"], second)
    assert caught.value.reason == verification.RECORDED
    # someone who chose to show the pending values on the detail page
    third = actor_of(make_staff("supervisor"))
    screenings.view(assigned.id, third, reveal=True)
    with pytest.raises(Refused) as caught:
        verification.key_second(assigned.id, VALID_ITEMS["colorectal"], third)
    assert caught.value.reason == verification.SHOWN
    # a plain view of the record (values hidden) does not disqualify
    fourth = actor_of(make_staff("clerk"))
    screenings.view(assigned.id, fourth)
    assert verification.key_second(assigned.id, VALID_ITEMS["colorectal"], fourth).agreed


def test_a_form_is_keyed_a_second_time_only_once(woman, first, second, make_staff):
    screening = keyed(woman, first)
    verification.key_second(screening.id, {"xray_category": "1"}, second)  # differs: awaits resolution
    other = actor_of(make_staff("clerk"))
    with pytest.raises(Refused) as caught:
        verification.key_second(screening.id, {"xray_category": "3a"}, other)
    assert "相違の解決を待っています" in caught.value.reason
    with pytest.raises(Refused):  # nor can another clerk resolve it
        verification.resolve(screening.id, {"xray_category": {"choice": "first", "reason": "x"}}, other)
    # a supervisor (not the first keyer) may settle it when the second keyer is away
    boss = actor_of(make_staff("supervisor"))
    done = verification.resolve(screening.id, {
        "xray_category": {"choice": "first", "reason": "用紙は3a"},
        "referral": {"choice": "first", "reason": "3aは要精検"}}, boss)
    assert done.status == "confirmed" and done.items["xray_category"] == "3a"
    with pytest.raises(Refused):
        verification.key_second(screening.id, {"xray_category": "3a"}, other)


def test_a_pending_record_still_blocks_a_duplicate_keying_of_the_same_form(woman, first, second):
    screening = keyed(woman, first)
    with pytest.raises(screenings.Duplicate) as caught:
        keyed(woman, second)
    assert caught.value.existing_id == screening.id


def test_clinic_file_rows_and_assigned_file_rows_are_confirmed(woman, first):
    recorded = screenings.record(woman, exam="colorectal", exam_date=EXAM_DATE, institution=INSTITUTION,
                                 setting="1", items=VALID_ITEMS["colorectal"], actor=first, source="file")
    assert recorded.screening.status == "confirmed"
    assert not models.ScreeningKeying.select().exists()


def test_pending_counts_nowhere_until_verified(woman, first, second):
    screening = keyed(woman, first, exam="colorectal", items={"fobt_result": "positive"})
    assert screening.referral is True
    assert screenings.referral_counts(2025) == {}
    assert not screenings.counted().exists()
    _, rows = screenings.summary(woman.id, first)
    assert rows == []
    verification.key_second(screening.id, {"fobt_result": "positive"}, second)
    assert screenings.referral_counts(2025) == {"colorectal": (1, 1)}
    _, rows = screenings.summary(woman.id, first)
    assert [s.id for s in rows] == [screening.id]


@pytest.mark.config(VERIFY_ALL_ITEMS=["lung"])
def test_verify_all_switch_makes_every_item_of_an_exam_keyed_twice(app, woman, first, second):
    assert verification.verified_keys("lung") == ("xray_grade", "sputum_class", "referral")
    switch = verification.verify_all_exams(app.config["VERIFY_ALL_ITEMS"])
    assert verification.verified_keys("lung", switch) == catalogue.get_exam("lung").keys
    assert verification.verified_keys("breast", switch) == ("mammography_category", "referral")
    screening = keyed(woman, first, exam="lung",
                      items={"symptoms": "0", "xray_grade": "C", "sputum_class": "", "other_findings": "陳旧性"})
    with pytest.raises(Invalid) as caught:  # every item is now asked for, required ones required
        verification.key_second(screening.id, {"xray_grade": "C"}, second, switch)
    assert "symptoms" in caught.value.errors
    result = verification.key_second(screening.id, {"symptoms": "1", "xray_grade": "C", "sputum_class": "",
                                                    "other_findings": "陳旧性"}, second, switch)
    assert result.differences == ["symptoms"]  # not a 要精検 item, caught by the switch


def test_an_unknown_exam_in_the_switch_stops_the_app(tmp_path):
    assert verification.verify_all_exams("lung, breast") == {"lung", "breast"}
    assert verification.verify_all_exams(None) == frozenset()
    with pytest.raises(ValueError, match="lungs"):
        create_app(dict(BASE_CONFIG, DATABASE_URL=f"sqlite:///{tmp_path}/x.db", VERIFY_ALL_ITEMS=["lungs"]))


def test_batches_group_pending_forms_by_institution_exam_and_day(woman, first, second):
    keyed(woman, first)
    keyed(woman, first, exam="colorectal")
    other = make_resident(atena_no="2", name="千葉 一", kana="チバ ハジメ", sex=1, birth=date(1950, 1, 1))
    keyed(other, second, exam="colorectal")
    found = {(b.key.exam, b.count, b.own) for b in verification.batches(first)}
    assert found == {("gastric_xray", 1, 1), ("colorectal", 2, 1)}
    (batch,) = [b for b in verification.batches(first) if b.key.exam == "colorectal"]
    assert set(batch.keyers) == {"入力 一郎", "確認 二郎"}
    desk = verification.desk(batch.key, second)
    assert desk.current.resident_id == woman.id  # the form the second clerk did not key
    assert desk.keys == ("fobt_result", "referral") and desk.remaining == 1


def test_oversight_lists_age_and_highlights_old_ones_supervisor_all_clerk_own(woman, first, second,
                                                                              make_staff):
    old = keyed(woman, first)
    models.Screening.update(entered_at=old.entered_at - timedelta(days=10)).where(
        models.Screening.id == old.id).execute()
    other = make_resident(atena_no="2", name="千葉 一", kana="チバ ハジメ", sex=1, birth=date(1950, 1, 1))
    keyed(other, second, exam="colorectal")
    boss = verification.overview(actor_of(make_staff("supervisor")))
    assert boss.total == 2 and boss.overdue_count == 1 and not boss.own_only
    assert [r.days >= 10 for r in boss.rows] == [True, False]  # oldest first
    assert boss.batches[0].overdue and boss.institutions[0].overdue
    mine = verification.overview(second)
    assert mine.own_only and [r.exam for r in mine.rows] == ["colorectal"]


def test_disclosure_document_shows_a_pending_record_as_pending(woman, first, second):
    screening = keyed(woman, first)
    (record,) = holdings.collect(woman).screenings
    assert record.status.startswith("未確定") and record.referral == "未確定（確認入力前）"
    assert record.items  # held data: the values are disclosed
    verification.key_second(screening.id, {"xray_category": "2"}, second)
    verification.resolve(screening.id, {"xray_category": {"choice": "second", "reason": "用紙は2"}}, second)
    (record,) = holdings.collect(woman).screenings
    assert record.status == "確定" and record.referral == "精検不要"
    kinds = [c.kind for c in record.changes]
    # one difference (the category); the derived 精密検査の対象 followed it
    assert "確認入力" in kinds and kinds.count("確認入力の相違の解決") == 1


# --- the screens ------------------------------------------------------------------------------

def _client(app, make_staff, *roles, name="検診 太郎"):
    from .conftest import login

    client = app.test_client()
    person = make_staff(*roles, name=name)
    assert login(client, person).get_json()["ok"]
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client, person


def test_second_clerk_keys_blind_on_screen_and_the_first_keyer_is_refused(app, woman, make_staff):
    keyer_client, keyer = _client(app, make_staff, "clerk", name="入力 一郎")
    keyer_client.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "1",
                                            "exam": "gastric_xray"}, headers=HX)
    saved = keyer_client.post("/entry/save", headers=HX, data={
        "atena_no": "000000000001", "name_kana": "チバ ハナコ", "birth_date": "S35.5.10", "sex": "2",
        "exam_date": "R7.6.2", "xray_category": "3b", "xray_findings": "隆起", "referral": ""})
    assert "未確定" in saved.get_data(as_text=True)
    screening = models.Screening.get()
    assert screening.status == "pending"
    # the first keyer sees the batch but is refused the form, with the reason
    refused = keyer_client.get(f"/verify/form/{screening.id}").get_data(as_text=True)
    assert verification.KEYED_FIRST in refused and 'name="xray_category"' not in refused

    verifier, _ = _client(app, make_staff, "clerk", name="確認 二郎")
    index = verifier.get("/verify/").get_data(as_text=True)
    assert "千葉中央クリニック" in index and "胃がん(X線)" in index and "1件" in index
    batch_url = f"/verify/batch/{INSTITUTION}/gastric_xray/{verification.entered_on(screening.entered_at)}"
    page = verifier.get(batch_url).get_data(as_text=True)
    assert "千葉 花子" in page and "千葉中央クリニック" in page
    assert 'name="xray_category" value=""' in page and 'name="referral" value=""' in page
    assert "隆起" not in page and 'name="xray_category" value="3b"' not in page  # first values unseen
    assert 'name="xray_findings"' not in page  # not a verified item
    answer = verifier.post(f"/verify/form/{screening.id}", data={"xray_category": "3b", "referral": ""},
                           headers=HX)
    assert answer.status_code == 200 and "確定しました" in answer.get_data(as_text=True)
    assert models.Screening.get_by_id(screening.id).status == "confirmed"


def test_a_difference_on_screen_shows_both_values_and_is_resolved(app, woman, make_staff, first):
    screening = keyed(woman, first, exam="colorectal", items={"fobt_result": "negative"})
    verifier, _ = _client(app, make_staff, "clerk")
    shown = verifier.post(f"/verify/form/{screening.id}", data={"fobt_result": "positive"}, headers=HX)
    html = shown.get_data(as_text=True)
    # one difference to settle: the derived 精密検査の対象有無 follows the result
    assert "1項目で異なります" in html and 'id="d-referral"' not in html
    assert "<td class=\"first\">陰性</td>" in html and "<td class=\"second\">陽性</td>" in html
    refused = verifier.post(f"/verify/form/{screening.id}/resolve", headers=HX,
                            data={"choice-fobt_result": "first"})  # no reason
    assert refused.status_code == 422 and models.Screening.get_by_id(screening.id).status == "pending"
    done = verifier.post(f"/verify/form/{screening.id}/resolve", headers=HX, data={
        "choice-fobt_result": "first", "reason-fobt_result": "用紙は陰性"})
    assert done.status_code == 200 and "相違を用紙で解決して確定しました" in done.get_data(as_text=True)
    stored = models.Screening.get_by_id(screening.id)
    assert stored.status == "confirmed" and stored.referral is False
    assert models.ScreeningDifference.select().count() == 1


def test_detail_page_hides_pending_values_and_a_supervisor_reads_the_trace(app, woman, make_staff, first,
                                                                           second):
    screening = keyed(woman, first, items={"xray_category": "3b", "xray_findings": "隆起"})
    clerk, _ = _client(app, make_staff, "clerk")
    page = clerk.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "隆起" not in page and "1回目の値は表示していません" in page
    person = clerk.get(f"/screenings/person/{woman.id}").get_data(as_text=True)
    assert "隆起" not in person and "badge warn" not in person and "未確定" in person
    resident_page = clerk.get(f"/residents/{woman.id}").get_data(as_text=True)
    assert "隆起" not in resident_page and "要精検</span>" not in resident_page
    # correcting means seeing: the form is not offered before the values are shown
    assert clerk.get(f"/screenings/{screening.id}/correct").status_code == 303
    assert clerk.post(f"/screenings/{screening.id}/correct", data={"reason": "x"}).status_code == 303
    assert not models.ScreeningChange.select().exists()
    shown = clerk.post(f"/screenings/{screening.id}/reveal").get_data(as_text=True)
    assert "隆起" in shown
    assert clerk.get(f"/screenings/{screening.id}").get_data(as_text=True).count("隆起") >= 1

    verification.key_second(screening.id, {"xray_category": "4"}, second)
    verification.resolve(screening.id, {"xray_category": {"choice": "first", "reason": "用紙は3b"},
                                        "referral": {"choice": "first", "reason": "同じ"}}, second)
    boss, _ = _client(app, make_staff, "supervisor")
    trace = boss.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "入力と確認入力（ベリファイ）" in trace
    assert "1回目（入力）" in trace and "2回目（確認入力）" in trace
    assert "入力 一郎" in trace and "確認 二郎" in trace  # who keyed, who verified
    assert "用紙は3b" in trace and "1回目の値" in trace
    assert "3b（カテゴリー3b（良悪性の判定困難））" in trace and "4（カテゴリー4（悪性の疑い））" in trace
    plain = clerk.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "入力と確認入力（ベリファイ）" not in plain  # the trace is the supervisor's


def test_printed_summary_leaves_out_pending_and_shows_it_once_verified(app, woman, make_staff, first, second):
    screening = keyed(woman, first, exam="colorectal", items={"fobt_result": "positive"})
    clerk, _ = _client(app, make_staff, "clerk")
    summary = clerk.get(f"/screenings/summary/{woman.id}").get_data(as_text=True)
    assert "確定した検診記録はありません" in summary and "陽性" not in summary
    verification.key_second(screening.id, {"fobt_result": "positive"}, second)
    summary = clerk.get(f"/screenings/summary/{woman.id}").get_data(as_text=True)
    assert "陽性" in summary and "referral-mark" in summary


def test_oversight_page_for_supervisors_and_clerks(app, woman, make_staff, first):
    keyed(woman, first)
    boss, _ = _client(app, make_staff, "supervisor")
    page = boss.get("/verify/oversight").get_data(as_text=True)
    assert "未確定 1件" in page and "確認入力待ち" in page and "千葉 花子" not in page
    clerk, _ = _client(app, make_staff, "clerk")
    page = clerk.get("/verify/oversight").get_data(as_text=True)
    assert "未確定 0件・あなたが入力した分" in page


def test_the_second_keying_reads_the_paper_forms_and_one_result_is_one_difference(woman, first, second):
    screening = keyed(woman, first, exam="colorectal", items={"fobt_result": "negative"})
    with pytest.raises(Invalid) as caught:
        verification.key_second(screening.id, {"fobt_result": "たぶん"}, second)
    assert "陽性（＋・（＋）・2）" in caught.value.errors["fobt_result"][0]
    result = verification.key_second(screening.id, {"fobt_result": "＋"}, second)
    keying = models.ScreeningKeying.get(screening=screening.id, round=2)
    assert keying.items == {"fobt_result": "positive", "referral": "1"}  # stored as the codes
    # 便潜血 陰性 vs 陽性 is one difference: the derived 精密検査の対象有無 is not listed apart
    assert result.differences == ["fobt_result"]
    (event,) = events("screening.verify")
    assert event.details["differences"] == ["fobt_result"]
    done = verification.resolve(screening.id, {"fobt_result": {"value": "陽性", "reason": "用紙は陽性"}},
                                second)
    assert done.items == {"fobt_result": "positive", "referral": "1"} and done.referral is True


def test_a_referral_keyed_against_the_rule_on_a_cervical_form_is_still_a_difference(woman, first, second):
    # cervical: the 精密検査の対象 is keyed, not derived, so it is what differs
    screening = keyed(woman, first, exam="cervical", items={"symptoms": "0", "referral": "0"})
    assert verification.key_second(screening.id, {"referral": "要精検"}, second).differences == ["referral"]


def test_the_history_shows_the_choice_the_resolver_made(app, woman, make_staff, first, second):
    screening = keyed(woman, first, items={"xray_category": "1", "xray_findings": ""})
    verification.key_second(screening.id, {"xray_category": "3b"}, second)
    # the paper, typed again, says 3b: the same value as the second keying, but chosen as 用紙の値
    verification.resolve(screening.id, {"xray_category": {"choice": "paper", "value": "カテゴリー3b",
                                                          "reason": "用紙を再確認"}}, second)
    (line,) = verification.trace(screenings.get(screening.id)).differences
    assert line.choice == "用紙の値を入力" and line.chosen.startswith("3b")
    boss, _ = _client(app, make_staff, "supervisor")
    page = boss.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "用紙の値を入力" in page and "用紙を再確認" in page
