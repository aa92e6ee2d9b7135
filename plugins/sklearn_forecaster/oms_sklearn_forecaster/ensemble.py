"""The members of the ensemble, chosen from the data's shape, and how they are combined.

Two kinds of global model, each strong where the other is weak: ridge regressions
on the log of long windows (smooth series with trend and season, like monthly
turnover) and Poisson gradient-boosted trees with calendar features (intermittent
counts, like a small shop's weekly sales). Both are fitted a first time with the
last `horizon` periods hidden; their forecasts of that hidden stretch choose the
weight between them (lowest scaled absolute error) and give the errors the
intervals are made from. Then both are fitted on everything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import linear, trees
from .panel import Panel

WEIGHTS = np.linspace(0.0, 1.0, 11)  # of the linear members; the trees get the rest


@dataclass(frozen=True)
class Plan:
    linear: tuple[linear.LinearMember, ...]
    trees: tuple[trees.TreeMember, ...]

    def reach(self, season_length: int) -> int:
        return max(member.reach(season_length) for member in (*self.linear, *self.trees))


def plan_for(season_length: int, periods: int) -> Plan:
    """Members for this season length and history length (chosen on the tuning years)."""
    m = season_length
    seasons_known = -(-periods // m)
    longest_window = max(m + 1, periods // 2)
    linear_members = {
        linear.LinearMember(lags=min(lag_seasons * m, longest_window),
                            history_seasons=min(history_seasons, seasons_known))
        for lag_seasons, history_seasons in ((4, 5), (4, 7), (7, 10))
    }
    windows = tuple(sorted({width for width in (3, m // 4, m, 2 * m) if width >= 2}))
    tree = trees.TreeMember(recent_lags=min(m, 12), windows=windows, history_seasons=5, max_rows=150_000)
    by_size = sorted(linear_members, key=lambda member: (member.lags, member.history_seasons))
    return Plan(linear=tuple(by_size), trees=(tree,))


@dataclass
class Fitted:
    """Each kind's forecast from one origin (series x steps, in the series' units)."""

    linear: np.ndarray | None
    trees: np.ndarray | None

    def combined(self, weight: float) -> np.ndarray | None:
        if self.linear is None or self.trees is None:
            return self.linear if self.trees is None else self.trees
        return weight * self.linear + (1 - weight) * self.trees


def _mean_of(forecasts: list) -> np.ndarray | None:
    forecasts = [forecast for forecast in forecasts if forecast is not None]
    return np.mean(forecasts, axis=0) if forecasts else None


def fit(panel: Panel, plan: Plan, horizon: int, end: int, seed: int = 0) -> Fitted:
    """Both kinds learn from targets up to period `end` and forecast from it."""
    rng = np.random.default_rng(seed)
    scale = panel.scale_at(end)[:, None]
    ratios = {
        "linear": _mean_of([linear.fit_predict(panel, horizon, end, member, rng) for member in plan.linear]),
        "trees": _mean_of([trees.fit_predict(panel, horizon, end, member, rng) for member in plan.trees]),
    }
    return Fitted(**{kind: None if ratio is None else ratio * scale for kind, ratio in ratios.items()})


def best_weight(fitted: Fitted, actual: np.ndarray, noise: np.ndarray) -> float:
    """The linear weight whose combination erred least on the hidden stretch (errors / noise)."""
    if fitted.linear is None or fitted.trees is None:
        return 1.0 if fitted.trees is None else 0.0
    scored = ~np.isnan(actual).any(axis=1) & (noise > 0)
    if not scored.any():
        return 0.5

    def error(weight: float) -> float:
        return float(np.mean(((fitted.combined(weight)[scored] - actual[scored]) / noise[scored, None]) ** 2))

    return float(min(WEIGHTS, key=error))
