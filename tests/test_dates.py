"""kenshin.dates: reading and showing 和暦, 年度, Japan time and age by the legal rule."""
from datetime import date, datetime, timedelta, timezone

import pytest

from kenshin.core import dates
from kenshin.core.dates import (
    DateError,
    age_at,
    age_at_fiscal_year_end,
    age_at_fiscal_year_start,
    age_for_basis,
    birth_range_for_age,
    era_of,
    fiscal_year,
    fiscal_year_bounds,
    fiscal_year_label,
    format_both,
    format_wareki,
    parse_date,
    parse_date_or_none,
)


# --- every example of FORMATS.md "Dates" -------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-04-01", date(2025, 4, 1)),
        ("2025/04/01", date(2025, 4, 1)),
        ("20250401", date(2025, 4, 1)),
        ("2025/4/1", date(2025, 4, 1)),
        ("2025-4-1", date(2025, 4, 1)),
        ("令和7年4月1日", date(2025, 4, 1)),
        ("R7.4.1", date(2025, 4, 1)),
        ("H31.4.30", date(2019, 4, 30)),
        ("S57.04.01", date(1982, 4, 1)),
        ("T15.1.1", date(1926, 1, 1)),
        ("M45.7.29", date(1912, 7, 29)),
        ("令和元年5月1日", date(2019, 5, 1)),
    ],
)
def test_formats_md_examples_are_read(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("2023-02-29", "存在しない日付です"),
        ("平成31年5月1日", "平成31年は4月30日までです"),
        ("昭和元年12月24日", "昭和元年は12月25日からです"),
        ("令和0年4月1日", "令和0年はありません"),
        ("R0.4.1", "令和0年はありません"),
    ],
)
def test_formats_md_impossible_dates_are_errors(text, reason):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == reason


def test_date_error_is_a_value_error():
    assert issubclass(DateError, ValueError)


# --- forms -------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("２０２５－０４－０１", date(2025, 4, 1)),  # full-width digits and hyphen
        ("２０２５／４／１", date(2025, 4, 1)),
        ("２０２５０４０１", date(2025, 4, 1)),
        ("令和７年４月１日", date(2025, 4, 1)),
        ("Ｒ７．４．１", date(2025, 4, 1)),
        ("ｈ３１．４．３０", date(2019, 4, 30)),
        ("㍻31年4月30日", date(2019, 4, 30)),  # the one-character era sign, via NFKC
        ("㋿元年5月1日", date(2019, 5, 1)),
    ],
)
def test_full_width_input_is_read_as_ascii(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("r7.4.1", date(2025, 4, 1)),
        ("h31.4.30", date(2019, 4, 30)),
        ("s57.4.1", date(1982, 4, 1)),
        ("t15.1.1", date(1926, 1, 1)),
        ("m45.7.29", date(1912, 7, 29)),
    ],
)
def test_lower_case_era_letters_are_accepted(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("令和元年5月1日", date(2019, 5, 1)),
        ("R元.5.1", date(2019, 5, 1)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("H元.1.8", date(1989, 1, 8)),
        ("昭和元年12月25日", date(1926, 12, 25)),
        ("大正元年7月30日", date(1912, 7, 30)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("R01.05.01", date(2019, 5, 1)),
    ],
)
def test_gannen_is_year_one(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025年4月1日", date(2025, 4, 1)),
        ("2025年04月01日", date(2025, 4, 1)),
        ("令和 7年 4月 1日", date(2025, 4, 1)),  # space-padded, as printed on forms
        ("R7年4月1日", date(2025, 4, 1)),
        ("令和7.4.1", date(2025, 4, 1)),
        ("  2025-04-01\t", date(2025, 4, 1)),
        ("\u3000R7.4.1\u3000", date(2025, 4, 1)),
    ],
)
def test_other_careful_forms_are_read(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2025-4",
        "7.4.1",
        "2025-04/01",
        "2025.04.01",
        "25-04-01",
        "2025401",
        "202504011",
        "R7-4-1",
        "R7.4",
        "X7.4.1",
        "令和7年4月",
        "令和七年四月一日",
        "R123.4.1",
        "元年5月1日",
        "2025-04-01T00:00",
        "tomorrow",
        "٢٠٢٥-٠٤-٠١",  # Arabic-Indic digits are not ours
    ],
)
def test_anything_else_is_unreadable(text):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == "日付として読めません"


def test_non_string_is_unreadable_not_a_crash():
    with pytest.raises(DateError):
        parse_date(None)


