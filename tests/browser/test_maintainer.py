"""The maintainer (委託先・運用保守) walks every screen their menu offers and sees no resident."""
import models
from kenshin.core.dates import now_utc

from ..factories import make_resident, make_screening
from .helpers import enrolled_person

SECRETS = ("霧島", "キリシマ", "987654321098", "千葉県千葉市中央区")


def _seed(app):
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        person = make_resident("987654321098", name="霧島　保子", kana="キリシマ　ヤスコ", sex=2)
        make_screening(person)
        models.JobRun.create(job="backup", started_at=now_utc(), finished_at=now_utc(),
                             outcome="ok", actor_label="os:kenshin",
                             summary={"file": "kenshin-pg-20261130T000000Z", "size": 1024})
        resident_id = person.id
        models.db.close()
    return resident_id


def test_maintainer_walks_every_reachable_screen_and_sees_no_resident(app, page):
    resident_id = _seed(app)
    enrolled_person(app, page, "hoshu01", "maintainer", name="保守 一郎", division="委託先")
    menu_links = page.locator("main a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    nav_links = page.locator("nav.site-nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    links = sorted({href for href in menu_links + nav_links if href and href.startswith("/")})
    assert "/operations/" in links
    for href in ["/"] + links:
        page.goto(href)
        text = page.locator("body").inner_text()
        for secret in SECRETS:
            assert secret not in text, (href, secret)
    page.goto("/operations/")
    page.get_by_role("heading", name="運用状況").wait_for()
    assert "kenshin-pg-20261130T000000Z" in page.locator("body").inner_text()
    # The person's own pages, the search and the log answer the refusal page, not the person.
    for href in (f"/residents/{resident_id}", "/residents/", "/audit/", "/incidents/"):
        response = page.goto(href)
        assert response.status == 403, href
        text = page.locator("body").inner_text()
        assert not any(secret in text for secret in SECRETS)
