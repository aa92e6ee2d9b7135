"""Work the outbox worker does between its rounds, at most once every so often
(the forecast when due, re-matching waiting webhook events).

A failure is logged and tried again at the next check: scheduled work never stops
the worker from sending messages.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from ..db import db

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, work: Callable[[], None], *, what: str, every_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.work, self.what = work, what
        self.every_seconds, self.clock = every_seconds, clock
        self._next = float("-inf")

    def __call__(self) -> None:
        if self.clock() < self._next:
            return
        self._next = self.clock() + self.every_seconds
        try:
            self.work()
        except Exception:  # noqa: BLE001 - the worker must go on sending messages
            db.session.rollback()
            log.exception("%s failed; trying again at the next check", self.what)
        finally:
            db.session.remove()
