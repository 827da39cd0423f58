"""Provision through the intermediate server (FORMATS.md "Provision"), on both databases: the
HTTP interface as the network sees it, the permitted list, holds and approval, the provision
record, the disclosure document, unusual access, and the stand-in network script over HTTP."""
import importlib.util
import json
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from peewee import IntegrityError
from markupsafe import escape
from werkzeug.serving import make_server

import models
from kenshin import audit
from kenshin.audit import log as audit_log
from kenshin.audit import unusual_access
from kenshin.core.dates import fiscal_year, today_jst
from kenshin.core.errors import Invalid, Refused
from kenshin.provision import flags, queries
from kenshin.screening import catalogue
from kenshin.requests import holdings

from .conftest import login, page_csrf
from .factories import actor_of, make_resident, make_screening

TOKEN = "stand-in-network-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REQUESTER = "131016"
PROCEDURE = "健康増進法による健康増進事業の実施に関する事務"
TOGO = "900000000001"
ON = pytest.mark.config(PROVISION_TOKEN=TOKEN)

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "stand_in_network.py"
_spec = importlib.util.spec_from_file_location("stand_in_network", SCRIPT)
network = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(network)


def permit(runner, tmp_path, lines=None, name="permitted.csv"):
    lines = lines if lines is not None else [f"{REQUESTER},{PROCEDURE},history",
                                             f"{REQUESTER},{PROCEDURE},results"]
    path = tmp_path / name
    path.write_text("requester,procedure,item\n" + "".join(line + "\n" for line in lines),
                    encoding="utf-8")
    return runner.invoke(args=["import-permitted", str(path)])


def body(items=("history",), query_id="Q-1", person=TOGO, requester=REQUESTER, **extra):
    return dict({"query_id": query_id, "requester": requester, "procedure": PROCEDURE,
                 "person": person, "items": list(items)}, **extra)


def person_with_screenings():
    """A person with one confirmed colorectal, one confirmed lung (判定保留: X-ray A), one pending,
    one void and one follow-up record: only the two confirmed screenings may ever leave."""
    person = make_resident("1001", togo_atena_no=TOGO)
    last_year = today_jst().replace(month=6, day=1) - timedelta(days=365)
    make_screening(person, exam="colorectal", exam_date=last_year)
    lung = make_screening(person, exam="lung", exam_date=last_year + timedelta(days=1),
                          items={"symptoms": "0", "xray_grade": "A", "sputum_class": "",
                                 "other_findings": ""})
    # the stored 判定保留 flag, as recording the screening sets it (the factory leaves it False)
    assert catalogue.pending_flag("lung", lung.items)
    models.Screening.update(pending=True).where(models.Screening.id == lung.id).execute()
    make_screening(person, exam="colorectal", exam_date=last_year + timedelta(days=2), status="pending")
    make_screening(person, exam="colorectal", exam_date=last_year + timedelta(days=3), status="void")
    make_screening(person, exam="followup", exam_date=last_year + timedelta(days=4),
                   items={"target": "colorectal"})
    return person, last_year


def steps_of(query_id):
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == query_id)
    return [s.kind for s in models.ProvisionStep.select().where(models.ProvisionStep.query == query.id)
            .order_by(models.ProvisionStep.id)]


def actions():
    return [e.action for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)]


# --- the interface ---------------------------------------------------------------------------------

@ON
def test_permitted_history_is_answered_at_once_with_counted_screenings_only(app, client, db, runner, tmp_path):
    assert permit(runner, tmp_path).exit_code == 0
    _, day = person_with_screenings()
    response = client.post("/provision/queries", json=body(), headers=AUTH)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer == {"status": "answered", "history": [
        {"fiscal_year": fiscal_year(day), "exam": "colorectal", "exam_date": day.isoformat(), "setting": "1"},
        {"fiscal_year": fiscal_year(day + timedelta(days=1)), "exam": "lung",
         "exam_date": (day + timedelta(days=1)).isoformat(), "setting": "1"}]}
    assert steps_of("Q-1") == ["received", "answered", "delivered"]
    assert actions()[-2:] == ["provision.query", "provision.answer"]
    assert "Set-Cookie" not in response.headers
    assert audit.verify().ok


