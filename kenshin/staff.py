"""Staff accounts: creation, enrollment links, roles, retirement."""
import hashlib
import re
import secrets
from datetime import timedelta

from models import Staff, db

from . import audit
from .access import ROLES
from .dates import now_utc
from .errors import Invalid, NotFound

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


def has_admin() -> bool:
    """Is there an active administrator (enrolled or not)?"""
    return (Staff.select().where((Staff.status == "active") & (Staff.roles.contains("admin")))
            .exists())


def enroll(rp, staff: Staff, password: str, confirm: str, nickname: str, challenge: bytes,
           credential_json: str, terminal: str) -> None:
    """Finish an enrollment: the password and the first authenticator, or nothing at all."""
    from . import passkeys
    from .passwords import check_new_password, hash_password

    check_new_password(password, staff.login_id)
    if password != confirm:
        raise Invalid({"password_confirm": ["確認用のパスワードが一致しません"]})
    actor = audit.Actor.of_staff(staff, terminal)
    with db.atomic():
        credential = passkeys.register(rp, staff, challenge, credential_json, nickname)
        (Staff.update(password_hash=hash_password(password), enroll_token_hash=None,
                      enroll_expires_at=None, failed_logins=0, locked_until=None)
         .where(Staff.id == staff.id).execute())
        audit.record("staff.enroll", actor, object_type="staff", object_id=staff.id,
                     details={"credential": credential.nickname, "aaguid": credential.aaguid})


def first_admin(login_id: str, actor: audit.Actor, link_hours: int) -> tuple[Staff, str | None]:
    """The first administrator of a new office, or a fresh link for one who never enrolled."""
    enrolled = (Staff.select().where((Staff.status == "active") & Staff.roles.contains("admin")
                                     & Staff.password_hash.is_null(False)).first())
    if enrolled is not None:
        return enrolled, None
    waiting = Staff.get_or_none(Staff.login_id == login_id)
    if waiting is None:
        return create(login_id, "初回管理者", "健康支援課", ["admin"], actor, link_hours)
    if not waiting.has_any_role("admin") or waiting.is_retired:
        raise Invalid({"login_id": [f"{login_id} は管理者として使えません"]})
    with db.atomic():
        token = _new_enrollment(waiting, link_hours)
        audit.record("staff.enroll_link", actor, object_type="staff", object_id=waiting.id,
                     details={"login_id": waiting.login_id})
    return waiting, token
