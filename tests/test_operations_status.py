"""The maintainer's screen: what an operator needs, and no person anywhere."""
import models

from .factories import make_resident, make_screening


def test_status_page_shows_backups_jobs_and_counts(app, db, runner, login_as, tmp_path):
    make_screening(make_resident("123456789012", name="蔵王　見太郎", kana="ザオウ　ミタロウ"))
    assert runner.invoke(args=["backup", "--output", str(tmp_path / "b")]).exit_code == 0
    assert runner.invoke(args=["audit-verify"]).exit_code == 0
    client, _person = login_as("maintainer")
    page = client.get("/operations/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for expected in ("バージョン", "スキーマ版数", "バックアップ", "時間前", "アクセスログ検証",
                     "ディスク空き容量", "resident", "screening", "audit_event"):
        assert expected in html, expected
    assert "成功したバックアップの記録がありません" not in html
    for secret in ("蔵王", "ザオウ", "123456789012"):
        assert secret not in html


def test_status_warns_without_a_backup(app, db, login_as):
    client, _person = login_as("maintainer")
    html = client.get("/operations/").get_data(as_text=True)
    assert "成功したバックアップの記録がありません" in html
    assert "検証の記録がありません" in html


def test_a_failed_backup_is_a_failed_job(app, db, runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = runner.invoke(args=["backup", "--output", str(blocker)])
    assert result.exit_code == 1
    run = models.JobRun.get(models.JobRun.job == "backup")
    assert run.outcome == "failed"


def test_clerk_cannot_open_the_status_page(app, db, login_as):
    client, _person = login_as("clerk")
    assert client.get("/operations/").status_code == 403
