"""Retention and purge: exactly the people past retention go, with what depends on them; the
audit events stay and the chain still verifies (docs/OPERATIONS.md)."""
from datetime import date, datetime

import pytest

import models
from kenshin import audit
from kenshin.core.dates import fiscal_year, now_utc, today_jst
from kenshin.operations import retention

from .factories import make_resident, make_screening

SYSTEM = audit.Actor.system("pytest")


def _row_counts():
    return {m._meta.table_name: m.select().count() for m in models.ALL_MODELS}


def _with_history(atena, staff, removed_on, **extra):
    """A person with a screening keyed twice, a correction, a queue row, an inquiry and 整理番号."""
    person = make_resident(atena, removed_on=removed_on, **extra)
    screening = make_screening(person, exam_date=date(2019, 6, 1))
    for round_ in (1, 2):
        models.ScreeningKeying.create(screening=screening, round=round_, items={}, staff=staff,
                                      at=now_utc())
    models.ScreeningDifference.create(screening=screening, item="fobt_result", reason="紙で確認",
                                      resolved_by=staff, at=now_utc())
    models.ScreeningChange.create(screening=screening, kind="verify", reason="照合",
                                  staff=staff, at=now_utc())
    models.QueueItem.create(source="file", raw={}, reason="候補なし", exam="colorectal",
                            exam_date=date(2019, 6, 1), birth_date=person.birth_date, sex=1,
                            kana_key="ヤマダタロウ", status="assigned", created_at=now_utc(),
                            screening=screening)
    models.QueueItem.create(source="file", raw={}, reason="候補なし", exam="colorectal",
                            exam_date=date(2019, 7, 1), birth_date=person.birth_date, sex=1,
                            kana_key="ヤマダタロウ", atena_no=atena, created_at=now_utc())
    inquiry = models.Inquiry.create(received_at=now_utc(), channel="電話", requester_type="本人",
                                    requester_name="山田", resident=person, subject="受診歴",
                                    created_by=staff, created_at=now_utc())
    models.InquiryEntry.create(inquiry=inquiry, at=now_utc(), staff=staff, text="回答済み")
    models.SeiriNumber.create(number=f"1{atena[-8:]}0", resident=person, fiscal_year=2019,
                              issued_at=now_utc())
    models.ResidentChange.create(resident=person, item="address", before="a", after="b",
                                 at=now_utc())
    with models.db.atomic():
        audit.record("resident.view", SYSTEM, resident=person, object_type="resident",
                     object_id=person.id)
    return person


@pytest.fixture
def dataset(db, make_staff):
    staff = make_staff("clerk").staff
    people = {
        # 令和2年度 removal: past 5 年度 retention from 2026-04-01 (令和8年度).
        "last_day_fy2020": _with_history("000000000001", staff, date(2021, 3, 31)),
        # 令和3年度 removal: kept through 令和8年度.
        "first_day_fy2021": _with_history("000000000002", staff, date(2021, 4, 1)),
        "resident": _with_history("000000000003", staff, None),
        "long_gone": _with_history("000000000004", staff, date(2010, 1, 1)),
        "held": make_resident("000000000005", removed_on=date(2012, 1, 1)),
    }
    models.DisclosureRequest.create(kind="disclosure", received_on=date(2026, 3, 1),
                                    requester_name="本人", requester_relation="本人",
                                    identity_check="運転免許証", resident=people["held"],
                                    deadline=date(2026, 3, 31), created_by=staff,
                                    created_at=now_utc())
    return people


def test_purge_removes_exactly_the_people_past_retention(app, dataset):
    as_of = date(2026, 4, 1)
    before = _row_counts()
    dry = retention.purge(SYSTEM, as_of=as_of, dry_run=True)
    assert _row_counts() == before  # the dry run writes nothing, not even an audit event
    gone = {dataset["last_day_fy2020"].id, dataset["long_gone"].id}
    assert set(dry.people) == gone and dry.held == 1
    assert dry.counts == {"people": 2, "screenings": 2, "keyings": 4, "differences": 2,
                          "screening_changes": 2, "queue_rows": 4, "inquiries": 2,
                          "inquiry_entries": 2, "seiri_numbers": 2, "registry_changes": 2}

    done = retention.purge(SYSTEM, as_of=as_of)
    assert done.counts == dry.counts
    after = _row_counts()
    assert after["resident"] == before["resident"] - 2
    assert after["screening"] == before["screening"] - 2
    assert after["screening_keying"] == before["screening_keying"] - 4
    assert after["queue_item"] == before["queue_item"] - 4
    assert after["inquiry"] == before["inquiry"] - 2
    remaining = {r.atena_no for r in models.Resident.select()}
    assert remaining == {"000000000002", "000000000003", "000000000005"}

    # The events that name the purged people stay, untouched, and the chain verifies.
    named = models.AuditEvent.select().where(models.AuditEvent.resident.in_(sorted(gone)))
    assert named.count() == 2
    assert after["audit_event"] == before["audit_event"] + 1
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "operations.purge" and event.details["counts"]["people"] == 2
    assert audit.verify().ok
    run = models.PurgeRun.get()
    assert run.counts == done.counts and run.retention_years == 5 and run.removed_before_fy == 2021

    # A second run finds nothing more.
    assert retention.purge(SYSTEM, as_of=as_of).counts == {"people": 0}


