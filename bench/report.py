"""Time `report screenings` for one 年度 against one hand-written SQL query of the same table.

    python bench/report.py --residents N --screenings M [--database-url URL] [--seed 1]

The database (a SQLite file under bench/data/ by default, or the URL given; it must be empty or
hold exactly this benchmark's data) gets N residents and M screenings spread over 年度 Y−3 … Y
(Y = the 年度 before the current one), about 8% of them 要精検 and 2% 判定保留, with a `followup` 精密検査 for about 70% of the referred people (some beyond the year),
some void and some pending (未確定) records, all written in bulk. Then it times, once each:

- the report: kenshin.statistics.report.rows + the CSV, as `report screenings` runs it;
- the raw query: an independent hand-written formulation (MIN date per person and exam rather
  than a window function, a correlated NOT EXISTS for 初回), for the national default rules;

checks that both give the same table, and prints as its last line
`report rows=X seconds=S raw_seconds=R ratio=Q` (Q = S / R).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from peewee import fn  # noqa: E402

import database  # noqa: E402
import models  # noqa: E402
from kenshin.core.dates import fiscal_year, today_jst  # noqa: E402
from kenshin.followup.link import within_year_sql  # noqa: E402
from kenshin.statistics import report  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
EXAMS = ["gastric_xray", "gastric_endoscopy", "colorectal", "lung", "breast", "cervical",
         "osteoporosis", "periodontal", "hepatitis"]
WEIGHTS = [10, 5, 25, 25, 10, 10, 5, 5, 5]
TARGET = {"gastric_xray": "gastric", "gastric_endoscopy": "gastric", "colorectal": "colorectal",
          "lung": "lung", "breast": "breast", "cervical": "cervical"}
CHUNK = 20000


def log(message: str) -> None:
    print(message, flush=True)


def _plain(value):
    if isinstance(value, bool):
        return int(value) if not database.is_postgres() else ("t" if value else "f")
    if isinstance(value, (date, datetime)):
        return str(value)
    return value


def _insert(model, rows, fields) -> None:
    """One chunk in one transaction through the project's bulk writer (executemany / COPY)."""
    columns = tuple(f.column_name for f in fields)
    with models.db.atomic():
        database.bulk_insert(model._meta.table_name, columns, [tuple(_plain(v) for v in r) for r in rows])


def populate(residents: int, screenings: int, year: int, seed: int) -> None:
    rng = random.Random(seed)
    from kenshin.core.dates import now_utc

    now = now_utc()
    with models.db.atomic():
        institution = models.Institution.create(code="9900000001", name="ベンチ医院", updated_at=now)
    log(f"residents: {residents:,}")
    fields = [models.Resident.atena_no, models.Resident.name, models.Resident.name_kana,
              models.Resident.kana_key, models.Resident.name_key, models.Resident.sex,
              models.Resident.birth_date, models.Resident.address, models.Resident.updated_at]
    for start in range(0, residents, CHUNK):
        rows = []
        for i in range(start, min(residents, start + CHUNK)):
            birth = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 365 * 75))
            rows.append((f"{i + 1:015d}", "ベンチ 太郎", "ベンチ タロウ", "ベンチタロウ", "ベンチ太郎",
                         rng.choice((1, 2)), birth, "千葉県千葉市", now))
        _insert(models.Resident, rows, fields)
    first_id = models.Resident.select(fn.MIN(models.Resident.id)).scalar()
    log(f"screenings: {screenings:,}")
    columns = [models.Screening.resident, models.Screening.exam, models.Screening.target,
               models.Screening.exam_date, models.Screening.fiscal_year, models.Screening.age,
               models.Screening.institution, models.Screening.setting, models.Screening.referral,
               models.Screening.items, models.Screening.status, models.Screening.source,
               models.Screening.entered_at, models.Screening.pending]
    seen = set()
    written = 0
    while written < screenings:
        rows = []
        for _ in range(min(CHUNK, screenings - written)):
            resident = first_id + rng.randrange(residents)
            exam = rng.choices(EXAMS, WEIGHTS)[0]
            fy = year - rng.choice((0, 0, 1, 2, 3))
            day = date(fy, 4, 1) + timedelta(days=rng.randrange(365))
            if (resident, exam, day) in seen:
                continue
            seen.add((resident, exam, day))
            roll = rng.random()
            referral, pending = roll < 0.08, 0.08 <= roll < 0.10
            status = "void" if rng.random() < 0.01 else ("pending" if rng.random() < 0.01 else "confirmed")
            row = [resident, exam, "", day, fiscal_year(day), 50, institution.id, rng.choice((1, 2)),
                   referral, "{}", status, "file", now, pending and not referral]
            rows.append(tuple(row))
            if referral and exam in TARGET and rng.random() < 0.7:
                later = day + timedelta(days=rng.randrange(0, 420))
                if (resident, "followup", later, TARGET[exam]) not in seen:
                    seen.add((resident, "followup", later, TARGET[exam]))
                    follow = [resident, "followup", TARGET[exam], later, fiscal_year(later), 50,
                              institution.id, 1, False, "{}", "confirmed", "file", now, False]
                    rows.append(tuple(follow))
        _insert(models.Screening, rows, columns)
        written += sum(1 for r in rows if r[1] != "followup")
        if written % 500000 < CHUNK:
            log(f"  {written:,}")
    # Planner statistics and, on PostgreSQL, the visibility map that index-only scans read: what
    # autovacuum keeps in a database in service (this server may have it off).
    models.db.execute_sql("VACUUM ANALYZE" if database.is_postgres() else "ANALYZE")


