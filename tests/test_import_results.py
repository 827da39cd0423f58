"""`flask --app app import-results PATH` exactly as FORMATS.md "Screening results" says."""
import csv
import io
from datetime import date, timedelta

import pytest

import models
from kenshin.screening import catalogue
from kenshin.screening import matching
from kenshin.core.dates import today_jst

from .factories import INSTITUTION, VALID_ITEMS, issue_seiri, make_institution, make_resident

COMMON = ["seiri_no", "atena_no", "name", "name_kana", "birth_date", "sex", "exam", "exam_date",
          "institution_code", "setting"]


def row(exam="colorectal", items=None, **common):
    values = {"seiri_no": "", "atena_no": "000000000001", "name": "千葉 花子",
              "name_kana": "チバ ハナコ", "birth_date": "1960-05-10", "sex": "2", "exam": exam,
              "exam_date": "2025-06-02", "institution_code": INSTITUTION, "setting": "1"}
    values.update(VALID_ITEMS[exam] if items is None else items)
    values.update(common)
    return values


def csv_text(rows, columns=None):
    columns = columns or list(dict.fromkeys(COMMON + [k for r in rows for k in r]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c, "") for c in columns})
    return out.getvalue()


def write(tmp_path, rows_or_text, name="results.csv", encoding="utf-8", columns=None):
    text = rows_or_text if isinstance(rows_or_text, str) else csv_text(rows_or_text, columns)
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def run(runner, path, *options):
    return runner.invoke(args=["import-results", path, *options])


def import_events():
    return list(models.AuditEvent.select().where(models.AuditEvent.action == "import.results"))


@pytest.fixture
def people(db):
    make_institution()
    woman = make_resident()
    man = make_resident(atena_no="000000000002", name="千葉 太郎", kana="チバ タロウ", sex=1,
                        birth=date(1958, 8, 8))
    return woman, man


