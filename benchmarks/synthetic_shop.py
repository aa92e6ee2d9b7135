"""A made-up shop's weekly sales: many SKUs, mostly small and intermittent.

Each SKU sells a negative-binomial count around a mean that has its own size
(from a fraction of a unit to dozens a week), a yearly pattern (a smooth wave or a
Christmas peak), a four-weekly pay-day pulse and a trend. Some SKUs are new: their
history starts part-way through. The generator also draws the weeks after the
history, so forecasts can be scored as well as timed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEASON = 52


@dataclass(frozen=True)
class Shop:
    history: dict[str, list[float]]
    actual: dict[str, list[float]]  # the `horizon` weeks after the history


def _yearly_shape(rng: np.random.Generator, weeks: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:  # a Christmas seller: quiet most of the year, a peak in December
        peak = np.exp(-0.5 * ((weeks % SEASON - 50) / 2.5) ** 2)
        return 0.6 + rng.uniform(1.0, 4.0) * peak
    amplitude, phase = rng.uniform(0.0, 0.8), rng.uniform(0, 2 * np.pi)
    return 1.0 + amplitude * np.sin(2 * np.pi * weeks / SEASON + phase)


def make_shop(skus: int = 2000, years: int = 3, horizon: int = 26, new_share: float = 0.15,
              seed: int = 1) -> Shop:
    rng = np.random.default_rng(seed)
    total = years * SEASON + horizon
    weeks = np.arange(total)
    history, actual = {}, {}
    for number in range(skus):
        level = rng.lognormal(mean=0.0, sigma=1.3)  # median one unit a week
        pay_day = 1.0 + rng.uniform(0.0, 0.25) * (weeks % 4 == 0)
        trend = (1.0 + rng.uniform(-0.3, 0.4)) ** (weeks / SEASON)
        mean = level * _yearly_shape(rng, weeks) * pay_day * trend
        dispersion = rng.uniform(1.0, 5.0)  # negative binomial: variance = mean + mean^2 / dispersion
        sales = rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(float)
        start = int(rng.integers(1, years * SEASON - 4)) if rng.random() < new_share else 0
        key = f"SKU-{number:05d}"
        history[key] = sales[start:years * SEASON].tolist()
        actual[key] = sales[years * SEASON:].tolist()
    return Shop(history=history, actual=actual)
