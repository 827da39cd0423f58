"""Search speed through the app (the search screen's own code path) and as raw SQL.

    python bench/search.py --residents 1000000 [--database-url URL] [--searches 600]

Builds (once; reused afterwards) a database of N demo residents with `kenshin.demo.generate`
— bench/data/search-N.db by default, or the PostgreSQL database the URL names (created if it
does not exist) — plus 整理番号 for a sample of people. Then signs a clerk in through the real
login (password + a software WebAuthn authenticator) with Flask's test client and posts the
search form as htmx does while the clerk types, for a mix of realistic searches: kana (whole or
as-you-type prefixes) with a 和暦 or Western birth date, kanji name (with variant spellings) and
birth date, kana or name with sex, birth date with sex, 宛名番号 or 整理番号 alone. Each search
is timed end to end (gate, session, form, query, audit event, template). The same searches
then run as raw SQL (the query the app builds, on the DB-API cursor) and are timed.

The floor every page pays is timed too: the authenticated no-op (POST /session/heartbeat: the
gate's session look-up and activity, CSRF, a 204), in-process, as `floor_p95`.

And what the fixed stack costs by itself (`stack`): a bare Flask app with flask-wtf's CSRF check
and a signed session cookie, nothing of ours around it — no gate, no server-side session, no audit
event — that runs the same searches' SQL and renders the same results table, through the same test
client. Its ratio is the lowest any app built on this stack could reach here.

Every timed pass finds the same pages in the database's cache: the measured searches' queries run
once, untimed, before any of them (the app's pass used to read them first and leave them warm for
the raw pass, which flattered the raw query).

Prints the query plan of each kind of search, per-kind percentiles, and as its last line
`search p50=Xms p95=Yms raw_p95=Zms ratio=R floor_p95=Fms stack_ratio=S` (ratio = app p95 / raw
p95; stack_ratio = the bare stack's p95 / raw p95).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from urllib.parse import urlparse, urlunparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit
from kenshin.core import dates
from kenshin.registry import residents  # noqa: E402
import clerk  # noqa: E402  (bench/clerk.py)

DATA = os.path.join(ROOT, "bench", "data")
AUDIT_KEY = "bench-audit-key"  # every bench's key: a database two benches share keeps one chain
SEIRI_SAMPLE = 20_000
VARIANTS = {"高": "髙", "崎": "﨑", "辺": "邊", "斎": "齋", "沢": "澤", "浜": "濱", "島": "嶋"}


def _ensure_postgres_database(url: str) -> None:
    import psycopg2

    name = urlparse(url).path.lstrip("/")
    admin_url = urlunparse(urlparse(url)._replace(path="/postgres"))
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
            print(f"created PostgreSQL database {name}")
    conn.close()


def build_or_reuse(url: str, n: int, seed: int) -> None:
    from kenshin import demo

    if url.startswith("postgres"):
        _ensure_postgres_database(url)
    bound = database.bind(url)
    audit.configure(AUDIT_KEY)  # the key the app below uses: one chain
    database.create_schema()  # what init-db runs: only reads the version when current
    have = models.Resident.select().count()
    if have == 0:
        started = time.perf_counter()
        counts = demo.generate(residents=n, seed=seed, years=3, actor=audit.Actor.system("bench"),
                               progress=print)
        print(f"built: {counts} in {time.perf_counter() - started:.0f}s")
    elif abs(have - n) > n // 100:
        sys.exit(f"{url} holds {have:,} residents, not {n:,}: give another --database-url or an empty one")
    else:
        print(f"reusing {url} ({have:,} residents)")
    if not models.SeiriNumber.select().exists():
        _issue_seiri_numbers(seed)
    if database.is_postgres():
        bound.execute_sql("ANALYZE")
    bound.close()


def _issue_seiri_numbers(seed: int) -> None:
    """整理番号 (10 digits, Luhn check digit) for a sample of people, as invitations issue them."""
    rng = random.Random(seed)
    top = models.Resident.select(models.Resident.id).order_by(models.Resident.id.desc()).scalar()
    ids = rng.sample(range(1, top + 1), min(SEIRI_SAMPLE, top))
    now = str(dates.now_utc())
    fy = dates.fiscal_year(dates.today_jst())
    from kenshin.invitations import seiri
    rows = [(seiri.number_for(seiri.FIRST_SERIAL + i), rid, fy, now) for i, rid in enumerate(ids)]
    with models.db.atomic():
        database.bulk_insert("seiri_number", ("number", "resident_id", "fiscal_year", "issued_at"), rows)
    print(f"issued {len(rows):,} 整理番号")


# --- the clerk -----------------------------------------------------------------------------------

# --- realistic searches ----------------------------------------------------------------------------

def _typed_date(rng, d) -> str:
    style = rng.random()
    if style < 0.4:
        return dates.format_wareki(d, "short")  # S57.4.1
    if style < 0.6:
        return dates.format_wareki(d)  # 昭和57年4月1日
    return d.isoformat()


def _variant(rng, name: str) -> str:
    if rng.random() < 0.3:
        for plain, variant in VARIANTS.items():
            if plain in name:
                return name.replace(plain, variant, 1)
    return name


KINDS = (  # (kind, weight)
    ("kana+birth", 30), ("kana-typing+birth", 15), ("name+birth", 15), ("kana+sex", 10),
    ("name+sex", 5), ("birth+sex", 10), ("atena", 10), ("seiri", 5),
)


def make_searches(n: int, seed: int) -> list[tuple[str, dict]]:
    """n search forms as clerks fill them in, for people picked at random."""
    rng = random.Random(seed)
    today = dates.today_jst()
    cutoff = residents.programme_birth_cutoff(today)
    top = models.Resident.select(models.Resident.id).order_by(models.Resident.id.desc()).scalar()
    people = []
    while len(people) < n:
        ids = rng.sample(range(1, top + 1), 200)
        query = (models.Resident.select(models.Resident.id, models.Resident.atena_no, models.Resident.name,
                                        models.Resident.name_kana, models.Resident.sex,
                                        models.Resident.birth_date)
                 .where(models.Resident.id.in_(ids) & (models.Resident.birth_date <= cutoff)))
        people.extend(query.tuples())
    seiri = dict(models.SeiriNumber.select(models.SeiriNumber.resident, models.SeiriNumber.number).tuples())
    seiri_people = list(seiri.items())
    kinds, weights = zip(*KINDS)
    out = []
    for rid, atena, name, kana, sex, birth in people[:n]:
        birth = dates.parse_date(str(birth))
        kind = rng.choices(kinds, weights)[0]
        family_kana, _, given_kana = kana.partition("\u3000")
        family, _, _ = name.partition("\u3000")
        if kind == "kana+birth":
            typed = family_kana if rng.random() < 0.5 else f"{family_kana}　{given_kana[:2]}"
            form = {"kana": typed, "birth_date": _typed_date(rng, birth)}
        elif kind == "kana-typing+birth":
            form = {"kana": family_kana[:rng.randint(1, 3)], "birth_date": _typed_date(rng, birth)}
        elif kind == "name+birth":
            form = {"name": _variant(rng, family), "birth_date": _typed_date(rng, birth)}
        elif kind == "kana+sex":
            form = {"kana": f"{family_kana}{given_kana[:rng.randint(0, 3)]}", "sex": str(sex)}
        elif kind == "name+sex":
            form = {"name": _variant(rng, family), "sex": str(sex)}
        elif kind == "birth+sex":
            form = {"birth_date": _typed_date(rng, birth), "sex": str(sex)}
        elif kind == "atena":
            form = {"atena_no": atena}
        else:
            number = seiri_people[rng.randrange(len(seiri_people))][1]
            form = {"seiri_no": number}
        out.append((kind, form))
    return out


# --- timing ---------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def time_app(client, token, searches) -> list[float]:
    times = []
    for _, form in searches:
        started = time.perf_counter()
        response = client.post("/residents/search", data=form,
                               headers={"HX-Request": "true", "X-CSRFToken": token})
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or "<table class=\"results\"" not in response.get_data(as_text=True) \
                and "該当する方はいません" not in response.get_data(as_text=True):
            sys.exit(f"search failed ({response.status_code}) for {form}: "
                     f"{response.get_data(as_text=True)[:500]}")
    return times


def bare_stack():
    """(client, CSRF token) of the fixed stack alone: Flask, flask-wtf's CSRF check, a signed
    session cookie, the search's SQL on the same connection and the same results template —
    none of the gate, the server-side session or the audit event."""
    from flask import Blueprint, Flask, render_template, request, session
    from flask_wtf.csrf import CSRFProtect, generate_csrf

    from blueprints import filters

    app = Flask("bare_stack", template_folder=os.path.join(ROOT, "templates"))
    app.secret_key = "bench"
    CSRFProtect(app)
    filters.init_app(app)
    bp = Blueprint("residents", __name__)

    @bp.get("/residents/<int:resident_id>")
    def person(resident_id: int):  # only for url_for in the template
        return ""

    @bp.post("/residents/search")
    def search():
        today = dates.today_jst()
        criteria = residents.parse_criteria(request.form)
        sql, params = residents.search_query(criteria, today)
        cursor = models.db.cursor()
        cursor.execute(sql, params)
        outcome = residents.result_of(criteria, cursor.fetchall(), today)
        return render_template("residents/_results.html", outcome=outcome, errors={},
                               labels=residents.LABELS)

    @app.get("/token")
    def token():
        session["sid"] = "bench"
        return generate_csrf()

    app.register_blueprint(bp)
    client = app.test_client()
    return client, client.get("/token").get_data(as_text=True)


def time_floor(client, token, n: int) -> list[float]:
    """The authenticated no-op, n times: what every signed-in request costs before its view."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post("/session/heartbeat", headers={"X-CSRFToken": token})
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 204:
            sys.exit(f"heartbeat failed ({response.status_code})")
    return times


def raw_statements(searches) -> list[tuple[str, list]]:
    today = dates.today_jst()
    statements = []
    for _, form in searches:
        criteria = residents.parse_criteria(form)
        statements.append(residents.search_query(criteria, today))
    return statements


def time_raw(conn, statements) -> list[float]:
    times = []
    for sql, params in statements:
        started = time.perf_counter()
        cursor = conn.cursor()
        cursor.execute(sql, params)
        cursor.fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return times


def explain(conn, searches) -> None:
    seen = set()
    today = dates.today_jst()
    postgres = database.is_postgres()
    for kind, form in searches:
        if kind in seen:
            continue
        seen.add(kind)
        sql, params = residents.search_query(residents.parse_criteria(form), today)
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = conn.execute_sql(prefix + sql, params).fetchall()
        plan = [r[0] for r in rows] if postgres else [r[-1] for r in rows]
        print(f"plan {kind}: " + " | ".join(line.strip() for line in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--searches", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{DATA}/search-{args.residents}.db"
    build_or_reuse(url, args.residents, args.seed)

    from app import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "AUDIT_KEY": AUDIT_KEY,
                      "ORIGIN": "http://localhost", "RP_ID": "localhost"})
    client, token = clerk.signed_in(app, "/residents/", name="検索 計測")
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        searches = make_searches(args.searches, args.seed)
        warmup = make_searches(60, args.seed + 1)
        statements, warm_statements = raw_statements(searches), raw_statements(warmup)
        explain(models.db, searches)
        models.db.close()

    time_app(client, token, warmup)
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        time_raw(models.db, statements)  # untimed: every pass below finds the same pages cached
        models.db.close()
    app_ms = time_app(client, token, searches)
    time_floor(client, token, 50)
    floor_ms = time_floor(client, token, len(searches))
    with app.app_context():
        conn = models.db
        conn.connect(reuse_if_open=True)
        stack_client, stack_token = bare_stack()
        time_app(stack_client, stack_token, warmup)
        stack_ms = time_app(stack_client, stack_token, searches)
        time_raw(conn, warm_statements)
        raw_ms = time_raw(conn, statements)
        conn.close()

    by_kind: dict[str, tuple[list, list]] = {}
    for (kind, _), a, r in zip(searches, app_ms, raw_ms):
        by_kind.setdefault(kind, ([], []))
        by_kind[kind][0].append(a)
        by_kind[kind][1].append(r)
    for kind, (a, r) in sorted(by_kind.items()):
        print(f"{kind:18s} n={len(a):4d}  app p50={statistics.median(a):6.2f}ms p95={pct(a, 95):6.2f}ms  "
              f"raw p50={statistics.median(r):6.2f}ms p95={pct(r, 95):6.2f}ms")
    p50, p95, raw_p95 = statistics.median(app_ms), pct(app_ms, 95), pct(raw_ms, 95)
    stack_p95 = pct(stack_ms, 95)
    print(f"searches={len(app_ms)} database={'postgresql' if url.startswith('postgres') else 'sqlite'} "
          f"residents={args.residents}")
    print(f"stack (Flask + CSRF + signed cookie + the same SQL and table, nothing of ours) "
          f"p50={statistics.median(stack_ms):.2f}ms p95={stack_p95:.2f}ms")
    print(f"search p50={p50:.1f}ms p95={p95:.1f}ms raw_p95={raw_p95:.1f}ms ratio={p95 / raw_p95:.2f} "
          f"floor_p95={pct(floor_ms, 95):.2f}ms stack_ratio={stack_p95 / raw_p95:.2f}")


if __name__ == "__main__":
    main()