@ON
def test_results_are_held_until_approved_then_sent_exactly_as_approved(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person, day = person_with_screenings()
    response = client.post("/provision/queries", json=body(("results",), query_id="Q-2"), headers=AUTH)
    assert (response.status_code, response.get_json()) == (202, {"status": "held"})
    assert client.get("/provision/queries/Q-2", headers=AUTH).status_code == 202
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == "Q-2")
    results = query.content["results"]
    assert [r["exam"] for r in results] == ["colorectal", "lung"]
    assert results[0]["outcome"] == "clear" and results[1]["outcome"] == "pending"
    assert results[1]["items"]["xray_grade"] == "A"

    supervisor = make_staff("supervisor")
    with pytest.raises(Refused):  # a screen showing other content cannot approve
        queries.approve(query.id, "0" * 64, actor_of(supervisor))
    queries.approve(query.id, query.content_sha256, actor_of(supervisor))
    # A correction after approval changes nothing in what leaves: the approved content is sent.
    models.Screening.update(items={"fobt_result": "positive", "referral": "1"}).where(
        (models.Screening.resident == person.id) & (models.Screening.exam == "colorectal")).execute()
    got = client.get("/provision/queries/Q-2", headers=AUTH)
    assert got.status_code == 200
    assert got.get_json() == {"status": "answered", "results": results}
    assert steps_of("Q-2") == ["received", "held", "approved", "delivered"]
    record = models.ProvisionQuery.get_by_id(query.id)
    assert record.decided_by_id == supervisor.staff.id and record.delivered_at is not None
    assert {"provision.hold", "provision.approve", "provision.deliver"} <= set(actions())
    assert audit.verify().ok


@ON
def test_unlisted_requester_is_refused_and_audited(app, client, db, runner, tmp_path):
    permit(runner, tmp_path)
    person_with_screenings()
    response = client.post("/provision/queries", json=body(requester="011002", query_id="Q-3"),
                           headers=AUTH)
    assert (response.status_code, response.get_json()) == (403, {"status": "refused",
                                                                  "reason": "not_permitted"})
    event = models.AuditEvent.select().where(models.AuditEvent.action == "provision.refuse").get()
    assert event.outcome == "denied" and event.details["not_listed"] == ["history"]
    assert event.resident_id is None  # the person is not even looked up
    assert steps_of("Q-3") == ["received", "refused"]
    # a listed requester asking for an item it is not permitted is refused the same way
    permit(runner, tmp_path, [f"{REQUESTER},{PROCEDURE},history"], name="narrow.csv")
    response = client.post("/provision/queries", json=body(("history", "results"), query_id="Q-4"),
                           headers=AUTH)
    assert response.status_code == 403
    assert audit.verify().ok


