"""The entry, queue and screening screens through the test client (the browser tests drive the keys)."""
import re

import pytest

import models
from kenshin.screening import catalogue

from .conftest import page_csrf
from .factories import INSTITUTION, VALID_ITEMS, make_institution, make_resident

HX = {"HX-Request": "true"}


@pytest.fixture
def clerk(login_as, db):
    make_institution()
    client, person = login_as("clerk")
    token = page_csrf(client)
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client


def set_batch(client, exam="gastric_xray"):
    return client.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "1", "exam": exam},
                       headers=HX)


def form(exam="gastric_xray", **overrides):
    values = {"seiri_no": "", "atena_no": "000000000001", "name_kana": "ちば はなこ",
              "birth_date": "S35.5.10", "sex": "2", "exam_date": "R7.6.2", "sheet": "1"}
    values.update(VALID_ITEMS[exam])
    values.update(overrides)
    return values


def test_batch_header_is_kept_and_the_exam_fields_come_from_the_catalogue(clerk):
    html = set_batch(clerk, "lung").get_data(as_text=True)
    for item in catalogue.get_exam("lung").fields:
        assert f'name="{item.key}"' in html and item.label in html
    # a new page keeps the header
    html = clerk.get("/entry/").get_data(as_text=True)
    assert 'name="xray_grade"' in html and "data-focus-first" in html


def test_lookup_shows_the_person_and_marks_what_disagrees(clerk, db):
    make_resident()
    set_batch(clerk)
    html = clerk.post("/entry/lookup", data=form(birth_date="S35.5.11"), headers=HX).get_data(as_text=True)
    assert "千葉 花子" in html and "昭和35年5月10日" in html
    assert 'class="mismatch"' in html and "不一致" in html
    # the 生年月日 as read, expanded beside its field before saving (out of band)
    assert re.search(r'id="f-birth_date-hint"[^>]*hx-swap-oob="true"><strong class="meaning">'
                     r'昭和35年5月11日 \(1960-05-11\)<', html)
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "resident.view"


def test_inline_check_derives_referral_and_reports_a_contradiction(clerk, db):
    make_resident()
    set_batch(clerk)
    response = clerk.post("/entry/check", data=form(xray_category="3b", referral="0"),
                          headers={**HX, "HX-Trigger-Name": "referral"})
    html = response.get_data(as_text=True)
    assert 'id="err-1-referral"' in html and "判定区分3a以上は要精検(1)です" in html
    assert "要精検" in html and "hx-swap-oob" in html and "令和7年度" in html and "65歳" in html


