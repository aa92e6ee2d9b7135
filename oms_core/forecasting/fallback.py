"""The forecast for products with too little history for any model: their mean.

A few weeks of sales show a level but no trend or season, so the honest forecast
is flat. The interval uses the larger of the sales' own spread and a Poisson
spread (the square root of the mean): with five data points the sample spread
alone can come out at zero and claim a certainty nobody has.
"""
from __future__ import annotations

import math
from statistics import NormalDist, pstdev
from typing import Sequence

from ..protocols import SeriesForecast

METHOD = "fallback_mean"
LABEL = "Average of the sales so far (too little history for a model)"


def z_score(level: float) -> float:
    """The normal quantile of a central interval holding `level` of the mass."""
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + level / 2)


def mean_forecast(history: Sequence[float], horizon: int, level: float) -> SeriesForecast:
    mean = sum(history) / len(history) if history else 0.0
    spread = max(pstdev(history) if len(history) > 1 else 0.0, math.sqrt(mean))
    half_width = z_score(level) * spread
    return SeriesForecast(point=[mean] * horizon, lower=[max(0.0, mean - half_width)] * horizon,
                          upper=[mean + half_width] * horizon)
