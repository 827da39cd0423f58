"""`flask --app app import-residents`: FORMATS.md "General rules" and "Resident extract", on both
databases, through the real command line; and the same import on the admins' screen."""
import hashlib
import io
import os
import random
import re
import time
from datetime import date, timedelta

import pytest

import models
from kenshin.imports import csvimport
from kenshin.core import dates
from kenshin.core.kana import normalize_kana

from .conftest import page_csrf

HEADER = ("atena_no,name,name_kana,sex,birth_date,postal_code,address,resident_since,"
          "removed_on,removal_reason")
SHORT_HEADER = "atena_no,name,name_kana,sex,birth_date,address"
PROBLEM = re.compile(r"^line (\d+), column ([^:]+): (.+)$")


def row(atena="1001", name="山田　太郎", kana="ヤマダ　タロウ", sex="1", birth="1982-04-01",
        postal="260-0001", address="千葉市中央区中央1-1-1", since="", removed="", reason=""):
    return ",".join((atena, name, kana, sex, birth, postal, address, since, removed, reason))


def write(tmp_path, lines_or_bytes, name="residents.csv", encoding="utf-8", ending="\n"):
    path = tmp_path / name
    if isinstance(lines_or_bytes, bytes):
        path.write_bytes(lines_or_bytes)
    else:
        path.write_bytes((ending.join(lines_or_bytes) + ending).encode(encoding))
    return path


def run(runner, path, *options):
    return runner.invoke(args=["import-residents", str(path), *options])


def problems(result) -> list[tuple[int, str]]:
    """(line, column) of each printed problem, in printed order."""
    found = []
    for line in result.output.splitlines():
        match = PROBLEM.match(line)
        if match:
            found.append((int(match[1]), match[2]))
    return found


def reasons(result) -> list[str]:
    return [PROBLEM.match(line)[3] for line in result.output.splitlines() if PROBLEM.match(line)]


def counts():
    return (models.Resident.select().count(), models.ResidentChange.select().count(),
            models.ImportBatch.select().count())


def import_events(action="import.residents"):
    return list(models.AuditEvent.select().where(models.AuditEvent.action == action)
                .order_by(models.AuditEvent.seq))


def resident(atena="1001"):
    return models.Resident.get(models.Resident.atena_no == atena)


TOMORROW_JST = (dates.today_jst() + timedelta(days=1)).isoformat()
TODAY_JST = dates.today_jst().isoformat()