def raw_sql(year: int, postgres: bool) -> str:
    """The same table written by hand for the national rules (年度末 age, the guideline's groups)."""
    byear = "CAST(EXTRACT(YEAR FROM r.birth_date) AS INTEGER)" if postgres else "CAST(strftime('%Y', r.birth_date) AS INTEGER)"
    bmd = "to_char(r.birth_date, 'MM-DD')" if postgres else "strftime('%m-%d', r.birth_date)"
    age = f"({year} - {byear} + CASE WHEN {bmd} < '04-01' THEN 1 ELSE 0 END)"
    band = (f"CASE WHEN {age} < 20 THEN '0-19' WHEN {age} >= 85 THEN '85+' ELSE "
            f"CAST(({age} / 5) * 5 AS VARCHAR(3)) || '-' || CAST(({age} / 5) * 5 + 4 AS VARCHAR(3)) END")
    grp = "CASE WHEN {0}.exam IN ('gastric_xray', 'gastric_endoscopy') THEN 'gastric' ELSE {0}.exam END"
    pending = "s.pending"
    followup_kind = ("((s.exam IN ('gastric_xray', 'gastric_endoscopy') AND f.exam = 'followup' AND f.target = 'gastric')"
                     " OR (s.exam IN ('colorectal', 'lung', 'breast', 'cervical') AND f.exam = 'followup' AND f.target = s.exam)"
                     " OR (s.exam = 'periodontal' AND f.exam = 'periodontal_followup'))")
    return f"""
SELECT s.exam, r.sex, {band} AS band, s.setting,
       CASE WHEN NOT EXISTS (SELECT 1 FROM screening p WHERE p.resident_id = s.resident_id
            AND p.status = 'confirmed' AND p.fiscal_year BETWEEN {year - 3} AND {year - 1}
            AND p.exam NOT IN ('followup', 'periodontal_followup') AND {grp.format('p')} = {grp.format('s')})
            THEN 1 ELSE 0 END AS first_time,
       COUNT(*),
       SUM(CASE WHEN s.referral THEN 1 ELSE 0 END),
       SUM(CASE WHEN NOT s.referral AND {pending} THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.referral AND EXISTS (SELECT 1 FROM screening f WHERE f.resident_id = s.resident_id
            AND f.status = 'confirmed' AND {followup_kind}
            AND {within_year_sql(postgres, 'f.exam_date', 's.exam_date')}) THEN 1 ELSE 0 END)
FROM screening s
JOIN resident r ON r.id = s.resident_id
JOIN (SELECT m.resident_id, m.exam, MIN(m.exam_date) AS first_date FROM screening m
      WHERE m.status = 'confirmed' AND m.fiscal_year = {year}
        AND m.exam NOT IN ('followup', 'periodontal_followup')
      GROUP BY m.resident_id, m.exam) firsts
  ON firsts.resident_id = s.resident_id AND firsts.exam = s.exam AND firsts.first_date = s.exam_date
WHERE s.status = 'confirmed' AND s.fiscal_year = {year}
GROUP BY 1, 2, 3, 4, 5
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, required=True)
    parser.add_argument("--screenings", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{DATA}/report-{args.residents}-{args.screenings}.db"
    database.bind(url)
    models.db.connect(reuse_if_open=True)
    database.create_schema()
    year = fiscal_year(today_jst()) - 1
    have = models.Resident.select().count()
    if have == 0:
        started = time.perf_counter()
        populate(args.residents, args.screenings, year, args.seed)
        log(f"populated in {time.perf_counter() - started:.1f} s")
    elif have != args.residents:
        sys.exit(f"the database has {have:,} residents, not {args.residents:,}; give an empty one")
    else:
        log(f"database: {have:,} residents already (reused)")
    postgres = database.is_postgres()

    started = time.perf_counter()
    rows = report.rows(year)
    report.csv_text(rows)
    seconds = time.perf_counter() - started

    started = time.perf_counter()
    raw = models.db.execute_sql(raw_sql(year, postgres)).fetchall()
    raw_seconds = time.perf_counter() - started

    ours = sorted(tuple(r.values()[:9]) for r in rows)
    theirs = sorted((e, int(sx), b, int(st), int(ft), int(n), int(rf), int(pd), int(at))
                    for e, sx, b, st, ft, n, rf, pd, at in raw)
    if ours != theirs:
        sys.exit(f"MISMATCH: report {len(ours)} rows, raw {len(theirs)} rows; first differences: "
                 f"{sorted(set(ours) ^ set(theirs))[:5]}")
    log(f"year={year} database={'postgresql' if postgres else 'sqlite'} "
        f"screened={sum(r.screened for r in rows):,}")
    log(f"report rows={len(rows)} seconds={seconds:.2f} raw_seconds={raw_seconds:.2f} "
        f"ratio={seconds / raw_seconds:.2f}")


if __name__ == "__main__":
    main()
