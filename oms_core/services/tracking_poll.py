"""Polling carriers for tracking events: for carriers that send no webhooks (those
with `track` and webhook_auth "none"; every carrier with `track` when
OMS_TRACK_ALL_CARRIERS is set). Each open parcel is asked about at most every
OMS_TRACK_EVERY_MINUTES, in batches of the carrier's `track_batch_size`. A carrier
that fails is left alone for a while, twice as long after each failure in a row.

Events go through the same forward-only path as webhooks
(services.shipments.add_tracking_update): a re-polled event changes nothing.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import or_, select, update

from .. import runtime
from ..db import db, write_transaction
from ..errors import ValidationError
from ..models import Shipment
from ..models._base import utcnow
from ..plugins import CARRIER
from ..protocols import WEBHOOK_AUTH_NONE, TrackingResult, supports, webhook_auth
from . import shipments
from .periodic import Periodic

log = logging.getLogger(__name__)
# A parcel in one of these states will not move again: not polled.
SETTLED = ("delivered", "cancelled", "returned_to_sender", "expired")
DEFAULT_BATCH, MAX_BATCH = 50, 500
BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 60.0, 3600.0


def pollable_carriers() -> list:
    every = runtime.setting("TRACK_ALL_CARRIERS")
    return [c for c in runtime.registry().usable(CARRIER)
            if supports(c, "track") and not c.manual and (every or webhook_auth(c) == WEBHOOK_AUTH_NONE)]


def batch_size(carrier) -> int:
    size = getattr(carrier, "track_batch_size", DEFAULT_BATCH)
    return size if isinstance(size, int) and 0 < size <= MAX_BATCH else DEFAULT_BATCH


def due(carrier_id: str, limit: int, cutoff) -> list[tuple[int, str]]:
    """(shipment id, tracking number) of open parcels not polled since `cutoff`,
    the longest waiting first."""
    return [tuple(row) for row in db.session.execute(
        select(Shipment.id, Shipment.tracking_number)
        .where(Shipment.carrier_id == carrier_id, Shipment.tracking_number.is_not(None),
               Shipment.status.not_in(SETTLED), or_(Shipment.polled_at.is_(None), Shipment.polled_at < cutoff))
        .order_by(Shipment.polled_at.is_not(None), Shipment.polled_at, Shipment.id).limit(limit))]


@dataclass
class Outcome:
    asked: int = 0  # parcels asked about
    applied: int = 0  # new events
    errors: list = field(default_factory=list)


def _apply(carrier, batch: list[tuple[int, str]], result: TrackingResult, outcome: Outcome) -> None:
    ids = {number: shipment_id for shipment_id, number in batch}
    for item in result.updates:
        shipment_id = ids.get(getattr(item, "tracking_number", None))
        if shipment_id is None:
            continue  # a number not asked about: ignored
        try:
            if shipments.add_tracking_update(shipment_id, item, source=f"carrier:{carrier.id}") is not None:
                outcome.applied += 1
        except ValidationError as exc:
            log.warning("%s: tracking event for shipment %s refused: %s", carrier.id, shipment_id, exc)
    with write_transaction():
        db.session.execute(update(Shipment).where(Shipment.id.in_(list(ids.values()))).values(polled_at=utcnow())
                           .execution_options(synchronize_session=False))


def poll_carrier(carrier, *, max_batches: int = 1000) -> Outcome:
    """Poll one carrier's due parcels, batch after batch; stop at its first failure."""
    outcome = Outcome()
    # Fixed for the round: a parcel polled in it is not due again in it.
    cutoff = utcnow() - timedelta(minutes=runtime.setting("TRACK_EVERY_MINUTES"))
    for _ in range(max_batches):
        batch = due(carrier.id, batch_size(carrier), cutoff)
        db.session.commit()  # no transaction open while the carrier answers
        if not batch:
            break
        try:
            result = carrier.track([number for _, number in batch])
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is this carrier's failure
            result = TrackingResult(ok=False, error=f"{exc.__class__.__name__}: {exc}")
        if not isinstance(result, TrackingResult) or not result.ok:
            outcome.errors.append(getattr(result, "error", None) or f"{carrier.label} answered nothing usable")
            break
        outcome.asked += len(batch)
        _apply(carrier, batch, result, outcome)
    return outcome


class Poller:
    """Polls every pollable carrier; one that failed waits BACKOFF_SECONDS, doubled
    after each failure in a row (kept by this object: the worker's own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.failures: dict[str, int] = {}
        self.resume_at: dict[str, float] = {}

    def __call__(self) -> dict[str, Outcome]:
        outcomes = {}
        for carrier in pollable_carriers():
            if self.clock() < self.resume_at.get(carrier.id, float("-inf")):
                continue
            outcome = outcomes[carrier.id] = poll_carrier(carrier)
            if outcome.errors:
                self.failures[carrier.id] = self.failures.get(carrier.id, 0) + 1
                delay = min(BACKOFF_SECONDS * 2 ** (self.failures[carrier.id] - 1), MAX_BACKOFF_SECONDS)
                self.resume_at[carrier.id] = self.clock() + delay
                log.warning("tracking poll of %s failed (%s); next try in %.0fs", carrier.id, outcome.errors[0],
                            delay)
            else:
                self.failures.pop(carrier.id, None)
                self.resume_at.pop(carrier.id, None)
        return outcomes


def poll_schedule(*, every_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> Periodic:
    """The worker's tracking poll: looks for due parcels every minute."""
    poller = Poller(clock=clock)
    return Periodic(poller, what="polling carriers for tracking", every_seconds=every_seconds, clock=clock)
