"""The two numbers that name a resident, with one pattern and one message each.

宛名番号 (atena_no): the city's address number, 1–15 ASCII digits, leading zeros count.
整理番号 (seiri_no): the screening office's number, 1–20 ASCII letters, digits and hyphens.
Every screen, file import and search checks them here, after `textinput.ascii_text`.
"""
import re

ATENA_NO = re.compile(r"[0-9]{1,15}", re.A)
SEIRI_NO = re.compile(r"[0-9A-Za-z-]{1,20}", re.A)

ATENA_NO_MESSAGE = "宛名番号は1〜15桁の数字です"
SEIRI_NO_MESSAGE = "整理番号は英数字とハイフンで20文字以内です"


def is_atena_no(text: str) -> bool:
    return bool(ATENA_NO.fullmatch(text))


def is_seiri_no(text: str) -> bool:
    return bool(SEIRI_NO.fullmatch(text))