@pytest.mark.parametrize(
    "text",
    ["2025-13-01", "2025-00-10", "2025-04-31", "2025-04-00", "R7.2.30", "令和7年6月31日", "20250230"],
)
def test_impossible_calendar_dates_are_errors(text):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == "存在しない日付です"


# --- 2月29日 --------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("2000/2/29", date(2000, 2, 29)),
        ("R6.2.29", date(2024, 2, 29)),
        ("平成12年2月29日", date(2000, 2, 29)),
    ],
)
def test_february_29_in_leap_years_is_accepted(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2023-02-29", "1900-02-29", "R7.2.29", "平成13年2月29日", "21000229"])
def test_february_29_in_common_years_is_impossible(text):
    with pytest.raises(DateError, match="存在しない日付です"):
        parse_date(text)


# --- era boundaries, both sides ---------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("M45.7.29", date(1912, 7, 29)),
        ("明治45年7月29日", date(1912, 7, 29)),
        ("T1.7.30", date(1912, 7, 30)),
        ("大正元年7月30日", date(1912, 7, 30)),
        ("T15.12.24", date(1926, 12, 24)),
        ("S1.12.25", date(1926, 12, 25)),
        ("S64.1.7", date(1989, 1, 7)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("H1.1.8", date(1989, 1, 8)),
        ("H31.4.30", date(2019, 4, 30)),
        ("R1.5.1", date(2019, 5, 1)),
    ],
)
def test_each_era_holds_its_first_and_last_day(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("M45.7.30", "明治45年は7月29日までです"),
        ("T1.7.29", "大正元年は7月30日からです"),
        ("T15.12.25", "大正15年は12月24日までです"),
        ("S1.12.24", "昭和元年は12月25日からです"),
        ("S64.1.8", "昭和64年は1月7日までです"),
        ("H1.1.7", "平成元年は1月8日からです"),
        ("H31.5.1", "平成31年は4月30日までです"),
        ("R1.4.30", "令和元年は5月1日からです"),
    ],
)
def test_a_date_outside_its_era_is_an_error(text, reason):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == reason


@pytest.mark.parametrize(
    "text, reason",
    [
        ("M46.1.1", "明治は45年7月29日までです"),
        ("T16.1.1", "大正は15年12月24日までです"),
        ("S65.1.1", "昭和は64年1月7日までです"),
        ("H32.1.1", "平成は31年4月30日までです"),
    ],
)
def test_an_era_year_past_the_eras_end_is_an_error(text, reason):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == reason


def test_heisei_ends_on_april_30():
    assert parse_date("平成31年4月30日") == date(2019, 4, 30)
    with pytest.raises(DateError, match="平成31年は4月30日までです"):
        parse_date("平成31年5月1日")


def test_reiwa_has_no_end():
    assert parse_date("R99.12.31") == date(2117, 12, 31)


@pytest.mark.parametrize("text", ["令和0年5月1日", "R0.5.1", "H0.1.1", "S00.1.1"])
def test_year_zero_of_an_era_does_not_exist(text):
    with pytest.raises(DateError, match="0年はありません"):
        parse_date(text)


# --- 明治6年1月1日 lower bound ---------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [("明治6年1月1日", date(1873, 1, 1)), ("M6.1.1", date(1873, 1, 1)), ("1873-01-01", date(1873, 1, 1))],
)
def test_meiji_6_january_1_is_the_first_date_accepted(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["明治5年12月31日", "M5.12.2", "明治元年9月8日", "M1.10.1", "1872-12-31", "0001-01-01", "18680908"],
)
def test_dates_before_meiji_6_january_1_are_refused(text):
    with pytest.raises(DateError) as err:
        parse_date(text)
    assert str(err.value) == "明治6年1月1日より前の日付は扱えません"


# --- parse_date_or_none -------------------------------------------------------

@pytest.mark.parametrize("text", [None, "", "  ", "\u3000"])
def test_blank_is_none(text):
    assert parse_date_or_none(text) is None


def test_parse_date_or_none_reads_and_rejects_like_parse_date():
    assert parse_date_or_none(" R7.4.1 ") == date(2025, 4, 1)
    with pytest.raises(DateError):
        parse_date_or_none("2023-02-29")


