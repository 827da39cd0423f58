"""開示・訂正・利用停止請求: deadlines and extension, decisions, the complete disclosure document,
carrying out what was granted, the list's warnings and its CSV — all audited."""
import csv
import io
from datetime import date, timedelta

import pytest

import database
import models
from kenshin.audit.labels import RESIDENT_PHRASES
from kenshin import audit
from kenshin.screening import catalogue
from kenshin.requests import disclosure
from kenshin.requests import holdings
from kenshin.screening import screenings
from kenshin.verification import corrections
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.errors import Invalid, Refused

from .conftest import page_csrf
from .factories import VALID_ITEMS, make_institution, make_resident, make_screening


def _actor(person):
    return audit.Actor.of_staff(person.staff, "127.0.0.1")


def _events(action):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


def _request(actor, person, kind="disclosure", received=None, **overrides):
    fields = dict(kind=kind, received_on=(received or today_jst()).isoformat(),
                  requester_name="千葉 花子", requester_relation="本人",
                  identity_document="運転免許証", details="" if kind == "disclosure" else "内容",
                  atena_no=person.atena_no, resident_id=person.id)
    fields.update(overrides)
    return disclosure.create(actor, **fields)


def _screening(person, exam, exam_date, institution, **items):
    return make_screening(person, exam, exam_date, institution=institution,
                          items={**VALID_ITEMS[exam], **items})


# --- deadlines -------------------------------------------------------------------------------

def test_deadline_is_thirty_days_after_receipt_without_counting_the_first_day():
    assert disclosure.statutory_deadline(date(2025, 4, 1)) == date(2025, 5, 1)
    assert disclosure.statutory_deadline(date(2025, 12, 15)) == date(2026, 1, 14)
    assert disclosure.latest_extension(date(2025, 5, 1)) == date(2025, 5, 31)


def test_urgency_marks_overdue_and_due_within_seven_days():
    request = models.DisclosureRequest(deadline=date(2025, 5, 1), status="open")
    assert disclosure.urgency(request, date(2025, 5, 2)).level == "overdue"
    assert disclosure.urgency(request, date(2025, 5, 2)).label == "期限超過（1日）"
    assert disclosure.urgency(request, date(2025, 5, 1)).label == "本日期限"
    assert disclosure.urgency(request, date(2025, 4, 24)).level == "due_soon"
    assert disclosure.urgency(request, date(2025, 4, 23)).level == "ok"
    request.extended_deadline = date(2025, 5, 31)
    assert disclosure.urgency(request, date(2025, 5, 2)).level == "ok"
    request.status = "decided"
    assert disclosure.urgency(request, date(2026, 1, 1)).level == "done"


def test_recording_a_request_sets_its_statutory_deadline_and_is_audited(db, make_staff):
    boss = make_staff("supervisor")
    person = make_resident()
    request = _request(_actor(boss), person, received=date(2025, 4, 1))
    assert request.deadline == date(2025, 5, 1) and request.status == "open"
    assert request.identity_check == "運転免許証"
    event = _events("disclosure.create")[0]
    assert event.resident_id == person.id and event.details["deadline"] == "2025-05-01"
    assert [e.kind for e in request.entries] == ["receive"]


@pytest.mark.parametrize("overrides, field", [
    ({"kind": "other"}, "kind"),
    ({"received_on": "2099-01-01"}, "received_on"),
    ({"requester_relation": "知人"}, "requester_relation"),
    ({"requester_relation": "代理人"}, "identity_note"),  # how the agency was checked
    ({"identity_document": "その他"}, "identity_note"),
    ({"atena_no": ""}, "atena_no"),
    ({"resident_id": ""}, "atena_no"),  # not confirmed on screen
    ({"kind": "correction", "details": ""}, "details"),
])
def test_a_request_needs_its_particulars(db, make_staff, overrides, field):
    boss = make_staff("supervisor")
    person = make_resident()
    with pytest.raises(Invalid) as caught:
        _request(_actor(boss), person, **overrides)
    assert field in caught.value.errors
    assert models.DisclosureRequest.select().count() == 0


