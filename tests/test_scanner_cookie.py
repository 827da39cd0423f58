"""bench/session_cookie.py hands the outside scanners a signed-in session: its cookie and CSRF
token must work together on a POST, as a scanner sends them (they did not: every POST was 400)."""
import os
import subprocess
import sys

from .conftest import BASE_CONFIG

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_scanner_session_posts_a_search_with_its_cookie_and_token(app, db):
    db.close()
    env = dict(os.environ, PYTHONPATH=ROOT, KENSHIN_DATABASE_URL=app.config["DATABASE_URL"],
               KENSHIN_SECRET_KEY=BASE_CONFIG["SECRET_KEY"], KENSHIN_AUDIT_KEY=BASE_CONFIG["AUDIT_KEY"],
               KENSHIN_ORIGIN="http://localhost", KENSHIN_RP_ID="localhost")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "session_cookie.py"),
                           "--roles", "clerk"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    name, value = printed["cookie"].split("=", 1)
    client = app.test_client()
    client.set_cookie(name, value)
    response = client.post("/residents/search", headers={"X-CSRFToken": printed["csrf"]},
                           data={"csrf_token": printed["csrf"], "kana": "チバ", "birth_date": "S35"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
