"""Screening rules and invitations exactly as FORMATS.md "Screening rules" and "Invitations" say,
on SQLite and PostgreSQL (the `db` fixture runs each test on both)."""
import csv
import hashlib
import io
from datetime import date

import pytest

import models
from kenshin.core.errors import Invalid
from kenshin.invitations import extraction, rules, seiri
from kenshin.screening import eligibility
from kenshin.screening.eligibility import NATIONAL, Rule

from .factories import CLI, actor_of, make_institution, make_resident, make_screening, sign_off_run
from .test_import_results import row as result_row
from .test_import_results import write as write_results

FY = 2025
AS_OF = date(2025, 4, 1)


def person(n, birth, sex=2, **extra):
    return make_resident(atena_no=f"{n:012d}", name=f"千葉 {n}子", kana="チバ ハナコ", sex=sex,
                         birth=birth, **extra)


def pairs(run_id=None):
    query = models.Invitation.select()
    if run_id is not None:
        query = query.where(models.Invitation.run_id == run_id)
    return {(i.resident_id, exam) for i in query for exam in i.exam_codes}


def exams_of(resident, run_id=None):
    return {exam for rid, exam in pairs(run_id) if rid == resident.id}


@pytest.fixture
def clinic(db):
    return make_institution()


# --- 整理番号 -------------------------------------------------------------------------------

def test_luhn_check_digit():
    assert seiri.check_digit("7992739871") == 3  # the textbook example
    assert seiri.number_for(123456789) == "1234567897"
    assert seiri.check_digit_ok("1234567897")
    assert not seiri.check_digit_ok("1234567898")
    assert seiri.problem("1234567898") == seiri.WRONG_CHECK_DIGIT
    assert "検査数字" in seiri.WRONG_CHECK_DIGIT
    assert seiri.problem("12345") == seiri.NOT_TEN_DIGITS
    # every single-digit slip and most swaps of neighbours are caught
    good = seiri.number_for(314159265)
    for i in range(10):
        for d in "0123456789":
            slipped = good[:i] + d + good[i + 1:]
            assert seiri.check_digit_ok(slipped) == (slipped == good)


def test_sql_numbers_equal_python_numbers(db):
    for serial in (100000000, 100000001, 271828182, 999999999, *range(123456780, 123456800)):
        sql = f"SELECT {seiri.sql_number(str(serial))}"
        assert models.db.execute_sql(sql).fetchone()[0] == seiri.number_for(serial)


# --- rules --------------------------------------------------------------------------------