def test_extension_is_once_up_to_thirty_days_with_a_reason_within_the_first_period(db, make_staff):
    boss = make_staff("supervisor")
    actor = _actor(boss)
    request = _request(actor, make_resident(), received=date(2025, 4, 1))
    today = date(2025, 4, 20)
    with pytest.raises(Invalid) as caught:
        disclosure.extend(request.id, actor, "2025-06-01", "大量のため", today=today)
    assert "30日以内" in caught.value.errors["new_deadline"][0]
    with pytest.raises(Invalid) as caught:
        disclosure.extend(request.id, actor, "2025-05-31", "", today=today)
    assert "reason" in caught.value.errors
    extended = disclosure.extend(request.id, actor, "令和7年5月31日", "記録の確認に時間を要するため",
                                 today=today)
    assert extended.extended_deadline == date(2025, 5, 31) and extended.deadline == date(2025, 5, 1)
    assert disclosure.effective_deadline(extended) == date(2025, 5, 31)
    with pytest.raises(Refused):
        disclosure.extend(request.id, actor, "2025-05-20", "再延長", today=today)
    event = _events("disclosure.extend")[0]
    assert event.details == {"deadline": "2025-05-01", "extended_deadline": "2025-05-31"}

    late = _request(actor, make_resident(atena_no="2"), received=date(2025, 4, 1))
    with pytest.raises(Refused) as refused:
        disclosure.extend(late.id, actor, "2025-05-31", "理由", today=date(2025, 5, 2))
    assert "期限を過ぎている" in refused.value.reason


def test_decisions_follow_the_kind_and_partial_ones_give_reasons(db, make_staff):
    boss = make_staff("supervisor")
    actor = _actor(boss)
    request = _request(actor, make_resident(), received=date(2025, 4, 1))
    with pytest.raises(Invalid) as caught:
        disclosure.decide(request.id, actor, "訂正", "2025-04-10")
    assert "全部開示・一部開示・不開示" in caught.value.errors["decision"][0]
    with pytest.raises(Invalid) as caught:
        disclosure.decide(request.id, actor, "一部開示", "2025-04-10")
    assert "理由" in caught.value.errors["note"][0]
    with pytest.raises(Invalid) as caught:
        disclosure.decide(request.id, actor, "全部開示", "2025-03-31")
    assert "decided_on" in caught.value.errors
    decided = disclosure.decide(request.id, actor, "一部開示", "令和7年4月10日", "第三者の情報を除く")
    assert (decided.status, decided.decision, decided.decided_on, decided.decided_by_id) == \
        ("decided", "一部開示", date(2025, 4, 10), boss.staff.id)
    with pytest.raises(Refused):
        disclosure.decide(request.id, actor, "全部開示", "2025-04-11")
    event = _events("disclosure.decide")[0]
    assert event.details["decision"] == "一部開示" and event.details["late"] is False
    late = _request(actor, make_resident(atena_no="2"), received=date(2025, 4, 1))
    disclosure.decide(late.id, actor, "全部開示", "2025-05-02")
    assert _events("disclosure.decide")[1].details["late"] is True


def test_granted_suspension_marks_the_person_and_keeps_it_in_the_registry_history(db, make_staff):
    boss = make_staff("supervisor")
    person = make_resident()
    request = _request(_actor(boss), person, kind="suspension", details="目的外利用の停止を求める")
    disclosure.decide(request.id, _actor(boss), "利用停止", today_jst().isoformat())
    assert models.Resident.get_by_id(person.id).use_suspended is True
    change = models.ResidentChange.get(models.ResidentChange.resident == person.id)
    assert change.item == "use_suspended" and change.staff_id == boss.staff.id
    assert f"受付番号{request.id}" in change.after
    assert [e.kind for e in request.entries.order_by(models.DisclosureEntry.id)] == \
        ["receive", "decide", "suspend"]


def test_refused_suspension_leaves_the_person_in_use(db, make_staff):
    boss = make_staff("supervisor")
    person = make_resident()
    request = _request(_actor(boss), person, kind="suspension")
    disclosure.decide(request.id, _actor(boss), "利用停止しない", today_jst().isoformat(), "適法な利用")
    assert models.Resident.get_by_id(person.id).use_suspended is False


