"""The tree member: gradient-boosted trees with the step as a feature.

One model answers every step: a row is (series, origin, step) and says how far
ahead its target is, which season phase the target falls in (the calendar), what
the series did at that phase one and two seasons before, its recent values and
the means over a few windows, all divided by the series' scale at the origin,
and that scale itself (a product selling two a week is noisier than one selling
two hundred). The loss is Poisson (a log link): forecasts are never negative and seasonal
effects multiply, which suits intermittent counts as well as smooth series.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from .panel import Panel


@dataclass(frozen=True)
class TreeMember:
    recent_lags: int  # y[t], y[t-1], ...
    windows: tuple[int, ...]  # means over the last w periods
    history_seasons: int  # origins from the last few seasons only
    max_rows: int  # a random sample of the (series, origin, step) rows, for speed
    seasonal_lags: int = 2  # the target's phase, 1, 2, ... seasons before it
    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20

    def reach(self, season_length: int) -> int:
        return max(self.recent_lags, season_length * (self.seasonal_lags + 1), *self.windows)


def features(panel: Panel, member: TreeMember, rows: np.ndarray, origins: np.ndarray, steps: np.ndarray,
             scale: np.ndarray) -> np.ndarray:
    """One row per (series, origin, step); values divided by `scale` (> 0)."""
    m = panel.season_length
    rows, origins, steps, scale = rows[:, None], origins[:, None], steps[:, None], scale[:, None]
    recent = panel.at(rows, origins - np.arange(member.recent_lags)[None, :])
    seasons_back = -(-steps // m) + np.arange(member.seasonal_lags)[None, :]  # ceil(step/m), +1, ...
    seasonal = panel.at(rows, origins + steps - m * seasons_back)
    means = [panel.window_mean(rows[:, 0], origins[:, 0], width)[:, None] for width in member.windows]
    phase = (origins + steps) % m
    return np.hstack([recent / scale, seasonal / scale, *(mean / scale for mean in means),
                      phase, steps, np.log1p(scale)]).astype(float)


def training_rows(panel: Panel, horizon: int, end: int, member: TreeMember,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(series, origin, step) triples with a known target at most `end` and a scale > 0."""
    first_origin = max(0, end - horizon - member.history_seasons * panel.season_length)
    grids = np.meshgrid(np.arange(len(panel)), np.arange(first_origin, end), np.arange(1, horizon + 1),
                        indexing="ij")
    rows, origins, steps = (grid.ravel() for grid in grids)
    keep = (origins + steps <= end) & (origins >= panel.starts[rows])
    rows, origins, steps = rows[keep], origins[keep], steps[keep]
    if len(rows) > member.max_rows:
        chosen = np.sort(rng.choice(len(rows), member.max_rows, replace=False))
        rows, origins, steps = rows[chosen], origins[chosen], steps[chosen]
    return rows, origins, steps


def fit_predict(panel: Panel, horizon: int, end: int, member: TreeMember,
                rng: np.random.Generator) -> np.ndarray | None:
    """Forecast every series from origin `end`, learning from targets up to `end`.

    Returns series x steps divided by the scale at `end` (0 where it is 0), or
    None when the past holds too few rows to learn from.
    """
    rows, origins, steps = training_rows(panel, horizon, end, member, rng)
    scale = panel.scale(rows, origins)
    usable = scale > 0
    if usable.sum() < 2 * member.min_samples_leaf:
        return None
    rows, origins, steps, scale = rows[usable], origins[usable], steps[usable], scale[usable]
    model = HistGradientBoostingRegressor(
        loss="poisson", max_iter=member.max_iter, learning_rate=member.learning_rate,
        max_leaf_nodes=member.max_leaf_nodes, min_samples_leaf=member.min_samples_leaf,
        early_stopping=False, random_state=int(rng.integers(2**31)))
    table = features(panel, member, rows, origins, steps, scale)
    known = ~np.isnan(table).all(axis=0)  # a look-back longer than any history is left out
    model.fit(table[:, known], panel.at(rows, origins + steps) / scale)
    scale_now = panel.scale_at(end)
    answer = np.zeros((len(panel), horizon))
    live = np.flatnonzero(scale_now > 0)
    if len(live):
        rows = np.repeat(live, horizon)
        steps = np.tile(np.arange(1, horizon + 1), len(live))
        table = features(panel, member, rows, np.full(len(rows), end), steps, scale_now[rows])
        predicted = model.predict(table[:, known])
        answer[live] = predicted.reshape(len(live), horizon)
    return answer
