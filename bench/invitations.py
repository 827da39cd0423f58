"""An invitation extraction at a city's size, against one hand-written SQL statement.

    python bench/invitations.py --residents N --screenings M [--database-url URL]

1. The database (a SQLite file bench/data/entry-N.sqlite by default — the one bench/entry.py
   builds and reuses — or the URL given) gets N demo residents with their screenings and then
   synthetic screenings of earlier 年度 up to M (bench/entry.py's `build`).
2. Earlier invitation runs are removed (this is a bench database), then `flask invitations
   extract --fiscal-year Y --as-of TODAY` runs through the real CLI command (timed: S), Y being
   the current 年度: the candidate pairs, 整理番号 issued in SQL, every invitation written, counts
   and the audit event, in one transaction.
3. One hand-written SELECT computes the same person × exam set under the national guideline
   (timed: R, rows fetched), and the two sets are compared: they must be equal.
The last line: `invitations pairs=X seconds=S raw_seconds=R ratio=Q` (Q = S / R).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import database  # noqa: E402
import models  # noqa: E402
from kenshin.core import dates  # noqa: E402

from entry import BENCH_KEY, DATA, build, log  # noqa: E402  (bench/entry.py)


def raw_sql(fy: int, as_of: date, sqlite: bool) -> str:
    """The national guideline for 年度 `fy` on the 年度末 basis, written out by hand as one
    statement: each person's last 年度 with a counted screening per interval group (one grouped
    pass over screening), joined once to the people resident on the date, then one SELECT per
    exam over those. On SQLite (no planner statistics) it names the covering index for the pass
    and reads resident whole, as a person tuning it by hand would."""
    d = f"'{as_of.isoformat()}'"
    y = fy

    def born_by(age):  # age `age` or more at the end of the 年度
        return f"r.birth_date <= '{y - age + 1}-03-31'"

    def born_at(*ages):  # exactly one of these ages
        return "(" + " OR ".join(f"r.birth_date BETWEEN '{y - a}-04-01' AND '{y - a + 1}-03-31'"
                                 for a in ages) + ")"

    broad = " NOT INDEXED" if sqlite else ""

    def not_since(group, first_year):  # no screening of the group in 年度 first_year … y (ever: None)
        return f"r.{group} IS NULL" + ("" if first_year is None else f" OR r.{group} < {first_year}")

    parts = [
        ("gastric_xray", born_by(40), not_since("gastric", y)),
        ("gastric_endoscopy", born_by(50), not_since("gastric", y - 1)),
        ("colorectal", born_by(40), not_since("colorectal", y)),
        ("lung", born_by(40), not_since("lung", y)),
        ("breast", f"r.sex = 2 AND {born_by(40)}", not_since("breast", y - 1)),
        ("cervical", f"r.sex = 2 AND {born_by(20)}", not_since("cervical", y - 1)),
        ("osteoporosis", f"r.sex = 2 AND {born_at(40, 45, 50, 55, 60, 65, 70)}", "1 = 1"),
        ("periodontal", born_at(20, 30, 40, 50, 60, 70), "1 = 1"),
        ("hepatitis", born_at(40), not_since("hepatitis", None)),
    ]
    last = f"""WITH last AS (
  SELECT resident_id,
         MAX(CASE WHEN exam IN ('gastric_xray', 'gastric_endoscopy') THEN fiscal_year END) AS gastric,
         MAX(CASE WHEN exam = 'colorectal' THEN fiscal_year END) AS colorectal,
         MAX(CASE WHEN exam = 'lung' THEN fiscal_year END) AS lung,
         MAX(CASE WHEN exam = 'breast' THEN fiscal_year END) AS breast,
         MAX(CASE WHEN exam = 'cervical' THEN fiscal_year END) AS cervical,
         MAX(CASE WHEN exam = 'hepatitis' THEN fiscal_year END) AS hepatitis
  FROM screening{" INDEXED BY screening_confirmed_by_resident" if sqlite else ""}
  WHERE status = 'confirmed' AND fiscal_year <= {y} AND exam_date <= {d}
    AND exam IN ('gastric_xray', 'gastric_endoscopy', 'colorectal', 'lung', 'breast', 'cervical', 'hepatitis')
  GROUP BY resident_id
)
"""
    resident = (f"(r.resident_since IS NULL OR r.resident_since <= {d}) "
                f"AND (r.removed_on IS NULL OR r.removed_on > {d}) AND NOT r.use_suspended")
    people = (f""", people AS (
  SELECT r.id, r.sex, r.birth_date, l.gastric, l.colorectal, l.lung, l.breast, l.cervical, l.hepatitis
  FROM resident r{broad} LEFT JOIN last l ON l.resident_id = r.id
  WHERE {resident}
)
""")
    return last + people + "\nUNION ALL\n".join(
        f"SELECT r.id, '{exam}' FROM people r WHERE {who} AND ({window})" for exam, who, window in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--screenings", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{os.path.join(DATA, f'entry-{args.residents}.sqlite')}"

    from app import create_app
    app = create_app({"DATABASE_URL": url, "AUDIT_KEY": BENCH_KEY, "SECRET_KEY": "bench-secret",
                      "ORIGIN": "http://localhost", "RP_ID": "localhost"})
    today = dates.today_jst()
    fy = dates.fiscal_year(today)
    with app.app_context():
        database.create_schema()
        build(args.residents, args.screenings, args.seed)
        with models.db.atomic():  # a bench database: start the 年度's invitations afresh
            models.Invitation.delete().execute()
            models.InvitationRun.delete().execute()
            models.SeiriNumber.delete().execute()
            models.SeiriCounter.delete().execute()
            sets = models.ScreeningRuleSet.select(models.ScreeningRuleSet.id).where(
                models.ScreeningRuleSet.fiscal_year == fy)  # the run saves the guideline afresh
            models.ScreeningRule.delete().where(models.ScreeningRule.rule_set.in_(sets)).execute()
            models.ScreeningRuleSet.delete().where(models.ScreeningRuleSet.fiscal_year == fy).execute()
        if database.is_postgres():
            # what autovacuum does after a bulk load: statistics, and the visibility map that
            # lets both queries read an index alone
            models.db.execute_sql("VACUUM ANALYZE")
        residents = models.Resident.select().count()
        screenings = models.Screening.select().count()
        log(f"database: {residents:,} residents, {screenings:,} screenings; 年度 {fy}, as of {today}")

        runner = app.test_cli_runner()
        # where the time goes: every statement of the run, timed (wall; the statement text's
        # first words name it)
        spent: dict[str, float] = {}
        real = models.db.obj  # models.db is a peewee Proxy
        execute = real.execute_sql

        def timed(sql, *args, **kwargs):
            begun = time.perf_counter()
            try:
                return execute(sql, *args, **kwargs)
            finally:
                key = " ".join(str(sql).split()[:4])[:60]
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - begun
        real.execute_sql = timed
        cpu = time.process_time()
        started = time.perf_counter()
        result = runner.invoke(args=["invitations", "extract", "--fiscal-year", str(fy),
                                     "--as-of", today.isoformat()])
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu
        del real.execute_sql  # the class's method again
        for key, took in sorted(spent.items(), key=lambda kv: -kv[1])[:8]:
            log(f"  {took:7.2f} s  {key}")
        if result.exit_code != 0:
            sys.exit(f"invitations extract failed: {result.output}{result.exception!r}")
        log(result.output.strip())
        run_id = int(result.output.strip().splitlines()[-1].split()[0].split("=")[1])

        cpu = time.process_time()
        started = time.perf_counter()
        raw = set(models.db.execute_sql(raw_sql(fy, today, not database.is_postgres())).fetchall())
        raw_seconds = time.perf_counter() - started
        raw_cpu = time.process_time() - cpu
        # a run writes one row per person with the exams as a set (models.INVITATION_EXAM_BITS)
        written = {(rid, exam) for rid, exams in models.db.execute_sql(
            "SELECT resident_id, exams FROM invitation WHERE run_id = %d" % run_id).fetchall()
            for exam in models.exam_codes(exams)}
        if raw != written:
            log(f"MISMATCH: only in extract {len(written - raw)}, only in raw SQL {len(raw - written)}; "
                f"e.g. {sorted(written ^ raw)[:5]}")
            sys.exit(1)
        log(f"sets equal: {len(raw):,} person × exam pairs")
        # On SQLite all the work is this process's: its CPU time shows what a busy machine hides
        # (on PostgreSQL the server works, and these are only the client's share).
        log(f"process cpu: extract {cpu_seconds:.2f} s, raw {raw_cpu:.2f} s; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"invitations pairs={len(raw)} seconds={seconds:.2f} raw_seconds={raw_seconds:.2f} "
          f"ratio={seconds / raw_seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
