"""Demand series from the order history: what counts, in which period, and the zeros."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import update

from oms_core.db import db
from oms_core.forecasting import demand, periods
from oms_core.services import demand_history
from oms_core.models import Order

NOW = datetime(2026, 3, 18, 15, 0, tzinfo=timezone.utc)  # a Wednesday; its week began Monday 16 March


@pytest.fixture
def sold(app, make_product, place):
    """sold(product, quantity, day, status) -> an order of that product dated `day` (noon UTC)."""
    def factory(product, quantity, day: date, status="confirmed"):
        order = place([(product.sku, quantity)], confirm=True)
        db.session.execute(update(Order).where(Order.id == order.id).values(
            status=status, created_at=datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)))
        db.session.commit()
        return order
    return factory


def test_weekly_units_with_zero_weeks_up_to_the_last_complete_week(make_product, sold):
    tea = make_product(sku="TEA", on_hand=500)
    sold(tea, 2, date(2026, 2, 2))   # Monday of week 2026-02-02
    sold(tea, 3, date(2026, 2, 8))   # its Sunday: same week
    sold(tea, 4, date(2026, 2, 23))  # two weeks later, after a week with no sale
    sold(tea, 5, date(2026, 3, 17))  # the current week: not complete, left out
    history = demand_history.read("week", as_of=NOW)
    assert history.next_period == date(2026, 3, 16)
    assert history.series[tea.id] == [5.0, 0.0, 0.0, 4.0, 0.0, 0.0]
    assert history.period_starts(tea.id)[0] == date(2026, 2, 2)
    assert history.period_starts(tea.id)[-1] == date(2026, 3, 9)


def test_cancelled_and_unconfirmed_orders_are_not_demand_returned_ones_are(make_product, sold):
    cup = make_product(sku="CUP", on_hand=500)
    sold(cup, 1, date(2026, 3, 2))
    sold(cup, 7, date(2026, 3, 3), status="cancelled")
    sold(cup, 9, date(2026, 3, 4), status="placed")
    sold(cup, 2, date(2026, 3, 5), status="closed")  # returned later (test_returns.py): the demand happened
    sold(cup, 4, date(2026, 3, 6), status="delivered")
    assert demand_history.read("week", as_of=NOW).series[cup.id] == [7.0, 0.0]


def test_each_series_starts_at_its_first_sale_and_all_end_together(make_product, sold):
    old, new = make_product(sku="OLD", on_hand=500), make_product(sku="NEW", on_hand=500)
    never = make_product(sku="NEVER", on_hand=500)
    sold(old, 1, date(2026, 1, 5))
    sold(new, 6, date(2026, 3, 10))
    history = demand_history.read("week", as_of=NOW)
    assert len(history.series[old.id]) == 10
    assert history.series[new.id] == [6.0]
    assert never.id not in history.series  # nothing sold: no series at all


def test_inactive_products_are_not_forecast(make_product, sold):
    gone = make_product(sku="GONE", on_hand=500)
    sold(gone, 1, date(2026, 3, 2))
    gone.active = False
    db.session.commit()
    assert demand_history.read("week", as_of=NOW).series == {}


def test_monthly_periods(make_product, sold):
    tea = make_product(sku="TEA", on_hand=500)
    sold(tea, 2, date(2025, 12, 31))
    sold(tea, 3, date(2026, 2, 1))
    sold(tea, 8, date(2026, 3, 1))  # this month: not complete
    history = demand_history.read("month", as_of=NOW)
    assert history.next_period == date(2026, 3, 1)
    assert history.series[tea.id] == [2.0, 0.0, 3.0]
    assert history.period_starts(tea.id) == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


def test_only_the_products_asked_for(make_product, sold):
    a, b = make_product(sku="A", on_hand=50), make_product(sku="B", on_hand=50)
    sold(a, 1, date(2026, 3, 2))
    sold(b, 1, date(2026, 3, 2))
    assert set(demand_history.read("week", as_of=NOW, product_ids=[b.id]).series) == {b.id}


def test_unknown_frequency_is_refused(app):
    with pytest.raises(ValueError, match="frequency"):
        demand_history.read("day", as_of=NOW)


@pytest.mark.parametrize("day, frequency, start", [
    (date(2026, 3, 18), "week", date(2026, 3, 16)),
    (date(2026, 3, 16), "week", date(2026, 3, 16)),
    (date(2026, 3, 22), "week", date(2026, 3, 16)),
    (date(2026, 3, 18), "month", date(2026, 3, 1)),
])
def test_period_start(day, frequency, start):
    assert periods.period_start(day, frequency) == start


def test_period_arithmetic_across_years():
    assert periods.shift(date(2025, 11, 1), 3, "month") == date(2026, 2, 1)
    assert periods.shift(date(2026, 2, 1), -14, "month") == date(2024, 12, 1)
    assert periods.count_between(date(2024, 12, 1), date(2026, 2, 1), "month") == 14
    assert periods.count_between(date(2025, 12, 29), date(2026, 1, 12), "week") == 2
    assert periods.period_days(date(2028, 2, 1), "month") == 29


def test_series_are_zero_filled_from_the_first_sale_and_end_together():
    """The pure half: units per period become series that all end before `next_period`."""
    history = demand.from_units({7: {date(2026, 2, 2): 3, date(2026, 2, 16): 1}, 9: {date(2026, 3, 2): 2},
                                 11: {}}, frequency="week", next_period=date(2026, 3, 9))
    assert history.series == {7: [3.0, 0.0, 1.0, 0.0, 0.0], 9: [2.0]}
    assert history.period_starts(9) == [date(2026, 3, 2)] and history.season_length == 52
    with pytest.raises(ValueError, match="frequency"):
        demand.from_units({}, frequency="day", next_period=date(2026, 3, 9))
