"""The model behind SklearnGlobal: numpy and scikit-learn live here, imported only
when a forecast runs (see the package's docstring)."""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from oms_core.protocols import SeriesForecast

from . import ensemble, intervals
from .panel import Panel


def _mean_fallback(values: list[float], horizon: int, level: float) -> SeriesForecast:
    """The history's mean, flat, with the middle `level` of its deviations from it."""
    mean = sum(values) / len(values) if values else 0.0
    deviations = np.array([value - mean for value in values] or [0.0])
    tail = (1 - level) / 2
    low, high = (float(value) for value in np.quantile(deviations, [tail, 1 - tail]))
    return SeriesForecast(point=[mean] * horizon, lower=[max(0.0, mean + low)] * horizon,
                          upper=[mean + high] * horizon)


def forecast(keys: list[str], values: list[list[float]], horizon: int, season_length: int,
             level: float) -> dict[str, SeriesForecast]:
    """The forecasts of checked series (see SklearnGlobal.forecast)."""
    # One thread: OpenMP (trees) and BLAS threads spin-wait when other processes hold
    # the cores, and a run measured 2.5 s alone took minutes next to a busy test suite.
    with threadpool_limits(limits=1):
        answer = _forecast_panel(values, horizon, season_length, level)
    if answer is None:
        return {key: _mean_fallback(history, horizon, level) for key, history in zip(keys, values)}
    point, lower, upper = answer
    return {key: SeriesForecast(point=point[row].tolist(), lower=lower[row].tolist(),
                                upper=upper[row].tolist())
            for row, key in enumerate(keys)}


def _forecast_panel(values: list[list[float]], horizon: int, season_length: int,
                    level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(point, lower, upper), each series x steps; None when nothing can be learnt."""
    periods = max(len(history) for history in values)
    if periods == 0:
        return None
    plan = ensemble.plan_for(season_length, periods)
    panel = Panel(values, season_length, plan.reach(season_length))
    end = panel.periods - 1
    final = ensemble.fit(panel, plan, horizon, end)
    if final.forecasts["linear"] is None and final.forecasts["trees"] is None:
        return None  # smoothing alone is no model of the whole: the mean fallback is plainer
    noise = intervals.noise(panel.values, season_length)
    noise = np.where(np.isnan(noise), panel.scale_at(end), noise)  # too short to tell: as big as its level
    weights, errors = _calibrate(panel, plan, horizon, noise)
    weights = {kind: weight for kind, weight in weights.items() if weight > 0 and kind in final.available()}
    if not weights:  # the kinds the hidden stretch preferred could not learn from everything
        weights = ensemble.equal_weights(final)
    point = np.maximum(final.combined(weights) / sum(weights.values()), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = intervals.error_quantiles(errors / np.where(noise > 0, noise, np.nan)[:, None], level)
    lower = np.minimum(np.maximum(point + low * noise[:, None], 0.0), point)
    upper = np.maximum(point + high * noise[:, None], point)
    return point, lower, upper


def _calibrate(panel: Panel, plan: ensemble.Plan, horizon: int,
               noise: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """The kinds' weights and the errors (series x steps, NaN = none) on the last
    `horizon` periods, forecast by the ensemble fitted without them.

    Without enough history for that, equal weights and the seasonal-naive errors.
    """
    cut = panel.periods - 1 - horizon
    calibration = ensemble.fit(panel, plan, horizon, cut) if cut >= 0 else None
    if calibration is None or not calibration.available():
        weights = {kind: 1.0 for kind in ensemble.KINDS}
        return weights, intervals.seasonal_changes(panel.values, panel.season_length, horizon)
    hidden = panel.at(np.arange(len(panel))[:, None], cut + np.arange(1, horizon + 1)[None, :])
    hidden[panel.scale_at(cut) == 0] = np.nan  # not selling yet at the cut: nothing to check
    weights = ensemble.best_weights(calibration, hidden, noise)
    return weights, hidden - calibration.combined(weights)
