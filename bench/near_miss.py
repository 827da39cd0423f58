"""The queue's near-miss candidates and the menu's waiting-work counts at registry scale (issue 20).

    python bench/near_miss.py --residents 1000000 [--screenings 2000000] [--database-url URL]
                              [--forms 400] [--seed 1]

Builds (once; reused afterwards) N residents in bulk — birth dates spread over 1925–2005, kana
drawn from a few hundred family and given names, so that a birth date and sex hold tens of
people as in a real city — and M screenings of this 年度 (8% 要精検, 2% 未確定), a few open
queue items and inquiries. bench/data/near-N-M.db by default, or the PostgreSQL database the URL
names (it must exist and be empty, or hold this benchmark's data).

Then, for `--forms` forms made from random residents with one slip each (birth date ±1 day, month
and day swapped, one kana character changed, or none), times kenshin.screening.matching
.candidates exactly (what the queue offered before) and with near misses (what it offers now),
checks that the slipped person is among the near misses, prints the query plan, times the menu's
counts (kenshin.waiting.counts) and, once, the 精検 未把握 list's count (why the menu does not show
that number), and prints as its last line
`near_miss p50=Xms p95=Yms exact_p95=Zms ratio=R menu_ms=M found=F/T` (ratio = near p95 / exact p95).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit  # noqa: E402
from kenshin.core import dates  # noqa: E402
from kenshin.core.kana import kana_key  # noqa: E402
from kenshin.screening import matching  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
FAMILY = ["サトウ", "スズキ", "タカハシ", "タナカ", "ワタナベ", "イトウ", "ヤマモト", "ナカムラ", "コバヤシ",
          "カトウ", "ヨシダ", "ヤマダ", "ササキ", "ヤマグチ", "マツモト", "イノウエ", "キムラ", "ハヤシ",
          "シミズ", "ヤマザキ", "モリ", "アベ", "イケダ", "ハシモト", "ヤマシタ", "イシカワ", "ナカジマ",
          "マエダ", "フジタ", "オガワ", "ゴトウ", "オカダ", "ハセガワ", "ムラカミ", "コンドウ", "イシイ",
          "サイトウ", "サカモト", "エンドウ", "アオキ", "フジイ", "ニシムラ", "フクダ", "オオタ", "ミウラ",
          "フジワラ", "オカモト", "マツダ", "ナカガワ", "ナカノ", "ハラダ", "オノ", "タムラ", "タケウチ"]
GIVEN = ["ハナコ", "タロウ", "イチロウ", "ヨウコ", "ケイコ", "ヒロシ", "タカシ", "アキラ", "マサコ", "ユミコ",
         "カズオ", "ミチコ", "サチコ", "ススム", "マコト", "ヨシコ", "トモコ", "ケンジ", "ユウコ", "ジュンコ",
         "ノリコ", "ヒデオ", "シゲル", "アケミ", "ナオコ", "ダイスケ", "ショウタ", "ユイ", "ハルカ", "リョウ"]
KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"


def log(message: str) -> None:
    print(message, flush=True)


def build_or_reuse(url: str, n: int, m: int, seed: int) -> None:
    database.bind(url)
    audit.configure("bench")
    database.create_schema()
    have = models.Resident.select().count()
    if have:
        if abs(have - n) > n // 100:
            sys.exit(f"{url} holds {have:,} residents, not {n:,}")
        log(f"reusing {url} ({have:,} residents)")
        return
    rng = random.Random(seed)
    now = str(dates.now_utc())
    started = time.perf_counter()
    span = (date(2005, 3, 31) - date(1925, 4, 1)).days
    cols = ("id", "atena_no", "name", "name_kana", "kana_key", "name_key", "sex", "birth_date",
            "address", "use_suspended", "updated_at")
    chunk = []
    with models.db.atomic():
        for i in range(1, n + 1):
            kana = f"{rng.choice(FAMILY)}\u3000{rng.choice(GIVEN)}"
            birth = date(1925, 4, 1) + timedelta(days=rng.randrange(span))
            chunk.append((i, f"{i:012d}", f"住民{i}", kana, kana_key(kana), f"住民{i}",
                          rng.choice((1, 2)), birth.isoformat(), "千葉市中央区",
                          False if database.is_postgres() else 0, now))
            if len(chunk) == 50_000:
                database.bulk_insert("resident", cols, chunk)
                chunk = []
        database.bulk_insert("resident", cols, chunk)
    log(f"residents: {n:,} in {time.perf_counter() - started:.0f}s")
    models.Institution.create(code="1234567890", name="ベンチ医院", active=True,
                              updated_at=dates.now_utc())
    fy = dates.fiscal_year(dates.today_jst())
    first, _ = dates.fiscal_year_bounds(fy)
    days = max(1, (dates.today_jst() - first).days)
    cols = ("resident_id", "exam", "target", "exam_date", "fiscal_year", "age", "institution_id",
            "setting", "referral", "pending", "items", "status", "source", "entered_at")
    started = time.perf_counter()
    seen = set()
    chunk = []
    flag = (lambda b: b) if database.is_postgres() else int
    with models.db.atomic():
        for _ in range(m):
            rid, exam = rng.randrange(1, n + 1), rng.choice(("colorectal", "lung", "gastric_xray"))
            day = first + timedelta(days=rng.randrange(days))
            if (rid, exam, day) in seen:
                continue
            seen.add((rid, exam, day))
            roll = rng.random()
            chunk.append((rid, exam, "", day.isoformat(), fy, 60, 1, 1, flag(roll < 0.08),
                          flag(False), "{}", "pending" if roll > 0.98 else "confirmed", "file", now))
            if len(chunk) == 50_000:
                database.bulk_insert("screening", cols, chunk)
                chunk = []
        database.bulk_insert("screening", cols, chunk)
    log(f"screenings: {len(seen):,} in {time.perf_counter() - started:.0f}s")
    if database.is_postgres():
        models.db.execute_sql("VACUUM ANALYZE")  # what autovacuum does soon after: visibility map set


def slip(rng, person) -> tuple[matching.FormIdentity, str]:
    """A form for `person` with one slip of the pen, and which slip."""
    birth, key = person.birth_date, person.kana_key
    kind = rng.choice(("day", "transposed", "kana", "none"))
    if kind == "day":
        birth += timedelta(days=rng.choice((-1, 1)))
    elif kind == "transposed" and birth.day <= 12 and birth.day != birth.month:
        birth = birth.replace(month=birth.day, day=birth.month)
    elif kind == "kana":
        at = rng.randrange(len(key))
        key = key[:at] + rng.choice([c for c in KANA if c != key[at]]) + key[at + 1:]
    else:
        kind = "none"
    return matching.FormIdentity("", "", key, key, birth, person.sex, ""), kind


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--screenings", type=int, default=2_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--forms", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{DATA}/near-{args.residents}-{args.screenings}.db"
    build_or_reuse(url, args.residents, args.screenings, args.seed)

    rng = random.Random(args.seed + 1)
    top = models.Resident.select(models.Resident.id).order_by(models.Resident.id.desc()).scalar()
    people = [models.Resident.get_by_id(rng.randrange(1, top + 1)) for _ in range(args.forms)]
    forms = [slip(rng, p) for p in people]
    sample = forms[0][0]
    query = (models.Resident.select().where(
        models.Resident.birth_date.in_([sample.birth_date, *matching.near_birth_dates(sample.birth_date)])
        & (models.Resident.sex == sample.sex)))
    sql, params = query.sql()
    prefix = "EXPLAIN QUERY PLAN " if not database.is_postgres() else "EXPLAIN "
    log("plan of the near-miss read:")
    for row in models.db.execute_sql(prefix + sql, params).fetchall():
        log("  " + " ".join(str(c) for c in row))

    exact, near, found, slipped = [], [], 0, 0
    for (form, kind), person in zip(forms, people):
        started = time.perf_counter()
        matching.candidates(form)
        exact.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        offered = matching.candidates(form, near=True)
        near.append((time.perf_counter() - started) * 1000)
        if kind != "none" and person.birth_date <= date(2005, 3, 31):
            slipped += 1
            found += any(c.resident.id == person.id and c.near for c in offered)
    from kenshin.waiting import counts
    from kenshin.provision import queries

    from kenshin.followup import worklist

    menu = []
    for _ in range(20):
        started = time.perf_counter()
        for read in (counts.queue_open, counts.verification_pending, counts.inquiries_open,
                     counts.request_deadlines, counts.followup_unknown):
            read()
        counts.provision_held(queries.Policy())
        menu.append((time.perf_counter() - started) * 1000)
    log(f"menu counts: p50={pct(menu, 50):.1f}ms p95={pct(menu, 95):.1f}ms "
        f"(未確定 {counts.verification_pending().count:,})")
    # why 精検 未把握 is a link without a number on the menu: the list's own count
    criteria = worklist.Criteria(dates.fiscal_year(dates.today_jst()), status=worklist.UNKNOWN)
    started = time.perf_counter()
    unknown = worklist.referred_query(criteria).count()
    log(f"followup 未把握 count (not on the menu): {unknown:,} in "
        f"{(time.perf_counter() - started) * 1000:.0f}ms")
    log(f"exact candidates: p50={pct(exact, 50):.1f}ms p95={pct(exact, 95):.1f}ms")
    print(f"near_miss p50={pct(near, 50):.1f}ms p95={pct(near, 95):.1f}ms "
          f"exact_p95={pct(exact, 95):.1f}ms ratio={pct(near, 95) / pct(exact, 95):.2f} "
          f"menu_ms={pct(menu, 50):.1f} found={found}/{slipped}")


if __name__ == "__main__":
    main()
