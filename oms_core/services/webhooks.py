"""Webhooks from payment gateways and carriers: keep, authenticate, parse, apply.

Every delivery to an installed plugin's endpoint is stored raw first
(services.inbox), and the stored row says what came of it. The core decides whether
the plugin is asked at all (docs/plugins.md, webhook authentication): a plugin that
takes no webhooks ("none") is refused unread; one that checks a signature made with
its `webhook_secret` ("secret", the default) is refused while that setting is empty,
so a plugin that would skip the check without a secret is never reached; one with
its own documented authentication ("custom") is asked with whatever secret it has.

A bad signature, an unreadable body or an event that does not fit changes nothing
(docs/architecture.md, invariant 3): every event of a delivery is checked before
any is applied, and they are applied in one transaction. A gateway event applies
only to an order paid with that gateway. Gateway events are applied at most once by
their event id, carrier events de-duplicated by theirs (or their content), so a
sender's retries are harmless. Events that fit no shipment or order yet are kept
and matched again when the booking lands, or by the worker's periodic re-match.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from .. import runtime
from ..db import db, write_transaction
from ..errors import DomainError
from ..models import Order
from ..plugin_settings import WEBHOOK_SECRET, environment_name
from ..plugins import CARRIER, GATEWAY
from ..protocols import (
    WEBHOOK_AUTH_CUSTOM, WEBHOOK_AUTH_NONE, GatewayEvent, TrackingUpdate, WebhookHeaders, WebhookResult,
    webhook_auth,
)
from . import inbox, payments, shipments
from .periodic import Periodic

log = logging.getLogger(__name__)
# The kind of plugin object whose webhooks carry each kind of event.
PLUGIN_KINDS = {GatewayEvent: GATEWAY, TrackingUpdate: CARRIER}


class WebhookRejected(DomainError):
    """The plugin refused the delivery (bad signature, unreadable body): nothing changed."""

    status_code = 400


class WebhookNotAccepted(DomainError):
    """The plugin takes no webhooks."""

    status_code = 404


class WebhookUnprocessable(DomainError):
    """A well-signed delivery with an event that does not fit: nothing was applied."""

    status_code = 422


class WebhookFailed(DomainError):
    """The plugin or the core failed on the delivery; it is kept and the sender should retry."""

    status_code = 500


class WebhookNotConfigured(DomainError):
    """The plugin checks signatures but has no secret: refused until it is configured."""

    status_code = 503


class WebhookTooLarge(DomainError):
    """A body over inbox.MAX_BODY_BYTES: not kept, not read."""

    status_code = 413


@dataclass(frozen=True)
class WebhookReceipt:
    received: int    # events in the delivery
    applied: int     # new and counted
    duplicates: int  # seen before
    unmatched: int = 0  # kept until their shipment or order turns up
    flagged: int = 0  # payments kept for a human: amount or currency did not match

    @property
    def status_code(self) -> int:
        return 202 if self.unmatched else 200

    def as_dict(self) -> dict:
        return {"ok": True, "received": self.received, "applied": self.applied,
                "duplicates": self.duplicates, "unmatched": self.unmatched, "flagged": self.flagged}


def receive_payment_webhook(gateway_id: str, body: bytes, headers: Mapping[str, str]) -> WebhookReceipt:
    """Keep and apply a gateway's delivery. Raises NotFound for an unknown gateway
    (nothing kept) and the Webhook* errors above (kept, with its outcome)."""
    gateway = runtime.registry().installed(GATEWAY, gateway_id)
    return _receive(inbox.PAYMENT, gateway, body, headers, GatewayEvent, payments.check_gateway_event,
                    _apply_payments)


def receive_carrier_webhook(carrier_id: str, body: bytes, headers: Mapping[str, str]) -> WebhookReceipt:
    """Keep and apply a carrier's delivery; like receive_payment_webhook."""
    carrier = runtime.registry().installed(CARRIER, carrier_id)
    return _receive(inbox.CARRIER, carrier, body, headers, TrackingUpdate, shipments.check_update,
                    _apply_tracking)


