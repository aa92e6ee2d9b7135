"""Prediction intervals from out-of-sample errors (split conformal).

The ensemble is fitted once more with the last `horizon` periods hidden and
forecasts them; the errors, divided by each series' own noise (its mean absolute
change from one season to the next), give per step the quantiles that bound the
middle `level` of the errors. An interval is the point forecast plus those
quantiles times the series' noise, so noisy series get wide intervals and the
width grows with the step where the errors do.
"""
from __future__ import annotations

import math

import numpy as np

MIN_ERRORS = 40  # per step; neighbouring steps are pooled until there are this many


def noise(panel_values: np.ndarray, season_length: int) -> np.ndarray:
    """Per series, mean |y[t] - y[t-m]| (lag 1 if shorter than a season + 1); NaN if unknown."""
    answer = np.full(len(panel_values), np.nan)
    for row, values in enumerate(panel_values):
        values = values[~np.isnan(values)]
        lag = season_length if len(values) > season_length else 1
        if len(values) > lag + 1:  # at least two changes to measure
            answer[row] = np.mean(np.abs(values[lag:] - values[:-lag]))
    return answer


def seasonal_changes(panel_values: np.ndarray, season_length: int, horizon: int) -> np.ndarray:
    """Stand-in errors when no forecast could be checked: each series' latest changes
    over one season (the seasonal-naive forecast's errors), or from one period to the
    next for a series with a season or less of history, as many as there are steps."""
    answer = np.full((len(panel_values), horizon), np.nan)
    for row, values in enumerate(panel_values):
        values = values[~np.isnan(values)]
        lag = season_length if len(values) > season_length else 1
        changes = (values[lag:] - values[:-lag])[-horizon:]
        if len(changes):
            answer[row, horizon - len(changes):] = changes
    return answer


def conformal_quantile(errors: np.ndarray, q: float) -> float:
    """The q-quantile of the errors with the finite-sample correction of split conformal."""
    n = len(errors)
    rank = math.ceil((n + 1) * q) if q > 0.5 else math.floor((n + 1) * q)
    return float(np.sort(errors)[min(max(rank, 1), n) - 1])


def error_quantiles(errors: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the lower and upper quantiles of scaled errors (series x steps, NaN = none)."""
    tail = (1 - level) / 2
    horizon = errors.shape[1]
    lower, upper = np.zeros(horizon), np.zeros(horizon)
    for step in range(horizon):
        for spread in range(horizon):
            pooled = errors[:, max(0, step - spread):step + spread + 1]
            pooled = pooled[~np.isnan(pooled)]
            if len(pooled) >= MIN_ERRORS:
                break
        if len(pooled):
            lower[step], upper[step] = conformal_quantile(pooled, tail), conformal_quantile(pooled, 1 - tail)
    return lower, upper
