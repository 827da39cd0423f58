"""`flask --app app import-fhir PATH [PATH ...]` as FORMATS.md "Clinic results as FHIR documents" says."""
import copy
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest

import models
from kenshin.fhir import ig, importer, mapping
from kenshin.screening import catalogue

from .factories import make_institution, make_resident

REF = Path(__file__).parent / "fixtures" / "fhir"  # the IG's two sample bundles
SAMPLE_INSTITUTION = "1311234567"
LUNG = json.loads((REF / "example-lung.json").read_text(encoding="utf-8"))
CERVICAL = json.loads((REF / "example-cervical.json").read_text(encoding="utf-8"))
ATENA = "000000034567"


def write(tmp_path, bundle, name="bundle.json"):
    path = tmp_path / name
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return str(path)


def run(runner, *paths):
    return runner.invoke(args=["import-fhir", *paths])


def entry_index(bundle, jlac10):
    for i, entry in enumerate(bundle["entry"]):
        codings = entry["resource"].get("code", {}).get("coding", [])
        if any(c.get("code") == jlac10 for c in codings):
            return i
    raise KeyError(jlac10)


def observation(bundle, jlac10):
    return bundle["entry"][entry_index(bundle, jlac10)]["resource"]


def with_city_id(bundle, atena=ATENA):
    bundle = copy.deepcopy(bundle)
    bundle["entry"][1]["resource"]["identifier"].append({"system": mapping.ATENA_SYSTEM, "value": atena})
    return bundle


def fixed_lung():
    """The lung sample with its slips mended (display of the symptoms code) and a grade the
    catalogue can take (IG B) and the kana text agreeing with its family part, carrying the person's 宛名番号."""
    bundle = with_city_id(LUNG)
    observation(bundle, "9P501000000000011")["valueCodeableConcept"]["coding"][0]["display"] = "あり"
    grade = observation(bundle, "9P502000000000011")["valueCodeableConcept"]["coding"][0]
    grade.update(code="1", display="Ｂ（異常所見を認めない）")
    bundle["entry"][1]["resource"]["name"][1]["text"] = "ケンシン　タロウ"  # the text said ケイシン
    return bundle


@pytest.fixture
def people(db):
    make_institution(SAMPLE_INSTITUTION, "厚生労働省第一病院")
    taro = make_resident(atena_no=ATENA, name="健診 太郎", kana="ケンシン タロウ", sex=1, birth=date(1955, 5, 4))
    hanako = make_resident(atena_no="000000045678", name="健診 花子", kana="ケンシン ハナコ", sex=2,
                           birth=date(1975, 8, 7))
    return taro, hanako


def test_the_two_samples_wait_in_the_queue_with_their_items(people, runner, tmp_path):
    result = run(runner, str(REF / "example-lung.json"), str(REF / "example-cervical.json"))
    assert result.exit_code == 0, result.output
    # lung: the screening and (category 3 with a 精密検査 result) the followup; cervical: one
    assert result.output.strip().startswith("recorded=0 queued=3 duplicates=0")
    items = {(q.exam, q.target): q for q in models.QueueItem.select()}
    lung = items[("lung", "")]
    assert lung.raw["items"]["sputum_class"] == "D"
    assert lung.raw["items"]["referral"] == "1"
    assert lung.raw["items"]["other_findings"] == "特記事項無し"
    assert "entry[22].resource.valueCodeableConcept.coding[0].display" in lung.reason
    assert lung.raw["institution_code"] == SAMPLE_INSTITUTION
    assert lung.exam_date == date(2021, 10, 1)
    assert ("followup", "lung") in items
    cervical = items[("cervical", "")]
    assert cervical.raw["items"] == {"symptoms": "1", "referral": "0"}
    assert "display" in cervical.reason
    assert models.Screening.select().count() == 0
    # again: nothing new
    again = run(runner, str(REF / "example-lung.json"), str(REF / "example-cervical.json"))
    assert again.output.strip().startswith("recorded=0 queued=0 duplicates=3"), again.output


