"""Replenishment arithmetic: reorder point, order quantity and stock-out date.

Pure functions of a stored forecast and the stock, so they can be checked by hand:

- demand over a window of days is the forecast laid on the calendar, with the part
  of the current period that has already passed left out (its sales are already
  out of stock); a partial period counts in proportion to its days;
- the forecast's spread per period is read off its interval (for the normal
  distribution the 80% interval is ±1.28 sigma), and variances add up over the
  window, periods taken as independent;
- safety stock = z(service level) x sigma over the lead time; reorder point =
  demand over the lead time + safety stock; when the stock available for sale is
  at or below it, order up to the demand over lead time plus review period
  (the time until the next order) plus its own safety stock;
- the stock-out date is the day the expected demand uses up the stock available
  for sale (on hand minus what confirmed orders reserve).

Beyond the forecast's horizon the average of its steps carries on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from datetime import date, timedelta
from statistics import NormalDist
from typing import Iterator, Sequence

from . import periods
from .fallback import z_score

_LOOK_AHEAD_DAYS = 3 * 366  # no stock-out date is claimed further out than this
_AVERAGE_DAYS = {"week": 7.0, "month": 365.25 / 12}


@dataclass(frozen=True)
class ForecastPath:
    """A stored forecast laid on the calendar."""

    first_period: date
    frequency: str
    point: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]
    level: float

    def __post_init__(self):
        if not self.point or not len(self.point) == len(self.lower) == len(self.upper):
            raise ValueError("a forecast path needs equally long, non-empty point and interval lists")

    @cached_property
    def _steps(self) -> list[tuple[float, float]]:
        """Mean and variance of each period; one more, the average, for past the horizon."""
        width = 2 * z_score(self.level)
        steps = [(point, (max(0.0, upper - lower) / width) ** 2)
                 for point, lower, upper in zip(self.point, self.lower, self.upper)]
        count = len(steps)
        steps.append((sum(m for m, _ in steps) / count, sum(v for _, v in steps) / count))
        return steps

    def _step(self, step: int) -> tuple[float, float]:
        return self._steps[min(step, len(self.point))]

    def slices(self, start: date, days: int) -> Iterator[tuple[date, int, float, float]]:
        """(first day, days, mean per day, variance per day) of each period piece in the window."""
        end = start + timedelta(days=days)
        step = max(0, periods.count_between(self.first_period, periods.period_start(start, self.frequency),
                                            self.frequency))
        while True:
            period = periods.shift(self.first_period, step, self.frequency)
            length = periods.period_days(period, self.frequency)
            piece_start, piece_end = max(period, start), min(period + timedelta(days=length), end)
            if piece_start >= end:
                return
            if piece_end > piece_start:
                mean, variance = self._step(step)
                yield piece_start, (piece_end - piece_start).days, mean / length, variance / length
            step += 1

    def demand(self, start: date, days: int) -> tuple[float, float]:
        """Expected demand over `days` from `start`, and its standard deviation."""
        mean = variance = 0.0
        for _, piece_days, rate, rate_variance in self.slices(start, days):
            mean += rate * piece_days
            variance += rate_variance * piece_days
        return mean, math.sqrt(variance)

    def stockout_date(self, start: date, available: float) -> date | None:
        """The day expected demand reaches `available`; None if not within three years."""
        if available <= 0:
            return start
        horizon_end = periods.shift(self.first_period, len(self.point), self.frequency)
        used = 0.0
        for piece_start, piece_days, rate, _ in self.slices(start, max(0, (horizon_end - start).days)):
            if rate > 0 and used + rate * piece_days >= available:
                return piece_start + timedelta(days=math.ceil((available - used) / rate) - 1)
            used += rate * piece_days
        # Past the horizon the average carries on: no need to walk it period by period.
        rate = self._steps[-1][0] / _AVERAGE_DAYS[self.frequency]
        if rate <= 0:
            return None
        days = math.ceil((available - used) / rate)
        day = max(start, horizon_end) + timedelta(days=days - 1)
        return day if (day - start).days <= _LOOK_AHEAD_DAYS else None


@dataclass(frozen=True)
class Plan:
    available: int
    lead_time_days: int
    service_level: float
    demand_over_lead_time: float
    safety_stock: float
    reorder_point: float
    order_up_to: float
    suggested_quantity: int
    stockout_date: date | None
    order_by: date | None  # the last day to order and still receive before the stock-out

    @property
    def needs_reorder(self) -> bool:
        return self.suggested_quantity > 0


def plan(path: ForecastPath, *, available: int, lead_time_days: int, service_level: float,
         review_days: int, today: date) -> Plan:
    if lead_time_days < 0 or review_days < 0:
        raise ValueError("lead time and review period cannot be negative")
    if not 0 < service_level < 1:
        raise ValueError("the service level must be between 0 and 1")
    z = NormalDist().inv_cdf(service_level)
    lead_mean, lead_sigma = path.demand(today, lead_time_days)
    cover_mean, cover_sigma = path.demand(today, lead_time_days + review_days)
    safety_stock = max(0.0, z * lead_sigma)
    reorder_point = lead_mean + safety_stock
    order_up_to = cover_mean + max(0.0, z * cover_sigma)
    suggested = math.ceil(order_up_to - available - 1e-9) if available <= reorder_point else 0
    stockout = path.stockout_date(today, available)
    return Plan(
        available=available, lead_time_days=lead_time_days, service_level=service_level,
        demand_over_lead_time=lead_mean, safety_stock=safety_stock, reorder_point=reorder_point,
        order_up_to=order_up_to, suggested_quantity=max(0, suggested), stockout_date=stockout,
        order_by=stockout - timedelta(days=lead_time_days) if stockout else None)
