"""精検管理: worklist status by the derived link, reminders audited and shown on the line, the
statistics screen with the same numbers as the report, settings and drill-down."""
import re
from datetime import date, timedelta

import models
from kenshin.core.dates import fiscal_year, today_jst
from kenshin.followup import reminders, worklist
from kenshin.statistics import indicators, report, settings
from tests.factories import actor_of, make_resident
from tests.test_report import hand_dataset, record

TODAY = today_jst()
YEAR = fiscal_year(TODAY)
LAST = YEAR - 1  # every screening of last 年度 is over 90 days old


def current_year_people():
    """Two referred last 年度 (over 90 days ago): one followed up, one not; one screened clear."""
    a = make_resident("000000000101", name="追跡　一郎", sex=1, birth=date(1960, 5, 10))
    b = make_resident("000000000102", name="未把握　二郎", sex=1, birth=date(1960, 6, 10))
    c = make_resident("000000000103", name="保留　三子", sex=2, birth=date(1970, 6, 10))
    sa = record(a, "colorectal", date(LAST, 6, 1), referral=True)
    record(a, "followup", date(LAST, 7, 1), target="colorectal")
    sb = record(b, "colorectal", date(LAST, 6, 2), referral=True)
    sc = record(c, "breast", date(LAST, 6, 3), pending=True)
    return sa, sb, sc


def test_worklist_status_and_reminders(db, make_staff):
    clerk = make_staff("clerk")
    actor = actor_of(clerk)
    sa, sb, _ = current_year_people()
    page = worklist.lines_page(worklist.Criteria(LAST), worklist.REFERRED, 1, actor)
    assert {(l.name, l.status) for l in page.rows} == {("追跡　一郎", "attended"), ("未把握　二郎", "unknown")}
    unknown = worklist.lines_page(worklist.Criteria(LAST, status="unknown"), worklist.REFERRED, 1, actor)
    assert [l.screening_id for l in unknown.rows] == [sb.id]
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "followup.list" and event.details["total"] == 1 and event.resident_id is None

    _, letters = reminders.candidates("letter", LAST)
    assert [l.screening_id for l in letters] == [sb.id]
    run = reminders.create_run("letter", LAST, "", actor)
    assert run.count == 1
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "followup.reminder_run" and event.details["count"] == 1
    line = worklist.lines_page(worklist.Criteria(LAST, status="unknown"), worklist.REFERRED, 1, actor).rows[0]
    assert line.letter_at is not None and line.letter_at.year >= 2026
    # sent once: not again unless asked
    assert reminders.candidates("letter", LAST)[1] == []
    assert len(reminders.candidates("letter", LAST, again=True)[1]) == 1
    # N is a setting: with N beyond the screening's age nobody is due
    boss = make_staff("supervisor")
    settings.save({settings.REMINDER_AFTER_DAYS: "730"}, "二年後に変更", actor_of(boss))
    assert reminders.candidates("letter", LAST, again=True)[1] == []  # June of last 年度: < 730 days

    held = worklist.lines_page(worklist.Criteria(LAST), worklist.PENDING, 1, actor)
    assert [l.name for l in held.rows] == ["保留　三子"]

    run = reminders.create_run("request", LAST, "", actor)
    _, documents = reminders.run_lines(run.id, actor)
    assert [d["screening"].id for d in documents] == [sa.id] and documents[0]["followup"] is not None


def test_screens_for_a_supervisor(db, login_as):
    hand_dataset()
    current_year_people()
    client, person = login_as("supervisor")
    page = client.get(f"/followup/?fiscal_year={LAST}").get_data(as_text=True)
    assert "未把握　二郎" in page and "精検受診" in page
    printed = client.get(f"/followup/print?fiscal_year={LAST}").get_data(as_text=True)
    assert "取扱注意" in printed and "未把握　二郎" in printed and "追跡　一郎" in printed
    assert "保留　三子" in client.get(f"/followup/pending?fiscal_year={LAST}").get_data(as_text=True)
    assert client.get(f"/followup/reminders?fiscal_year={LAST}").status_code == 200
    assert client.get(f"/followup/?fiscal_year=R6").status_code == 422

    stats = client.get("/statistics/?fiscal_year=2024").get_data(as_text=True)
    assert "<svg" in stats and indicators.NOT_RECORDED in stats
    # the screen's numbers are the report's: every row appears with its counts
    for row in report.rows(2024):
        assert f"fiscal_year=2024&amp;exam={row.exam}&amp;sex={row.sex}" in stats
    # drill-down: the people behind breast 要精検 85+ — exactly the count
    drill = client.get("/statistics/drill?fiscal_year=2024&exam=breast&measure=referred&age_band=85%2B")
    body = drill.get_data(as_text=True)
    assert drill.status_code == 200 and "000000000008" in body and "000000000003" not in body
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "statistics.drill_down" and event.details["count"] == 1
    assert event.details["age_band"] == "85+"
    assert client.get("/statistics/drill?fiscal_year=2024&exam=nope&measure=referred").status_code == 400
    printed = client.get("/statistics/print?fiscal_year=2024").get_data(as_text=True)
    assert "取扱注意" in printed and printed.count("<svg") == 3 and "/statistics/drill" not in printed
    token = re.search(r'name="csrf_token" value="([^"]+)"', stats).group(1)
    bad = client.post("/statistics/settings", data={"csrf_token": token, "reason": "",
                                                    "lung.referral_rate.acceptable": "3.0"})
    assert bad.status_code == 422 and "変更の理由を入力してください" in bad.get_data(as_text=True)
    csv_response = client.post("/statistics/export", data={"csrf_token": token, "fiscal_year": "2024",
                                                            "reason": "県への報告"})
    lines = csv_response.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(report.COLUMNS)
    assert lines[1:] == [",".join(str(v) for v in r.values()) for r in report.rows(2024)]


