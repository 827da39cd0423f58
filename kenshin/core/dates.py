"""Dates in Japan time: 和暦 input and display, 年度, and age by the legal rule."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")

# The Gregorian calendar began in Japan on 明治6年1月1日; earlier 明治 dates are lunisolar.
GREGORIAN_START = date(1873, 1, 1)
TOO_EARLY = "明治6年1月1日より前の日付は扱えません"
UNREADABLE = "日付として読めません"
IMPOSSIBLE = "存在しない日付です"

YEAR_END = "year_end"  # 年度末: the age reached on the birthday that falls in the 年度
YEAR_START = "year_start"  # 年度当初: the age already reached when the 年度 begins (4月1日)


class DateError(ValueError):
    """A date that cannot be read or does not exist; str() is a short Japanese reason."""


class Era(NamedTuple):
    """One era: its name, its letter, and its first and last day (None while current)."""

    name: str
    letter: str
    start: date
    end: date | None


class EraYear(NamedTuple):
    """A date's era and its year within the era (1 is written 元年)."""

    name: str
    letter: str
    year: int


ERAS: tuple[Era, ...] = (
    Era("明治", "M", date(1868, 9, 8), date(1912, 7, 29)),
    Era("大正", "T", date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "S", date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "H", date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "R", date(2019, 5, 1), None),
)
_BY_NAME = {e.name: e for e in ERAS}
_BY_LETTER = {e.letter: e for e in ERAS}


# --- clock -----------------------------------------------------------------

def today_jst() -> date:
    """Today's date in Japan, whatever the server's clock zone."""
    return datetime.now(JST).date()


