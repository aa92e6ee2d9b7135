"""The back-test itself, without a database: same cut for every forecaster, short
series left out, a failing forecaster reported, and the fallback's interval."""
from __future__ import annotations

import random

import pytest

from oms_core.default_plugins.seasonal_naive import SeasonalNaive
from oms_core.forecasting import backtest, fallback
from oms_core.protocols import SeriesForecast


class Recording:
    """Forecasts the last value and remembers what it was shown."""

    id, label = "last_value", "Last value"

    def __init__(self):
        self.seen = None

    def forecast(self, series, horizon, season_length, level=0.8):
        self.seen = {key: list(values) for key, values in series.items()}
        return {key: SeriesForecast([values[-1]] * horizon, [values[-1]] * horizon, [values[-1]] * horizon)
                for key, values in series.items()}


class Exploding:
    id, label = "exploding", "Raises"

    def forecast(self, series, horizon, season_length, level=0.8):
        raise RuntimeError("model diverged")


SEASON = [1.0, 5.0, 9.0, 5.0]


def test_every_forecaster_sees_the_same_cut_and_short_series_are_left_out():
    recording = Recording()
    series = {"long": SEASON * 4, "short": [3.0, 4.0, 5.0, 6.0, 7.0]}
    result = backtest.run(series, [SeasonalNaive(), recording], season_length=4, holdout=4, level=0.8,
                          min_history=4)
    assert result.skipped == 1 and set(result.per_series) == {"long"}
    assert recording.seen == {"long": SEASON * 3}
    naive = result.per_series["long"]["seasonal_naive"]
    assert naive.abs_error == 0 and naive.coverage == 1.0  # the season repeats exactly
    assert result.overall["last_value"].mase is None  # a perfect season leaves MASE no scale
    assert result.overall["last_value"].wape > 0
    assert result.best == "seasonal_naive"


def test_a_failing_forecaster_is_reported_and_the_others_scored():
    result = backtest.run({"a": SEASON * 3}, [Exploding(), SeasonalNaive()], season_length=4, holdout=4,
                          level=0.8, min_history=4)
    assert result.failed == {"exploding": "model diverged"}
    assert set(result.overall) == {"seasonal_naive"}


def test_nothing_long_enough_means_no_best():
    result = backtest.run({"a": [1.0, 2.0]}, [SeasonalNaive()], season_length=4, holdout=4, level=0.8,
                          min_history=1)
    assert result.best is None and result.skipped == 1


def test_fallback_is_flat_with_a_poisson_floor_on_its_spread():
    steady = fallback.mean_forecast([4.0, 4.0, 4.0, 4.0], horizon=3, level=0.8)
    assert steady.point == [4.0] * 3
    # No spread in the sales themselves, yet the interval is not a point: sqrt(4) = 2 units.
    assert steady.upper[0] - steady.point[0] == pytest.approx(1.2816 * 2, abs=1e-3)
    assert fallback.mean_forecast([], horizon=2, level=0.8).point == [0.0, 0.0]
    wide = fallback.mean_forecast([0.0, 20.0, 0.0, 20.0], horizon=1, level=0.8)
    assert wide.lower == [0.0] and wide.upper[0] > 20.0


class MeanWithin:
    """The series' mean with an interval of +- `width` (0: a point claiming certainty)."""

    label = "Mean"

    def __init__(self, width: float):
        self.id, self.width = f"mean_within_{width}", width

    def forecast(self, series, horizon, season_length, level=0.8):
        answer = {}
        for key, values in series.items():
            mean = sum(values) / len(values)
            answer[key] = SeriesForecast([mean] * horizon, [mean - self.width] * horizon,
                                         [mean + self.width] * horizon)
        return answer


def test_the_best_needs_honest_intervals_not_only_the_lowest_error():
    rng = random.Random(5)
    noise = {f"s{n}": [10.0 + rng.uniform(-4, 4) for _ in range(24)] for n in range(5)}
    overconfident = backtest.run(noise, [SeasonalNaive(), MeanWithin(0.0)], season_length=4, holdout=8,
                                 level=0.8, min_history=4)
    assert overconfident.overall["mean_within_0.0"].mase < overconfident.overall["seasonal_naive"].mase
    assert overconfident.overall["mean_within_0.0"].coverage == 0.0
    assert overconfident.best == "seasonal_naive"
    honest = backtest.run(noise, [SeasonalNaive(), MeanWithin(3.5)], season_length=4, holdout=8, level=0.8,
                          min_history=4)
    assert honest.overall["mean_within_3.5"].coverage >= 0.65
    assert honest.best == "mean_within_3.5"
