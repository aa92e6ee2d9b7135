"""Demand series: units per product per period, oldest first.

Each product's series runs from the period of its first sale to the last complete
period (the current one is still filling up and would look like a slump); periods
without a sale are zeros. So all series end at the same period, as the forecaster
contract expects, and a new product simply has a shorter series.

Pure: which orders count as demand and how they are read is
`oms_core.services.demand_history`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

from . import periods


@dataclass
class DemandHistory:
    frequency: str
    # The first forecast period: the current, incomplete one. History ends just before it.
    next_period: date
    # Product id -> units per period, oldest first, ending with the last complete period.
    series: dict[int, list[float]] = field(default_factory=dict)

    @property
    def season_length(self) -> int:
        return periods.SEASON_LENGTH[self.frequency]

    def period_starts(self, product_id: int) -> list[date]:
        values = self.series.get(product_id, [])
        first = periods.shift(self.next_period, -len(values), self.frequency)
        return periods.starts(first, len(values), self.frequency)


def from_units(units: Mapping[int, Mapping[date, float]], *, frequency: str,
               next_period: date) -> DemandHistory:
    """Series from units sold per product and period start (periods before `next_period`),
    with zeros for the periods without a sale."""
    history = DemandHistory(frequency=periods.check_frequency(frequency), next_period=next_period)
    for product_id, units_by_period in sorted(units.items()):
        if not units_by_period:
            continue
        first = min(units_by_period)
        count = periods.count_between(first, next_period, frequency)
        history.series[product_id] = [
            float(units_by_period.get(start, 0.0)) for start in periods.starts(first, count, frequency)]
    return history
