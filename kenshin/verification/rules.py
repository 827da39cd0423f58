"""The settings and the words of verified entry: which items a second keying must match
(the VERIFY_ALL_ITEMS setting), the choices when resolving, and what a refused keyer is told.

Which items are verified: `catalogue.verified_items` — the items that decide 要精検 (and
`target` for followup) — or every item of the exams in the VERIFY_ALL_ITEMS setting, which the
caller passes in as `verify_all` (see `verify_all_exams`).
"""
from __future__ import annotations

import re
from collections.abc import Collection

from kenshin.screening import catalogue, extensions
from kenshin.screening import screenings

PENDING, CONFIRMED, VOID = screenings.PENDING, screenings.CONFIRMED, screenings.VOID
OVERDUE_DAYS = 7
REASON_MAX = 400
CHUNK = 500
FIRST, SECOND, PAPER = "first", "second", "paper"
# as the resolution screen words the choices, so the history shows the one that was made
CHOICE_LABELS = {FIRST: "1回目の値", SECOND: "2回目の値", PAPER: "用紙の値を入力"}

# What the person at the keyboard is told when they may not key a form a second time.
KEYED_FIRST = "この用紙の1回目を入力したのはあなたです。確認入力（2回目）は別の職員が行ってください。"
RECORDED = ("この記録を突合待ちから登録したのはあなたです。1回目の値を見ているため、"
            "確認入力（2回目）は別の職員が行ってください。")
CORRECTED = ("この記録を訂正したのはあなたです。1回目の値を見ているため、"
             "確認入力（2回目）は別の職員が行ってください。")
SHOWN = ("あなたはこの記録の1回目の値を表示しています。値を見ずに入力するため、"
         "確認入力（2回目）は別の職員が行ってください。")
NOT_PENDING = {CONFIRMED: "この記録はすでに確定しています。", VOID: "この記録は取り消されています。"}
ALREADY_KEYED = "この用紙はすでに別の職員が確認入力しました。"


# --- configuration ---------------------------------------------------------------------------

def verify_all_exams(setting) -> frozenset[str]:
    """The VERIFY_ALL_ITEMS setting as exam codes: a list, or text separated by commas or spaces.

    An unknown code is a ValueError: a typo must not silently verify fewer items."""
    if setting is None:
        return frozenset()
    if isinstance(setting, str):
        codes = [code for code in re.split(r"[\s,]+", setting) if code]
    else:
        codes = [str(code).strip() for code in setting if str(code).strip()]
    unknown = sorted(set(codes) - set(catalogue.EXAMS))
    if unknown:
        raise ValueError(f"VERIFY_ALL_ITEMS names unknown exams {unknown}; "
                         f"the catalogue has {list(catalogue.EXAMS)}")
    return frozenset(codes)


def verified_keys(exam_code: str, verify_all: Collection[str] = ()) -> tuple[str, ...]:
    """The items a second keying must match for this exam, in form order."""
    return catalogue.verified_items(exam_code, all_items=exam_code in verify_all,
                                    enabled=extensions.enabled_codes())