def test_save_records_and_clears_the_sheet_keeping_the_header(clerk, db):
    make_resident()
    set_batch(clerk)
    response = clerk.post("/entry/save", data=form(), headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "保存しました" in html and 'name="xray_category" value=""' in html
    assert 'value="1234567890"' in html  # header kept
    assert re.search(r'id="f-seiri_no"[^>]*data-focus-first', html)
    assert models.Screening.select().count() == 1


def test_duplicate_is_refused_with_a_link_to_the_existing_record(clerk, db):
    make_resident()
    set_batch(clerk)
    clerk.post("/entry/save", data=form(), headers=HX)
    response = clerk.post("/entry/save", data=form(), headers=HX)
    assert response.status_code == 422
    existing = models.Screening.get()
    assert f"/screenings/{existing.id}" in response.get_data(as_text=True)


def test_women_only_exam_for_a_man_is_refused_on_screen(clerk, db):
    make_resident(atena_no="9", name="千葉 太郎", kana="チバ タロウ", sex=1)
    set_batch(clerk, "breast")
    response = clerk.post("/entry/save", data=form("breast", atena_no="9", name_kana="チバ タロウ",
                                                   sex="1"), headers=HX)
    assert response.status_code == 422 and "女性のみの検診です" in response.get_data(as_text=True)
    assert not models.Screening.select().exists()


def test_disagreeing_form_is_refused_then_parked_and_assigned_from_the_queue(clerk, db):
    person = make_resident()
    set_batch(clerk)
    refused = clerk.post("/entry/save", data=form(birth_date="S35.5.11"), headers=HX)
    assert refused.status_code == 422 and "住民記録と一致しません（生年月日）" in refused.get_data(as_text=True)
    parked = clerk.post("/entry/save", data=form(birth_date="S35.5.11", action="park"), headers=HX)
    assert "突合待ちに保留しました" in parked.get_data(as_text=True)
    item = models.QueueItem.get()
    page = clerk.get(f"/queue/{item.id}").get_data(as_text=True)
    assert "千葉 花子" in page and "番号で該当" in page
    answer = clerk.post(f"/queue/{item.id}/assign", data={"resident_id": person.id, "note": "誤記"})
    assert answer.status_code == 303
    assert models.Screening.get().resident_id == person.id


def test_candidates_when_no_identifier_and_the_chosen_one_is_recorded(clerk, db):
    person = make_resident()
    set_batch(clerk)
    html = clerk.post("/entry/lookup", data=form(atena_no=""), headers=HX).get_data(as_text=True)
    assert f'value="{person.id}"' in html and "カナ一致" in html
    unchosen = clerk.post("/entry/save", data=form(atena_no=""), headers=HX)
    assert unchosen.status_code == 422
    chosen = clerk.post("/entry/save", data=form(atena_no="", resident_id=str(person.id)), headers=HX)
    assert chosen.status_code == 200 and models.Screening.get().resident_id == person.id


def test_results_and_dates_typed_as_on_the_paper_are_stored_as_codes(clerk, db):
    make_resident()
    set_batch(clerk, "colorectal")
    check = clerk.post("/entry/check", data=form("colorectal", fobt_result="＋", exam_date="7.6.2"),
                       headers={**HX, "HX-Trigger-Name": "fobt_result"})
    html = check.get_data(as_text=True)
    assert re.search(r'id="m-1-fobt_result"[^>]*hx-swap-oob="true">陽性<', html)  # the meaning, at once
    assert "要精検" in html
    date_check = clerk.post("/entry/check", data=form("colorectal", exam_date="7.6.2"),
                            headers={**HX, "HX-Trigger-Name": "exam_date"}).get_data(as_text=True)
    assert "令和7年6月2日 (2025-06-02)" in date_check  # a bare date, expanded before saving
    refused = clerk.post("/entry/save", data=form("colorectal", fobt_result="ぷらす"), headers=HX)
    assert refused.status_code == 422
    assert "「ぷらす」は読めません（陰性（－・（－）・1）、陽性（＋・（＋）・2）" in refused.get_data(as_text=True)
    saved = clerk.post("/entry/save", data=form("colorectal", fobt_result="陽性", exam_date="7/6/2",
                                                birth_date="S350510"), headers=HX)
    assert saved.status_code == 200 and "保存しました" in saved.get_data(as_text=True)
    stored = models.Screening.get()
    assert stored.items == {"fobt_result": "positive", "referral": "1"} and stored.referral is True
    assert stored.exam_date.isoformat() == "2025-06-02"


def test_the_sheet_has_one_default_action_and_says_pick_the_candidate(clerk, db):
    make_resident()
    set_batch(clerk, "colorectal")
    refused = clerk.post("/entry/save", data=form("colorectal", atena_no=""), headers=HX)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "候補を選んで Enter" in html
    sheet = html[html.index('<form id="sheet"'):]
    buttons = re.findall(r'<button type="submit"[^>]*value="(\w+)"', sheet)
    assert buttons == ["save", "park"]  # 保存 first: Enter on any field saves
    assert not models.QueueItem.select().exists()


def test_the_correction_form_is_filled_as_the_paper_and_reads_it_back(clerk, db):
    make_resident()
    set_batch(clerk, "colorectal")
    clerk.post("/entry/save", data=form("colorectal"), headers=HX)
    screening = models.Screening.get()
    page = clerk.get(f"/screenings/{screening.id}/correct").get_data(as_text=True)
    assert re.search(r'id="c-exam_date"[^>]*value="R7.6.2"', page)  # 和暦, like its hint
    assert re.search(r'id="c-fobt_result"[^>]*value="陽性"', page)
    values = {"exam_date": "R7.6.3", "institution_code": INSTITUTION, "setting": "1",
              "fobt_result": "（－）", "referral": "", "reason": "検査機関からの訂正連絡"}
    assert clerk.post(f"/screenings/{screening.id}/correct", data=values).status_code == 303
    corrected = models.Screening.get_by_id(screening.id)
    assert corrected.items == {"fobt_result": "negative", "referral": "0"} and corrected.referral is False
    assert corrected.exam_date.isoformat() == "2025-06-03"
    bad = clerk.post(f"/screenings/{screening.id}/correct", data={**values, "fobt_result": "?", "reason": "x"})
    assert bad.status_code == 422 and "「?」は読めません" in bad.get_data(as_text=True)


def test_detail_correction_void_and_summary(clerk, db, make_staff):
    from kenshin import verification

    from .factories import actor_of

    make_resident()
    set_batch(clerk)
    clerk.post("/entry/save", data=form(), headers=HX)
    screening = models.Screening.get()
    detail = clerk.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "カテゴリー3a（良性・要精検）" in detail and "要精検" in detail
    values = {"exam_date": "2025-06-02", "institution_code": INSTITUTION, "setting": "1",
              "xray_category": "2", "xray_findings": "", "referral": "", "reason": "読み違い"}
    assert clerk.post(f"/screenings/{screening.id}/correct", data=values).status_code == 303
    detail = clerk.get(f"/screenings/{screening.id}").get_data(as_text=True)
    assert "読み違い" in detail and "<ins>カテゴリー2（良性）</ins>" in detail
    # keyed forms are pending until a second keying agrees (issue 8): not on the summary yet
    summary = clerk.get(f"/screenings/summary/{screening.resident_id}").get_data(as_text=True)
    assert "確定した検診記録はありません" in summary
    verification.key_second(screening.id, {"xray_category": "2", "referral": ""},
                            actor_of(make_staff("clerk")))
    summary = clerk.get(f"/screenings/summary/{screening.resident_id}").get_data(as_text=True)
    assert "カテゴリー2（良性）" in summary
    assert models.AuditEvent.select().where(models.AuditEvent.action == "print").count() == 2
    assert clerk.post(f"/screenings/{screening.id}/void", data={"reason": "別人"}).status_code == 303
    summary = clerk.get(f"/screenings/summary/{screening.resident_id}").get_data(as_text=True)
    assert "確定した検診記録はありません" in summary


def test_admin_adds_and_deactivates_an_institution_with_history(login_as, db):
    client, _ = login_as("admin")
    token = page_csrf(client, "/institutions/")
    response = client.post("/institutions/", data={"csrf_token": token, "institution_code": "5555555555",
                                                   "name": "若葉クリニック"})
    assert response.status_code == 303
    institution = models.Institution.get(code="5555555555")
    client.post(f"/institutions/{institution.id}/active", data={"csrf_token": token, "active": "0"})
    assert models.Institution.get_by_id(institution.id).active is False
    page = client.get(f"/institutions/{institution.id}").get_data(as_text=True)
    assert "参加終了" in page and "若葉クリニック" in page
    assert {"institution.create", "institution.deactivate"} <= {
        e.action for e in models.AuditEvent.select()}


def test_supervisor_uploads_a_results_file_previews_then_confirms(login_as, db):
    import io

    from .test_import_results import csv_text, row

    make_institution()
    make_resident()
    client, _ = login_as("supervisor")
    token = page_csrf(client, "/result-files/")
    data = {"csrf_token": token, "encoding": "utf-8",
            "file": (io.BytesIO(csv_text([row(), row(atena_no="")]).encode()), "clinic.csv")}
    preview = client.post("/result-files/preview", data=data, content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "まだ記録していません" in html
    assert not models.Screening.select().exists()
    upload_token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    done = client.post("/result-files/confirm", data={"csrf_token": token, "token": upload_token})
    assert done.status_code == 303
    assert models.Screening.select().count() == 1 and models.QueueItem.select().count() == 1
    actions = [e.action for e in models.AuditEvent.select().where(models.AuditEvent.action.startswith("import.results"))]
    assert actions == ["import.results.preview", "import.results"]


def test_a_bad_results_file_shows_every_problem_and_records_nothing(login_as, db):
    import io

    from .test_import_results import csv_text, row

    make_institution()
    client, _ = login_as("supervisor")
    token = page_csrf(client, "/result-files/")
    data = {"csrf_token": token, "encoding": "utf-8",
            "file": (io.BytesIO(csv_text([row(sex="3")]).encode()), "bad.csv")}
    preview = client.post("/result-files/preview", data=data, content_type="multipart/form-data")
    assert preview.status_code == 422
    html = preview.get_data(as_text=True)
    assert "2行目 性別: " in html and "line 2, column" not in html


def test_a_periodontal_form_with_cpi_x_saves_for_a_person_with_no_teeth(clerk, db):
    make_resident()
    set_batch(clerk, "periodontal")
    html = clerk.post("/entry/save", data=form("periodontal", cpi_bleeding="X", cpi_pocket="ｘ",
                                               judgement="normal"), headers=HX).get_data(as_text=True)
    assert "保存しました" in html
    saved = models.Screening.get()
    assert saved.items["cpi_bleeding"] == "X" and saved.items["cpi_pocket"] == "X"
    assert dict(catalogue.display_items("periodontal", saved.items))["歯周疾患検査結果（CPI 歯周ポケット）"] == "該当歯なし"


def test_followup_batch_needs_no_setting_and_shows_no_judgement(clerk, db):
    make_resident()
    html = clerk.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "", "exam": "followup"},
                      headers=HX).get_data(as_text=True)
    assert 'name="target"' in html
    html = clerk.post("/entry/save", data=form("followup"), headers=HX).get_data(as_text=True)
    assert "保存しました" in html and "精検不要" not in html
    assert models.Screening.get().setting == 0
    # a screening batch still needs it
    html = clerk.post("/entry/batch", data={"institution_code": INSTITUTION, "setting": "", "exam": "lung"},
                      headers=HX).get_data(as_text=True)
    assert 'name="xray_grade"' not in html


