"""Invitations in Chromium: a supervisor edits a rule and sees the 和暦 birth-date ranges change,
previews and runs an extraction, a second supervisor checks the rules and counts and signs the
run off (承認; nothing prints before), the first prints a 受診券 and the address labels (the PDFs read back with
pdftotext), and a clinic file row carrying the printed 整理番号 is recorded against the person."""
import re
import subprocess
from datetime import date

import pytest
from playwright.sync_api import expect

import models

from ..factories import INSTITUTION, make_institution, make_resident
from .helpers import enrolled_person

FY = 2026


@pytest.fixture
def office(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        make_institution()
        woman = make_resident(atena_no="000000000001", name="千葉 花子", kana="チバ ハナコ", sex=2,
                              birth=date(1960, 5, 10))
        make_resident(atena_no="000000000002", name="若葉 一子", kana="ワカバ イチコ", sex=2,
                      birth=date(2000, 8, 8))  # 26: cervical only
        models.db.close()
    return woman


def pdf_text(page, path) -> str:
    page.emulate_media(media="print")
    page.pdf(path=str(path), format="A4", print_background=True)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_supervisor_edits_a_rule_runs_an_extraction_and_prints(app, page, new_page, office, tmp_path):
    enrolled_person(app, page, "kakaricho1", "supervisor", name="係長 三郎")

    # the rules: lung from 40 to 45; the 和暦 range follows as it is typed, and after saving
    page.goto(f"/invitations/rules?fiscal_year={FY}")
    expect(page.locator("#saved-lung")).to_have_text("昭和62年3月31日以前生まれ")
    page.get_by_label("肺がん 下限年齢").fill("45")
    page.get_by_label("肺がん 下限年齢").press("Tab")
    expect(page.locator("#range-lung")).to_have_text("昭和57年3月31日以前生まれ")
    expect(page.locator("#saved-lung")).to_have_text("昭和62年3月31日以前生まれ")  # not saved yet
    page.get_by_label("変更の理由（監査記録に残ります）").fill("市の広報（令和8年度）に合わせる")
    page.get_by_role("button", name="新しい版として保存").click()
    expect(page.locator(".flash")).to_contain_text("第1版として保存しました")
    expect(page.locator("#saved-lung")).to_have_text("昭和57年3月31日以前生まれ")

    # extraction: the counts first, nothing written, then the run
    page.goto("/invitations/")
    page.locator("#extract-year").fill(str(FY))
    page.locator("#extract-as-of").fill(f"{FY}-04-01")
    page.get_by_role("button", name="件数を確認する（書き込みません）").click()
    expect(page.locator("#preview-people")).to_have_text("2")
    expect(page.locator('td[data-exam="lung"]')).to_have_text("1")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        assert not models.InvitationRun.select().exists()
        models.db.close()
    page.get_by_role("button", name="この条件で抽出を実行する").click()
    expect(page.locator(".flash")).to_contain_text("2人")
    expect(page.locator("#to-send")).to_have_text("2")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        number = models.SeiriNumber.get(models.SeiriNumber.resident == office.id).number
        models.db.close()

    # nothing prints before a second supervisor signs the run off; the one who ran it cannot
    run_url = page.url
    expect(page.locator("#signoff-state")).to_contain_text("未承認")
    expect(page.locator("#print-locked")).to_be_visible()
    expect(page.get_by_role("button", name="受診券を印刷する（ロット1）")).to_have_count(0)
    expect(page.get_by_role("button", name="この抽出を承認する")).to_have_count(0)
    second = new_page()
    enrolled_person(app, second, "kacho1", "supervisor", name="課長 四郎")
    second.goto(run_url)
    rules = second.get_by_role("table", name="この抽出が使った対象者の条件")
    expect(rules.get_by_role("row", name="肺がん")).to_contain_text("45歳以上")
    expect(rules.get_by_role("row", name="肺がん")).to_contain_text("昭和57年3月31日以前生まれ")
    bands = second.locator("#signoff-bands")
    expect(bands).to_contain_text("肺がん")
    expect(bands).to_contain_text("65-69歳")
    second.get_by_role("button", name="この抽出を承認する").click()
    expect(second.locator(".error-summary")).to_contain_text("確認欄にチェック")
    second.get_by_label("対象者の条件と件数（前年度との比較）を確認しました").check()
    second.get_by_role("button", name="この抽出を承認する").click()
    expect(second.locator(".flash")).to_contain_text("承認しました")
    expect(second.locator("#signoff-state")).to_contain_text("承認済み: kacho1")
    page.reload()
    expect(page.locator("#signoff-state")).to_contain_text("承認済み")

    # the 受診券 of lot 1, as the printer gets it
    page.get_by_role("button", name="受診券を印刷する（ロット1）").click()
    expect(page.locator("article.letter")).to_have_count(2)
    expect(page.locator(f'svg[data-code128="{number}"] rect').first).to_be_attached()
    text = pdf_text(page, tmp_path / "letters.pdf")
    assert number in text and "千葉 花子 様" in text
    # a letter to the resident: a discreet control number and the page x / y, no 取扱注意 stamp
    sheets = text.rstrip("\f").split("\f")
    assert "取扱注意" not in text and all("管理番号" in sheet for sheet in sheets)
    assert [re.findall(r"(\d+)\s*/\s*(\d+)\s*$", s.rstrip())[-1] for s in sheets] == \
        [(str(n), str(len(sheets))) for n in range(1, len(sheets) + 1)]
    assert "受診券" in text and "肺がん" in text and "45歳以上" in text
    assert "昭和35年4月1日〜昭和36年3月31日生まれ" in text  # her own cohort: 66 in 令和8年度

    page.go_back()
    page.get_by_role("button", name="宛名ラベルを印刷する（ロット1）").click()
    expect(page.locator(".label-sheet .label")).to_have_count(2)  # the sheet, not the page before
    text = pdf_text(page, tmp_path / "labels.pdf")
    assert "〒260-0026" in text and "千葉 花子 様" in text and "若葉 一子 様" in text
    # the label sheet stays in the office: marked, with who printed it and when, and its page
    assert "取扱注意（個人情報）" in text and "出力者" in text and "出力日時" in text
    assert re.search(r"1\s*/\s*1\s*$", text.rstrip("\f").rstrip())

    with app.app_context():
        models.db.connect(reuse_if_open=True)
        prints = models.AuditEvent.select().where(models.AuditEvent.action == "invitations.print")
        assert sorted((e.details["report"], e.details["count"]) for e in prints) == [("labels", 2), ("letters", 2)]
        models.db.close()

    # a clinic file row carrying the printed number: recorded against her, not queued
    header = "seiri_no,name_kana,birth_date,sex,exam,exam_date,institution_code,setting,fobt_result"
    row = f"{number},チバ ハナコ,1960-05-10,2,colorectal,{FY}-06-02,{INSTITUTION},1,negative"
    path = tmp_path / "clinic.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        result = app.test_cli_runner().invoke(args=["import-results", str(path)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "recorded=1 queued=0 duplicates=0"
        assert models.Screening.get().resident_id == office.id
        assert not models.QueueItem.select().exists()
        models.db.close()
