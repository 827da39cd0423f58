"""The audit screens: viewer (filter first, paged, CSV, print), who accessed a person, daily
heads, long-logon review with notices and answers, and the unusual-access lists."""
import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest

import models
from kenshin import audit
from kenshin.core import dates
from kenshin.audit import unusual_access

from . import factories
from .conftest import page_csrf

SYSTEM = audit.Actor.system("pytest")


def make_resident(atena_no, name="千葉 花子", kana="チバ ハナコ"):
    return factories.make_resident(atena_no, name, kana, birth=date(1970, 5, 1),
                                   address="千葉市中央区1-1")


def record(action, who, **kw):
    with models.db.atomic():
        return audit.record(action, who if isinstance(who, audit.Actor)
                            else audit.Actor.of_staff(who, "10.0.0.5"), **kw)


def events(action):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


def today():
    return dates.today_jst().isoformat()


def search(client, token, **fields):
    data = {"csrf_token": token, "start": today(), "end": today()}
    data.update(fields)
    return client.post("/audit/", data=data)


# --- viewer -------------------------------------------------------------------------------------

def test_viewer_shows_the_filter_form_first_and_runs_no_query(app, db, login_as):
    client, _ = login_as("auditor")
    html = client.get("/audit/").get_data(as_text=True)
    assert "監査ログの閲覧" in html and 'name="start"' in html and 'name="end"' in html
    assert '<label for="f-start">' in html and '<label for="f-atena">' in html
    assert "audit-table" not in html
    assert events("audit.view") == []