def test_granted_correction_is_made_through_the_correction_flow_with_the_request_as_reason(
        db, make_staff):
    boss = make_staff("supervisor")
    actor = _actor(boss)
    person = make_resident()
    clinic = make_institution()
    screening = _screening(person, "gastric_xray", date(2025, 6, 2), clinic, xray_findings="胃角部変形")
    request = _request(actor, person, kind="correction", details="所見の記載誤り")
    with pytest.raises(Refused):
        disclosure.correct_screening(request.id, actor, screening.id, "xray_findings", "異常なし")
    disclosure.decide(request.id, actor, "訂正", today_jst().isoformat())
    with pytest.raises(Invalid) as caught:
        disclosure.correct_screening(request.id, actor, screening.id, "no_such_item", "x")
    assert "item" in caught.value.errors
    with pytest.raises(Invalid):  # the catalogue still checks the value
        disclosure.correct_screening(request.id, actor, screening.id, "xray_category", "9")
    disclosure.correct_screening(request.id, actor, screening.id, "xray_findings", "所見なし")
    stored = models.Screening.get_by_id(screening.id)
    assert stored.items["xray_findings"] == "所見なし"
    change = models.ScreeningChange.get(models.ScreeningChange.screening == screening.id)
    assert change.reason == f"訂正請求（受付番号{request.id}）により訂正"
    assert change.before["items"]["xray_findings"] == "胃角部変形" and change.staff_id == boss.staff.id
    assert _events("screening.correct")[0].resident_id == person.id
    done = _events("disclosure.correct")[0]
    assert done.details == {"screening": screening.id, "changed": ["xray_findings"]}

    other = make_resident(atena_no="2", name="他 人", kana="タ ニン")
    theirs = _screening(other, "colorectal", date(2025, 6, 3), clinic)
    with pytest.raises(Invalid) as caught:
        disclosure.correct_screening(request.id, actor, theirs.id, "fobt_result", "negative")
    assert "対象者の検診記録ではありません" in caught.value.errors["screening"][0]


def test_correction_page_offers_the_persons_items_and_carries_out_the_correction(login_as, db):
    client, boss = login_as("supervisor")
    person = make_resident()
    screening = _screening(person, "colorectal", date(2025, 6, 2), make_institution())
    request = _request(_actor(boss), person, kind="correction")
    disclosure.decide(request.id, _actor(boss), "訂正", today_jst().isoformat())
    html = client.get(f"/disclosures/{request.id}").get_data(as_text=True)
    assert f'value="{screening.id}:fobt_result"' in html and "便潜血検査の判定区分" in html
    token = page_csrf(client, f"/disclosures/{request.id}")
    bad = client.post(f"/disclosures/{request.id}/correct", data={
        "csrf_token": token, "correct-target": f"{screening.id}:fobt_result", "correct-value": "x"})
    assert bad.status_code == 422 and "コードが不正です" in bad.get_data(as_text=True)
    ok = client.post(f"/disclosures/{request.id}/correct", data={
        "csrf_token": token, "correct-target": f"{screening.id}:fobt_result",
        "correct-value": "negative"})
    assert ok.status_code == 303
    # 要精検 → 精検不要 of a confirmed record: the request's correction waits for a second person
    assert models.Screening.get_by_id(screening.id).items["fobt_result"] == "positive"
    waiting = corrections.open_proposal(screening.id)
    assert waiting.after["items"]["fobt_result"] == "negative"
    entry = models.DisclosureEntry.select().order_by(models.DisclosureEntry.id.desc()).first()
    assert "確認待ち" in entry.text


# --- the document ----------------------------------------------------------------------------

def _person_with_a_history(clerk_actor, approver):
    person = make_resident(resident_since=date(1990, 4, 1))
    clinic = make_institution()
    held = [_screening(person, exam, date(2025, 6, 2 + n), clinic)
            for n, exam in enumerate(("gastric_xray", "lung", "breast", "periodontal", "osteoporosis",
                                      "hepatitis", "colorectal", "cervical", "gastric_endoscopy"))]
    proposed = screenings.correct(held[0].id, items={**held[0].items, "xray_category": "1", "referral": ""},
                                  reason="検診票の転記誤り", actor=clerk_actor)
    # 要精検 → 精検不要 on a confirmed record waits for a second person (issue 14)
    corrections.approve(proposed.proposal.id, approver)
    models.ResidentChange.create(resident=person, item="address", before="千葉市若葉区1-1",
                                 after=person.address, at=now_utc())
    with models.db.atomic():
        audit.record("resident.view", clerk_actor, resident=person, object_type="resident",
                     object_id=person.id)
    return person, held