def test_rules_show_prints_the_national_defaults(runner):
    result = runner.invoke(args=["rules", "show", "--fiscal-year", "2025"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(NATIONAL)
    assert lines[0].startswith("gastric_xray sex=any ages=40+ ")
    assert "interval=2 group=gastric" in lines[1]
    assert "born=1985-04-01..1986-03-31" in lines[8]  # hepatitis: 40 in 2025 on the 年度末 basis


def test_birth_ranges_on_both_bases():
    assert Rule(ages=(40,)).birth_ranges(2025) == [(date(1985, 4, 1), date(1986, 3, 31))]
    start = Rule(ages=(40,), basis="fiscal_year_start")
    assert start.birth_ranges(2025) == [(date(1984, 4, 2), date(1985, 4, 1))]
    assert eligibility.birth_ranges_label(Rule(ages=(40,)), 2026) == "昭和61年4月1日〜昭和62年3月31日生まれ"
    assert Rule(min_age=40, max_age=69).birth_ranges(2025) == [(date(1956, 4, 1), date(1986, 3, 31))]


def test_rule_edits_are_versions_and_audited(db):
    assert rules.rules_for(FY).version == 0
    edited = dict(NATIONAL, lung=Rule(min_age=40, max_age=74, interval=1, group="lung"))
    table = rules.save(FY, edited, "市の広報に合わせ上限を設定", CLI)
    assert table.version == 1 and table.rules["lung"].max_age == 74
    again = rules.save(FY, dict(NATIONAL), "元に戻す", CLI)
    assert again.version == 2 and again.rules["lung"].max_age is None
    assert [v.version for v in rules.versions(FY)] == [2, 1]
    assert rules.rules_for(FY + 1).version == 0  # another 年度 keeps the guideline
    events = [e for e in models.AuditEvent.select().where(models.AuditEvent.action == rules.ACTION_CHANGE)]
    assert [e.details["version"] for e in events] == [1, 2]
    assert "lung" in events[0].details["changed"] and events[0].details["why"]
    with pytest.raises(Invalid):
        rules.save(FY, dict(NATIONAL), "", CLI)


def test_read_form_refuses_bad_rules():
    form = {f"lung-{k}": v for k, v in {"sex": "0", "min_age": "70", "max_age": "40", "ages": "",
                                        "interval": "1", "group": "lung", "basis": "fiscal_year_end"}.items()}
    form.update({f"breast-{k}": v for k, v in {"sex": "1", "min_age": "40", "interval": "2",
                                               "group": "breast", "basis": "fiscal_year_end"}.items()})
    _, errors = rules.read_form(form, exams=("lung", "breast"))
    assert "上限年齢が下限年齢より小さくなっています" in errors["lung"]
    assert any("女性のみ" in m for m in errors["breast"])


def test_entry_warnings_read_the_same_table(db):
    born = date(1980, 6, 1)  # 45 at the end of 年度 2025
    assert eligibility.warnings("lung", born, FY) == []
    rules.save(FY, dict(NATIONAL, lung=Rule(min_age=50, interval=1, group="lung")), "50歳から", CLI)
    assert eligibility.warnings("lung", born, FY) == ["対象年齢ではありません（年度末年齢45歳。対象は50歳以上）"]
    # a gastric X-ray last 年度 blocks an endoscopy (2 年度), not the yearly X-ray
    assert eligibility.warnings("gastric_endoscopy", date(1960, 1, 1), FY, [FY - 1])
    assert eligibility.warnings("gastric_xray", date(1960, 1, 1), FY, [FY - 1]) == []
    # hepatitis: older people never tested come on request, without a warning
    assert eligibility.warnings("hepatitis", date(1960, 1, 1), FY) == []
    assert eligibility.warnings("hepatitis", date(1960, 1, 1), FY, [2010])


# --- extraction ---------------------------------------------------------------------------

def test_extract_follows_the_rules(db, clinic):
    forty = person(1, date(1985, 6, 1))  # 40 in 2025: hepatitis, osteoporosis, periodontal ...
    young_man = person(2, date(2000, 6, 1), sex=1)  # 25: nothing
    fifty = person(3, date(1975, 4, 1), sex=1)  # 50 (born 4月1日: 年度末 basis)
    make_screening(fifty, "gastric_xray", date(2024, 10, 1))  # last 年度: blocks endoscopy only
    make_screening(fifty, "colorectal", date(2025, 3, 31))  # last 年度: yearly, no block
    make_screening(fifty, "lung", date(2025, 4, 1), status="pending")  # not counted
    result = extraction.extract(FY, AS_OF, CLI)
    assert exams_of(forty) == {"gastric_xray", "colorectal", "lung", "breast", "cervical",
                               "osteoporosis", "periodontal", "hepatitis"}
    assert exams_of(young_man) == set()
    assert exams_of(fifty) == {"gastric_xray", "colorectal", "lung", "periodontal"}
    assert (result.invitations, result.people, result.stopped, result.suspended) == (12, 2, 0, 0)
    numbers = {s.resident_id: s.number for s in models.SeiriNumber.select()}
    assert set(numbers) == {forty.id, fifty.id}
    assert all(seiri.check_digit_ok(n) for n in numbers.values())
    run = models.InvitationRun.get_by_id(result.run_id)
    assert run.kind == "initial" and run.rule_set.version == 1  # the guideline saved as version 1
    event = models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_EXTRACT).get()
    assert event.details["invitations"] == 12 and event.details["rules_version"] == 1


def test_old_screenings_count_only_for_a_window_that_reaches_them(db, clinic):
    """The grouped pass reads each group's screenings from the first 年度 of its windows on, and
    all of them for a once-in-life window: a hepatitis test of long ago still blocks, a breast
    screening three 年度 ago (interval 2) no longer does, last 年度's still does."""
    forty = person(1, date(1985, 6, 1))
    make_screening(forty, "hepatitis", date(2011, 6, 1))
    make_screening(forty, "breast", date(2022, 6, 1))  # 年度 2022: outside 2024-2025
    make_screening(forty, "cervical", date(2024, 6, 1))  # 年度 2024: inside
    make_screening(forty, "lung", date(2024, 6, 1))  # last 年度: a yearly exam is due again
    extraction.extract(FY, AS_OF, CLI)
    assert exams_of(forty) == {"gastric_xray", "colorectal", "lung", "breast", "osteoporosis",
                               "periodontal"}


def test_residents_on_the_date_only(db, clinic):
    later = person(1, date(1978, 5, 5), resident_since=date(2025, 5, 1))
    gone = person(2, date(1978, 5, 5), removed_on=date(2025, 4, 1), removal_reason="転出")
    leaving = person(3, date(1978, 5, 5), removed_on=date(2025, 4, 2), removal_reason="転出")
    since_today = person(4, date(1978, 5, 5), resident_since=AS_OF)
    extraction.extract(FY, AS_OF, CLI)
    invited = {rid for rid, _ in pairs()}
    assert invited == {leaving.id, since_today.id}
    assert later.id not in invited and gone.id not in invited


def test_top_up_adds_newcomers_and_stops_people_who_left(runner, clinic):
    stays = person(1, date(1978, 5, 5))
    leaves = person(2, date(1978, 5, 5))
    first = runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == "run=1 invitations=10 people=2 stopped=0 suspended=0"
    number = models.SeiriNumber.get(models.SeiriNumber.resident == stays.id).number
    # 転入 in May; 転出 in June; someone turns eligible only by the rules' edit
    newcomer = person(3, date(1980, 1, 1), resident_since=date(2025, 5, 20))
    models.Resident.update(removed_on=date(2025, 6, 30), removal_reason="転出").where(
        models.Resident.id == leaves.id).execute()
    second = runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-07-01"])
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[-1] == "run=2 invitations=5 people=1 stopped=1 suspended=0"
    assert exams_of(newcomer, 2) == {"gastric_xray", "colorectal", "lung", "breast", "cervical"}
    assert models.SeiriNumber.get(models.SeiriNumber.resident == stays.id).number == number
    stopped = models.Invitation.select().where(models.Invitation.resident_id == leaves.id)
    assert all(i.stopped_run_id == 2 and i.stopped_on == date(2025, 7, 1) for i in stopped)
    # nothing new: a third run adds nobody and stops nobody again
    third = runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-07-01"])
    assert third.output.splitlines()[-1] == "run=3 invitations=0 people=0 stopped=0 suspended=0"


def test_a_top_up_invites_a_person_only_for_exams_not_yet_invited_in_the_year(db, clinic):
    """A run writes one row per person with the exams as bits: a top-up after a rules edit adds
    the newly eligible exam alone, and its letters, the person page and the 再勧奨 read the sets."""
    from kenshin.registry.person_page import invitations_of

    woman = person(1, date(1966, 5, 5))  # 59 in 2025: no osteoporosis (ages 40, 45 … 70)
    first = extraction.extract(FY, AS_OF, CLI)
    assert exams_of(woman, first.run_id) == {"gastric_xray", "gastric_endoscopy", "colorectal", "lung",
                                             "breast", "cervical"}
    rows = list(models.Invitation.select().where(models.Invitation.resident_id == woman.id))
    assert len(rows) == 1 and rows[0].exams == sum(
        models.INVITATION_EXAM_BITS[c] for c in exams_of(woman, first.run_id))
    rules.save(FY, dict(NATIONAL, osteoporosis=Rule(sex=2, ages=(40, 45, 50, 55, 59, 60, 65, 70))),
               "59歳も対象に", CLI)
    second = extraction.extract(FY, date(2025, 5, 1), CLI)
    assert (second.invitations, second.people, second.issued) == (1, 1, 0)
    assert exams_of(woman, second.run_id) == {"osteoporosis"}
    assert [x.exams for x in extraction.letters(second.run_id).letters] == [["osteoporosis"]]
    assert extraction.letters(first.run_id).letters[0].exams == [
        "gastric_xray", "gastric_endoscopy", "colorectal", "lung", "breast", "cervical"]
    assert extraction.extract(FY, date(2025, 5, 1), CLI).invitations == 0  # nothing left to add
    lines = invitations_of(woman.id)
    assert sorted(x.exam for x in lines) == sorted(exams_of(woman))
    make_screening(woman, "lung", date(2025, 6, 1))
    reminded = extraction.remind(FY, date(2025, 9, 30), date(2025, 10, 1), CLI)
    assert exams_of(woman, reminded.run_id) == exams_of(woman) - {"lung"}
    assert reminded.by_exam["osteoporosis"] == 1 and reminded.by_exam["lung"] == 0


def test_numbers_are_never_reused_and_one_per_person_per_year(db, clinic):
    a = person(1, date(1978, 5, 5))
    extraction.extract(FY, AS_OF, CLI)
    b = person(2, date(1978, 5, 5))
    extraction.extract(FY, date(2025, 5, 1), CLI)
    extraction.extract(FY + 1, date(2026, 4, 1), CLI)
    rows = list(models.SeiriNumber.select().order_by(models.SeiriNumber.number))
    assert [(r.resident_id, r.fiscal_year) for r in rows] == [(a.id, FY), (b.id, FY), (a.id, FY + 1), (b.id, FY + 1)]
    assert len({r.number for r in rows}) == 4


def test_suspended_people_are_left_out_and_counted(runner, clinic):
    person(1, date(1978, 5, 5))
    suspended = person(2, date(1978, 5, 5), use_suspended=True)
    result = runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    assert result.output.splitlines()[-1] == "run=1 invitations=5 people=1 stopped=0 suspended=1"
    assert exams_of(suspended) == set()
    assert not models.SeiriNumber.select().where(models.SeiriNumber.resident == suspended.id).exists()


def test_exclusions_leave_people_out_for_their_years(db, clinic, make_staff):
    someone = person(1, date(1978, 5, 5))
    clerk = make_staff("clerk")
    from .factories import actor_of
    extraction.exclude(someone.id, "colorectal", "treatment", "", FY, FY, actor_of(clerk))
    extraction.extract(FY, AS_OF, CLI)
    assert exams_of(someone) == {"gastric_xray", "lung", "breast", "cervical"}
    extraction.extract(FY + 1, date(2026, 4, 1), CLI)
    assert "colorectal" in {exam for i in models.Invitation.select().where(models.Invitation.fiscal_year == FY + 1)
                            for exam in i.exam_codes}
    with pytest.raises(Invalid):
        extraction.exclude(someone.id, "", "other", "", FY, FY, actor_of(clerk))
    assert models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_EXCLUDE).count() == 1


