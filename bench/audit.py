"""Benchmark of the access log: recording cost, request overhead, and verification time.

    python bench/audit.py --events N [--database-url URL] [--writes 2000] [--requests 1500]

1. Builds a database with N chained events, or reuses one that already holds at least N (the
   default is a SQLite file under bench/data/, git-ignored). To build fast the events are not
   written one by one through `audit.record`: they are computed in Python with the SAME canonical
   form and HMAC (`audit._canonical`, `audit._mac`, the bench key) — seq 1..N, prev_hash chained,
   times spread over the last 365 days — and bulk inserted (executemany on SQLite, COPY on
   PostgreSQL), with audit_head set to the last one. `audit.verify()` accepts them exactly as it
   would accept events written by `audit.record`; the first step below proves it.
   --skip-verify re-measures only steps 3 and 4 on a database built before.
2. verify_s: the wall time of `audit.verify()` over the whole chain (run before anything else is
   written, so it walks the N events, or all of a reused database's).
3. write_per_s: `audit.record` called --writes times, each in its own transaction (`db.atomic()`),
   as a view does it.
4. overhead_ratio: signed-in GETs through Flask's test client and the real gate (server-side
   session, role check, activity touch): the real person page /residents/<id>, whose view records
   `resident.view` in the transaction that reads the person, against a twin route added by this
   script that runs the same transaction, reads and template without the audit write. Requests
   alternate A/B; ratio = median(with audit) / median(without). The same pair on the menu page
   plus one read (a page that does almost nothing else) is printed as the worst case.

The last line is exactly: audit write_per_s=X overhead_ratio=R verify_s=S
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit  # noqa: E402
from kenshin.audit import chain  # noqa: E402
from kenshin.core.dates import now_utc  # noqa: E402

BENCH_KEY = "bench-audit-key"
STAFF = 200
RESIDENTS = 10_000
BATCH = 50_000
ACTIONS = (["resident.view"] * 12 + ["resident.search"] * 4 +
           ["login.ok", "session.lock", "session.unlock", "session.end", "screening.create",
            "screening.correct", "print", "export"])


def log(message: str) -> None:
    print(message, flush=True)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def p(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return f"p50={p(0.50):.2f}ms p90={p(0.90):.2f}ms p99={p(0.99):.2f}ms"


def _seed_people() -> tuple[list[int], list[tuple[int, str, str]]]:
    """Staff and residents the generated events point at (foreign keys hold on PostgreSQL)."""
    now = now_utc()
    if not models.Staff.select().where(models.Staff.login_id == "bench000").exists():
        with models.db.atomic():
            models.Staff.insert_many([
                {"login_id": f"bench{i:03d}", "name": f"計測 {i:03d}", "division": "健康支援課",
                 "roles": "clerk", "created_at": now} for i in range(STAFF)]).execute()
    if not models.Resident.select().where(models.Resident.atena_no == "900000000000").exists():
        with models.db.atomic():
            for start in range(0, RESIDENTS, 5000):
                models.Resident.insert_many([
                    {"atena_no": f"{900000000000 + i}", "name": f"計測 {i}", "name_kana": "ケイソク",
                     "kana_key": "ケイソク", "name_key": f"計測{i}", "sex": 1 + i % 2,
                     "birth_date": date(1950, 1, 1) + timedelta(days=i % 20000),
                     "address": "千葉市中央区", "updated_at": now}
                    for i in range(start, min(RESIDENTS, start + 5000))]).execute()
    staff = [(s.id, s.login_id, s.roles) for s in models.Staff.select()
             .where(models.Staff.login_id.startswith("bench"))]
    residents = [r.id for r in models.Resident.select(models.Resident.id)
                 .where(models.Resident.atena_no.startswith("9000000"))]
    return residents, staff


def _generate(n: int, residents, staff):
    """Chained events seq 1..n, in batches of tuples in column order."""
    prev = audit.GENESIS
    start = now_utc() - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    batch = []
    json_text = chain._ENCODER.encode  # JSONField writes exactly this text for a dict
    for seq in range(1, n + 1):
        at = start + step * seq
        at = at.replace(microsecond=at.microsecond)  # naive UTC, microseconds kept
        staff_id, login_id, role = staff[seq % len(staff)]
        action = ACTIONS[seq % len(ACTIONS)]
        resident = residents[(seq * 7919) % len(residents)] if action != "resident.search" else None
        details = {"criteria": "kana+birth"} if action == "resident.search" else {}
        object_type, object_id, outcome = "", "", "ok"
        terminal = f"10.0.{seq % 7}.{seq % 250}"
        payload = chain._canonical(seq, at, staff_id, login_id, role, terminal, action, resident,
                                   object_type, object_id, outcome, details)
        digest = chain._mac(prev, payload)
        batch.append((seq, at, staff_id, login_id, role, terminal, action, resident, object_type,
                      object_id, outcome, json_text(details), prev, digest))
        prev = digest
        if len(batch) >= BATCH:
            yield batch, prev
            batch = []
    if batch:
        yield batch, prev


COLUMNS = ("seq", "at", "actor_id", "actor_label", "role", "terminal", "action", "resident_id",
           "object_type", "object_id", "outcome", "details", "prev_hash", "hash")


def _copy_text(batch) -> io.StringIO:
    out = io.StringIO()
    for row in batch:
        out.write("\t".join("\\N" if v is None else (v.isoformat(sep=" ") if isinstance(v, datetime)
                                                      else str(v)) for v in row))
        out.write("\n")
    out.seek(0)
    return out


def build(n: int) -> int:
    """Fill an empty log with n chained events; returns how many the database now holds."""
    have = models.AuditHead.select(models.AuditHead.seq).scalar() or 0
    if have >= n:
        log(f"reusing the database: {have} events")
        return have
    if have:
        sys.exit(f"the database holds {have} events (fewer than {n}): use an empty database")
    residents, staff = _seed_people()
    log(f"building {n} events ...")
    began = time.perf_counter()
    insert = (f"INSERT INTO audit_event ({', '.join(COLUMNS)}) "
              f"VALUES ({', '.join([models.db.param] * len(COLUMNS))})")
    last = audit.GENESIS
    done = 0
    for batch, last in _generate(n, residents, staff):
        with models.db.atomic():
            if database.is_postgres():
                cursor = models.db.connection().cursor()
                cursor.copy_expert(f"COPY audit_event ({', '.join(COLUMNS)}) FROM STDIN",
                                   _copy_text(batch))
            else:
                rows = [(r[0], r[1].isoformat(sep=" "), *r[2:]) for r in batch]
                models.db.connection().executemany(insert, rows)
        done += len(batch)
        if done % 500_000 == 0 or done == n:
            log(f"  {done} events, {time.perf_counter() - began:.0f} s")
    with models.db.atomic():
        models.AuditHead.delete().execute()
        models.AuditHead.insert(id=audit.HEAD_ID, seq=n, hash=last).execute()
    if database.is_postgres():
        models.db.execute_sql("ANALYZE audit_event")
    else:
        models.db.execute_sql("ANALYZE")
    log(f"built in {time.perf_counter() - began:.0f} s")
    return n


def measure_verify() -> float:
    began = time.perf_counter()
    result = audit.verify()
    seconds = time.perf_counter() - began
    if not result.ok:
        sys.exit(f"verify failed: {result.problem}")
    log(f"verify: {result.count} events in {seconds:.1f} s ({result.count / seconds:,.0f} events/s)")
    return seconds


def measure_writes(k: int) -> float:
    actor = audit.Actor(staff_id=None, label="os:bench", role="cli", terminal="localhost")
    samples = []
    began = time.perf_counter()
    for i in range(k):
        t0 = time.perf_counter()
        with models.db.atomic():
            audit.record("bench.write", actor, object_type="bench", object_id=i,
                         details={"i": i})
        samples.append(time.perf_counter() - t0)
    rate = k / (time.perf_counter() - began)
    log(f"record: {k} events, each in its own transaction: {rate:,.0f} events/s; {percentiles(samples)}")
    return rate


def _seed_screenings(resident_id: int) -> None:
    """A few screenings on the measured person, so that the page shows a realistic history."""
    from kenshin.core import dates

    if models.Screening.select().where(models.Screening.resident == resident_id).exists():
        return
    now = now_utc()
    with models.db.atomic():
        institution, _ = models.Institution.get_or_create(
            code="9999999999", defaults={"name": "計測クリニック", "updated_at": now})
        resident = models.Resident.get_by_id(resident_id)
        for years_ago in (0, 1, 2):
            day = dates.today_jst() - timedelta(days=365 * years_ago + 30)
            models.Screening.create(
                resident=resident_id, exam="colorectal", exam_date=day,
                fiscal_year=dates.fiscal_year(day), age=dates.age_at(resident.birth_date, day),
                institution=institution, setting=1, referral=False,
                items={"fobt_result": "negative", "referral": "0"}, status="confirmed",
                source="file", entered_at=now)


def _timed_pairs(client, urls, k: int) -> tuple[list[float], list[float]]:
    for url in urls:
        for _ in range(50):  # warm up
            assert client.get(url).status_code == 200, url
    first, second = [], []
    for i in range(k):
        order = ((urls[0], first), (urls[1], second))
        for url, bucket in (order if i % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            response = client.get(url)
            bucket.append(time.perf_counter() - t0)
            assert response.status_code == 200, (url, response.status_code)
    return first, second


def measure_requests(app, k: int) -> float:
    """Signed-in GETs through the real gate (server-side session, role check, activity touch).

    Measured pair: the real person page /residents/<id> (its view records `resident.view` inside
    the transaction that reads the person) against a twin route that runs the same code — the
    same transaction, the same reads of the person, screenings and history, the same template —
    without the audit write. A second pair (the menu page plus one resident read, with and without
    an audit write) is printed as the worst case: a page that does almost nothing else."""
    from flask import g

    from blueprints.web import ANY_STAFF, actor, render, requires
    from kenshin.core import dates
    from kenshin.registry import residents
    from kenshin.access import sessions

    def person_without_audit(resident_id):
        today = dates.today_jst()
        with models.db.atomic():  # residents._load, less its audit.record
            resident = models.Resident.get_or_none(models.Resident.id == resident_id)
            record = residents.PersonRecord(resident, dates.age_at(resident.birth_date, today),
                                            today, residents._screenings(resident.id),
                                            residents._changes(resident.id))
        return render("residents/person.html", record=record)

    def menu_plain():
        return render("home/index.html", resident=models.Resident.get_by_id(g.bench_resident))

    def menu_audited():
        with models.db.atomic():
            resident = models.Resident.get_by_id(g.bench_resident)
            audit.record("resident.view", actor(), resident=resident)
        return render("home/index.html", resident=resident)

    app.add_url_rule("/_bench/person/<int:resident_id>", "bench_person_plain",
                     requires("clerk", "supervisor")(person_without_audit))
    for name, view in (("bench_menu_plain", menu_plain), ("bench_menu_audited", menu_audited)):
        app.add_url_rule(f"/_bench/{name}", name, requires(ANY_STAFF)(view))

    with app.app_context():
        staff = models.Staff.get(models.Staff.login_id == "bench000")
        today = dates.today_jst()
        resident_id = next(r.id for r in models.Resident.select()
                           .where(models.Resident.atena_no.startswith("9000000"))
                           .order_by(models.Resident.id) if residents.in_programme(r, today))
        _seed_screenings(resident_id)
        with models.db.atomic():
            token = sessions.start(staff, "127.0.0.1", "bench")
        models.db.close()

    @app.before_request
    def _pick_resident():
        g.bench_resident = resident_id

    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["sid"] = token
    page = client.get(f"/residents/{resident_id}").get_data(as_text=True)
    assert "計測クリニック" in page, "the person page should show the seeded screenings"
    plain, audited = _timed_pairs(client, (f"/_bench/person/{resident_id}",
                                           f"/residents/{resident_id}"), k)
    menu_p, menu_a = _timed_pairs(client, ("/_bench/bench_menu_plain",
                                           "/_bench/bench_menu_audited"), k)
    ratio = statistics.median(audited) / statistics.median(plain)
    log(f"person page without audit write: {percentiles(plain)}")
    log(f"person page with audit write:    {percentiles(audited)}")
    log(f"worst case, menu page + one read: without {percentiles(menu_p)}; with {percentiles(menu_a)}; "
        f"ratio {statistics.median(menu_a) / statistics.median(menu_p):.2f}")
    log(f"measured: {k} alternating pairs of signed-in GETs through Flask's test client (real gate "
        f"and server-side session): the real person page /residents/<id>, which records "
        f"resident.view, against a twin route running the same reads and template without the "
        f"audit write; overhead_ratio = ratio of medians")
    return ratio


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--skip-verify", action="store_true",
                        help="re-measure writes and requests on a reused database (verify_s=nan)")
    args = parser.parse_args(argv)
    url = args.database_url or "sqlite:///" + os.path.join(ROOT, "bench", "data",
                                                           f"audit-{args.events}.db")
    from app import create_app

    app = create_app({"DATABASE_URL": url, "AUDIT_KEY": BENCH_KEY, "SECRET_KEY": "bench",
                      "TESTING": True})
    kind = "postgresql" if url.startswith("postgres") else "sqlite"
    log(f"database: {kind} {url.split('@')[-1]}")
    with app.app_context():
        database.create_schema()
        build(args.events)
        verify_s = float("nan") if args.skip_verify else measure_verify()
        write_per_s = measure_writes(args.writes)
        models.db.close()
    ratio = measure_requests(app, args.requests)
    print(f"audit write_per_s={write_per_s:.0f} overhead_ratio={ratio:.2f} verify_s={verify_s:.1f}")


if __name__ == "__main__":
    main()