def test_left_out_counts_the_items_beyond_the_assessment(people, runner, tmp_path):
    result = run(runner, write(tmp_path, fixed_lung()))
    assert result.exit_code == 0, result.output
    # stored: symptoms, grade, sputum, referral, other findings; the rest of the 15 IG items
    # (history, smoking index, X-ray findings, sputum date and findings, 偶発症 ×2, 精検 result,
    # 精検 findings) are left out
    assert result.output.strip() == "recorded=2 queued=0 duplicates=0 left_out=9"
    lung = models.Screening.get(models.Screening.exam == "lung")
    assert lung.items == {"symptoms": "1", "xray_grade": "B", "sputum_class": "D", "referral": "1",
                          "other_findings": "特記事項無し"}
    assert lung.referral is True
    followup = models.Screening.get(models.Screening.exam == "followup")
    assert followup.target == "lung" and followup.resident_id == people[0].id


def test_kana_and_birth_alone_only_queue(people, runner, tmp_path):
    bundle = fixed_lung()
    bundle["entry"][1]["resource"]["identifier"] = bundle["entry"][1]["resource"]["identifier"][:1]
    result = run(runner, write(tmp_path, bundle))
    assert result.output.strip().startswith("recorded=0 queued=2"), result.output


@pytest.mark.parametrize("edit, where, says", [
    (lambda b: observation(b, "9P502000000000011")["valueCodeableConcept"]["coding"][0].update(
        system="urn:oid:1.2.392.100495.100.2101"),
     "entry[9].resource.valueCodeableConcept.coding[0].system", "コード体系"),
    (lambda b: observation(b, "9P502000000000011")["valueCodeableConcept"]["coding"][0].update(code="7"),
     "entry[9].resource.valueCodeableConcept.coding[0].code", "コード表"),
    (lambda b: observation(b, "9P502000000000011")["code"]["coding"][0].update(code="9P599000000000011"),
     "entry[9].resource.code.coding[0].code", "JLAC10"),
    (lambda b: observation(b, "9P502000000000011").update(status="preliminary"),
     "entry[9].resource.status", "final"),
    (lambda b: b["entry"][8]["resource"].update(status="preliminary"),
     "entry[8].resource.status", "final"),
    (lambda b: b["entry"][4]["resource"]["identifier"][0].update(value="9999999999"),
     "entry[4].resource.identifier[0].value", "登録されていない医療機関"),
    (lambda b: b.update(type="collection"), "type", "Bundle"),
    (lambda b: b["entry"][0]["resource"]["category"][0]["coding"][0].update(code="59"),
     "entry[0].resource.category[0].coding[0].code", "報告区分"),
])
def test_refusals_name_the_entry(people, runner, tmp_path, edit, where, says):
    bundle = fixed_lung()
    edit(bundle)
    result = run(runner, write(tmp_path, bundle, "bad.json"), write(tmp_path, CERVICAL, "ok.json"))
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(f"bad.json, {where}: "), line
    assert says in line
    assert models.Screening.select().count() == 0 and models.QueueItem.select().count() == 0
    event = models.AuditEvent.select().where(models.AuditEvent.action == "import.fhir").get()
    assert event.outcome == "rejected"


def test_a_women_only_exam_for_a_man_is_refused(people, runner, tmp_path):
    bundle = copy.deepcopy(CERVICAL)
    bundle["entry"][1]["resource"]["gender"] = "male"
    result = run(runner, write(tmp_path, bundle, "man.json"))
    assert result.exit_code == 1
    assert result.output.startswith("man.json, entry[1].resource.gender: ")


