"""Back-testing: hide the last season, forecast it, score each forecaster.

Every forecaster sees the same training series (cut at the same period, as the
contract expects) and is scored on the same hold-out, so the figures compare
like with like. Series too short to leave `min_history` periods of training are
left out and counted. A forecaster that fails or answers badly is reported and
left out; the others are still scored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Mapping, Sequence

from ..protocols import Forecaster
from .metrics import Scores, SeriesScore, aggregate, score_series

# How far below its nominal level an interval's back-test coverage may fall and
# still count as honest (an 80% interval covering 65% of a year of weeks).
COVERAGE_SLACK = 0.15


@dataclass
class Backtest:
    holdout: int
    level: float
    skipped: int  # series too short to back-test
    overall: dict[str, Scores] = field(default_factory=dict)  # forecaster id -> scores
    failed: dict[str, str] = field(default_factory=dict)  # forecaster id -> what went wrong
    per_series: dict[Hashable, dict[str, SeriesScore]] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        """The forecaster with the lowest mean MASE (WAPE where no series has one) among
        those whose intervals are honest: covering at least `level` - COVERAGE_SLACK of
        the hold-out. Safety stock comes from the interval, so a sharp point forecast
        with intervals that miss would run the shop out of stock. If none is honest,
        the lowest error wins anyway."""
        def error(item):
            scores = item[1]
            if scores.mase is not None:
                return (0, scores.mase)
            return (1, scores.wape if scores.wape is not None else float("inf"))

        def honest(item):
            coverage = item[1].coverage
            return coverage is not None and coverage >= self.level - COVERAGE_SLACK

        candidates = [item for item in self.overall.items() if honest(item)] or list(self.overall.items())
        return min(candidates, key=error)[0] if candidates else None


def run(series: Mapping[Hashable, Sequence[float]], forecasters: Sequence[Forecaster], *,
        season_length: int, holdout: int, level: float, min_history: int,
        check: Callable[[Forecaster, Mapping, Sequence, int], Mapping] = lambda f, answers, keys, h: answers,
        on_forecaster: Callable[[str], None] = lambda forecaster_id: None) -> Backtest:
    """`check(forecaster, answers, keys, horizon)` returns the answers cleaned, or raises."""
    if holdout < 1:
        raise ValueError("the hold-out must be at least one period")
    train = {key: list(values[:-holdout]) for key, values in series.items()
             if len(values) - holdout >= max(1, min_history)}
    result = Backtest(holdout=holdout, level=level, skipped=len(series) - len(train))
    if not train:
        return result
    actual = {key: list(series[key][-holdout:]) for key in train}
    for forecaster in forecasters:
        try:
            answers = check(forecaster, forecaster.forecast(
                train, horizon=holdout, season_length=season_length, level=level), list(train), holdout)
        except Exception as exc:  # noqa: BLE001 - one plugin's failure must not hide the others' scores
            result.failed[forecaster.id] = str(exc) or type(exc).__name__
            on_forecaster(forecaster.id)
            continue
        scores = {key: score_series(train[key], actual[key], answers[key], season_length) for key in train}
        for key, score in scores.items():
            result.per_series.setdefault(key, {})[forecaster.id] = score
        result.overall[forecaster.id] = aggregate(scores.values())
        on_forecaster(forecaster.id)
    return result