def test_reminder_run_names_people_not_screened(db, clinic):
    done = person(1, date(1978, 5, 5))
    waiting = person(2, date(1978, 5, 5))
    extraction.extract(FY, AS_OF, CLI)
    make_screening(done, "gastric_endoscopy", date(2025, 9, 1))  # the gastric group: X-ray not reminded
    result = extraction.remind(FY, date(2025, 10, 31), date(2025, 11, 1), CLI)
    assert exams_of(done, result.run_id) == {"colorectal", "lung", "breast", "cervical"}
    assert exams_of(waiting, result.run_id) == {"gastric_xray", "colorectal", "lung", "breast", "cervical"}
    run = models.InvitationRun.get_by_id(result.run_id)
    assert run.kind == "reminder"
    # a 再勧奨 is not an invitation: a later top-up still sees everyone as invited once
    assert extraction.extract(FY, date(2025, 11, 1), CLI).invitations == 0


def test_as_of_from_another_year_is_refused(runner, clinic):
    result = runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2026-04-01"])
    assert result.exit_code == 2 and "基準日" in result.output
    assert not models.InvitationRun.select().exists()


# --- export -------------------------------------------------------------------------------

def test_export_writes_the_contractor_file(runner, clinic, tmp_path):
    a = person(1, date(1978, 5, 5))
    b = person(2, date(1960, 2, 1), sex=1)
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    models.Resident.update(removed_on=date(2025, 6, 1), removal_reason="死亡").where(
        models.Resident.id == b.id).execute()
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-06-02"])
    sign_off_run(1)
    out = tmp_path / "letters.csv"
    result = runner.invoke(args=["invitations", "export", "1", "--output", str(out), "--encoding", "cp932"])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("cp932"))))
    assert rows[0] == list(extraction.EXPORT_COLUMNS)
    number = models.SeiriNumber.get(models.SeiriNumber.resident == a.id).number
    assert rows[1:] == [[number, a.atena_no, "千葉 1子", a.name_kana, "260-0026", a.address,
                         "1978-05-05", "2", "gastric_xray colorectal lung breast cervical"]]
    event = models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_EXPORT).get()
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["count"] == 1 and event.details["why"]


