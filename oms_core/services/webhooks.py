"""Webhooks from payment gateways and carriers: check, parse, apply.

The plugin checks the signature and parses the body; the core applies what it
returns. A delivery that fails its signature or cannot be parsed changes nothing
(DESIGN invariant 3). Gateway events are applied at most once by their event id and
carrier events are de-duplicated, so a sender's retries are harmless.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select

from .. import runtime
from ..db import db
from ..errors import DomainError
from ..models import Order
from ..plugin_settings import WEBHOOK_SECRET
from ..protocols import GatewayEvent, TrackingUpdate
from . import payments, shipments


class WebhookRejected(DomainError):
    """Bad signature or a body the plugin cannot parse: nothing was changed."""

    status_code = 400


class WebhookUnprocessable(DomainError):
    """A well-signed delivery that does not fit our data (an unknown order...)."""

    status_code = 422


@dataclass(frozen=True)
class WebhookReceipt:
    received: int    # events in the delivery
    applied: int     # new and counted
    duplicates: int  # seen before (or, for carriers, for a tracking number we do not know)
    flagged: int = 0  # payments kept for a human: amount or currency did not match

    def as_dict(self) -> dict:
        return {"ok": True, "received": self.received, "applied": self.applied,
                "duplicates": self.duplicates, "flagged": self.flagged}


def _secret(plugin_id: str) -> str | None:
    return runtime.registry().settings.get(plugin_id, WEBHOOK_SECRET)


def _parsed(plugin, plugin_id: str, body: bytes, headers: Mapping[str, str], kind) -> list:
    result = plugin.parse_webhook(body, headers, _secret(plugin_id))
    if not result.ok:
        raise WebhookRejected(result.error or "The webhook was refused.")
    events = list(result.events)
    wrong = [e for e in events if not isinstance(e, kind)]
    if wrong:  # a plugin bug, not the sender's: fail loudly
        raise TypeError(f"{plugin_id}.parse_webhook returned {wrong[0]!r}, not a {kind.__name__}.")
    return events


def receive_payment_webhook(gateway_id: str, body: bytes, headers: Mapping[str, str]) -> WebhookReceipt:
    """Apply the payments a gateway reports. Raises NotFound for an unknown gateway,
    WebhookRejected for a bad signature, WebhookUnprocessable for an unknown order
    (checked for every event before any is applied)."""
    gateway = runtime.registry().gateway(gateway_id)
    events: list[GatewayEvent] = _parsed(gateway, gateway_id, body, headers, GatewayEvent)
    wanted = {e.order_id for e in events}
    known = set(db.session.scalars(select(Order.id).where(Order.id.in_(wanted)))) if wanted else set()
    missing = sorted(wanted - known, key=str)
    if missing:
        raise WebhookUnprocessable(f"Unknown order: {', '.join(map(str, missing))}.")
    applied = duplicates = flagged = 0
    for event in events:
        try:
            payment = payments.apply_gateway_event(gateway_id, event)
        except DomainError as exc:
            raise WebhookUnprocessable(str(exc)) from exc
        if payment is None:
            duplicates += 1
        elif payment.status == "flagged":
            flagged += 1
        else:
            applied += 1
    return WebhookReceipt(received=len(events), applied=applied, duplicates=duplicates, flagged=flagged)


def receive_carrier_webhook(carrier_id: str, body: bytes, headers: Mapping[str, str]) -> WebhookReceipt:
    """Apply the tracking events a carrier reports; re-sent and re-ordered events
    change nothing. Raises NotFound, WebhookRejected or WebhookUnprocessable."""
    carrier = runtime.registry().carrier(carrier_id)
    updates: list[TrackingUpdate] = _parsed(carrier, carrier_id, body, headers, TrackingUpdate)
    try:
        new = shipments.apply_carrier_updates(carrier_id, updates)
    except DomainError as exc:
        raise WebhookUnprocessable(str(exc)) from exc
    return WebhookReceipt(received=len(updates), applied=new, duplicates=len(updates) - new)
