"""A global scikit-learn forecaster: one model learns from every product's history at once.

All series passed in one call end at the same period (the core's convention), so
they share one time axis and one season phase. Values are divided by each
series' scale (its mean over the last season) so that one model serves products
selling 0.2 or 2,000 a week. `ensemble` holds the models (global ridge regressions
and gradient-boosted trees, and exponential smoothing with shared parameters,
weighted by how well each forecast a hidden last stretch), `intervals` the
intervals. Series that never sold (or have no history) are forecast 0; when the
call holds too little history for the global models to learn from, each series
gets the mean of its history, flat, with an interval from its own spread.

This module is what every web worker loads to list the forecaster, so it imports
nothing heavy: numpy and scikit-learn (about 100 MB and 1 s per process) are
imported by `forecast()` from `model`, in the process that runs a forecast.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from oms_core.hookspecs import hookimpl
from oms_core.protocols import SeriesForecast


def _checked(key: str, values: Sequence[float]) -> list[float]:
    values = [float(value) for value in values]
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"series {key!r} holds a value that is not a finite number")
    if any(value < 0 for value in values):
        raise ValueError(f"series {key!r} holds a negative demand")
    return values


class SklearnGlobal:
    id = "sklearn_global"
    label = "Global machine-learning model (scikit-learn), all products at once"

    def forecast(self, series: Mapping[str, Sequence[float]], horizon: int, season_length: int,
                 level: float = 0.8) -> dict[str, SeriesForecast]:
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError("horizon must be a whole number of at least 1")
        if not isinstance(season_length, int) or season_length < 1:
            raise ValueError("season_length must be a whole number of at least 1")
        if not 0 < level < 1:
            raise ValueError("level must be between 0 and 1")
        keys = list(series)
        values = [_checked(key, series[key]) for key in keys]
        if not keys:
            return {}
        from . import model  # the heavy imports, only where a forecast runs
        return model.forecast(keys, values, horizon, season_length, level)


@hookimpl
def register_forecasters():
    return [SklearnGlobal()]
