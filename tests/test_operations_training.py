"""Training records: a year's validity, the menu warning a month before, the sign-in setting."""
from datetime import date, timedelta

import pytest

import models
from kenshin import audit
from kenshin.core.dates import today_jst
from kenshin.core.errors import Invalid
from kenshin.operations import training

from .conftest import login, page_csrf

ADMIN = audit.Actor.system("pytest")


def test_standing_by_date():
    attended = date(2026, 5, 10)
    assert training.standing(1, attended, date(2027, 4, 9)).state == "ok"
    assert training.standing(1, attended, date(2027, 4, 10)).state == "due"  # a month before
    assert training.standing(1, attended, date(2027, 5, 9)).state == "due"
    assert training.standing(1, attended, date(2027, 5, 10)).state == "lapsed"
    assert training.standing(1, None, date(2027, 5, 10)).state == "lapsed"
    assert training.standing(1, date(2024, 2, 29), date(2025, 2, 28)).state == "lapsed"


def test_record_refuses_future_and_bad_dates(app, db, make_staff):
    person = make_staff("clerk").staff
    with pytest.raises(Invalid):
        training.record(person.id, (today_jst() + timedelta(days=1)).isoformat(), ADMIN)
    with pytest.raises(Invalid):
        training.record(person.id, "2026-02-30", ADMIN)
    training.record(person.id, "R7.4.1", ADMIN)
    training.record(person.id, "2025-04-01", ADMIN)  # the same day again: nothing new
    assert models.TrainingRecord.select().count() == 1
    assert models.AuditEvent.select().where(models.AuditEvent.action == "training.record").count() == 1


def test_menu_warns_a_month_before_and_after_lapse(app, client, db, make_staff):
    person = make_staff("clerk")
    training.record(person.staff.id, (today_jst() - timedelta(days=350)).isoformat(), ADMIN)
    assert login(client, person).get_json()["ok"]
    html = client.get("/").get_data(as_text=True)
    assert "受講期限が近づいています" in html


def test_menu_has_no_warning_after_a_recent_training(app, client, db, make_staff):
    person = make_staff("clerk")
    training.record(person.staff.id, today_jst().isoformat(), ADMIN)
    assert login(client, person).get_json()["ok"]
    assert "training-warning" not in client.get("/").get_data(as_text=True)


def test_lapsed_person_signs_in_with_a_warning_by_default(app, client, db, make_staff):
    person = make_staff("clerk")
    assert login(client, person).get_json()["ok"]
    assert "受講記録がありません" in client.get("/").get_data(as_text=True)


def test_setting_blocks_lapsed_people_but_not_administrators(app, client, db, make_staff):
    clerk, admin = make_staff("clerk"), make_staff("admin")
    assert login(client, admin).get_json()["ok"]
    token = page_csrf(client, "/admin/training/")
    assert client.post("/admin/training/setting",
                       data={"csrf_token": token, "lapsed_may_sign_in": "no"}).status_code == 303
    assert training.lapsed_may_sign_in() is False
    client.post("/logout", data={"csrf_token": page_csrf(client)})

    refused = login(client, clerk)
    assert refused.status_code == 403 and "研修" in refused.get_json()["message"]
    denied = models.AuditEvent.select().where(models.AuditEvent.action == "login.denied").count()
    assert denied == 1
    assert models.Staff.get_by_id(clerk.staff.id).failed_logins == 0
    assert login(client, admin).get_json()["ok"]  # administrators always may
    token = page_csrf(client, "/admin/training/")
    response = client.post("/admin/training/record", data={
        "csrf_token": token, "staff_id": str(clerk.staff.id),
        "completed_on": today_jst().isoformat()})
    assert response.status_code == 303
    client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert login(client, clerk).get_json()["ok"]


def test_admin_list_shows_lapses_first(app, client, db, make_staff):
    ok = make_staff("clerk", login_id="aaa-trained")
    make_staff("clerk", login_id="zzz-never")
    training.record(ok.staff.id, today_jst().isoformat(), ADMIN)
    admin = make_staff("admin", login_id="mmm-admin")
    training.record(admin.staff.id, today_jst().isoformat(), ADMIN)
    assert login(client, admin).get_json()["ok"]
    html = client.get("/admin/training/").get_data(as_text=True)
    table = html[html.index("list-heading"):]
    assert table.index("zzz-never") < table.index("aaa-trained")
    assert "期限切れ" in table
