"""Domain exceptions: routes and CLI commands turn these into 404/403/422, flashes or exit codes."""


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible to the asker)."""


class Refused(DomainError):
    """The action is not allowed; `reason` is a Japanese sentence for the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Invalid(DomainError):
    """Input failed validation; `errors` maps a field name (or '-') to a list of Japanese messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors
