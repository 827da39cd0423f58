"""Items beyond the assessment's 別添1 (HPV 検査単独法): off by default — neither shown, keyed,
imported nor stored — until an administrator records the amendment that allows them (issue 13)."""
from datetime import date

import pytest

import models
from kenshin import audit
from kenshin.core.errors import Invalid, Refused
from kenshin.screening import catalogue, extensions, screenings

from .conftest import page_csrf
from .factories import INSTITUTION, VALID_ITEMS, actor_of, make_institution, make_resident
from .test_import_results import row, run, write

HPV = catalogue.HPV_PRIMARY
HPV_POSITIVE = {"symptoms": "0", "hpv_result": "positive", "hpv_triage": "ascus_plus", "hpv_followup": "0",
                "referral": "1"}
HX = {"HX-Request": "true"}


def turn_on(person):
    return extensions.turn_on(HPV, amended_on="R7.4.1", amendment="評価書 第3版（令和7年4月1日）別添1 子宮がんに3項目を追加",
                              confirmed=True, actor=actor_of(person))


def record(resident, items):
    return screenings.record(resident.id, exam="cervical", exam_date="2025-06-02", institution=INSTITUTION,
                             setting="1", items=items, actor=audit.Actor.system("pytest"), status="confirmed")


def test_off_by_default_the_catalogue_neither_lists_nor_accepts_hpv_items():
    exam = catalogue.get_exam("cervical")
    assert "hpv_result" not in exam.keys and "hpv_result" in exam.keys_with({HPV})
    _, errors = catalogue.validate_items("cervical", HPV_POSITIVE, sex=2)
    assert set(errors) == {"hpv_result", "hpv_triage", "hpv_followup"}
    assert "評価書（別添1）にない項目" in errors["hpv_result"][0]
    clean, errors = catalogue.validate_items("cervical", {"symptoms": "0", "referral": "0", "hpv_result": ""}, 2)
    assert errors == {} and "hpv_result" not in clean  # nothing of it is stored


@pytest.mark.parametrize("changes, key", [
    ({"hpv_triage": ""}, "hpv_triage"),  # positive needs the triage cytology
    ({"referral": "0"}, "referral"),  # positive and ASC-US or worse is 要精検
    ({"hpv_triage": "nilm", "hpv_followup": "0", "referral": "0"}, "hpv_followup"),  # NILM → 追跡検査
    ({"hpv_result": "negative", "hpv_triage": "", "referral": "1"}, "referral"),
    ({"hpv_result": "negative", "hpv_triage": "nilm", "referral": "0"}, "hpv_triage"),
    ({"hpv_result": "", "hpv_triage": "", "hpv_followup": "1", "referral": "0"}, "hpv_followup"),
])
def test_hpv_rules_once_on(changes, key):
    _, errors = catalogue.validate_items("cervical", {**HPV_POSITIVE, **changes}, sex=2, enabled={HPV})
    assert key in errors, errors


@pytest.mark.parametrize("items, referral", [
    (HPV_POSITIVE, True),
    ({**HPV_POSITIVE, "hpv_triage": "nilm", "hpv_followup": "1", "referral": "0"}, False),
    ({"symptoms": "0", "hpv_result": "negative", "hpv_triage": "", "hpv_followup": "0", "referral": "0"}, False),
    ({"symptoms": "0", "hpv_result": "", "referral": "1"}, True),  # cytology, as before
])
def test_referral_is_hpv_positive_and_triage_abnormal(items, referral):
    clean, errors = catalogue.validate_items("cervical", items, sex=2, enabled={HPV})
    assert errors == {}
    assert catalogue.referral_flag("cervical", clean) is referral


