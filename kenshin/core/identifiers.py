"""The two numbers that name a resident, with one pattern and one message each.

宛名番号 (atena_no): the city's address number, 1–15 ASCII digits, leading zeros count.
整理番号 (seiri_no): issued on invitations (kenshin.invitations), 10 ASCII digits — a 9-digit
serial then a Luhn check digit (FORMATS.md "Invitations"); a number whose check digit is wrong is
an error that says so.
Every screen, file import and search checks them here, after `textinput.ascii_text`.
"""
import re

ATENA_NO = re.compile(r"[0-9]{1,15}", re.A)
SEIRI_NO = re.compile(r"[0-9]{10}", re.A)

ATENA_NO_MESSAGE = "宛名番号は1〜15桁の数字です"
SEIRI_NO_MESSAGE = "整理番号は10桁の数字です"
SEIRI_CHECK_DIGIT_MESSAGE = "整理番号の検査数字（末尾の1桁）が誤っています。番号を確かめてください"


def is_atena_no(text: str) -> bool:
    return bool(ATENA_NO.fullmatch(text))


def check_digit(payload: str) -> int:
    """The Luhn check digit for a string of digits."""
    total = 0
    for position, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if position % 2 == 0:  # the rightmost payload digit is doubled
            d = d * 2 - 9 if d >= 5 else d * 2
        total += d
    return (10 - total % 10) % 10


def check_digit_ok(number: str) -> bool:
    """True when a 10-digit number's last digit is the Luhn check digit of the first nine."""
    return bool(SEIRI_NO.fullmatch(number)) and check_digit(number[:-1]) == ord(number[-1]) - 48


def seiri_no_problem(text: str) -> str | None:
    """Why a typed or imported 整理番号 cannot be one (not 10 digits; a wrong check digit), or None."""
    if not SEIRI_NO.fullmatch(text):
        return SEIRI_NO_MESSAGE
    if not check_digit_ok(text):
        return SEIRI_CHECK_DIGIT_MESSAGE
    return None


def is_seiri_no(text: str) -> bool:
    return seiri_no_problem(text) is None