def test_every_exam_is_recorded_from_a_file_as_confirmed(runner, people, tmp_path):
    woman, _ = people
    rows = [row(exam) for exam in catalogue.EXAMS]
    result = run(runner, write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"recorded={len(rows)} queued=0 duplicates=0"
    stored = list(models.Screening.select())
    assert len(stored) == len(rows)
    assert {s.source for s in stored} == {"file"} and {s.status for s in stored} == {"confirmed"}
    xray = models.Screening.get(exam="gastric_xray")
    assert xray.items["referral"] == "1" and xray.referral and xray.age == 65 and xray.fiscal_year == 2025
    assert xray.resident_id == woman.id and xray.batch_id is not None
    (event,) = import_events()
    assert event.outcome == "accepted"
    assert event.details["counts"]["recorded"] == len(rows)
    assert "3a" not in str(event.details)


def test_rows_that_do_not_match_are_queued_with_their_reason(runner, people, tmp_path):
    rows = [
        row(atena_no=""),  # no identifier
        row(atena_no="999"),  # unknown
        row(birth_date="1960-05-11"),  # disagreement
        row(seiri_no="1000009991"),  # until invitations exist no 整理番号 matches
    ]
    result = run(runner, write(tmp_path, rows))
    assert result.output.strip() == "recorded=0 queued=4 duplicates=0"
    reasons = [q.reason for q in models.QueueItem.select().order_by(models.QueueItem.line_no)]
    assert reasons == [matching.NO_IDENTIFIER, matching.UNKNOWN_ATENA,
                       "住民記録と一致しません（生年月日）", matching.UNKNOWN_SEIRI]
    assert [q.line_no for q in models.QueueItem.select().order_by(models.QueueItem.line_no)] == [2, 3, 4, 5]
    assert not models.Screening.select().exists()


def test_seiri_no_matches_once_issued(runner, people, tmp_path):
    woman, _ = people
    issue_seiri(woman, "1000000016")
    result = run(runner, write(tmp_path, [row(atena_no="", seiri_no="1000000016")]))
    assert result.output.strip() == "recorded=1 queued=0 duplicates=0"


def test_same_file_again_is_all_duplicates(runner, people, tmp_path):
    path = write(tmp_path, [row(), row("lung"), row(atena_no="")])
    assert run(runner, path).output.strip() == "recorded=2 queued=1 duplicates=0"
    again = run(runner, path)
    assert again.exit_code == 0 and again.output.strip() == "recorded=0 queued=0 duplicates=3"
    assert models.Screening.select().count() == 2 and models.QueueItem.select().count() == 1
    assert len(import_events()) == 2


def test_duplicates_with_different_values_are_counted_for_correction_on_screen(runner, people, tmp_path):
    run(runner, write(tmp_path, [row(), row("lung"), row("breast"), row(atena_no="")]))
    changed = [row(items={"fobt_result": "negative"}),  # items differ
               row("lung", setting="2"),  # setting differs
               row("breast"),  # same
               row(atena_no="", items={"fobt_result": "negative"})]  # waiting in the queue, differs
    result = run(runner, write(tmp_path, changed, "again.csv"))
    assert result.exit_code == 0
    assert result.output.strip() == \
        "recorded=0 queued=0 duplicates=4 (3 with different values: correct them on screen)"
    assert models.Screening.get(exam="colorectal").items["fobt_result"] == "positive"


def test_a_voided_record_can_come_again_from_a_file(runner, people, tmp_path):
    path = write(tmp_path, [row()])
    run(runner, path)
    models.Screening.update(status="void").execute()
    assert run(runner, path).output.strip() == "recorded=1 queued=0 duplicates=0"


def test_queued_rows_are_not_duplicates_once_resolved(runner, people, tmp_path):
    path = write(tmp_path, [row(atena_no="")])
    run(runner, path)
    models.QueueItem.update(status="rejected").execute()
    assert run(runner, path).output.strip() == "recorded=0 queued=1 duplicates=0"


def bad(exam="colorectal", items=None, **common):
    return row(exam, items, **common)


TOMORROW = (today_jst() + timedelta(days=1)).isoformat()

BAD_ROWS = [
    # (rows, expected line prefixes)
    ([bad(items={**VALID_ITEMS["colorectal"], "xray_category": "1"})],
     ["line 2, column xray_category: "]),  # a column of another exam must be blank
    ([bad("breast", sex="1", name_kana="チバ タロウ", atena_no="000000000002", birth_date="1958-08-08")],
     ["line 2, column sex: "]),  # women-only exam for sex 1
    ([bad("gastric_xray", items={"xray_category": "3a", "xray_findings": "", "referral": "0"})],
     ["line 2, column referral: 判定区分3a以上は要精検(1)です"]),
    ([bad(institution_code="9999999999")], ["line 2, column institution_code: "]),
    ([bad(institution_code="12345")], ["line 2, column institution_code: "]),
    ([bad(exam="mri", items={})], ["line 2, column exam: "]),
    ([bad(exam_date=TOMORROW)], ["line 2, column exam_date: "]),
    ([bad(exam_date="1950-01-01")], ["line 2, column exam_date: 受診日が生年月日より前です"]),
    ([bad(exam_date="2023-02-29")], ["line 2, column exam_date: "]),
    ([bad(birth_date="平成31年5月1日")], ["line 2, column birth_date: "]),
    ([bad(name_kana="千葉")], ["line 2, column name_kana: "]),
    ([bad(sex="男")], ["line 2, column sex: "]),
    ([bad(setting="3")], ["line 2, column setting: "]),
    ([bad(atena_no="12a")], ["line 2, column atena_no: "]),
    ([bad(items={"fobt_result": ""})], ["line 2, column fobt_result: 必須です"]),
    ([bad("osteoporosis", items={**VALID_ITEMS["osteoporosis"], "fracture_history": "1"})],
     ["line 2, column fracture_site: "]),
    ([bad("osteoporosis", items={**VALID_ITEMS["osteoporosis"], "bone_density": "20"})],
     ["line 2, column bone_density: "]),
    ([bad("cervical", items={"symptoms": "0", "referral": ""})], ["line 2, column referral: 必須です"]),
    ([bad("followup", items={"target": "liver"})], ["line 2, column target: "]),
    # a key repeated within the file: the later row is the invalid one
    ([bad(), bad(atena_no="000000000001", name="千葉　花子")], ["line 3, column -: "]),
    ([bad(atena_no=""), bad(atena_no="", fobt_result="negative")], ["line 3, column -: "]),
    # every problem of every row, in line order
    ([bad(sex="9"), bad(), bad(exam_date="x", setting="")],
     ["line 2, column sex: ", "line 4, column exam_date: ", "line 4, column setting: "]),
]


@pytest.mark.parametrize("rows, expected", BAD_ROWS)
def test_bad_rows_reject_the_whole_file(runner, people, tmp_path, rows, expected):
    result = run(runner, write(tmp_path, rows))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(expected), lines
    for line, start in zip(lines, expected):
        assert line.startswith(start), (line, start)
    assert not models.Screening.select().exists()
    assert not models.QueueItem.select().exists()
    assert not models.ImportBatch.select().exists()
    (event,) = import_events()
    assert event.outcome == "rejected"


BAD_TEXT = [
    ("exam,exam_date\ncolorectal,2025-06-02\n", "line 1, column birth_date: 必須の列が見出しにありません"),
    (csv_text([row()]).replace("fobt_result", "fobt_reslt"), "line 1, column fobt_reslt: "),
    (csv_text([row()]).replace("seiri_no", "my_number"), "line 1, column my_number: 個人番号"),
    (csv_text([row()]).rstrip("\n") + ",extra\n", "line 2, column -: "),
]


@pytest.mark.parametrize("text, first", BAD_TEXT)
def test_bad_headers_and_shapes(runner, people, tmp_path, text, first):
    result = run(runner, write(tmp_path, text))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith(first), result.output
    assert len(import_events()) == 1 and not models.Screening.select().exists()


def test_required_items_of_an_exam_left_out_of_the_header_are_reported_per_row(runner, people, tmp_path):
    columns = COMMON  # no item column at all
    result = run(runner, write(tmp_path, [row(), row("hepatitis")], columns=columns))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "line 2, column fobt_result: 必須です",
        "line 3, column hbs_antigen: 必須です",
        "line 3, column hcv_judgement: 必須です",
        "line 3, column surgery_history: 必須です",
    ]


