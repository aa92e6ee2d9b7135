"""What `oms-demo` does before it serves, factored so tests can run it: upgrade
the schema, seed demo data once, create the demo owner, make a first demand
forecast; and the background worker (outbox, forecast schedule) with demo mail
printed to the console."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flask import Flask

from oms_core import schema
from oms_core.db import db
from oms_core.models import ForecastRun
from oms_core.services import forecast_runs, notifications, outbox, users
from oms_core.services.forecast_schedule import forecast_schedule
from oms_core.services.webhooks import rematch_schedule

from . import demo_data, settings
from .app import create_app

log = logging.getLogger("oms_demo")
OWNER_EMAIL = "owner@demo.shop"
OWNER_PASSWORD = "demo-password"  # printed at start-up: a demo login, not a secret


@dataclass
class DemoSite:
    app: Flask
    database_url: str
    data_dir: Path
    seeded: demo_data.Summary | None  # None when the shop had data already
    forecast: ForecastRun | None = None  # made now, when the shop had none yet


def prepare(*, database_url: str | None = None, data_dir=None, reset: bool = False,
            seed: int = demo_data.DEFAULT_SEED, history_days: int = 730, **config) -> DemoSite:
    """Get a demo shop ready to serve. Safe to run again: it seeds only an empty shop.
    `reset` first removes every OMS table (all demo data)."""
    folder = settings.data_dir(data_dir)
    url = settings.database_url(database_url, folder)
    app = create_app(url, data_dir=folder, **config)
    with app.app_context():
        if reset and schema.current_revision() is not None:
            schema.downgrade("base")
        schema.upgrade()
        summary = demo_data.generate(seed, days=history_days) if demo_data.is_empty() else None
        if users.find_by_email(OWNER_EMAIL) is None:
            users.create_user(email=OWNER_EMAIL, name="Demo Owner", password=OWNER_PASSWORD, role="owner")
        # The replenishment and forecast pages have something to show from the start.
        forecast = forecast_runs.run_forecast() if forecast_runs.latest("forecast") is None else None
        db.session.remove()
    return DemoSite(app=app, database_url=url, data_dir=folder, seeded=summary, forecast=forecast)


def print_mail_to(out: Callable[[str], None]) -> None:
    """Demo mail goes to the console instead of an SMTP server (process-wide: only
    the `oms-demo` command installs it)."""

    @outbox.handler(notifications.EMAIL_KIND)
    def _print_email(message) -> None:
        email = notifications.compose(message)
        db.session.commit()
        out(f"--- mail to {email['to']}: {email['subject']}\n{email['text'].strip()}\n---")


class OutboxWorker(threading.Thread):
    """Sends the outbox (emails, carrier bookings) beside the web server,
    re-forecasts demand when the last forecast is a day old, and matches waiting
    webhook events again."""

    def __init__(self, app: Flask, poll_seconds: float = 1.0):
        super().__init__(name="oms-outbox-worker", daemon=True)
        self.app, self.poll_seconds = app, poll_seconds
        self._stopping = threading.Event()

    def run(self) -> None:
        with self.app.app_context():
            forecast_when_due, rematch_webhook_events = forecast_schedule(), rematch_schedule()
            while not self._stopping.is_set():
                forecast_when_due()
                rematch_webhook_events()
                try:
                    sent, failed = outbox.run_once()
                except Exception:  # a database hiccup must not end the demo's worker
                    log.exception("outbox worker: batch failed")
                    db.session.rollback()
                    sent = failed = 0
                if failed:
                    log.warning("outbox: %s failed (see the back-office dashboard)", failed)
                if not sent and not failed:
                    self._stopping.wait(self.poll_seconds)
                db.session.remove()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.join(timeout)
