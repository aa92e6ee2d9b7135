"""The linear member: one ridge regression per step on the log of the recent window.

For step h the rows are (series, origin) pairs, the features the last `lags`
values divided by the series' scale at the origin, on a log scale, and the
target the value h periods later on the same scale. A window of a few seasons
lets the regression find the season itself (the weight on lag m - h) and the
trend; one set of weights for all series is what makes it global.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

from .panel import Panel


@dataclass(frozen=True)
class LinearMember:
    lags: int
    history_seasons: int  # origins from the last few seasons only
    max_rows: int = 200_000
    alpha: float = 1.0
    offset: float = 1.0  # units added before the log: zeros stay finite, small counts are damped

    def reach(self, season_length: int) -> int:
        return self.lags


def _log_window(panel: Panel, rows: np.ndarray, origins: np.ndarray, scale: np.ndarray,
                member: LinearMember) -> np.ndarray:
    window = panel.at(rows[:, None], origins[:, None] - np.arange(member.lags)[None, ::-1])
    window = np.where(np.isnan(window), scale[:, None], window)  # before a series starts: at its level
    return np.log(window + member.offset) - np.log(scale[:, None] + member.offset)


def fit_predict(panel: Panel, horizon: int, end: int, member: LinearMember,
                rng: np.random.Generator) -> np.ndarray | None:
    """Forecast every series from origin `end`, learning from targets up to `end`.

    Returns series x steps divided by the scale at `end` (0 where it is 0), or
    None when the past holds too few rows to learn from.
    """
    first_origin = max(0, end - horizon - member.history_seasons * panel.season_length)
    rows, origins = (grid.ravel() for grid in np.meshgrid(np.arange(len(panel)), np.arange(first_origin, end),
                                                          indexing="ij"))
    keep = origins >= panel.starts[rows]
    rows, origins = rows[keep], origins[keep]
    if len(rows) > member.max_rows:
        chosen = np.sort(rng.choice(len(rows), member.max_rows, replace=False))
        rows, origins = rows[chosen], origins[chosen]
    scale = panel.scale(rows, origins)
    rows, origins, scale = rows[scale > 0], origins[scale > 0], scale[scale > 0]
    if len(rows) < 2 * member.lags:
        return None
    window = _log_window(panel, rows, origins, scale, member)
    scale_now = panel.scale_at(end)
    live = np.flatnonzero(scale_now > 0)
    window_now = _log_window(panel, live, np.full(len(live), end), scale_now[live], member)
    answer = np.zeros((len(panel), horizon))
    for step in range(1, horizon + 1):
        usable = origins + step <= end
        if usable.sum() < member.lags + 2:
            return None
        target = (np.log(panel.at(rows[usable], origins[usable] + step) + member.offset)
                  - np.log(scale[usable] + member.offset))
        model = Ridge(alpha=member.alpha).fit(window[usable], target)
        logged = model.predict(window_now) + np.log(scale_now[live] + member.offset)
        answer[live, step - 1] = np.maximum(np.exp(logged) - member.offset, 0.0) / scale_now[live]
    return answer
