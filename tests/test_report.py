"""The screening report (FORMATS.md "Screening report") against a hand count, on both databases."""
from datetime import date

import pytest

import models
from kenshin import audit
from kenshin.core import dates
from kenshin.core.dates import now_utc
from kenshin.followup import link
from kenshin.statistics import report
from tests.factories import VALID_ITEMS, make_resident

HEADER = ("exam,sex,age_band,setting,first_time,screened,referred,pending,followup_attended,"
          "followup_unknown")


def record(person, exam, day, *, referral=False, setting=1, status="confirmed", target="", pending=False):
    institution = models.Institution.get_or_none() or models.Institution.create(
        code="1210000001", name="千葉中央クリニック", updated_at=now_utc())
    values = dict(resident=person, exam=exam, target=target, exam_date=day,
                  fiscal_year=dates.fiscal_year(day), age=dates.age_at(person.birth_date, day),
                  institution=institution, setting=setting, referral=referral,
                  items=dict(VALID_ITEMS[exam], **({"target": target} if target else {})),
                  status=status, source="file", entered_at=now_utc())
    if pending:
        values["pending"] = True
    return models.Screening.create(**values)


def hand_dataset():
    """Every rule of the contract once; the expected lines are counted by hand below."""
    r1 = make_resident("000000000001", sex=1, birth=date(1960, 5, 10))  # 64 → 60-64
    record(r1, "colorectal", date(2024, 6, 1), referral=True)
    record(r1, "followup", date(2025, 6, 1), target="colorectal")  # a year later: inclusive
    record(r1, "colorectal", date(2020, 7, 1))  # 年度 2020: before Y−3, still 初回
    r7 = make_resident("000000000007", sex=1, birth=date(1960, 5, 10))
    record(r7, "colorectal", date(2024, 6, 2))
    r2 = make_resident("000000000002", sex=2, birth=date(1984, 3, 31))  # 年度末 41 → 40-44
    record(r2, "colorectal", date(2024, 5, 1), referral=True, setting=2)
    record(r2, "followup", date(2025, 5, 2), target="colorectal")  # a day too late: 未把握
    record(r2, "colorectal", date(2024, 9, 1), setting=1)  # not her first: decides nothing
    record(r2, "colorectal", date(2022, 9, 1))  # 年度 2022: not 初回
    r3 = make_resident("000000000003", sex=2, birth=date(1984, 4, 1))  # 年度末 40 → 40-44
    record(r3, "breast", date(2024, 8, 1), referral=True)
    record(r3, "followup", date(2024, 8, 1), target="breast")  # same day: attended
    record(r3, "colorectal", date(2024, 10, 1), status="void")  # void: nowhere
    record(r3, "lung", date(2024, 10, 1), status="pending", referral=True)  # 未確定: nowhere
    r4 = make_resident("000000000004", sex=1, birth=date(1950, 1, 1))  # 年度末 75 → 75-79
    record(r4, "gastric_xray", date(2024, 4, 1), referral=True)
    record(r4, "gastric_endoscopy", date(2023, 6, 1))  # same interval group last 年度: not 初回
    record(r4, "followup", date(2024, 12, 1), target="lung")  # another cancer: no link
    record(r4, "followup", date(2024, 12, 2), target="gastric")
    r5 = make_resident("000000000005", sex=1, birth=date(1980, 2, 29))  # 年度末 45 → 45-49
    record(r5, "lung", date(2024, 7, 1), setting=2)
    record(r5, "lung", date(2025, 4, 1))  # next 年度
    r6 = make_resident("000000000006", sex=1, birth=date(2010, 1, 1))  # 15 → 0-19
    record(r6, "periodontal", date(2024, 7, 1), referral=True)
    record(r6, "periodontal_followup", date(2024, 9, 1))
    r8 = make_resident("000000000008", sex=2, birth=date(1935, 6, 1))  # 年度末 89 → 85+
    record(r8, "followup", date(2024, 9, 1), target="breast")  # a 精密検査 alone is never a row
    record(r8, "breast", date(2025, 3, 31), referral=True, setting=2)  # last day of 年度 2024
    r9 = make_resident("000000000009", sex=2, birth=date(1970, 6, 1))  # 年度末 54 → 50-54
    record(r9, "breast", date(2024, 7, 1), pending=True)  # 判定保留: counted apart, never 精検不要
    record(r9, "breast", date(2024, 9, 1), referral=True)  # the retest: not her first, decides nothing


EXPECTED = [
    HEADER,
    "gastric_xray,1,75-79,1,0,1,1,0,1,0",
    "colorectal,1,60-64,1,1,2,1,0,1,0",
    "colorectal,2,40-44,2,0,1,1,0,0,1",
    "lung,1,45-49,2,1,1,0,0,0,0",
    "breast,2,40-44,1,1,1,1,0,1,0",
    "breast,2,50-54,1,1,1,0,1,0,0",
    "breast,2,85+,2,1,1,1,0,0,1",
    "periodontal,1,0-19,1,1,1,1,0,1,0",
]


