"""The second keying (ベリファイ入力) of one batch, form after form, in the domain.

    python bench/verify.py [--forms 300] [--database-url URL]

A fresh database (a SQLite file under bench/data/ by default, or the PostgreSQL URL given, whose
tables are emptied first) gets one institution, N residents and N keyed 大腸がん forms from one
clerk — one batch. A second clerk then works through it as the screen does: open the desk (the
batch's forms, who has seen what, the next form, two audited views) and key the form's verified
items (the blind check, round 2, confirmation and its audit event). Each step is timed.
The last line: `verify desk p50=… p95=… key p50=… p95=… (N forms in the batch)`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit
from kenshin.screening import screenings
from kenshin.access import staff as staff_domain
from kenshin import verification  # noqa: E402
from kenshin.core.dates import now_utc  # noqa: E402
from kenshin.core.kana import kana_key  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
CODE = "1234567890"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def setup(url: str, forms: int):
    database.bind(url)
    audit.configure("bench-verify-key")
    models.db.connect(reuse_if_open=True)
    database.create_schema()
    if database.is_postgres():
        tables = ", ".join(f'"{m._meta.table_name}"' for m in models.ALL_MODELS)
        with models.db.atomic():
            models.db.execute_sql("SET LOCAL session_replication_role = replica")
            models.db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    system = audit.Actor.system("bench")
    keyer, _ = staff_domain.create("bench-keyer", "入力 一郎", "健康支援課", ("clerk",), system)
    verifier, _ = staff_domain.create("bench-verifier", "確認 二郎", "健康支援課", ("clerk",), system)
    models.Institution.create(code=CODE, name="千葉中央クリニック", active=True, updated_at=now_utc())
    first = audit.Actor.of_staff(keyer, "bench")
    ids = []
    for n in range(forms):
        kana = "チバ ハナコ"
        person = models.Resident.create(
            atena_no=str(100000 + n), name=f"千葉 花子{n}", name_kana=kana, kana_key=kana_key(kana),
            name_key=f"千葉花子{n}", sex=2, birth_date=date(1960, 1, 1 + n % 28), address="千葉市中央区",
            updated_at=now_utc())
        ids.append(screenings.record(person, exam="colorectal", exam_date=date(2025, 6, 2),
                                     institution=CODE, setting="1",
                                     items={"fobt_result": "positive" if n % 20 == 0 else "negative"},
                                     actor=first).screening.id)
    return audit.Actor.of_staff(verifier, "bench"), ids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--forms", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url
    if not url:
        path = os.path.join(DATA, "verify.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        url = f"sqlite:///{path}"
    verifier, ids = setup(url, args.forms)
    key = verification.BatchKey.of(screenings.get(ids[0]))
    desk_ms, key_ms = [], []
    after = None
    while True:
        started = time.perf_counter()
        desk = verification.desk(key, verifier, after_id=after)
        desk_ms.append((time.perf_counter() - started) * 1000)
        if desk.current is None:
            break
        values = {"fobt_result": desk.current.items["fobt_result"]}
        started = time.perf_counter()
        result = verification.key_second(desk.current.id, values, verifier)
        key_ms.append((time.perf_counter() - started) * 1000)
        assert result.agreed
        after = desk.current.id
    confirmed = models.Screening.select().where(models.Screening.status == "confirmed").count()
    assert confirmed == args.forms, confirmed
    print(f"verify desk p50={percentile(desk_ms, 50):.1f}ms p95={percentile(desk_ms, 95):.1f}ms "
          f"key p50={percentile(key_ms, 50):.1f}ms p95={percentile(key_ms, 95):.1f}ms "
          f"({args.forms} forms in the batch, mean desk {statistics.mean(desk_ms):.1f}ms)")


if __name__ == "__main__":
    main()
