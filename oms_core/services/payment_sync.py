"""Payments whose webhook is late: ask the gateway (docs/architecture.md, "Payment sync").

A customer paid on the hosted page but the gateway's webhook never came (a broken
endpoint, an outage): the payment would stay `intent_created` and the order
"payment pending" for ever. The worker asks each gateway that offers
`fetch_payment` about its payments still `intent_created` once they are older than
PAYMENT_SYNC_AFTER_MINUTES and younger than PAYMENT_SYNC_MAX_AGE_HOURS, oldest
first, at most PAYMENT_SYNC_BATCH per pass, and applies the answer exactly like a
webhook (services/payments.py `apply_gateway_event`): receipts, invoices and late
success follow, and the answer's event id is made from the state, so asking twice,
or the webhook arriving after all, changes nothing more.

Only `intent_created` payments are asked: an authorization moves on by the OMS's
own capture or void, whose answers are applied as they come. A payment moved by
asking is marked for staff (reconciliation, "Payments staff must look at"): their
webhook endpoint is probably broken. A gateway that answers "retryable" (down) is
not asked again in the same pass, and the worker's schedule then skips it for 1, 2,
4, ... passes (at most an hour at the defaults) while it stays down.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import or_, select

from .. import runtime
from ..db import db
from ..errors import DomainError
from ..models import Payment
from ..models._base import utcnow
from ..protocols import INTENT_CREATED, FetchPaymentRequest, FetchPaymentResult, supports
from . import payments
from .periodic import Periodic

log = logging.getLogger(__name__)

SYNC_REASON = "learned by asking the gateway: its webhook did not arrive"
WEBHOOK_MISSING = ("Webhook missing: check the gateway's webhook settings (this payment's state was learned by "
                   "asking the gateway, its webhook did not arrive).")
MAX_BATCH = 10_000


@dataclass
class SyncReport:
    asked: int = 0
    changed: list[str] = field(default_factory=list)  # one line per payment moved
    failed: list[str] = field(default_factory=list)  # one line per question not answered
    postponed: int = 0  # not asked: their gateway was down earlier in this pass, or is backing off
    down: set[str] = field(default_factory=set)  # gateways that answered "retryable"


def stale_payments(limit: int) -> list[Payment]:
    """Started payments waiting for a webhook too long, oldest first, of gateways
    that can be asked."""
    gateway_ids = [gid for gid, gateway in runtime.registry().gateways.items() if supports(gateway, "fetch_payment")]
    if not gateway_ids:
        return []
    now = utcnow()
    after = timedelta(minutes=runtime.whole_setting("PAYMENT_SYNC_AFTER_MINUTES", 0, 7 * 24 * 60))
    max_age = timedelta(hours=runtime.whole_setting("PAYMENT_SYNC_MAX_AGE_HOURS", 1, 90 * 24))
    return list(db.session.scalars(select(Payment).where(
        Payment.state == INTENT_CREATED, Payment.gateway_id.in_(gateway_ids),
        or_(Payment.external_id.isnot(None), Payment.checkout_id.isnot(None)),
        Payment.created_at <= now - after, Payment.created_at > now - max_age,
    ).order_by(Payment.created_at, Payment.id).limit(limit)))


def sync_stale(limit: int | None = None, *, skip: frozenset[str] = frozenset()) -> SyncReport:
    """Ask the gateways (but those in `skip`) about stale started payments and
    apply what they say."""
    limit = runtime.whole_setting("PAYMENT_SYNC_BATCH", 1, MAX_BATCH) if limit is None else limit
    report = SyncReport()
    down = report.down
    questions = [(p.id, p.gateway_id, p.order_id, FetchPaymentRequest(
        external_id=p.external_id, checkout_id=p.checkout_id, order_id=p.order_id)) for p in stale_payments(limit)]
    db.session.commit()  # no transaction stays open while a gateway answers
    for payment_id, gateway_id, order_id, request in questions:
        if gateway_id in down or gateway_id in skip:
            report.postponed += 1
            continue
        report.asked += 1
        result = _ask(gateway_id, request)
        if not result.ok or result.event is None:
            if not result.ok:
                report.failed.append(f"payment {payment_id} (order {order_id}, {gateway_id}): {result.error}")
                if result.retryable:
                    down.add(gateway_id)
            continue
        if result.event.state == INTENT_CREATED and not result.event.amount_refunded_minor:
            continue  # still waiting for the customer
        event = dataclasses.replace(result.event, order_id=result.event.order_id or order_id,
                                    reason="; ".join(filter(None, (result.event.reason, SYNC_REASON))))
        try:
            moved = payments.apply_gateway_event(gateway_id, event, attention=WEBHOOK_MISSING)
        except DomainError as exc:
            db.session.rollback()
            report.failed.append(f"payment {payment_id} (order {order_id}, {gateway_id}): {exc}")
            continue
        if moved is not None:
            report.changed.append(f"payment {payment_id} (order {order_id}, {gateway_id}): {moved.state}")
    return report


def _ask(gateway_id: str, request: FetchPaymentRequest) -> FetchPaymentResult:
    """The gateway's answer; a plugin that raises or answers nonsense is taken as down."""
    gateway = runtime.registry().gateways[gateway_id]
    try:
        result = gateway.fetch_payment(request)
    except Exception as exc:  # noqa: BLE001 - one plugin's bug must not stop the pass
        log.exception("%s.fetch_payment failed", gateway_id)
        return FetchPaymentResult.failure(f"the gateway's plugin failed: {exc!r}", retryable=True)
    if not isinstance(result, FetchPaymentResult):
        return FetchPaymentResult.failure(f"fetch_payment answered {result!r}, not a FetchPaymentResult",
                                          retryable=True)
    return result


class _Backoff:
    """Per gateway: after a pass in which it was down, skip it for 1, 2, 4, ...
    passes (at most MAX_SKIPPED_PASSES), so an outage is not asked about every pass."""

    def __init__(self):
        self.failures: dict[str, int] = {}
        self.skip_until: dict[str, int] = {}
        self.passes = 0

    def skipped(self) -> frozenset[str]:
        return frozenset(gid for gid, until in self.skip_until.items() if until > self.passes)

    def record(self, report: SyncReport, skipped: frozenset[str]) -> None:
        self.passes += 1
        for gateway_id in report.down:
            self.failures[gateway_id] = self.failures.get(gateway_id, 0) + 1
            self.skip_until[gateway_id] = self.passes + min(2 ** (self.failures[gateway_id] - 1),
                                                            MAX_SKIPPED_PASSES)
        for gateway_id in set(self.failures) - report.down - skipped:
            del self.failures[gateway_id]  # it answered: back to every pass
            self.skip_until.pop(gateway_id, None)


MAX_SKIPPED_PASSES = 12  # an hour at the default of every 5 minutes


def sync_schedule(*, clock: Callable[[], float] = time.monotonic) -> Periodic:
    """The worker's periodic pass, every PAYMENT_SYNC_EVERY_MINUTES (0: only by
    hand), with a per-gateway back-off while a gateway is down."""
    minutes = runtime.whole_setting("PAYMENT_SYNC_EVERY_MINUTES", 0, 24 * 60)
    backoff = _Backoff()

    def work() -> None:
        if not minutes:
            return
        skipped = backoff.skipped()
        report = sync_stale(skip=skipped)
        backoff.record(report, skipped)
        for line in report.changed + report.failed:
            log.info("payment sync: %s", line)
    return Periodic(work, what="asking gateways about late payments", every_seconds=max(minutes, 1) * 60,
                    clock=clock)
