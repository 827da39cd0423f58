"""Chromium: a supervisor takes a Shift_JIS clinic file (the encoding detected, nothing chosen),
sees each row's outcome before confirming and finds the import in the history; the menu by task
marks the current page and stays on one line at 1366 px for a person with every role; search
results are one dense line per person."""
from datetime import date

import models
from kenshin.access.roles import ROLES

from ..factories import make_institution, make_resident
from ..test_import_results import csv_text, row
from .helpers import enrolled_person


def _arrange(app, arrange):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        arrange()
        models.db.close()


def test_a_shift_jis_clinic_file_previews_row_by_row_then_is_in_the_history(app, page):
    def arrange():
        make_institution()
        make_resident()  # 千葉 花子, 宛名番号 000000000001
    _arrange(app, arrange)
    enrolled_person(app, page, "kakaricho", "supervisor", name="係長 一郎")
    page.set_viewport_size({"width": 1366, "height": 768})
    content = csv_text([row(exam="breast"), row(atena_no="", name="齋藤 一子", name_kana="ｻｲﾄｳ ｲﾁｺ")]
                       ).replace("\n", "\r\n").encode("cp932")

    menu = page.get_by_role("navigation", name="メニュー")
    menu.get_by_text("入力・突合").click()  # the menu group opens
    menu.get_by_role("link", name="検診結果ファイルの取込").click()
    page.get_by_role("heading", name="検診結果ファイルの取込").wait_for()
    page.get_by_label("検診結果ファイル（CSV）").set_input_files(
        {"name": "クリニック結果.csv", "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="ファイルを確認する").click()  # encoding left at 自動判定

    table = page.locator("table.rows-preview")
    table.wait_for()
    assert "Shift_JIS（自動判定）" in page.locator("dl.facts").inner_text()
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert "2行目" in first and "記録" in first and "千葉 花子" in first and "乳がん" in first
    assert "3行目" in second and "突合待ち" in second and "齋藤 一子" in second
    page.get_by_role("button", name="取り込む").click()
    flash = page.locator(".flash-ok").inner_text()
    assert "記録 1件、突合待ち 1件、重複 0件" in flash and "recorded=" not in flash

    menu.get_by_text("入力・突合").click()
    menu.get_by_role("link", name="取込の履歴").click()
    history = page.locator("table.history tbody tr").first.inner_text()
    assert "クリニック結果.csv" in history and "取込済み" in history and "Shift_JIS（自動判定）" in history
    assert "係長 一郎" in history
    assert page.locator('a[aria-current="page"]').get_attribute("href").endswith("/imports/history")


def test_menu_marks_the_current_page_and_fits_one_line_at_1366_for_every_role(app, page):
    enrolled_person(app, page, "zenbu", *ROLES, name="全部 持子")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/imports/history")
    nav = page.locator("nav.site-nav")
    assert nav.bounding_box()["height"] < 60  # one line of groups, not rows of links
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], sizes  # no horizontal scroll
    current = page.locator('nav.site-nav a[aria-current="page"]')
    assert current.count() == 1 and current.get_attribute("href").endswith("/imports/history")
    assert page.locator('details.nav-group.current a[aria-current="page"]').count() == 1  # its group marked

    # by keyboard: a group opens with Enter, Escape closes it and leaves the focus on it
    summary = page.locator("details.nav-group > summary", has_text="受診者・検診")
    summary.focus()
    page.keyboard.press("Enter")
    link = nav.get_by_role("link", name="住民検索")
    link.wait_for()
    page.keyboard.press("Escape")
    link.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent").startswith("受診者・検診")
    summary.focus()
    page.keyboard.press("Enter")
    link.click()
    page.get_by_role("heading", name="住民検索").wait_for()
    assert page.locator('nav.site-nav a[aria-current="page"]').get_attribute("href").endswith("/residents/")


def test_fifty_search_results_are_one_line_each(app, page):
    def arrange():
        for n in range(55):
            make_resident(f"00000800{n:02d}", name=f"高橋　花子{n:02d}", kana="タカハシ　ハナコ", sex=2,
                          birth=date(1982, 4, 1), address="千葉県千葉市中央区千葉港1-1 ちばみなとマンション1203号室")
    _arrange(app, arrange)
    enrolled_person(app, page, "kensaku", "clerk", name="検索 三郎")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/residents/")
    page.get_by_label("カナ（前から）").fill("たかはし")
    page.get_by_label("生年月日").fill("S57.4.1")
    page.get_by_label("生年月日").press("Enter")
    rows = page.locator("table.results tbody tr")
    rows.nth(49).wait_for()
    assert rows.count() == 50
    heights = [box["height"] for box in (rows.nth(i).bounding_box() for i in range(50))]
    assert max(heights) < 1.5 * min(heights), heights  # no row wraps onto a second line
    assert page.locator("table.results").bounding_box()["height"] < 1800  # was 3,736 px
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], sizes
