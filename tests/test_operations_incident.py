"""Incident support: the people a staff member, terminal or import batch touched, and how."""
import csv
import io
from datetime import date

import models
from kenshin import audit
from kenshin.core.dates import now_utc, today_jst
from kenshin.operations import retention

from .conftest import page_csrf
from .factories import make_resident, make_screening


def _period():
    today = today_jst().isoformat()
    return {"start": today, "end": today}


def _touch(person, resident, action, terminal="10.0.0.7"):
    with models.db.atomic():
        audit.record(action, audit.Actor.of_staff(person.staff, terminal), resident=resident,
                     object_type="resident", object_id=resident.id)


def test_people_touched_by_a_staff_member(app, db, make_staff, login_as):
    clerk = make_staff("clerk", login_id="suspect01")
    other = make_staff("clerk", login_id="other01")
    a = make_resident("000000000001", name="=HYPERLINK(1)", kana="イチ")
    b = make_resident("000000000002", name="二宮　次郎", kana="ニノミヤ　ジロウ")
    c = make_resident("000000000003", name="三木　三郎", kana="ミキ　サブロウ")
    _touch(clerk, a, "resident.view")
    _touch(clerk, a, "resident.view")
    _touch(clerk, b, "screening.correct")
    _touch(other, c, "resident.view")  # someone else's access is not in the list
    with models.db.atomic():
        audit.record("residents.search", audit.Actor.of_staff(clerk.staff, "10.0.0.7"),
                     details={"count": 3})
    client, _auditor = login_as("auditor")
    token = page_csrf(client, "/incidents/")
    form = dict(_period(), kind="staff", value="suspect01", csrf_token=token)
    page = client.post("/incidents/", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "二宮" in html and "三木" not in html and "2人" in html
    assert "対象者を特定しない操作" in html

    exported = client.post("/incidents/export", data=form)
    assert exported.status_code == 200 and exported.headers["X-Export-Count"] == "2"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "宛名番号"
    by_atena = {r[0]: r for r in rows[1:] if r[0]}
    assert set(by_atena) == {"000000000001", "000000000002"}
    assert by_atena["000000000001"][1] == "'=HYPERLINK(1)"  # the formula guard
    assert "×2" in by_atena["000000000001"][6]
    printed = client.post("/incidents/print", data=form)
    assert "取扱注意" in printed.get_data(as_text=True)
    actions = [e.action for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)]
    assert actions[-3:] == ["incident.view", "incident.export", "incident.print"]


def test_people_touched_from_a_terminal_include_purged_ones(app, db, make_staff, login_as):
    clerk = make_staff("clerk")
    gone = make_resident("000000000001", removed_on=date(2001, 4, 1))
    kept = make_resident("000000000002", name="四谷　史郎", kana="ヨツヤ　シロウ")
    _touch(clerk, gone, "resident.view", terminal="10.9.9.9")
    _touch(clerk, kept, "resident.view", terminal="10.9.9.9")
    _touch(clerk, kept, "resident.view", terminal="10.1.1.1")
    retention.purge(audit.Actor.system("pytest"), as_of=today_jst())
    client, _admin = login_as("admin")
    token = page_csrf(client, "/incidents/")
    html = client.post("/incidents/", data=dict(_period(), kind="terminal", value="10.9.9.9",
                                                csrf_token=token)).get_data(as_text=True)
    assert "四谷" in html and "消去済み" in html and "2人" in html


def test_people_touched_by_an_import_batch(app, db, login_as):
    batch = models.ImportBatch.create(kind="results", file_name="r.csv", sha256="0" * 64,
                                      actor="os:x", at=now_utc())
    person = make_resident("000000000001", name="五島　吾郎", kana="ゴトウ　ゴロウ")
    screening = make_screening(person)
    screening.batch = batch
    screening.save()
    make_screening(make_resident("000000000002", name="六角　六子", kana="ロッカク　ロクコ"))
    client, _auditor = login_as("auditor")
    token = page_csrf(client, "/incidents/")
    html = client.post("/incidents/", data=dict(_period(), kind="batch", value=str(batch.id),
                                                csrf_token=token)).get_data(as_text=True)
    assert "五島" in html and "六角" not in html and "検診結果の登録" in html


def test_bad_conditions_are_refused_with_reasons(app, db, login_as):
    client, _auditor = login_as("auditor")
    token = page_csrf(client, "/incidents/")
    page = client.post("/incidents/", data=dict(_period(), kind="staff", value="nobody",
                                                csrf_token=token))
    assert page.status_code == 422
    assert "このログインIDの職員はいません" in page.get_data(as_text=True)
    page = client.post("/incidents/", data={"start": "", "end": "", "kind": "",
                                            "csrf_token": token})
    assert page.status_code == 422