def test_export_refuses_what_cp932_cannot_hold(runner, clinic, tmp_path):
    person(1, date(1978, 5, 5))
    models.Resident.update(name="𠮷田 花子").execute()
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    sign_off_run(1)
    out = tmp_path / "letters.csv"
    result = runner.invoke(args=["invitations", "export", "1", "--output", str(out), "--encoding", "cp932"])
    assert result.exit_code == 1 and "cp932" in result.output
    assert not out.exists()
    assert runner.invoke(args=["invitations", "export", "9", "--output", str(out)]).exit_code == 2


# --- the number comes back on the form -----------------------------------------------------

def test_clinic_row_with_the_number_is_recorded_and_a_wrong_digit_refused(runner, clinic, tmp_path):
    woman = make_resident()  # the file rows' person: 1960-05-10, チバ ハナコ, 女
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    number = models.SeiriNumber.get(models.SeiriNumber.resident == woman.id).number
    good = write_results(tmp_path, [result_row(atena_no="", seiri_no=number)])
    result = runner.invoke(args=["import-results", good])
    assert result.exit_code == 0 and result.output.strip() == "recorded=1 queued=0 duplicates=0"
    assert models.Screening.get().resident_id == woman.id
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    bad = write_results(tmp_path, [result_row(atena_no="", seiri_no=wrong, exam_date="2025-06-03")],
                        name="bad.csv")
    result = runner.invoke(args=["import-results", bad])
    assert result.exit_code == 1
    assert result.output.strip() == f"line 2, column seiri_no: {seiri.WRONG_CHECK_DIGIT}"


