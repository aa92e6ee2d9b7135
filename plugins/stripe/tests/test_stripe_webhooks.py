"""Stripe's webhooks, signed as Stripe signs them, into gateway events. The payloads
follow the field shapes of Stripe's API reference (Event, Checkout Session,
PaymentIntent, Charge, Dispute), trimmed to what a shop's account sends."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest

from oms_core.protocols import (
    AUTHORIZED, CAPTURED, DISPUTED, FAILED, INTENT_CREATED, PARTIALLY_REFUNDED, REFUNDED, VOIDED, GatewayRefund,
    WebhookHeaders,
)
from oms_stripe import StripeGateway
from oms_stripe.events import EVENT_TYPES, parse, sign

SECRET = "whsec_test_webhooks"
CREATED = 1764460800  # 2025-11-30T00:00:00Z


def event(kind: str, obj: dict, event_id="evt_1QXk2D2eZvKYlo2C0f8nA9tB") -> bytes:
    return json.dumps({
        "id": event_id, "object": "event", "api_version": "2025-10-29.clover", "created": CREATED,
        "livemode": False, "pending_webhooks": 1, "type": kind,
        "request": {"id": "req_8bK1wQkz3Yc7Ld", "idempotency_key": "order-42-attempt-1"},
        "data": {"object": obj},
    }, indent=2).encode()


def session(**changes) -> dict:
    return {"id": "cs_test_a1b2c3", "object": "checkout.session", "mode": "payment", "amount_subtotal": 4950,
            "amount_total": 4950, "currency": "eur", "customer_email": "ann@example.com",
            "client_reference_id": "42", "metadata": {"oms_order_id": "42"},
            "payment_intent": "pi_3QXk2D2eZvKYlo2C1", "payment_status": "paid", "status": "complete",
            "success_url": "https://shop.example/paid", "cancel_url": "https://shop.example/cart",
            "expires_at": CREATED + 86400, "created": CREATED - 60, "livemode": False, "url": None, **changes}


def intent(**changes) -> dict:
    return {"id": "pi_3QXk2D2eZvKYlo2C1", "object": "payment_intent", "amount": 4950, "amount_capturable": 0,
            "amount_received": 4950, "capture_method": "automatic_async", "currency": "eur",
            "latest_charge": "ch_3QXk2D2eZvKYlo2C1", "last_payment_error": None, "cancellation_reason": None,
            "metadata": {"oms_order_id": "42"}, "status": "succeeded", "created": CREATED - 30,
            "livemode": False, **changes}


def charge(**changes) -> dict:
    return {"id": "ch_3QXk2D2eZvKYlo2C1", "object": "charge", "amount": 4950, "amount_captured": 4950,
            "amount_refunded": 0, "captured": True, "currency": "eur", "disputed": False,
            "metadata": {"oms_order_id": "42"}, "paid": True, "payment_intent": "pi_3QXk2D2eZvKYlo2C1",
            "refunded": False, "status": "succeeded", "created": CREATED - 30, "livemode": False, **changes}


def refund(refund_id, amount, status="succeeded") -> dict:
    return {"id": refund_id, "object": "refund", "amount": amount, "charge": "ch_3QXk2D2eZvKYlo2C1",
            "currency": "eur", "payment_intent": "pi_3QXk2D2eZvKYlo2C1", "status": status,
            "reason": "requested_by_customer", "metadata": {}, "created": CREATED}


def dispute() -> dict:
    return {"id": "du_1QXk2D2eZvKYlo2C", "object": "dispute", "amount": 4950, "currency": "eur",
            "charge": "ch_3QXk2D2eZvKYlo2C1", "payment_intent": "pi_3QXk2D2eZvKYlo2C1", "reason": "fraudulent",
            "status": "warning_needs_response", "metadata": {}, "created": CREATED, "livemode": False}


def parsed(body: bytes, lookup=lambda intent_id: None):
    result = parse(body, sign(body, SECRET), SECRET, lookup_intent=lookup)
    assert result.ok, result.error
    [found] = result.events
    return found


@pytest.mark.parametrize("kind, obj, state, amount, reason", [
    ("checkout.session.completed", session(), CAPTURED, 4950, ""),
    ("checkout.session.async_payment_succeeded", session(), CAPTURED, 4950, ""),
    ("checkout.session.async_payment_failed", session(payment_status="unpaid"), FAILED, 4950,
     "The payment failed."),
    ("checkout.session.expired", session(status="expired", payment_status="unpaid", payment_intent=None),
     FAILED, 4950, "The checkout expired unpaid."),
    ("payment_intent.succeeded", intent(), CAPTURED, 4950, ""),
    ("payment_intent.amount_capturable_updated",
     intent(status="requires_capture", amount_capturable=4950, amount_received=0), AUTHORIZED, 4950, ""),
    ("payment_intent.payment_failed", intent(status="requires_payment_method", amount_received=0,
                                             last_payment_error={"code": "card_declined", "type": "card_error",
                                                                 "message": "Your card was declined."}),
     FAILED, 4950, "Your card was declined."),
    ("payment_intent.canceled", intent(status="canceled", amount_received=0, cancellation_reason="abandoned"),
     VOIDED, 4950, "abandoned"),
    ("charge.dispute.created", dispute(), DISPUTED, 4950, "fraudulent"),
])
def test_each_event_type_maps_onto_a_payment_state(kind, obj, state, amount, reason):
    found = parsed(event(kind, obj))
    assert (found.state, found.amount_minor, found.currency, found.reason) == (state, amount, "EUR", reason)
    assert found.event_id == "evt_1QXk2D2eZvKYlo2C0f8nA9tB"
    assert found.occurred_at == datetime(2025, 11, 30, tzinfo=timezone.utc)
    expected_intent = None if kind == "checkout.session.expired" else "pi_3QXk2D2eZvKYlo2C1"
    assert found.external_id == expected_intent
    # A dispute carries no metadata of ours: the core matches it by the PaymentIntent.
    assert found.order_id == (None if kind == "charge.dispute.created" else 42)
    assert found.checkout_id == ("cs_test_a1b2c3" if kind.startswith("checkout.") else None)


def test_a_partial_refund_lists_its_refunds():
    refunds = {"object": "list", "has_more": False,
               "data": [refund("re_2", 500, "pending"), refund("re_1", 1000)]}
    found = parsed(event("charge.refunded", charge(amount_refunded=1500, refunds=refunds)))
    assert (found.state, found.amount_minor, found.amount_refunded_minor) == (PARTIALLY_REFUNDED, 4950, 1500)
    assert found.refunds == (GatewayRefund("re_2", 500, "pending"), GatewayRefund("re_1", 1000, "succeeded"))
    assert (found.external_id, found.order_id) == ("pi_3QXk2D2eZvKYlo2C1", 42)


def test_a_full_refund_without_a_listed_refund():
    # Current API versions leave `refunds` off a charge unless it is expanded.
    found = parsed(event("charge.refunded", charge(amount_refunded=4950, refunded=True)))
    assert (found.state, found.amount_refunded_minor, found.refunds) == (REFUNDED, 4950, ())


def test_an_unpaid_completed_checkout_is_what_its_payment_intent_is():
    body = event("checkout.session.completed", session(payment_status="unpaid"))
    asked = []

    def lookup(intent_id):
        asked.append(intent_id)
        return intent(status="requires_capture", amount_received=0)
    assert parsed(body, lookup).state == AUTHORIZED and asked == ["pi_3QXk2D2eZvKYlo2C1"]
    assert parsed(body, lambda intent_id: None).state == INTENT_CREATED  # Stripe could not say
    expanded = session(payment_status="unpaid", payment_intent=intent(status="processing"))
    found = parsed(event("checkout.session.completed", expanded), lookup=lambda _: pytest.fail("asked"))
    assert (found.state, found.external_id) == (INTENT_CREATED, "pi_3QXk2D2eZvKYlo2C1")


def test_unknown_event_types_are_acknowledged_with_no_events():
    body = event("customer.created", {"id": "cus_1", "object": "customer"})
    result = parse(body, sign(body, SECRET), SECRET)
    assert (result.ok, list(result.events)) == (True, [])
    assert "charge.refunded" in EVENT_TYPES and "customer.created" not in EVENT_TYPES


def test_the_gateway_parses_with_its_webhook_secret_and_any_header_case():
    body = event("payment_intent.succeeded", intent())
    header = sign(body, SECRET)["Stripe-Signature"]
    gateway = StripeGateway("sk_test_1")
    for headers in ({"stripe-signature": header}, {"STRIPE-SIGNATURE": header}):
        assert gateway.parse_webhook(body, WebhookHeaders(headers), SECRET).ok


@pytest.mark.parametrize("case", ["no header", "another secret", "body changed", "stale", "future",
                                  "no secret", "not utf-8", "garbage header", "signed garbage", "bad metadata",
                                  "bad amount", "bad currency"])
def test_what_stripe_did_not_sign_as_it_is_now_is_refused(case):
    body = event("payment_intent.succeeded", intent())
    now = int(time.time())
    headers, secret = sign(body, SECRET, timestamp=now), SECRET
    if case == "no header":
        headers = {}
    elif case == "another secret":
        headers = sign(body, "whsec_someone_else")
    elif case == "body changed":
        body = body.replace(b"4950", b"4951")
    elif case == "stale":
        headers = sign(body, SECRET, timestamp=now - 301)
    elif case == "future":
        headers = sign(body, SECRET, timestamp=now + 3600)
    elif case == "no secret":
        secret = None
    elif case == "not utf-8":
        body = b"\xff\xfe" + body
    elif case == "garbage header":
        headers = {"Stripe-Signature": "t=abc,v1="}
    elif case == "signed garbage":
        body = b"{not json"
        headers = sign(body, SECRET)
    else:
        broken = {"bad metadata": intent(metadata={"oms_order_id": "42; DROP"}),
                  "bad amount": intent(amount_received=49.5), "bad currency": intent(currency="euro")}[case]
        body = event("payment_intent.succeeded", broken)
        headers = sign(body, SECRET)
    result = parse(body, headers, secret)
    assert not result.ok and result.error and list(result.events) == []


def test_a_signature_just_inside_the_tolerance_is_accepted():
    body = event("payment_intent.succeeded", intent())
    assert parse(body, sign(body, SECRET, timestamp=int(time.time()) - 290), SECRET).ok