def test_a_low_bone_density_judged_normal_is_a_caution_and_saves(clerk, db):
    make_resident()
    set_batch(clerk, "osteoporosis")
    values = form("osteoporosis", bone_density="65", judgement="normal")
    html = clerk.post("/entry/check", data=values, headers={**HX, "HX-Trigger-Name": "judgement"}).get_data(as_text=True)
    assert "確認:" in html and "70%以下" in html
    assert "保存しました" in clerk.post("/entry/save", data=values, headers=HX).get_data(as_text=True)


def test_queue_offers_a_birth_date_one_day_off_marked_as_such(clerk, db):
    """Issue 20: a form whose birth date is one day off used to say 「候補はいません」."""
    person = make_resident()
    set_batch(clerk)
    clerk.post("/entry/save", data=form(atena_no="", birth_date="S35.5.11", action="park"), headers=HX)
    item = models.QueueItem.get()
    page = clerk.get(f"/queue/{item.id}").get_data(as_text=True)
    assert f'value="{person.id}"' in page and "生年月日が1日違い" in page
    assert "候補はいません" not in page
    event = models.AuditEvent.select().where(models.AuditEvent.action == "queue.view") \
        .order_by(models.AuditEvent.seq.desc()).first()
    assert event.details["candidates"] == [person.id]
