"""Corrections that change a confirmed outcome or a verified item need a second person (issue 14):
the proposal is invisible to everything that reads the record, and only a different person — a
supervisor approving, or another clerk keying the changed items blind — makes it take effect."""
from datetime import date

import pytest

import models
from kenshin.core.errors import Invalid, Refused
from kenshin.invitations import extraction
from kenshin.screening import catalogue, screenings
from kenshin.statistics import report
from kenshin.verification import corrections

from .conftest import login, page_csrf
from .factories import CLI, actor_of, audit_actions, make_institution, make_resident, make_screening

EXAM_DATE = date(2025, 6, 2)
FY = 2025


@pytest.fixture
def positive(db):
    """A confirmed 大腸 record: 陽性, so 要精検."""
    make_institution()
    person = make_resident(birth=date(1960, 5, 10))
    return make_screening(person, "colorectal", EXAM_DATE, referral=True)


@pytest.fixture
def people(make_staff):
    return {"proposer": make_staff("clerk", name="訂正 一郎"), "other": make_staff("clerk", name="確認 二郎"),
            "boss": make_staff("supervisor", name="係長 三子")}


def _propose(screening, person, **items):
    return screenings.correct(screening.id, items={"fobt_result": "negative", **items},
                              reason="用紙の読み違い", actor=actor_of(person))


def _stored(screening):
    return models.Screening.get_by_id(screening.id)


def test_outcome_changing_correction_is_pending_and_the_record_keeps_its_confirmed_values(positive, people):
    result = _propose(positive, people["proposer"])
    assert result.proposal is not None and result.proposal.status == corrections.OPEN
    assert result.changed == ["fobt_result", "referral"]
    stored = _stored(positive)
    assert stored.items["fobt_result"] == "positive" and stored.referral is True
    assert stored.status == "confirmed" and stored.changed_by_id is None
    assert not models.ScreeningChange.select().exists()
    assert audit_actions()[-1] == "screening.correction_propose"
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.details["changed"] == ["fobt_result", "referral"]
    assert "negative" not in str(event.details)  # keys, never values


def test_pending_correction_is_invisible_to_counts_report_and_summary(positive, people, make_staff):
    _propose(positive, people["proposer"])
    assert [s.id for s in screenings.counted().where(models.Screening.referral == True)] == [positive.id]  # noqa: E712
    assert screenings.outcome_counts(FY) == {"colorectal": {catalogue.REFERRAL: 1}}
    assert sum(r.referred for r in report.rows(FY) if r.exam == "colorectal") == 1
    _, rows = screenings.summary(positive.resident_id, actor_of(people["other"]))
    assert [r.items["fobt_result"] for r in rows] == ["positive"]


def test_pending_correction_of_the_exam_date_is_invisible_to_reminders(db, people):
    make_institution()
    person = make_resident(birth=date(1978, 5, 5))
    extraction.extract(FY, date(2025, 4, 1), CLI)
    screening = make_screening(person, "colorectal", date(2025, 6, 2), referral=True)
    # the date moves past the reminder's cut-off together with the result: waits for a second person
    result = screenings.correct(screening.id, items={"fobt_result": "negative"}, exam_date="2025-10-20",
                                reason="受診日と結果の転記誤り", actor=actor_of(people["proposer"]))
    assert result.proposal is not None

    def reminded():
        run = extraction.remind(FY, date(2025, 7, 31), date(2025, 11, 1), CLI)
        return {exam for i in models.Invitation.select().where(
            (models.Invitation.run_id == run.run_id) & (models.Invitation.resident_id == person.id))
                for exam in i.exam_codes}
    assert "colorectal" not in reminded()  # still screened on 6/2 as far as anything reading the record knows
    corrections.approve(result.proposal.id, actor_of(people["boss"]))
    assert "colorectal" in reminded()  # once confirmed, the 10/20 date is after the cut-off


def test_correction_that_changes_nothing_verified_stays_immediate(db, people):
    make_institution()
    person = make_resident()
    screening = make_screening(person, "gastric_xray", EXAM_DATE)
    result = screenings.correct(screening.id, items={**screening.items, "xray_findings": "所見なし"},
                                reason="所見の転記誤り", actor=actor_of(people["proposer"]))
    assert result.proposal is None and _stored(screening).items["xray_findings"] == "所見なし"
    assert not models.ScreeningProposal.select().exists()


def test_a_verified_item_that_keeps_the_outcome_still_needs_a_second_person(db, people):
    make_institution()
    person = make_resident()
    screening = make_screening(person, "gastric_xray", EXAM_DATE, items={"xray_category": "4"})
    result = screenings.correct(screening.id, items={"xray_category": "5"}, reason="カテゴリーの転記誤り",
                                actor=actor_of(people["proposer"]))
    assert result.proposal is not None and _stored(screening).items["xray_category"] == "4"


