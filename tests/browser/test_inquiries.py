"""Inquiries and disclosure requests in Chromium: record, handle, print to A4 PDF and read the PDF back."""
import os
import re
import shutil
import subprocess
from datetime import date

import pytest

import models
from kenshin.audit.labels import RESIDENT_PHRASES
from kenshin import audit
from kenshin.requests import disclosure
from kenshin.requests import holdings
from kenshin.requests import inquiries
from kenshin.access import staff as staff_domain
from kenshin.core.dates import today_jst

from ..factories import VALID_ITEMS, make_institution, make_resident, make_screening
from .helpers import enrolled_person

# Keep the PDFs for a person to look at: KENSHIN_KEEP_PDF=/some/dir
KEEP = os.environ.get("KENSHIN_KEEP_PDF")


def _pdf_text(page, tmp_path, name):
    """Print the current page as Chromium does (A4), keep it if asked, return its text and pages."""
    if not shutil.which("pdftotext"):
        pytest.skip("!!! pdftotext (poppler-utils) missing: PDF text not checked !!!")
    pdf = tmp_path / f"{name}.pdf"
    page.pdf(path=str(pdf), format="A4")
    if KEEP:
        os.makedirs(KEEP, exist_ok=True)
        shutil.copy(pdf, os.path.join(KEEP, pdf.name))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text, text.rstrip("\f").split("\f")


def _page_number(sheet: str) -> tuple[int, int]:
    """The "N / M" that print.css puts in each page's bottom margin (the last one on the page)."""
    found = re.findall(r"(\d+)\s*/\s*(\d+)\s*$", sheet.rstrip())
    assert found, sheet[-200:]
    return int(found[-1][0]), int(found[-1][1])


def _keep_screen(page, name):
    if KEEP:
        os.makedirs(KEEP, exist_ok=True)
        page.screenshot(path=os.path.join(KEEP, f"{name}.png"), full_page=True)


class Db:
    """The live server's database, from the test's own thread."""

    def __init__(self, app):
        self.app = app

    def __enter__(self):
        self.context = self.app.app_context()
        self.context.push()
        models.db.connect(reuse_if_open=True)
        return self

    def __exit__(self, *exc):
        models.db.close()
        self.context.pop()


def _resident(atena_no="000000123456", **extra):
    return make_resident(atena_no, resident_since=date(1990, 4, 1), **extra)


def test_inquiry_with_two_handling_entries_prints_as_an_a4_record(app, page, tmp_path):
    with Db(app):
        person = _resident()
    enrolled_person(app, page, "uketsuke", "clerk", name="受付 花子")

    page.goto("/inquiries/new")
    page.get_by_label("受付日").fill("令和7年6月2日")
    page.get_by_label("受付時刻").fill("9:30")
    page.get_by_label("受付方法").select_option("電話")
    page.get_by_label("問合せ者の区分").select_option("本人")
    page.get_by_label("問合せ者の氏名・名称").fill("千葉 花子")
    page.get_by_label("連絡先（電話番号・住所・メール等）").fill("043-245-0000")
    page.get_by_label("対象者の宛名番号（わかる場合）").fill("000000123456")
    page.get_by_role("button", name="確認").click()
    page.locator("#person-confirm").get_by_text("昭和35年5月10日 (1960-05-10)").wait_for()
    page.get_by_label("問合せ内容").fill("乳がん検診の結果通知が届いていない")
    _keep_screen(page, "screen-inquiry-new")
    page.get_by_role("button", name="受付を登録").click()
    page.get_by_text("問合せを受け付けました").wait_for()

    for text in ("医療機関に確認し、結果は発送済みと回答", "再送を手配し、本人に電話で連絡"):
        page.get_by_label("対応内容（行ったこと・回答したこと）").fill(text)
        page.get_by_role("button", name="対応を記録").click()
        page.locator("#timeline").get_by_text(text).wait_for()
    assert page.locator("#timeline li").count() == 2
    _keep_screen(page, "screen-inquiry")
    page.get_by_role("button", name="完了にする").click()
    page.get_by_text("問合せを完了にしました").wait_for()

    page.get_by_role("link", name="問合せ記録票（印刷用）").click()
    page.get_by_role("heading", name="問合せ記録票").wait_for()
    text, pages = _pdf_text(page, tmp_path, "inquiry")
    for expected in ("千葉市 保健福祉局 健康福祉部 健康支援課", "問合せ記録票",
                     "令和7年6月2日 (2025-06-02) 09:30", "電話", "本人", "千葉 花子", "043-245-0000",
                     "昭和35年5月10日 (1960-05-10)", "000000123456", "乳がん検診の結果通知が届いていない",
                     "医療機関に確認し、結果は発送済みと回答", "再送を手配し、本人に電話で連絡",
                     "受付 花子", "完了", "課長", "係長", "担当"):
        assert expected in text, expected
    assert _page_number(pages[0]) == (1, 1)
    assert "印刷する" not in text and "ログアウト" not in text  # controls stay on screen
    assert len(pages) == 1

    with Db(app):
        inquiry = models.Inquiry.get()
        assert inquiry.resident_id == person.id and inquiry.status == "closed"
        printed = models.AuditEvent.select().where(models.AuditEvent.action == "inquiry.print")
        assert [e.object_id for e in printed] == [str(inquiry.id)]


