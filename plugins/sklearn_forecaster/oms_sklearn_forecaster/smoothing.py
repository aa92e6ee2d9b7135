"""The local member: exponential smoothing of each series, with one set of parameters for all.

Holt-Winters with a damped trend on log(y + offset), so the season multiplies
and zeros are allowed. Each series follows its own level, trend and season
(what a global model is slow to see: a product whose growth has just slowed),
while the smoothing parameters are shared, so there is nothing to fit per series
and all series are smoothed at once, one period at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .panel import Panel


@dataclass(frozen=True)
class SmoothingMember:
    level: float = 0.3  # alpha
    season: float = 0.2  # gamma
    trend: float = 0.05  # beta
    damping: float = 0.9  # phi
    offset: float = 1.0  # units added before the log, as in the linear member

    def reach(self, season_length: int) -> int:
        return 0


def _first_season(logged: np.ndarray, starts: np.ndarray, end: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series' level (mean of its first season) and season (its deviations from it;
    none for a series shorter than a season)."""
    rows = np.arange(len(starts))
    periods = np.minimum(starts[:, None] + np.arange(m)[None, :], end)
    first = logged[rows[:, None], periods]
    first = np.where(periods >= starts[:, None], first, np.nan)
    level = np.nanmean(np.where(np.isnan(first).all(axis=1)[:, None], 0.0, first), axis=1)
    season = np.zeros((len(starts), m))
    whole_season = starts + m <= end + 1
    deviations = np.where(whole_season[:, None], np.nan_to_num(first - level[:, None]), 0.0)
    np.put_along_axis(season, periods % m, deviations, axis=1)
    return level, season


def fit_predict(panel: Panel, horizon: int, end: int, member: SmoothingMember,
                rng: np.random.Generator) -> np.ndarray | None:
    """Smooth every series up to period `end` and forecast `horizon` steps from there.

    Returns series x steps divided by the scale at `end` (0 where it is 0).
    """
    m = panel.season_length
    starts = np.maximum(panel.starts, 0)
    logged = np.log(panel.values[:, panel.pad:panel.pad + end + 1] + member.offset)
    level, season = _first_season(logged, starts, end, m)
    trend = np.zeros(len(starts))
    for period in range(int(starts.min(initial=end)) + m, end + 1):
        value, phase = logged[:, period], period % m
        updating = period >= starts + m
        expected = level + member.damping * trend
        new_level = member.level * (value - season[:, phase]) + (1 - member.level) * expected
        new_trend = member.trend * (new_level - level) + (1 - member.trend) * member.damping * trend
        new_season = member.season * (value - new_level) + (1 - member.season) * season[:, phase]
        level = np.where(updating, new_level, level)
        trend = np.where(updating, new_trend, trend)
        season[:, phase] = np.where(updating, new_season, season[:, phase])
    damped = np.cumsum(member.damping ** np.arange(1, horizon + 1))
    phases = (end + np.arange(1, horizon + 1)) % m
    forecast = np.exp(level[:, None] + damped[None, :] * trend[:, None] + season[:, phases]) - member.offset
    scale = panel.scale_at(end)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale[:, None] > 0, np.maximum(forecast, 0.0) / scale[:, None], 0.0)
