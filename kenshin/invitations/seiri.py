"""整理番号 (FORMATS.md "Invitations"): 10 digits, a 9-digit serial then a Luhn check digit.

One per person per 年度, issued at the first invitation and never reused (SeiriCounter holds the
last serial). The check every screen and import applies lives in kenshin.core.identifiers (the
Luhn digit and `seiri_no_problem`, re-exported here); numbers themselves are issued in bulk by
SQL (`sql_number`) so that a run over a million people does not loop in Python.
"""
from __future__ import annotations

from kenshin.core.identifiers import (SEIRI_CHECK_DIGIT_MESSAGE, SEIRI_NO_MESSAGE, check_digit,
                                     check_digit_ok, seiri_no_problem)

LENGTH = 10
FIRST_SERIAL = 100_000_000  # 9 digits with no leading zero: a spreadsheet cannot drop one
LAST_SERIAL = 999_999_999

NOT_TEN_DIGITS = SEIRI_NO_MESSAGE
WRONG_CHECK_DIGIT = SEIRI_CHECK_DIGIT_MESSAGE
__all__ = ["check_digit", "check_digit_ok", "number_for", "problem", "sql_number"]


def number_for(serial: int) -> str:
    """The 整理番号 of a serial."""
    if not FIRST_SERIAL <= serial <= LAST_SERIAL:
        raise ValueError("serial out of range")
    payload = str(serial)
    return payload + str(check_digit(payload))


def problem(number: str) -> str | None:
    """Why a typed or imported 整理番号 (already NFKC and stripped) cannot be one; None when it can
    (kenshin.core.identifiers, where every screen and import checks it)."""
    return seiri_no_problem(number)


def _mod10(expr: str, postgres: bool) -> str:
    # psycopg2 reads the % operator as a parameter marker: PostgreSQL has mod(); SQLite has no
    # mod() in every build, but its % operator needs no escaping there
    return f"mod({expr}, 10)" if postgres else f"(({expr}) % 10)"


def sql_number(serial: str, postgres: bool | None = None) -> str:
    """A SQL expression (SQLite and PostgreSQL, integer arithmetic) for the 整理番号 text of an
    integer serial expression of 9 digits: serial * 10 + its Luhn digit, as text. Each digit is
    written once (an earlier form without mod() repeated the serial some 150 times: 2 of the 5
    seconds a run took to issue 0.7 million numbers on PostgreSQL)."""
    if postgres is None:
        import database
        postgres = database.is_postgres()
    serial = f"CAST({serial} AS BIGINT)"  # serial * 10 passes PostgreSQL's 32-bit integer
    terms = []
    for k in range(9):  # k = 0 is the rightmost payload digit, which is doubled
        digit = _mod10(f"{serial} / {10 ** k}" if k else serial, postgres)
        terms.append(f"(2 * {digit} - 9 * ({digit} / 5))" if k % 2 == 0 else digit)
    check = _mod10("10 - " + _mod10(" + ".join(terms), postgres), postgres)
    return f"CAST({serial} * 10 + {check} AS TEXT)"
