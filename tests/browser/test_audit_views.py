"""The audit screens in Chromium: search the log, print a person's access record to PDF (A4,
checked with pdftotext), and send and answer a long-logon notice."""
import shutil
import subprocess
from datetime import date, timedelta

import pytest

import models
from kenshin import audit
from kenshin.core import dates
from kenshin.access import staff as staff_domain

from ..factories import make_resident
from .helpers import enrolled_person, menu_click


def _arrange(app):
    """A clerk who viewed one person twice and stayed signed on for ten hours yesterday."""
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        clerk, _ = staff_domain.create("viewer01", "閲覧 一郎", "健康支援課", ["clerk"],
                                       audit.Actor.system("pytest"))
        person = make_resident("000987654321", "開示 花子", "カイジ ハナコ", birth=date(1960, 2, 3),
                               address="千葉市中央区千葉港1-1")
        actor = audit.Actor.of_staff(clerk, "10.1.2.3")
        with models.db.atomic():
            audit.record("resident.view", actor, resident=person)
            audit.record("screening.create", actor, resident=person, object_type="screening",
                         object_id=1)
        start = dates.now_utc() - timedelta(hours=12)
        models.UserSession.create(id="b" * 64, staff=clerk, created_at=start,
                                  last_seen_at=start + timedelta(hours=10),
                                  ended_at=start + timedelta(hours=10), end_reason="logout",
                                  terminal="10.1.2.3")
        models.db.close()


def test_viewer_person_record_pdf_and_long_logon_answer(app, page, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.skip("!!! pdftotext (poppler-utils) missing !!!")
    _arrange(app)
    enrolled_person(app, page, "kansa01", "admin", "auditor", name="監査 太郎")

    # The viewer: the form first, then the results.
    menu_click(page, "監査ログの閲覧")
    assert page.locator("table.audit-table").count() == 0
    page.get_by_label("操作").select_option("resident.view")
    page.get_by_role("button", name="検索").click()
    table = page.locator("table.audit-table")
    table.wait_for()
    assert "閲覧 一郎" in table.inner_text() and "対象者の閲覧" in table.inner_text()
    assert "000987654321" not in page.url

    # Who accessed this person: entered, shown, printed to A4 PDF.
    menu_click(page, "アクセス記録（本人開示用）")
    page.get_by_label("宛名番号").fill("000987654321")
    page.get_by_role("button", name="作成").click()
    page.get_by_text("あなたの情報が扱われた記録").wait_for()
    assert "000987654321" not in page.url
    pdf = tmp_path / "access.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for expected in ("アクセス記録（本人開示用）", "開示 花子", "000987654321",
                     "健康支援課の職員（閲覧 一郎）", "あなたの住民記録（氏名・住所など）を画面で見ました",
                     "あなたの検診結果を登録しました"):
        assert "".join(expected.split()) in "".join(text.split()), expected  # cells wrap
    assert "resident.view" not in text and "viewer01" not in text and "10.1.2.3" not in text
    assert "ログアウト" not in text and "メニュー" not in text  # no header, menu or controls
    assert "印刷する" not in text and "宛名番号を入力" not in text

    # Long-logon review: notice to the division, printed, then the answer recorded.
    menu_click(page, "長時間ログオンの確認")
    page.get_by_role("button", name="表示").click()
    page.get_by_role("heading", name="健康支援課（1件）").wait_for()
    page.get_by_role("button", name="健康支援課長あての通知を作成").click()
    page.get_by_text("健康支援課長　様").wait_for()
    assert page.get_by_text("閲覧 一郎（viewer01）").is_visible()
    page.get_by_role("link", name="回答の記録へ").click()
    page.get_by_label("報告された利用目的（閲覧 一郎）").fill("年度末の結果入力のため")
    page.get_by_role("button", name="回答を記録して完了にする").click()
    page.get_by_text("回答を記録し、通知を完了にしました。").wait_for()
    assert page.get_by_role("cell", name="年度末の結果入力のため").is_visible()
    assert page.get_by_role("cell", name="監査 太郎").is_visible()
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        notice = models.LongLogonNotice.get()
        assert notice.closed_at is not None and notice.answer == "年度末の結果入力のため"
        actions = [e.action for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)]
        assert {"audit.view", "audit.person_report", "logon_review.notice",
                "logon_review.answer"} <= set(actions)
        assert audit.verify().ok
        models.db.close()


def test_unusual_access_lists_a_view_of_someone_with_the_same_surname(app, page):
    _arrange(app)  # 閲覧 一郎 viewed 開示 花子: different surnames
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        relative, _ = staff_domain.create("viewer02", "開示 次郎", "健康支援課", ["clerk"],
                                          audit.Actor.system("pytest"))
        person = models.Resident.get(models.Resident.atena_no == "000987654321")
        with models.db.atomic():
            audit.record("resident.view", audit.Actor.of_staff(relative, "10.1.2.4"), resident=person)
        models.db.close()
    enrolled_person(app, page, "kansa02", "auditor", name="監査 花子")
    menu_click(page, "不審なアクセスの確認")
    page.get_by_role("button", name="確認する").click()
    section = page.locator("section[aria-labelledby=same-name]")
    section.wait_for()
    assert "（1件）" in section.get_by_role("heading").inner_text()
    assert "開示 次郎" in section.inner_text()
    assert "閲覧 一郎" not in section.inner_text()
