"""The outcome (判定) of a screening: 要精検, 判定保留 or 精検不要 (FORMATS.md "Judgement outcome",
issue 13). 判定保留 is never shown, printed or counted as 精検不要."""
from datetime import date

import pytest

import database
import models
from kenshin import audit
from kenshin.screening import catalogue, entry, screenings
from kenshin.verification import corrections
from kenshin.screening.catalogue import ATTENDED, CLEAR, PENDING, REFERRAL

from .conftest import page_csrf
from .factories import INSTITUTION, VALID_ITEMS, actor_of, make_institution, make_resident

LUNG = {"symptoms": "0", "xray_grade": "B", "sputum_class": "", "other_findings": ""}


@pytest.mark.parametrize("exam, changes, outcome", [
    ("lung", {"xray_grade": "A"}, PENDING),  # 読影不能
    ("lung", {"sputum_class": "A"}, PENDING),  # 材料不適
    ("lung", {"sputum_class": "C"}, PENDING),  # 再検査
    ("lung", {"xray_grade": "E1", "sputum_class": "C"}, REFERRAL),  # both: 要精検
    ("lung", {"xray_grade": "A", "sputum_class": "D"}, REFERRAL),
    ("lung", {"xray_grade": "C", "sputum_class": "B"}, CLEAR),
    ("breast", {"mammography_category": "N"}, PENDING),
    ("breast", {"mammography_category": "3"}, REFERRAL),
    ("colorectal", {"fobt_result": "undetermined"}, PENDING),
    ("colorectal", {"fobt_result": "negative"}, CLEAR),
    ("gastric_xray", {"xray_category": "0", "xray_findings": ""}, PENDING),
    ("gastric_xray", {"xray_category": "2", "xray_findings": ""}, CLEAR),
    ("periodontal", {"cpi_bleeding": "X", "cpi_pocket": "X", "judgement": "normal"}, CLEAR),
    ("periodontal", {"cpi_bleeding": "9", "cpi_pocket": "9", "judgement": "referral"}, REFERRAL),
    ("hepatitis", {"hcv_judgement": "high"}, REFERRAL),
    ("followup", {"target": "lung"}, ATTENDED),
    ("periodontal_followup", {}, ATTENDED),
])
def test_outcome_from_items(exam, changes, outcome):
    base = LUNG if exam == "lung" else VALID_ITEMS[exam]
    clean, errors = catalogue.validate_items(exam, {**base, **changes}, sex=2)
    assert errors == {}
    assert catalogue.get_exam(exam).outcome(clean) == outcome
    assert catalogue.pending_flag(exam, clean) is (outcome == PENDING)
    if outcome == PENDING:
        assert clean.get("referral") == "0" and not catalogue.referral_flag(exam, clean)


def test_every_outcome_has_words_for_a_resident():
    assert catalogue.OUTCOME_LABELS[PENDING] == "判定保留（再検査）"
    assert "もう一度検査" in catalogue.OUTCOME_EXPLAINED[PENDING]
    assert set(catalogue.OUTCOME_LABELS) == set(catalogue.OUTCOME_EXPLAINED)


def _record(resident, exam, items, exam_date="2025-06-02"):
    return screenings.record(resident.id, exam=exam, exam_date=exam_date, institution=INSTITUTION,
                             setting="1", items=items, actor=audit.Actor.system("pytest"),
                             status="confirmed").screening


def test_stored_flags_and_counts(db, make_staff):
    make_institution()
    woman = make_resident()
    unread = _record(woman, "lung", {**LUNG, "xray_grade": "A"})
    assert unread.pending is True and unread.referral is False
    _record(woman, "colorectal", {"fobt_result": "positive"})
    _record(woman, "breast", {"mammography_category": "1", "mammography_findings": ""})
    _record(woman, "followup", {"target": "colorectal"}, "2025-07-01")
    counts = screenings.outcome_counts(2025)
    assert counts == {"lung": {PENDING: 1}, "colorectal": {REFERRAL: 1}, "breast": {CLEAR: 1},
                      "followup": {ATTENDED: 1}}
    assert screenings.referral_counts(2025)["lung"] == (1, 0)
    # a correction that makes it readable clears 判定保留 — once a second person confirms it
    proposed = screenings.correct(unread.id, items={**LUNG, "xray_grade": "E1"}, reason="再読影",
                                  actor=actor_of(make_staff("clerk")))
    assert screenings.outcome_counts(2025)["lung"] == {PENDING: 1}
    corrections.approve(proposed.proposal.id, actor_of(make_staff("supervisor")))
    again = models.Screening.get_by_id(unread.id)
    assert again.referral is True and again.pending is False


