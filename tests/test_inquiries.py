"""問合せ記録: reception to closing, the handling timeline, the printed 問合せ記録票, list, CSV — audited."""
import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest

import models
from kenshin import audit
from kenshin.requests import inquiries
from kenshin.core.dates import JST, format_wareki
from kenshin.core.errors import Invalid, Refused

from .conftest import page_csrf
from .factories import make_resident


def _actor(person):
    return audit.Actor.of_staff(person.staff, "127.0.0.1")


def _events(action):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


def _new(actor, **overrides):
    fields = dict(received_date="2025-06-02", received_time="10:15", channel="電話",
                  requester_type="本人", requester_name="千葉 花子", requester_contact="043-000-0000",
                  subject="受診結果の通知はいつ届くか")
    fields.update(overrides)
    return inquiries.create(actor, **fields)


def test_clerk_takes_an_inquiry_from_reception_to_closing(login_as, db):
    client, clerk = login_as("clerk")
    person = make_resident(atena_no="000000012345")
    token = page_csrf(client, "/inquiries/new")

    found = client.post("/inquiries/person", data={"atena_no": "000000012345"},
                        headers={"X-CSRFToken": token, "HX-Request": "true"})
    html = found.get_data(as_text=True)
    assert "千葉 花子" in html and "チバ\u3000ハナコ" in html and "昭和35年5月10日 (1960-05-10)" in html
    assert f'name="resident_id" value="{person.id}"' in html

    created = client.post("/inquiries/new", data={
        "csrf_token": token, "received_date": "令和7年6月2日", "received_time": "9:30",
        "channel": "窓口", "requester_type": "本人", "requester_name": "千葉 花子",
        "requester_contact": "043-000-0000", "atena_no": "000000012345",
        "resident_id": str(person.id), "subject": "検診結果の写しがほしい"})
    assert created.status_code == 303
    inquiry = models.Inquiry.get()
    assert created.headers["Location"].endswith(f"/inquiries/{inquiry.id}")
    assert inquiry.resident_id == person.id and inquiry.created_by_id == clerk.staff.id
    # 9:30 in Japan is 0:30 UTC
    assert inquiry.received_at == datetime(2025, 6, 2, 0, 30)

    for text in ("写しの交付方法を説明した", "本人確認書類を持参のうえ来庁と回答"):
        fragment = client.post(f"/inquiries/{inquiry.id}/entries", data={"text": text},
                               headers={"X-CSRFToken": token, "HX-Request": "true"})
        assert fragment.status_code == 200
        body = fragment.get_data(as_text=True)
        assert body.lstrip().startswith("<section id=\"timeline\"") and "<html" not in body
        assert text in body
    closed = client.post(f"/inquiries/{inquiry.id}/close", data={"close-text": ""},
                         headers={"X-CSRFToken": token})
    assert closed.status_code == 303
    inquiry = models.Inquiry.get_by_id(inquiry.id)
    assert inquiry.status == "closed" and inquiry.closed_by_id == clerk.staff.id
    assert inquiry.closed_at is not None and inquiry.entries.count() == 2

    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "完了" in page and "対応を記録" not in page  # no more entries once closed

    actions = [e.action for e in models.AuditEvent.select().where(
        models.AuditEvent.object_type.in_(["inquiry", "resident"])).order_by(models.AuditEvent.seq)]
    assert actions[:5] == ["resident.lookup", "inquiry.create", "inquiry.entry", "inquiry.entry",
                           "inquiry.close"]
    assert actions[-1] == "inquiry.view"
    create_event = _events("inquiry.create")[0]
    assert create_event.resident_id == person.id and create_event.actor_id == clerk.staff.id


def test_typed_number_binds_only_the_person_shown_for_confirmation(login_as, db):
    client, _ = login_as("clerk")
    shown = make_resident(atena_no="111")
    make_resident(atena_no="222", name="千葉 次郎", kana="チバ ジロウ", sex=1)
    token = page_csrf(client, "/inquiries/new")
    data = {"csrf_token": token, "received_date": "2025-06-02", "received_time": "9:30",
            "channel": "電話", "requester_type": "代理人", "requester_name": "千葉 一郎",
            "subject": "父の受診歴", "atena_no": "222", "resident_id": str(shown.id)}
    response = client.post("/inquiries/new", data=data)
    assert response.status_code == 422
    assert "「確認」を押して" in response.get_data(as_text=True)
    del data["resident_id"]
    assert client.post("/inquiries/new", data=data).status_code == 422
    assert models.Inquiry.select().count() == 0
    data.update(atena_no="", resident_id="")
    assert client.post("/inquiries/new", data=data).status_code == 303
    assert models.Inquiry.get().resident_id is None


