"""Password guessing from many sessions and terminals at once: the lock-out counts stay exact.

Threads, each its own browser session and terminal address, post wrong passwords for one login
ID at the same time. Five failures lock the account; no race lets a sixth count, a second lock
be taken, or the right password through while it is locked."""
import threading

import models
from kenshin.access import signin

from .conftest import csrf_from

THREADS = 8
TRIES = 4


def _guess(app, login_id, password, terminal, results):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = terminal
    try:
        for _ in range(TRIES):
            token = csrf_from(client.get("/login").get_data(as_text=True))
            response = client.post("/login", data={"csrf_token": token, "login_id": login_id,
                                                   "password": password})
            results.append((response.status_code, response.get_data(as_text=True)))
    except Exception as exc:  # noqa: BLE001 - reported by the test
        results.append(exc)
    finally:
        models.db.close()


def _failed_events(staff_id):
    return [e for e in models.AuditEvent.select().where(
        (models.AuditEvent.action == "login.failed") & (models.AuditEvent.object_id == str(staff_id)))]


def test_parallel_guessing_locks_after_exactly_five_and_counts_every_attempt(app, db, make_staff):
    target = make_staff("clerk", login_id="target")
    models.db.close()
    results = []
    threads = [threading.Thread(target=_guess, args=(app, "target", f"wrong guess {n}",
                                                     f"10.0.0.{n + 1}", results))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == THREADS * TRIES
    for result in results:
        assert not isinstance(result, Exception), result
        status, html = result
        assert status == 422 and signin.GENERIC_FAILURE in html  # same answer, locked or not

    models.db.connect(reuse_if_open=True)
    staff = models.Staff.get_by_id(target.staff.id)
    assert staff.failed_logins == signin.MAX_FAILURES
    assert staff.locked_until is not None
    locked_until = staff.locked_until
    events = _failed_events(staff.id)
    assert len(events) == THREADS * TRIES  # every attempt audited
    counted = sorted(e.details["failures"] for e in events if "failures" in e.details)
    assert counted == list(range(1, signin.MAX_FAILURES + 1))  # each count once: no lost update
    locks = [e for e in events if "locked_until" in e.details]
    assert len(locks) == 1 and locks[0].details["failures"] == signin.MAX_FAILURES
    assert {e.terminal for e in events} == {f"10.0.0.{n + 1}" for n in range(THREADS)}

    # The right password, from yet another session, while locked: refused and not counted.
    results = []
    _guess(app, "target", target.password, "10.0.1.1", results)
    models.db.connect(reuse_if_open=True)
    assert all(status == 422 and "生体認証でログイン" not in html and signin.GENERIC_FAILURE in html
               for status, html in results)
    staff = models.Staff.get_by_id(target.staff.id)
    assert staff.failed_logins == signin.MAX_FAILURES and staff.locked_until == locked_until
    assert {e.details.get("why") for e in _failed_events(staff.id)[-TRIES:]} == {"account locked"}
    assert not models.UserSession.select().where(models.UserSession.staff == staff.id).exists()


def test_parallel_guessing_of_unknown_login_ids_locks_nobody(app, db, make_staff):
    bystander = make_staff("clerk", login_id="bystander")
    models.db.close()
    results = []
    threads = [threading.Thread(target=_guess, args=(app, f"nobody{n}", "whatever password",
                                                     f"10.0.2.{n + 1}", results))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not isinstance(r, Exception) and r[0] == 422 for r in results), results[:3]
    models.db.connect(reuse_if_open=True)
    staff = models.Staff.get_by_id(bystander.staff.id)
    assert staff.failed_logins == 0 and staff.locked_until is None
    unknown = models.AuditEvent.select().where(
        (models.AuditEvent.action == "login.failed") & (models.AuditEvent.object_id == "")).count()
    assert unknown == THREADS * TRIES