def test_long_timeline_runs_over_pages_with_page_numbers(app, page, tmp_path):
    enrolled_person(app, page, "nagai", "clerk", name="長井 一郎")
    with Db(app):
        clerk = models.Staff.get(models.Staff.login_id == "nagai")
        actor = audit.Actor.of_staff(clerk, "127.0.0.1")
        inquiry = inquiries.create(actor, received_date="2025-06-02", received_time="9:00",
                                   channel="文書", requester_type="医療機関",
                                   requester_name="千葉中央クリニック", requester_contact="",
                                   subject="検診票の記入方法について")
        for n in range(1, 41):
            inquiries.add_entry(inquiry.id, actor, f"第{n}回の対応: 記入例を送付し、電話で補足説明した。")
    page.goto(f"/inquiries/{inquiry.id}/print")
    text, pages = _pdf_text(page, tmp_path, "inquiry-long")
    assert len(pages) >= 2
    assert [_page_number(sheet) for sheet in pages] == [(n, len(pages)) for n in range(1, len(pages) + 1)]
    assert "第1回の対応" in pages[0] and "第40回の対応" in pages[-1]
    assert "No." in pages[-1]  # the timeline's header row repeats on every page
    assert all(re.search(rf"問合せ記録票\s+受付番号\s*{inquiry.id}\b", sheet) for sheet in pages)


def test_disclosure_document_for_a_person_with_screenings_and_access_history(app, page, tmp_path):
    with Db(app):
        person = _resident()
        clinic = make_institution()
        for n, (exam, items) in enumerate((
                ("breast", {"mammography_category": "3", "mammography_findings": "石灰化"}),
                ("colorectal", {"fobt_result": "negative"}),
                ("osteoporosis", VALID_ITEMS["osteoporosis"]))):
            make_screening(person, exam, date(2025, 6, 2 + n), institution=clinic, items=items,
                           source="file")
        viewer, _ = staff_domain.create("etsuran", "閲覧 三郎", "健康支援課成人保健係", ["clerk"],
                                        audit.Actor.system("pytest"))
        with models.db.atomic():
            audit.record("resident.view", audit.Actor.of_staff(viewer, "10.0.0.8"), resident=person,
                         object_type="resident", object_id=person.id)
            audit.record("screening.correct", audit.Actor.of_staff(viewer, "10.0.0.8"),
                         resident=person, object_type="screening", object_id=1,
                         details={"changed": ["mammography_findings"]})
    enrolled_person(app, page, "kakaricho", "supervisor", name="係長 花子")
    with Db(app):
        boss = models.Staff.get(models.Staff.login_id == "kakaricho")
        request = disclosure.create(
            audit.Actor.of_staff(boss, "127.0.0.1"), kind="disclosure",
            received_on=today_jst().isoformat(), requester_name="千葉 花子", requester_relation="本人",
            identity_document="運転免許証", atena_no=person.atena_no, resident_id=person.id)

    page.goto("/disclosures/")
    page.get_by_role("link", name=str(request.id), exact=True).click()
    _keep_screen(page, "screen-disclosure")
    page.get_by_role("link", name="開示文書を作成（印刷用）").click()
    page.get_by_role("heading", name="保有個人情報開示文書").wait_for()
    text, pages = _pdf_text(page, tmp_path, "disclosure")
    flat = " ".join(text.split())
    # the text in reading order, each table cell whole (a cell that wraps stays together)
    cells = "".join(subprocess.run(["pdftotext", str(tmp_path / "disclosure.pdf"), "-"], check=True,
                                   capture_output=True, text=True).stdout.split())
    for expected in ("千葉市 保健福祉局 健康福祉部 健康支援課", "千葉 花子", "チバ ハナコ",
                     "昭和35年5月10日 (1960-05-10)", "千葉県千葉市中央区千葉港1-1", "000000123456",
                     "平成2年4月1日 (1990-04-01)", "乳がん", "大腸がん", "骨粗鬆症", "千葉中央クリニック",
                     "マンモグラフィ検査時の判定区分", "石灰化", "便潜血検査の判定区分", "陰性",
                     "大腿骨近位部骨折の家族歴区分", "骨密度", "82%YAM", "閲覧 三郎",
                     "健康支援課成人保健係の職員（閲覧 三郎）", RESIDENT_PHRASES["resident.view"],
                     RESIDENT_PHRASES["screening.correct"], "係長 花子",
                     RESIDENT_PHRASES["disclosure.document"], "以上"):
        assert "".join(expected.split()) in cells, expected
    # the access record speaks to the resident: no action codes, login ids or staff-screen names
    for internal in ("resident.view", "etsuran", holdings.action_label("resident.view")):
        assert internal not in flat, internal
    assert [_page_number(sheet) for sheet in pages] == [(n, len(pages)) for n in range(1, len(pages) + 1)]
    for sheet in pages:  # every page: the mark, the person, who printed it
        flat_sheet = " ".join(sheet.split())
        assert "取扱注意（個人情報）" in flat_sheet and "千葉 花子（宛名番号 000000123456）" in flat_sheet
        assert "出力者 係長 花子" in flat_sheet
    assert all(re.search(rf"受付番号\s*{request.id}\s+千葉 花子 様", sheet) for sheet in pages)
    with Db(app):
        produced = models.AuditEvent.get(models.AuditEvent.action == "disclosure.document")
        assert produced.resident_id == person.id and produced.details["screenings"] == 3