# --- display ------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, long, short",
    [
        (date(2025, 4, 1), "令和7年4月1日", "R7.4.1"),
        (date(2019, 5, 1), "令和元年5月1日", "R1.5.1"),
        (date(2019, 4, 30), "平成31年4月30日", "H31.4.30"),
        (date(1989, 1, 8), "平成元年1月8日", "H1.1.8"),
        (date(1989, 1, 7), "昭和64年1月7日", "S64.1.7"),
        (date(1926, 12, 25), "昭和元年12月25日", "S1.12.25"),
        (date(1926, 12, 24), "大正15年12月24日", "T15.12.24"),
        (date(1912, 7, 30), "大正元年7月30日", "T1.7.30"),
        (date(1912, 7, 29), "明治45年7月29日", "M45.7.29"),
        (date(1873, 1, 1), "明治6年1月1日", "M6.1.1"),
        (date(1982, 4, 1), "昭和57年4月1日", "S57.4.1"),
    ],
)
def test_format_wareki_long_and_short(d, long, short):
    assert format_wareki(d) == long
    assert format_wareki(d, "long") == long
    assert format_wareki(d, style="short") == short


@pytest.mark.parametrize("d", [date(1873, 1, 1), date(1912, 7, 29), date(1989, 1, 8), date(2019, 5, 1), date(2025, 4, 1)])
def test_formatted_wareki_reads_back(d):
    assert parse_date(format_wareki(d)) == d
    assert parse_date(format_wareki(d, "short")) == d


def test_format_wareki_rejects_an_unknown_style():
    with pytest.raises(ValueError):
        format_wareki(date(2025, 4, 1), "medium")


def test_format_wareki_refuses_dates_before_meiji_6():
    with pytest.raises(DateError):
        format_wareki(date(1872, 12, 31))


def test_format_both_shows_wareki_beside_the_western_date():
    assert format_both(date(2025, 4, 1)) == "令和7年4月1日 (2025-04-01)"
    assert format_both(date(2019, 5, 1)) == "令和元年5月1日 (2019-05-01)"


def test_formatting_accepts_a_datetime_as_its_date():
    assert format_both(datetime(2025, 4, 1, 23, 59)) == "令和7年4月1日 (2025-04-01)"


@pytest.mark.parametrize(
    "d, era",
    [
        (date(2025, 4, 1), ("令和", "R", 7)),
        (date(2019, 4, 30), ("平成", "H", 31)),
        (date(2019, 5, 1), ("令和", "R", 1)),
        (date(1926, 12, 25), ("昭和", "S", 1)),
        (date(1912, 7, 29), ("明治", "M", 45)),
    ],
)
def test_era_of_gives_name_letter_and_year(d, era):
    result = era_of(d)
    assert tuple(result) == era
    assert (result.name, result.letter, result.year) == era


# --- 年度 ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, fy",
    [
        (date(2026, 3, 31), 2025),
        (date(2026, 4, 1), 2026),
        (date(2025, 4, 1), 2025),
        (date(2025, 3, 31), 2024),
        (date(2025, 12, 31), 2025),
        (date(2026, 1, 1), 2025),
        (date(2024, 2, 29), 2023),
    ],
)
def test_fiscal_year_runs_april_to_march(d, fy):
    assert fiscal_year(d) == fy


def test_fiscal_year_bounds():
    assert fiscal_year_bounds(2025) == (date(2025, 4, 1), date(2026, 3, 31))


@pytest.mark.parametrize(
    "fy, label",
    [
        (2025, "令和7年度"),
        (2020, "令和2年度"),
        (2019, "令和元年度"),  # 令和 from 5月1日: most of the 年度
        (2018, "平成30年度"),
        (1989, "平成元年度"),
        (1988, "昭和63年度"),  # 平成 only from 1月8日
        (1926, "大正15年度"),
        (1927, "昭和2年度"),
        (1912, "大正元年度"),
        (1911, "明治44年度"),
    ],
)
def test_fiscal_year_label_takes_the_era_of_most_of_the_year(fy, label):
    assert fiscal_year_label(fy) == label


# --- age: the legal rule ------------------------------------------------------

@pytest.mark.parametrize(
    "birth, on, age",
    [
        (date(2000, 4, 1), date(2020, 3, 31), 20),
        (date(2000, 4, 1), date(2020, 3, 30), 19),
        (date(2000, 4, 2), date(2020, 4, 1), 20),
        (date(2000, 4, 2), date(2020, 3, 31), 19),
        (date(2000, 3, 1), date(2001, 2, 28), 1),
        (date(2000, 3, 1), date(2001, 2, 27), 0),
        (date(2000, 3, 1), date(2004, 2, 29), 4),
        (date(2000, 3, 1), date(2004, 2, 28), 3),
        (date(2000, 1, 1), date(2000, 12, 31), 1),
        (date(2000, 1, 1), date(2000, 12, 30), 0),
        (date(2000, 1, 1), date(2000, 1, 1), 0),
    ],
)
def test_a_year_is_gained_on_the_day_before_the_birthday(birth, on, age):
    assert age_at(birth, on) == age


