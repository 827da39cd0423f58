"""Time `flask --app app import-residents` against a plain executemany insert of the same rows.

    python bench/import_residents.py --rows 1000000 [--database-url URL] [--seed 1]

A generated N-row extract (mixed forms, as registries send them: 和暦 and Western dates,
hiragana / half-width kana, 7-digit postal codes, some 消除) is written once to bench/data/.
Then, each on a fresh database of the kind the URL names (SQLite by default; for PostgreSQL
give a server URL — a throwaway database is created on it and dropped afterwards):
1. the import command runs as an operator runs it (a subprocess), and is timed;
2. the same file is imported again (every row unchanged), and timed — for information;
3. the rows the import stored are inserted into an empty resident table of a second fresh
   database with one DB-API `executemany` in one transaction, and timed.
The last line: `import rows_per_s=X raw_rows_per_s=Y ratio=R` (ratio = import / raw).
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from urllib.parse import urlparse, urlunparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin.core import dates  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
HEADER = ("atena_no,name,name_kana,sex,birth_date,postal_code,address,resident_since,"
          "removed_on,removal_reason")
WARDS = ("中央区", "花見川区", "稲毛区", "若葉区", "緑区", "美浜区")
TOWNS = ("富士見", "新町", "院内", "幕張本郷", "検見川町", "小仲台", "稲毛東", "都賀", "桜木",
         "おゆみ野", "鎌取町", "幸町", "高洲", "真砂", "磯辺", "打瀬", "蘇我", "登戸")


def _name_pairs():
    from faker.providers.person.ja_JP import Provider

    last = [(k, kana) for k, kana, _ in Provider.last_name_pairs]
    last += [("髙橋", "タカハシ"), ("渡邊", "ワタナベ"), ("山﨑", "ヤマザキ"), ("齋藤", "サイトウ")]
    male = [(k, kana) for k, kana, _ in Provider.first_name_male_pairs]
    female = [(k, kana) for k, kana, _ in Provider.first_name_female_pairs]
    return last, male, female


def _kana_variant(rng: random.Random, kana: str) -> str:
    import jaconv

    x = rng.random()
    if x < 0.7:
        return kana  # full-width katakana, full-width space
    if x < 0.9:
        return jaconv.kata2hira(kana).replace("\u3000", " ")
    return jaconv.z2h(kana, kana=True, ascii=True, digit=True)


def _date_variant(rng: random.Random, d: date) -> str:
    x = rng.random()
    if x < 0.6:
        return d.isoformat()
    if x < 0.75:
        return f"{d.year}/{d.month}/{d.day}"
    if x < 0.85:
        return d.strftime("%Y%m%d")
    if d < date(1873, 1, 1):
        return d.isoformat()
    return dates.format_wareki(d, "short" if x < 0.93 else "long")


def write_extract(path: str, rows: int, seed: int) -> None:
    """A valid N-row resident extract with the variety a registry sends."""
    rng = random.Random(seed)
    last, male, female = _name_pairs()
    today = dates.today_jst()
    atena = rng.sample(range(1_000_000, 9_000_000_000), rows)
    with open(path + ".part", "w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\r\n")
        for n in range(rows):
            sex = 1 if rng.random() < 0.49 else 2
            family = rng.choice(last)
            given = rng.choice(male if sex == 1 else female)
            birth = today - timedelta(days=rng.randrange(1, 100 * 365))
            since = ""
            if rng.random() < 0.3:
                since = _date_variant(rng, birth + timedelta(days=rng.randrange((today - birth).days + 1)))
            elif rng.random() < 0.5:
                since = _date_variant(rng, birth)
            removed = reason = ""
            if rng.random() < 0.03:
                removed = _date_variant(rng, today - timedelta(days=rng.randrange(0, 3 * 365)))
                removed_date = dates.parse_date(removed)
                if removed_date < birth or (since and removed_date < dates.parse_date(since)):
                    removed = ""
                else:
                    reason = rng.choice(("転出", "死亡", "職権消除", "", "その他"))
            postal = f"26{rng.randrange(10)}{rng.randrange(10000):04d}"
            if rng.random() < 0.5:
                postal = f"{postal[:3]}-{postal[3:]}"
            ward, town = rng.choice(WARDS), rng.choice(TOWNS)
            address = f"千葉県千葉市{ward}{town}{rng.randint(1, 5)}丁目{rng.randint(1, 28)}番{rng.randint(1, 24)}号"
            if rng.random() < 0.1:
                address = f'"{address}　{town}ハイツ{rng.randint(1, 9)}0{rng.randint(1, 9)}号室, 別棟"'
            out.write(",".join((
                f"{atena[n]:010d}", f"{family[0]}　{given[0]}",
                _kana_variant(rng, f"{family[1]}\u3000{given[1]}"), str(sex),
                _date_variant(rng, birth), postal, address, since, removed, reason)) + "\r\n")
    os.replace(path + ".part", path)


# --- databases -----------------------------------------------------------------------------------

class Throwaway:
    """A fresh database of the kind `url` names: a SQLite file, or a new PostgreSQL database."""

    def __init__(self, url: str | None, label: str):
        self.server = url
        if url is None or url.startswith("sqlite"):
            self.dir = tempfile.mkdtemp(prefix=f"kenshin-bench-{label}-", dir=DATA)
            self.url = f"sqlite:///{self.dir}/bench.db"
            self.name = None
        else:
            self.name = f"kenshin_bench_{label}_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{self.name}" ENCODING \'UTF8\' TEMPLATE template0')
            self.url = urlunparse(urlparse(url)._replace(path="/" + self.name))

    def _admin(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.server)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def drop(self) -> None:
        if not models.db.is_closed():
            models.db.close()
        if self.name:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            import shutil
            shutil.rmtree(self.dir, ignore_errors=True)


def _env(url: str) -> dict:
    env = dict(os.environ)
    env.update(KENSHIN_DATABASE_URL=url, KENSHIN_SECRET_KEY="bench", KENSHIN_AUDIT_KEY="bench")
    return env


def run_import(url: str, path: str) -> tuple[float, str]:
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    started = time.perf_counter()
    done = subprocess.run([flask, "--app", "app", "import-residents", path], cwd=ROOT,
                          env=_env(url), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"import-residents failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stdout.strip().splitlines()[-1]


COLUMNS = ("atena_no", "name", "name_kana", "kana_key", "name_key", "sex", "birth_date",
           "postal_code", "address", "resident_since", "removed_on", "removal_reason", "updated_at")


def stored_rows(url: str) -> list[tuple]:
    """The rows the import stored, in the plain types a driver takes (dates as ISO text)."""
    bound = database.bind(url)
    cursor = bound.execute_sql(f"SELECT {', '.join(COLUMNS)} FROM resident ORDER BY id")
    rows = [tuple(v.isoformat() if hasattr(v, "isoformat") and not isinstance(v, str) else v
                  for v in row) for row in cursor]
    bound.close()
    return [row[:-1] + (str(row[-1]).replace("T", " "),) for row in rows]


def raw_insert(url: str, rows: list[tuple]) -> float:
    """One executemany of every row into the empty resident table, in one transaction."""
    bound = database.bind(url)
    database.create_schema()
    bound.close()
    bound.connect()
    placeholder = "?" if url.startswith("sqlite") else "%s"
    sql = (f"INSERT INTO resident ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join([placeholder] * len(COLUMNS))})")
    started = time.perf_counter()
    with bound.atomic():
        bound.cursor().executemany(sql, rows)
    seconds = time.perf_counter() - started
    bound.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url", default=None,
                        help="sqlite:///… (a fresh file is used) or a PostgreSQL server URL")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"residents-{args.rows}-seed{args.seed}.csv")
    if not os.path.exists(path):
        started = time.perf_counter()
        write_extract(path, args.rows, args.seed)
        print(f"extract: wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.1f}s")
    else:
        print(f"extract: reusing {path}")

    target = Throwaway(args.database_url, "import")
    raw_target = Throwaway(args.database_url, "raw")
    try:
        database.bind(target.url)
        database.create_schema()
        models.db.close()
        seconds, summary = run_import(target.url, path)
        print(f"import (new file):   {seconds:7.1f}s  {args.rows / seconds:10,.0f} rows/s  {summary}")
        again, summary2 = run_import(target.url, path)
        print(f"import (same again): {again:7.1f}s  {args.rows / again:10,.0f} rows/s  {summary2}")
        rows = stored_rows(target.url)
        raw = raw_insert(raw_target.url, rows)
        print(f"raw executemany:     {raw:7.1f}s  {len(rows) / raw:10,.0f} rows/s")
    finally:
        target.drop()
        raw_target.drop()
    import_rps, raw_rps = args.rows / seconds, len(rows) / raw
    print(f"import rows_per_s={import_rps:.0f} raw_rows_per_s={raw_rps:.0f} ratio={import_rps / raw_rps:.2f}")


if __name__ == "__main__":
    main()