@ON
def test_token_address_cookie_and_body_guards(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person_with_screenings()
    assert client.post("/provision/queries", json=body()).status_code == 401
    no_token = client.get("/provision/queries/Q-1")
    assert no_token.status_code == 401 and no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/provision/queries", json=body(),
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/provision/queries", json=body(),
                       headers={"Authorization": TOKEN}).status_code == 401
    assert "provision.unauthenticated" in actions()
    assert not models.ProvisionQuery.select().exists()
    other = client.post("/provision/queries", json=body(), headers=AUTH,
                        environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert other.status_code == 403 and other.get_json()["reason"] == "address_not_allowed"
    bad = client.post("/provision/queries", data="{not json", headers=AUTH,
                      content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["status"] == "invalid"
    wrong = client.post("/provision/queries", json=body(items=("everything",)), headers=AUTH)
    assert wrong.status_code == 400 and "items" in wrong.get_json()["errors"]
    assert client.post("/provision/queries", json=[1, 2], headers=AUTH).status_code == 400
    assert not models.ProvisionQuery.select().exists()
    # a staff browser session never reaches it, even with the token
    supervisor = make_staff("supervisor")
    assert login(client, supervisor).get_json()["ok"]
    staff_try = client.post("/provision/queries", json=body(), headers=AUTH)
    assert staff_try.status_code == 403 and staff_try.get_json()["reason"] == "staff_session"


def test_no_token_configured_means_provision_is_off(app, client, db, caplog):
    response = client.post("/provision/queries", json=body(), headers=AUTH)
    assert response.status_code == 404
    assert client.get("/provision/queries/Q-1", headers=AUTH).status_code == 404
    assert any("provision is off" in r.getMessage() for r in caplog.records)


@ON
def test_unknown_removed_long_ago_and_suspended_people(app, client, db, runner, tmp_path):
    permit(runner, tmp_path)
    today = today_jst()
    make_resident("2001", togo_atena_no="900000000002",
                  removed_on=date(fiscal_year(today) - 6, 6, 1), removal_reason="転出")
    recent = make_resident("2002", togo_atena_no="900000000003",
                           removed_on=today - timedelta(days=30), removal_reason="転出")
    make_screening(recent, exam_date=today - timedelta(days=200))
    make_resident("2003", togo_atena_no="900000000004", use_suspended=True)
    cases = [("900000000099", 404, {"status": "unknown_person"}),
             ("900000000002", 404, {"status": "unknown_person"}),
             ("900000000004", 403, {"status": "refused", "reason": "use_suspended"})]
    for n, (togo, code, expected) in enumerate(cases):
        response = client.post("/provision/queries", json=body(query_id=f"U-{n}", person=togo),
                               headers=AUTH)
        assert (response.status_code, response.get_json()) == (code, expected), togo
    moved = client.post("/provision/queries", json=body(query_id="U-moved", person="900000000003"),
                        headers=AUTH)
    assert moved.status_code == 200 and len(moved.get_json()["history"]) == 1
    statuses = {q.query_id: q.status for q in models.ProvisionQuery.select()}
    assert statuses == {"U-0": "unknown_person", "U-1": "unknown_person", "U-2": "suspended",
                        "U-moved": "answered"}
    assert audit.verify().ok


@ON
def test_a_query_id_is_one_query(app, client, db, runner, tmp_path):
    permit(runner, tmp_path)
    person_with_screenings()
    first = client.post("/provision/queries", json=body(query_id="R-1"), headers=AUTH)
    again = client.post("/provision/queries", json=body(query_id="R-1"), headers=AUTH)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    other = client.post("/provision/queries", json=body(("results",), query_id="R-1"), headers=AUTH)
    assert other.status_code == 409
    assert client.get("/provision/queries/none-such", headers=AUTH).status_code == 404
    assert steps_of("R-1") == ["received", "answered", "delivered", "delivered"]


@ON
def test_decline_sends_nothing(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person_with_screenings()
    client.post("/provision/queries", json=body(("history", "results"), query_id="D-1"), headers=AUTH)
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == "D-1")
    supervisor = make_staff("supervisor")
    with pytest.raises(Invalid):
        queries.decline(query.id, "  ", actor_of(supervisor))
    queries.decline(query.id, "照会の事務と項目が合わないため", actor_of(supervisor))
    got = client.get("/provision/queries/D-1", headers=AUTH)
    assert got.status_code == 403 and got.get_json()["status"] == "declined"
    assert "results" not in got.get_json() and "history" not in got.get_json()
    assert steps_of("D-1") == ["received", "held", "declined"]
    with pytest.raises(Refused):  # decided once
        queries.approve(query.id, query.content_sha256, actor_of(supervisor))


# --- settings, held too long, records -----------------------------------------------------------

@ON
def test_flag_setting_has_history_and_decides_holding(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person_with_screenings()
    supervisor = make_staff("supervisor")
    assert flags.current() == {"history": False, "results": True}
    flags.change("history", True, "転出先からの照会を一件ずつ確認する期間", actor_of(supervisor))
    assert client.post("/provision/queries", json=body(query_id="F-1"), headers=AUTH).status_code == 202
    flags.change("history", False, "確認期間の終了", actor_of(supervisor))
    assert client.post("/provision/queries", json=body(query_id="F-2"), headers=AUTH).status_code == 200
    assert [(r.item, r.no_auto_answer) for r in flags.history()] == [("history", False), ("history", True)]
    assert actions().count("provision.setting") == 2
    with pytest.raises(Invalid):
        flags.change("results", False, "", actor_of(supervisor))


def test_held_too_long_counts_working_days():
    # received on Friday 2026-11-20 (JST); 11/23 is 勤労感謝の日
    received = datetime(2026, 11, 20, 1, 0)  # UTC = 10:00 JST
    assert queries.working_days_waited(received, date(2026, 11, 23)) == 0
    assert queries.working_days_waited(received, date(2026, 11, 27)) == 4
    assert queries.working_days_waited(received, date(2026, 11, 30)) == 5
    # 年末年始 are closed days too
    assert queries.working_days_waited(datetime(2026, 12, 28, 1), date(2027, 1, 5)) == 2


@ON
def test_held_list_flags_old_queries(app, client, db, runner, tmp_path):
    permit(runner, tmp_path)
    person_with_screenings()
    client.post("/provision/queries", json=body(("results",), query_id="H-1"), headers=AUTH)
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == "H-1")
    query.received_at = datetime(2026, 11, 20, 1, 0)
    query.save()
    rows = queries.held(queries.Policy(hold_working_days=5), today=date(2026, 11, 27))
    assert [(r.waited, r.overdue) for r in rows] == [(4, False)]
    rows = queries.held(queries.Policy(hold_working_days=5), today=date(2026, 11, 30))
    assert [(r.waited, r.overdue) for r in rows] == [(5, True)]


@ON
def test_records_searchable_by_person_and_in_the_disclosure_document(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person, _ = person_with_screenings()
    client.post("/provision/queries", json=body(query_id="S-1"), headers=AUTH)
    client.post("/provision/queries", json=body(("results",), query_id="S-2"), headers=AUTH)
    supervisor = make_staff("supervisor")
    found = queries.search("1001", actor_of(supervisor))
    assert {q.query_id for q in found} == {"S-1", "S-2"}
    assert {q.query_id for q in queries.search(TOGO, actor_of(supervisor))} == {"S-1", "S-2"}
    provided = holdings.collect(models.Resident.get_by_id(person.id)).provided
    assert [(p.requester, p.approved_by) for p in provided] == [(REQUESTER, "自動応答")]
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == "S-2")
    queries.approve(query.id, query.content_sha256, actor_of(supervisor))
    assert len(holdings.collect(person).provided) == 1  # approved, not yet fetched
    client.get("/provision/queries/S-2", headers=AUTH)
    provided = holdings.collect(person).provided
    assert [p.approved_by for p in provided] == ["自動応答", supervisor.staff.name]
    accesses = [a.staff for a in holdings.accesses(person.id)]
    assert f"中間サーバー（照会元 {REQUESTER}）" in accesses


@ON
def test_screen_searches_records_by_person_without_the_number_in_the_url(app, client, db, runner, tmp_path,
                                                                        make_staff):
    permit(runner, tmp_path)
    person_with_screenings()
    client.post("/provision/queries", json=body(query_id="P-1"), headers=AUTH)
    assert login(client, make_staff("supervisor")).get_json()["ok"]
    page = client.get("/provision-records/").get_data(as_text=True)
    assert 'method="post"' in page and "/provision-records/search" in page
    token = page_csrf(client, "/provision-records/")
    found = client.post("/provision-records/search", data={"csrf_token": token, "person": "1001"})
    assert found.status_code == 200 and "検索結果（1件）" in found.get_data(as_text=True)
    refused = client.post("/provision-records/search", data={"csrf_token": token, "person": "abc"})
    assert refused.status_code == 422
    assert "検索結果" not in client.get("/provision-records/?person=1001").get_data(as_text=True)


@ON
def test_screens_show_exactly_what_would_be_sent(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    person_with_screenings()
    client.post("/provision/queries", json=body(("results",), query_id="V-1"), headers=AUTH)
    supervisor = make_staff("supervisor")
    assert login(client, supervisor).get_json()["ok"]
    listing = client.get("/provision-records/").get_data(as_text=True)
    assert "V-1" in listing
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == "V-1")
    page = client.get(f"/provision-records/{query.id}").get_data(as_text=True)
    assert "判定保留" in page and query.content_sha256 in page and "千葉 花子" in page
    exact = json.dumps({"status": "answered", **query.content}, ensure_ascii=False, indent=2)
    assert str(escape(exact)) in page  # the very bytes that approval releases
    token = page_csrf(client, f"/provision-records/{query.id}")
    client.post(f"/provision-records/{query.id}/approve",
                data={"csrf_token": token, "content_sha256": query.content_sha256})
    assert models.ProvisionQuery.get_by_id(query.id).status == "answered"
    assert models.AuditEvent.select().where(models.AuditEvent.action == "provision.view").exists()
    permitted_page = client.get("/provision-records/permitted").get_data(as_text=True)
    assert PROCEDURE in permitted_page and REQUESTER in permitted_page
    settings = client.get("/provision-records/settings")
    assert settings.status_code == 200
    token = page_csrf(client, "/provision-records/settings")
    refused = client.post("/provision-records/settings", data={"csrf_token": token, "item": "results",
                                                               "no_auto_answer": "0", "reason": ""})
    assert refused.status_code == 422


@ON
def test_refusal_spike_on_the_unusual_access_list(app, client, db, runner, tmp_path, make_staff):
    permit(runner, tmp_path)
    for n in range(6):
        client.post("/provision/queries", json=body(requester="011002", query_id=f"X-{n}",
                                                    person=f"8000{n}"), headers=AUTH)
    today = today_jst()
    period = audit_log.Period(today - timedelta(days=6), today)
    found = unusual_access.find(period, unusual_access.Rules(refusal_minimum=5))
    assert [(s.day, s.refusals, s.requesters) for s in found.refusal_spikes] == [(today, 6, ["011002"])]
    assert unusual_access.find(period, unusual_access.Rules(refusal_minimum=7)).refusal_spikes == []


# --- the permitted list import ----------------------------------------------------------------------

def test_import_permitted_all_or_nothing_idempotent_audited(app, db, runner, tmp_path):
    bad = permit(runner, tmp_path, [f"{REQUESTER},{PROCEDURE},history", f"12,{PROCEDURE},history",
                                    f"{REQUESTER},{PROCEDURE},everything", f"{REQUESTER},{PROCEDURE},history"])
    assert bad.exit_code == 1
    assert bad.output.splitlines() == [
        "line 3, column requester: 照会元の地方公共団体コードは5〜6桁の数字です",
        "line 4, column item: item は history または results です",
        "line 5, column -: 同じ照会元・事務・項目の行が、このファイルのもっと前にもあります（後の行を無効とします）"]
    assert not models.PermittedQuery.select().exists()
    first = permit(runner, tmp_path)
    assert (first.exit_code, first.output.strip()) == (0, "new=2 removed=0 unchanged=0")
    again = permit(runner, tmp_path)
    assert again.output.strip() == "new=0 removed=0 unchanged=2"
    narrower = permit(runner, tmp_path, [f"{REQUESTER},{PROCEDURE},history"], name="v2.csv")
    assert narrower.output.strip() == "new=0 removed=1 unchanged=1"
    assert models.PermittedQuery.select().count() == 2  # the removed line is kept as history
    unknown_column = tmp_path / "cols.csv"
    unknown_column.write_text("requester,procedure,item,note\n", encoding="utf-8")
    assert runner.invoke(args=["import-permitted", str(unknown_column)]).exit_code == 1
    assert runner.invoke(args=["import-permitted", str(tmp_path / "missing.csv")]).exit_code == 2
    events = [e for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)
              if e.action == "import.permitted"]
    assert [e.outcome for e in events] == ["rejected", "accepted", "accepted", "accepted", "rejected",
                                           "rejected"]
    assert audit.verify().ok


# --- the stand-in network over HTTP ------------------------------------------------------------------

@pytest.fixture
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    server.shutdown()
    thread.join(timeout=5)


@ON
def test_stand_in_network_over_http(app, db, runner, tmp_path, make_staff, served):
    permit(runner, tmp_path)
    person_with_screenings()
    models.db.close()
    code, answer, _ = network.send(served, TOKEN, person=TOGO, items=["history"])
    assert code == 200 and len(answer["history"]) == 2
    assert network.send(served, None, person=TOGO, items=["history"])[0] == 401
    code, answer, query_id = network.send(served, TOKEN, person=TOGO, items=["results"])
    assert (code, answer) == (202, {"status": "held"})
    assert network.exit_code(code, answer) == 3
    models.db.connect(reuse_if_open=True)
    query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == query_id)
    queries.approve(query.id, query.content_sha256, actor_of(make_staff("supervisor")))
    models.db.close()
    code, answer = network.poll(served, TOKEN, query_id, sleep=lambda _: None)
    assert code == 200 and answer == {"status": "answered", **query.content}
    assert network.main(["--url", served, "--token", TOKEN, "send", "--person", TOGO,
                         "--item", "history", "--requester", "011002"]) == 1