@pytest.mark.parametrize(
    "on, age",
    [
        (date(2001, 2, 27), 0),
        (date(2001, 2, 28), 1),  # common year: the year ends with 2月28日
        (date(2001, 3, 1), 1),
        (date(2004, 2, 27), 3),
        (date(2004, 2, 28), 4),  # leap year: the day before 2月29日
        (date(2004, 2, 29), 4),
    ],
)
def test_february_29_births_gain_the_year_on_february_28(on, age):
    assert age_at(date(2000, 2, 29), on) == age


def test_age_before_birth_is_an_error():
    with pytest.raises(ValueError):
        age_at(date(2000, 4, 1), date(2000, 3, 31))


def test_age_at_takes_datetimes_as_dates():
    assert age_at(datetime(2000, 4, 1, 12), datetime(2020, 3, 31, 0, 1)) == 20


# --- age bases and birth ranges (DOMAIN.md 5.3) ---------------------------------

def test_year_end_basis_range_for_r7_age_20():
    assert birth_range_for_age(20, 2025, "year_end") == (date(2005, 4, 1), date(2006, 3, 31))
    assert birth_range_for_age(20, 2025) == (date(2005, 4, 1), date(2006, 3, 31))


def test_year_start_basis_range_for_r7_age_20():
    assert birth_range_for_age(20, 2025, "year_start") == (date(2004, 4, 2), date(2005, 4, 1))


def test_kanoya_r6_age_20_is_h16_4_1_to_h17_3_31():
    first, last = birth_range_for_age(20, 2024, "year_end")
    assert (format_wareki(first), format_wareki(last)) == ("平成16年4月1日", "平成17年3月31日")


def test_obanazawa_r7_age_20_is_h16_4_2_to_h17_4_1():
    first, last = birth_range_for_age(20, 2025, "year_start")
    assert (format_wareki(first), format_wareki(last)) == ("平成16年4月2日", "平成17年4月1日")


@pytest.mark.parametrize(
    "birth, age",
    [
        (date(2005, 4, 1), 20),
        (date(2006, 3, 31), 20),
        (date(2006, 4, 1), 19),  # birthday in the next 年度
        (date(2005, 3, 31), 21),
        (date(1984, 2, 29), 42),
    ],
)
def test_age_at_fiscal_year_end_is_the_age_reached_on_the_birthday_in_the_year(birth, age):
    assert age_at_fiscal_year_end(birth, 2025) == age


@pytest.mark.parametrize(
    "birth, age",
    [
        (date(2005, 4, 1), 20),  # reached at the end of 2025-03-31, before the 年度 begins
        (date(2004, 4, 2), 20),
        (date(2004, 4, 1), 21),
        (date(2005, 4, 2), 19),
    ],
)
def test_age_at_fiscal_year_start_is_the_age_already_reached_on_april_1(birth, age):
    assert age_at_fiscal_year_start(birth, 2025) == age


@pytest.mark.parametrize("basis", ["year_end", "year_start"])
@pytest.mark.parametrize("fy", [2019, 2024, 2025, 2028])
@pytest.mark.parametrize("age", [0, 20, 40, 69])
def test_birth_range_holds_exactly_the_people_of_that_age(basis, fy, age):
    first, last = birth_range_for_age(age, fy, basis)
    assert age_for_basis(first, fy, basis) == age
    assert age_for_basis(last, fy, basis) == age
    assert age_for_basis(first - timedelta(days=1), fy, basis) == age + 1
    if age > 0:
        assert age_for_basis(last + timedelta(days=1), fy, basis) == age - 1
    else:
        with pytest.raises(ValueError):
            age_for_basis(last + timedelta(days=1), fy, basis)
    assert (last - first).days in (364, 365)


def test_every_birth_day_falls_in_exactly_one_range():
    for basis in ("year_end", "year_start"):
        day = date(1995, 1, 1)
        while day < date(2001, 1, 1):
            age = age_for_basis(day, 2025, basis)
            first, last = birth_range_for_age(age, 2025, basis)
            assert first <= day <= last, (basis, day)
            day += timedelta(days=1)


