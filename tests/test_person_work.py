"""Phone work around one person (issue 20): the person page lists the person's inquiries,
requests, invitations and provision records — each only for the roles that may see it, in the one
audited view — and receives an inquiry or a request with the person already filled in."""
from datetime import date, timedelta

import pytest

import models
from kenshin.core.dates import now_utc, today_jst
from kenshin.invitations import extraction
from kenshin.registry import person_page
from kenshin.registry.residents import programme_birth_cutoff
from kenshin.requests import disclosure, inquiries

from .conftest import page_csrf
from .factories import CLI, actor_of, make_institution, make_resident


@pytest.fixture
def hanako(db):
    return make_resident("000000123456", name="千葉 花子", kana="チバ ハナコ", birth=date(1978, 5, 5))


def _signed_in(login_as, *roles):
    client, person = login_as(*roles)
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client, person


def _inquiry(staff, person, subject="受診券が届かない"):
    return inquiries.create(actor_of(staff), received_date=today_jst().isoformat(),
                            received_time="0:00", channel="電話", requester_type="本人",
                            requester_name="千葉 花子", requester_contact="", subject=subject,
                            atena_no=person.atena_no, resident_id=person.id)


def _provision_query(person):
    return models.ProvisionQuery.create(
        query_id="Q-person-1", requester="123456", procedure="転入者の検診履歴の確認",
        person_no="9" + person.atena_no, resident=person, requested=["history"], status="answered",
        terminal="127.0.0.1", received_at=now_utc(), answered_at=now_utc())


def _last_view():
    return (models.AuditEvent.select().where(models.AuditEvent.action == "resident.view")
            .order_by(models.AuditEvent.seq.desc()).first())


def test_sections_follow_the_roles():
    assert person_page.sections_for({"clerk"}) == ("inquiries", "invitations")
    assert person_page.sections_for({"supervisor"}) == (
        "inquiries", "requests", "invitations", "provision")
    assert person_page.sections_for({"admin", "auditor", "maintainer"}) == ()


def test_clerk_sees_inquiries_and_invitations_but_not_requests_or_provision(login_as, hanako):
    make_institution()
    client, clerk = _signed_in(login_as, "clerk")
    _inquiry(clerk, hanako, "受診券が届かない件")
    extraction.extract(2025, date(2025, 4, 1), CLI)
    extraction.remind(2025, date(2025, 10, 31), date(2025, 11, 1), CLI)
    _provision_query(hanako)
    models.DisclosureRequest.create(
        kind="disclosure", received_on=today_jst(), requester_name="千葉 花子",
        requester_relation="本人", identity_check="運転免許証", resident=hanako,
        deadline=today_jst() + timedelta(days=30), created_by=clerk.staff.id, created_at=now_utc())

    html = client.get(f"/residents/{hanako.id}").get_data(as_text=True)
    assert "受診券が届かない件" in html and 'id="person-inquiries"' in html
    assert 'id="person-invitations"' in html and "再勧奨" in html and "受診券" in html
    number = models.SeiriNumber.get(models.SeiriNumber.resident == hanako.id).number
    assert number in html
    assert 'id="person-requests"' not in html and 'id="person-provision"' not in html
    assert "請求を受け付ける" not in html and "問合せを受け付ける" in html
    assert _last_view().details == {"lists": ["inquiries", "invitations"]}


def test_supervisor_sees_every_list_and_the_view_names_them(login_as, hanako):
    client, boss = _signed_in(login_as, "supervisor")
    disclosure.create(actor_of(boss), kind="correction", received_on=today_jst().isoformat(),
                      requester_name="千葉 花子", requester_relation="本人",
                      identity_document="運転免許証", atena_no=hanako.atena_no,
                      resident_id=hanako.id, details="住所の誤りの訂正")
    _provision_query(hanako)
    html = client.get(f"/residents/{hanako.id}").get_data(as_text=True)
    assert 'id="person-requests"' in html and "訂正請求" in html and "あと30日" in html
    assert 'id="person-provision"' in html and "転入者の検診履歴の確認" in html and "回答済み" in html
    assert "請求を受け付ける" in html
    assert _last_view().details == {"lists": ["inquiries", "requests", "invitations", "provision"]}


def test_inquiry_received_from_the_person_page_is_linked_and_listed_there(login_as, hanako):
    client, clerk = _signed_in(login_as, "clerk")
    form = client.post("/inquiries/new/person", data={"resident_id": hanako.id})
    html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert 'value="000000123456"' in html and f'name="resident_id" value="{hanako.id}"' in html
    assert "千葉 花子" in html and "昭和53年5月5日" in html  # shown to confirm, as after 「確認」
    lookup = (models.AuditEvent.select().where(models.AuditEvent.action == "resident.lookup")
              .order_by(models.AuditEvent.seq.desc()).first())
    assert lookup.resident_id == hanako.id and lookup.details["purpose"] == "inquiry"

    saved = client.post("/inquiries/new", data={
        "received_date": today_jst().isoformat(), "received_time": "0:00", "channel": "電話",
        "requester_type": "本人", "requester_name": "千葉 花子", "subject": "結果の通知について",
        "atena_no": hanako.atena_no, "resident_id": hanako.id})
    assert saved.status_code == 303
    inquiry = models.Inquiry.get()
    assert inquiry.resident_id == hanako.id
    page = client.get(f"/residents/{hanako.id}").get_data(as_text=True)
    assert f'/inquiries/{inquiry.id}"' in page and "結果の通知について" in page


def test_request_received_from_the_person_page_for_a_supervisor_only(login_as, hanako):
    client, _ = _signed_in(login_as, "supervisor")
    html = client.post("/disclosures/new/person", data={"resident_id": hanako.id}).get_data(as_text=True)
    assert 'value="000000123456"' in html and f'name="resident_id" value="{hanako.id}"' in html
    clerk_client, _ = _signed_in(login_as, "clerk")
    assert clerk_client.post("/disclosures/new/person", data={"resident_id": hanako.id}).status_code == 403


@pytest.mark.parametrize("path", ["/inquiries/new/person", "/disclosures/new/person"])
def test_someone_outside_the_programme_cannot_be_filled_in(login_as, db, path):
    young = make_resident("600019", birth=programme_birth_cutoff(today_jst()) + timedelta(days=1))
    client, _ = _signed_in(login_as, "supervisor")
    for value in (young.id, "x", ""):
        response = client.post(path, data={"resident_id": value})
        assert response.status_code == 404 and young.name not in response.get_data(as_text=True)
    event = (models.AuditEvent.select().where(models.AuditEvent.action == "resident.lookup")
             .order_by(models.AuditEvent.seq.desc()).first())
    assert event.outcome == "not_found" and event.resident_id is None
