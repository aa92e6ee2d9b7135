"""Stripe's webhooks -> GatewayEvents (oms_core.protocols; docs/plugins.md, Webhooks).

The signature is checked first, with the SDK's own `stripe.WebhookSignature`
(the `Stripe-Signature: t=...,v1=...` header, a five-minute tolerance). Each Stripe
event says what its object (a Checkout Session, PaymentIntent, Charge or Dispute)
is as of the event; the core keeps the furthest state, so deliveries that arrive
twice or out of order end in the same place. Event types that move no money are
acknowledged with no events: Stripe must get a 2xx or it retries for days.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Mapping, Optional

from oms_core.protocols import (
    AUTHORIZED, CAPTURED, DISPUTED, FAILED, INTENT_CREATED, PARTIALLY_REFUNDED, REFUND_FAILED, REFUND_PENDING,
    REFUND_SUCCEEDED, REFUNDED, VOIDED, GatewayEvent, GatewayRefund, WebhookResult, sync_event_id,
)

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_SECONDS = 300
ORDER_METADATA_KEY = "oms_order_id"
MAX_ID = 2 ** 31 - 1  # an order id in the core's integer range
MAX_AMOUNT = 2 ** 31 - 1
MAX_TEXT = 500  # reasons and ids kept from a delivery

LookupIntent = Callable[[str], Optional[dict]]

# A PaymentIntent's status -> the payment state it stands for.
INTENT_STATES = {"requires_capture": AUTHORIZED, "succeeded": CAPTURED, "canceled": VOIDED}
# A Refund's status -> the core's refund states.
REFUND_STATES = {"succeeded": REFUND_SUCCEEDED, "pending": REFUND_PENDING, "requires_action": REFUND_PENDING,
                 "failed": REFUND_FAILED, "canceled": REFUND_FAILED}


def intent_state(intent: Mapping) -> str:
    return INTENT_STATES.get(intent.get("status"), INTENT_CREATED)


def sign(body: bytes, secret: str, timestamp: Optional[int] = None) -> dict[str, str]:
    """The header Stripe adds to a delivery, computed by the SDK (for tests and the fake)."""
    import stripe

    return {SIGNATURE_HEADER: stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=timestamp)}


def verify(body: bytes, headers: Mapping[str, str], secret: Optional[str], *,
           now: Optional[float] = None) -> Optional[str]:
    """None when Stripe signed `body` with `secret` less than five minutes from now
    (either way: the SDK checks only the past); otherwise what is wrong."""
    import stripe

    if not secret:
        return "No webhook secret is configured."
    header = headers.get(SIGNATURE_HEADER)
    if not header:
        return f"The {SIGNATURE_HEADER} header is missing."
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        return f"The Stripe signature was refused: {exc.user_message}"
    except ValueError:  # a body that is not UTF-8 text cannot have been signed by Stripe
        return "The body is not text that Stripe signed."
    stamp = int(next(part[2:] for part in header.split(",") if part.startswith("t=")))  # verified above
    if stamp > (time.time() if now is None else now) + TOLERANCE_SECONDS:
        return "The signature's timestamp is in the future (a clock far off)."
    return None


def parse(body: bytes, headers: Mapping[str, str], secret: Optional[str], *,
          lookup_intent: LookupIntent = lambda intent_id: None) -> WebhookResult:
    """The gateway's parse_webhook: verify, then map. `lookup_intent` fetches a
    PaymentIntent when an event alone cannot tell an authorization from an unpaid
    checkout (capture on_ship)."""
    problem = verify(body, headers, secret)
    if problem:
        return WebhookResult(ok=False, error=problem)
    try:
        event = json.loads(body)
        mapper = MAPPERS.get(event["type"])
        if mapper is None:
            return WebhookResult(ok=True, events=[])  # nothing that moves money: acknowledged
        found = mapper(event["data"]["object"], _Context(event, lookup_intent))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return WebhookResult(ok=False, error=f"Unreadable Stripe event: {exc!r}")
    return WebhookResult(ok=True, events=[found])


class _Context:
    """What every event of one delivery shares: its id, time and the intent lookup."""

    def __init__(self, event: Mapping, lookup_intent: LookupIntent):
        self.event_id = _text(event["id"], "event id")
        self.occurred_at = datetime.fromtimestamp(_whole(event["created"], "created", 2 ** 40), timezone.utc)
        self.lookup_intent = lookup_intent

    def event(self, obj: Mapping, *, state: str, amount, external_id, checkout_id=None, reason="",
              amount_refunded=0, refunds=()) -> GatewayEvent:
        return GatewayEvent(
            event_id=self.event_id, order_id=_order_id(obj), amount_minor=_whole(amount, "amount"),
            currency=_currency(obj["currency"]), external_id=_optional_id(external_id),
            state=state, amount_refunded_minor=_whole(amount_refunded, "amount_refunded"),
            refunds=tuple(refunds), checkout_id=_optional_id(checkout_id), occurred_at=self.occurred_at,
            reason=str(reason or "")[:MAX_TEXT])


# ------------------------------------------------------------------ one mapper per event type


def _session_completed(session: Mapping, context: _Context) -> GatewayEvent:
    intent = session.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, Mapping) else intent
    if session.get("payment_status") == "paid":
        state = CAPTURED
    elif intent_id:  # unpaid: an authorization (capture on_ship), or a payment still processing
        if not isinstance(intent, Mapping):
            intent = context.lookup_intent(intent_id) or {}
        state = intent_state(intent)  # unknown yet: the intent's own events follow
    else:
        state = INTENT_CREATED
    return context.event(session, state=state, amount=session["amount_total"], external_id=intent_id,
                         checkout_id=session["id"])


def _session_async_paid(session: Mapping, context: _Context) -> GatewayEvent:
    return context.event(session, state=CAPTURED, amount=session["amount_total"],
                         external_id=_id_of(session.get("payment_intent")), checkout_id=session["id"])


def _session_failed(session: Mapping, context: _Context, reason: str) -> GatewayEvent:
    # An abandoned or failed checkout: the customer may start another one.
    return context.event(session, state=FAILED, amount=session["amount_total"] or 0,
                         external_id=_id_of(session.get("payment_intent")), checkout_id=session["id"],
                         reason=reason)


def _intent(state: str, amount_field: str):
    def mapper(intent: Mapping, context: _Context) -> GatewayEvent:
        error = intent.get("last_payment_error") or {}
        reason = error.get("message") or intent.get("cancellation_reason") or ""
        return context.event(intent, state=state, amount=intent.get(amount_field) or intent["amount"],
                             external_id=intent["id"], reason=reason)
    return mapper


def _charge_refunded(charge: Mapping, context: _Context) -> GatewayEvent:
    taken = charge.get("amount_captured") or charge["amount"]
    refunded = _whole(charge["amount_refunded"], "amount_refunded")
    state = REFUNDED if charge.get("refunded") or refunded >= taken else PARTIALLY_REFUNDED
    # Stripe lists the refunds only when the API version or an expansion includes them.
    listed = (charge.get("refunds") or {}).get("data") or ()
    refunds = [GatewayRefund(external_id=_text(refund["id"], "refund id"),
                             amount_minor=_whole(refund["amount"], "refund amount"),
                             state=REFUND_STATES.get(refund.get("status"), REFUND_PENDING)) for refund in listed]
    return context.event(charge, state=state, amount=taken, external_id=_id_of(charge.get("payment_intent")),
                         amount_refunded=refunded, refunds=refunds)


def _dispute_created(dispute: Mapping, context: _Context) -> GatewayEvent:
    return context.event(dispute, state=DISPUTED, amount=dispute["amount"],
                         external_id=_id_of(dispute.get("payment_intent")), reason=dispute.get("reason") or "")


MAPPERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_async_paid,
    "checkout.session.async_payment_failed":
        lambda session, context: _session_failed(session, context, "The payment failed."),
    "checkout.session.expired":
        lambda session, context: _session_failed(session, context, "The checkout expired unpaid."),
    "payment_intent.succeeded": _intent(CAPTURED, "amount_received"),
    "payment_intent.amount_capturable_updated": _intent(AUTHORIZED, "amount_capturable"),
    "payment_intent.payment_failed": _intent(FAILED, "amount"),
    "payment_intent.canceled": _intent(VOIDED, "amount"),
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}
EVENT_TYPES = tuple(MAPPERS)  # what to enable on the Stripe webhook endpoint


# ------------------------------------------------------------------ a fetched object, as an event


def current(obj: Mapping) -> GatewayEvent:
    """A Checkout Session (its payment_intent expanded) or a PaymentIntent as Stripe
    has it now, as the event its webhook would have carried (fetch_payment). The
    event id is made from the object's state: the same state fetched twice is one
    event. Raises ValueError, KeyError or TypeError for an object it cannot read."""
    if obj.get("object") == "checkout.session":
        intent = obj.get("payment_intent")
        if obj.get("status") == "expired":
            mapper = MAPPERS["checkout.session.expired"]
        elif obj.get("status") == "complete":
            mapper = MAPPERS["checkout.session.completed"]
        else:  # open: the customer may still pay, even after a declined card
            mapper = lambda session, context: context.event(  # noqa: E731
                session, state=INTENT_CREATED, amount=session["amount_total"] or 0,
                external_id=_id_of(intent), checkout_id=session["id"])
    elif obj.get("object") == "payment_intent":
        mapper = _intent(_fetched_intent_state(obj), "amount")
    else:
        raise ValueError(f"not a Checkout Session or PaymentIntent: {obj.get('object')!r}")
    found = mapper(obj, _Context({"id": "-", "created": obj.get("created") or 0}, lambda intent_id: None))
    return replace(found, event_id=sync_event_id(_text(obj["id"], "id"), found.state, found.amount_refunded_minor),
                   occurred_at=None)


def _fetched_intent_state(intent: Mapping) -> str:
    """What a PaymentIntent's status says now; a declined attempt (it asks for
    another card) failed, as its payment_intent.payment_failed event says."""
    if intent.get("status") == "requires_payment_method" and intent.get("last_payment_error"):
        return FAILED
    return intent_state(intent)


# ------------------------------------------------------------------ reading values


def _order_id(obj: Mapping) -> Optional[int]:
    """The order the object is for, from the metadata the plugin set; None when
    the object carries none (a dispute): the core matches it by its ids."""
    value = (obj.get("metadata") or {}).get(ORDER_METADATA_KEY)
    return None if value in (None, "") else _whole(value, ORDER_METADATA_KEY, MAX_ID)


def _whole(value, name: str, high: int = MAX_AMOUNT) -> int:
    """A whole number from 0 to `high`, given as one or as digits (never a float
    cut short, nor true taken for 1)."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 15 and int(text) <= high):
        raise ValueError(f"{name} must be a whole number from 0 to {high}, not {value!r}")
    return int(text)


def _currency(value) -> str:
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValueError(f"currency must be a three-letter code, not {value!r}")
    return value.upper()


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValueError(f"{name} must be text of 1 to 200 characters, not {value!r}")
    return value


def _id_of(value) -> Optional[str]:
    """An id given as is, or inside an expanded object."""
    return value.get("id") if isinstance(value, Mapping) else value


def _optional_id(value) -> Optional[str]:
    return None if value is None else _text(value, "id")
