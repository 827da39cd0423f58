"""Finding people (clerk, supervisor): criteria, the programme rule, the cap, audit; the person page."""
import re
from datetime import date, timedelta

import pytest

import models
from kenshin.core import dates
from kenshin.registry import residents
from kenshin.core.dates import now_utc
from kenshin.core.errors import NotFound

from . import factories
from .conftest import page_csrf
from .factories import ADULT, TODAY, make_screening


def make_resident(atena_no, name="山田　太郎", kana="ヤマダ　タロウ", sex=1, birth=ADULT, **extra):
    """The factory's resident, by default this file's usual person: 山田 太郎, born 1982-04-01."""
    extra.setdefault("postal_code", "260-0001")
    extra.setdefault("address", "千葉県千葉市中央区中央1丁目1番1号")
    return factories.make_resident(atena_no, name, kana, sex, birth, **extra)


def search(client, **criteria):
    data = {"csrf_token": page_csrf(client, "/residents/"), **criteria}
    return client.post("/residents/search", data=data)


def found_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'href="/residents/(\d+)"', response.get_data(as_text=True))]


def search_events():
    return list(models.AuditEvent.select().where(models.AuditEvent.action == "resident.search")
                .order_by(models.AuditEvent.seq))


@pytest.fixture
def clerk(login_as):
    client, _ = login_as("clerk")
    return client


# --- the programme rule, pure -------------------------------------------------------------------

def test_programme_cutoff_is_the_legal_age_of_20():
    day = date(2023, 1, 1)
    while day < date(2029, 3, 5):
        cutoff = residents.programme_birth_cutoff(day)
        assert dates.age_at(cutoff, day) >= 20, day
        assert dates.age_at(cutoff + timedelta(days=1), day) < 20, day
        day += timedelta(days=1)


def test_born_on_29_february_turns_20_with_the_end_of_28_february():
    assert residents.programme_birth_cutoff(date(2025, 2, 27)) == date(2005, 2, 28)
    assert residents.programme_birth_cutoff(date(2028, 2, 28)) == date(2008, 2, 29)


# --- criteria -----------------------------------------------------------------------------------

def test_kana_prefix_and_birth_date_find_the_person(app, db, clerk):
    taro = make_resident("1", kana="ヤマダ　タロウ")
    make_resident("2", kana="ヤマモト　タロウ")
    make_resident("3", kana="ヤマダ　タロウ", birth=date(1975, 1, 1))
    for typed in ("やまだ", "ﾔﾏﾀﾞ", "ヤマダ　タ", "ﾔﾏﾀﾞ ﾀﾛｳ", "やまだたろう"):
        assert found_ids(search(clerk, kana=typed, birth_date="1982-04-01")) == [taro.id], typed


@pytest.mark.parametrize("typed", ["S57.4.1", "昭和57年4月1日", "1982-04-01", "s57.04.01", "１９８２／４／１"])
def test_birth_date_in_each_typed_form(app, db, clerk, typed):
    taro = make_resident("1")
    assert found_ids(search(clerk, kana="ヤマ", birth_date=typed)) == [taro.id]


def test_kana_key_folds_small_kana_and_long_vowels(app, db, clerk):
    person = make_resident("1", kana="キャノン　ユーコ", sex=2)
    assert found_ids(search(clerk, kana="きやのんゆうこ", sex="2")) == []  # ー is dropped, not ウ
    assert found_ids(search(clerk, kana="きやのんゆこ", sex="2")) == [person.id]


@pytest.mark.parametrize("stored, typed", [("髙橋　花子", "高橋"), ("渡辺　一郎", "渡邊"), ("渡邉　一郎", "渡辺 一"),
                                           ("山﨑　聡", "山崎"), ("齋藤　恵", "斎藤"), ("佐々木　学", "佐佐木"),
                                           ("𠮷田　茂", "吉田"), ("𩸽野　一", "𩸽野")])
def test_kanji_variants_match_each_other(app, db, clerk, stored, typed):
    person = make_resident("1", name=stored)
    assert found_ids(search(clerk, name=typed, birth_date="S57.4.1")) == [person.id]


@pytest.mark.parametrize("stored, typed", [("髙橋　花子", "高橋"), ("𩸽野　一", "𩸽")])
def test_name_prefix_without_a_birth_date_uses_the_range_too(app, db, clerk, stored, typed):
    person = make_resident("1", name=stored)
    make_resident("2", name="高田　一郎")
    assert found_ids(search(clerk, name=typed, sex="1")) == [person.id]