def _receive(source: str, plugin, body: bytes, headers, kind, check: Callable,
             apply: Callable) -> WebhookReceipt:
    if len(body) > inbox.MAX_BODY_BYTES:
        raise WebhookTooLarge(f"Body too large: at most {inbox.MAX_BODY_BYTES} bytes.")
    headers = WebhookHeaders(headers)  # plugins look headers up in any case
    inbound_id = inbox.store(source, plugin.id, body, headers)
    events = _verified_events(inbound_id, plugin, body, headers, kind)
    try:
        for event in events:  # all of them before any is applied
            check(event)
        with write_transaction():
            row = inbox.lock(inbound_id)
            tally = apply(row, plugin.id, events)
            inbox.settle(row, tally)
    except DomainError as exc:
        inbox.close(inbound_id, outcome=inbox.REFUSED, verification=inbox.VERIFIED, reason=str(exc))
        raise WebhookUnprocessable(str(exc)) from exc
    except Exception as exc:
        raise _failed(inbound_id, f"Applying the events failed: {exc.__class__.__name__}: {exc}",
                      verification=inbox.VERIFIED) from exc
    return WebhookReceipt(received=tally.received, applied=tally.applied, duplicates=tally.duplicate,
                          unmatched=tally.unmatched, flagged=tally.flagged)


def _failed(inbound_id: int, reason: str, *, verification: str = inbox.NOT_CHECKED) -> WebhookFailed:
    """Log a failure the sender cannot fix, settle the row as an error, and say only
    that it was kept: the details are for staff, not for the sender."""
    log.error("webhook delivery #%s: %s", inbound_id, reason, exc_info=sys.exc_info()[1] is not None)
    inbox.close(inbound_id, outcome=inbox.ERROR, verification=verification, reason=reason)
    return WebhookFailed(f"The delivery was kept (#{inbound_id}) but could not be processed; "
                         "please send it again later.")


def _verified_events(inbound_id: int, plugin, body: bytes, headers: WebhookHeaders, kind) -> list:
    """Authenticate and parse through the plugin, or settle the row and raise."""
    auth = webhook_auth(plugin)
    if auth == WEBHOOK_AUTH_NONE:
        reason = f"{plugin.label} takes no webhooks."
        inbox.close(inbound_id, outcome=inbox.REFUSED, reason=reason)
        raise WebhookNotAccepted(reason)
    registry = runtime.registry()
    # Kept before it is refused: a sender's deliveries are visible while staff set it up.
    problem = registry.setup_status(PLUGIN_KINDS[kind], plugin).problem()
    if problem:
        inbox.close(inbound_id, outcome=inbox.REFUSED, reason=problem)
        raise WebhookNotConfigured(problem)
    secret = registry.settings.get(plugin.id, WEBHOOK_SECRET)
    if not secret and auth != WEBHOOK_AUTH_CUSTOM:
        inbox.close(inbound_id, outcome=inbox.REFUSED, reason=(
            f"No webhook secret is configured for {plugin.id}: set OMS_PLUGINS['{plugin.id}']"
            f"['{WEBHOOK_SECRET}'] or {environment_name(plugin.id, WEBHOOK_SECRET)}."))
        raise WebhookNotConfigured(f"{plugin.label} takes no webhooks until its webhook secret "
                                   "is configured.")
    try:
        result = plugin.parse_webhook(body, headers, secret)
    except Exception as exc:
        raise _failed(inbound_id,
                      f"{plugin.id}.parse_webhook raised {exc.__class__.__name__}: {exc}") from exc
    if not isinstance(result, WebhookResult):
        raise _failed(inbound_id, f"{plugin.id}.parse_webhook returned {result!r}, not a WebhookResult.")
    if not result.ok:
        reason = result.error or "The webhook was refused."
        inbox.close(inbound_id, outcome=inbox.REFUSED, verification=inbox.REFUSED, reason=reason)
        raise WebhookRejected(reason)
    events = list(result.events)
    wrong = [event for event in events if not isinstance(event, kind)]
    if wrong:  # a plugin bug, not the sender's
        raise _failed(inbound_id, f"{plugin.id}.parse_webhook returned {wrong[0]!r}, not a {kind.__name__}.",
                      verification=inbox.VERIFIED)
    return events