def test_the_proposer_cannot_confirm_their_own_correction(positive, people):
    boss = people["boss"]
    own = _propose(positive, boss).proposal
    with pytest.raises(Refused):
        corrections.approve(own.id, actor_of(boss))
    with pytest.raises(Refused):
        corrections.key_blind(own.id, {"fobt_result": "negative"}, actor_of(boss))
    assert _stored(positive).referral is True


def test_a_clerk_cannot_approve_and_only_the_proposer_withdraws(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    with pytest.raises(Refused):
        corrections.approve(proposal.id, actor_of(people["other"]))
    with pytest.raises(Refused):
        corrections.withdraw(proposal.id, actor_of(people["other"]))
    with pytest.raises(Refused):  # one waiting correction per record
        _propose(positive, people["other"])
    withdrawn = corrections.withdraw(proposal.id, actor_of(people["proposer"]))
    assert withdrawn.status == corrections.WITHDRAWN and withdrawn.decided_by_id == people["proposer"].staff.id
    assert _stored(positive).referral is True
    assert audit_actions()[-1] == "screening.correction_withdraw"
    assert _propose(positive, people["other"]).proposal is not None  # a new one may be made


def test_supervisor_approval_applies_it_and_the_history_names_both(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    done = corrections.approve(proposal.id, actor_of(people["boss"]))
    assert done.status == corrections.APPLIED and done.decision == corrections.APPROVED
    stored = _stored(positive)
    assert stored.items["fobt_result"] == "negative" and stored.referral is False
    change = models.ScreeningChange.get(models.ScreeningChange.screening == positive.id)
    assert change.staff_id == people["proposer"].staff.id and change.reason == "用紙の読み違い"
    assert done.change_id == change.id and done.decided_by_id == people["boss"].staff.id
    assert audit_actions()[-2:] == ["screening.correct", "screening.correction_confirm"]
    assert screenings.outcome_counts(FY) == {"colorectal": {catalogue.CLEAR: 1}}
    with pytest.raises(Refused):  # once only
        corrections.approve(proposal.id, actor_of(people["boss"]))


def test_supervisor_rejection_needs_a_reason_and_leaves_the_record(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    with pytest.raises(Invalid):
        corrections.reject(proposal.id, " ", actor_of(people["boss"]))
    done = corrections.reject(proposal.id, "用紙は陽性", actor_of(people["boss"]))
    assert done.status == corrections.REJECTED and _stored(positive).referral is True


def test_blind_keying_that_agrees_applies_it(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    keyed = corrections.key_blind(proposal.id, {"fobt_result": "negative"},
                                  actor_of(people["other"]))
    assert keyed.agreed and keyed.proposal.status == corrections.APPLIED
    assert keyed.proposal.decision == corrections.AGREED
    assert keyed.proposal.decided_by_id == people["other"].staff.id
    assert _stored(positive).referral is False


def test_blind_keying_that_disagrees_waits_and_is_settled_against_the_paper(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    assert corrections.blind_keys(proposal) == ["fobt_result"]  # the derived 要精検 is not keyed
    keyed = corrections.key_blind(proposal.id, {"fobt_result": "positive"}, actor_of(people["other"]))
    assert not keyed.agreed and keyed.differences == ["fobt_result"]
    assert _stored(positive).referral is True
    with pytest.raises(Refused):  # the proposer does not settle their own
        corrections.settle(proposal.id, {"fobt_result": {"choice": "blind", "reason": "用紙"}},
                           actor_of(people["proposer"]))
    with pytest.raises(Invalid) as caught:
        corrections.settle(proposal.id, {"fobt_result": {"choice": "blind"}}, actor_of(people["other"]))
    assert "reason:fobt_result" in caught.value.errors
    done = corrections.settle(proposal.id, {"fobt_result": {"choice": "blind", "reason": "用紙は陽性"}},
                              actor_of(people["other"]))
    assert done.status == corrections.REJECTED and _stored(positive).referral is True


def test_settled_with_the_proposed_value_applies_it(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    corrections.key_blind(proposal.id, {"fobt_result": "positive"}, actor_of(people["other"]))
    done = corrections.settle(proposal.id, {"fobt_result": {"choice": "proposed", "reason": "用紙を再確認"}},
                              actor_of(people["boss"]))
    assert done.status == corrections.APPLIED and done.decision == corrections.SETTLED
    assert _stored(positive).referral is False


def test_who_saw_the_proposed_values_may_not_key_them_blind(positive, people, make_staff):
    proposal = _propose(positive, people["proposer"]).proposal
    other_boss = make_staff("supervisor")
    corrections.view_for_review(proposal.id, actor_of(other_boss))
    with pytest.raises(Refused):
        corrections.key_blind(proposal.id, {"fobt_result": "negative"}, actor_of(other_boss))
    with pytest.raises(Refused):  # a clerk may not open the side-by-side view
        corrections.view_for_review(proposal.id, actor_of(people["other"]))


def test_voiding_the_record_ends_its_waiting_correction(positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    screenings.void(positive.id, reason="別人の記録", actor=actor_of(people["boss"]))
    assert corrections.get_proposal(proposal.id).status == corrections.CANCELLED
    event = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).first()
    assert event.action == "screening.void" and event.details["proposal_cancelled"] == proposal.id


# --- the screens ------------------------------------------------------------------------------

def _client(app, person):
    client = app.test_client()
    assert login(client, person).get_json()["ok"]
    return client


def test_screens_pending_correction_then_blind_keying_by_another_clerk(app, positive, people):
    proposer = _client(app, people["proposer"])
    token = page_csrf(proposer, f"/screenings/{positive.id}/correct")
    response = proposer.post(f"/screenings/{positive.id}/correct", data={
        "csrf_token": token, "exam_date": "2025-06-02", "institution_code": positive.institution.code,
        "setting": "1", "fobt_result": "negative", "reason": "用紙の読み違い"})
    assert response.status_code == 303
    page = proposer.get(f"/screenings/{positive.id}").get_data(as_text=True)
    assert "訂正の確認待ち" in page and "訂正を取り下げる" in page and "あなたの訂正案" in page
    proposal = corrections.open_proposal(positive.id)

    other = _client(app, people["other"])
    page = other.get(f"/screenings/{positive.id}").get_data(as_text=True)
    assert "訂正の確認待ち" in page and "あなたの訂正案" not in page and ">訂正する<" not in page
    assert "用紙の読み違い" not in page  # the reason may name the proposed value: only proposer and supervisor
    listing = other.get("/screenings/corrections").get_data(as_text=True)
    assert f"No.{positive.id}" in listing and "訂正 一郎" in listing
    assert other.get(f"/screenings/corrections/{proposal.id}").status_code == 303  # clerk: no side-by-side
    form = other.get(f"/screenings/corrections/{proposal.id}/key")
    html = form.get_data(as_text=True)
    # the field is blank: the proposed value is not on the blind screen (nor the word 陰性 outside the code list)
    assert form.status_code == 200 and 'name="fobt_result" value=""' in html
    assert "用紙の読み違い" not in html  # nor the reason, which may name the value
    token = page_csrf(other, f"/screenings/corrections/{proposal.id}/key")
    done = other.post(f"/screenings/corrections/{proposal.id}/key",
                      data={"csrf_token": token, "fobt_result": "negative"})
    assert done.status_code == 303
    assert _stored(positive).referral is False
    history = other.get(f"/screenings/{positive.id}").get_data(as_text=True)
    assert "訂正: 訂正 一郎" in history and "確認: 確認 二郎" in history


def test_screens_blind_keying_reads_the_paper_forms_like_the_correction_form(app, positive, people):
    proposer = _client(app, people["proposer"])
    token = page_csrf(proposer, f"/screenings/{positive.id}/correct")
    assert proposer.post(f"/screenings/{positive.id}/correct", data={
        "csrf_token": token, "exam_date": "R7.6.2", "institution_code": positive.institution.code,
        "setting": "1", "fobt_result": "陰性", "reason": "用紙の読み違い"}).status_code == 303
    proposal = corrections.open_proposal(positive.id)
    other = _client(app, people["other"])
    token = page_csrf(other, f"/screenings/corrections/{proposal.id}/key")
    refused = other.post(f"/screenings/corrections/{proposal.id}/key",
                         data={"csrf_token": token, "fobt_result": "たぶん"})
    assert refused.status_code == 422 and "読めません" in refused.get_data(as_text=True)
    assert other.post(f"/screenings/corrections/{proposal.id}/key",
                      data={"csrf_token": token, "fobt_result": "－"}).status_code == 303
    stored = _stored(positive)
    assert stored.items["fobt_result"] == "negative" and stored.referral is False


def test_screens_supervisor_sees_both_values_and_approves(app, positive, people):
    proposal = _propose(positive, people["proposer"]).proposal
    boss = _client(app, people["boss"])
    page = boss.get(f"/screenings/corrections/{proposal.id}").get_data(as_text=True)
    assert "記録の値（確定）" in page and "陽性" in page and "陰性" in page and "要精検" in page
    token = page_csrf(boss, f"/screenings/corrections/{proposal.id}")
    assert boss.post(f"/screenings/corrections/{proposal.id}/approve",
                     data={"csrf_token": token}).status_code == 303
    assert _stored(positive).referral is False
    assert "係長の承認" in boss.get(f"/screenings/{positive.id}").get_data(as_text=True)
