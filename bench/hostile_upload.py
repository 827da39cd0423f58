"""Memory and time of the screen's preview of a residents file made only of bad rows
(issue 12, finding 4: a 39 MB file of bad rows grew a worker to 2.6 GB).

    python bench/hostile_upload.py --megabytes 39 [--database-url URL]

The file is taken as the upload screens take it, the encoding detected from its bytes.
The preview runs in a child process (so its peak resident memory is its own) on a fresh SQLite
database unless a URL is given; every row has five bad cells. The child reads the file as the
screen does: `resident_import.preview(..., problem_limit=1000)`.
The last line: `hostile_upload megabytes=M rows=N problems=P kept=K peak_rss_mb=R ratio=X seconds=S`
(ratio = peak memory / file size).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "atena_no,name,name_kana,sex,birth_date,address"
BAD_ROW = "x{n},山田,yamada,9,someday,"


def child(path: str, url: str) -> None:
    sys.path.insert(0, ROOT)
    import database
    from kenshin import audit
    from kenshin.imports import csvimport
    from kenshin.registry import resident_import

    database.bind(url)
    database.create_schema()
    audit.configure("bench-audit-key")
    with open(path, "rb") as handle:
        # as the screen receives it: the encoding left at 自動判定 (csvimport.detect_encoding)
        source = csvimport.Source.from_bytes("hostile.csv", handle.read(), csvimport.AUTO)
    started = time.perf_counter()
    result = resident_import.preview(source, audit.Actor.system("bench"), problem_limit=1000)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"problems": result.problem_count, "kept": len(result.problems),
                      "peak_rss_mb": peak_kb / 1024, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=39)
    parser.add_argument("--database-url")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "hostile.csv")
        target = int(args.megabytes * 1024 * 1024)
        rows = 0
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(HEADER + "\n")
            size = len(HEADER) + 1
            while size < target:
                line = BAD_ROW.format(n=rows) + "\n"
                handle.write(line)
                size += len(line.encode())
                rows += 1
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        out = subprocess.run([sys.executable, __file__, "--child", path, url], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        found = json.loads(out.strip().splitlines()[-1])
        ratio = found["peak_rss_mb"] * 1024 * 1024 / os.path.getsize(path)
        print(f"hostile_upload megabytes={args.megabytes:g} rows={rows} problems={found['problems']} "
              f"kept={found['kept']} peak_rss_mb={found['peak_rss_mb']:.0f} ratio={ratio:.1f} "
              f"seconds={found['seconds']:.1f}")


if __name__ == "__main__":
    main()