def test_schema_2_turns_stored_unreadable_lung_results_into_pending(db):
    make_institution()
    woman = make_resident()
    a = _record(woman, "lung", {**LUNG, "xray_grade": "A"}, "2025-06-02")
    c = _record(woman, "lung", {**LUNG, "sputum_class": "C"}, "2025-06-03")
    e = _record(woman, "lung", {**LUNG, "xray_grade": "E2", "sputum_class": "A"}, "2025-06-04")
    b = _record(woman, "lung", LUNG, "2025-06-05")
    # as a database at step 1 (before 判定保留) held them: 要精検 = 0 and nothing else
    models.Screening.update(pending=False).execute()
    models.SchemaMigration.delete().where(models.SchemaMigration.version > 1).execute()
    assert database.create_schema() == "upgraded"
    stored = {s.id: (s.referral, s.pending) for s in models.Screening.select()}
    assert stored == {a.id: (False, True), c.id: (False, True), e.id: (True, False), b.id: (False, False)}
    assert database.schema_version() == database.LATEST_STEP
    assert database.create_schema() == "current"


@pytest.fixture
def clerk(login_as, db):
    make_institution()
    client, _ = login_as("clerk")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client


def test_person_page_and_printed_summary_never_say_no_referral_for_pending(clerk):
    woman = make_resident()
    _record(woman, "lung", {**LUNG, "xray_grade": "A"})
    for path in (f"/residents/{woman.id}", f"/screenings/person/{woman.id}", f"/screenings/summary/{woman.id}"):
        html = clerk.get(path).get_data(as_text=True)
        assert "判定保留（再検査）" in html, path
        assert "精検不要" not in html.split("判定の見かた")[0], path
    printed = clerk.post(f"/residents/{woman.id}/print").get_data(as_text=True)
    assert "判定保留（再検査）" in printed and "もう一度検査" in printed


def test_followup_records_show_attendance_not_a_judgement(clerk):
    woman = make_resident()
    _record(woman, "followup", {"target": "gastric"})
    html = clerk.get(f"/screenings/summary/{woman.id}").get_data(as_text=True)
    table = html.split("判定の見かた")[0]
    assert "精密検査受診" in table and "精検不要" not in table


def _preview(exam, items, **identity):
    batch = entry.Batch(INSTITUTION, "1", exam)
    values = {"atena_no": "", "name_kana": "チバ ハナコ", "birth_date": "1960-05-10", "sex": "2",
              "exam_date": "2025-06-02", **identity, **items}
    return entry.preview(batch, values)


def test_entry_preview_shows_the_outcome_live(db):
    make_institution()
    assert _preview("lung", {"xray_grade": "A"}).outcome == PENDING  # before the other items
    assert _preview("lung", {**LUNG, "xray_grade": "A"}).outcome == PENDING
    assert _preview("lung", {**LUNG, "xray_grade": "E1"}).outcome == REFERRAL
    assert _preview("followup", {"target": "lung"}).outcome == ATTENDED
    assert _preview("followup", {"target": ""}).outcome == ""


def test_age_beside_the_warning_is_on_the_warning_basis(db):
    make_institution()
    person = make_resident(birth=date(1986, 4, 1))
    batch = entry.Batch(INSTITUTION, "1", "lung")
    preview = entry.preview(batch, {"exam_date": "2026-03-31", **LUNG}, resident_id=person.id)
    assert preview.age == 40  # the legal age at the exam (stored)
    assert (preview.basis_label, preview.basis_age) == ("年度末年齢", 39)
    assert any("年度末年齢39歳" in w for w in preview.warnings)


def test_entry_screen_renders_the_basis_age_and_pending_words(clerk):
    person = make_resident(birth=date(1986, 4, 1))
    clerk.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "1", "exam": "lung"},
               headers={"HX-Request": "true"})
    lookup = clerk.post("/entry/lookup", data={"atena_no": person.atena_no, "sheet": "1"},
                        headers={"HX-Request": "true"})
    assert lookup.status_code == 200
    html = clerk.post("/entry/check", data={"atena_no": person.atena_no, "name_kana": "チバ ハナコ",
                                            "birth_date": "1986-04-01", "sex": "2", "exam_date": "2026-03-31",
                                            "sheet": "1", "resident_id": str(person.id), **LUNG, "xray_grade": "A"},
                      headers={"HX-Request": "true", "HX-Trigger-Name": "xray_grade"}).get_data(as_text=True)
    assert "判定保留（再検査）" in html and "精検不要" not in html