def test_sex_and_birth_date(app, db, clerk):
    man = make_resident("1", sex=1)
    make_resident("2", sex=2, name="山田　花子", kana="ヤマダ　ハナコ")
    assert found_ids(search(clerk, sex="1", birth_date="1982-04-01")) == [man.id]


def test_name_and_sex(app, db, clerk):
    man = make_resident("1", sex=1)
    make_resident("2", sex=2)
    assert found_ids(search(clerk, name="山田", sex="1")) == [man.id]


def test_atena_no_alone_is_enough(app, db, clerk):
    person = make_resident("0000012345")
    make_resident("12345")
    assert found_ids(search(clerk, atena_no="0000012345")) == [person.id]
    assert found_ids(search(clerk, atena_no="０００００１２３４５")) == [person.id]
    assert found_ids(search(clerk, atena_no="00000123")) == []  # a full identifier, not a prefix


def test_seiri_no_alone_is_enough(app, db, clerk):
    person = make_resident("1")
    models.SeiriNumber.create(number="1000001238", resident=person, fiscal_year=2025, issued_at=now_utc())
    assert found_ids(search(clerk, seiri_no="1000001238")) == [person.id]
    assert found_ids(search(clerk, seiri_no="1000001246")) == []


@pytest.mark.parametrize("criteria", [{"kana": "ヤマダ"}, {"name": "山田"}, {"birth_date": "S57.4.1"},
                                      {"sex": "1"}, {}])
def test_one_criterion_is_not_enough_and_nothing_is_searched(app, db, clerk, criteria):
    make_resident("1")
    response = search(clerk, **criteria)
    assert response.status_code == 200
    assert "2つ以上" in response.get_data(as_text=True)
    assert found_ids(response) == []
    assert search_events() == []


def test_unreadable_criteria_are_named_and_not_searched(app, db, clerk):
    response = search(clerk, kana="山田", birth_date="S57.13.1")
    html = response.get_data(as_text=True)
    assert "カナ:" in html and "生年月日:" in html
    assert search_events() == []


def test_results_are_capped_at_50_with_a_narrow_down_message(app, db, clerk):
    for n in range(51):
        make_resident(str(n + 1), kana=f"ヤマダ　{'タロウジロウサブロウ'[n % 10]}", name=f"山田　{n}")
    response = search(clerk, kana="ヤマダ", birth_date="1982-04-01")
    assert len(found_ids(response)) == 50
    assert "条件を絞り込んでください" in response.get_data(as_text=True)
    assert search_events()[-1].details["more"] is True
    models.Resident.delete().where(models.Resident.atena_no == "51").execute()
    exactly = search(clerk, kana="ヤマダ", birth_date="1982-04-01")
    assert len(found_ids(exactly)) == 50
    assert "条件を絞り込んでください" not in exactly.get_data(as_text=True)


# --- the programme: people under 20 without a screening are never reached ----------------------

def test_under_20_without_screening_is_never_returned(app, db, clerk):
    cutoff = residents.programme_birth_cutoff(TODAY)
    twenty = make_resident("1", birth=cutoff, kana="ワカモノ　イチ")
    nineteen = make_resident("2", birth=cutoff + timedelta(days=1), kana="ワカモノ　ニ")
    for criteria in ({"kana": "ワカモノ", "sex": "1"}, {"atena_no": "2"}, {"name": "山田", "sex": "1"},
                     {"kana": "ワカモノ", "birth_date": (cutoff + timedelta(days=1)).isoformat()}):
        assert nineteen.id not in found_ids(search(clerk, **criteria)), criteria
    assert found_ids(search(clerk, kana="ワカモノ", sex="1")) == [twenty.id]
    make_screening(nineteen, exam="colorectal")  # any valid record brings them in
    assert sorted(found_ids(search(clerk, kana="ワカモノ", sex="1"))) == sorted([twenty.id, nineteen.id])


def test_a_void_screening_does_not_bring_someone_under_20_into_the_programme(app, db, clerk):
    young = make_resident("2", birth=TODAY - timedelta(days=365 * 10))
    make_screening(young, status="void")
    assert found_ids(search(clerk, atena_no="2")) == []


def test_person_outside_the_programme_is_not_viewable(app, db, clerk):
    young = make_resident("2", birth=TODAY - timedelta(days=365 * 15))
    assert clerk.get(f"/residents/{young.id}").status_code == 404
    assert clerk.post(f"/residents/{young.id}/print", data={"csrf_token": page_csrf(clerk)}).status_code == 404
    event = models.AuditEvent.select().where(models.AuditEvent.action == "resident.view").get()
    assert event.outcome == "not_found" and event.resident_id is None