def test_disclosure_document_holds_every_item_correction_history_and_access(login_as, db, make_staff):
    client, boss = login_as("supervisor")
    clerk = make_staff("clerk", name="閲覧 三郎", division="健康支援課成人保健係")
    person, held = _person_with_a_history(_actor(clerk), _actor(boss))
    request = _request(_actor(boss), person)
    response = client.get(f"/disclosures/{request.id}/document")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("保有個人情報開示文書", "千葉市", "保健福祉局 健康福祉部 健康支援課",
                 "千葉 花子", "チバ\u3000ハナコ", "昭和35年5月10日 (1960-05-10)", "女",
                 "千葉県千葉市中央区千葉港1-1", person.atena_no, "平成2年4月1日 (1990-04-01)",
                 "住民となった日", "消除日"):
        assert text in html, text
    for s in held:  # every item of every exam, summary or not, in Japanese
        for item in catalogue.get_exam(s.exam).fields:
            assert item.label in html, (s.exam, item.label)
    category = catalogue.get_exam("gastric_xray").item("xray_category")
    assert category.display("3a") in html and category.display("1") in html  # before and after
    assert "訂正" in html and "検診票の転記誤り" in html and "胃部エックス線検査の判定区分" in html
    assert "千葉市若葉区1-1" in html  # registry change history
    assert "閲覧 三郎" in html and "健康支援課成人保健係" in html
    # the access, in words the resident understands (not the staff screens' action names)
    assert RESIDENT_PHRASES["resident.view"] in html
    assert RESIDENT_PHRASES["disclosure.create"] in html
    assert RESIDENT_PHRASES["disclosure.document"] in html  # this production itself
    assert holdings.action_label("resident.view") not in html and "resident.view" not in html
    event = _events("disclosure.document")[0]
    assert event.resident_id == person.id and event.details["screenings"] == len(held)
    assert event.actor_id == boss.staff.id
    kinds = [e.kind for e in models.DisclosureEntry.select().where(
        models.DisclosureEntry.request == request.id)]
    assert kinds == ["receive", "document"]


def test_document_lists_the_access_record_including_its_own_production(db, make_staff):
    boss, clerk = make_staff("supervisor"), make_staff("clerk", name="閲覧 三郎")
    person, _ = _person_with_a_history(_actor(clerk), _actor(boss))
    request = _request(_actor(boss), person)
    doc = disclosure.document(request.id, _actor(boss))
    staff_names = [a.staff for a in doc.holdings.accesses]
    assert "閲覧 三郎" in staff_names
    assert doc.holdings.accesses[-1].action == holdings.action_label("disclosure.document")
    assert doc.holdings.accesses[-1].what == RESIDENT_PHRASES["disclosure.document"]
    assert doc.holdings.accesses[-1].who.endswith("の職員（" + boss.staff.name + "）")
    assert len(doc.holdings.screenings[0].changes) == 1
    diff = doc.holdings.screenings[0].changes[0].diffs
    assert [(d.label, d.before, d.after) for d in diff if d.label == "胃部エックス線検査の判定区分"] == \
        [("胃部エックス線検査の判定区分", catalogue.get_exam("gastric_xray").item("xray_category").display("3a"),
          catalogue.get_exam("gastric_xray").item("xray_category").display("1"))]


def test_document_only_for_disclosure_requests_not_refused_ones(db, make_staff):
    boss = make_staff("supervisor")
    person = make_resident()
    correction = _request(_actor(boss), person, kind="correction")
    with pytest.raises(Refused):
        disclosure.document(correction.id, _actor(boss))
    refused = _request(_actor(boss), person)
    disclosure.decide(refused.id, _actor(boss), "不開示", today_jst().isoformat(), "存在しない")
    with pytest.raises(Refused):
        disclosure.document(refused.id, _actor(boss))
    assert not _events("disclosure.document")


# --- screens ---------------------------------------------------------------------------------

