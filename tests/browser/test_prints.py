"""The auditor's log at 1366 px, and every print, in Chromium.

The log page has no horizontal scroll and no raw JSON, Python values or code keys in its table,
one line per event. Every printed PDF (page.pdf, read back page by page with pdftotext -f i -l i)
carries 「取扱注意（個人情報）」, 出力者, 出力日時 and its page number x / y on every page — and the
person (氏名・宛名番号) on every page when the print is about one person."""
import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest

import models
from kenshin import audit
from kenshin.core import dates
from kenshin.requests import inquiries

from ..factories import make_resident, make_screening
from .helpers import enrolled_person, menu_click
from .test_inquiries import Db

PERSON, ATENA = "野村 明美", "000000020360"
RAW = re.compile(r"[{}\[\]]|\bTrue\b|\bFalse\b|\bNone\b|\b[a-z]+_[a-z_]+\b|\b[a-z]+\.[a-z_]+\b")

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="!!! pdftotext (poppler-utils) missing: PDFs not checked !!!")


def pdf_pages(page, path, landscape=False) -> list[str]:
    """Print the page as Chromium does for the print dialog (the CSS page size) and read each page."""
    page.pdf(path=str(path), prefer_css_page_size=True, print_background=True)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])
    width, height = map(float, re.search(r"^Page size:\s+([\d.]+) x ([\d.]+)", info, re.M).groups())
    assert (width > height) == landscape, info
    return [" ".join(subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(path), "-"],
                                    capture_output=True, text=True, check=True).stdout.split())
            for i in range(1, count + 1)]


def assert_every_page_marked(pages, printer, person=None):
    for number, sheet in enumerate(pages, 1):
        assert "取扱注意（個人情報）" in sheet, (number, sheet[:300])
        assert f"出力者 {printer}" in sheet and "出力日時 令和" in sheet, (number, sheet[:300])
        assert re.search(rf"\b{number}\s*/\s*{len(pages)}$", sheet), (number, sheet[-120:])
        if person:
            assert f"{person[0]}（宛名番号 {person[1]}）" in sheet, (number, sheet[:300])


def _arrange(app):
    """A person with many screenings and a long inquiry, and a log full of varied events."""
    with Db(app):
        person = make_resident(ATENA, PERSON, "ノムラ アケミ", birth=date(1958, 3, 3))
        first = date(2026, 4, 1) - timedelta(days=40 * 30)
        for n in range(36):
            make_screening(person, "colorectal", first + timedelta(days=30 * n), referral=n % 5 == 0,
                           source="file")
        clerk = models.Staff.create(login_id="yamada", name="山田 太郎", division="健康支援課",
                                    roles="clerk", created_at=dates.now_utc())
        actor = audit.Actor.of_staff(clerk, "10.0.0.21")
        start = dates.now_utc() - timedelta(hours=2)
        models.UserSession.create(id="d" * 64, staff=clerk, created_at=start, last_seen_at=start,
                                  terminal="10.0.0.21")
        inquiry = inquiries.create(actor, received_date=(dates.today_jst() - timedelta(days=1)).isoformat(),
                                   received_time="9:00", channel="電話", requester_type="本人",
                                   requester_name=PERSON, requester_contact="",
                                   subject="検診結果の通知について", atena_no=ATENA,
                                   resident_id=person.id)
        for n in range(1, 41):
            inquiries.add_entry(inquiry.id, actor, f"第{n}回の対応: 結果の見かたを電話で説明した。")
        screening = models.Screening.select().where(models.Screening.resident == person).first()
        with models.db.atomic():
            for n in range(12):
                audit.record("inquiry.list", actor, object_type="inquiry",
                             details={"filters": {"kind": "", "status": "open"}, "count": 3, "page": 1})
                audit.record("screening.verify", actor, resident=person, object_type="screening",
                             object_id=screening.id,
                             details={"exam": "colorectal", "round": 2, "verified_keys": ["fobt_result"],
                                      "agreed": False, "differences": ["fobt_result", "referral"],
                                      "status": "pending"})
                audit.record("session.lock", actor, object_type="session", object_id="d" * 12,
                             details={"why": "idle"})
                audit.record("staff.unlock", actor, object_type="staff", object_id=clerk.id,
                             details={"login_id": "yamada", "failures": 3, "was_locked": True})
                audit.record("resident.search", actor, object_type="resident",
                             details={"criteria": {"kana": "ノムラ", "birth_date": "1958-03-03"},
                                      "hits": 1, "more": False})
        return person.id, inquiry.id


