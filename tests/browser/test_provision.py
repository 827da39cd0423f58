"""Provision in Chromium: the stand-in network sends a `results` query over HTTP, it is held, a
supervisor sees exactly what would be sent and approves it, and the network's next poll gets
exactly that content. On both databases."""
import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

import models
from kenshin import audit
from kenshin.core.dates import today_jst
from kenshin.imports import csvimport
from kenshin.provision import permitted

from ..factories import make_resident, make_screening
from .helpers import enrolled_person

TOKEN = "browser-stand-in-token-0123456789"
REQUESTER = "131016"
PROCEDURE = "健康増進法による健康増進事業の実施に関する事務"
TOGO = "900000000001"

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stand_in_network.py"
_spec = importlib.util.spec_from_file_location("stand_in_network", SCRIPT)
network = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(network)


def _arrange(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        listing = (f"requester,procedure,item\n{REQUESTER},{PROCEDURE},history\n"
                   f"{REQUESTER},{PROCEDURE},results\n").encode()
        result = permitted.import_file(csvimport.Source.from_bytes("permitted.csv", listing),
                                       audit.Actor.system("pytest"))
        assert result.accepted
        person = make_resident("1001", name="千葉　一郎", togo_atena_no=TOGO)
        day = today_jst() - timedelta(days=300)
        make_screening(person, exam="colorectal", exam_date=day, referral=True)
        make_screening(person, exam="colorectal", exam_date=day + timedelta(days=1), status="pending")
        models.db.close()


@pytest.mark.config(PROVISION_TOKEN=TOKEN, PROVISION_ALLOW="127.0.0.1,::1")
def test_results_query_held_until_a_supervisor_approves_in_chromium(app, page, live_server):
    _arrange(app)
    code, answer, _ = network.send(live_server, TOKEN, person=TOGO, items=["history"])
    assert code == 200 and [h["exam"] for h in answer["history"]] == ["colorectal"]
    code, answer, _ = network.send(live_server, TOKEN, person=TOGO, items=["history"],
                                   requester="011002")
    assert (code, answer["status"]) == (403, "refused")
    assert network.send(live_server, None, person=TOGO, items=["history"])[0] == 401

    code, answer, query_id = network.send(live_server, TOKEN, person=TOGO, items=["results"])
    assert (code, answer) == (202, {"status": "held"})
    assert network.status(live_server, TOKEN, query_id) == (202, {"status": "held"})

    enrolled_person(app, page, "kakaricho", "supervisor", name="係長 次郎")
    waiting = page.locator("#waiting-provision")  # the menu counts what waits (issue 20)
    assert "1件" in waiting.inner_text()
    waiting.get_by_role("link").click()
    page.get_by_role("table", name="承認待ちの照会（1件）").get_by_role("link", name=query_id).click()
    content = page.locator("#provision-content")
    assert "千葉　一郎" in page.locator("#query-summary").inner_text()
    assert "要精検" in content.inner_text() and "便潜血検査の判定区分: 陽性" in content.inner_text()
    shown = page.locator("#provision-json").text_content()
    page.get_by_role("button", name="この内容で提供する（承認）").click()
    page.get_by_text("承認しました").wait_for()
    assert "回答済み" in page.locator("#query-status").inner_text()
    steps = page.locator("#provision-steps").inner_text()
    assert "承認（提供）" in steps and "係長 次郎" in steps

    code, answer = network.poll(live_server, TOKEN, query_id, sleep=lambda _: None)
    assert code == 200
    import json
    assert answer == json.loads(shown)  # exactly what the supervisor saw
    assert len(answer["results"]) == 1 and answer["results"][0]["outcome"] == "referral"

    with app.app_context():
        models.db.connect(reuse_if_open=True)
        query = models.ProvisionQuery.get(models.ProvisionQuery.query_id == query_id)
        kinds = [s.kind for s in models.ProvisionStep.select()
                 .where(models.ProvisionStep.query == query.id).order_by(models.ProvisionStep.id)]
        assert kinds == ["received", "held", "approved", "delivered"]
        assert models.ProvisionQuery.select().count() == 3
        assert audit.verify().ok
        models.db.close()
