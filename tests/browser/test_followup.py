"""精検管理 in Chromium: a supervisor opens the follow-up list, prints a 受診勧奨 letter (the PDF read
back with pdftotext), sees the reminder on the person's line, then opens the indicator screen and
sees the chart."""
import re
import shutil
import subprocess
from datetime import date

import pytest

import models
from kenshin.core import dates
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.kana import kana_key, normalize_kana
from kenshin.core.names import name_key

from tests.factories import VALID_ITEMS

from .helpers import enrolled_person, menu_click
from .test_inquiries import Db, _keep_screen

YEAR = dates.fiscal_year(today_jst()) - 1  # last 年度: every referral there is over 90 days old


def _person(atena_no, name, kana, birth):
    kana = normalize_kana(kana)
    return models.Resident.create(atena_no=atena_no, name=name, name_kana=kana, kana_key=kana_key(kana),
                                  name_key=name_key(name), sex=2, birth_date=birth, postal_code="260-0026",
                                  address="千葉県千葉市中央区千葉港1-1", updated_at=now_utc())


def _screening(person, exam, day, referral=False, target=""):
    institution = models.Institution.get_or_none() or models.Institution.create(
        code="1210000001", name="千葉中央クリニック", updated_at=now_utc())
    return models.Screening.create(resident=person, exam=exam, target=target, exam_date=day,
                                   fiscal_year=dates.fiscal_year(day), age=dates.age_at(person.birth_date, day),
                                   institution=institution, setting=1, referral=referral,
                                   items=dict(VALID_ITEMS[exam], **({"target": target} if target else {})),
                                   status="confirmed", source="file", entered_at=now_utc())


def test_supervisor_follow_up_reminder_and_indicator_chart(app, page, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.skip("!!! pdftotext (poppler-utils) missing: PDF text not checked !!!")
    with Db(app):
        followed = _person("000000000201", "精検 済子", "セイケン スミコ", date(1960, 5, 10))
        missing = _person("000000000202", "未把握 花子", "ミハアク ハナコ", date(1962, 7, 1))
        _screening(followed, "colorectal", date(YEAR, 6, 1), referral=True)
        _screening(followed, "followup", date(YEAR, 7, 1), target="colorectal")
        _screening(missing, "colorectal", date(YEAR, 6, 3), referral=True)
        _screening(_person("000000000203", "陰性 三子", "インセイ ミツコ", date(1970, 1, 5)),
                   "colorectal", date(YEAR, 6, 4))
    enrolled_person(app, page, "kakaricho", "supervisor", name="係長 次郎")

    page.locator("#waiting-followup").get_by_role("link").click()  # the menu's 未把握 count
    page.get_by_label("年度（西暦）").fill(str(YEAR))
    page.get_by_label("状況").select_option("unknown")
    page.get_by_role("button", name="絞り込む").click()
    row = page.locator("table.worklist tbody tr")
    row.first.wait_for()
    assert row.count() == 1 and "未把握 花子" in row.first.inner_text()
    _keep_screen(page, "screen-followup")

    page.get_by_role("link", name="受診勧奨・精検結果連絡票の印刷", exact=False).click()
    page.get_by_role("button", name="受診勧奨を印刷する（1件）").click()
    page.get_by_role("heading", name="精密検査の受診のお願い").wait_for()
    pdf = tmp_path / "letter.pdf"
    page.pdf(path=str(pdf), format="A4")
    _keep_screen(page, "screen-letter")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for expected in ("未把握 花子 様", "精密検査の受診のお願い", "大腸", "千葉中央クリニック",
                     "千葉県千葉市中央区千葉港1-1", "整理 No."):
        assert expected in text, expected
    # a letter to the resident: its control number and page x / y, not a 取扱注意 stamp
    assert "取扱注意" not in text and re.search(r"1\s*/\s*1\s*$", text.rstrip("\f").rstrip())
    assert "精検 済子" not in text and "印刷する" not in text
    with Db(app):
        event = models.AuditEvent.select().where(models.AuditEvent.action == "followup.reminder_run").get()
        assert event.details["count"] == 1 and event.details["kind"] == "letter"

    page.goto(f"/followup/?fiscal_year={YEAR}&status=unknown")
    assert "受診勧奨" in page.locator("table.worklist tbody tr").first.inner_text()

    menu_click(page, "統計・プロセス指標")
    page.get_by_label("年度（西暦）").fill(str(YEAR))
    page.get_by_role("button", name="表示").click()
    chart = page.locator("svg.indicator-chart").nth(1)
    chart.wait_for()
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    assert "精検受診率" in chart.inner_html() and "50.0%" in chart.inner_html()
    _keep_screen(page, "screen-indicators")
    assert page.get_by_text("本ファイルでは記録しない項目です（評価書 別添1）").first.is_visible()