def test_a_day_earlier_the_last_day_of_fy2020_is_still_kept(app, dataset):
    plan, _rows = retention.plan(date(2026, 3, 31))
    assert set(plan.people) == {dataset["long_gone"].id}


def test_a_purged_id_is_never_given_to_a_new_person(app, db):
    last = make_resident("000000000009", removed_on=date(2001, 1, 1))
    retention.purge(SYSTEM, as_of=date(2026, 4, 1))
    newcomer = make_resident("000000000010")
    assert newcomer.id > last.id


def test_a_future_date_is_refused(app, db):
    with pytest.raises(retention.RetentionError):
        retention.plan(date(today_jst().year + 1, 1, 1))


def test_cli_purge_dry_run_then_purge(app, db, runner):
    fy = fiscal_year(today_jst())
    make_resident("000000000001", removed_on=date(fy - 6, 4, 1))  # 6 年度 ago: past retention
    make_resident("000000000002", removed_on=date(fy - 5, 4, 1))  # 5 年度 ago: still kept
    before = _row_counts()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "people=1 " in dry.output and "nothing deleted" in dry.output
    assert _row_counts() == before
    done = runner.invoke(args=["purge"])
    assert done.exit_code == 0, done.output
    assert "people=1 " in done.output.splitlines()[-1]
    assert [r.atena_no for r in models.Resident.select()] == ["000000000002"]
    verified = runner.invoke(args=["audit-verify"])
    assert verified.exit_code == 0, verified.output
    assert models.JobRun.get(models.JobRun.job == "purge").summary["people"] == 1


@pytest.mark.config(RETENTION_YEARS=10)
def test_the_retention_setting_is_honoured(app, db, runner):
    fy = fiscal_year(today_jst())
    make_resident("000000000001", removed_on=date(fy - 6, 4, 1))
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert "people=0 " in dry.output and "10 年度" in dry.output


def test_every_table_that_depends_on_a_person_is_a_decision():
    """A new table pointing at a person or a screening changes this set: decide then whether the
    purge may delete its rows with the person (e.g. provision records are kept 7 years)."""
    dependents = retention._dependents()
    seen, todo = set(), [models.Resident]
    while todo:
        model = todo.pop()
        for child, _fk in dependents.get(model, []):
            if child._meta.table_name not in seen:
                seen.add(child._meta.table_name)
                todo.append(child)
    # screening_proposal: a correction waiting for a second person goes with its record (the audit
    # log keeps who proposed and who confirmed it)
    assert seen == {"resident_change", "seiri_number", "screening", "screening_change",
                    "screening_keying", "screening_difference", "screening_proposal", "queue_item", "inquiry",
                    "inquiry_entry", "disclosure_request", "disclosure_entry",
                    "invitation_exclusion", "provision_query", "provision_step", "reminder"}


def _provided(person, received_at):
    models.ProvisionQuery.create(query_id=f"q-{person.id}-{received_at:%Y}", requester="011002",
                                 procedure="健康増進事業", person_no="9" + person.atena_no,
                                 resident=person, requested=["history"], status="answered",
                                 content={"history": []}, received_at=received_at,
                                 answered_at=received_at)


def test_provision_records_keep_a_person_for_seven_years(app, db):
    """Data provided through the intermediate server is recorded for 7 years: a person past
    retention is held while such a record is younger, and goes with it once it is older."""
    recent = make_resident("000000000001", removed_on=date(2012, 1, 1))
    old = make_resident("000000000002", removed_on=date(2012, 1, 1))
    _provided(recent, datetime(2021, 6, 1, 3, 0))
    _provided(old, datetime(2018, 6, 1, 3, 0))
    done = retention.purge(SYSTEM, as_of=date(2026, 4, 1))
    assert done.people == [old.id] and done.held == 1
    assert done.counts["provision_query"] == 1
    assert [q.resident_id for q in models.ProvisionQuery.select()] == [recent.id]
    assert audit.verify().ok


def test_invitations_go_with_the_person(app, db):
    """Invitation rows name the person by a plain integer; the purge finds them all the same."""
    gone = make_resident("000000000001", removed_on=date(2012, 1, 1))
    kept = make_resident("000000000002")
    for person in (gone, kept):
        models.Invitation.create(run_id=1, resident_id=person.id, fiscal_year=2011,
                                 exams=models.INVITATION_EXAM_BITS["lung"])
    done = retention.purge(SYSTEM, as_of=date(2026, 4, 1))
    assert done.people == [gone.id] and done.counts["invitation"] == 1
    assert [i.resident_id for i in models.Invitation.select()] == [kept.id]
