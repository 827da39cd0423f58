"""CSV cells that a spreadsheet will not run: the formula guard (CSV injection, OWASP)."""

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """Text for a CSV cell; text that a spreadsheet would read as a formula gets a leading `'`.

    Numbers stay numbers (a negative count is not a formula); only text is guarded."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text