def test_statistics_screen_reads_the_years_snapshot_until_a_recompute_audited(db, login_as):
    hand_dataset()
    client, _ = login_as("supervisor")
    first = client.get("/statistics/?fiscal_year=2024").get_data(as_text=True)
    assert 'id="snapshot-at"' in first and "再集計" in first
    computed = models.AuditEvent.select().where(models.AuditEvent.action == "statistics.compute")
    assert computed.count() == 1 and computed.get().details["rows"] == len(report.rows(2024))
    before = sum(r.screened for r in report.rows(2024))
    newcomer = make_resident("000000000099", sex=2, birth=date(1970, 5, 10))
    record(newcomer, "lung", date(2024, 9, 1))
    assert sum(r.screened for r in report.rows(2024)) == before + 1  # the records have changed ...
    again = client.get("/statistics/?fiscal_year=2024").get_data(as_text=True)
    assert "exam=lung&amp;sex=2&amp;age_band=50-54" not in again  # ... the screen shows the snapshot
    assert computed.count() == 1
    token = re.search(r'name="csrf_token" value="([^"]+)"', again).group(1)
    done = client.post("/statistics/recompute", data={"csrf_token": token, "fiscal_year": "2024"})
    assert done.status_code == 303
    after = client.get("/statistics/?fiscal_year=2024").get_data(as_text=True)
    assert "exam=lung&amp;sex=2&amp;age_band=50-54" in after
    assert computed.count() == 2
    assert client.post("/statistics/recompute", data={"fiscal_year": "2024"}).status_code == 400  # no CSRF


def test_statistics_is_for_supervisors_only(db, login_as):
    client, _ = login_as("clerk")
    assert client.get("/statistics/").status_code == 403
    assert client.get("/statistics/drill?fiscal_year=2024&exam=lung&measure=screened").status_code == 403


def test_indicators_judged_against_settings(db, make_staff):
    hand_dataset()
    found = {e.exam: e for e in indicators.of_year(2024)}
    colorectal = {r.indicator: r for r in found["colorectal"].rates}
    # 3 screened, 2 referred (66.7% > 7.0% allowed), 1 of 2 followed up (50% < 70%)
    assert str(colorectal["referral_rate"].value) == "66.7" and colorectal["referral_rate"].judgement == "poor"
    assert colorectal["attendance_rate"].judgement == "poor"
    assert found["periodontal"].rates[0].judgement == "none"
    boss = make_staff("supervisor")
    settings.save({"colorectal.attendance_rate.acceptable": "50", "colorectal.attendance_rate.target": "60"},
                  "市の目標に合わせる", actor_of(boss))
    colorectal = {r.indicator: r for r in {e.exam: e for e in indicators.of_year(2024)}["colorectal"].rates}
    assert colorectal["attendance_rate"].judgement == "fair"
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "statistics.settings"
    assert event.details["changes"]["colorectal.attendance_rate.acceptable"] == {"before": "70", "after": "50"}
    import pytest
    from kenshin.core.errors import Invalid
    with pytest.raises(Invalid):
        settings.save({"lung.referral_rate.acceptable": "abc"}, "誤り", actor_of(boss))


def test_record_pages_show_the_link_both_ways(db, login_as):
    sa, sb, _ = current_year_people()
    follow = models.Screening.get((models.Screening.exam == "followup"))
    client, _ = login_as("clerk")
    page = client.get(f"/screenings/{sa.id}").get_data(as_text=True)
    assert "精検受診" in page and f"/screenings/{follow.id}" in page
    assert "未把握" in client.get(f"/screenings/{sb.id}").get_data(as_text=True)
    back = client.get(f"/screenings/{follow.id}").get_data(as_text=True)
    assert "この精密検査が追う検診" in back and f"/screenings/{sa.id}" in back
