"""判定保留 in Chromium (issue 13): a lung form whose film could not be read (判定 A) shows
「判定保留（再検査）」 live on the entry screen, after verification, on the person page and in the
printed summary (PDF text via pdftotext) — never 「精検不要」."""
import shutil
import subprocess

import pytest
from playwright.sync_api import expect

import models

from .helpers import enrolled_person
from .test_entry import office, set_batch, type_and_tab, type_identity, type_items  # noqa: F401 (fixture)
from .test_verification import open_first_batch, stored

UNREAD = {"symptoms": "0", "xray_grade": "A", "sputum_class": "", "other_findings": ""}


def test_unreadable_lung_film_is_pending_on_screen_and_in_print(app, page, new_page, office, tmp_path):  # noqa: F811
    if not shutil.which("pdftotext"):
        pytest.skip("!!! pdftotext (poppler-utils) missing: PDF text not checked !!!")
    enrolled_person(app, page, "keyer13", "clerk", name="入力 一郎")
    page.goto("/entry/")
    set_batch(page, "lung")
    type_identity(page)
    page.keyboard.press("Control+A")
    type_and_tab(page, "R7.6.2")
    type_and_tab(page, "0")  # symptoms
    type_and_tab(page, "A")  # xray_grade: 読影不能
    derived = page.locator(".derived")
    expect(derived).to_contain_text("判定保留（再検査）")
    expect(derived).to_contain_text("もう一度検査")
    expect(derived).not_to_contain_text("精検不要")
    page.locator("#f-exam_date").focus()
    type_items(page, "lung", UNREAD)
    page.keyboard.press("Enter")
    status = page.locator(".entry-status")
    expect(status).to_contain_text("保存しました")
    expect(status).to_contain_text("【判定保留（再検査）（未確定）】")

    # a second clerk keys it again blind: it agrees and is confirmed as 判定保留
    verifier = new_page()
    enrolled_person(app, verifier, "verifier13", "clerk", name="確認 二郎")
    open_first_batch(verifier)
    expect(verifier.locator("#v-xray_grade")).to_be_focused()
    verifier.keyboard.type("A")
    verifier.keyboard.press("Tab")  # sputum: not done
    verifier.keyboard.press("Tab")  # referral: blank, derived
    verifier.keyboard.press("Enter")
    expect(verifier.locator(".entry-status")).to_contain_text("確定しました")
    expect(verifier.locator(".entry-status")).to_contain_text("判定: 判定保留（再検査）")
    screening, _ = stored(app)
    assert screening.status == "confirmed" and screening.pending and not screening.referral

    # the person page, then the printed summary as a PDF
    page.goto(f"/residents/{screening.resident_id}")
    row = page.locator("table.screenings tbody tr").first
    expect(row).to_contain_text("判定保留（再検査）")
    expect(row).not_to_contain_text("精検不要")
    page.goto(f"/screenings/summary/{screening.resident_id}")
    page.get_by_role("button", name="印刷する").wait_for()
    pdf = tmp_path / "summary.pdf"
    page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    table, _, legend = text.partition("判定の見かた")
    assert "肺がん" in table and "判定保留（再検査）" in table, text
    assert "精検不要" not in table, text
    assert "もう一度検査" in legend, text
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert models.Screening.select().count() == 1
        models.db.close()
