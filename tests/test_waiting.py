"""The menu's waiting work (issue 20): each count is right, links to its list, and shows only to
the roles that may open that list."""
from datetime import date, timedelta

import models
from kenshin.core.dates import now_utc, today_jst
from kenshin.requests import inquiries
from kenshin.waiting import counts

from .factories import actor_of, make_institution, make_resident, make_screening


def _count(html, key):
    import re

    found = re.search(rf'id="waiting-{key}"><a href="([^"]+)">[^<]*<br><strong class="count">(\d+)件',
                      html)
    return (found[1], int(found[2])) if found else None


def test_counts_follow_the_records(db, make_staff):
    staff = make_staff("supervisor")
    person = make_resident()
    assert [w.count for w in (counts.queue_open(), counts.verification_pending(),
                              counts.inquiries_open())] == [0, 0, 0]
    make_screening(person, status="pending")
    make_screening(person, "colorectal", today_jst() - timedelta(days=1), referral=True)
    inquiries.create(actor_of(staff), received_date=today_jst().isoformat(), received_time="0:00",
                     channel="電話", requester_type="本人", requester_name="千葉 花子",
                     requester_contact="", subject="結果について")
    for due in (today_jst() - timedelta(days=1), today_jst() + timedelta(days=3),
                today_jst() + timedelta(days=20)):
        models.DisclosureRequest.create(
            kind="disclosure", received_on=today_jst(), requester_name="千葉 花子",
            requester_relation="本人", identity_check="運転免許証", resident=person, deadline=due,
            created_by=staff.staff.id, created_at=now_utc())
    assert counts.verification_pending().count == 1
    assert counts.inquiries_open().count == 1
    assert counts.followup_unknown().count is None  # a link only: too costly to count
    deadlines = counts.request_deadlines()
    assert (deadlines.count, deadlines.urgent) == (1, 1)


def test_menu_links_each_count_to_its_list_for_the_roles_that_open_it(login_as, db):
    client, boss = login_as("supervisor")
    person = make_resident()
    models.ProvisionQuery.create(
        query_id="Q-menu", requester="123456", procedure="転入者の検診履歴の確認",
        person_no="9" + person.atena_no, resident=person, requested=["results"], status="held",
        terminal="127.0.0.1", received_at=now_utc() - timedelta(days=30))
    html = client.get("/").get_data(as_text=True)
    assert _count(html, "provision") == ("/provision-records/", 1)
    assert "5業務日以上 1件" in html
    assert _count(html, "requests") == ("/disclosures/", 0)
    assert _count(html, "queue") == ("/queue/", 0)
    assert _count(html, "verify") == ("/verify/", 0)
    assert _count(html, "corrections") == ("/screenings/corrections", 0)


def test_a_correction_waiting_for_a_second_person_is_counted(db, make_staff):
    from kenshin.screening import screenings

    make_institution()
    record = make_screening(make_resident(), "colorectal", date(2025, 6, 2), referral=True)
    assert counts.corrections_waiting().count == 0
    screenings.correct(record.id, items={"fobt_result": "negative"}, reason="用紙の読み違い",
                       actor=actor_of(make_staff("clerk")))
    assert counts.corrections_waiting().count == 1


def test_auditor_and_maintainer_see_no_counts(login_as, db):
    for role in ("auditor", "maintainer"):
        client, _ = login_as(role)
        html = client.get("/").get_data(as_text=True)
        assert 'class="count"' not in html and "この役割で件数を表示する仕事はありません" in html, role

