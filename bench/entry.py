"""The save round trip of the entry screen, through the app, at a city's size.

    python bench/entry.py --residents N --screenings M [--database-url URL] [--requests 400]

1. The database (a SQLite file bench/data/entry-N.sqlite by default, or the URL given) gets N
   demo residents with their screenings (kenshin.demo, once), then synthetic screenings of
   earlier 年度 are bulk inserted until it holds M (each one a valid record of the catalogue,
   unique per person, exam and day). A database that already holds them is reused.
2. A clerk is created with a password and a software authenticator (tests/softauthn.py) and
   signs in through the real two-step login; CSRF protection is on, as in production.
3. Forms are keyed as the screen sends them: the batch header once per stack of 25, then each
   form's POST /entry/save (htmx) with a person found by 宛名番号 whose 生年月日, 性別 and kana
   agree, an exam that fits the person, a 受診日 in the current 年度. Only the save is timed:
   matching, the duplicate check, the eligibility warnings, the insert, the keying, the audit
   event, and rendering the next sheet.
The last line: `entry p50=Xms p95=Yms`.
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
from kenshin import audit
from kenshin.screening import catalogue
from kenshin.core import dates  # noqa: E402

import clerk  # noqa: E402  (bench/clerk.py)

DATA = os.path.join(ROOT, "bench", "data")
BENCH_KEY = "bench-audit-key"
STACK = 25
FORMS = {
    "gastric_xray": {"xray_category": "2", "xray_findings": "慢性胃炎"},
    "gastric_endoscopy": {"endoscopy_result": "none"},
    "colorectal": {"fobt_result": "negative"},
    "lung": {"symptoms": "0", "xray_grade": "B"},
    "breast": {"mammography_category": "1"},
    "cervical": {"symptoms": "0", "referral": "0"},
    "periodontal": {"brushing_frequency": "2", "smoking": "0", "diabetes": "0", "rheumatoid_arthritis": "0",
                    "cardiovascular": "0", "visceral_obesity": "0", "pregnancy": "0", "cpi_bleeding": "0",
                    "cpi_pocket": "0", "judgement": "normal"},
    "osteoporosis": {"weight_kg": "50", "height_cm": "155", "fracture_history": "0", "family_hip_fracture": "0",
                     "smoking": "0", "steroid": "0", "menstruation": "2", "method": "QUS", "bone_density": "85",
                     "judgement": "normal"},
    "hepatitis": {"surgery_history": "0", "hbs_antigen": "negative", "hcv_judgement": "low"},
    "followup": {"target": "lung"},
    "periodontal_followup": {"result": "異常なし"},
}
WOMEN_ONLY = {code for code, exam in catalogue.EXAMS.items() if exam.sex == 2}


def log(message: str) -> None:
    print(message, flush=True)


def build(residents: int, screenings: int, seed: int) -> None:
    """Demo residents (once), then synthetic earlier screenings up to `screenings`."""
    have = models.Resident.select().count()
    if have == 0:
        from kenshin import demo
        log(f"building {residents:,} demo residents with their screenings ...")
        demo.generate(residents=residents, seed=seed, years=3, actor=audit.Actor.system("bench"), progress=log)
    elif have < residents:
        sys.exit(f"the database has {have:,} residents, fewer than {residents:,}: give an empty database")
    count = models.Screening.select().count()
    if count >= screenings:
        log(f"database: {have:,} residents, {count:,} screenings (reused)")
        return
    log(f"adding {screenings - count:,} screenings of earlier 年度 by bulk insert ...")
    rng = random.Random(seed + 1)
    people = list(models.Resident.select(models.Resident.id, models.Resident.sex, models.Resident.birth_date).tuples())
    institutions = [i for (i,) in models.Institution.select(models.Institution.id).tuples()]
    clean = {exam: catalogue.validate_items(exam, items, 2)[0] for exam, items in FORMS.items()}
    as_json = {exam: models.Screening.items.db_value(items) for exam, items in clean.items()}
    first_fy = dates.fiscal_year(dates.today_jst()) - 13  # ten 年度 before the demo's three
    now_text = str(dates.now_utc())
    columns = ("resident_id", "exam", "target", "exam_date", "fiscal_year", "age", "institution_id",
               "setting", "referral", "items", "status", "source", "entered_at", "pending")
    exams = list(FORMS)
    missing = screenings - count
    # Pass p gives each person (in a shuffled order) at most one screening in 年度 first_fy + p,
    # so (person, exam, day) never repeats, across passes or with the demo's recent 年度.
    order = list(range(len(people)))
    rows = []
    for p in range(10):
        if missing <= 0:
            break
        rng.shuffle(order)
        for i in order:
            if missing - len(rows) <= 0:
                break
            rid, sex, birth = people[i]
            exam = rng.choice(exams)
            if sex == 1 and exam in WOMEN_ONLY:
                exam = rng.choice(("colorectal", "lung", "gastric_xray"))
            day = date(first_fy + p, 4, 1) + timedelta(days=rng.randrange(365))
            if day < birth:
                continue
            items = clean[exam]
            rows.append((rid, exam, items.get("target", "") if exam == "followup" else "", day.isoformat(),
                         dates.fiscal_year(day), dates.age_at(birth, day), rng.choice(institutions),
                         1 + rng.randrange(2), catalogue.referral_flag(exam, items), as_json[exam],
                         "confirmed", "file", now_text, False))
            if len(rows) >= 200_000:
                with models.db.atomic():
                    database.bulk_insert("screening", columns, rows)
                missing -= len(rows)
                rows = []
                log(f"  {screenings - missing:,} screenings")
    if rows:
        with models.db.atomic():
            database.bulk_insert("screening", columns, rows)
        missing -= len(rows)
    log(f"  {screenings - missing:,} screenings")
    if database.is_postgres():
        models.db.execute_sql("ANALYZE screening")


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--screenings", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{os.path.join(DATA, f'entry-{args.residents}.sqlite')}"

    from app import create_app
    app = create_app({"DATABASE_URL": url, "AUDIT_KEY": BENCH_KEY, "SECRET_KEY": "bench-secret",
                      "ORIGIN": "http://localhost", "RP_ID": "localhost"})
    with app.app_context():
        database.create_schema()
        build(args.residents, args.screenings, args.seed)
        rng = random.Random(args.seed + 2)
        sample = rng.sample(range(1, models.Resident.select(models.Resident.id).order_by(
            models.Resident.id.desc()).scalar() + 1), args.requests * 4)
        people = list(models.Resident.select(models.Resident.atena_no, models.Resident.name_kana,
                                             models.Resident.birth_date, models.Resident.sex)
                      .where(models.Resident.id.in_(sample)).tuples())
        institution = models.Institution.select(models.Institution.code).where(
            models.Institution.active == True).scalar()  # noqa: E712
        models.db.close()

    client, token = clerk.signed_in(app, "/entry/")
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    today = dates.today_jst()
    fy_start = date(dates.fiscal_year(today), 4, 1)
    exams = list(FORMS)
    timings, refused = [], 0
    rng.shuffle(people)
    people = [p for p in people if p[2] < fy_start - timedelta(days=365 * 20)]
    for n, (atena, kana, birth, sex) in enumerate(people):
        if n % STACK == 0:
            exam = exams[(n // STACK) % len(exams)]
            client.post("/entry/batch", data={"institution_code": institution, "setting": "1", "exam": exam},
                        headers=headers)
        form_exam = exam if not (sex == 1 and exam in WOMEN_ONLY) else None
        if form_exam is None:
            continue
        day = fy_start + timedelta(days=rng.randrange(max(1, (today - fy_start).days + 1)))
        data = {"seiri_no": "", "atena_no": atena, "name_kana": kana, "birth_date": birth.isoformat(),
                "sex": str(sex), "name": "", "exam_date": day.isoformat(), "sheet": "1", **FORMS[exam]}
        started = time.perf_counter()
        response = client.post("/entry/save", data=data, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            refused += 1
            continue
        if n >= 10:  # the first forms warm the caches
            timings.append(elapsed)
        if len(timings) >= args.requests:
            break
    log(f"saved={len(timings)} refused={refused} (duplicates of demo data or warnings are refused only "
        f"when the same person, exam and day exist)")
    log(f"entry p50={percentile(timings, 0.50):.1f}ms p95={percentile(timings, 0.95):.1f}ms")


if __name__ == "__main__":
    main()