# Each bad file: its lines after the header, and the (line, column) of every problem printed.
BAD_FILES = {
    "unknown column": ([HEADER + ",memo", row() + ",x"], [(1, "memo")]),
    "missing required column": (["atena_no,name,name_kana,sex,birth_date",
                                 "1001,山田　太郎,ヤマダ　タロウ,1,1982-04-01"], [(1, "address")]),
    "column named twice": ([SHORT_HEADER + ",name", "1,山田,ヤマダ,1,1982-04-01,住所,山田"], [(1, "name")]),
    "impossible 2023-02-29": ([HEADER, row(birth="2023-02-29")], [(2, "birth_date")]),
    "平成 ended on 4月30日": ([HEADER, row(birth="平成31年5月1日")], [(2, "birth_date")]),
    "昭和 began on 12月25日": ([HEADER, row(birth="昭和元年12月24日")], [(2, "birth_date")]),
    "令和0年": ([HEADER, row(birth="令和0年5月1日")], [(2, "birth_date")]),
    "month 13": ([HEADER, row(birth="1982-13-01")], [(2, "birth_date")]),
    "before the Gregorian calendar": ([HEADER, row(birth="明治5年12月31日")], [(2, "birth_date")]),
    "not a date": ([HEADER, row(birth="昭和の終わり")], [(2, "birth_date")]),
    "birth in the future (JST)": ([HEADER, row(birth=TOMORROW_JST)], [(2, "birth_date")]),
    "resident_since in the future": ([HEADER, row(since=TOMORROW_JST)], [(2, "resident_since")]),
    "removed_on in the future": ([HEADER, row(removed=TOMORROW_JST, reason="転出")], [(2, "removed_on")]),
    "kana with kanji": ([HEADER, row(kana="山田　タロウ")], [(2, "name_kana")]),
    "kana with latin": ([HEADER, row(kana="ヤマダ　Taro")], [(2, "name_kana")]),
    "kana with digits": ([HEADER, row(kana="ヤマダ　タロウ2")], [(2, "name_kana")]),
    "kana over 60": ([HEADER, row(kana="ア" * 61)], [(2, "name_kana")]),
    "atena_no of 16 digits": ([HEADER, row(atena="1234567890123456")], [(2, "atena_no")]),
    "atena_no with letters": ([HEADER, row(atena="12A4")], [(2, "atena_no")]),
    "atena_no blank": ([HEADER, row(atena="")], [(2, "atena_no")]),
    "duplicate atena_no: the later row": ([HEADER, row(), row(atena="1002"), row(name="別人")],
                                          [(4, "atena_no")]),
    "too few fields": ([HEADER, "1001,山田,ヤマダ,1,1982-04-01"], [(2, "-")]),
    "too many fields": ([HEADER, row() + ",extra"], [(2, "-")]),
    "sex 3": ([HEADER, row(sex="3")], [(2, "sex")]),
    "sex as a word": ([HEADER, row(sex="男")], [(2, "sex")]),
    "sex blank": ([HEADER, row(sex="")], [(2, "sex")]),
    "postal 6 digits": ([HEADER, row(postal="260-001")], [(2, "postal_code")]),
    "postal 8 digits": ([HEADER, row(postal="26000011")], [(2, "postal_code")]),
    "postal with letters": ([HEADER, row(postal="ABC-DEFG")], [(2, "postal_code")]),
    "name over 60": ([HEADER, row(name="山" * 61)], [(2, "name")]),
    "name blank": ([HEADER, row(name="")], [(2, "name")]),
    "address blank": ([HEADER, row(address="")], [(2, "address")]),
    "resident_since before birth": ([HEADER, row(since="1980-01-01")], [(2, "resident_since")]),
    "removed_on before birth": ([HEADER, row(removed="1980-01-01", reason="死亡")], [(2, "removed_on")]),
    "removed_on before resident_since": ([HEADER, row(since="2000-01-01", removed="1999-12-31")],
                                         [(2, "removed_on")]),
    "unknown removal reason": ([HEADER, row(removed="2020-01-01", reason="引越し")], [(2, "removal_reason")]),
    "reason with a blank removed_on": ([HEADER, row(reason="転出")], [(2, "removal_reason")]),
    "reason and no removed_on column, new person": (
        [SHORT_HEADER + ",removal_reason", "1001,山田,ヤマダ,1,1982-04-01,千葉市,転出"],
        [(2, "removal_reason")]),
    "every problem of every row": ([HEADER, row(sex="9", birth="2023-02-29"), row(atena="x", kana="Yamada")],
                                   [(2, "sex"), (2, "birth_date"), (3, "atena_no"), (3, "name_kana")]),
    "a cell's own problem and a rule between cells": ([HEADER, row(sex="x", reason="転出")],
                                                       [(2, "sex"), (2, "removal_reason")]),
    "an unreadable removed_on is not also a missing one": ([HEADER, row(removed="2020-02-30", reason="転出")],
                                                            [(2, "removed_on")]),
    "empty file": ([""], [(1, "-")]),
}


