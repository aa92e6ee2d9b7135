"""The members of the ensemble, chosen from the data's shape, and how they are combined.

Three kinds of model, each strong where the others are weak: ridge regressions on
the log of long windows (global: one set of weights for all series; smooth series
with trend and season, like monthly turnover), Poisson gradient-boosted trees with
calendar features (global; intermittent counts, like a small shop's weekly sales)
and exponential smoothing with shared parameters (local: each series' own level
and trend, quick to see a change of pace). All are fitted a first time with the
last `horizon` periods hidden; their forecasts of that hidden stretch choose the
weights of the combination (lowest scaled squared error, so the combination aims
at the mean) and give the errors the intervals are made from. Then all are
fitted on everything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import linear, smoothing, trees
from .panel import Panel

KINDS = ("linear", "trees", "smoothing")
STEP = 0.1  # weights are tried on a grid of this step, summing to 1


@dataclass(frozen=True)
class Plan:
    linear: tuple[linear.LinearMember, ...]
    trees: tuple[trees.TreeMember, ...]
    smoothing: tuple[smoothing.SmoothingMember, ...]

    def members(self, kind: str) -> tuple:
        return getattr(self, kind)

    def reach(self, season_length: int) -> int:
        return max(member.reach(season_length) for kind in KINDS for member in self.members(kind))


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
    return Plan(linear=tuple(by_size), trees=(tree,), smoothing=(smoothing.SmoothingMember(),))


MODULES = {"linear": linear, "trees": trees, "smoothing": smoothing}


@dataclass
class Fitted:
    """Each kind's forecast from one origin (series x steps, in the series' units; None if
    it had too little to learn from)."""

    forecasts: dict[str, np.ndarray | None]

    def available(self) -> list[str]:
        return [kind for kind in KINDS if self.forecasts[kind] is not None]

    def combined(self, weights: dict[str, float]) -> np.ndarray:
        return sum(weight * self.forecasts[kind] for kind, weight in weights.items() if weight)


def _mean_of(forecasts: list) -> np.ndarray | None:
    forecasts = [forecast for forecast in forecasts if forecast is not None]
    return np.mean(forecasts, axis=0) if forecasts else None


def fit(panel: Panel, plan: Plan, horizon: int, end: int, seed: int = 0) -> Fitted:
    """Every member learns from targets up to period `end` and forecasts from it."""
    rng = np.random.default_rng(seed)
    scale = panel.scale_at(end)[:, None]
    forecasts = {}
    for kind in KINDS:
        ratio = _mean_of([MODULES[kind].fit_predict(panel, horizon, end, member, rng)
                          for member in plan.members(kind)])
        forecasts[kind] = None if ratio is None else ratio * scale
    return Fitted(forecasts)


def weight_grid(kinds: list[str]) -> list[dict[str, float]]:
    """Every split of 1 between the kinds in steps of STEP."""
    steps = round(1 / STEP)
    if len(kinds) == 1:
        return [{kinds[0]: 1.0}]
    return [{kinds[0]: share * STEP, **{kind: weight * (1 - share * STEP) for kind, weight in rest.items()}}
            for share in range(steps + 1) for rest in weight_grid(kinds[1:])]


def equal_weights(fitted: Fitted) -> dict[str, float]:
    kinds = fitted.available()
    return {kind: 1 / len(kinds) for kind in kinds}


def best_weights(fitted: Fitted, actual: np.ndarray, noise: np.ndarray) -> dict[str, float]:
    """The weights whose combination erred least on the hidden stretch (squared errors / noise)."""
    scored = ~np.isnan(actual).any(axis=1) & (noise > 0)
    if not scored.any():
        return equal_weights(fitted)

    def error(weights: dict[str, float]) -> float:
        scaled = (fitted.combined(weights)[scored] - actual[scored]) / noise[scored, None]
        return float(np.mean(scaled ** 2))

    return min(weight_grid(fitted.available()), key=error)
