"""Does the password step's timing reveal whether a login ID exists?

    python bench/signin_timing.py [--rounds 60] [--database-url URL]

Times `signin.check_password_step` (the first factor, with its audit write and failure count)
for four kinds of failure, interleaved round-robin so that machine load hits them alike:
an unknown login ID, a known one with a wrong password, a locked account, a retired one.
Prints p50/p90/p99 in milliseconds per kind, then the ratio of each median to the unknown one's.

The last line is exactly:
    signin_timing unknown_p50_ms=X wrong_ratio=R locked_ratio=R retired_ratio=R
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit
from kenshin.access import signin
from kenshin.access import staff as staff_domain  # noqa: E402
from kenshin.core.dates import now_utc  # noqa: E402
from kenshin.core.errors import Refused  # noqa: E402
from kenshin.access.passwords import hash_password  # noqa: E402


def _person(login_id: str, **changes) -> None:
    person, _ = staff_domain.create(login_id, "計測 太郎", "健康支援課", ["clerk"],
                                    audit.Actor.system("bench"))
    changes.setdefault("password_hash", hash_password("the real password 2026"))
    models.Staff.update(**changes).where(models.Staff.id == person.id).execute()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/signin-bench.db"
    database.bind(url)
    audit.configure("bench-key")
    database.create_schema()
    stamp = str(int(time.time()))
    kinds = {"unknown": f"nobody-{stamp}", "wrong": f"wrong-{stamp}",
             "locked": f"locked-{stamp}", "retired": f"retired-{stamp}"}
    _person(kinds["wrong"])
    _person(kinds["locked"], locked_until=now_utc() + timedelta(days=1))
    _person(kinds["retired"], status="retired")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind, login_id in kinds.items():
            if kind == "wrong":  # stay below the lockout: each round is one failure
                models.Staff.update(failed_logins=0).where(
                    models.Staff.login_id == login_id).execute()
            started = time.perf_counter()
            try:
                signin.check_password_step(login_id, "a wrong password 1", "bench")
            except Refused:
                pass
            times[kind].append((time.perf_counter() - started) * 1000)
    for kind, values in times.items():
        q = statistics.quantiles(values, n=100)
        print(f"{kind:8s} p50={statistics.median(values):7.2f} ms  p90={q[89]:7.2f} ms  "
              f"p99={q[98]:7.2f} ms  n={len(values)}")
    base = statistics.median(times["unknown"])
    ratios = {k: statistics.median(v) / base for k, v in times.items()}
    print(f"signin_timing unknown_p50_ms={base:.2f} wrong_ratio={ratios['wrong']:.3f} "
          f"locked_ratio={ratios['locked']:.3f} retired_ratio={ratios['retired']:.3f}")


if __name__ == "__main__":
    main()