def test_person_lookup_is_audited_and_unknown_numbers_say_so(login_as, db):
    client, clerk = login_as("clerk")
    token = page_csrf(client, "/inquiries/new")
    response = client.post("/inquiries/person", data={"atena_no": "999"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert "見つかりません" in response.get_data(as_text=True)
    bad = client.post("/inquiries/person", data={"atena_no": "12-34"},
                      headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert "1〜15桁の数字" in bad.get_data(as_text=True)
    event = _events("resident.lookup")[0]
    assert event.outcome == "not_found" and event.details["criteria"] == {"atena_no": "999"}
    assert event.actor_id == clerk.staff.id


def test_person_lookup_reaches_only_people_in_the_programme(login_as, db):
    client, _ = login_as("clerk")
    young = make_resident(atena_no="777", birth=date(date.today().year - 10, 1, 1))
    token = page_csrf(client, "/inquiries/new")
    response = client.post("/inquiries/person", data={"atena_no": "777"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "見つかりません" in html and young.name not in html
    event = _events("resident.lookup")[0]
    assert event.outcome == "not_found" and event.resident_id is None


@pytest.mark.parametrize("field, overrides, message", [
    ("received_date", {"received_date": "令和7年2月30日"}, "存在しない日付"),
    ("received_time", {"received_time": "25:00"}, "時刻は"),
    ("channel", {"channel": "FAX"}, "受付方法"),
    ("requester_type", {"requester_type": ""}, "問合せ者の区分"),
    ("requester_name", {"requester_name": "  "}, "氏名"),
    ("subject", {"subject": ""}, "問合せ内容"),
])
def test_reception_checks_each_field(db, make_staff, field, overrides, message):
    clerk = make_staff("clerk")
    with pytest.raises(Invalid) as caught:
        _new(_actor(clerk), **overrides)
    assert message in " ".join(caught.value.errors[field])
    assert models.Inquiry.select().count() == 0


def test_reception_in_the_future_is_refused(db, make_staff):
    clerk = make_staff("clerk")
    tomorrow = (datetime.now(JST) + timedelta(days=1)).date()
    with pytest.raises(Invalid) as caught:
        _new(_actor(clerk), received_date=tomorrow.isoformat())
    assert "未来" in caught.value.errors["received_date"][0]


def test_entries_are_kept_in_time_order_and_not_before_reception(db, make_staff):
    clerk, other = make_staff("clerk"), make_staff("supervisor", name="係長 次郎")
    inquiry = _new(_actor(clerk))
    with pytest.raises(Invalid) as caught:
        inquiries.add_entry(inquiry.id, _actor(clerk), "前日に回答", "2025-06-01", "10:00")
    assert "受付日時より前" in caught.value.errors["at_date"][0]
    inquiries.add_entry(inquiry.id, _actor(other), "後から記録した回答")
    record = inquiries.add_entry(inquiry.id, _actor(clerk), "当日の折り返し電話", "2025-06-02", "11:00")
    assert [e.text for e in record.entries] == ["当日の折り返し電話", "後から記録した回答"]
    assert [e.staff.name for e in record.entries] == ["検診 太郎", "係長 次郎"]


def test_closing_needs_handling_and_ends_the_timeline(db, make_staff):
    clerk = make_staff("clerk")
    inquiry = _new(_actor(clerk))
    with pytest.raises(Invalid):
        inquiries.close(inquiry.id, _actor(clerk))
    inquiries.close(inquiry.id, _actor(clerk), "電話で回答し了承を得た")
    with pytest.raises(Refused):
        inquiries.add_entry(inquiry.id, _actor(clerk), "追記")
    with pytest.raises(Refused):
        inquiries.close(inquiry.id, _actor(clerk), "再度")
    record = inquiries.view(inquiry.id, _actor(clerk))
    assert record.closed_by.id == clerk.staff.id and record.entries[0].text == "電話で回答し了承を得た"


def test_list_filters_by_status_period_and_staff_and_pages_by_fifty(db, make_staff):
    first, second = make_staff("clerk", name="一 花子"), make_staff("clerk", name="二 次郎")
    for n in range(52):
        _new(_actor(first), received_date=f"2025-05-{1 + n % 28:02d}")
    handled = _new(_actor(second), received_date="2025-07-01")
    inquiries.add_entry(handled.id, _actor(second), "回答済み")
    inquiries.close(handled.id, _actor(second))
    helped = _new(_actor(first), received_date="2025-07-02")
    inquiries.add_entry(helped.id, _actor(second), "代わりに回答")
    actor = _actor(first)

    page1 = inquiries.search(actor, inquiries.parse_filters())
    assert page1.total == 54 and len(page1.rows) == 50 and page1.pages == 2
    page2 = inquiries.search(actor, inquiries.parse_filters(), page=2)
    assert len(page2.rows) == 4 and not page2.has_next
    assert page1.rows[0].id == helped.id  # newest reception first
    assert [r.id for r in inquiries.search(actor, inquiries.parse_filters(status="closed")).rows] \
        == [handled.id]
    july = inquiries.search(actor, inquiries.parse_filters(date_from="令和7年7月1日", date_to="R7.7.1"))
    assert [r.id for r in july.rows] == [handled.id]
    by_second = inquiries.search(actor, inquiries.parse_filters(staff=str(second.staff.id)))
    assert {r.id for r in by_second.rows} == {handled.id, helped.id}
    assert by_second.rows[0].entry_count == 1
    with pytest.raises(Invalid):
        inquiries.parse_filters(date_from="2025-08-01", date_to="2025-07-01")
    listed = _events("inquiry.list")
    assert len(listed) == 5 and listed[0].details["count"] == 54


def test_list_page_shows_inquiries_and_records_the_search(login_as, db):
    client, clerk = login_as("supervisor")
    _new(_actor(clerk), requester_name="問合 太郎")
    html = client.get("/inquiries/?status=open").get_data(as_text=True)
    assert "問合 太郎" in html and "対応中" in html and "1件" in html
    assert _events("inquiry.list")[-1].details["filters"]["status"] == "open"
    bad = client.get("/inquiries/?date_from=not-a-date")
    assert bad.status_code == 422 and "日付として読めません" in bad.get_data(as_text=True)


def test_print_view_is_an_a4_record_with_wareki_and_is_audited_as_printing(login_as, db, app):
    client, clerk = login_as("clerk")
    person = make_resident()
    inquiry = _new(_actor(clerk), atena_no=person.atena_no, resident_id=person.id)
    inquiries.add_entry(inquiry.id, _actor(clerk), "制度を説明した")
    response = client.get(f"/inquiries/{inquiry.id}/print")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("問合せ記録票", app.config["CITY_NAME"], app.config["OFFICE_NAME"],
                 "令和7年6月2日 (2025-06-02) 10:15", "電話", "千葉 花子", "043-000-0000",
                 "受診結果の通知はいつ届くか", "制度を説明した", "問合せの受付時及びその対応について記録を残す",
                 'href="/static/css/requests.css"', "data-print"):
        assert text in html, text
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"
    printed = _events("inquiry.print")
    assert len(printed) == 1 and printed[0].resident_id == person.id
    assert printed[0].object_id == str(inquiry.id) and printed[0].actor_id == clerk.staff.id


def test_every_read_of_an_inquiry_is_audited(login_as, db):
    client, clerk = login_as("clerk")
    inquiry = _new(_actor(clerk))
    client.get(f"/inquiries/{inquiry.id}")
    client.get(f"/inquiries/{inquiry.id}")
    assert len(_events("inquiry.view")) == 2
    assert client.get("/inquiries/987654").status_code == 404


def test_csv_export_needs_a_reason_and_is_audited_with_its_count(login_as, db):
    client, clerk = login_as("clerk")
    for _ in range(3):
        _new(_actor(clerk), requester_name="秘密 花子", requester_contact="090-1111-2222")
    token = page_csrf(client, "/inquiries/")
    refused = client.post("/inquiries/export", data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 303 and not _events("inquiry.export")

    response = client.post("/inquiries/export", data={
        "csrf_token": token, "reason": "月次の対応状況報告", "status": "open"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == inquiries.EXPORT_HEADER and len(rows) == 4
    assert rows[1][2] == "電話" and rows[1][5] == "対応中"
    text = raw.decode("utf-8-sig")
    assert "秘密 花子" not in text and "090-1111-2222" not in text  # only the needed columns
    event = _events("inquiry.export")[0]
    assert event.details["count"] == 3 and event.details["reason"] == "月次の対応状況報告"
    assert event.details["filters"]["status"] == "open" and event.actor_id == clerk.staff.id


def test_only_clerks_and_supervisors_reach_inquiries(login_as, db):
    client, _ = login_as("auditor")
    assert client.get("/inquiries/").status_code == 403
    assert _events("access.denied")


def test_default_reception_date_is_today_in_wareki(login_as, db):
    client, _ = login_as("clerk")
    html = client.get("/inquiries/new").get_data(as_text=True)
    assert format_wareki(datetime.now(JST).date()) in html
    assert 'for="received_date"' in html and 'for="atena_no"' in html


# --- finding inquiries by kana, name and date (issue 20) --------------------------------------

def test_list_finds_inquiries_by_the_persons_kana_and_name_with_the_registrys_folding(db, make_staff):
    clerk = make_staff("clerk")
    actor = _actor(clerk)
    takahashi = make_resident("000000000101", name="髙橋 一郎", kana="タカハシ イチロウ", sex=1)
    chiba = make_resident("000000000102", name="千葉 花子", kana="チバ ハナコ")
    about_takahashi = _new(actor, requester_name="髙橋 和子", atena_no=takahashi.atena_no,
                           resident_id=takahashi.id, received_date="2025-06-02")
    about_chiba = _new(actor, requester_name="千葉 花子", atena_no=chiba.atena_no,
                       resident_id=chiba.id, received_date="2025-06-03")
    unlinked = _new(actor, requester_name="山田　太郎", received_date="2025-06-03")

    def found(**filters):
        return [r.id for r in inquiries.search(actor, inquiries.parse_filters(**filters)).rows]

    assert found(kana="たかはし") == [about_takahashi.id]  # hiragana folds to the kana key
    assert found(kana="ﾀｶﾊｼ ｲﾁ") == [about_takahashi.id]   # half-width, a space
    assert found(name="高橋") == [about_takahashi.id]       # 髙/高 fold on the linked person
    assert found(name="山田太郎") == [unlinked.id]           # the requester's name, spaces ignored
    assert found(name="千葉", date_from="2025-06-03", date_to="2025-06-03") == [about_chiba.id]
    assert found(kana="チバ", date_from="2025-06-02", date_to="2025-06-02") == []
    with pytest.raises(Invalid) as refused:
        inquiries.parse_filters(kana="千葉")
    assert "kana" in refused.value.errors
    event = _events("inquiry.list")[-1]
    assert event.details["filters"]["kana"] == "チバ"  # the criteria are audited, like a search


def test_kana_and_name_travel_only_in_post_bodies_and_page_by_post(login_as, db):
    client, clerk = login_as("clerk")
    token = page_csrf(client, "/inquiries/")
    person = make_resident("000000000103", name="千葉 花子", kana="チバ ハナコ")
    for n in range(51):
        _new(_actor(clerk), atena_no=person.atena_no, resident_id=person.id,
             subject=f"問合せ{n}")
    page = client.get("/inquiries/").get_data(as_text=True)
    assert 'method="post" action="/inquiries/search"' in page
    # a kana in the query string is not read (GET filters carry no personal data)
    assert client.get("/inquiries/?kana=ヤマダ").get_data(as_text=True).count("千葉 花子") >= 50
    first = client.post("/inquiries/search", data={"kana": "ちば", "csrf_token": token})
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "51件" in html
    assert "?kana" not in html and "kana=" not in html  # paging links carry no kana
    assert 'name="page" value="2"' in html and 'name="kana" value="ちば"' in html
    second = client.post("/inquiries/search", data={"kana": "ちば", "page": "2", "csrf_token": token})
    assert "2 / 2 ページ" in second.get_data(as_text=True)
    fragment = client.post("/inquiries/search", data={"kana": "やまだ", "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="inquiry-list">')
    assert "条件に合う問合せはありません" in fragment.get_data(as_text=True)
    bad = client.post("/inquiries/search", data={"kana": "千葉", "csrf_token": token},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "カナ（ひらがな・カタカナ）で入力してください" in bad.get_data(as_text=True)
