"""init-db while clerks work: does the upgrade lock the busy tables or hurt the clerks?

    python bench/upgrade_live.py --database-url postgresql://postgres@127.0.0.1/kenshin_bench \
        [--residents 200000] [--clerks 20] [--seconds 20] [--runs 10]

Builds (once; reused afterwards, like bench/search.py) a PostgreSQL database of N demo residents.
Then `--clerks` signed-in clerks (Flask test clients, one thread each, through the real login)
search for people and open their page (which records an audit event), first for `--seconds`
without init-db, then for as long as it takes to run the real command `flask --app app init-db`
`--runs` times one after the other. A watcher polls pg_locks every few milliseconds for any lock
init-db's sessions hold or wait for (application_name kenshin-init-db) on a table.

Prints the locks seen by mode, the clerks' latencies in both phases and, as its last line,
`upgrade-live runs=R failed=F http_errors=E access_exclusive=A p95_quiet=Xms p95_during=Yms max_during=Zms`.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import clerk  # noqa: E402  (bench/clerk.py)
import models  # noqa: E402
from search import AUDIT_KEY, build_or_reuse, make_searches, pct  # noqa: E402

APP_NAME = "kenshin-init-db"


def clerk_loop(client, token, forms, people, stop, times, errors):
    rng = random.Random(len(times))
    while not stop.is_set():
        form = forms[rng.randrange(len(forms))]
        started = time.perf_counter()
        found = client.post("/residents/search", data=form,
                            headers={"HX-Request": "true", "X-CSRFToken": token})
        opened = client.get(f"/residents/{people[rng.randrange(len(people))]}")
        times.append((time.perf_counter() - started) * 1000 / 2)
        for what, response in (("search", found), ("person", opened)):
            if response.status_code != 200:
                errors.append((what, response.status_code))


def watch_locks(url, stop, seen):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        while not stop.is_set():
            cur.execute("SELECT l.mode, l.granted, c.relname FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid "
                        "LEFT JOIN pg_class c ON c.oid = l.relation "
                        "WHERE a.application_name = %s AND l.locktype = 'relation' "
                        "AND c.relnamespace = 'public'::regnamespace", (APP_NAME,))
            for mode, granted, rel in cur.fetchall():
                seen.setdefault((mode, rel), 0)
                seen[(mode, rel)] += 1
            time.sleep(0.002)
    conn.close()


def phase(app, clients, forms, people, seconds=None, during=None):
    stop, times, errors = threading.Event(), [], []
    threads = [threading.Thread(target=clerk_loop, args=(c, t, forms, people, stop, times, errors))
               for c, t in clients]
    for thread in threads:
        thread.start()
    result = None
    if during is None:
        time.sleep(seconds)
    else:
        result = during()
    stop.set()
    for thread in threads:
        thread.join()
    return times, errors, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database")
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--clerks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init-db-from", default=ROOT, metavar="DIR",
                        help="run the init-db of another checkout (e.g. `git archive 0ab0f08` "
                             "unpacked), to see what the release before numbered steps did")
    args = parser.parse_args()
    url = args.database_url
    if not url.startswith("postgres"):
        sys.exit("this benchmark is about PostgreSQL's locks: give a postgresql:// URL")
    build_or_reuse(url, args.residents, args.seed)

    from app import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "AUDIT_KEY": AUDIT_KEY,
                      "ORIGIN": "http://localhost", "RP_ID": "localhost"})
    clients = [clerk.signed_in(app, "/residents/", name="検索 計測") for _ in range(args.clerks)]
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        forms = [form for _, form in make_searches(400, args.seed)]
        from kenshin.core.dates import today_jst
        from kenshin.registry.residents import in_programme

        today = today_jst()
        people = [r.id for r in models.Resident.select().order_by(models.Resident.id).limit(5000)
                  if in_programme(r, today)]  # others answer 404, as they should
        models.db.close()

    quiet, quiet_errors, _ = phase(app, clients, forms, people, seconds=args.seconds)
    print(f"quiet: requests={len(quiet)} p50={statistics.median(quiet):.1f}ms "
          f"p95={pct(quiet, 95):.1f}ms max={max(quiet):.1f}ms errors={sorted(set(quiet_errors))}")

    env = dict(os.environ, KENSHIN_DATABASE_URL=url, KENSHIN_AUDIT_KEY=AUDIT_KEY,
               KENSHIN_SECRET_KEY="bench", PGAPPNAME=APP_NAME, PYTHONPATH=args.init_db_from)
    seen: dict = {}

    def run_init_db():
        stop = threading.Event()
        watcher = threading.Thread(target=watch_locks, args=(url, stop, seen))
        watcher.start()
        outcomes = []
        for _ in range(args.runs):
            done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "init-db"],
                                  cwd=args.init_db_from, env=env, capture_output=True, text=True)
            outcomes.append((done.returncode, done.stdout.strip(), done.stderr.strip()[-300:]))
        stop.set()
        watcher.join()
        return outcomes

    during, during_errors, outcomes = phase(app, clients, forms, people, during=run_init_db)
    failed = [o for o in outcomes if o[0] != 0]
    for code, out, err in sorted(set(outcomes)):
        print(f"init-db exit={code} x{outcomes.count((code, out, err))}: {out} {err}")
    for (mode, rel), count in sorted(seen.items()):
        print(f"lock seen: {mode} on {rel} ({count} samples)")
    print(f"during: requests={len(during)} p50={statistics.median(during):.1f}ms "
          f"p95={pct(during, 95):.1f}ms max={max(during):.1f}ms errors={sorted(set(during_errors))}")
    exclusive = sum(c for (mode, _), c in seen.items() if mode == "AccessExclusiveLock")
    print(f"upgrade-live runs={len(outcomes)} failed={len(failed)} "
          f"http_errors={len(quiet_errors) + len(during_errors)} access_exclusive={exclusive} "
          f"p95_quiet={pct(quiet, 95):.1f}ms p95_during={pct(during, 95):.1f}ms "
          f"max_during={max(during):.1f}ms")


if __name__ == "__main__":
    main()
