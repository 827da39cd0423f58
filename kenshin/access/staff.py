"""Staff accounts: creation, enrollment links, roles, reset, unlock, retirement, their sessions.

Every change is audited inside its own transaction. Two rules keep an office manageable: nobody
retires, resets or promotes themselves, and no change leaves the office without an administrator
who can sign in.
"""
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from peewee import Case

from database import is_postgres
from models import AuditEvent, Credential, Staff, UserSession, db

from kenshin import audit
from kenshin.access import sessions
from kenshin.access.roles import ADMIN, ROLES
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid, NotFound, Refused

LOGIN_ID = re.compile(r"^[A-Za-z0-9._-]{3,64}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(login_id: str, name: str, division: str, roles) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not LOGIN_ID.match(login_id or ""):
        errors["login_id"] = ["半角英数字と . _ - で3〜64文字にしてください"]
    elif Staff.select().where(Staff.login_id == login_id).exists():
        errors["login_id"] = ["このログインIDは使われています"]
    if not (name or "").strip() or len(name) > 60:
        errors["name"] = ["氏名を60文字以内で入力してください"]
    if not (division or "").strip() or len(division) > 60:
        errors["division"] = ["所属を60文字以内で入力してください"]
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        errors["roles"] = [f"役割を選んでください（{', '.join(ROLES)}）"]
    return errors


def create(login_id: str, name: str, division: str, roles, actor: audit.Actor,
           link_hours: int = 24) -> tuple[Staff, str]:
    """Create a staff member with no credentials yet; return them and a one-time enrollment token."""
    roles = list(dict.fromkeys(roles))
    errors = _check(login_id, name, division, roles)
    if errors:
        raise Invalid(errors)
    with db.atomic():
        staff = Staff.create(login_id=login_id, name=name.strip(), division=division.strip(),
                             roles=",".join(r for r in ROLES if r in roles), created_at=now_utc())
        token = _new_enrollment(staff, link_hours)
        audit.record("staff.create", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": login_id, "roles": staff.roles, "division": staff.division})
    return staff, token


def _new_enrollment(staff: Staff, link_hours: int) -> str:
    token = secrets.token_urlsafe(32)
    staff.enroll_token_hash = token_hash(token)
    staff.enroll_expires_at = now_utc() + timedelta(hours=link_hours)
    staff.save()
    return token


def by_enrollment_token(token: str) -> Staff:
    """The staff member a still-valid enrollment link belongs to."""
    staff = Staff.get_or_none(Staff.enroll_token_hash == token_hash(token or ""))
    if staff is None or staff.is_retired or staff.enroll_expires_at is None \
            or staff.enroll_expires_at < now_utc():
        raise NotFound("enrollment link")
    return staff


#: the events that hand out an enrollment link (the person who caused them saw the link)
LINK_ACTIONS = ("staff.create", "staff.reset", "staff.enroll_link")


def _link_issue(staff: Staff):
    """The event that issued the staff member's current enrollment link (None if not found)."""
    return (AuditEvent.select()
            .where(AuditEvent.action.in_(LINK_ACTIONS) & (AuditEvent.at >= staff.created_at)
                   & (AuditEvent.object_type == "staff") & (AuditEvent.object_id == str(staff.id)))
            .order_by(AuditEvent.seq.desc()).first())


def _issuer_details(staff: Staff, terminal: str, opened_by: int | None) -> dict:
    """What the enrollment event says about who saw the link (a detective control: an
    administrator sees every link they issue, so they could enroll as someone else). The
    unusual-access review lists enrollments from the issuer's own terminal or session."""
    details = {}
    issued = _link_issue(staff)
    if issued is not None:
        details["issued_by"] = issued.actor_label
        if issued.terminal and issued.terminal == terminal:
            details["same_terminal_as_issuer"] = True
    if opened_by is not None:
        opener = Staff.get_or_none(Staff.id == opened_by)
        details["opened_in_session_of"] = opener.login_id if opener else str(opened_by)
    return details


@dataclass(frozen=True)
class EnrollmentNotice:
    at: object  # UTC, as stored
    terminal: str


def enrollment_notice(staff_id: int, previous_login) -> EnrollmentNotice | None:
    """At the first sign-in after an enrollment: when and from which terminal it was done, so
    that the person notices an enrollment they did not make themselves."""
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        return None
    event = (AuditEvent.select(AuditEvent.at, AuditEvent.terminal)
             .where((AuditEvent.action == "staff.enroll") & (AuditEvent.at >= staff.created_at)
                    & (AuditEvent.actor == staff.id))
             .order_by(AuditEvent.seq.desc()).first())
    if event is None or (previous_login is not None and previous_login > event.at):
        return None
    return EnrollmentNotice(event.at, event.terminal or "不明")


def check_enrollment_password(staff: Staff, password: str, confirm: str) -> None:
    """The password rules of enrollment and the confirmation, every problem at its field
    (Invalid keyed password / password_confirm). Run before the authenticator is asked (issue
    14: a rejected password must not leave a credential behind) and again when enrolling."""
    from kenshin.access.passwords import check_new_password

    errors: dict[str, list[str]] = {}
    try:
        check_new_password(password or "", staff.login_id)
    except Invalid as exc:
        errors.update(exc.errors)
    if not confirm:
        errors["password_confirm"] = ["確認のため、同じパスワードをもう一度入力してください"]
    elif password != confirm:
        errors["password_confirm"] = ["確認用のパスワードが一致しません"]
    if errors:
        raise Invalid(errors)


def enroll(rp, staff: Staff, password: str, confirm: str, nickname: str, challenge: bytes,
           credential_json: str, terminal: str, opened_by: int | None = None) -> None:
    """Finish an enrollment: the password and the first authenticator, or nothing at all.

    `opened_by` is the staff member whose session was open in the browser that opened the link
    (that session was ended then); the event records it with the link's issuer."""
    from kenshin.access import passkeys
    from kenshin.access.passwords import hash_password

    check_enrollment_password(staff, password, confirm)
    actor = audit.Actor.of_staff(staff, terminal)
    with db.atomic():
        credential = passkeys.register(rp, staff, challenge, credential_json, nickname)
        (Staff.update(password_hash=hash_password(password), enroll_token_hash=None,
                      enroll_expires_at=None, failed_logins=0, locked_until=None)
         .where(Staff.id == staff.id).execute())
        audit.record("staff.enroll", actor, object_type="staff", object_id=staff.id,
                     details={"credential": credential.nickname, "aaguid": credential.aaguid,
                              **_issuer_details(staff, terminal, opened_by)})


def first_admin(login_id: str, actor: audit.Actor, link_hours: int) -> tuple[Staff, str | None]:
    """The first administrator of a new office, or a fresh link for one who never enrolled."""
    enrolled = (Staff.select().where((Staff.status == "active") & Staff.roles.contains(ADMIN)
                                     & Staff.password_hash.is_null(False)).first())
    if enrolled is not None:
        return enrolled, None
    waiting = Staff.get_or_none(Staff.login_id == login_id)
    if waiting is None:
        return create(login_id, "初回管理者", "健康支援課", [ADMIN], actor, link_hours)
    if not waiting.has_any_role(ADMIN) or waiting.is_retired:
        raise Invalid({"login_id": [f"{login_id} は管理者として使えません"]})
    with db.atomic():
        token = _new_enrollment(waiting, link_hours)
        audit.record("staff.enroll_link", actor, object_type="staff", object_id=waiting.id,
                     details={"login_id": waiting.login_id})
    return waiting, token


# --- administration (the 職員管理 screens) ----------------------------------------------------

STATUS_LABELS = {"active": "有効", "locked": "ロック中", "retired": "元職員", "unenrolled": "未登録"}
PER_PAGE = 50
NO_ADMIN_LEFT = ("サインインできるシステム利用管理者が一人もいなくなるため、この操作はできません。"
                 "先に別の職員を管理者にしてください。")


def status_of(staff: Staff, now=None) -> str:
    """active | locked | retired | unenrolled (no password yet, or reset)."""
    now = now or now_utc()
    if staff.is_retired:
        return "retired"
    if not staff.password_hash:
        return "unenrolled"
    if staff.locked_until is not None and staff.locked_until > now:
        return "locked"
    return "active"


def for_update(query) -> list:
    """The rows of `query`, locked until the transaction ends, for a check-then-change.

    PostgreSQL needs FOR UPDATE; SQLite's BEGIN IMMEDIATE (models.make_database) already holds
    the database's write lock for the whole transaction."""
    return list(query.for_update() if is_postgres() else query)


def get(staff_id: int) -> Staff:
    """One staff member, or NotFound."""
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        raise NotFound("staff")
    return staff


def _get_locked(staff_id: int) -> Staff:
    rows = for_update(Staff.select().where(Staff.id == staff_id))
    if not rows:
        raise NotFound("staff")
    return rows[0]


@dataclass(frozen=True)
class Page:
    rows: list
    page: int
    pages: int
    total: int


def listing(page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Staff for the admin list, (staff, status) pairs: current staff by division, 元職員 last."""
    total = Staff.select().count()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    retired_last = Case(None, [(Staff.status == "retired", 1)], 0)
    query = (Staff.select().order_by(retired_last, Staff.division, Staff.login_id)
             .paginate(page, per_page))
    now = now_utc()
    return Page([(person, status_of(person, now)) for person in query], page, pages, total)


def _enrolled_admins() -> list[Staff]:
    return for_update(Staff.select().where(
        (Staff.status == "active") & Staff.roles.contains(ADMIN)
        & Staff.password_hash.is_null(False)))


def _keep_an_admin(losing: Staff) -> None:
    """Refuse a change that would leave no active, enrolled administrator besides `losing`."""
    if not [a for a in _enrolled_admins() if a.id != losing.id and a.has_any_role(ADMIN)]:
        raise Refused(NO_ADMIN_LEFT)


def _revoke_all(staff: Staff, why: str) -> int:
    return (Credential.update(revoked_at=now_utc(), revoked_reason=why)
            .where((Credential.staff == staff) & Credential.revoked_at.is_null()).execute())


def change_roles(staff_id: int, roles, actor: audit.Actor) -> Staff:
    """Set a person's roles; nobody adds roles to themselves, and an administrator stays."""
    wanted = set(roles or ())
    if not wanted or wanted - set(ROLES):
        raise Invalid({"roles": ["役割を一つ以上選んでください"]})
    with db.atomic():
        staff = _get_locked(staff_id)
        if staff.is_retired:
            raise Refused("元職員の役割は変更できません。")
        before = staff.role_set
        if actor.staff_id == staff.id and wanted - before:
            raise Refused("自分自身に役割を追加することはできません。別の管理者に依頼してください。")
        if ADMIN in before and ADMIN not in wanted:
            _keep_an_admin(staff)
        if wanted == before:
            return staff
        staff.roles = ",".join(r for r in ROLES if r in wanted)
        Staff.update(roles=staff.roles).where(Staff.id == staff.id).execute()
        audit.record("staff.roles", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": staff.login_id,
                              "before": [r for r in ROLES if r in before],
                              "after": [r for r in ROLES if r in wanted]})
    return staff


def reset(staff_id: int, actor: audit.Actor, link_hours: int = 24) -> tuple[Staff, str]:
    """A lost key or forgotten password: credentials revoked, password cleared, sessions ended,
    a new one-time enrollment link (returned once, stored only as a hash)."""
    with db.atomic():
        staff = _get_locked(staff_id)
        if actor.staff_id == staff.id:
            raise Refused("自分自身はリセットできません。別の管理者に依頼してください。")
        if staff.is_retired:
            raise Refused("元職員はリセットできません。")
        revoked = _revoke_all(staff, "reset")
        staff.password_hash = None
        staff.failed_logins = 0
        staff.locked_until = None
        token = _new_enrollment(staff, link_hours)
        ended = sessions.end_all_of(staff, actor, "admin")
        audit.record("staff.reset", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": staff.login_id, "credentials_revoked": revoked,
                              "sessions_ended": ended, "link_hours": link_hours})
    return staff, token


def retire(staff_id: int, actor: audit.Actor) -> Staff:
    """元職員: never signs in again, sessions end at once; the row and its history stay."""
    with db.atomic():
        staff = _get_locked(staff_id)
        if actor.staff_id == staff.id:
            raise Refused("自分自身を元職員にすることはできません。")
        if staff.is_retired:
            raise Refused("すでに元職員です。")
        if staff.has_any_role(ADMIN):
            _keep_an_admin(staff)
        now = now_utc()
        (Staff.update(status="retired", retired_at=now, enroll_token_hash=None,
                      enroll_expires_at=None)
         .where(Staff.id == staff.id).execute())
        staff.status, staff.retired_at = "retired", now
        revoked = _revoke_all(staff, "retired")
        ended = sessions.end_all_of(staff, actor, "retired")
        audit.record("staff.retire", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": staff.login_id, "credentials_revoked": revoked,
                              "sessions_ended": ended})
    return staff