@pytest.mark.parametrize("lines, expected", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_prints_every_problem_and_writes_only_its_audit_event(app, db, runner, tmp_path,
                                                                       lines, expected):
    path = write(tmp_path, lines)
    before = counts()
    result = run(runner, path)
    assert result.exit_code == 1, result.output
    assert problems(result) == expected, result.output
    assert "Traceback" not in result.output
    assert counts() == before
    events = import_events()
    assert len(events) == 1
    event = events[0]
    assert event.outcome == "rejected"
    assert event.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.details["file"] == "residents.csv"
    assert event.details["problems"] == len(expected)
    assert event.actor_label.startswith("os:")


@pytest.mark.parametrize("column", ["個人番号", "kojin_no", "my_number", "MyNumber", "マイナンバー",
                                    "ＫＯＪＩＮ＿ＮＯ", "My Number", "個人番号（マイナンバー）"])
def test_individual_number_column_refuses_the_whole_file_and_says_why(app, db, runner, tmp_path, column):
    path = write(tmp_path, [HEADER + "," + column, row() + ",123456789012"])
    result = run(runner, path)
    assert result.exit_code == 1
    assert problems(result) == [(1, column)]
    assert "個人番号" in reasons(result)[0] and "持ちません" in reasons(result)[0]
    assert counts() == (0, 0, 0)
    assert [e.outcome for e in import_events()] == ["rejected"]


def test_record_number_is_the_physical_line_when_nothing_spans_lines(app, db, runner, tmp_path):
    lines = [HEADER, row(atena="1"), row(atena="2", sex="x"), "", row(atena="3"), row(atena="4", kana="A")]
    result = run(runner, write(tmp_path, lines, ending="\r\n"))
    # a blank line is a record (with nothing in it): the numbers stay the physical lines
    assert problems(result) == [(3, "sex"), (6, "name_kana")]


def test_record_number_after_a_quoted_field_spanning_lines(app, db, runner, tmp_path):
    spanning = '1,山田　太郎,ヤマダ　タロウ,1,1982-04-01,,"千葉市中央区中央1-1\n中央ハイツ101号",,,'
    lines = [HEADER, spanning, row(atena="2", sex="x"), row(atena="3", kana="B")]
    result = run(runner, write(tmp_path, lines))
    # records 3 and 4 start on physical lines 4 and 5: N is the record's number
    assert problems(result) == [(3, "sex"), (4, "name_kana")]


def test_a_problem_in_the_record_that_spans_lines_gets_its_own_number(app, db, runner, tmp_path):
    spanning = '1,山田　太郎,ヤマダ　タロウ,7,1982-04-01,,"千葉市中央区\n中央1-1",,,'
    result = run(runner, write(tmp_path, [HEADER, row(atena="9"), spanning]))
    assert problems(result) == [(3, "sex")]


def test_address_on_two_lines_is_joined_with_a_full_width_space(app, db, runner, tmp_path):
    spanning = '1,山田　太郎,ヤマダ　タロウ,1,1982-04-01,,"千葉市中央区中央1-1\r\n中央ハイツ101号",,,'
    result = run(runner, write(tmp_path, [HEADER, spanning]))
    assert result.exit_code == 0, result.output
    assert resident("1").address == "千葉市中央区中央1-1　中央ハイツ101号"


def test_unterminated_quote_is_a_problem_of_the_record_where_it_starts(app, db, runner, tmp_path):
    lines = [HEADER, row(atena="1"), '2,山田,ヤマダ,1,1982-04-01,,"千葉市,,,', row(atena="3")]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 1
    assert problems(result) == [(3, "-")]


def test_undecodable_bytes_name_their_line(app, db, runner, tmp_path):
    data = (HEADER + "\n" + row(atena="1") + "\n").encode() + b"2,\xff\xfe,\xe3\x82,1,1982-04-01,,x,,,\n" \
        + (row(atena="3") + "\n").encode()
    result = run(runner, write(tmp_path, data))
    assert result.exit_code == 1
    assert problems(result) == [(3, "-")]
    assert counts() == (0, 0, 0)


def test_cp932_file_is_read_with_the_option_and_refused_without_it(app, db, runner, tmp_path):
    lines = [HEADER, row(name="髙橋　花子", kana="ﾀｶﾊｼ ﾊﾅｺ", sex="2"), row(atena="1002", address="千葉市稲毛区")]
    path = write(tmp_path, lines, encoding="cp932", ending="\r\n")
    refused = run(runner, path)
    assert refused.exit_code == 1
    assert problems(refused) == [(2, "-"), (3, "-")]
    assert "--encoding cp932" in reasons(refused)[0]
    accepted = run(runner, path, "--encoding", "cp932")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.strip() == "new=2 changed=0 removed=0 unchanged=0"
    assert resident("1001").name == "髙橋　花子"
    assert resident("1001").name_kana == "タカハシ　ハナコ"
    assert [e.outcome for e in import_events()] == ["rejected", "accepted"]


def test_utf8_bom_is_allowed(app, db, runner, tmp_path):
    path = write(tmp_path, csvimport.BOM + (HEADER + "\r\n" + row() + "\r\n").encode())
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert resident().name == "山田　太郎"


@pytest.mark.parametrize("option", [["--encoding", "latin9"], ["--encoding", "shift-jis"], ["--bogus"]])
def test_wrong_option_exits_2_with_the_reason(app, db, runner, tmp_path, option):
    result = run(runner, write(tmp_path, [HEADER, row()]), *option)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert counts() == (0, 0, 0)


def test_file_that_cannot_be_opened_exits_2(app, db, runner, tmp_path):
    missing = run(runner, tmp_path / "no-such-file.csv")
    assert missing.exit_code == 2
    assert "ファイルがありません" in missing.output
    directory = run(runner, tmp_path)
    assert directory.exit_code == 2
    assert counts() == (0, 0, 0)
    assert [e.outcome for e in import_events()] == ["rejected", "rejected"]


def test_accepted_file_stores_every_item_in_its_normal_form(app, db, runner, tmp_path):
    lines = [HEADER,
             row(atena="0000012345", name=" 渡邊 一郎 ", kana="わたなべ いちろう", birth="S57.4.1",
                 postal="2600001", since="昭和57年4月1日", address="千葉市中央区1-1"),
             row(atena="12345", kana="ｽﾐｽ･ｼﾞｮﾝ", sex="２", birth="１９９０－０１－０２", postal="２６０－０００２",
                 since="H2.1.2", removed="R7.4.1", reason="転出")]
    result = run(runner, write(tmp_path, lines))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "new=2 changed=0 removed=0 unchanged=0"
    first = resident("0000012345")  # leading zeros count: a different person from 12345
    assert (first.name, first.name_kana, first.sex) == ("渡邊 一郎", "ワタナベ　イチロウ", 1)
    assert first.birth_date == date(1982, 4, 1) and first.resident_since == date(1982, 4, 1)
    assert first.postal_code == "260-0001"
    assert first.kana_key == "ワタナベイチロウ" and first.name_key == "渡辺一郎"
    second = resident("12345")
    assert (second.name_kana, second.sex, second.postal_code) == ("スミス・ジョン", 2, "260-0002")
    assert second.birth_date == date(1990, 1, 2)
    assert (second.removed_on, second.removal_reason) == (date(2025, 4, 1), "転出")


@pytest.mark.parametrize("text, expected", [
    ("1982-04-01", date(1982, 4, 1)), ("1982/04/01", date(1982, 4, 1)), ("1982/4/1", date(1982, 4, 1)),
    ("19820401", date(1982, 4, 1)), ("令和7年4月1日", date(2025, 4, 1)), ("R7.4.1", date(2025, 4, 1)),
    ("H31.4.30", date(2019, 4, 30)), ("S57.04.01", date(1982, 4, 1)), ("T15.1.1", date(1926, 1, 1)),
    ("M45.7.29", date(1912, 7, 29)), ("令和元年5月1日", date(2019, 5, 1)), ("s57.4.1", date(1982, 4, 1)),
    ("Ｓ５７．４．１", date(1982, 4, 1)), ("明治6年1月1日", date(1873, 1, 1)),
])
def test_every_date_form_of_formats_is_read(app, db, runner, tmp_path, text, expected):
    result = run(runner, write(tmp_path, [HEADER, row(birth=text)]))
    assert result.exit_code == 0, result.output
    assert resident().birth_date == expected


def test_today_in_japan_is_not_the_future_whatever_the_server_zone(app, db, runner, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Honolulu")  # 19 hours behind Japan
    time.tzset()
    try:
        today = dates.today_jst()
        ok = run(runner, write(tmp_path, [HEADER, row(birth=today.isoformat(), since=today.isoformat())]))
        assert ok.exit_code == 0, ok.output
        late = run(runner, write(tmp_path, [HEADER, row(atena="2", birth=(today + timedelta(days=1)).isoformat())],
                                 name="b.csv"))
        assert problems(late) == [(2, "birth_date")]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_same_file_again_changes_nothing_and_says_so(app, db, runner, tmp_path):
    path = write(tmp_path, [HEADER, row(atena="1"), row(atena="2", removed="2024-01-01", reason="死亡"),
                            row(atena="3", postal="2600003")])
    assert run(runner, path).output.strip() == "new=3 changed=0 removed=0 unchanged=0"
    before = counts()
    stamps = [r.updated_at for r in models.Resident.select().order_by(models.Resident.id)]
    again = run(runner, path)
    assert again.exit_code == 0
    assert again.output.strip() == "new=0 changed=0 removed=0 unchanged=3"
    assert counts() == before
    assert [r.updated_at for r in models.Resident.select().order_by(models.Resident.id)] == stamps
    assert [e.outcome for e in import_events()] == ["accepted", "accepted"]
    assert import_events()[1].details["counts"] == {"new": 0, "changed": 0, "removed": 0, "unchanged": 3}


def test_postal_code_forms_are_the_same_value(app, db, runner, tmp_path):
    run(runner, write(tmp_path, [HEADER, row(postal="260-0001")]))
    again = run(runner, write(tmp_path, [HEADER, row(postal="2600001", kana="やまだ たろう")], name="b.csv"))
    assert again.output.strip() == "new=0 changed=0 removed=0 unchanged=1"


def test_summary_counts_each_row_once_by_the_rules(app, db, runner, tmp_path):
    first = [HEADER, row(atena="1"), row(atena="2"), row(atena="3"), row(atena="4"),
             row(atena="5", removed="2024-01-01", reason="転出")]
    # a new person who arrives already removed counts as new
    assert run(runner, write(tmp_path, first)).output.strip() == "new=5 changed=0 removed=0 unchanged=0"
    second = [HEADER,
              row(atena="1"),  # unchanged
              row(atena="2", address="千葉市美浜区1-1"),  # changed
              row(atena="3", removed="2025-01-10", reason="死亡", address="千葉市緑区"),  # removed (+ address)
              row(atena="5", removed="2024-02-01", reason="転出"),  # another 消除日: changed, not removed
              row(atena="6", removed="2025-01-01", reason="転出")]  # new, already removed
    result = run(runner, write(tmp_path, second, name="second.csv"))
    assert result.output.strip() == "new=1 changed=2 removed=1 unchanged=1", result.output
    changes = {(c.resident.atena_no, c.item): (c.before, c.after)
               for c in models.ResidentChange.select().join(models.Resident)}
    assert changes == {
        ("2", "address"): ("千葉市中央区中央1-1-1", "千葉市美浜区1-1"),
        ("3", "removed_on"): (None, "2025-01-10"),
        ("3", "removal_reason"): (None, "死亡"),
        ("3", "address"): ("千葉市中央区中央1-1-1", "千葉市緑区"),
        ("5", "removed_on"): ("2024-01-01", "2024-02-01"),
    }
    batch = models.ImportBatch.get(models.ImportBatch.file_name == "second.csv")
    assert all(c.batch_id == batch.id for c in models.ResidentChange.select())
    assert batch.counts == {"new": 1, "changed": 2, "removed": 1, "unchanged": 1}
    assert resident("4").removed_on is None  # nobody is deleted or removed by being left out
    assert models.Resident.select().count() == 6


def test_optional_column_left_out_keeps_the_value_and_a_blank_cell_clears_it(app, db, runner, tmp_path):
    run(runner, write(tmp_path, [HEADER, row(postal="260-0001", since="2000-01-01")]))
    left_out = run(runner, write(tmp_path, [SHORT_HEADER, "1001,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1"],
                                 name="b.csv"))
    assert left_out.output.strip() == "new=0 changed=0 removed=0 unchanged=1", left_out.output
    assert resident().postal_code == "260-0001" and resident().resident_since == date(2000, 1, 1)
    blank = run(runner, write(tmp_path, [HEADER, row(postal="", since="2000-01-01")], name="c.csv"))
    assert blank.output.strip() == "new=0 changed=1 removed=0 unchanged=0"
    assert resident().postal_code is None
    change = models.ResidentChange.get()
    assert (change.item, change.before, change.after) == ("postal_code", "260-0001", None)
    assert change.batch.file_name == "c.csv"


def test_reason_needs_a_removed_on_on_the_row_or_on_the_stored_record(app, db, runner, tmp_path):
    run(runner, write(tmp_path, [HEADER, row(atena="1"), row(atena="2", removed="2024-05-01")]))
    lines = [SHORT_HEADER + ",removal_reason",
             "1,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1,転出",
             "2,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1,転出"]
    result = run(runner, write(tmp_path, lines, name="b.csv"))
    assert problems(result) == [(2, "removal_reason")]  # person 1 has no stored 消除日; person 2 has
    fixed = run(runner, write(tmp_path, [lines[0], lines[2]], name="c.csv"))
    assert fixed.output.strip() == "new=0 changed=1 removed=0 unchanged=0"
    assert resident("2").removal_reason == "転出"


def test_clearing_removed_on_while_the_stored_reason_stays_is_an_error(app, db, runner, tmp_path):
    run(runner, write(tmp_path, [HEADER, row(removed="2024-05-01", reason="転出")]))
    lines = [SHORT_HEADER + ",removed_on", "1001,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1,"]
    assert problems(run(runner, write(tmp_path, lines, name="b.csv"))) == [(2, "removed_on")]
    back = run(runner, write(tmp_path, [HEADER, row()], name="c.csv"))  # a return: both cleared
    assert back.output.strip() == "new=0 changed=1 removed=0 unchanged=0"
    assert (resident().removed_on, resident().removal_reason) == (None, None)


def test_dates_are_checked_against_stored_values_of_left_out_columns(app, db, runner, tmp_path):
    run(runner, write(tmp_path, [HEADER, row(since="2010-01-01")]))
    lines = [SHORT_HEADER + ",removed_on", "1001,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1,2009-12-31"]
    assert problems(run(runner, write(tmp_path, lines, name="b.csv"))) == [(2, "removed_on")]


def test_accepted_import_is_audited_once_with_file_checksum_and_counts(app, db, runner, tmp_path):
    path = write(tmp_path, [HEADER, row()])
    run(runner, path)
    [event] = import_events()
    assert event.outcome == "accepted" and event.actor_label.startswith("os:")
    assert event.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.details["counts"] == {"new": 1, "changed": 0, "removed": 0, "unchanged": 0}
    assert event.details["batch"] == models.ImportBatch.get().id
    assert "山田" not in str(event.details)


def test_header_only_file_is_valid_and_changes_nothing(app, db, runner, tmp_path):
    result = run(runner, write(tmp_path, [HEADER]))
    assert result.exit_code == 0
    assert result.output.strip() == "new=0 changed=0 removed=0 unchanged=0"


def test_garbage_never_crashes_the_command(app, db, runner, tmp_path):
    rng = random.Random(4)
    pieces = [HEADER, row(), '"', '""', ",", "\r", "\n", "\x00", "ア", "\ufeff", "令和", "\u3000", "1001",
              "2023-02-29", "\\", "'", ";", "\t"]
    for n in range(25):
        if n % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
        else:
            data = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 60))).encode("utf-8", "surrogatepass")
            data = (HEADER + "\n").encode() + data
        path = write(tmp_path, data, name=f"fuzz{n}.csv")
        for options in ([], ["--encoding", "cp932"]):
            result = run(runner, path, *options)
            assert result.exit_code in (0, 1), (n, options, result.output, result.exception)
            assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
            if result.exit_code == 1:
                assert problems(result), result.output
                assert all(PROBLEM.match(line) for line in result.output.splitlines()), result.output