def test_barcode_svg_draws_the_code128_symbol():
    import re as _re

    from kenshin.invitations import barcode

    number = seiri.number_for(123456789)
    pattern = barcode.modules(number)
    assert pattern.startswith("11010011100")  # Start C: pairs of digits
    assert pattern.endswith("1100011101011")  # Stop
    svg = barcode.svg(number)
    drawn = ["0"] * len(pattern)
    for x, width in _re.findall(r'<rect x="([\d.]+)" y="0" width="([\d.]+)"', svg):
        start = round(float(x) / barcode.MODULE_MM) - barcode.QUIET_MODULES
        for i in range(start, start + round(float(width) / barcode.MODULE_MM)):
            drawn[i] = "1"
    assert "".join(drawn) == pattern
    assert "<script" not in svg


def test_export_keeps_people_removed_but_not_yet_stopped_and_warns(runner, clinic, tmp_path):
    a = person(1, date(1978, 5, 5))
    person(2, date(1978, 5, 5))
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    models.Resident.update(removed_on=date(2025, 6, 1), removal_reason="転出").where(
        models.Resident.id == a.id).execute()
    sign_off_run(1)
    out = tmp_path / "letters.csv"
    result = runner.invoke(args=["invitations", "export", "1", "--output", str(out)])
    assert result.exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3  # both: nobody is stopped yet
    assert "top-up" in result.output
    assert extraction.letters(1, 0, 10).total == 1  # on paper printed today: not the removed one


# --- sign-off (承認, LESSONS.md 1) --------------------------------------------------------------

@pytest.fixture
def two_supervisors(clinic):
    from kenshin.access import staff as staff_domain

    ran, _ = staff_domain.create("runner01", "実行 一郎", "健康支援課", ["supervisor"], CLI)
    second, _ = staff_domain.create("second01", "確認 二郎", "健康支援課", ["supervisor"], CLI)
    return actor_of(ran), actor_of(second)


def test_cli_export_of_a_run_not_signed_off_is_written_warned_and_audited_as_unsigned(runner, clinic, tmp_path):
    # FORMATS.md fixes `invitations export` as a contract that writes the run: the operator's command
    # writes it, warns on stderr, and the audit event says it was not signed off; screens refuse.
    person(1, date(1978, 5, 5))
    runner.invoke(args=["invitations", "extract", "--fiscal-year", "2025", "--as-of", "2025-04-01"])
    out = tmp_path / "letters.csv"
    result = runner.invoke(args=["invitations", "export", "1", "--output", str(out)])
    assert result.exit_code == 0 and "not signed off" in result.output and out.exists()
    event = models.AuditEvent.get(models.AuditEvent.action == extraction.ACTION_EXPORT)
    assert event.details["signed_off"] is False
    with pytest.raises(extraction.NotSignedOff):
        extraction.export(1, str(tmp_path / "again.csv"), CLI, "utf-8", "委託先へ")
    assert not (tmp_path / "again.csv").exists()
    sign_off_run(1)
    signed = runner.invoke(args=["invitations", "export", "1", "--output", str(out)])
    assert signed.exit_code == 0 and "not signed off" not in signed.output


