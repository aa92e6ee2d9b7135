"""The worker's forecast schedule: re-forecast when the last run is older than
FORECAST_EVERY_HOURS. Checked at most once a minute; a failing forecast is logged
and retried at the next check, and never stops the worker from sending messages."""
from __future__ import annotations

import logging
import time
from typing import Callable

from ..db import db
from . import runs

log = logging.getLogger(__name__)


class ForecastSchedule:
    def __init__(self, *, check_every_seconds: float = 60.0, echo: Callable[[str], None] = log.info,
                 clock: Callable[[], float] = time.monotonic):
        self.check_every_seconds = check_every_seconds
        self.echo, self.clock = echo, clock
        self._next_check = float("-inf")

    def __call__(self) -> None:
        if self.clock() < self._next_check:
            return
        self._next_check = self.clock() + self.check_every_seconds
        try:
            if runs.is_due():
                run = runs.run_forecast()
                self.echo(f"forecast #{run.id}: {run.series_count} products with {run.forecaster_id} "
                          f"in {run.seconds:.1f} s")
        except Exception:  # noqa: BLE001 - the worker must go on sending messages
            db.session.rollback()
            log.exception("scheduled forecast failed; trying again at the next check")
        finally:
            db.session.remove()
