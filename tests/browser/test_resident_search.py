"""A clerk in Chromium finds a person from a paper form as they type, opens the page, prints it."""
import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest

import models

from ..factories import TODAY, make_resident, make_screening
from .helpers import enrolled_person, menu_click


def _arrange(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        target = make_resident("0000070001", name="髙橋　花子", kana="タカハシ　ハナコ", sex=2,
                               birth=date(1982, 4, 1), postal_code="260-0001")
        make_resident("0000070002", name="高橋　花江", kana="タカハシ　ハナエ", sex=2, birth=date(1982, 4, 2))
        make_resident("0000070003", name="高畑　一郎", kana="タカハタ　イチロウ", sex=1, birth=date(1982, 4, 1))
        make_resident("0000070004", name="高橋　若葉", kana="タカハシ　ワカバ", sex=2,
                      birth=TODAY - timedelta(days=365 * 12))
        make_screening(target, exam="breast", exam_date=date(2024, 10, 7), referral=True,
                       items={"mammography_category": "3", "mammography_findings": "石灰化",
                              "referral": "1"})
        target_id = target.id
        models.db.close()
    return target_id


def test_clerk_finds_a_person_by_kana_and_wareki_birth_date_and_opens_the_page(app, page):
    target_id = _arrange(app)
    enrolled_person(app, page, "madoguchi", "clerk", name="窓口 次郎")
    menu_click(page, "住民検索")
    page.get_by_role("heading", name="住民検索").wait_for()

    page.get_by_label("カナ（前から）").press_sequentially("たかはし", delay=40)
    page.get_by_text("2つ以上").wait_for()  # one criterion: asks for another, searches nothing
    page.get_by_label("生年月日").press_sequentially("S57.4.1", delay=40)
    link = page.get_by_role("link", name="髙橋　花子")
    link.wait_for()
    assert page.url.endswith("/residents/")  # updated in place, no navigation, nothing in the URL
    results = page.locator("#results").inner_text()
    assert "1人見つかりました" in results and "昭和57年4月1日 (1982-04-01)" in results
    assert "花江" not in results and "若葉" not in results

    link.click()
    page.get_by_role("heading", name="髙橋　花子（タカハシ　ハナコ）").wait_for()
    assert page.url.endswith(f"/residents/{target_id}")
    body = page.locator("main").inner_text()
    for text in ("女", "昭和57年4月1日 (1982-04-01)", "〒260-0001", "令和6年度", "乳がん", "要精検", "石灰化"):
        assert text in body, text
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        actions = [e.action for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)]
        models.db.close()
    assert "resident.search" in actions and actions[-1] == "resident.view"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_print_view_prints_the_record_on_a4_without_the_screen_controls(app, page, tmp_path):
    target_id = _arrange(app)
    enrolled_person(app, page, "insatsu", "clerk", name="印刷 三郎")
    page.goto(f"/residents/{target_id}")
    page.get_by_role("button", name="印刷用の画面を開く").click()
    page.get_by_role("button", name="印刷する").wait_for()
    pdf = tmp_path / "record.pdf"
    page.pdf(path=str(pdf), format="A4", prefer_css_page_size=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("髙橋", "タカハシ", "昭和57年4月1日", "1982-04-01", "乳がん", "要精検", "基本情報",
                     "出力者 健康支援課 印刷 三郎"):
        assert expected in text, (expected, text)
    for screen_only in ("印刷する", "ログアウト", "画面ロック", "住民検索へ戻る", "メニュー"):
        assert screen_only not in text, (screen_only, text)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert "(A4)" in info and re.search(r"^Pages:\s+1$", info, re.M), info
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        printed = models.AuditEvent.select().where(models.AuditEvent.action == "print").get()
        models.db.close()
    assert printed.resident_id == target_id


def test_the_person_page_itself_prints_only_a_notice(app, page, tmp_path):
    target_id = _arrange(app)
    enrolled_person(app, page, "direct", "clerk")
    page.goto(f"/residents/{target_id}")
    page.get_by_role("heading", name="髙橋　花子（タカハシ　ハナコ）").wait_for()
    page.emulate_media(media="print")
    assert page.get_by_text("この画面は印刷できません").is_visible()
    assert not page.get_by_text("昭和57年4月1日 (1982-04-01)").is_visible()