def test_the_programme_rule_in_peewee_and_in_the_search_sql_selects_the_same_people(app, db):
    cutoff = residents.programme_birth_cutoff(TODAY)
    people = [make_resident("1", birth=cutoff), make_resident("2", birth=cutoff + timedelta(days=1)),
              make_resident("3", birth=cutoff + timedelta(days=1)),
              make_resident("4", birth=cutoff + timedelta(days=1))]
    make_screening(people[2], exam="colorectal")  # any valid record brings them in
    make_screening(people[3], status="void")
    by_peewee = {r.id for r in models.Resident.select().where(residents.programme_condition(TODAY))}
    sql = ("SELECT r.id FROM resident r WHERE "
           + residents.PROGRAMME_SQL.format(p=models.db.param))
    by_sql = {row[0] for row in models.db.execute_sql(sql, [cutoff.isoformat()]).fetchall()}
    assert by_peewee == by_sql == {people[0].id, people[2].id}
    assert residents.get_in_programme(people[2].id, TODAY).id == people[2].id
    for outside in (people[1].id, people[3].id, 999_999, "x"):
        with pytest.raises(NotFound):
            residents.get_in_programme(outside, TODAY)


# --- 消除, privacy, audit -----------------------------------------------------------------------

def test_removed_people_appear_marked_with_the_date(app, db, clerk):
    make_resident("1", removed_on=date(2025, 4, 1), removal_reason="転出")
    html = search(clerk, kana="ヤマダ", sex="1").get_data(as_text=True)
    assert "消除 令和7年4月1日 (2025-04-01)" in html and "転出" in html


def test_people_whose_use_is_suspended_are_marked_in_results_and_on_their_page(app, db, clerk):
    person = make_resident("1", use_suspended=True)
    make_resident("2", name="山田　次郎", kana="ヤマダ　ジロウ")
    html = search(clerk, kana="ヤマダ", sex="1").get_data(as_text=True)
    assert html.count("利用停止中") == 1
    assert "利用停止中" in clerk.get(f"/residents/{person.id}").get_data(as_text=True)


def test_criteria_travel_in_the_post_body_only(app, db, clerk):
    person = make_resident("0000012345")
    page = clerk.get("/residents/").get_data(as_text=True)
    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", page)[0]
    assert 'method="post"' in form and 'hx-post="/residents/search"' in form
    assert 'action="/residents/search"' in form
    assert 'hx-trigger="input changed delay:300ms, submit"' in form
    response = search(clerk, atena_no="0000012345")
    assert response.request.query_string == b""
    assert all("0000012345" not in link for link in re.findall(r'href="([^"]+)"', response.get_data(as_text=True)))
    assert clerk.get("/residents/search?atena_no=0000012345").status_code == 405
    assert f"/residents/{person.id}" in response.get_data(as_text=True)