def test_cp932_with_wareki_dates_and_half_width_kana(runner, people, tmp_path):
    rows = [row(birth_date="S35.5.10", exam_date="令和7年6月2日", name_kana="ﾁﾊﾞ ﾊﾅｺ")]
    path = write(tmp_path, rows, encoding="cp932")
    assert run(runner, path).exit_code == 1
    result = run(runner, path, "--encoding", "cp932")
    assert result.output.strip() == "recorded=1 queued=0 duplicates=0"


def test_unopenable_file_exits_2_and_is_audited(runner, people, tmp_path):
    result = run(runner, str(tmp_path / "missing.csv"))
    assert result.exit_code == 2
    (event,) = import_events()
    assert event.outcome == "rejected"


# --- issue 13: repeated rows, codes that clinics write, 精密検査 without 検診種別 ------------------

def test_an_exact_repeat_within_the_file_is_a_duplicate_not_an_error(runner, people, tmp_path):
    rows = [row(), row(), row(atena_no=""), row(atena_no=""), row("lung")]
    result = run(runner, write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "recorded=2 queued=1 duplicates=2"
    assert models.Screening.select().count() == 2 and models.QueueItem.select().count() == 1
    (event,) = import_events()
    assert event.details["counts"]["duplicates"] == 2


def test_a_repeat_with_a_different_cell_is_an_error_on_the_later_line_only(runner, people, tmp_path):
    rows = [row(), row("lung"), row(items={"fobt_result": "negative"}), row("lung", setting="2")]
    result = run(runner, write(tmp_path, rows))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 4, column -", "line 5, column -"]
    assert "ほかの値が違います" in lines[0] and "line 2" not in result.output
    assert not models.Screening.select().exists()


@pytest.mark.parametrize("exam, items", [
    ("colorectal", {"fobt_result": "undetermined", "referral": ""}),
    ("colorectal", {"fobt_result": "undetermined", "referral": "0"}),
    ("lung", {"symptoms": "0", "xray_grade": "A", "sputum_class": "", "referral": ""}),
    ("lung", {"symptoms": "0", "xray_grade": "B", "sputum_class": "C", "referral": "0"}),
    ("breast", {"mammography_category": "N", "referral": ""}),
    ("gastric_xray", {"xray_category": "0", "referral": ""}),
])
def test_undeterminable_results_import_with_referral_blank_or_0(runner, people, tmp_path, exam, items):
    result = run(runner, write(tmp_path, [row(exam, items=items)]))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "recorded=1 queued=0 duplicates=0"
    stored = models.Screening.get()
    assert stored.referral is False and stored.items["referral"] == "0"


def test_undeterminable_result_with_referral_1_is_refused(runner, people, tmp_path):
    result = run(runner, write(tmp_path, [row(items={"fobt_result": "undetermined", "referral": "1"})]))
    assert result.exit_code == 1
    assert result.output.startswith("line 2, column referral: ")


def test_periodontal_cpi_x_for_a_person_without_teeth(runner, people, tmp_path):
    items = {**VALID_ITEMS["periodontal"], "cpi_bleeding": "X", "cpi_pocket": "x"}
    result = run(runner, write(tmp_path, [row("periodontal", items=items)]))
    assert result.exit_code == 0, result.output
    stored = models.Screening.get()
    assert stored.items["cpi_bleeding"] == "X" and stored.items["cpi_pocket"] == "X"


def test_followup_rows_need_no_setting(runner, people, tmp_path):
    rows = [row("followup", setting=""), row("periodontal_followup", setting="")]
    result = run(runner, write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert {s.setting for s in models.Screening.select()} == {0}
    # a file of 精密検査 only may leave the column out; other rows may not
    columns = [c for c in COMMON if c != "setting"] + ["target"]
    only = run(runner, write(tmp_path, [row("followup", exam_date="2025-07-01")], "f.csv", columns=columns))
    assert only.output.strip() == "recorded=1 queued=0 duplicates=0"
    other = run(runner, write(tmp_path, [row(exam_date="2025-07-01")], "c.csv",
                              columns=columns[:-1] + ["fobt_result"]))
    assert other.exit_code == 1 and other.output.startswith("line 2, column setting: ")
    blank = run(runner, write(tmp_path, [row(exam_date="2025-07-02", setting="")], "d.csv"))
    assert blank.output.startswith("line 2, column setting: 必須です")


@pytest.mark.parametrize("exam, items, column", [
    ("followup", {"target": "cervical"}, "target"),
    ("followup", {"target": "breast"}, "target"),
    ("periodontal", {**VALID_ITEMS["periodontal"], "pregnancy": "1"}, "pregnancy"),
])
def test_women_only_items_are_refused_for_a_man(runner, people, tmp_path, exam, items, column):
    result = run(runner, write(tmp_path, [row(exam, items=items, atena_no="000000000002",
                                              name="千葉 太郎", name_kana="チバ タロウ",
                                              birth_date="1958-08-08", sex="1")]))
    assert result.exit_code == 1
    assert result.output.startswith(f"line 2, column {column}: ")
