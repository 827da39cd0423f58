"""Roles and what each may do (SECURITY.md). Routes declare roles; this module names them."""

ROLES = {
    "clerk": "担当職員",
    "supervisor": "係長",
    "admin": "システム利用管理者",
    "auditor": "監査",
    "maintainer": "委託先(運用保守)",
}

# Who may touch personal data of residents, and who may see health results.
PERSONAL_DATA_ROLES = ("clerk", "supervisor")
HEALTH_RESULT_ROLES = ("clerk", "supervisor")
STAFF_ADMIN_ROLES = ("admin",)
AUDIT_READ_ROLES = ("admin", "auditor")
IMPORT_ROLES = ("admin", "maintainer")


def role_labels(roles) -> str:
    """Japanese names of roles, in the canonical order."""
    return "・".join(ROLES[r] for r in ROLES if r in set(roles))
