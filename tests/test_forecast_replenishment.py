"""Reorder point, safety stock, order quantity and stock-out date on cases worked by hand."""
from __future__ import annotations

from datetime import date

import pytest

from oms_core.forecasting.replenishment import ForecastPath, plan

MONDAY = date(2026, 3, 16)
Z80 = 1.2815515655446004  # half-width of the normal 80% interval, in sigmas
Z95 = 1.6448536269514722  # one-sided 95% service level


def weekly(points, sigma=0.0, first=MONDAY):
    """A weekly forecast with a normal 80% interval of the given sigma per week."""
    return ForecastPath(first_period=first, frequency="week", point=points,
                        lower=[p - Z80 * sigma for p in points], upper=[p + Z80 * sigma for p in points],
                        level=0.8)


def test_demand_over_a_window_counts_partial_weeks_by_their_days():
    path = weekly([7.0, 14.0, 21.0])
    assert path.demand(MONDAY, 7) == (7.0, 0.0)
    wednesday = date(2026, 3, 18)  # Monday and Tuesday of week one are past
    assert path.demand(wednesday, 7)[0] == pytest.approx(5 * 1 + 2 * 2)
    assert path.demand(MONDAY, 21)[0] == pytest.approx(42.0)


def test_past_the_horizon_the_average_carries_on():
    path = weekly([7.0, 21.0])  # average 14 a week after the horizon
    assert path.demand(MONDAY, 28)[0] == pytest.approx(7 + 21 + 14 + 14)


def test_uncertainty_adds_up_as_variances():
    path = weekly([7.0] * 4, sigma=7.0)
    mean, sigma = path.demand(MONDAY, 7)
    assert (mean, sigma) == (pytest.approx(7.0), pytest.approx(7.0))
    assert path.demand(MONDAY, 28)[1] == pytest.approx(14.0)  # four weeks: sqrt(4 x 49)


def test_stockout_date_is_the_day_demand_uses_up_the_available_stock():
    path = weekly([7.0] * 4)  # one a day
    assert path.stockout_date(MONDAY, 10) == date(2026, 3, 25)  # the tenth day
    assert path.stockout_date(MONDAY, 1) == MONDAY
    assert path.stockout_date(MONDAY, 0) == MONDAY  # nothing left: out today
    slow_then_fast = weekly([0.0, 14.0])
    assert slow_then_fast.stockout_date(MONDAY, 4) == date(2026, 3, 24)  # two a day from the 23rd


def test_stockout_past_the_horizon_at_the_average_rate():
    path = weekly([7.0, 21.0])  # 28 units in two weeks, then 2 a day on average
    assert path.stockout_date(MONDAY, 32) == date(2026, 3, 31)  # 4 more units: two days on
    assert path.stockout_date(MONDAY, 10_000) is None  # not within three years


def test_no_stockout_date_when_nothing_sells():
    assert weekly([0.0] * 4).stockout_date(MONDAY, 5) is None


def test_plan_without_uncertainty():
    low = plan(weekly([7.0] * 8), available=5, lead_time_days=7, service_level=0.95, review_days=14,
               today=MONDAY)
    assert low.demand_over_lead_time == pytest.approx(7.0)
    assert low.safety_stock == 0.0
    assert low.reorder_point == pytest.approx(7.0)
    assert low.order_up_to == pytest.approx(21.0)  # lead time plus review period
    assert low.suggested_quantity == 16
    assert low.needs_reorder
    assert low.stockout_date == date(2026, 3, 20)
    assert low.order_by == date(2026, 3, 13)  # already past: it is late


def test_plan_with_enough_stock_suggests_nothing():
    fine = plan(weekly([7.0] * 8), available=10, lead_time_days=7, service_level=0.95, review_days=14,
                today=MONDAY)
    assert not fine.needs_reorder and fine.suggested_quantity == 0
    assert fine.stockout_date == date(2026, 3, 25)
    assert fine.order_by == date(2026, 3, 18)


def test_safety_stock_from_the_forecast_interval_and_service_level():
    result = plan(weekly([7.0] * 8, sigma=7.0), available=5, lead_time_days=7, service_level=0.95,
                  review_days=21, today=MONDAY)
    assert result.safety_stock == pytest.approx(Z95 * 7.0)
    assert result.reorder_point == pytest.approx(7.0 + Z95 * 7.0)
    assert result.order_up_to == pytest.approx(28.0 + Z95 * 14.0)
    assert result.suggested_quantity == 47  # ceil(28 + 23.03 - 5)
    higher = plan(weekly([7.0] * 8, sigma=7.0), available=5, lead_time_days=7, service_level=0.99,
                  review_days=21, today=MONDAY)
    assert higher.safety_stock > result.safety_stock


def test_monthly_forecast_by_days_of_the_month():
    path = ForecastPath(first_period=date(2026, 2, 1), frequency="month", point=[28.0, 62.0],
                        lower=[28.0, 62.0], upper=[28.0, 62.0], level=0.8)
    # From 25 February: four days at 1 a day, then March at 2 a day.
    assert path.demand(date(2026, 2, 25), 10)[0] == pytest.approx(4 * 1 + 6 * 2)
    assert path.stockout_date(date(2026, 2, 25), 8) == date(2026, 3, 2)


@pytest.mark.parametrize("kwargs", [dict(service_level=1.0), dict(service_level=0.0),
                                    dict(lead_time_days=-1), dict(review_days=-3)])
def test_bad_settings_are_refused(kwargs):
    arguments = dict(available=5, lead_time_days=7, service_level=0.95, review_days=14, today=MONDAY)
    arguments.update(kwargs)
    with pytest.raises(ValueError):
        plan(weekly([7.0]), **arguments)


def test_a_path_needs_matching_lists():
    with pytest.raises(ValueError):
        ForecastPath(first_period=MONDAY, frequency="week", point=[1.0], lower=[], upper=[1.0], level=0.8)
