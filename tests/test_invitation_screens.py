"""The rules, extraction, print and exclusion screens through the test client (both databases)."""
import hashlib
from datetime import date

import pytest

import models
from kenshin.invitations import extraction, seiri

from .conftest import login, page_csrf
from .factories import make_institution, make_resident

HX = {"HX-Request": "true"}


@pytest.fixture
def supervisor(login_as, db):
    make_institution()
    client, person = login_as("supervisor")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    return client


def rules_form(client, fy=2026, **changes):
    html = client.get(f"/invitations/rules?fiscal_year={fy}").get_data(as_text=True)
    import re
    values = dict(re.findall(r'name="([a-z_]+-[a-z_]+)" value="([^"]*)"', html))
    for code in ("gastric_xray", "gastric_endoscopy", "colorectal", "lung", "breast", "cervical",
                 "osteoporosis", "periodontal", "hepatitis"):
        sex = re.search(rf'id="{code}-sex".*?<option value="(\d)" selected', html, re.S).group(1)
        basis = re.search(rf'id="{code}-basis".*?<option value="([a-z_]+)" selected', html, re.S).group(1)
        values[f"{code}-sex"], values[f"{code}-basis"] = sex, basis
        if re.search(rf'id="{code}-on_request_above"[^>]*checked', html):
            values[f"{code}-on_request_above"] = "1"
    values.update(changes)
    values["fiscal_year"] = str(fy)
    return values


def test_rules_screen_shows_wareki_ranges_and_saves_a_version(supervisor):
    html = supervisor.get("/invitations/rules?fiscal_year=2026").get_data(as_text=True)
    assert "昭和61年4月1日〜昭和62年3月31日生まれ" in html  # hepatitis: 40 in 令和8年度
    typed = rules_form(supervisor, **{"hepatitis-ages": "41"})
    panel = supervisor.post("/invitations/rules/ranges", data=typed, headers=HX).get_data(as_text=True)
    assert "昭和60年4月1日〜昭和61年3月31日生まれ" in panel
    assert not models.ScreeningRuleSet.select().exists()  # nothing saved by the check
    refused = supervisor.post("/invitations/rules", data=typed)  # no reason
    assert refused.status_code == 422 and "変更の理由" in refused.get_data(as_text=True)
    saved = supervisor.post("/invitations/rules", data=dict(typed, reason="肝炎は41歳"))
    assert saved.status_code == 303
    html = supervisor.get("/invitations/rules?fiscal_year=2026").get_data(as_text=True)
    assert "第1版" in html and "昭和60年4月1日〜昭和61年3月31日生まれ" in html


@pytest.fixture
def second_supervisor(app, make_staff):
    """Another supervisor, in a browser of their own: the one who signs a run off."""
    other = app.test_client()
    assert login(other, make_staff("supervisor")).get_json()["ok"]
    other.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(other)
    return other


def test_preview_writes_nothing_then_the_run_prints_letters_and_labels(supervisor, second_supervisor):
    woman = make_resident()
    page = supervisor.post("/invitations/preview", data={"fiscal_year": "2025", "as_of": "2025-04-01"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="preview-people">1<' in html
    assert not models.InvitationRun.select().exists() and not models.SeiriNumber.select().exists()
    done = supervisor.post("/invitations/runs", data={"fiscal_year": "2025", "as_of": "2025-04-01"})
    assert done.status_code == 303
    run = models.InvitationRun.get()
    number = models.SeiriNumber.get().number
    assert second_supervisor.post(f"/invitations/runs/{run.id}/signoff", data={"confirmed": "1"}).status_code == 303
    letters = supervisor.post(f"/invitations/runs/{run.id}/letters", data={"lot": "1"}).get_data(as_text=True)
    assert number in letters and f'data-code128="{number}"' in letters and "<rect" in letters
    assert woman.name in letters and "乳がん" in letters
    # a letter to the resident carries its control number, not the office's 取扱注意 stamp
    assert "取扱注意" not in letters and "管理番号" in letters
    labels = supervisor.post(f"/invitations/runs/{run.id}/labels", data={"lot": "1"}).get_data(as_text=True)
    assert "〒260-0026" in labels and f"{woman.name} 様" in labels and "取扱注意（個人情報）" in labels
    prints = models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_PRINT)
    assert sorted(e.details["report"] for e in prints) == ["labels", "letters"]
    download = supervisor.post(f"/invitations/runs/{run.id}/export",
                               data={"reason": "委託先へ送付", "encoding": "utf-8"})
    assert download.status_code == 200 and download.data.decode().startswith("seiri_no,atena_no,")
    event = models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_EXPORT).get()
    assert event.details["sha256"] == hashlib.sha256(download.data).hexdigest()
    assert event.details["why"] == "委託先へ送付"


