"""Roles and what each may do (SECURITY.md). Routes declare roles; this module names them."""

CLERK, SUPERVISOR, ADMIN, AUDITOR, MAINTAINER = "clerk", "supervisor", "admin", "auditor", "maintainer"

ROLES = {
    CLERK: "担当職員",
    SUPERVISOR: "係長",
    ADMIN: "システム利用管理者",
    AUDITOR: "監査",
    MAINTAINER: "委託先(運用保守)",
}

# Who may do what; routes declare one of these groups with `@requires(*GROUP)`.
PERSONAL_DATA_ROLES = (CLERK, SUPERVISOR)   # residents, inquiries
HEALTH_RESULT_ROLES = (CLERK, SUPERVISOR)   # screening records, entry, queue, verification
RESULT_IMPORT_ROLES = (SUPERVISOR,)         # result files from institutions
DISCLOSURE_ROLES = (SUPERVISOR,)            # disclosure requests (開示請求)
STAFF_ADMIN_ROLES = (ADMIN,)                # staff accounts, institutions, long-logon notices
AUDIT_READ_ROLES = (ADMIN, AUDITOR)         # audit log, unusual access
IMPORT_ROLES = (ADMIN, MAINTAINER)          # resident registry import
OPERATIONS_ROLES = (MAINTAINER, ADMIN)      # the operations screen (no personal data)
PROVISION_ROLES = (SUPERVISOR,)             # held provision queries, the provision record, the flag
PROVISION_LIST_ROLES = (SUPERVISOR, ADMIN, AUDITOR)  # the permitted-query list (no personal data)


def role_labels(roles) -> str:
    """Japanese names of roles, in the canonical order."""
    return "・".join(ROLES[r] for r in ROLES if r in set(roles))