def test_kana_fast_path_agrees_with_normalize_kana():
    samples = ["ヤマダ　タロウ", "ヤマダ　　タロウ", "ヴァイオリン", "ー", "・", "ヤマダ・ー", "ミスヾ",
               "ヤマダ\u3000", "\u3000ヤマダ", "ア" * 60, "ア" * 61, "ヷヸヹヺ", "ヤマダ　タロウ　ジロウ"]
    for text in samples:
        try:
            expected = normalize_kana(text)
        except ValueError:
            expected = None
        try:
            got = csvimport.kana(text)
        except csvimport.CellError:
            got = None
        assert got == expected, text


# --- the screen ---------------------------------------------------------------------------------

def _upload(client, content: bytes, name="residents.csv", encoding="utf-8"):
    token = page_csrf(client, "/imports/residents")
    return client.post("/imports/residents/preview", data={
        "csrf_token": token, "encoding": encoding, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data")


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html)[1]


@pytest.mark.parametrize("role", ["admin", "maintainer"])
def test_screen_previews_counts_then_confirm_imports_the_same_file(app, db, client, login_as, role):
    _, person = login_as(role)
    content = (HEADER + "\n" + row() + "\n" + row(atena="1002") + "\n").encode()
    preview = _upload(client, content)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "まだ登録していません" in html
    # a maintainer's preview checks the file alone (issue 12, finding 5)
    assert (">2人<" if role == "admin" else "ファイルの2行に問題はありません") in html
    assert counts() == (0, 0, 0)
    token = _token(html)
    stored = os.path.join(app.instance_path, "uploads", token + ".csv")
    assert os.path.exists(stored)
    confirm = client.post("/imports/residents/confirm", data={"csrf_token": page_csrf(client), "token": token})
    assert confirm.status_code == 303
    assert models.Resident.select().count() == 2
    assert not os.path.exists(stored)
    [event] = import_events()
    assert event.outcome == "accepted" and event.actor_id == person.staff.id
    assert event.details["sha256"] == hashlib.sha256(content).hexdigest()
    assert [e.outcome for e in import_events("import.residents.preview")] == ["ok"]
    again = client.post("/imports/residents/confirm", data={"csrf_token": page_csrf(client), "token": token})
    assert again.status_code == 404  # used once


def test_screen_shows_every_problem_and_writes_nothing(app, db, client, login_as):
    login_as("admin")
    content = (HEADER + "\n" + row(sex="3") + "\n" + row(atena="x") + "\n").encode()
    preview = _upload(client, content)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 422
    assert "2行目 性別:" in html and "3行目 宛名番号:" in html and "line 2, column" not in html
    assert 'name="token"' not in html
    assert counts() == (0, 0, 0)
    assert [e.outcome for e in import_events()] == ["rejected"]


def test_screen_reads_cp932_when_told(app, db, client, login_as):
    login_as("maintainer")
    content = (HEADER + "\r\n" + row(name="齋藤　一", kana="ｻｲﾄｳ ﾊｼﾞﾒ") + "\r\n").encode("cp932")
    html = _upload(client, content, encoding="cp932").get_data(as_text=True)
    client.post("/imports/residents/confirm", data={"csrf_token": page_csrf(client), "token": _token(html)})
    assert resident().name == "齋藤　一"


def test_screen_upload_belongs_to_its_uploader(app, db, client, login_as, make_staff):
    login_as("admin")
    html = _upload(client, (HEADER + "\n" + row() + "\n").encode()).get_data(as_text=True)
    token = _token(html)
    other = app.test_client()
    from .conftest import login
    assert login(other, make_staff("admin")).get_json()["ok"]
    stolen = other.post("/imports/residents/confirm", data={"csrf_token": page_csrf(other), "token": token})
    assert stolen.status_code == 404
    assert counts() == (0, 0, 0)
    cancel = client.post("/imports/residents/cancel", data={"csrf_token": page_csrf(client), "token": token})
    assert cancel.status_code == 303
    assert not os.path.exists(os.path.join(app.instance_path, "uploads", token + ".csv"))


# --- 団体内統合宛名番号 (togo_atena_no), the optional column for provision ----------------------------

TOGO_HEADER = SHORT_HEADER + ",togo_atena_no"


def togo_row(atena, togo, name="山田　太郎"):
    return f"{atena},{name},ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1,{togo}"


def togo_of(atena):
    return models.Resident.get(models.Resident.atena_no == atena).togo_atena_no


def test_togo_atena_no_is_optional_unique_and_kept_as_history(app, db, runner, tmp_path):
    first = run(runner, write(tmp_path, [TOGO_HEADER, togo_row("1001", "０００１２３"),
                                         togo_row("1002", "")]))
    assert (first.exit_code, first.output.strip()) == (0, "new=2 changed=0 removed=0 unchanged=0")
    assert (togo_of("1001"), togo_of("1002")) == ("000123", None)
    # left out of the header: the stored value stays
    short = run(runner, write(tmp_path, [SHORT_HEADER, "1001,山田　太郎,ヤマダ　タロウ,1,1982-04-01,千葉市中央区中央1-1-1"],
                              name="short.csv"))
    assert short.output.strip() == "new=0 changed=0 removed=0 unchanged=1" and togo_of("1001") == "000123"
    # bad cells, a repeat within the file, a number another stored person holds
    bad = run(runner, write(tmp_path, [TOGO_HEADER, togo_row("1003", "1234567890123456"),
                                       togo_row("1004", "12a"), togo_row("1005", "777"),
                                       togo_row("1006", "777"), togo_row("1002", "000123")],
                            name="bad.csv"))
    assert bad.exit_code == 1
    assert problems(bad) == [(2, "togo_atena_no"), (3, "togo_atena_no"), (5, "togo_atena_no"),
                             (6, "togo_atena_no")]
    assert "団体内統合宛名番号は1〜15桁の数字です" in reasons(bad)[0]
    assert "1001" in reasons(bad)[3]
    assert models.Resident.select().count() == 2
    # moving a number from one person to another in one file is fine; a blank cell clears
    moved = run(runner, write(tmp_path, [TOGO_HEADER, togo_row("1001", ""), togo_row("1002", "000123")],
                              name="moved.csv"))
    assert moved.output.strip() == "new=0 changed=2 removed=0 unchanged=0"
    assert (togo_of("1001"), togo_of("1002")) == (None, "000123")
    history = [(c.item, c.before, c.after) for c in models.ResidentChange.select()
               .where(models.ResidentChange.item == "togo_atena_no").order_by(models.ResidentChange.id)]
    assert history == [("togo_atena_no", "000123", None), ("togo_atena_no", None, "000123")]