def test_refused_until_turned_on_then_accepted_and_audited(db, make_staff):
    make_institution()
    woman = make_resident()
    admin = make_staff("admin")
    with pytest.raises(Invalid) as refused:
        record(woman, HPV_POSITIVE)
    assert "hpv_result" in refused.value.errors
    assert not models.Screening.select().exists()
    # only an administrator, only with the amendment recorded
    with pytest.raises(Refused):
        extensions.turn_on(HPV, amended_on="R7.4.1", amendment="x", confirmed=True,
                           actor=actor_of(make_staff("supervisor")))
    with pytest.raises(Invalid) as missing:
        extensions.turn_on(HPV, amended_on="", amendment="", confirmed=False, actor=actor_of(admin))
    assert set(missing.value.errors) == {"amended_on", "amendment", "confirmed"}
    assert extensions.enabled_codes() == frozenset()
    turn_on(admin)
    assert extensions.enabled_codes() == {HPV}
    event = models.AuditEvent.select().where(models.AuditEvent.action == "catalogue.extension_on").get()
    assert event.object_id == HPV and event.actor_id == admin.staff.id
    saved = record(woman, HPV_POSITIVE).screening
    assert saved.items["hpv_result"] == "positive" and saved.referral
    display = dict(catalogue.display_items("cervical", saved.items))
    assert display["HPV検査の結果"] == "陽性" and display["トリアージ細胞診の結果"] == "ASC-US以上"
    # turned off again: records keep their values, new ones are refused
    extensions.turn_off(HPV, reason="評価書の修正を取り下げ", actor=actor_of(admin))
    assert extensions.enabled_codes() == frozenset()
    with pytest.raises(Invalid):
        screenings.record(woman.id, exam="cervical", exam_date="2025-07-01", institution=INSTITUTION,
                          setting="1", items=HPV_POSITIVE, actor=audit.Actor.system("pytest"))
    assert len(extensions.states()[0].history) == 2


def test_clinic_file_hpv_columns_are_unknown_until_turned_on(runner, db, make_staff, tmp_path):
    make_institution()
    make_resident()
    rows = [row("cervical", items=HPV_POSITIVE)]
    before = run(runner, write(tmp_path, rows))
    assert before.exit_code == 1
    assert before.output.startswith("line 1, column hpv_result: ")
    turn_on(make_staff("admin"))
    after = run(runner, write(tmp_path, rows))
    assert after.exit_code == 0, after.output
    assert after.output.strip() == "recorded=1 queued=0 duplicates=0"
    assert models.Screening.get().items["hpv_triage"] == "ascus_plus"


def test_entry_screen_shows_hpv_fields_only_when_on(login_as, make_staff, db):
    make_institution()
    make_resident()
    client, _ = login_as("clerk")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    batch = {"institution_code": INSTITUTION, "setting": "1", "exam": "cervical"}
    html = client.post("/entry/batch", data=batch, headers=HX).get_data(as_text=True)
    assert 'name="hpv_result"' not in html and 'name="symptoms"' in html
    form = {"atena_no": "000000000001", "name_kana": "チバ ハナコ", "birth_date": "S35.5.10", "sex": "2",
            "exam_date": "R7.6.2", "sheet": "1", **HPV_POSITIVE}
    refused = client.post("/entry/save", data=form, headers=HX)
    assert "評価書（別添1）にない項目" in refused.get_data(as_text=True)
    assert not models.Screening.select().exists()
    turn_on(make_staff("admin"))
    html = client.post("/entry/batch", data=batch, headers=HX).get_data(as_text=True)
    assert 'name="hpv_result"' in html and "HPV検査の結果" in html
    client.post("/entry/save", data=form, headers=HX)
    saved = models.Screening.get()
    assert saved.items["hpv_result"] == "positive" and saved.status == "pending"


def test_admin_screen_says_what_the_amendment_must_cover_and_records_it(login_as, db):
    client, admin = login_as("admin")
    html = client.get("/extensions/").get_data(as_text=True)
    assert "HPV検査単独法" in html and "評価書の修正が含むべき事項" in html and "無効（既定）" in html
    for line in catalogue.EXTENSIONS[HPV].amendment:
        assert line in html
    token = page_csrf(client, "/extensions/")
    bad = client.post(f"/extensions/{HPV}/on", data={"csrf_token": token, "amended_on": "", "amendment": ""})
    assert bad.status_code == 422 and extensions.enabled_codes() == frozenset()
    ok = client.post(f"/extensions/{HPV}/on", data={"csrf_token": token, "amended_on": "2025-04-01",
                                                   "amendment": "第3版 別添1に追加", "confirmed": "1"})
    assert ok.status_code == 303 and extensions.enabled_codes() == {HPV}
    html = client.get("/extensions/").get_data(as_text=True)
    assert "第3版 別添1に追加" in html and "令和7年4月1日" in html


def test_hpv_under_30_is_a_caution_not_an_error():
    clean, errors = catalogue.validate_items("cervical", HPV_POSITIVE, sex=2, enabled={HPV})
    assert errors == {}
    assert catalogue.age_cautions("cervical", clean, 29) == ["HPV検査単独法（子宮頸がん検診、30歳以上）は30歳以上が対象です（受診時29歳）"]
    assert catalogue.age_cautions("cervical", clean, 30) == []
    assert catalogue.age_cautions("cervical", {"symptoms": "0", "referral": "0"}, 25) == []