def test_supervisor_records_a_request_on_screen_after_confirming_the_person(login_as, db):
    client, boss = login_as("supervisor")
    person = make_resident(atena_no="4321")
    token = page_csrf(client, "/disclosures/new")
    confirm = client.post("/disclosures/person", data={"atena_no": "4321"},
                          headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert f'value="{person.id}"' in confirm.get_data(as_text=True)
    response = client.post("/disclosures/new", data={
        "csrf_token": token, "kind": "disclosure", "received_on": "R7.4.1",
        "requester_name": "千葉 花子", "requester_relation": "本人",
        "identity_document": "個人番号カード", "atena_no": "4321", "resident_id": str(person.id)})
    assert response.status_code == 303
    request = models.DisclosureRequest.get()
    assert request.deadline == date(2025, 5, 1)
    page = client.get(f"/disclosures/{request.id}").get_data(as_text=True)
    assert "令和7年5月1日 (2025-05-01)" in page and "期限超過" in page
    assert _events("disclosure.view")[0].resident_id == person.id


def test_list_warns_about_overdue_and_soon_due_requests(login_as, db):
    client, boss = login_as("supervisor")
    actor = _actor(boss)
    today = today_jst()
    overdue = _request(actor, make_resident(atena_no="1"), received=today - timedelta(days=31))
    soon = _request(actor, make_resident(atena_no="2", name="二 人", kana="ニ ヒト"),
                    received=today - timedelta(days=25))
    calm = _request(actor, make_resident(atena_no="3", name="三 人", kana="サン ニン"),
                    received=today - timedelta(days=1))
    done = _request(actor, make_resident(atena_no="4", name="四 人", kana="ヨ ニン"),
                    received=today - timedelta(days=40))
    disclosure.decide(done.id, actor, "全部開示", today.isoformat())
    html = client.get("/disclosures/").get_data(as_text=True)
    assert "期限を過ぎた処理中の請求が 1件" in html and "7日以内に期限を迎える請求が 1件" in html
    assert 'class="overdue"' in html and 'class="due-soon"' in html
    assert html.index(f">{overdue.id}</a>") < html.index(f">{soon.id}</a>") < html.index(f">{calm.id}</a>")
    assert f">{done.id}</a>" not in html  # open ones by default
    everything = client.get("/disclosures/?status=").get_data(as_text=True)
    assert f">{done.id}</a>" in everything
    assert _events("disclosure.list")[0].details["count"] == 3


def test_extension_and_decision_through_the_request_page(login_as, db):
    client, boss = login_as("supervisor")
    request = _request(_actor(boss), make_resident(), received=today_jst())
    token = page_csrf(client, f"/disclosures/{request.id}")
    missing = client.post(f"/disclosures/{request.id}/extend", data={
        "csrf_token": token, "extend-new_deadline": "", "extend-reason": ""})
    assert missing.status_code == 422 and "延長の理由を入力してください" in missing.get_data(as_text=True)
    latest = disclosure.latest_extension(request.deadline)
    ok = client.post(f"/disclosures/{request.id}/extend", data={
        "csrf_token": token, "extend-new_deadline": latest.isoformat(), "extend-reason": "検索に時間を要する"})
    assert ok.status_code == 303
    decided = client.post(f"/disclosures/{request.id}/decide", data={
        "csrf_token": token, "decide-decision": "全部開示", "decide-decided_on": today_jst().isoformat()})
    assert decided.status_code == 303
    stored = models.DisclosureRequest.get_by_id(request.id)
    assert stored.extended_deadline == latest and stored.decision == "全部開示"
    page = client.get(f"/disclosures/{request.id}").get_data(as_text=True)
    assert "検索に時間を要する" in page and "決定済" in page


def test_csv_export_of_requests_needs_a_reason_and_is_audited(login_as, db):
    client, boss = login_as("supervisor")
    for n in range(2):
        _request(_actor(boss), make_resident(atena_no=str(n + 1)), requester_name="請求 太郎")
    token = page_csrf(client, "/disclosures/")
    assert client.post("/disclosures/export", data={"csrf_token": token}).status_code == 303
    assert not _events("disclosure.export")
    response = client.post("/disclosures/export", data={
        "csrf_token": token, "reason": "期限管理の確認", "status": "open"})
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == disclosure.EXPORT_HEADER and len(rows) == 3
    assert rows[1][1] == "開示請求" and "請求 太郎" not in raw.decode("utf-8-sig")
    event = _events("disclosure.export")[0]
    assert event.details["count"] == 2 and event.details["reason"] == "期限管理の確認"


def test_clerks_cannot_reach_disclosure_requests(login_as, db):
    client, _ = login_as("clerk")
    assert client.get("/disclosures/").status_code == 403
    assert client.get("/disclosures/new").status_code == 403


def test_schema_upgrade_adds_the_use_suspended_column(app, db):
    # A database from a release before the column (and before numbered steps).
    models.db.execute_sql('ALTER TABLE "resident" DROP COLUMN "use_suspended"')
    models.SchemaMigration.delete().execute()
    assert "use_suspended" not in {c.name for c in models.db.get_columns("resident")}
    assert database.create_schema() == "upgraded"
    assert "use_suspended" in {c.name for c in models.db.get_columns("resident")}
    assert database.create_schema() == "current"
    person = make_resident()
    assert models.Resident.get_by_id(person.id).use_suspended is False