def test_report_equals_the_hand_count(db, runner, tmp_path):
    hand_dataset()
    path = tmp_path / "report.csv"
    result = runner.invoke(args=["report", "screenings", "--fiscal-year", "2024", "--output", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("rows=8")
    assert path.read_text(encoding="utf-8").splitlines() == EXPECTED
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "report.screenings" and event.details["rows"] == 8


def test_empty_year_is_a_header_only(db, runner, tmp_path):
    path = tmp_path / "empty.csv"
    result = runner.invoke(args=["report", "screenings", "--fiscal-year", "2030", "--output", str(path)])
    assert result.exit_code == 0
    assert path.read_text(encoding="utf-8").splitlines() == [HEADER]


def test_bad_year_is_a_usage_error(db, runner, tmp_path):
    result = runner.invoke(args=["report", "screenings", "--fiscal-year", "R6", "--output",
                                 str(tmp_path / "x.csv")])
    assert result.exit_code == 2


@pytest.mark.parametrize("screened, followed, linked", [
    (date(2024, 2, 29), date(2025, 2, 28), True),
    (date(2024, 2, 29), date(2025, 3, 1), False),
    (date(2023, 3, 1), date(2024, 3, 1), True),
    (date(2023, 3, 1), date(2024, 3, 2), False),
    (date(2024, 6, 1), date(2024, 5, 31), False),
])
def test_the_link_is_the_same_in_python_and_sql(db, screened, followed, linked):
    """One year later, inclusive, 2月29日 → 2月28日, identical on both databases and in Python."""
    person = make_resident("000000000099", birth=date(1960, 1, 1))
    screening = record(person, "colorectal", screened, referral=True)
    follow = record(person, "followup", followed, target="colorectal")
    assert (follow in link.followups_of(screening)) is linked
    assert (screening in link.followed_screenings(follow)) is linked
    rows = report.rows(dates.fiscal_year(screened))
    assert [r.followup_attended for r in rows if r.exam == "colorectal"] == [1 if linked else 0]


def test_unwritable_output_exits_2_and_leaves_no_event(db, runner, tmp_path):
    before = models.AuditEvent.select().count()
    result = runner.invoke(args=["report", "screenings", "--fiscal-year", "2024", "--output",
                                 str(tmp_path / "missing" / "r.csv")])
    assert result.exit_code == 2 and "cannot write" in result.output
    assert models.AuditEvent.select().count() == before


def test_step_10_adds_the_follow_up_tables_to_an_older_database(db):
    import database

    step = next(s for s in database.STEPS if s.version == 10)
    assert "follow-up" in step.name
    # a database at step 9: everything but the follow-up tables
    models.db.drop_tables([models.Reminder, models.ReminderRun, models.StatisticsSetting])
    models.SchemaMigration.delete().where(models.SchemaMigration.version >= 10).execute()
    assert database.schema_version() == 9
    assert database.create_schema() == "upgraded"
    assert database.schema_version() == database.LATEST_STEP >= 10
    assert all(models.db.table_exists(t) for t in ("reminder", "reminder_run", "statistics_setting"))
    assert database.create_schema() == "current"


def test_age_basis_and_interval_group_come_from_the_years_rules(db, runner, tmp_path):
    """FORMATS.md: age_band on the rules' basis, first_time by the rules' interval group."""
    from dataclasses import replace

    from kenshin.invitations import rules as screening_rules
    from kenshin.screening import eligibility

    person = make_resident("000000000010", sex=1, birth=date(1984, 4, 2))  # 年度末 40, 4月1日 39
    record(person, "lung", date(2024, 6, 1))
    record(person, "colorectal", date(2023, 6, 1))  # another exam last 年度
    path = tmp_path / "before.csv"
    runner.invoke(args=["report", "screenings", "--fiscal-year", "2024", "--output", str(path)])
    assert "lung,1,40-44,1,1,1,0,0,0,0" in path.read_text(encoding="utf-8").splitlines()

    table = dict(eligibility.rules_for(2024).rules)
    table["lung"] = replace(table["lung"], basis=eligibility.FISCAL_YEAR_START, group="colorectal")
    table["colorectal"] = replace(table["colorectal"], group="colorectal")
    screening_rules.save(2024, table, "肺と大腸をまとめて受ける市の運用", audit.Actor.system("pytest"))
    path = tmp_path / "after.csv"
    runner.invoke(args=["report", "screenings", "--fiscal-year", "2024", "--output", str(path)])
    assert "lung,1,35-39,1,0,1,0,0,0,0" in path.read_text(encoding="utf-8").splitlines()


def test_every_count_is_the_number_of_people_its_drill_down_finds(db):
    """The report (one grouped statement; on PostgreSQL 初回 by a merge of the earlier 年度) and
    the drill-down (a probe for the cell's people) count the same people in every cell."""
    from kenshin.statistics import indicators

    hand_dataset()
    r11 = make_resident("000000000011", sex=1, birth=date(1950, 1, 1))
    record(r11, "gastric_endoscopy", date(2024, 5, 1), referral=True)
    record(r11, "gastric_xray", date(2021, 5, 1))  # 年度 2021 = Y−3: not 初回
    record(r11, "followup", date(2025, 4, 30), target="gastric")
    for atena, birth in (("000000000012", date(1940, 1, 10)), ("000000000013", date(1940, 5, 1)),
                         ("000000000014", date(2005, 1, 10)), ("000000000015", date(2005, 5, 1))):
        record(make_resident(atena, sex=2, birth=birth), "lung", date(2024, 6, 1))  # 85, 84, 20, 19
    report_rows = report.rows(2024)
    assert {r.first_time for r in report_rows} == {0, 1}
    assert {r.age_band for r in report_rows if r.exam == "lung"} >= {"85+", "80-84", "20-24", "0-19"}
    for row in report_rows:
        for measure in indicators.MEASURES:
            cell = indicators.Cell(2024, row.exam, measure, row.sex, row.age_band, row.setting, row.first_time)
            count, people = indicators.drill_down(cell, audit.Actor.system("pytest"))
            assert count == len(people) == getattr(row, measure), (row, measure)
