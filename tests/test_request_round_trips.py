"""The fixed cost of a request, counted in database round trips (statements sent on the DB-API
cursor, BEGIN and COMMIT included): a search, a person page and an authenticated page that does
nothing. A behaviour test — it counts statements, never times them (bench/search.py times)."""
import contextlib
from datetime import timedelta

import pytest

import models
from kenshin.core.dates import now_utc

from .conftest import page_csrf
from .factories import make_resident

SEARCH_MAX = 5


@contextlib.contextmanager
def counting():
    """Every statement the app sends while the block runs (sql text, in order)."""
    sent: list[str] = []
    database = models.db.obj
    real_cursor = type(database).cursor

    class Counted:
        def __init__(self, cursor):
            self._cursor = cursor

        def execute(self, sql, params=()):
            sent.append(" ".join(str(sql).split())[:160])
            return self._cursor.execute(sql, params)

        def __getattr__(self, name):
            return getattr(self._cursor, name)

        def __iter__(self):
            return iter(self._cursor)

    def cursor(self, *args, **kwargs):
        return Counted(real_cursor(self, *args, **kwargs))

    database.cursor = cursor.__get__(database)
    try:
        yield sent
    finally:
        del database.cursor


@pytest.fixture
def clerk(login_as):
    client, _ = login_as("clerk")
    return client


def test_a_search_takes_at_most_five_round_trips(app, db, clerk):
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    token = page_csrf(clerk, "/residents/")
    with counting() as sent:
        response = clerk.post("/residents/search", data={"csrf_token": token, "kana": "やまだ",
                                                          "birth_date": person.birth_date.isoformat()})
    assert response.status_code == 200
    assert f'href="/residents/{person.id}"' in response.get_data(as_text=True)
    assert len(sent) <= SEARCH_MAX, "\n".join(sent)


def _age_activity(seconds: int) -> None:
    """Make the clerk's last recorded activity `seconds` old (as if idle that long)."""
    models.UserSession.update(last_seen_at=now_utc() - timedelta(seconds=seconds)).execute()


def test_a_search_that_also_records_activity_stays_within_five_round_trips(app, db, clerk):
    person = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    with counting() as sent:
        response = clerk.post("/residents/search", data={"csrf_token": token, "kana": "やまだ",
                                                          "birth_date": person.birth_date.isoformat()})
    assert response.status_code == 200
    assert len(sent) <= SEARCH_MAX, "\n".join(sent)
    seen = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert now_utc() - seen < timedelta(seconds=30)  # the activity was recorded


def test_the_authenticated_no_op_is_one_look_up(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    with counting() as sent:
        response = clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    assert response.status_code == 204
    assert len(sent) == 1, "\n".join(sent)


def test_activity_is_written_at_most_once_per_touch_interval(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    first = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert now_utc() - first < timedelta(seconds=30)
    clerk.post("/session/heartbeat", headers={"X-CSRFToken": token})
    assert models.UserSession.select(models.UserSession.last_seen_at).scalar() == first


def test_a_passive_poll_or_a_refused_page_records_no_activity(app, db, clerk):
    token = page_csrf(clerk, "/residents/")
    _age_activity(60)
    before = models.UserSession.select(models.UserSession.last_seen_at).scalar()
    assert clerk.get("/lock/csrf").status_code == 200  # passive
    assert clerk.get("/admin/staff").status_code == 403  # a clerk is no administrator
    assert models.UserSession.select(models.UserSession.last_seen_at).scalar() == before