def test_year_start_basis_is_age_at_on_march_31():
    day = date(1996, 1, 1)
    while day < date(2000, 1, 1):
        assert age_for_basis(day, 2025, "year_start") == age_at(day, date(2025, 3, 31))
        day += timedelta(days=1)


def test_unknown_age_basis_is_an_error():
    with pytest.raises(ValueError):
        birth_range_for_age(20, 2025, "birthday")
    with pytest.raises(ValueError):
        age_for_basis(date(2000, 1, 1), 2025, "birthday")


def test_negative_age_is_an_error():
    with pytest.raises(ValueError):
        birth_range_for_age(-1, 2025)


# --- Japan time ---------------------------------------------------------------

def test_jst_is_asia_tokyo():
    assert str(dates.JST) == "Asia/Tokyo"


def test_now_utc_is_naive_utc():
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    now = dates.now_utc()
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    assert now.tzinfo is None
    assert before <= now <= after


def test_to_jst_reads_naive_as_utc_and_adds_nine_hours():
    shown = dates.to_jst(datetime(2025, 3, 31, 15, 0))
    assert shown.utcoffset() == timedelta(hours=9)
    assert (shown.year, shown.month, shown.day, shown.hour) == (2025, 4, 1, 0)


def test_to_jst_converts_aware_datetimes():
    shown = dates.to_jst(datetime(2025, 3, 31, 15, 0, tzinfo=timezone.utc))
    assert shown.hour == 0 and shown.day == 1


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        moment = datetime(2025, 3, 31, 15, 30, tzinfo=timezone.utc)  # 2025-04-01 00:30 JST
        return moment.astimezone(tz) if tz else moment.replace(tzinfo=None)


def test_today_jst_is_japan_date_whatever_the_server_zone(monkeypatch):
    monkeypatch.setattr(dates, "datetime", _FrozenDatetime)
    assert dates.today_jst() == date(2025, 4, 1)
    assert fiscal_year(dates.today_jst()) == 2025


# --- dates as a clerk keys them from paper (screens only; files keep to FORMATS.md) ---------

KEYED_TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("S30/7/1", date(1955, 7, 1)),
        ("s30/07/01", date(1955, 7, 1)),
        ("昭和30/7/1", date(1955, 7, 1)),
        ("S300701", date(1955, 7, 1)),
        ("Ｓ３００７０１", date(1955, 7, 1)),  # full width
        ("H010108", date(1989, 1, 8)),
        ("R080102", date(2026, 1, 2)),
        ("8.10.3", date(2026, 10, 3)),  # bare: the era in force today (令和)
        ("8/10/3", date(2026, 10, 3)),
        ("８．１０．３", date(2026, 10, 3)),
        ("元.5.1", date(2019, 5, 1)),
        # and everything parse_date reads
        ("R8.10.3", date(2026, 10, 3)),
        ("S35.5.10", date(1960, 5, 10)),
        ("2026-10-03", date(2026, 10, 3)),
        ("令和8年10月3日", date(2026, 10, 3)),
    ],
)
def test_keyed_dates_read_the_short_forms_of_the_desk(text, expected):
    assert dates.parse_keyed_date(text, today=KEYED_TODAY) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("S301301", "存在しない日付です"),
        ("H310501", "平成31年は4月30日までです"),
        ("8.2.30", "存在しない日付です"),
        ("8.10", "日付として読めません"),
        ("8.10/3", "日付として読めません"),  # one separator throughout
        ("S3007011", "日付として読めません"),
        ("300701", "日付として読めません"),  # YYMMDD needs its era letter
        ("R0.1.1", "令和0年はありません"),
    ],
)
def test_keyed_dates_refuse_what_they_cannot_read_with_the_reason(text, reason):
    with pytest.raises(DateError) as err:
        dates.parse_keyed_date(text, today=KEYED_TODAY)
    assert str(err.value) == reason


def test_a_bare_date_takes_the_era_in_force_on_the_day():
    assert dates.current_era(date(2019, 4, 30)).name == "平成"
    assert dates.parse_keyed_date("31.4.30", today=date(2019, 4, 30)) == date(2019, 4, 30)
    assert dates.parse_keyed_date("7.6.2", today=KEYED_TODAY) == date(2025, 6, 2)


@pytest.mark.parametrize("text", ["S30/7/1", "S300701", "8.10.3", "8/10/3"])
def test_files_do_not_read_the_desk_forms(text):
    # FORMATS.md "Dates" is the contract of files: the desk's shorthand stays on screens
    with pytest.raises(DateError):
        parse_date(text)