def test_auditor_log_fits_1366_in_words_and_prints_landscape(app, page, tmp_path):
    _arrange(app)
    enrolled_person(app, page, "kansa", "admin", "auditor", name="監査 太郎")
    page.set_viewport_size({"width": 1366, "height": 768})
    menu_click(page, "監査ログの閲覧")
    page.get_by_role("button", name="検索").click()
    table = page.locator("table.audit-table")
    table.wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366
    body = table.locator("tbody").inner_text()
    # nothing essential is cut: the date and time of every event is shown whole
    assert table.locator("tbody td.nowrap").evaluate_all(
        "cells => cells.every(c => c.scrollWidth <= c.clientWidth)")
    assert not RAW.search(body), RAW.search(body)
    for words in ("検診記録 No.", f"（{PERSON}）", "職員 山田 太郎（yamada）", "セッション（山田 太郎、",
                  "絞り込み: 状態=未対応", "一致: いいえ", "相違した項目: 便潜血検査の判定区分",
                  "カナ氏名=ノムラ"):
        assert words in body, words
    # one line per event: every row as tall as the shortest one
    heights = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert len(heights) == 50 and max(heights) < 1.5 * min(heights), heights
    # the 詳細 opens to its full text
    long_row = table.locator("tbody tr", has_text="相違した項目").first
    long_row.locator("td.details summary").click()
    assert long_row.evaluate("r => r.getBoundingClientRect().height") > 1.5 * min(heights)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    page.get_by_role("button", name="印刷用ページ（A4）").click()
    page.wait_for_url("**/audit/print")
    page.get_by_role("heading", name="監査ログ", exact=True).wait_for()
    pages = pdf_pages(page, tmp_path / "log.pdf", landscape=True)
    assert_every_page_marked(pages, "監査 太郎")
    per_page = [len(re.findall(r"\(\d{4}-\d\d-\d\d\) \d\d:\d\d:\d\d", p)) for p in pages]
    assert sum(per_page) >= 60 and 18 <= max(per_page) <= 40, per_page  # about 25 events a page
    print(f"log at 1366 px: scrollWidth {width}; "
          f"row heights {min(heights)}–{max(heights)} px; landscape print: events per page {per_page}")


def test_person_prints_name_the_person_on_every_page(app, page, tmp_path):
    person_id, inquiry_id = _arrange(app)
    enrolled_person(app, page, "kakari", "clerk", "admin", "auditor", name="係員 花子")
    printer = "係員 花子（健康支援課）"

    page.goto(f"/residents/{person_id}")
    page.get_by_role("button", name="印刷用の画面を開く").click()
    page.get_by_role("button", name="印刷する").wait_for()
    pages = pdf_pages(page, tmp_path / "record.pdf")
    assert len(pages) >= 2
    assert_every_page_marked(pages, printer, (PERSON, ATENA))

    page.goto(f"/screenings/summary/{person_id}")
    pages = pdf_pages(page, tmp_path / "summary.pdf")
    assert len(pages) >= 2
    assert_every_page_marked(pages, printer, (PERSON, ATENA))
    assert "（未入力）" not in " ".join(pages)  # empty items are left out

    page.goto(f"/inquiries/{inquiry_id}/print")
    pages = pdf_pages(page, tmp_path / "inquiry.pdf")
    assert len(pages) >= 2
    assert_every_page_marked(pages, printer, (PERSON, ATENA))

    page.goto("/audit/person")
    page.get_by_label("宛名番号").fill(ATENA)
    page.get_by_label("期間（開始日）").fill((dates.today_jst() - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="作成").click()
    page.get_by_text("あなたの情報が扱われた記録").wait_for()
    pages = pdf_pages(page, tmp_path / "access.pdf")
    assert_every_page_marked(pages, printer, (PERSON, ATENA))
    text = " ".join(pages)
    assert "健康支援課の職員（山田 太郎）" in text and "yamada" not in text and "screening" not in text


def test_list_prints_carry_the_mark_printer_and_page_on_every_page(app, page, tmp_path):
    _arrange(app)
    enrolled_person(app, page, "kanri", "supervisor", "admin", "auditor", name="管理 次郎")
    printer = "管理 次郎（健康支援課）"
    year = dates.fiscal_year(dates.today_jst()) - 1

    page.goto(f"/followup/print?fiscal_year={year}")
    assert_every_page_marked(pdf_pages(page, tmp_path / "followup.pdf"), printer)

    page.goto(f"/statistics/print?fiscal_year={year}")
    assert_every_page_marked(pdf_pages(page, tmp_path / "statistics.pdf"), printer)

    day = dates.today_jst()
    page.goto(f"/audit/heads?start={(day - timedelta(days=1)).isoformat()}&end={day.isoformat()}")
    page.get_by_role("button", name="印刷用ページ（A4）").click()
    page.wait_for_url("**/audit/heads/print")
    page.get_by_role("heading", name="監査ログの日次ハッシュ").wait_for()
    assert_every_page_marked(pdf_pages(page, tmp_path / "heads.pdf"), printer)

    page.goto("/incidents/")
    page.get_by_label("開始日").fill((dates.today_jst() - timedelta(days=1)).isoformat())
    page.get_by_label("終了日").fill(dates.today_jst().isoformat())
    page.get_by_label("職員", exact=True).check()
    page.get_by_label("職員のログインID・端末（IPアドレス）・取込番号").fill("yamada")
    page.get_by_role("button", name="印刷用の画面").click()
    page.wait_for_url("**/incidents/print")
    page.get_by_role("heading", name="漏えい等の調査 — 影響を受けた可能性のある人").wait_for()
    pages = pdf_pages(page, tmp_path / "incident.pdf")
    assert_every_page_marked(pages, printer)
    assert PERSON in " ".join(pages)
