"""Kanji name matching key: spaces dropped, variant kanji (髙/高, 﨑/崎, 邊/辺 ...) folded."""
from __future__ import annotations

import unicodedata

from kenshin.core.variants import VARIANTS

# Table choice (reviewed 2025): the PyPI packages were inspected and not used.
# - ja-cvu-normalizer 0.2.10: maps only characters outside JIS X 0208, so 邊/辺, 齋/斎,
#   澤/沢 ... stay apart; maps 﨑 to 埼 (a different character); mixes in NFKC and
#   simplified-Chinese rows; normalises with one str.replace per table row (~1,700 a call).
# - ja-itaiji 1.0.2 ("Development Status :: 1 - Planning"): families, not
#   representatives, and they over-merge (崎 with 埼/碕, 濱 with 頻, 澤 with 途, 吉 with
#   桔, 橋 with 橇/毳), include simplified Chinese, and lack 𠮷.
# So kenshin/variants.py holds our own reviewed table (official 旧字体 pairs plus common
# name 俗字), cross-checked against ja-itaiji's families where they agree.

# Ideographic and standardised variation selectors (IVS/SVS): a registry may send
# 葛󠄀 or 辻󠄀 with a selector naming the glyph; the character is the same.
_DROP = {cp: None for cp in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))}
# spaces of any width, and the dots written between the parts of foreign names
_DROP.update({cp: None for cp in range(0x3001) if chr(cp).isspace()})
_DROP.update({cp: None for cp in (0x3000, 0x200B, 0xFEFF, 0x30FB, 0xFF65, 0x00B7)})

_TABLE: dict[int, str | None] = {ord(v): r for v, r in VARIANTS.items()}
_TABLE.update(_DROP)
# full-width Latin and digits as ASCII, Latin upper-cased (foreign residents' names)
for _cp in range(0xFF01, 0xFF5F):
    _TABLE[_cp] = chr(_cp - 0xFEE0).upper()
for _cp in range(ord("a"), ord("z") + 1):
    _TABLE[_cp] = chr(_cp).upper()
# half-width katakana are kept for the NFKC step below; ヶ/ヵ as in 一ヶ谷 / 一ケ谷
_TABLE.update({ord("ヶ"): "ケ", ord("ヵ"): "カ"})


def _halfwidth_kana(s: str) -> str:
    out = []
    for ch in s:
        out.append(unicodedata.normalize("NFKC", ch) if "\uff61" <= ch <= "\uff9f" else ch)
    return unicodedata.normalize("NFC", "".join(out))


def _repeat_marks(s: str) -> str:
    out: list[str] = []
    for ch in s:
        out.append(out[-1] if ch == "々" and out else ch)
    return "".join(out)


def name_key(name: str) -> str:
    """The key two spellings of one name share: NFC, no spaces, variant kanji folded, 々 spelt out."""
    if not name:
        return ""
    s = unicodedata.normalize("NFC", name)
    if any("\uff61" <= ch <= "\uff9f" for ch in s):
        s = _halfwidth_kana(s)
    s = s.translate(_TABLE)
    if "々" in s:  # 佐々木 = 佐佐木
        s = _repeat_marks(s)
    return s


def name_prefix_key(text: str | None) -> str:
    """name_key for partial input from a search box (None or blank gives '')."""
    if not text or not isinstance(text, str):
        return ""
    return name_key(text)