def now_utc() -> datetime:
    """The current time as a naive UTC datetime, the form timestamps are stored in."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_jst(dt_utc: datetime) -> datetime:
    """A stored timestamp (naive means UTC) as an aware Japan-time datetime for display."""
    if dt_utc.tzinfo is None:
        dt_utc = dt_utc.replace(tzinfo=timezone.utc)
    return dt_utc.astimezone(JST)


# --- parsing ---------------------------------------------------------------

_ERA_NAMES = "|".join(e.name for e in ERAS)
_ERA_LETTERS = "".join(e.letter for e in ERAS)
_YEAR = r"(?P<y>\d{1,2}|元)"
_MD_KANJI = r"\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"
_MD_DOT = r"\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})"

_WESTERN = [
    re.compile(r"(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})", re.A),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.A),
    re.compile(r"(?P<y>\d{4})\s*年" + _MD_KANJI, re.A),
]
_WAREKI = [
    # 令和7年4月1日, R7年4月1日 (space-padded 令和 7年 4月 1日 as printed on many forms)
    re.compile(rf"(?P<era>{_ERA_NAMES}|[{_ERA_LETTERS}])\s*{_YEAR}\s*年" + _MD_KANJI, re.I | re.A),
    # R7.4.1, 令和7.4.1
    re.compile(rf"(?P<era>{_ERA_NAMES}|[{_ERA_LETTERS}]){_YEAR}" + _MD_DOT, re.I | re.A),
]


def _year_label(era: Era, year: int) -> str:
    return f"{era.name}{'元' if year == 1 else year}年"


def _md(d: date) -> str:
    return f"{d.month}月{d.day}日"


def _real_date(y: int, m: int, d: int) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise DateError(IMPOSSIBLE) from None


def _from_era(era: Era, year: int, m: int, d: int) -> date:
    if year == 0:
        raise DateError(f"{era.name}0年はありません")
    last_year = era.end.year - era.start.year + 1 if era.end else None
    if last_year is not None and year > last_year:
        raise DateError(f"{era.name}は{last_year}年{_md(era.end)}までです")
    result = _real_date(era.start.year + year - 1, m, d)
    if result < GREGORIAN_START:
        raise DateError(TOO_EARLY)
    if result < era.start:
        raise DateError(f"{_year_label(era, year)}は{_md(era.start)}からです")
    if era.end is not None and result > era.end:
        raise DateError(f"{_year_label(era, year)}は{_md(era.end)}までです")
    return result


def parse_date(text: str) -> date:
    """Read a date in one of the accepted forms (FORMATS.md "Dates"); DateError says why not."""
    if not isinstance(text, str):
        raise DateError(UNREADABLE)
    s = unicodedata.normalize("NFKC", text).strip()
    for pattern in _WESTERN:
        m = pattern.fullmatch(s)
        if m:
            result = _real_date(int(m["y"]), int(m["m"]), int(m["d"]))
            if result < GREGORIAN_START:
                raise DateError(TOO_EARLY)
            return result
    for pattern in _WAREKI:
        m = pattern.fullmatch(s)
        if m:
            return _era_match(m)
    raise DateError(UNREADABLE)


def _era_match(m: re.Match, era: Era | None = None) -> date:
    """The date of a matched 和暦 (its era word or letter, or `era` when the text named none)."""
    if era is None:
        word = m["era"]
        era = _BY_NAME.get(word) or _BY_LETTER[word.upper()]
    year = 1 if m["y"] == "元" else int(m["y"])
    return _from_era(era, year, int(m["m"]), int(m["d"]))


# What a clerk types from paper, beyond the file forms above (FORMATS.md keeps files to those):
# S30/7/1 (era and slashes), S300701 (era letter, then YYMMDD), and a bare 8.10.3 or 8/10/3 in
# the current era.
_KEYED_SLASH = re.compile(rf"(?P<era>{_ERA_NAMES}|[{_ERA_LETTERS}]){_YEAR}/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}})",
                          re.I | re.A)
_KEYED_PACKED = re.compile(rf"(?P<era>{_ERA_NAMES}|[{_ERA_LETTERS}])(?P<y>\d{{2}})(?P<m>\d{{2}})(?P<d>\d{{2}})",
                           re.I | re.A)
_KEYED_BARE = re.compile(r"(?P<y>\d{1,2}|元)(?P<sep>[./])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})", re.A)


def current_era(today: date | None = None) -> Era:
    """The era in force on `today` (Japan time)."""
    day = today or today_jst()
    return next(era for era in reversed(ERAS) if day >= era.start)


def parse_keyed_date(text: str, today: date | None = None) -> date:
    """A date as a clerk keys it from a paper form: every form parse_date reads, and also
    `S30/7/1`, `S300701` (era letter or name, then YYMMDD) and a bare `8.10.3` / `8/10/3`,
    which is in the era in force today (令和). Screens only; files keep to parse_date."""
    if not isinstance(text, str):
        raise DateError(UNREADABLE)
    try:
        return parse_date(text)
    except DateError as problem:
        if str(problem) != UNREADABLE:
            raise
    s = unicodedata.normalize("NFKC", text).strip()
    for pattern in (_KEYED_SLASH, _KEYED_PACKED):
        m = pattern.fullmatch(s)
        if m:
            return _era_match(m)
    m = _KEYED_BARE.fullmatch(s)
    if m:
        return _era_match(m, current_era(today))
    raise DateError(UNREADABLE)


def parse_date_or_none(text: str | None) -> date | None:
    """Like parse_date, but a blank (or None) is None rather than an error."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return parse_date(text)


# --- display ---------------------------------------------------------------

def _as_date(d: date) -> date:
    return d.date() if isinstance(d, datetime) else d


