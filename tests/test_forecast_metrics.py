"""Back-test scores worked out by hand: MASE (M4 scale), WAPE and bias pooled, coverage."""
from __future__ import annotations

import pytest

from oms_core.forecasting.metrics import Scores, aggregate, naive_scale, score_series
from oms_core.protocols import SeriesForecast

# Seasonal differences |y[t] - y[t-4]| are 1, 1, 1, 1: the scale is 1.
HISTORY = [1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 5.0]


def forecast(point, lower=None, upper=None) -> SeriesForecast:
    return SeriesForecast(point=point, lower=lower or point, upper=upper or point)


def test_one_series_by_hand():
    score = score_series(HISTORY, [3.0, 4.0], forecast([2.0, 6.0], [1.0, 5.0], [4.0, 7.0]), 4)
    assert score.abs_error == 3.0  # |2-3| + |6-4|
    assert score.mase == 1.5  # MAE 1.5 over a scale of 1
    assert score.abs_actual == 7.0
    assert score.error == 1.0  # -1 + 2: over-forecast overall
    assert score.covered == 1 and score.count == 2  # 3 in [1, 4]; 4 not in [5, 7]
    assert score.wape == pytest.approx(3 / 7)
    assert score.bias == pytest.approx(1 / 7)
    assert score.coverage == 0.5


def test_the_scale_is_the_seasonal_naive_error_over_the_history():
    assert naive_scale(HISTORY, 4) == 1.0
    assert naive_scale([0.0, 10.0, 0.0, 10.0, 0.0, 20.0], 2) == 2.5  # |0-0|, |10-10|, |0-0|, |20-10|


def test_a_history_shorter_than_a_season_uses_lag_one():
    assert naive_scale([2.0, 5.0, 4.0], 4) == 2.0  # (3 + 1) / 2
    assert naive_scale([2.0, 5.0, 4.0, 4.0], 4) == pytest.approx(4 / 3)  # four points: still no m+1
    score = score_series([2.0, 5.0, 4.0], [4.0], forecast([5.0]), 4)
    assert score.mase == 0.5


@pytest.mark.parametrize("history", [[7.0] * 12, [3.0], []])
def test_no_mase_when_the_history_has_no_scale(history):
    score = score_series(history, [7.0, 8.0], forecast([7.0, 7.0]), 4)
    assert score.mase is None
    assert score.abs_error == 1.0


def test_all_zero_hold_out_has_no_wape_or_bias():
    score = score_series(HISTORY, [0.0, 0.0], forecast([1.0, 0.0]), 4)
    assert score.wape is None and score.bias is None
    assert score.coverage == 0.5  # the interval [0, 0] holds the second zero, [1, 1] misses the first


def test_aggregate_means_mase_and_pools_the_rest():
    first = score_series(HISTORY, [3.0, 4.0], forecast([2.0, 6.0], [1.0, 5.0], [4.0, 7.0]), 4)
    flat = score_series([5.0] * 8, [1.0, 2.0], forecast([0.0, 1.0], [0.0, 0.0], [2.0, 3.0]), 4)
    assert flat.mase is None
    total = aggregate([first, flat])
    assert total == Scores(mase=1.5, wape=pytest.approx(5 / 10), bias=pytest.approx(-1 / 10),
                           coverage=0.75, series=2)


def test_aggregate_of_nothing():
    assert aggregate([]) == Scores(mase=None, wape=None, bias=None, coverage=None, series=0)


@pytest.mark.parametrize("actual, point, season", [
    ([1.0, 2.0], [1.0], 4),  # the forecast is shorter than the hold-out
    ([], [], 4),  # nothing to score
    ([1.0], [1.0], 0),  # no season length
])
def test_bad_arguments_are_refused(actual, point, season):
    with pytest.raises(ValueError):
        score_series(HISTORY, actual, forecast(point), season)