def _apply_payments(row, gateway_id: str, events: list[GatewayEvent]) -> inbox.Tally:
    """Apply each event to its order; keep those for an unknown order, or for an
    order paid another way, as unmatched. In the caller's transaction."""
    tally = inbox.Tally(received=len(events))
    for event in events:
        # The order of the payment it concerns, else the one it names.
        order_id = payments.order_id_for(gateway_id, event)
        order = db.session.get(Order, order_id) if order_id is not None else None
        problem = payments.event_refusal(gateway_id, order, order_id)
        if problem is None:
            outcome = payments.outcome_of(payments.apply_gateway_event(gateway_id, event))
        elif payments.event_seen(gateway_id, event.event_id):
            outcome = inbox.DUPLICATE
        else:
            kept = inbox.keep_unmatched(row, match_key=payments.match_key(gateway_id, event), event=event,
                                        reason=problem, dedupe_key=payments.event_dedupe_key(event))
            outcome = inbox.UNMATCHED if kept else inbox.DUPLICATE
        _count(tally, outcome, problem)
    return tally


def _apply_tracking(row, carrier_id: str, updates: list[TrackingUpdate]) -> inbox.Tally:
    """Apply each event to the shipment with its tracking number; keep those for a
    number not recorded yet as unmatched. In the caller's transaction."""
    tally = inbox.Tally(received=len(updates))
    numbers = {update.tracking_number for update in updates}
    shipments.lock_tracking_numbers(carrier_id, numbers)
    shipment_ids = shipments.shipment_ids_by_number(carrier_id, numbers)
    for update in updates:
        shipment_id = shipment_ids.get(update.tracking_number)
        problem = None if shipment_id else f"No shipment with tracking number {update.tracking_number} yet."
        if problem is None:
            event = shipments.add_tracking_update(shipment_id, update, source=f"carrier:{carrier_id}")
            outcome = inbox.APPLIED if event is not None else inbox.DUPLICATE
        else:
            kept = inbox.keep_unmatched(row, match_key=update.tracking_number, event=update, reason=problem,
                                        dedupe_key=shipments.event_dedupe_key(update))
            outcome = inbox.UNMATCHED if kept else inbox.DUPLICATE
        _count(tally, outcome, problem)
    return tally


def _count(tally: inbox.Tally, outcome: str, problem: str | None = None) -> None:
    name = {inbox.APPLIED: "applied", inbox.DUPLICATE: "duplicate", inbox.UNMATCHED: "unmatched",
            inbox.FLAGGED: "flagged"}[outcome]
    setattr(tally, name, getattr(tally, name) + 1)
    if outcome == inbox.UNMATCHED:
        tally.reasons.append(problem)


# ------------------------------------------------------------------ periodic re-match


def rematch_waiting(limit: int = 500) -> int:
    """Apply waiting events whose shipment or order has turned up (bookings apply
    theirs at once; this catches the rest). Returns how many keys matched. One key
    failing is logged and skipped."""
    matched = 0
    waiting = [(inbox.CARRIER, key) for key in inbox.waiting_keys(inbox.CARRIER, limit)]
    waiting += [(inbox.PAYMENT, key) for key in inbox.waiting_keys(inbox.PAYMENT, limit)]
    for source, (plugin_id, match_key) in waiting:
        rematch = shipments.rematch_unmatched if source == inbox.CARRIER else payments.rematch_unmatched
        try:
            matched += rematch(plugin_id, match_key)
        except DomainError as exc:
            db.session.rollback()
            log.warning("re-matching %s events of %s for %s failed: %s", source, plugin_id, match_key, exc)
    return matched


def rematch_schedule(*, every_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> Periodic:
    """The worker's periodic re-match of waiting webhook events."""
    return Periodic(lambda: rematch_waiting(), what="re-matching waiting webhook events",
                    every_seconds=every_seconds, clock=clock)
