"""Demo data: small runs on both databases, checked against the catalogue and the registry rules."""
import re
from collections import Counter
from datetime import date

import pytest

import models
from kenshin import audit
from kenshin.screening import catalogue, eligibility
from kenshin.core import dates
from kenshin import demo
from kenshin.core.kana import kana_key, normalize_kana
from kenshin.core.names import name_key
from models import AuditEvent, ImportBatch, Institution, Resident, Screening

N = 300
SEED = 7
YEARS = 3
ACTOR = audit.Actor.system("pytest")

WOMEN_ONLY = {code for code, exam in catalogue.EXAMS.items() if exam.sex == catalogue.WOMEN}


def _generate(seed=SEED, residents=N):
    return demo.generate(residents=residents, seed=seed, years=YEARS, actor=ACTOR,
                         progress=lambda message: None)


def _snapshot():
    """Everything generated, keyed by 宛名番号 and institution code (ids may differ between runs)."""
    codes = dict(Institution.select(Institution.id, Institution.code).tuples())
    atena = dict(Resident.select(Resident.id, Resident.atena_no).tuples())
    residents = sorted(Resident.select(
        Resident.atena_no, Resident.name, Resident.name_kana, Resident.sex, Resident.birth_date,
        Resident.postal_code, Resident.address, Resident.resident_since, Resident.removed_on,
        Resident.removal_reason).tuples())
    institutions = sorted(Institution.select(
        Institution.code, Institution.name, Institution.address, Institution.phone,
        Institution.active).tuples())
    screenings = sorted(
        (atena[s.resident_id], s.exam, s.target, s.exam_date, s.fiscal_year, s.age,
         codes[s.institution_id], s.setting, s.referral, Screening.items.db_value(s.items))
        for s in Screening.select())
    return residents, institutions, screenings


def _clear():
    Screening.delete().execute()
    Resident.delete().execute()
    Institution.delete().execute()
    ImportBatch.delete().execute()


def test_counts_match_rows_and_one_audit_event(db):
    counts = _generate()
    assert counts == {
        "residents": Resident.select().count(),
        "removed": Resident.select().where(Resident.removed_on.is_null(False)).count(),
        "institutions": Institution.select().count(),
        "screenings": Screening.select().count(),
        "referrals": Screening.select().where(Screening.referral == True).count(),  # noqa: E712
    }
    assert counts["residents"] == N and counts["institutions"] == 40
    assert counts["screenings"] > N // 2 and counts["referrals"] > 0
    assert counts["removed"] > 0

    batch = ImportBatch.get()
    assert batch.kind == "demo" and batch.counts == counts
    assert Screening.select().where((Screening.batch != batch.id) | (Screening.status != "confirmed")
                                    | (Screening.source != "file")).count() == 0
    events = list(AuditEvent.select().where(AuditEvent.action == "demo.generate"))
    assert len(events) == 1
    assert events[0].details == {**counts, "seed": SEED, "years": YEARS}
    assert audit.verify().ok


def test_same_seed_same_data_other_seed_other_data(db):
    _generate()
    first = _snapshot()
    _clear()
    _generate()
    assert _snapshot() == first
    _clear()
    _generate(seed=SEED + 1)
    assert _snapshot()[0] != first[0]


def test_residents_are_plausible(db):
    _generate()
    today = dates.today_jst()
    people = list(Resident.select())
    assert len({p.atena_no for p in people}) == N
    for p in people:
        assert re.fullmatch(r"\d{10}", p.atena_no)
        assert normalize_kana(p.name_kana) == p.name_kana and "\u3000" in p.name_kana
        assert p.kana_key == kana_key(p.name_kana)
        assert p.name_key == name_key(p.name)
        assert p.sex in (1, 2)
        assert date(1900, 1, 1) < p.birth_date <= today
        assert p.birth_date <= p.resident_since <= today
        assert p.address.startswith("千葉県千葉市") and re.fullmatch(r"26[0-7]-\d{4}", p.postal_code)
        assert (p.removed_on is None) == (p.removal_reason is None)
        if p.removed_on:
            assert p.resident_since < p.removed_on < today
            assert p.removal_reason in ("転出", "死亡", "職権消除")
    sexes = Counter(p.sex for p in people)
    assert 0.35 < sexes[1] / N < 0.65
    assert any(p.resident_since > p.birth_date for p in people)

    institutions = list(Institution.select())
    assert all(re.fullmatch(r"12\d{8}", i.code) for i in institutions)
    assert 1 <= sum(not i.active for i in institutions) <= 2


