"""All series as one array on a common time axis, and the scale each is measured in.

The core passes series that all end at the same period, so period g of the axis
is the same week (or month) for every series and its season phase is g mod m.
Shorter series are products that started later: NaN before their first value.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class Panel:
    """Series right-aligned on one axis of `periods` periods.

    `reach` NaN columns in front let features look back that far from period 0
    without index checks.
    """

    def __init__(self, series: Sequence[Sequence[float]], season_length: int, reach: int):
        self.season_length = season_length
        self.periods = max((len(values) for values in series), default=0)
        self.pad = reach + 1
        self.values = np.full((len(series), self.pad + self.periods), np.nan)
        for row, values in enumerate(series):
            if len(values):
                self.values[row, self.values.shape[1] - len(values):] = values
        self.starts = self.periods - np.array([len(values) for values in series], dtype=int)
        known = ~np.isnan(self.values)
        zeros = np.zeros((len(series), 1))
        self._sums = np.hstack([zeros, np.cumsum(np.where(known, self.values, 0.0), axis=1)])
        self._counts = np.hstack([zeros, np.cumsum(known, axis=1)])

    def __len__(self) -> int:
        return len(self.starts)

    def at(self, rows: np.ndarray, periods: np.ndarray) -> np.ndarray:
        """Values at periods of the axis (NaN before a series starts)."""
        return self.values[rows, periods + self.pad]

    def window_mean(self, rows: np.ndarray, origins: np.ndarray, width) -> np.ndarray:
        """Mean of the known values among the `width` periods up to each origin (NaN if none)."""
        end = origins + self.pad + 1
        start = np.maximum(end - width, 0)
        total = self._sums[rows, end] - self._sums[rows, start]
        count = self._counts[rows, end] - self._counts[rows, start]
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def scale(self, rows: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """What values are divided by: the mean of the last season up to the origin.

        A series that sold nothing for a whole season falls back to the mean of its
        whole history; 0 only when it never sold (or has no history yet).
        """
        season = self.window_mean(rows, origins, self.season_length)
        whole = self.window_mean(rows, origins, origins + self.pad + 1)
        return np.nan_to_num(np.where(season > 0, season, whole))

    def scale_at(self, end: int) -> np.ndarray:
        """Every series' scale at period `end`."""
        return self.scale(np.arange(len(self)), np.full(len(self), end))
