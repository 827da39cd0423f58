"""Time `flask --app app import-results` on a clinic file of N rows.

    python bench/import_results.py --rows 100000 [--database-url URL] [--residents R] [--seed 1]

The database (a SQLite file under bench/data/ by default, or the URL given — e.g. the big
database bench/entry.py builds) gets demo residents and screenings once (kenshin.demo) when it
has fewer than R residents. A clinic file of N rows is generated from those residents: mostly
rows that match by 宛名番号, some with a wrong 生年月日, no identifier or an unknown 整理番号
(these go to the queue), every exam of the catalogue, 和暦 and Western dates, hiragana and
half-width kana. The import runs as an operator runs it (a subprocess), timed wall clock; then
the rows it wrote are removed again so the database can be reused.
The last line: `import_results rows_per_s=X`.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import database  # noqa: E402
import models  # noqa: E402
from kenshin import audit
from kenshin.screening import catalogue
from kenshin.core import dates  # noqa: E402
from kenshin.invitations.seiri import number_for  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
BENCH_KEY = "bench-audit-key"
COLUMNS = ["seiri_no", "atena_no", "name", "name_kana", "birth_date", "sex", "exam", "exam_date",
           "institution_code", "setting"]
ITEMS = {
    "gastric_xray": [{"xray_category": "2", "xray_findings": "慢性胃炎"}, {"xray_category": "3a", "referral": "1"}],
    "gastric_endoscopy": [{"endoscopy_result": "none"}, {"endoscopy_result": "suspected", "endoscopy_findings": "前庭部びらん"}],
    "colorectal": [{"fobt_result": "negative"}, {"fobt_result": "positive"}],
    "lung": [{"symptoms": "0", "xray_grade": "B"}, {"symptoms": "1", "xray_grade": "E1", "sputum_class": "B"}],
    "breast": [{"mammography_category": "1"}, {"mammography_category": "3", "mammography_findings": "石灰化"}],
    "cervical": [{"symptoms": "0", "referral": "0"}, {"symptoms": "1", "referral": "1"}],
    "periodontal": [{"brushing_frequency": "2", "smoking": "0", "diabetes": "0", "rheumatoid_arthritis": "0",
                     "cardiovascular": "0", "visceral_obesity": "0", "pregnancy": "0", "cpi_bleeding": "1",
                     "cpi_pocket": "1", "judgement": "guidance"}],
    "osteoporosis": [{"weight_kg": "52.5", "height_cm": "156", "fracture_history": "0", "family_hip_fracture": "0",
                      "smoking": "0", "steroid": "0", "menstruation": "2", "method": "QUS", "bone_density": "78",
                      "judgement": "guidance"}],
    "hepatitis": [{"surgery_history": "0", "hbs_antigen": "negative", "hcv_judgement": "low"}],
    "followup": [{"target": "gastric"}, {"target": "colorectal"}],
    "periodontal_followup": [{"result": "歯周炎（軽度）"}],
}
ITEM_COLUMNS = list(dict.fromkeys(k for exam in catalogue.EXAMS.values() for k in exam.keys))
WOMEN_ONLY = {code for code, exam in catalogue.EXAMS.items() if exam.sex == 2}


def log(message: str) -> None:
    print(message, flush=True)


def ensure_people(residents: int, seed: int) -> None:
    have = models.Resident.select().count()
    if have >= residents:
        log(f"database: {have:,} residents already (reused)")
        return
    if have:
        sys.exit(f"the database has {have:,} residents, fewer than --residents {residents:,}; "
                 "give an empty database or a smaller --residents")
    from kenshin import demo
    log(f"building {residents:,} demo residents with screenings (once) ...")
    demo.generate(residents=residents, seed=seed, years=3, actor=audit.Actor.system("bench"),
                  progress=log)


def _kana(rng, kana: str) -> str:
    import jaconv
    x = rng.random()
    if x < 0.75:
        return kana
    if x < 0.9:
        return jaconv.kata2hira(kana)
    return jaconv.z2h(kana, kana=True, ascii=True, digit=True)


def _date(rng, d: date) -> str:
    x = rng.random()
    if x < 0.6:
        return d.isoformat()
    if x < 0.8:
        return f"{d.year}/{d.month}/{d.day}"
    return dates.format_wareki(d, "short")


def write_file(path: str, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    total = models.Resident.select().count()
    ids = (models.Resident.select(models.Resident.id).order_by(models.Resident.id)
           .tuples())
    ids = [i for (i,) in ids]
    chosen = rng.sample(ids, min(rows, len(ids)))
    while len(chosen) < rows:  # more rows than people: some people have two exams
        chosen += rng.sample(ids, min(rows - len(chosen), len(ids)))
    people = {}
    for start in range(0, len(chosen), 900):
        chunk = sorted(set(chosen[start:start + 900]) - set(people))
        for r in (models.Resident.select(models.Resident.id, models.Resident.atena_no, models.Resident.name,
                                         models.Resident.name_kana, models.Resident.birth_date,
                                         models.Resident.sex).where(models.Resident.id.in_(chunk)).tuples()):
            people[r[0]] = r
    codes = [c for (c,) in models.Institution.select(models.Institution.code).tuples()]
    today = dates.today_jst()
    first = max(date(dates.fiscal_year(today), 4, 1), today - timedelta(days=200))
    span = (today - first).days
    exams = list(catalogue.EXAMS)
    seen = set()
    log(f"writing {rows:,} rows to {path} (from {total:,} residents) ...")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS + ITEM_COLUMNS)
        for rid in chosen:
            _, atena, name, kana, birth, sex = people[rid]
            while True:
                exam = rng.choice(exams)
                if sex == 1 and exam in WOMEN_ONLY:
                    continue
                exam_date = first + timedelta(days=rng.randint(0, span))
                if exam_date < birth:
                    exam_date = today
                key = (rid, exam, exam_date)
                if key not in seen:
                    seen.add(key)
                    break
            items = rng.choice(ITEMS[exam])
            x = rng.random()
            seiri, atena_col, birth_col = "", atena, birth
            if x < 0.03:
                birth_col = birth + timedelta(days=1)  # disagrees: queued
            elif x < 0.06:
                atena_col = ""  # no identifier: queued
            elif x < 0.08:
                seiri = number_for(rng.randrange(900_000_000, 999_999_999))  # not issued: queued
            writer.writerow([seiri, atena_col, name if rng.random() < 0.5 else "", _kana(rng, kana),
                             _date(rng, birth_col), sex, exam, _date(rng, exam_date), rng.choice(codes),
                             rng.choice("12")] + [items.get(k, "") for k in ITEM_COLUMNS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--residents", type=int, default=0, help="default: max(rows, 100000)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{os.path.join(DATA, 'import_results.sqlite')}"
    residents = args.residents or max(args.rows, 100_000)
    database.bind(url)
    audit.configure(BENCH_KEY)
    database.create_schema()
    ensure_people(residents, args.seed)
    path = os.path.join(DATA, f"results-{args.rows}-{args.seed}.csv")
    write_file(path, args.rows, args.seed)
    screenings_before = models.Screening.select(models.Screening.id).order_by(models.Screening.id.desc()).scalar() or 0
    queue_before = models.QueueItem.select(models.QueueItem.id).order_by(models.QueueItem.id.desc()).scalar() or 0
    models.db.close()

    env = dict(os.environ, KENSHIN_DATABASE_URL=url, KENSHIN_AUDIT_KEY=BENCH_KEY,
               KENSHIN_SECRET_KEY="bench-secret")
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    started = time.perf_counter()
    done = subprocess.run([flask, "--app", "app", "import-results", path], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        log(done.stdout[-3000:] + done.stderr[-3000:])
        sys.exit(f"import-results exited {done.returncode}")
    log(f"import-results: {done.stdout.strip()} in {seconds:.1f}s")

    # leave the database as it was (the audit event stays: the log is append-only)
    models.db.connect(reuse_if_open=True)
    with models.db.atomic():
        models.Screening.delete().where(models.Screening.id > screenings_before).execute()
        models.QueueItem.delete().where(models.QueueItem.id > queue_before).execute()
    models.db.close()
    log(f"import_results rows_per_s={args.rows / seconds:.0f}")


if __name__ == "__main__":
    main()
