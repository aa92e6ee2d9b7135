"""Back-test scores for forecasts: MASE, WAPE, bias and interval coverage.

Plain Python (the core does not depend on numpy). One `SeriesScore` per series
over its hold-out keeps sums, not ratios, so `aggregate` can pool WAPE, bias and
coverage across series (big series weigh more), while MASE, scale-free by design,
is the mean of the series' own MASE (M4 definition).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ..protocols import SeriesForecast


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class SeriesScore:
    """One series over its hold-out."""

    mase: Optional[float]  # MAE / in-sample seasonal-naive MAE; None when that scale is 0
    abs_error: float  # sum |f - a|
    abs_actual: float  # sum |a|
    error: float  # sum (f - a): positive means over-forecast
    covered: int  # actuals inside [lower, upper]
    count: int  # hold-out length

    @property
    def wape(self) -> Optional[float]:
        return _ratio(self.abs_error, self.abs_actual)

    @property
    def bias(self) -> Optional[float]:
        return _ratio(self.error, self.abs_actual)

    @property
    def coverage(self) -> float:
        return self.covered / self.count


def naive_scale(history: Sequence[float], season_length: int) -> float:
    """Mean |y[t] - y[t-m]| over the history: the in-sample seasonal-naive error.

    Histories shorter than a season and one point use lag 1; shorter still, 0.
    """
    lag = season_length if len(history) > season_length else 1
    differences = [abs(history[t] - history[t - lag]) for t in range(lag, len(history))]
    return sum(differences) / len(differences) if differences else 0.0


def score_series(history: Sequence[float], actual: Sequence[float], forecast: SeriesForecast,
                 season_length: int) -> SeriesScore:
    """Score a forecast of `actual` (the hold-out that follows `history`)."""
    if season_length < 1:
        raise ValueError("season_length must be at least 1")
    if not actual:
        raise ValueError("the hold-out is empty: nothing to score")
    if not len(forecast.point) == len(forecast.lower) == len(forecast.upper) == len(actual):
        raise ValueError(f"the forecast has {len(forecast.point)} steps, the hold-out {len(actual)}")
    abs_error = sum(abs(f - a) for f, a in zip(forecast.point, actual))
    scale = naive_scale(history, season_length)
    return SeriesScore(
        mase=abs_error / len(actual) / scale if scale else None,
        abs_error=abs_error,
        abs_actual=sum(abs(a) for a in actual),
        error=sum(f - a for f, a in zip(forecast.point, actual)),
        covered=sum(1 for lo, a, hi in zip(forecast.lower, actual, forecast.upper) if lo <= a <= hi),
        count=len(actual),
    )


@dataclass(frozen=True)
class Scores:
    """Many series together: MASE is the mean over series that have one, the rest pooled."""

    mase: Optional[float]
    wape: Optional[float]
    bias: Optional[float]
    coverage: Optional[float]
    series: int


def aggregate(scores: Iterable[SeriesScore]) -> Scores:
    scores = list(scores)
    mases = [score.mase for score in scores if score.mase is not None]
    abs_actual = sum(score.abs_actual for score in scores)
    return Scores(
        mase=sum(mases) / len(mases) if mases else None,
        wape=_ratio(sum(score.abs_error for score in scores), abs_actual),
        bias=_ratio(sum(score.error for score in scores), abs_actual),
        coverage=_ratio(sum(score.covered for score in scores), sum(score.count for score in scores)),
        series=len(scores),
    )
