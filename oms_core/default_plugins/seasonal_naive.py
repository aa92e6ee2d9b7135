"""Seasonal-naive forecasting: next season repeats the last one.

Point forecast for step h: the value one season before (y[t + h - m·k], k the
smallest whole number of seasons that reaches into the history). Intervals come
from the spread of the series' own seasonal differences (y[t] - y[t-m]; with
only one season, the period-to-period ones), an honest empirical quantile that
widens with noise and with the number of seasons ahead. Series shorter than a
season fall back to repeating their mean.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from oms_core.hookspecs import hookimpl
from oms_core.protocols import SeriesForecast


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def forecast_one(history: Sequence[float], horizon: int, season_length: int,
                 level: float) -> SeriesForecast:
    y = [float(v) for v in history]
    m = max(1, season_length)
    if len(y) < m:  # too short for a season: the mean, flat
        mean = sum(y) / len(y) if y else 0.0
        point = [mean] * horizon
        errors = [v - mean for v in y]
    else:
        point = [y[len(y) - m + (h % m)] for h in range(horizon)]
        # Exactly one season has no seasonal differences yet: period-to-period ones
        # stand in, rather than claiming a zero-width interval.
        lag = m if len(y) > m else 1
        errors = [y[t] - y[t - lag] for t in range(lag, len(y))]
    tail = (1 - level) / 2
    low_err, high_err = _quantile(errors, tail), _quantile(errors, 1 - tail)
    lower, upper = [], []
    for h, value in enumerate(point):
        seasons_ahead = math.sqrt(h // m + 1)  # uncertainty grows with each season ahead
        lower.append(max(0.0, value + low_err * seasons_ahead))
        upper.append(max(value, value + high_err * seasons_ahead))
    return SeriesForecast(point=point, lower=lower, upper=upper)


class SeasonalNaive:
    id = "seasonal_naive"
    label = "Seasonal naive (same period last season)"

    def forecast(self, series: Mapping[str, Sequence[float]], horizon: int, season_length: int,
                 level: float = 0.8) -> dict[str, SeriesForecast]:
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        if not 0 < level < 1:
            raise ValueError("level must be between 0 and 1")
        return {key: forecast_one(values, horizon, season_length, level)
                for key, values in series.items()}


@hookimpl(trylast=True)
def register_forecasters():
    return [SeasonalNaive()]
