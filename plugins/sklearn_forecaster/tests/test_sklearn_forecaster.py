"""The global scikit-learn forecaster: the contract, a known seasonal pattern recovered,
honest intervals, and the awkward inputs a small shop's history holds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from oms_core.testing.contracts import check_forecaster
from oms_sklearn_forecaster import SklearnGlobal, ensemble, register_forecasters

FORECASTER = SklearnGlobal()
SHAPE = [0.6, 0.7, 0.9, 1.0, 1.1, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 2.2]  # a year with a Christmas peak


def seasonal_series(count: int, years: int, noise: float, seed: int = 3) -> dict[str, list[float]]:
    """Series that are SHAPE times their own size, plus relative noise."""
    rng = np.random.default_rng(seed)
    answer = {}
    for number in range(count):
        size = float(rng.uniform(5, 500))
        values = np.tile(SHAPE, years) * size * (1 + rng.normal(0, noise, 12 * years))
        answer[f"sku-{number}"] = np.maximum(values, 0).tolist()
    return answer


def widths(forecast) -> list[float]:
    return [hi - lo for lo, hi in zip(forecast.lower, forecast.upper)]


def test_contract():
    check_forecaster(FORECASTER)


def test_the_hook_registers_it():
    [forecaster] = register_forecasters()
    assert forecaster.id == "sklearn_global"


def test_recovers_a_known_seasonal_pattern():
    history = seasonal_series(40, years=6, noise=0.02)
    answer = FORECASTER.forecast(history, horizon=12, season_length=12)
    for key, values in history.items():
        size = sum(values[-12:]) / sum(SHAPE)
        truth = [value * size for value in SHAPE]
        errors = [abs(f - t) / t for f, t in zip(answer[key].point, truth)]
        assert max(errors) < 0.08, f"{key}: {max(errors):.3f} off the true pattern"


def test_horizon_longer_than_a_season_repeats_the_pattern():
    history = seasonal_series(20, years=6, noise=0.02)
    answer = FORECASTER.forecast(history, horizon=30, season_length=12)
    for forecast in answer.values():
        assert len(forecast.point) == 30
        assert forecast.point.index(max(forecast.point[:12])) == 11  # the December peak
        assert forecast.point[11 + 12] > 1.5 * forecast.point[12]  # a year later: peak again


def test_intervals_widen_with_noise():
    quiet = seasonal_series(30, years=6, noise=0.02, seed=1)
    loud = {f"loud-{key}": values for key, values in seasonal_series(30, years=6, noise=0.25, seed=2).items()}
    answer = FORECASTER.forecast({**quiet, **loud}, horizon=12, season_length=12)

    def relative_width(keys) -> float:
        return float(np.mean([np.mean(widths(answer[key])) / np.mean(answer[key].point) for key in keys]))

    assert relative_width(loud) > 3 * relative_width(quiet)
    for forecast in answer.values():
        assert all(lo <= pt <= hi for lo, pt, hi in zip(forecast.lower, forecast.point, forecast.upper))


def test_intervals_cover_about_their_level_of_a_future_they_did_not_see():
    history = seasonal_series(80, years=7, noise=0.1, seed=4)
    past = {key: values[:-12] for key, values in history.items()}
    answer = FORECASTER.forecast(past, horizon=12, season_length=12, level=0.8)
    inside = [lo <= actual <= hi for key, values in history.items()
              for lo, actual, hi in zip(answer[key].lower, values[-12:], answer[key].upper)]
    assert 0.7 <= np.mean(inside) <= 0.9


def test_the_combination_weighs_the_kind_that_forecast_the_hidden_stretch_best():
    actual = np.array([[10.0, 12.0], [20.0, 18.0]])
    right_kind = {"linear": 0.0, "trees": 0.0, "smoothing": 0.0}
    for kind in right_kind:
        fitted = ensemble.Fitted({other: actual + (0.0 if other == kind else 2.0) for other in right_kind})
        assert ensemble.best_weights(fitted, actual, noise=np.ones(2)) == {**right_kind, kind: 1.0}
    assert all(abs(sum(weights.values()) - 1) < 1e-9 for weights in ensemble.weight_grid(list(right_kind)))


def test_wider_level_wider_intervals():
    history = seasonal_series(30, years=6, noise=0.1)
    narrow = FORECASTER.forecast(history, horizon=6, season_length=12, level=0.5)
    wide = FORECASTER.forecast(history, horizon=6, season_length=12, level=0.95)

    def total_width(answer) -> float:
        return sum(sum(widths(answer[key])) for key in history)

    assert total_width(wide) > 1.5 * total_width(narrow)


def test_intermittent_demand_is_never_forecast_below_zero():
    rng = np.random.default_rng(5)
    history = {f"sku-{n}": rng.poisson(rng.uniform(0.05, 2.0), 104).astype(float).tolist()
               for n in range(100)}
    answer = FORECASTER.forecast(history, horizon=26, season_length=52, level=0.9)
    for forecast in answer.values():
        assert min(forecast.lower) >= 0.0 and min(forecast.point) >= 0.0
        assert all(math.isfinite(value) for value in forecast.upper)


@pytest.mark.parametrize("values, point", [([], 0.0), ([0.0] * 30, 0.0), ([4.0] * 30, 4.0)])
def test_empty_all_zero_and_constant_series(values, point):
    history = {**seasonal_series(10, years=3, noise=0.05), "odd": values}
    forecast = FORECASTER.forecast(history, horizon=8, season_length=12)["odd"]
    assert forecast.point == pytest.approx([point] * 8, abs=0.15 * max(point, 1))
    assert min(forecast.lower) >= 0.0


def test_products_newer_than_a_season_get_their_level():
    history = {**seasonal_series(20, years=4, noise=0.05), "new": [10.0, 12.0, 11.0, 9.0, 10.0],
               "newest": [7.0]}
    answer = FORECASTER.forecast(history, horizon=6, season_length=12)
    assert 5 < np.mean(answer["new"].point) < 20
    assert 3 < np.mean(answer["newest"].point) < 14
    assert all(lo <= pt <= hi for lo, pt, hi in zip(answer["newest"].lower, answer["newest"].point,
                                                    answer["newest"].upper))


@pytest.mark.parametrize("history", [{"a": [1.0, 2.0]}, {"a": [3.0]}, {"a": []}, {"a": [0.0, 0.0, 0.0]}])
def test_too_little_to_learn_from_falls_back_to_the_mean(history):
    [forecast] = FORECASTER.forecast(history, horizon=4, season_length=12).values()
    mean = sum(history["a"]) / len(history["a"]) if history["a"] else 0.0
    assert forecast.point == [mean] * 4
    assert all(lo <= mean <= hi for lo, hi in zip(forecast.lower, forecast.upper))


def test_one_series_alone():
    [forecast] = FORECASTER.forecast(seasonal_series(1, years=5, noise=0.05), horizon=12,
                                     season_length=12).values()
    assert forecast.point.index(max(forecast.point)) == 11


def test_many_series_at_once_each_answered_and_deterministic():
    rng = np.random.default_rng(9)
    history = {f"sku-{n}": rng.poisson(3.0, int(rng.integers(1, 40))).astype(float).tolist()
               for n in range(5000)}
    answer = FORECASTER.forecast(history, horizon=4, season_length=12)
    assert set(answer) == set(history)
    again = FORECASTER.forecast(dict(list(history.items())[:300]), horizon=4, season_length=12)
    assert FORECASTER.forecast(dict(list(history.items())[:300]), horizon=4, season_length=12) == again


@pytest.mark.parametrize("kwargs, message", [
    (dict(horizon=0), "horizon"), (dict(horizon=2.5), "horizon"), (dict(season_length=0), "season_length"),
    (dict(level=0.0), "level"), (dict(level=1.0), "level"),
])
def test_bad_arguments_are_refused(kwargs, message):
    arguments = dict(horizon=3, season_length=12, level=0.8) | kwargs
    with pytest.raises(ValueError, match=message):
        FORECASTER.forecast({"a": [1.0] * 30}, **arguments)


@pytest.mark.parametrize("values", [[1.0, -2.0, 3.0], [1.0, float("nan")], [float("inf")]])
def test_bad_values_are_refused(values):
    with pytest.raises(ValueError, match="'a'"):
        FORECASTER.forecast({"a": values}, horizon=3, season_length=12)


def test_it_is_loaded_as_a_plugin(oms_app):
    from oms_core import runtime

    assert isinstance(runtime.registry().forecaster("sklearn_global"), SklearnGlobal)


def test_one_season_of_history_still_gets_honest_intervals():
    """A shop's back-test with two years of sales trains on one: no forecast can be
    checked on a hidden stretch, and the intervals must not collapse onto the point."""
    rng = np.random.default_rng(8)
    history = {f"sku-{n}": rng.poisson(5 * np.array(SHAPE * 2)).astype(float).tolist() for n in range(30)}
    train = {key: values[:12] for key, values in history.items()}
    answer = FORECASTER.forecast(train, horizon=12, season_length=12, level=0.8)
    covered = sum(lo <= actual <= hi for key, values in history.items()
                  for lo, actual, hi in zip(answer[key].lower, values[12:], answer[key].upper))
    assert all(min(widths(answer[key])) > 0 for key in train)
    assert 0.6 <= covered / (30 * 12) <= 0.98