def test_htmx_search_answers_with_the_results_fragment(app, db, clerk):
    make_resident("1")
    token = page_csrf(clerk, "/residents/")
    response = clerk.post("/residents/search", data={"kana": "ヤマダ", "sex": "1"},
                          headers={"HX-Request": "true", "X-CSRFToken": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "山田　太郎" in html


def test_each_search_is_audited_with_its_criteria_not_its_results(app, db, clerk):
    make_resident("1", name="髙橋　花子", kana="タカハシ　ハナコ", sex=2, address="千葉市美浜区")
    search(clerk, kana="たかはし", birth_date="S57.4.1")
    [event] = search_events()
    criteria = event.details["criteria"]
    assert criteria["kana"] == "タカハシ" and criteria["kana_typed"] == "たかはし"
    assert criteria["birth_date"] == "1982-04-01"
    assert event.details["hits"] == 1 and event.resident_id is None
    assert "花子" not in str(event.details) and "美浜" not in str(event.details)


def test_supervisor_can_search(app, db, login_as):
    client, _ = login_as("supervisor")
    person = make_resident("1")
    assert found_ids(search(client, kana="ヤマダ", sex="1")) == [person.id]


# --- the person page ----------------------------------------------------------------------------

def test_person_page_shows_the_items_screenings_and_history_and_is_audited(app, db, clerk):
    person = make_resident("0000054321", removed_on=date(2025, 4, 1), removal_reason="死亡",
                           resident_since=date(1990, 5, 1))
    make_screening(person, exam_date=date(2024, 6, 3), referral=True)
    make_screening(person, exam_date=date(2025, 3, 3), status="pending")
    batch = models.ImportBatch.create(kind="residents", file_name="r2025.csv", sha256="0" * 64,
                                      actor="os:x", at=now_utc(), counts={})
    models.ResidentChange.create(resident=person, item="address", before="千葉市花見川区",
                                 after="千葉県千葉市中央区中央1丁目1番1号", batch=batch, at=now_utc())
    response = clerk.get(f"/residents/{person.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("山田　太郎", "ヤマダ　タロウ", "男", "昭和57年4月1日 (1982-04-01)", "〒260-0001",
                 f"{dates.age_at(ADULT, TODAY)}歳", "平成2年5月1日 (1990-05-01)",
                 "令和7年4月1日 (2025-04-01)", "死亡",
                 "令和6年度", "大腸がん", "要精検", "未確定", "便潜血検査", "陽性",
                 "住所", "千葉市花見川区", "取込: r2025.csv"):
        assert text in html, text
    assert "0000054321" not in response.request.path
    event = models.AuditEvent.select().where(models.AuditEvent.action == "resident.view").get()
    assert event.resident_id == person.id and event.outcome == "ok"
    assert 'hx-history="false"' in html


def test_print_view_is_audited_as_a_print(app, db, clerk):
    person = make_resident("1")
    response = clerk.post(f"/residents/{person.id}/print", data={"csrf_token": page_csrf(clerk)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "山田　太郎" in html and "印刷する" in html
    event = models.AuditEvent.select().where(models.AuditEvent.action == "print").get()
    assert event.resident_id == person.id and event.details["document"] == "resident_record"
    assert clerk.get(f"/residents/{person.id}/print").status_code == 405


# --- the search is kept when coming back (issue 20) -------------------------------------------

def test_coming_back_from_a_person_page_shows_the_last_search_again(app, db, clerk):
    people = [make_resident(f"{n:06d}", kana="ヤマダ　タロウ") for n in range(1, 4)]
    search(clerk, kana="やまだ", birth_date="S57.4.1")
    clerk.get(f"/residents/{people[0].id}")
    back = clerk.get("/residents/")
    html = back.get_data(as_text=True)
    assert set(found_ids(back)) == {p.id for p in people}
    assert 'value="やまだ"' in html and 'value="S57.4.1"' in html and "前回の検索条件" in html
    assert back.request.query_string == b""
    again = search_events()[-1]
    assert again.details.get("shown_again") is True and again.details["hits"] == 3
    # kept on the server: nothing of it in the cookie
    cookie = clerk.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None and "やまだ" not in cookie.value and "S57" not in cookie.value
    assert models.LastSearch.get().criteria == {"kana": "やまだ", "birth_date": "S57.4.1"}


def test_clearing_forgets_the_search_and_another_session_never_sees_it(app, db, clerk, login_as):
    make_resident("1")
    search(clerk, kana="やまだ", sex="1")
    token = page_csrf(clerk, "/residents/")
    assert clerk.post("/residents/clear", data={"csrf_token": token}).status_code == 303
    html = clerk.get("/residents/").get_data(as_text=True)
    assert 'value="やまだ"' not in html and "前回の検索条件" not in html
    search(clerk, kana="やまだ", sex="1")
    other, _ = login_as("clerk")  # another person signs in (a new session)
    assert 'value="やまだ"' not in other.get("/residents/").get_data(as_text=True)


def test_the_last_search_survives_the_screen_lock_and_ends_with_the_session(app, db, make_staff):
    from kenshin import audit
    from kenshin.access import sessions

    staff = make_staff("clerk").staff
    actor = audit.Actor.of_staff(staff, "127.0.0.1")
    criteria = residents.parse_criteria({"kana": "やまだ", "sex": "1"})
    with models.db.atomic():
        token = sessions.start(staff, "127.0.0.1", "test")
    first = sessions.get(token).id
    residents.search(criteria, actor, session_id=first)
    with models.db.atomic():
        unlocked = sessions.start(staff, "127.0.0.1", "test", replaces=token, keep_age=True)
    assert residents.last_search(first) is None
    assert residents.last_search(sessions.get(unlocked).id) == {"kana": "やまだ", "sex": "1"}
    with models.db.atomic():
        relogin = sessions.start(staff, "127.0.0.1", "test", replaces=unlocked)  # a new sign-in
    assert residents.last_search(sessions.get(relogin).id) is None
    residents.search(criteria, actor, session_id=sessions.get(relogin).id)
    sessions.end(sessions.get(relogin), actor, "logout")
    assert models.LastSearch.select().count() == 0