def unlock(staff_id: int, actor: audit.Actor) -> Staff:
    """Lift a lockout after failed sign-ins before its 15 minutes are over."""
    with db.atomic():
        staff = _get_locked(staff_id)
        if staff.is_retired:
            raise Refused("元職員のロックは解除できません。")
        was_locked = staff.locked_until is not None and staff.locked_until > now_utc()
        (Staff.update(failed_logins=0, locked_until=None)
         .where(Staff.id == staff.id).execute())
        audit.record("staff.unlock", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": staff.login_id, "failures": staff.failed_logins,
                              "was_locked": was_locked})
        staff.failed_logins, staff.locked_until = 0, None
    return staff


def end_sessions(staff_id: int, actor: audit.Actor, keep: str | None = None) -> int:
    """End a person's open sessions (an administrator's own current session, `keep`, stays)."""
    with db.atomic():
        staff = get(staff_id)
        ended = sessions.end_all_of(staff, actor, "admin", keep=keep)
        audit.record("session.end_all", actor, object_type="staff", object_id=staff.id,
                     details={"login_id": staff.login_id, "sessions": ended})
    return ended


def open_sessions(policy: sessions.Policy, page: int = 1, per_page: int = 100,
                  staff: Staff | None = None) -> Page:
    """Sessions still in use (of everyone, or of one person), (session, locked?) pairs."""
    now = now_utc()
    query = (sessions.live(policy, now).join(Staff)
             .where(Staff.status == "active")
             .order_by(Staff.division, Staff.login_id, UserSession.created_at))
    if staff is not None:
        query = query.where(UserSession.staff == staff)
    total = query.count()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = [(s, sessions.evaluate(s, policy, now).status == "locked")
            for s in query.select(UserSession, Staff).paginate(page, per_page)]
    return Page(rows, page, pages, total)