def test_query_body_rules():
    asked = queries.parse({"query_id": "A.1", "requester": 131016, "procedure": "  健康増進法による\u3000事務 ",
                           "person": 900000000001, "items": ["results", "history", "history"]})
    assert (asked.requester, asked.person, asked.procedure, asked.items) == (
        "131016", "900000000001", "健康増進法による 事務", ["history", "results"])
    for bad in ({"query_id": "a/b"}, {"person": "12345678901234567"}, {"requester": "1310"},
                {"items": []}, {"items": "history"}, {"extra": 1}, {"person": True}):
        with pytest.raises(Invalid):
            queries.parse(dict(body(), **bad))


def test_steps_6_and_7_give_an_older_database_the_togo_column_and_its_unique_index(db):
    import database

    make_resident("3001")
    # a database at step 5: resident without 団体内統合宛名番号 (nor its index)
    models.db.execute_sql('DROP INDEX "resident_togo_atena_no"')
    models.db.execute_sql('ALTER TABLE "resident" DROP COLUMN "togo_atena_no"')
    models.SchemaMigration.delete().where(models.SchemaMigration.version >= 6).execute()
    assert database.schema_version() == 5
    assert database.create_schema() == "upgraded"
    assert "togo_atena_no" in {c.name for c in models.db.get_columns("resident")}
    index = [i for i in models.db.get_indexes("resident") if i.name == "resident_togo_atena_no"]
    assert [(i.columns, i.unique) for i in index] == [(["togo_atena_no"], True)]
    make_resident("3002", togo_atena_no="900000000091")
    with pytest.raises(IntegrityError), models.db.atomic():
        make_resident("3003", togo_atena_no="900000000091")
    assert database.create_schema() == "current"