@pytest.mark.parametrize("fields, message", [
    ({"start": "", "end": ""}, "開始日を入力してください"),
    ({"start": "2025-01-01", "end": "2026-06-30"}, "366日以内"),
    ({"start": "2026-02-01", "end": "2026-01-01"}, "開始日以降"),
    ({"atena_no": "12-34"}, "宛名番号は1〜15桁の数字です"),
])
def test_viewer_refuses_unbounded_or_invalid_filters(app, db, login_as, fields, message):
    client, _ = login_as("auditor")
    response = search(client, page_csrf(client, "/audit/"), **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert events("audit.view") == []


def test_viewer_lists_events_in_japanese_and_records_the_view(app, db, login_as, make_staff):
    client, auditor = login_as("auditor")
    clerk = make_staff("clerk", login_id="hanako", name="千葉 花子", division="健康支援課")
    person = make_resident("000123456789")
    record("resident.view", clerk.staff, resident=person)
    record("custom.thing", clerk.staff, outcome="failed", details={"why": "テスト"})
    html = search(client, page_csrf(client, "/audit/")).get_data(as_text=True)
    assert "対象者の閲覧" in html and "custom.thing" in html  # labelled, and unknown shown raw
    assert "千葉 花子" in html and "hanako" in html and "担当職員" in html and "10.0.0.5" in html
    assert "000123456789" in html and "失敗" in html and "理由: テスト" in html
    assert dates.format_wareki(dates.today_jst()) in html
    viewed = events("audit.view")[-1]
    assert viewed.actor_id == auditor.staff.id
    assert viewed.details["from"] == today() and viewed.details["count"] >= 2


def test_viewer_filters_by_person_without_putting_the_number_in_urls_or_details(
        app, db, login_as, make_staff):
    client, _ = login_as("admin")
    clerk = make_staff("clerk")
    one, other = make_resident("111"), make_resident("222", name="市川 次郎")
    record("resident.view", clerk.staff, resident=one)
    record("resident.view", clerk.staff, resident=other)
    html = search(client, page_csrf(client, "/audit/"), atena_no="111",
                  action="resident.view").get_data(as_text=True)
    assert "千葉 花子" in html and "市川 次郎" not in html
    assert not re.search(r'(href|action|hx-post)="[^"]*111', html)
    viewed = events("audit.view")[-1]
    assert viewed.resident_id == one.id
    assert "111" not in str(viewed.details) and viewed.details["person"] is True


def test_viewer_names_objects_in_japanese_and_links_only_pages_the_viewer_may_open(app, db, login_as,
                                                                                  make_staff):
    clerk = make_staff("clerk", login_id="yamada", name="山田 太郎")
    person = make_resident("20360", name="野村 明美")
    screening = factories.make_screening(person)
    record("screening.verify", clerk.staff, resident=person, object_type="screening",
           object_id=screening.id, details={"exam": "colorectal", "agreed": False,
                                            "differences": ["fobt_result"]})
    record("staff.unlock", clerk.staff, object_type="staff", object_id=clerk.staff.id,
           details={"login_id": "yamada", "was_locked": True})
    for role, staff_link in (("auditor", False), ("admin", True)):
        client, _ = login_as(role)
        html = search(client, page_csrf(client, "/audit/")).get_data(as_text=True)
        rows = html.split("<tbody>")[1]
        assert f"検診記録 No.{screening.id}（野村 明美）" in rows
        assert f'href="/screenings/{screening.id}"' not in rows  # neither role opens health records
        assert ("職員 山田 太郎（yamada）</a>" in rows) == staff_link
        assert (f'href="/admin/staff/{clerk.staff.id}"' in rows) == staff_link
        assert "一致: いいえ、相違した項目: 便潜血検査の判定区分" in rows
        assert "ロック中だった: はい" in rows
        for raw in ("False", "True", "fobt_result", "{", "[", "screening.verify"):
            assert raw not in rows, raw
        client.post("/logout", data={"csrf_token": page_csrf(client, "/audit/")})


def test_viewer_unknown_person_or_staff_finds_nothing(app, db, login_as):
    client, _ = login_as("auditor")
    token = page_csrf(client, "/audit/")
    assert "登録されていません" in search(client, token, atena_no="999").get_data(as_text=True)
    assert "条件に合う記録はありません" in search(client, token, login_id="nobody").get_data(as_text=True)


def test_viewer_filters_by_staff_action_and_outcome(app, db, login_as, make_staff):
    client, _ = login_as("auditor")
    a, b = make_staff("clerk", login_id="staff_a"), make_staff("clerk", login_id="staff_b")
    record("resident.search", a.staff, details={"criteria": "kana"})
    record("resident.search", b.staff, outcome="denied")
    token = page_csrf(client, "/audit/")
    html = search(client, token, login_id="staff_a", action="resident.search").get_data(as_text=True)
    assert html.count("staff_a") >= 1 and "staff_b" not in html.split("audit-table")[1]
    html = search(client, token, outcome="denied").get_data(as_text=True)
    rows = html.split("<tbody>")[1]
    assert "staff_b" in rows and "staff_a" not in rows


def test_viewer_pages_fifty_at_a_time_and_holds_still_while_events_arrive(app, db, login_as):
    client, _ = login_as("auditor")
    for i in range(120):
        record("test.event", SYSTEM, object_type="test", object_id=i)
    token = page_csrf(client, "/audit/")
    first = search(client, token, action="test.event").get_data(as_text=True)
    assert first.count('class="outcome-ok"') == 50 and "次の50件" in first
    until = re.search(r'name="until_seq" value="(\d+)"', first).group(1)
    for i in range(5):  # newer events must not shift the pages of this search
        record("test.event", SYSTEM, object_type="test", object_id=1000 + i)
    third = search(client, token, action="test.event", page="3", until_seq=until)
    html = third.get_data(as_text=True)
    assert html.count('class="outcome-ok"') == 20 and "次の50件" not in html and "前の50件" in html
    assert "対象 No.0<" in html and "対象 No.1000" not in html
    htmx = client.post("/audit/", data={"csrf_token": token, "start": today(), "end": today(),
                                        "action": "test.event", "page": "2", "until_seq": until},
                       headers={"HX-Request": "true"})
    assert htmx.get_data(as_text=True).lstrip().startswith('<section id="results"')


def test_csv_export_has_bom_japanese_header_and_is_audited_with_count(app, db, login_as, make_staff):
    client, _ = login_as("auditor")
    clerk = make_staff("clerk", name="千葉 花子")
    person = make_resident("555")
    for _ in range(3):
        record("resident.view", clerk.staff, resident=person)
    response = client.post("/audit/export", data={
        "csrf_token": page_csrf(client, "/audit/"), "start": today(), "end": today(),
        "action": "resident.view", "atena_no": "555"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["通番", "日時（日本時間）", "ログインID", "職員氏名"]
    assert len(rows) == 4 and rows[1][7] == "対象者の閲覧" and rows[1][9] == "555"
    exported = events("audit.export")[-1]
    assert exported.details["count"] == 3 and exported.details["action"] == "resident.view"
    assert exported.resident_id == person.id


def test_print_view_is_a4_and_audited_with_count(app, db, login_as):
    client, _ = login_as("admin")
    record("test.event", SYSTEM)
    response = client.post("/audit/print", data={
        "csrf_token": page_csrf(client, "/audit/"), "start": today(), "end": today(),
        "action": "test.event"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "print.css" in html and "data-print" in html
    printed = events("audit.print")[-1]
    assert printed.details["report"] == "log" and printed.details["count"] == 1


def test_clerk_cannot_read_the_log(app, db, login_as):
    client, _ = login_as("clerk")
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/person").status_code == 403
    assert events("access.denied")


# --- who accessed this person -------------------------------------------------------------------

def test_person_report_lists_every_event_touching_the_person(app, db, login_as, make_staff):
    client, auditor = login_as("auditor")
    a = make_staff("clerk", login_id="a_clerk", name="佐藤 一郎", division="中央保健福祉センター")
    b = make_staff("supervisor", login_id="b_super", name="鈴木 二郎", division="健康支援課")
    person, other = make_resident("700001"), make_resident("700002", name="他人 三郎")
    record("resident.search", a.staff, details={"criteria": "kana"})
    record("resident.view", a.staff, resident=person)
    record("screening.create", a.staff, resident=person, object_type="screening", object_id=9)
    record("screening.correct", b.staff, resident=person, object_type="screening", object_id=9)
    record("print", b.staff, resident=person, details={"report": "結果通知"})
    record("resident.view", b.staff, resident=other)
    response = client.post("/audit/person", data={
        "csrf_token": page_csrf(client, "/audit/person"), "atena_no": "700001",
        "start": today(), "end": today()})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "アクセス記録（本人開示用）" in html and "千葉 花子" in html and "700001" in html
    table = html.split("<tbody>")[1]
    # in words the person understands: who (division, name) and what was done with their data
    for text in ("中央保健福祉センターの職員（佐藤 一郎）", "健康支援課の職員（鈴木 二郎）",
                 "あなたの住民記録（氏名・住所など）を画面で見ました", "あなたの検診結果を登録しました",
                 "あなたの検診記録を訂正しました", "あなたの記録を印刷しました"):
        assert text in table, text
    assert "他人" not in html and "検索の結果" not in table
    for internal in ("a_clerk", "resident.view", "screening", "担当職員", "127.0.0.1"):
        assert internal not in table, internal  # no login ids, codes, roles or terminals
    assert table.index("画面で見ました") < table.index("訂正しました")  # oldest first
    report = events("audit.person_report")[-1]
    assert report.resident_id == person.id and report.details["count"] == 4
    assert report.actor_id == auditor.staff.id


def test_person_report_for_an_unknown_number_says_so(app, db, login_as):
    client, _ = login_as("admin")
    response = client.post("/audit/person", data={
        "csrf_token": page_csrf(client, "/audit/person"), "atena_no": "424242",
        "start": today(), "end": today()})
    assert response.status_code == 422
    assert "登録されていません" in response.get_data(as_text=True)
    assert events("audit.person_report") == []


# --- daily heads --------------------------------------------------------------------------------

def test_daily_heads_show_export_and_are_audited(app, db, login_as):
    client, _ = login_as("auditor")
    record("test.event", SYSTEM)
    newest = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).get()
    html = client.get(f"/audit/heads?start={today()}&end={today()}").get_data(as_text=True)
    assert newest.hash in html
    assert events("audit.heads")[-1].details["count"] == 1
    response = client.post("/audit/heads/export", data={
        "csrf_token": page_csrf(client, "/audit/heads"), "start": today(), "end": today()})
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "日付" and rows[1][0] == today()
    assert events("audit.export")[-1].details["report"] == "heads"
    printed = client.post("/audit/heads/print", data={
        "csrf_token": page_csrf(client, "/audit/heads"), "start": today(), "end": today()})
    assert printed.status_code == 200 and "日次ハッシュ" in printed.get_data(as_text=True)
    assert events("audit.print")[-1].details["report"] == "heads"


# --- long-logon review --------------------------------------------------------------------------

def session_row(person, start, *, last_seen, ended=None, reason=None, sid=None):
    return models.UserSession.create(
        id=sid or f"{person.staff.id:04d}{start.timestamp():.0f}".ljust(64, "0")[:64],
        staff=person.staff, created_at=start, last_seen_at=last_seen, ended_at=ended,
        end_reason=reason, terminal="10.0.0.7")


@pytest.fixture
def long_logons(db, make_staff):
    """Three logons in the last day: one long (X課), one short (X課), one long chain of unlocks
    (Y課), and one that went idle early but was never ended (not long)."""
    now = dates.now_utc()
    long_one = make_staff("clerk", login_id="longer", name="長井 一郎", division="健康支援課")
    short = make_staff("clerk", login_id="shorter", name="短田 二郎", division="健康支援課")
    chain = make_staff("clerk", login_id="chained", name="連 三郎", division="中央保健福祉センター")
    idle = make_staff("clerk", login_id="idler", name="放置 四郎", division="健康支援課")
    start = now - timedelta(hours=11)
    session_row(long_one, start, last_seen=start + timedelta(hours=9, minutes=30),
                ended=start + timedelta(hours=9, minutes=31), reason="logout")
    session_row(short, start, last_seen=start + timedelta(hours=2),
                ended=start + timedelta(hours=2), reason="logout")
    session_row(chain, start, last_seen=start + timedelta(hours=3), ended=start + timedelta(hours=3),
                reason="replaced", sid="c" * 64)
    session_row(chain, start, last_seen=start + timedelta(hours=10), sid="d" * 64)
    # Last seen 1 h after start and never ended: the 30-min logoff bounds it, however old it is.
    session_row(idle, start, last_seen=start + timedelta(hours=1))
    return {"long": long_one, "short": short, "chain": chain, "idle": idle}


def test_long_logons_are_grouped_by_division(app, db, login_as, long_logons):
    client, _ = login_as("admin")
    start, end = _period()
    response = client.get(f"/long-logons/?start={start}&end={end}&hours=8")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "健康支援課（1件）" in html and "中央保健福祉センター（1件）" in html
    assert "長井 一郎" in html and "連 三郎" in html
    assert "短田" not in html and "放置" not in html
    assert "9時間31分" in html
    assert events("logon_review.view")[-1].details["count"] == 2


def _period():
    return ((dates.today_jst() - timedelta(days=1)).isoformat(), today())


def test_notice_per_division_is_recorded_printable_and_answered(app, db, login_as, long_logons):
    client, admin = login_as("admin")
    start, end = _period()
    token = page_csrf(client, "/long-logons/")
    reply_by = (dates.today_jst() + timedelta(days=10)).isoformat()
    response = client.post("/long-logons/notices", data={
        "csrf_token": token, "division": "健康支援課", "start": start, "end": end, "hours": "8",
        "reply_by": reply_by})
    assert response.status_code == 303
    notices = list(models.LongLogonNotice.select())
    assert len(notices) == 1 and notices[0].division == "健康支援課"
    assert notices[0].session.staff_id == long_logons["long"].staff.id
    assert notices[0].reply_by.isoformat() == reply_by
    made = events("logon_review.notice")[-1]
    assert made.details["sessions"] == 1 and made.details["staff"] == ["longer"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "健康支援課長　様" in html and "長井 一郎" in html and "利用の目的" in html
    assert dates.format_wareki(date.fromisoformat(reply_by)) in html
    assert events("audit.print")[-1].details["report"] == "long_logon_notice"
    # Notified sessions are not notified twice.
    again = client.post("/long-logons/notices", data={
        "csrf_token": token, "division": "健康支援課", "start": start, "end": end, "hours": "8"})
    assert models.LongLogonNotice.select().count() == 1
    assert "まだ通知していない" in client.get(again.headers["Location"]).get_data(as_text=True)
    # The answer: required, then recorded with who closed it and when.
    open_page = client.get("/long-logons/open").get_data(as_text=True)
    assert "長井 一郎" in open_page and "回答待ち（1件）" in open_page
    empty = client.post(f"/long-logons/notices/{notices[0].id}/answer",
                        data={"csrf_token": token, "answer": "  "})
    assert empty.status_code == 422 and "利用目的を入力してください" in empty.get_data(as_text=True)
    done = client.post(f"/long-logons/notices/{notices[0].id}/answer",
                       data={"csrf_token": token, "answer": "検診結果の一括入力（年度末処理）"})
    assert done.status_code == 303
    closed = models.LongLogonNotice.get_by_id(notices[0].id)
    assert closed.answer == "検診結果の一括入力（年度末処理）"
    assert closed.closed_by_id == admin.staff.id and closed.closed_at is not None
    assert events("logon_review.answer")[-1].object_id == str(notices[0].id)
    after = client.get("/long-logons/open").get_data(as_text=True)
    assert "回答待ち（0件）" in after and "検診結果の一括入力（年度末処理）" in after
    twice = client.post(f"/long-logons/notices/{notices[0].id}/answer",
                        data={"csrf_token": token, "answer": "上書き"})
    assert "既に回答が記録され" in client.get(twice.headers["Location"]).get_data(as_text=True)


def test_long_logon_threshold_is_configurable(app, db, login_as, long_logons):
    client, _ = login_as("admin")
    start, end = _period()
    html = client.get(f"/long-logons/?start={start}&end={end}&hours=1.5").get_data(as_text=True)
    assert "短田 二郎" in html
    bad = client.get(f"/long-logons/?start={start}&end={end}&hours=abc")
    assert bad.status_code == 422


def test_auditor_cannot_send_notices(app, db, login_as):
    client, _ = login_as("auditor")
    assert client.get("/long-logons/").status_code == 403


# --- unusual access -----------------------------------------------------------------------------

def test_office_hours_rule():
    rules = unusual_access.Rules()
    jst = dates.JST
    assert not unusual_access.outside_office_hours(datetime(2026, 11, 25, 9, 0, tzinfo=jst), rules)
    assert unusual_access.outside_office_hours(datetime(2026, 11, 25, 8, 29, tzinfo=jst), rules)
    assert unusual_access.outside_office_hours(datetime(2026, 11, 25, 17, 30, tzinfo=jst), rules)
    assert unusual_access.outside_office_hours(datetime(2026, 11, 28, 10, 0, tzinfo=jst), rules)  # 土
    assert unusual_access.outside_office_hours(datetime(2026, 11, 23, 10, 0, tzinfo=jst), rules)  # 勤労感謝の日
    assert unusual_access.outside_office_hours(datetime(2026, 12, 29, 10, 0, tzinfo=jst), rules)  # 年末
    extra = unusual_access.Rules(closed_days=frozenset({date(2026, 11, 25)}))
    assert unusual_access.outside_office_hours(datetime(2026, 11, 25, 9, 0, tzinfo=jst), extra)


def test_family_names_match_across_variant_kanji():
    assert unusual_access.shares_family_name("髙橋 一郎", "高橋 花子")
    assert unusual_access.shares_family_name("山﨑　太郎", "山崎 次郎")
    assert unusual_access.shares_family_name("高橋 一郎", "髙橋花子")
    assert not unusual_access.shares_family_name("高橋 一郎", "高田 花子")
    assert not unusual_access.shares_family_name("高橋", "高橋 花子")  # no family part known


def _outside_now():
    """Office hours that exclude the present moment, whatever the day and time."""
    now = dates.to_jst(dates.now_utc())
    return ("00:00", "01:00") if now.hour >= 12 else ("22:00", "23:00")


def test_unusual_access_lists_after_hours_heavy_and_same_surname(app, db, login_as, make_staff):
    client, _ = login_as("auditor")
    heavy = make_staff("clerk", login_id="heavy", name="大量 一郎")
    peer1 = make_staff("clerk", login_id="peer1", name="普通 二郎")
    peer2 = make_staff("clerk", login_id="peer2", name="普通 三郎")
    kin = make_staff("clerk", login_id="kin", name="髙橋 一郎")
    people = [make_resident(f"8000{i:03d}", name=f"住民 {i:03d}") for i in range(40)]
    relative = make_resident("8100001", name="高橋 花子")
    stranger = make_resident("8100002", name="高田 花子")
    for person in people:
        record("resident.view", heavy.staff, resident=person)
    for person in people[:5]:
        record("resident.view", peer1.staff, resident=person)
    for person in people[5:11]:
        record("resident.view", peer2.staff, resident=person)
    record("resident.view", kin.staff, resident=relative)
    record("resident.view", kin.staff, resident=relative)
    record("resident.view", kin.staff, resident=stranger)
    record("resident.search", kin.staff, details={"criteria": "name"})
    start, end = _outside_now()
    response = client.get(f"/unusual-access/?start={today()}&end={today()}"
                          f"&office_start={start}&office_end={end}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    total = 40 + 5 + 6 + 3
    assert f"時間外・閉庁日の閲覧（<span class=\"finding-count\">{total}件" in html
    heavy_section = html.split('id="heavy"')[1].split('id="same-name"')[0]
    assert "大量 一郎" in heavy_section and "40人" in heavy_section and "5人（3人中）" in heavy_section
    assert "普通" not in heavy_section
    same = html.split('id="same-name"')[1]
    assert "髙橋 一郎" in same and "高橋 花子" in same and "2回" in same and "高田" not in same
    review = events("audit.unusual_review")[-1]
    assert review.details["heavy"] == 1 and review.details["same_name"] == 1
    assert review.details["after_hours"] == total


def test_unusual_access_needs_a_bounded_period(app, db, login_as):
    client, _ = login_as("admin")
    response = client.get("/unusual-access/?start=2026-01-01&end=2026-06-30")
    assert response.status_code == 422 and "92日以内" in response.get_data(as_text=True)
    assert events("audit.unusual_review") == []