def test_not_a_document(people, runner, tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json", encoding="utf-8")
    result = run(runner, str(path))
    assert result.exit_code == 1 and result.output.startswith("x.json, -: ")


def test_a_zip_and_a_folder_are_one_set(people, runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json", json.dumps(fixed_lung(), ensure_ascii=False))
    (folder / "set.zip").write_bytes(buffer.getvalue())
    (folder / "b.json").write_text(json.dumps(CERVICAL, ensure_ascii=False), encoding="utf-8")
    result = run(runner, str(folder))
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("recorded=2 queued=1 duplicates=0")


def test_every_code_of_the_catalogue_maps():
    """Every catalogue code of every item the IG carries is reachable from an IG code or written
    beside one (COVERS), and every stored JLAC10 code is the IG's."""
    for code, stored in mapping.STORED.items():
        assert code in ig.ITEMS
        for exam in stored.exams:
            item = catalogue.EXAMS[exam].item(stored.key)
            if item.kind == "code":
                for value in item.codes:
                    assert value in stored.codes.values() or (code, value) in mapping.COVERS \
                        or (code, value) == ("9P542160700000011", "0"), (exam, stored.key, value)
                for ig_code, value in stored.codes.items():
                    assert ig_code in ig.CODE_SYSTEMS[ig.ITEMS[code][4]]
                    assert value is None or value == "" or value in item.codes, (code, ig_code, value)
    for exam in catalogue.EXAMS.values():
        if exam.followup:
            continue
        for key in exam.keys:
            assert key in mapping.stored_for(exam.code) or key == "method", (exam.code, key)


ROUND_TRIP = {
    "gastric_xray": [{"xray_category": "3a", "xray_findings": "胃角部変形", "referral": "1"},
                     {"xray_category": "1", "xray_findings": "", "referral": "0"}],
    "gastric_endoscopy": [{"endoscopy_result": "suspected", "endoscopy_findings": "びらん", "referral": "1",
                           "other_findings": "萎縮"}],
    "colorectal": [{"fobt_result": "positive", "referral": "1"}],
    "lung": [{"symptoms": "1", "xray_grade": "E2", "sputum_class": "", "referral": "1", "other_findings": ""},
             {"symptoms": "0", "xray_grade": "D3", "sputum_class": "B", "referral": "0", "other_findings": "陳旧性"}],
    "breast": [{"mammography_category": "4", "mammography_findings": "腫瘤", "referral": "1"}],
    "cervical": [{"symptoms": "0", "referral": "0"}],
    "periodontal": [{"brushing_frequency": "3", "smoking": "2", "diabetes": "1", "rheumatoid_arthritis": "0",
                     "cardiovascular": "0", "visceral_obesity": "1", "pregnancy": "0",
                     "other_condition": "高血圧", "cpi_bleeding": "1", "cpi_pocket": "2", "judgement": "referral"}],
    "osteoporosis": [{"weight_kg": "52.5", "height_cm": "158", "fracture_history": "1",
                      "fracture_site": "手首", "family_hip_fracture": "1", "smoking": "1", "steroid": "1",
                      "menstruation": "2", "method": "DXA", "bone_density": "68", "judgement": "referral"}],
    "hepatitis": [{"surgery_history": "1", "hbs_antigen": "positive", "hcv_judgement": "high"}],
    "followup": [{"target": "gastric"}, {"target": "breast"}],
    "periodontal_followup": [{"result": "歯周炎（軽度）"}],
}


def test_round_trip_reproduces_every_exam_of_the_catalogue(people, runner, tmp_path):
    from kenshin import audit
    from kenshin.core.dates import age_at, fiscal_year, now_utc
    from kenshin.fhir import export

    assert set(ROUND_TRIP) == set(catalogue.EXAMS)
    hanako = people[1]
    clinic = models.Institution.get(models.Institution.code == SAMPLE_INSTITUTION)
    day = 1
    for exam, forms in ROUND_TRIP.items():
        for items in forms:
            when = date(2025, 5, day)
            day += 1
            models.Screening.create(
                resident=hanako, exam=exam, target=items.get("target", ""), exam_date=when,
                fiscal_year=fiscal_year(when), age=age_at(hanako.birth_date, when), institution=clinic,
                setting=2 if day % 2 else 1, referral=catalogue.referral_flag(exam, items), items=items,
                status="confirmed", source="keyed", entered_at=now_utc())
    before = sorted((s.exam, s.target, s.exam_date, s.setting, s.referral, json.dumps(s.items, sort_keys=True))
                    for s in models.Screening.select())
    name, data = export.history(hanako.id, audit.Actor.system("pytest"), "transfer")
    assert name.endswith(".zip")
    event = models.AuditEvent.select().where(models.AuditEvent.action == "fhir.export").get()
    assert event.details["bundles"] == len(before)
    models.Screening.delete().execute()  # the receiving office's empty records
    path = tmp_path / name
    path.write_bytes(data)
    result = run(runner, str(path))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"recorded={len(before)} queued=0 duplicates=0"), result.output
    after = sorted((s.exam, s.target, s.exam_date, s.setting, s.referral, json.dumps(s.items, sort_keys=True))
                   for s in models.Screening.select())
    assert after == before


def test_the_upload_screen_previews_and_confirms(people, client, login_as, tmp_path):
    from .conftest import csrf_from

    login_as("supervisor")
    page = client.get("/fhir-files/")
    assert page.status_code == 200
    data = json.dumps(fixed_lung(), ensure_ascii=False).encode()
    preview = client.post("/fhir-files/preview", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "file": (io.BytesIO(data), "lung.json")},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert models.Screening.select().count() == 0
    # each screening of the bundle before confirming: recorded, against the person it names
    assert html.count('<tr class="row-recorded">') == 2 and "健診 太郎" in html and "lung.json" in html
    token = html.split('name="token" value="')[1].split('"')[0]
    done = client.post("/fhir-files/confirm", data={"csrf_token": csrf_from(html), "token": token})
    assert done.status_code in (302, 303)
    assert models.Screening.select().count() == 2
    actions = [e.action for e in models.AuditEvent.select().where(models.AuditEvent.action.startswith("import.fhir"))]
    assert actions == ["import.fhir.preview", "import.fhir"]


def test_a_supervisor_exports_a_history_from_the_person_page(people, client, login_as, runner, tmp_path):
    from .conftest import csrf_from

    run(runner, write(tmp_path, fixed_lung()))
    login_as("supervisor")
    taro = people[0]
    page = client.get(f"/residents/{taro.id}")
    html = page.get_data(as_text=True)
    assert "受診歴のFHIR出力" in html
    response = client.post(f"/fhir-files/export/{taro.id}", data={"csrf_token": csrf_from(html),
                                                                  "purpose": "disclosure"})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert len(names) == 2 and all(n.endswith(".json") for n in names)
    event = models.AuditEvent.select().where(models.AuditEvent.action == "fhir.export").get()
    assert event.details["purpose"] == "disclosure" and event.resident_id == taro.id


def test_recorded_bundles_again_are_duplicates_and_each_attempt_is_audited(people, runner, tmp_path):
    path = write(tmp_path, fixed_lung())
    assert run(runner, path).output.strip() == "recorded=2 queued=0 duplicates=0 left_out=9"
    assert run(runner, path).output.strip() == "recorded=0 queued=0 duplicates=2 left_out=9"
    changed = fixed_lung()
    observation(changed, "9P505160800000049")["valueString"] = "別の所見"
    result = run(runner, write(tmp_path, changed, "changed.json"))
    assert result.output.strip() == ("recorded=0 queued=0 duplicates=2 (1 with different values: "
                                     "correct them on screen) left_out=9")
    events = list(models.AuditEvent.select().where(models.AuditEvent.action == "import.fhir")
                  .order_by(models.AuditEvent.seq))
    assert [e.outcome for e in events] == ["accepted"] * 3
    assert events[0].details["files"][0]["file"] == "bundle.json"
    assert events[0].details["counts"]["left_out"] == 9


def test_the_same_bundle_twice_in_a_set_is_one_screening(people, runner, tmp_path):
    first = write(tmp_path, fixed_lung(), "a.json")
    second = write(tmp_path, fixed_lung(), "b.json")
    assert run(runner, first, second).output.strip() == "recorded=2 queued=0 duplicates=2 left_out=18"


def test_a_screening_repeated_with_other_values_refuses_the_set(people, runner, tmp_path):
    changed = fixed_lung()
    observation(changed, "9P505160800000049")["valueString"] = "別の所見"
    result = run(runner, write(tmp_path, fixed_lung(), "a.json"), write(tmp_path, changed, "b.json"))
    assert result.exit_code == 1
    assert result.output.startswith("b.json, entry[0].resource: "), result.output
    assert models.Screening.select().count() == 0


def test_imperfect_values_queue_with_the_entry(people, runner, tmp_path):
    bundle = fixed_lung()
    grade = observation(bundle, "9P502000000000011")["valueCodeableConcept"]["coding"][0]
    grade.update(code="4", display="Ｅ（肺癌の疑い）")  # E: E1 or E2?
    result = run(runner, write(tmp_path, bundle))
    assert result.output.startswith("recorded=1 queued=1"), result.output  # the followup records
    item = models.QueueItem.get()
    assert item.exam == "lung" and "entry[9].resource" in item.reason and "一つに決まりません" in item.reason
    assert item.file_name == "bundle.json"
    # the city's own coding beside the IG's settles it (what the export writes)
    grade_coding = observation(bundle, "9P502000000000011")["valueCodeableConcept"]["coding"]
    grade_coding.append({"system": mapping.catalogue_system("lung", "xray_grade"), "code": "E2"})
    models.QueueItem.delete().execute()
    models.Screening.delete().execute()
    assert run(runner, write(tmp_path, bundle)).output.startswith("recorded=2 queued=0")
    assert models.Screening.get(models.Screening.exam == "lung").items["xray_grade"] == "E2"


def test_a_slip_on_an_item_not_stored_is_ignored(people, runner, tmp_path):
    bundle = fixed_lung()
    observation(bundle, "9P506000000000011")["valueCodeableConcept"]["coding"][0]["display"] = "あり"
    assert run(runner, write(tmp_path, bundle)).output.startswith("recorded=2 queued=0")


def test_a_wrong_code_system_on_an_item_not_stored_still_refuses(people, runner, tmp_path):
    bundle = fixed_lung()
    index = entry_index(bundle, "9P506000000000011")
    bundle["entry"][index]["resource"]["valueCodeableConcept"]["coding"][0]["system"] = "urn:oid:1.2.392.100495.100.2011"
    result = run(runner, write(tmp_path, bundle, "bad.json"))
    assert result.exit_code == 1
    assert result.output.startswith(f"bad.json, entry[{index}].resource.valueCodeableConcept.coding[0].system: ")


def test_an_unreadable_film_is_recorded_as_pending(people, runner, tmp_path):
    """IG 2100 code 9 Ａ（読影不能）→ catalogue A: 判定保留, with the 判定不能 referral code left to the rule."""
    bundle = fixed_lung()
    observation(bundle, "9P502000000000011")["valueCodeableConcept"]["coding"][0].update(code="9", display="Ａ（読影不能）")
    observation(bundle, "7A030000006144311")["valueCodeableConcept"]["coding"][0].update(
        code="1", display="Ｂ（正常上皮細胞のみ、基底細胞増生、軽度異型扁平上皮化細胞、線毛円柱上皮細胞）")
    observation(bundle, "9P504000000000011")["valueCodeableConcept"]["coding"][0].update(code="9", display="判定不能")
    result = run(runner, write(tmp_path, bundle))
    assert result.output.startswith("recorded=2 queued=0"), result.output
    lung = models.Screening.get(models.Screening.exam == "lung")
    assert lung.items["xray_grade"] == "A" and lung.referral is False
    assert catalogue.EXAMS["lung"].outcome(lung.items) == catalogue.PENDING
