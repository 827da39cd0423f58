"""Roles and what each may do (SECURITY.md). Routes declare roles; this module names them."""

CLERK, SUPERVISOR, ADMIN, AUDITOR, MAINTAINER = "clerk", "supervisor", "admin", "auditor", "maintainer"

ROLES = {
    CLERK: "担当職員",
    SUPERVISOR: "係長",
    ADMIN: "システム利用管理者",
    AUDITOR: "監査",
    MAINTAINER: "委託先(運用保守)",
}

# Who may touch personal data of residents, and who may see health results.
PERSONAL_DATA_ROLES = (CLERK, SUPERVISOR)
HEALTH_RESULT_ROLES = (CLERK, SUPERVISOR)
STAFF_ADMIN_ROLES = (ADMIN,)
AUDIT_READ_ROLES = (ADMIN, AUDITOR)
IMPORT_ROLES = (ADMIN, MAINTAINER)


def role_labels(roles) -> str:
    """Japanese names of roles, in the canonical order."""
    return "・".join(ROLES[r] for r in ROLES if r in set(roles))
