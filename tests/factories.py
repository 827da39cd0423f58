"""The one factory module of the tests: residents, institutions, 整理番号, screenings, and the
WebAuthn ceremony (register a software authenticator; answer an options/verify step through
the routes). Everything goes through the real models and domain rules."""
from datetime import date

import models
from kenshin import audit
from kenshin.access import passkeys
from kenshin.core import dates
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.kana import kana_key, normalize_kana
from kenshin.core.names import name_key
from kenshin.screening import catalogue

CLI = audit.Actor.system("pytest")
TODAY = today_jst()
ADULT = date(1982, 4, 1)
INSTITUTION = "1234567890"

# One valid form per exam (item values as a clerk or a clinic file writes them).
VALID_ITEMS = {
    "gastric_xray": {"xray_category": "3a", "xray_findings": "胃角部変形"},
    "gastric_endoscopy": {"endoscopy_result": "none", "endoscopy_findings": "", "other_findings": ""},
    "colorectal": {"fobt_result": "positive"},
    "lung": {"symptoms": "0", "xray_grade": "B", "sputum_class": "", "other_findings": ""},
    "breast": {"mammography_category": "1", "mammography_findings": ""},
    "cervical": {"symptoms": "0", "referral": "0"},
    "periodontal": {"brushing_frequency": "2", "smoking": "0", "diabetes": "0",
                    "rheumatoid_arthritis": "0", "cardiovascular": "0", "visceral_obesity": "0",
                    "pregnancy": "0", "other_condition": "", "cpi_bleeding": "1", "cpi_pocket": "1",
                    "judgement": "guidance"},
    "osteoporosis": {"weight_kg": "52.5", "height_cm": "158", "fracture_history": "0",
                     "fracture_site": "", "family_hip_fracture": "0", "smoking": "0", "steroid": "0",
                     "menstruation": "2", "method": "QUS", "bone_density": "82", "judgement": "normal"},
    "hepatitis": {"surgery_history": "0", "hbs_antigen": "negative", "hcv_judgement": "low"},
    "followup": {"target": "gastric"},
    "periodontal_followup": {"result": "歯周炎（軽度）"},
}


# --- residents and institutions ---------------------------------------------------------------

def make_resident(atena_no="000000000001", name="千葉 花子", kana="チバ ハナコ", sex=2,
                  birth=date(1960, 5, 10), address="千葉県千葉市中央区千葉港1-1",
                  postal_code="260-0026", **extra):
    """A resident row with the search keys the registry import would store."""
    kana_stored = normalize_kana(kana)
    return models.Resident.create(
        atena_no=atena_no, name=name, name_kana=kana_stored, kana_key=kana_key(kana_stored),
        name_key=name_key(name), sex=sex, birth_date=birth, postal_code=postal_code,
        address=address, updated_at=now_utc(), **extra)


def make_institution(code=INSTITUTION, name="千葉中央クリニック", active=True):
    return models.Institution.create(code=code, name=name, active=active, updated_at=now_utc())


def issue_seiri(resident, number, fiscal_year=2025):
    return models.SeiriNumber.create(number=number, resident=resident, fiscal_year=fiscal_year,
                                     issued_at=now_utc())


# --- screenings -------------------------------------------------------------------------------

def make_screening(resident, exam="colorectal", exam_date=None, *, institution=None, items=None,
                   referral=None, status="confirmed", source="keyed"):
    """A screening whose items pass the catalogue; the referral flag is the catalogue's unless
    `referral` is given. Without items: VALID_ITEMS, except a colorectal result that is negative
    unless `referral` is true."""
    exam_date = exam_date or TODAY
    if items is None:
        items = ({"fobt_result": "positive" if referral else "negative"}
                 if exam == "colorectal" else VALID_ITEMS[exam])
    clean, errors = catalogue.validate_items(exam, items, resident.sex)
    assert not errors, (exam, items, errors)
    institution = institution or models.Institution.get_or_none() or make_institution()
    return models.Screening.create(
        resident=resident, exam=exam, target=clean.get("target", "") if exam == "followup" else "",
        exam_date=exam_date, fiscal_year=dates.fiscal_year(exam_date),
        age=dates.age_at(resident.birth_date, exam_date), institution=institution, setting=1,
        referral=catalogue.referral_flag(exam, clean) if referral is None else referral,
        items=clean, status=status, source=source, entered_at=now_utc())


def actor_of(person):
    """The Actor of a conftest Person (or a Staff row)."""
    staff = getattr(person, "staff", person)
    return audit.Actor.of_staff(staff, "127.0.0.1")


def sign_off_run(run_id, login_id="approver01"):
    """A run signed off (承認) by a second supervisor, made here (the CLI that ran it is not one)."""
    from kenshin.access import staff as staff_domain
    from kenshin.invitations import extraction

    approver = models.Staff.get_or_none(models.Staff.login_id == login_id)
    if approver is None:
        approver, _token = staff_domain.create(login_id, "承認 花子", "健康支援課", ["supervisor"], CLI)
    return extraction.sign_off(run_id, True, actor_of(approver))


def audit_actions():
    return [e.action for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)]


# --- the WebAuthn ceremony --------------------------------------------------------------------

def register_authenticator(rp, staff, authenticator, nickname="テスト用", **kw):
    """Registration: options from the domain, the software authenticator's answer, stored."""
    options, challenge = passkeys.registration_options(rp, staff)
    with models.db.atomic():
        return passkeys.register(rp, staff, challenge, authenticator.register(options, **kw),
                                 nickname)


def webauthn_step(client, prefix, token, authenticator, **assert_kwargs):
    """One assertion through the routes: POST {prefix}/options, let the authenticator answer,
    POST {prefix}/verify. Returns the options response when it fails, else the verify one."""
    options = client.post(f"{prefix}/options", headers={"X-CSRFToken": token})
    if options.status_code != 200:
        return options
    answer = authenticator.assert_(options.get_json(), **assert_kwargs)
    return client.post(f"{prefix}/verify", data=answer, content_type="application/json",
                       headers={"X-CSRFToken": token})
