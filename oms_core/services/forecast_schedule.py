"""When demand is re-forecast: the worker's schedule and the age of the last run.

The worker re-forecasts when the last run is older than FORECAST_EVERY_HOURS. It
checks at most once a minute; a failing forecast is logged and retried at the next
check, and never stops the worker from sending messages.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable

from .. import runtime
from ..models import ForecastRun
from ..models._base import utcnow
from . import forecast_runs
from .periodic import Periodic

log = logging.getLogger(__name__)


def schedule_hours() -> float:
    """FORECAST_EVERY_HOURS: how often the worker re-forecasts (0: only by hand)."""
    return float(runtime.setting("FORECAST_EVERY_HOURS") or 0)


def age_hours(run: ForecastRun, now: datetime | None = None) -> float:
    return ((now or utcnow()) - run.created_at).total_seconds() / 3600


def is_due(now: datetime | None = None) -> bool:
    """Whether the worker should run a forecast: never run, or older than FORECAST_EVERY_HOURS."""
    hours = schedule_hours()
    if hours <= 0:
        return False
    last = forecast_runs.latest("forecast")
    return last is None or age_hours(last, now) >= hours


def is_stale(run: ForecastRun | None, now: datetime | None = None) -> bool:
    """No forecast, or one older than twice the worker's FORECAST_EVERY_HOURS: the
    worker is probably not running it."""
    if run is None:
        return True
    hours = schedule_hours()
    return hours > 0 and age_hours(run, now) > 2 * hours


def forecast_schedule(*, check_every_seconds: float = 60.0, echo: Callable[[str], None] = log.info,
                      clock: Callable[[], float] = time.monotonic) -> Periodic:
    """Called between the worker's rounds: runs a forecast when one is due."""
    def forecast_if_due() -> None:
        if is_due():
            run = forecast_runs.run_forecast()
            echo(f"forecast #{run.id}: {run.series_count} products with {run.forecaster_id} "
                 f"in {run.seconds:.1f} s")
    return Periodic(forecast_if_due, what="scheduled forecast", every_seconds=check_every_seconds,
                    clock=clock)
