"""`flask --app app import-institutions PATH` exactly as FORMATS.md says."""
import pytest

import models

HEADER = "institution_code,name,postal_code,address,phone,active\n"


def write(tmp_path, text, name="institutions.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def run(runner, path, *options):
    return runner.invoke(args=["import-institutions", path, *options])


def events(outcome=None):
    query = models.AuditEvent.select().where(models.AuditEvent.action == "import.institutions")
    if outcome:
        query = query.where(models.AuditEvent.outcome == outcome)
    return list(query)


def test_new_institutions_are_registered_active_with_history(runner, db, tmp_path):
    path = write(tmp_path, HEADER + "1234567890,千葉中央クリニック,2600013,千葉市中央区中央1-1,043-000-0000,\n"
                                    "2234567890,稲毛検診センター,,,,0\n")
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "new=2 changed=0 unchanged=0"
    first = models.Institution.get(code="1234567890")
    assert first.active and first.postal_code == "260-0013" and first.phone == "043-000-0000"
    assert not models.Institution.get(code="2234567890").active
    assert models.InstitutionChange.select().where(models.InstitutionChange.item == "name").count() == 2
    (event,) = events("accepted")
    assert event.details["counts"] == {"new": 2, "changed": 0, "unchanged": 0}
    assert len(event.details["sha256"]) == 64


def test_same_file_again_changes_nothing_and_says_so(runner, db, tmp_path):
    path = write(tmp_path, HEADER + "1234567890,千葉中央クリニック,,,,1\n")
    assert run(runner, path).exit_code == 0
    changes = models.InstitutionChange.select().count()
    result = run(runner, path)
    assert result.exit_code == 0 and result.output.strip() == "new=0 changed=0 unchanged=1"
    assert models.InstitutionChange.select().count() == changes
    assert len(events("accepted")) == 2


def test_known_code_updates_with_history_and_blank_active_keeps_it(runner, db, tmp_path):
    run(runner, write(tmp_path, HEADER + "1234567890,千葉中央クリニック,,千葉市,,0\n"))
    result = run(runner, write(tmp_path, HEADER + "1234567890,千葉中央医院,,,,\n", "b.csv"))
    assert result.output.strip() == "new=0 changed=1 unchanged=0"
    institution = models.Institution.get(code="1234567890")
    assert institution.name == "千葉中央医院" and institution.address is None
    assert institution.active is False  # blank active: unchanged
    items = {c.item: (c.before, c.after) for c in models.InstitutionChange.select()
             .where(models.InstitutionChange.batch.is_null(False)).order_by(models.InstitutionChange.id)
             if c.after != c.before and c.before is not None}
    assert items["name"] == ("千葉中央クリニック", "千葉中央医院")
    assert items["address"] == ("千葉市", None)


def test_left_out_optional_columns_keep_the_stored_values(runner, db, tmp_path):
    run(runner, write(tmp_path, HEADER + "1234567890,千葉中央クリニック,260-0013,千葉市,0430000000,1\n"))
    result = run(runner, write(tmp_path, "name,institution_code\n千葉中央クリニック,1234567890\n", "b.csv"))
    assert result.output.strip() == "new=0 changed=0 unchanged=1"
    assert models.Institution.get(code="1234567890").phone == "0430000000"


def test_marking_zero_deactivates_but_never_deletes(runner, db, tmp_path):
    run(runner, write(tmp_path, HEADER + "1234567890,千葉中央クリニック,,,,1\n"))
    result = run(runner, write(tmp_path, "institution_code,name,active\n1234567890,千葉中央クリニック,0\n", "b.csv"))
    assert result.output.strip() == "new=0 changed=1 unchanged=0"
    assert models.Institution.get(code="1234567890").active is False


BAD_FILES = [
    ("institution_code,name\n123,クリニック\n", ["line 2, column institution_code: "]),
    ("institution_code,name\n1234567890,\n", ["line 2, column name: 必須です"]),
    ("institution_code,name,active\n1234567890,A,2\n", ["line 2, column active: "]),
    ("institution_code,name,postal_code\n1234567890,A,12-34\n", ["line 2, column postal_code: "]),
    ("institution_code,name,phone\n1234567890,A,電話\n", ["line 2, column phone: "]),
    ("institution_code,name\n1234567890,A\n1234567890,B\n", ["line 3, column institution_code: "]),
    ("institution_code,nmae\n1234567890,A\n", ["line 1, column nmae: ", "line 1, column name: "]),
    ("name\nA\n", ["line 1, column institution_code: "]),
    ("institution_code,name\n1234567890,A,extra\n2234567890,B\n", ["line 2, column -: "]),
    ("institution_code,name,kojin_no\n1234567890,A,1\n", ["line 1, column kojin_no: 個人番号"]),
    ("institution_code,name\n1234567890,A\n\"2234567890\nX\",B\n3234567890,\n",
     ["line 3, column institution_code: ", "line 4, column name: 必須です"]),
]


@pytest.mark.parametrize("text, expected", BAD_FILES)
def test_bad_files_write_nothing_but_one_audit_event(runner, db, tmp_path, text, expected):
    result = run(runner, write(tmp_path, text))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(expected), lines
    for line, start in zip(lines, expected):
        assert line.startswith(start), (line, start)
    assert not models.Institution.select().exists()
    assert not models.ImportBatch.select().exists()
    (event,) = events()
    assert event.outcome == "rejected"


def test_cp932_file_is_read_with_the_option(runner, db, tmp_path):
    path = write(tmp_path, HEADER + "1234567890,髙島診療所,,,,1\n", encoding="cp932")
    assert run(runner, path).exit_code == 1  # not UTF-8
    result = run(runner, path, "--encoding", "cp932")
    assert result.exit_code == 0 and models.Institution.get(code="1234567890").name == "髙島診療所"


def test_missing_file_or_bad_option_exit_2(runner, db, tmp_path):
    assert run(runner, str(tmp_path / "nothing.csv")).exit_code == 2
    path = write(tmp_path, HEADER)
    assert run(runner, path, "--encoding", "latin-1").exit_code == 2


def test_full_width_code_and_bom_are_accepted(runner, db, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "institution_code,name\n１２３４５６７８９０,全角クリニック\n".encode())
    result = run(runner, str(path))
    assert result.exit_code == 0, result.output
    assert models.Institution.get(code="1234567890").name == "全角クリニック"
