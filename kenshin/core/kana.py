"""Kana names: the stored form (full-width katakana) and the matching key of FORMATS.md."""
from __future__ import annotations

import unicodedata

MAX_LENGTH = 60
STORED_SPACE = "\u3000"  # one full-width space between family and given name

# ゛ and ゜ typed as separate characters: NFKC would turn them into a space plus the
# combining mark, so they are made combining first and then join the kana before them.
_PRE = {0x309B: "\u3099", 0x309C: "\u309A"}
_VOICE_MARKS = frozenset("\u3099\u309a\u309b\u309c\uff9e\uff9f")

# hiragana ぁ..ゖ -> katakana ァ..ヶ, ゝゞ -> ヽヾ
_HIRA_TO_KATA = {cp: chr(cp + 0x60) for cp in range(0x3041, 0x3097)}
_HIRA_TO_KATA.update({0x309D: "\u30fd", 0x309E: "\u30fe"})

# what the stored form may hold, after NFKC and hiragana -> katakana
_KATAKANA = frozenset(chr(cp) for cp in range(0x30A1, 0x30FB))  # ァ..ヺ
_STORABLE = _KATAKANA | frozenset("ー・ヽヾ ")

# the key folds of FORMATS.md: small kana made full-size, ヴ→ブ, ヰ→イ, ヱ→エ, ヲ→オ
# (ヷヸヹヺ, the voiced ワヰヱヲ, go to バビベボ the same way)
_FOLD = dict(zip("ァィゥェォッャュョヮヵヶヴヰヱヲヷヸヹヺ", "アイウエオツヤユヨワカケブイエオバビベボ"))
# removed from the key: spaces of any kind, ・ and ー, and what people type for ー
_SPACES = [chr(cp) for cp in range(0x3001) if chr(cp).isspace()] + ["\u3000", "\u200b", "\ufeff"]
_DOTS = ["\u30fb", "\uff65", "\u00b7"]  # ・ ･ ·
_DASHES = ["\u30fc", "\uff70", "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014",
           "\u2015", "\u2212", "\uff0d", "\u301c", "\uff5e", "~"]  # ー ｰ - ‐ ‑ ‒ – — ― − － 〜 ～ ~


def _build_key_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0x30A1, 0x30FB):
        ch = chr(cp)
        if ch in _FOLD:
            table[cp] = _FOLD[ch]
    for cp, kata in _HIRA_TO_KATA.items():
        table[cp] = _FOLD.get(kata, kata)
    for ch in _SPACES + _DOTS + _DASHES:
        table[ord(ch)] = None
    return table


_KEY_TABLE = _build_key_table()

_UNVOICED = "カキクケコサシスセソタチツテトハヒフヘホ"
_VOICED = {c: chr(ord(c) + 1) for c in _UNVOICED}
_VOICED["ウ"] = "ブ"  # ウ゛ = ヴ, which the key writes as ブ
_BASE = {chr(ord(c) + 1): c for c in _UNVOICED}
_BASE.update({chr(ord(c) + 2): c for c in "ハヒフヘホ"})


class KanaError(ValueError):
    """Kana that cannot be stored; str() is a short Japanese reason."""


def _prepare(text: str) -> str:
    return unicodedata.normalize("NFKC", text.translate(_PRE)).translate(_HIRA_TO_KATA)


def _shown(ch: str) -> str:
    return ch if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def _first_bad_char(text: str) -> str:
    """The first character of the original text that is not kana, a space, ー or ・."""
    for ch in text:
        t = _prepare(ch)
        if t and all(c in _STORABLE for c in t):
            continue
        if t and all(c in _VOICE_MARKS for c in t):
            continue  # a ゛ that may have joined the kana before it
        return ch
    for ch in text:  # a ゛ or ゜ that joined nothing
        if ch in _VOICE_MARKS:
            return ch
    return text[0]  # pragma: no cover - the whole-text check found something


def normalize_kana(text: str) -> str:
    """The stored form: full-width katakana, one full-width space between the parts."""
    if not isinstance(text, str):
        raise KanaError("カナが入力されていません")
    s = _prepare(text)
    if not all(c in _STORABLE for c in s):
        raise KanaError(f"カナ以外の文字が含まれています: {_shown(_first_bad_char(text))}")
    result = STORED_SPACE.join(part for part in s.split(" ") if part)
    if not result:
        raise KanaError("カナが入力されていません")
    if not any(c in _KATAKANA for c in result):
        raise KanaError("カナの文字がありません")
    if len(result) > MAX_LENGTH:
        raise KanaError(f"カナは{MAX_LENGTH}文字以内です（{len(result)}文字）")
    return result


def is_hiragana_or_katakana(text: str) -> bool:
    """True when the text is non-blank kana that normalize_kana would accept (any length)."""
    if not isinstance(text, str):
        return False
    s = _prepare(text)
    return any(c in _KATAKANA for c in s) and all(c in _STORABLE for c in s)


def _expand_iteration_marks(s: str) -> str:
    out: list[str] = []
    for ch in s:
        if out and ch == "ヽ":
            ch = _BASE.get(out[-1], out[-1])
        elif out and ch == "ヾ":
            prev = _BASE.get(out[-1], out[-1])
            ch = _VOICED.get(prev, prev)
        out.append(ch)
    return "".join(out)


def kana_key(text: str) -> str:
    """The matching key (FORMATS.md): NFKC, katakana, no spaces/・/ー, small kana full-size, ヴ→ブ ..."""
    s = unicodedata.normalize("NFKC", text.translate(_PRE)).translate(_KEY_TABLE)
    if "ヽ" in s or "ヾ" in s:  # みすゞ = みすず
        s = _expand_iteration_marks(s)
    return s


def kana_prefix_key(text: str | None) -> str:
    """kana_key for partial input from a search box: never raises, keeps only the kana."""
    if not text:
        return ""
    key = kana_key(text)
    if all(c in _KATAKANA for c in key):
        return key
    return "".join(c for c in key if c in _KATAKANA)


if __name__ == "__main__":  # rough timing: python -m kenshin.kana
    import timeit

    samples = ["ヤマダ　タロウ", "やまだ たろう", "ｷｬﾉﾝ ﾊﾟﾝ", "ヴァイオリン・スズキ"]
    n = 250_000
    seconds = timeit.timeit(lambda: [kana_key(s) for s in samples], number=n)
    print(f"kana_key: {seconds / (n * len(samples)) * 1e6:.2f} µs per call")
