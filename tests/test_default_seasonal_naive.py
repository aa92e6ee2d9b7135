"""The seasonal-naive forecaster: next season repeats the last one, with intervals
from the series' own seasonal differences."""
from __future__ import annotations

import random

import pytest

from oms_core.constants import PROJECT_NAME
from oms_core.default_plugins.seasonal_naive import SeasonalNaive, forecast_one, register_forecasters
from oms_core.testing.contracts import check_forecaster

FORECASTER = SeasonalNaive()
WEEK = [10.0, 12.0, 14.0, 13.0, 20.0, 40.0, 30.0]


def test_contract():
    check_forecaster(FORECASTER)


def test_the_hook_registers_it_as_the_fallback():
    [forecaster] = register_forecasters()
    assert forecaster.id == "seasonal_naive"
    assert getattr(register_forecasters, f"{PROJECT_NAME}_impl")["trylast"] is True


def test_exact_on_a_purely_seasonal_series():
    history = WEEK * 8
    [fc] = FORECASTER.forecast({"a": history}, horizon=10, season_length=7).values()
    assert list(fc.point) == WEEK + WEEK[:3]
    # No noise at all: the interval collapses onto the point forecast.
    assert list(fc.lower) == list(fc.point) == list(fc.upper)


def test_repeats_the_last_season_not_an_average():
    history = [1.0, 1.0, 1.0, 1.0] + [5.0, 6.0, 7.0, 8.0]
    fc = forecast_one(history, horizon=6, season_length=4, level=0.8)
    assert list(fc.point) == [5.0, 6.0, 7.0, 8.0, 5.0, 6.0]


def test_history_not_a_whole_number_of_seasons():
    history = [0.0, 1.0, 2.0] * 3 + [0.0]  # ten points, season 3: ends one into a season
    fc = forecast_one(history, horizon=4, season_length=3, level=0.8)
    assert list(fc.point) == [1.0, 2.0, 0.0, 1.0]


def noisy(amplitude: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [100.0 + value + rng.uniform(-amplitude, amplitude) for value in WEEK * 12]


def test_intervals_widen_with_noise():
    answer = FORECASTER.forecast({"quiet": noisy(1.0), "loud": noisy(10.0)}, horizon=14,
                                 season_length=7, level=0.8)
    quiet, loud = answer["quiet"], answer["loud"]
    for h in range(14):
        quiet_width = quiet.upper[h] - quiet.lower[h]
        loud_width = loud.upper[h] - loud.lower[h]
        assert 0 < quiet_width < loud_width
        assert loud.lower[h] <= loud.point[h] <= loud.upper[h]


def test_intervals_widen_with_seasons_ahead_and_with_level():
    history = noisy(10.0)
    fc = forecast_one(history, horizon=21, season_length=7, level=0.8)
    widths = [hi - lo for lo, hi in zip(fc.lower, fc.upper)]
    assert widths[0] < widths[7] < widths[14]
    wide = forecast_one(history, horizon=7, season_length=7, level=0.95)
    assert all(w95 >= w80 for w95, w80 in zip(
        [hi - lo for lo, hi in zip(wide.lower, wide.upper)], widths[:7]))


def test_one_season_of_history_still_gets_an_interval():
    fc = forecast_one([3.0, 9.0, 4.0, 8.0], horizon=4, season_length=4, level=0.8)
    assert list(fc.point) == [3.0, 9.0, 4.0, 8.0]
    assert all(hi - lo > 0 for lo, hi in zip(fc.lower, fc.upper))


def test_demand_is_never_forecast_below_zero():
    fc = forecast_one([0.0, 5.0, 0.0, 9.0] * 5 + [0.0, 0.0, 0.0, 0.0], horizon=4,
                      season_length=4, level=0.9)
    assert min(fc.lower) == 0.0


@pytest.mark.parametrize("history, mean", [([3.0, 5.0], 4.0), ([7.0], 7.0), ([], 0.0)])
def test_short_series_fall_back_to_their_mean(history, mean):
    fc = forecast_one(history, horizon=5, season_length=7, level=0.8)
    assert list(fc.point) == [mean] * 5
    assert all(lo <= mean <= hi for lo, hi in zip(fc.lower, fc.upper))


def test_many_series_at_once_each_answered():
    series = {f"sku-{n}": [float(n)] * 14 for n in range(50)}
    answer = FORECASTER.forecast(series, horizon=3, season_length=7)
    assert set(answer) == set(series)
    assert list(answer["sku-42"].point) == [42.0, 42.0, 42.0]


@pytest.mark.parametrize("kwargs", [dict(horizon=0), dict(horizon=3, level=1.0),
                                    dict(horizon=3, level=0.0)])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        FORECASTER.forecast({"a": WEEK}, season_length=7, **kwargs)


def test_it_is_the_oms_default_forecaster(oms_app):
    from oms_core import runtime

    assert isinstance(runtime.registry().forecaster("seasonal_naive"), SeasonalNaive)
