"""Days the city office is closed: weekends, national holidays (祝日) and 年末年始 (12/29–1/3).

The national holidays are a short table for the years the reviews look at (published each
February by the Cabinet Office for the next year; 春分・秋分 are fixed then). Add the next year's
row each spring; `extra` (configuration) adds or covers days the table lacks.
"""
from __future__ import annotations

from datetime import date

NATIONAL_HOLIDAYS: dict[int, tuple[str, ...]] = {
    2025: ("01-01", "01-13", "02-11", "02-23", "02-24", "03-20", "04-29", "05-03", "05-04",
           "05-05", "05-06", "07-21", "08-11", "09-15", "09-23", "10-13", "11-03", "11-23",
           "11-24"),
    2026: ("01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05",
           "05-06", "07-20", "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"),
    2027: ("01-01", "01-11", "02-11", "02-23", "03-21", "03-22", "04-29", "05-03", "05-04",
           "05-05", "07-19", "08-11", "09-20", "09-23", "10-11", "11-03", "11-23"),
}

_HOLIDAYS = frozenset(date.fromisoformat(f"{year}-{md}")
                      for year, days in NATIONAL_HOLIDAYS.items() for md in days)


def is_year_end_break(day: date) -> bool:
    """年末年始: December 29 to January 3 (the city office's closing days)."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_office_day(day: date, extra: frozenset[date] | set[date] = frozenset()) -> bool:
    """A weekday that is no 祝日, not in 年末年始 and not in the configured extra closed days."""
    return (day.weekday() < 5 and day not in _HOLIDAYS and not is_year_end_break(day)
            and day not in extra)

