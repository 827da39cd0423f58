"""The access log: `record` and the hash chain (chain), labels, the log views (log), long-logon
review (logon_review) and unusual access (unusual_access).

`from kenshin import audit` gives the chain's API — `audit.record(...)`, `audit.Actor`,
`audit.verify(...)`; the views are imported by name (`from kenshin.audit import log`).
"""
from .chain import (  # noqa: F401 - re-exported: the package's own API
    GENESIS,
    HEAD_ID,
    Actor,
    VerifyResult,
    committed_events,
    configure,
    daily_heads,
    record,
    verify,
)