def test_print_and_download_of_a_run_not_signed_off_are_refused(two_supervisors):
    ran, second = two_supervisors
    person(1, date(1978, 5, 5))
    run = extraction.extract(FY, AS_OF, ran)
    for refused in (lambda: extraction.record_print(run.run_id, "letters", 1, 1, second),
                    lambda: extraction.record_download(run.run_id, "x.csv", b"x", 1, "委託先へ", "utf-8", {}, second)):
        with pytest.raises(extraction.NotSignedOff):
            refused()
    assert not models.AuditEvent.select().where(
        models.AuditEvent.action.in_((extraction.ACTION_PRINT, extraction.ACTION_EXPORT))).exists()


def test_the_person_who_ran_a_run_cannot_sign_it_off(two_supervisors):
    ran, second = two_supervisors
    person(1, date(1978, 5, 5))
    run = extraction.extract(FY, AS_OF, ran)
    with pytest.raises(Invalid) as refused:
        extraction.sign_off(run.run_id, True, ran)
    assert refused.value.errors == {"signoff": [extraction.OWN_RUN]}
    assert models.InvitationRun.get_by_id(run.run_id).signed_at is None


def test_sign_off_without_confirming_the_rules_and_counts_is_refused(two_supervisors):
    ran, second = two_supervisors
    person(1, date(1978, 5, 5))
    run = extraction.extract(FY, AS_OF, ran)
    with pytest.raises(Invalid) as refused:
        extraction.sign_off(run.run_id, False, second)
    assert refused.value.errors == {"confirmed": [extraction.NOT_CONFIRMED]}
    assert not models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_SIGNOFF).exists()


def test_a_second_person_signs_off_once_audited_then_printing_is_allowed(two_supervisors):
    ran, second = two_supervisors
    person(1, date(1978, 5, 5))
    run = extraction.extract(FY, AS_OF, ran)
    signed = extraction.sign_off(run.run_id, True, second)
    assert signed.signed_by_id == second.staff_id and signed.signed_at is not None
    event = models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_SIGNOFF).get()
    assert event.object_id == str(run.run_id)
    assert event.details["ran_by"] == ran.label
    assert event.details["rules_version"] == models.InvitationRun.get_by_id(run.run_id).rule_set.version
    assert event.details["count"] == run.invitations and event.details["fiscal_year"] == FY
    with pytest.raises(Invalid) as again:
        extraction.sign_off(run.run_id, True, second)
    assert again.value.errors == {"signoff": [extraction.ALREADY_SIGNED]}
    extraction.record_print(run.run_id, "letters", 1, 1, second)  # allowed now


def test_a_run_records_the_registry_it_read_and_counts_by_exam_sex_and_age_band(two_supervisors):
    from kenshin.core.dates import now_utc

    ran, second = two_supervisors
    batch = models.ImportBatch.create(kind="residents", file_name="jumin-20250331.csv", sha256="0" * 64,
                                      actor="pytest", at=now_utc(), counts={})
    person(1, date(1978, 5, 5))  # 47 at the end of 年度 2025: 45-49
    person(2, date(1960, 2, 1), sex=1)  # 66 (born before April: 年度末 age 66): 65-69
    person(3, date(1980, 6, 1))  # 45 in 年度 2025 (45-49), 44 in 年度 2024 (40-44)
    last_year = extraction.extract(FY - 1, date(2024, 4, 1), ran)
    run = extraction.extract(FY, AS_OF, ran)
    row = models.InvitationRun.get_by_id(run.run_id)
    assert row.registry_batch_id == batch.id and row.registry_at is not None
    assert row.rule_set.fiscal_year == FY and row.fiscal_year == FY and row.as_of == AS_OF
    bands = {(e, sx, b): n for e, sx, b, n in row.counts["by_band"]}
    assert bands[("breast", 2, "45-49")] == 2 and bands[("lung", 1, "65-69")] == 1
    assert sum(bands.values()) == run.invitations
    table = extraction.band_table(row)
    assert table["last_known"]
    lines = {(e, sx, b): (n, last) for e, sx, b, n, last in table["rows"]}
    assert lines[("lung", 1, "65-69")] == (1, 1)
    assert lines[("lung", 2, "45-49")] == (2, 1) and lines[("lung", 2, "40-44")] == (0, 1)
    assert last_year.invitations == sum(n for n, last in [(v[1], 0) for v in lines.values()])