def era_of(d: date) -> EraYear:
    """The era and era year of a date (from 明治6年1月1日 on)."""
    d = _as_date(d)
    if d < GREGORIAN_START:
        raise DateError(TOO_EARLY)
    for era in reversed(ERAS):
        if d >= era.start:
            return EraYear(era.name, era.letter, d.year - era.start.year + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def format_wareki(d: date, style: str = "long") -> str:
    """和暦: long 令和7年4月1日 (元年 for year 1), short R7.4.1."""
    return _wareki(_as_date(d), style)


# A page of fifty people formats fifty birth dates; a city has some 40,000 distinct ones, and
# working out the era each time was a twentieth of a search's time in Python.
@lru_cache(maxsize=65536)
def _wareki(d: date, style: str) -> str:
    e = era_of(d)
    if style == "long":
        return f"{e.name}{'元' if e.year == 1 else e.year}年{d.month}月{d.day}日"
    if style == "short":
        return f"{e.letter}{e.year}.{d.month}.{d.day}"
    raise ValueError(f"unknown style: {style!r}")


def format_both(d: date) -> str:
    """和暦 beside the Western date: 令和7年4月1日 (2025-04-01)."""
    return _both(_as_date(d))


@lru_cache(maxsize=65536)
def _both(d: date) -> str:
    return f"{_wareki(d, 'long')} ({d.isoformat()})"


# --- 年度 ------------------------------------------------------------------

def fiscal_year(d: date) -> int:
    """The 年度 (April to March) a date belongs to, named by the year it starts in."""
    d = _as_date(d)
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_bounds(fy: int) -> tuple[date, date]:
    """The first and last day of a 年度: 4月1日 and the next 3月31日."""
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def fiscal_year_label(fy: int) -> str:
    """令和7年度; a 年度 with an era change takes the era in force on most of its days."""
    # so FY2019 is 令和元年度 (令和 from 5月1日), FY1988 昭和63年度, FY1926 大正15年度,
    # FY1912 大正元年度
    first, last = fiscal_year_bounds(fy)
    if first < GREGORIAN_START:
        raise DateError(TOO_EARLY)
    best, best_days = None, -1
    for era in ERAS:
        lo = max(first, era.start)
        hi = min(last, era.end) if era.end else last
        days = (hi - lo).days + 1
        if days >= best_days:
            best, best_days = era, days
    year = fy - best.start.year + 1
    return f"{best.name}{'元' if year == 1 else year}年度"


# --- age -------------------------------------------------------------------

def age_at(birth: date, on: date) -> int:
    """Age on a day by the legal rule: the year is gained on the day before the birthday."""
    # 年齢計算ニ関スル法律 and 民法143条: the year ends at the end of the day before the
    # birthday, so someone born 4月1日 is a year older on 3月31日, and someone born
    # 2月29日 is a year older on 2月28日 in every year.
    birth, on = _as_date(birth), _as_date(on)
    if on < birth:
        raise ValueError("生年月日より前の日付です")
    nxt = on + timedelta(days=1)
    # the birthday of a 2月29日 birth is taken as 3月1日 in common years, which the
    # tuple comparison gives by itself
    return nxt.year - birth.year - ((nxt.month, nxt.day) < (birth.month, birth.day))


def age_at_fiscal_year_start(birth: date, fy: int) -> int:
    """年度当初 age: the age already reached when the 年度 begins (at the end of 3月31日)."""
    birth = _as_date(birth)
    if birth > date(fy, 4, 1):
        raise ValueError("年度の初めより後に生まれています")
    # age_at(birth, 3月31日), also defined for a birth on 4月1日 itself (age 0)
    return fy - birth.year - ((4, 1) < (birth.month, birth.day))


def age_at_fiscal_year_end(birth: date, fy: int) -> int:
    """年度末 age: the age reached on the birthday that falls in the 年度 (4月1日–3月31日)."""
    # This is how cities publish 年度末 ranges (DOMAIN.md 5.3: FY R7 「20歳」 = births
    # 2005-04-01..2006-03-31). A 4月1日 birth legally reaches the next age on the last
    # day of the 年度 (age_at) but belongs to the next 年度's cohort, as on those pages.
    birth = _as_date(birth)
    if birth > date(fy + 1, 3, 31):
        raise ValueError("年度の終わりより後に生まれています")
    return fy - birth.year + (1 if birth.month < 4 else 0)


def age_for_basis(birth: date, fy: int, basis: str = YEAR_END) -> int:
    """The eligibility age in a 年度 on the given basis (year_end or year_start)."""
    if basis == YEAR_END:
        return age_at_fiscal_year_end(birth, fy)
    if basis == YEAR_START:
        return age_at_fiscal_year_start(birth, fy)
    raise ValueError(f"unknown age basis: {basis!r}")


def birth_range_for_age(age: int, fy: int, basis: str = YEAR_END) -> tuple[date, date]:
    """First and last birth date of the people who count as `age` in 年度 `fy` on `basis`."""
    if age < 0:
        raise ValueError("age must not be negative")
    if basis == YEAR_END:
        return date(fy - age, 4, 1), date(fy - age + 1, 3, 31)
    if basis == YEAR_START:
        # reached by the start of 4月1日: the birthday eve is on or before 3月31日
        return date(fy - age - 1, 4, 2), date(fy - age, 4, 1)
    raise ValueError(f"unknown age basis: {basis!r}")