def test_screenings_pass_the_catalogue_and_the_rules(db):
    _generate()
    today = dates.today_jst()
    first_fy = dates.fiscal_year(today) - YEARS + 1
    people = {p.id: p for p in Resident.select()}
    groups = {i.id for i in Institution.select() if i.name.startswith(("公益財団法人", "一般財団法人"))}
    inactive = {i.id for i in Institution.select().where(Institution.active == False)}  # noqa: E712
    seen = set()
    exams = Counter()
    by_person = {}
    for s in Screening.select():
        by_person.setdefault(s.resident_id, []).append(s)
    for s in Screening.select():
        person = people[s.resident_id]
        exams[s.exam] += 1
        clean, errors = catalogue.validate_items(s.exam, {k: v for k, v in s.items.items()}, person.sex)
        assert not errors, (s.exam, s.items, errors)
        assert clean == s.items
        assert s.referral == catalogue.referral_flag(s.exam, s.items)
        if s.exam in WOMEN_ONLY:
            assert person.sex == 2, s.exam
        if s.exam == "followup":
            assert s.target == s.items["target"] and s.target in catalogue.FOLLOWUP_TARGETS
        else:
            assert s.target == ""

        assert s.exam_date <= today
        assert person.resident_since <= s.exam_date
        assert person.removed_on is None or s.exam_date < person.removed_on
        assert s.fiscal_year == dates.fiscal_year(s.exam_date) >= first_fy
        assert s.age == dates.age_at(person.birth_date, s.exam_date)
        if s.exam in eligibility.RULES:  # the entry screen would warn about nothing
            sharing = eligibility.exams_sharing_interval(s.exam)
            earlier = [o.fiscal_year for o in by_person[s.resident_id]
                       if o.exam in sharing and o.id != s.id and o.fiscal_year <= s.fiscal_year]
            assert eligibility.warnings(s.exam, person.birth_date, s.fiscal_year, earlier) == [], s
        assert s.setting in (1, 2)
        assert (s.setting == 2) == (s.institution_id in groups)
        if s.institution_id in inactive:
            assert s.fiscal_year < dates.fiscal_year(today)

        key = (s.resident_id, s.exam, s.exam_date, s.target)
        assert key not in seen, key
        seen.add(key)
    assert {"colorectal", "lung", "cervical", "followup"} <= set(exams)


def test_ages_and_intervals_follow_the_eligibility_rules(db):
    """Every exam the rules allow happens, at the ages and intervals they allow: 胃X線 at 40–49
    (当分の間 40歳以上・年1回可), 内視鏡 only from 50 and never the 年度 after another 胃 exam."""
    _generate(residents=1500)
    people = dict(Resident.select(Resident.id, Resident.birth_date).tuples())
    gastric = {}
    ages = Counter()
    for resident, exam, fy in Screening.select(Screening.resident, Screening.exam,
                                               Screening.fiscal_year).tuples():
        if exam in eligibility.RULES:
            ages[exam, dates.age_for_basis(people[resident], fy, eligibility.AGE_BASIS) // 10] += 1
        if exam.startswith("gastric_"):
            gastric.setdefault(resident, []).append((fy, exam))
    assert ages["gastric_xray", 4] > 0 and ages["gastric_endoscopy", 4] == 0
    assert {exam for exam, _ in ages} == set(eligibility.RULES)
    for taken in gastric.values():
        taken.sort()
        for (a, _), (b, exam) in zip(taken, taken[1:]):
            assert b - a >= (2 if exam == "gastric_endoscopy" else 1), taken


def test_refuses_a_database_with_residents(db):
    _generate(residents=20)
    with pytest.raises(demo.NotEmpty) as refused:
        _generate(residents=20)
    assert "住民" in str(refused.value) and "empty" in str(refused.value)
    assert Resident.select().count() == 20
    # explicit ids were given: a resident added afterwards still gets a fresh one
    added = Resident.create(atena_no="9999999999", name="追加　太郎", name_kana="ツイカ　タロウ",
                            kana_key="ツイカタロウ", name_key="追加太郎", sex=1,
                            birth_date=date(1980, 5, 5), address="千葉県千葉市中央区中央1丁目1番1号",
                            updated_at=dates.now_utc())
    assert added.id > 20


def test_cli_demo_data(app, runner):
    result = runner.invoke(args=["demo-data", "--residents", "50", "--seed", "3", "--years", "2"])
    assert result.exit_code == 0, result.output
    assert "residents=50" in result.output and "institutions=40" in result.output
    again = runner.invoke(args=["demo-data", "--residents", "50"])
    assert again.exit_code == 1
    with app.app_context():
        assert models.Resident.select().count() == 50
        models.db.close()


def test_demo_reads_the_screening_rules_table(db):
    """One source of the rule: a 年度's edited rules change who the demo screens that 年度."""
    from kenshin.invitations import rules
    from kenshin.screening.eligibility import NATIONAL, Rule

    fy = dates.fiscal_year(dates.today_jst())
    rules.save(fy, dict(NATIONAL, lung=Rule(min_age=65, interval=1, group="lung")), "試験", ACTOR)
    _generate(residents=600)
    lung = [(s.resident.birth_date, s.fiscal_year) for s in
            Screening.select().join(Resident).where(Screening.exam == "lung")]
    this_year = [dates.age_at_fiscal_year_end(b, y) for b, y in lung if y == fy]
    earlier = [dates.age_at_fiscal_year_end(b, y) for b, y in lung if y < fy]
    assert this_year and min(this_year) >= 65
    assert earlier and min(earlier) < 65  # other 年度 keep the guideline (40+)