def test_a_bad_date_is_refused_on_screen(supervisor):
    page = supervisor.post("/invitations/preview", data={"fiscal_year": "2025", "as_of": "2030-01-01"})
    assert page.status_code == 422 and "基準日" in page.get_data(as_text=True)


def test_exclusions_screen(login_as, db):
    client, _ = login_as("clerk")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    someone = make_resident()
    url = f"/invitations/people/{someone.id}/exclusions"
    refused = client.post(url, data={"exam": "", "reason": "other", "note": "", "from_year": "2025"})
    assert refused.status_code == 422 and "その他" in refused.get_data(as_text=True)
    added = client.post(url, data={"exam": "colorectal", "reason": "workplace", "from_year": "2025",
                                   "to_year": "2026"})
    assert added.status_code == 303
    row = models.InvitationExclusion.get()
    assert (row.exam, row.reason, row.from_year, row.to_year) == ("colorectal", "workplace", 2025, 2026)
    assert client.post(f"/invitations/exclusions/{row.id}/end").status_code == 303
    assert models.InvitationExclusion.get().ended_at is not None


def test_entry_screen_says_the_check_digit_is_wrong_and_finds_the_person_by_a_right_one(login_as, db):
    from .test_entry_screens import form, set_batch

    make_institution()
    client, person = login_as("clerk")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_csrf(client)
    woman = make_resident()
    models.SeiriNumber.create(number=seiri.number_for(100000050), resident=woman, fiscal_year=2025,
                              issued_at=woman.updated_at)
    set_batch(client)
    good = seiri.number_for(100000050)
    wrong = good[:-1] + str((int(good[-1]) + 3) % 10)
    html = client.post("/entry/lookup", data=form(seiri_no=wrong, atena_no=""), headers=HX).get_data(as_text=True)
    assert seiri.WRONG_CHECK_DIGIT in html
    html = client.post("/entry/lookup", data=form(seiri_no=good, atena_no=""), headers=HX).get_data(as_text=True)
    assert seiri.WRONG_CHECK_DIGIT not in html and "000000000001" in html


def test_nothing_of_a_run_is_printed_or_exported_until_a_second_supervisor_signs_it_off(supervisor, second_supervisor):
    woman = make_resident()
    supervisor.post("/invitations/runs", data={"fiscal_year": "2025", "as_of": "2025-04-01"})
    run = models.InvitationRun.get()
    page = supervisor.get(f"/invitations/runs/{run.id}").get_data(as_text=True)
    assert "未承認" in page and 'id="signoff-form"' not in page  # the one who ran it sees no button
    assert "生年月日の範囲" in page and "年度末年齢" in page and "65-69歳" in page
    for what in ("letters", "labels"):
        refused = supervisor.post(f"/invitations/runs/{run.id}/{what}", data={"lot": "1"})
        assert refused.status_code == 409 and extraction.NOT_SIGNED in refused.get_data(as_text=True)
        assert woman.name not in refused.get_data(as_text=True)
    refused = supervisor.post(f"/invitations/runs/{run.id}/export", data={"reason": "委託先へ送付", "encoding": "utf-8"})
    assert refused.status_code == 409 and not refused.data.startswith(b"seiri_no")
    assert not models.AuditEvent.select().where(
        models.AuditEvent.action.in_((extraction.ACTION_PRINT, extraction.ACTION_EXPORT))).exists()
    # the person who ran it cannot sign it off, even by posting the form
    own = supervisor.post(f"/invitations/runs/{run.id}/signoff", data={"confirmed": "1"})
    assert own.status_code == 422 and extraction.OWN_RUN in own.get_data(as_text=True)
    # a second supervisor must tick that they checked the rules and counts
    page = second_supervisor.get(f"/invitations/runs/{run.id}").get_data(as_text=True)
    assert 'id="signoff-form"' in page and 'for="signoff-confirmed"' in page
    unticked = second_supervisor.post(f"/invitations/runs/{run.id}/signoff", data={})
    assert unticked.status_code == 422 and extraction.NOT_CONFIRMED in unticked.get_data(as_text=True)
    assert models.InvitationRun.get().signed_at is None
    assert second_supervisor.post(f"/invitations/runs/{run.id}/signoff", data={"confirmed": "1"}).status_code == 303
    again = second_supervisor.post(f"/invitations/runs/{run.id}/signoff", data={"confirmed": "1"})
    assert again.status_code == 422 and extraction.ALREADY_SIGNED in again.get_data(as_text=True)
    assert models.AuditEvent.select().where(models.AuditEvent.action == extraction.ACTION_SIGNOFF).count() == 1
    page = supervisor.get(f"/invitations/runs/{run.id}").get_data(as_text=True)
    assert "承認済み" in page
    assert supervisor.post(f"/invitations/runs/{run.id}/letters", data={"lot": "1"}).status_code == 200
