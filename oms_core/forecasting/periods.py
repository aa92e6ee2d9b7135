"""Calendar periods of demand: ISO weeks (Monday first) or calendar months."""
from __future__ import annotations

import calendar
from datetime import date, timedelta

# Season length per frequency: the number of periods in a year.
SEASON_LENGTH = {"week": 52, "month": 12}


def check_frequency(frequency: str) -> str:
    if frequency not in SEASON_LENGTH:
        raise ValueError(f"frequency must be one of {', '.join(SEASON_LENGTH)}, not {frequency!r}")
    return frequency


def period_start(day: date, frequency: str) -> date:
    """The first day of the period holding `day`."""
    if check_frequency(frequency) == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def shift(start: date, periods: int, frequency: str) -> date:
    """The start of the period `periods` after the one starting at `start` (negative: before)."""
    if check_frequency(frequency) == "week":
        return start + timedelta(weeks=periods)
    months = start.year * 12 + start.month - 1 + periods
    return date(months // 12, months % 12 + 1, 1)


def period_days(start: date, frequency: str) -> int:
    if check_frequency(frequency) == "week":
        return 7
    return calendar.monthrange(start.year, start.month)[1]


def count_between(first: date, later: date, frequency: str) -> int:
    """How many periods from the one starting at `first` to the one starting at `later`."""
    if check_frequency(frequency) == "week":
        return (later - first).days // 7
    return (later.year - first.year) * 12 + later.month - first.month


def starts(first: date, count: int, frequency: str) -> list[date]:
    return [shift(first, n, frequency) for n in range(count)]
