"""Stripe end to end: a checkout paid on the stand-in's hosted page, its webhooks
delivered to the shop's real endpoint (<OMS_WEBHOOK_PREFIX>/payments/stripe) many
times over and in any order, on SQLite and PostgreSQL.

Stripe retries a delivery until it gets a 2xx and promises no order, so a payment's
events arrive twice, late, or before the ones that came first. Each event carries
the state of Stripe's object at that time (oms_core.protocols.GatewayEvent), and the
core keeps one payment per PaymentIntent at its furthest state: whatever the order
of arrival, the shop ends with one payment in the right state.
"""
from __future__ import annotations

import random

import pytest

from oms_core import runtime
from oms_core.db import db
from oms_core.models import InboundEvent, Order, Payment
from oms_core.protocols import CAPTURE_NOW, CAPTURE_ON_SHIP, CaptureRequest, RefundRequest, StartPaymentRequest
from oms_core.services import payment_ops, payments
from oms_core.testing import place_test_order, post_signed_webhook
from oms_stripe import GATEWAY_ID, StripeGateway
from oms_stripe.events import sign

COPIES = 100  # deliveries of each event
ACCEPTED = (200, 202)


def start_and_pay(fake, order, capture=CAPTURE_NOW) -> str:
    """The customer is sent to Stripe and pays; returns the PaymentIntent id."""
    gateway = runtime.registry().gateway(GATEWAY_ID)
    started = gateway.start_payment(StartPaymentRequest(
        order_id=order.id, order_number=order.number, amount_minor=order.balance_minor,
        currency=order.currency, idempotency_key=f"order-{order.id}-pay", customer_email="customer@example.com",
        success_url="https://shop.example/paid", cancel_url="https://shop.example/cart", capture=capture))
    assert started.ok, started.error
    return fake.pay(started.external_id)["payment_intent"]


def deliver(client, deliveries, copies=COPIES, seed=8) -> None:
    """Every event `copies` times, shuffled, each signed when sent as Stripe does."""
    sends = [delivery.body for delivery in deliveries for _ in range(copies)]
    random.Random(seed).shuffle(sends)
    for body in sends:
        response = post_signed_webhook(client, "payment", GATEWAY_ID, body, sign=sign)
        assert response.status_code in ACCEPTED, response.get_json()


def the_payment(order_id) -> Payment:
    db.session.expire_all()
    [payment] = payments.payments_for(order_id)  # one payment, however many deliveries
    return payment


def test_installed_and_pointed_at_the_stand_in(oms_app, fake):
    gateway = runtime.registry().gateway(GATEWAY_ID)
    assert isinstance(gateway, StripeGateway) and gateway.api_base == fake.api_base


def test_a_paid_checkout_replayed_in_any_order_is_one_captured_payment(oms_app, oms_client, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    intent = start_and_pay(fake, order)
    assert [d.event["type"] for d in fake.events] == ["payment_intent.succeeded", "checkout.session.completed"]
    deliver(oms_client, fake.events)
    payment = the_payment(order.id)
    assert (payment.external_id, payment.amount_minor, payment.state) == (intent, order.total_minor, "captured")
    order = db.session.get(Order, order.id)
    assert (order.status, order.paid_minor) == ("paid", order.total_minor)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_checkout_the_shop_started_is_the_payment_its_events_complete(oms_app, oms_client, fake, seed):
    """Pay now starts a Checkout Session (a `started` payment); the PaymentIntent's
    events do not name the session, yet they complete that payment, in any order."""
    order = place_test_order(payment_method=GATEWAY_ID)
    url = payment_ops.start_payment(order.id, success_url="https://shop.example/paid",
                                    cancel_url="https://shop.example/cart")
    intent = fake.pay(url.rsplit("/", 1)[1])["payment_intent"]
    deliver(oms_client, fake.events, copies=3, seed=seed)
    payment = the_payment(order.id)
    assert (payment.external_id, payment.state) == (intent, "captured")
    assert payment.checkout_id and payment.checkout_id.startswith("cs_")


def test_an_authorization_captured_later_converges_on_captured(oms_app, oms_client, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    intent = start_and_pay(fake, order, capture=CAPTURE_ON_SHIP)
    authorized = list(fake.events)
    deliver(oms_client, authorized, copies=10)
    assert the_payment(order.id).state == "authorized"
    captured = runtime.registry().gateway(GATEWAY_ID).capture(
        CaptureRequest(intent, order.total_minor, order.currency, idempotency_key=f"order-{order.id}-capture"))
    assert captured.ok
    deliver(oms_client, fake.events, copies=30, seed=3)  # the authorization's events again, late
    payment = the_payment(order.id)
    assert (payment.state, payment.amount_minor) == ("captured", order.total_minor)


def test_a_refund_replayed_with_the_payment_events_stays_partially_refunded(oms_app, oms_client, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    intent = start_and_pay(fake, order)
    refunded = runtime.registry().gateway(GATEWAY_ID).refund(
        RefundRequest(intent, 300, order.currency, idempotency_key=f"order-{order.id}-refund-1"))
    assert refunded.ok
    assert fake.events[-1].event["type"] == "charge.refunded"
    deliver(oms_client, fake.events, copies=30)
    payment = the_payment(order.id)
    assert (payment.state, payment.external_id) == ("partially_refunded", intent)


def test_a_dispute_without_order_metadata_finds_its_payment_by_the_intent(oms_app, oms_client, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    intent = start_and_pay(fake, order)
    fake.dispute(intent)
    deliver(oms_client, fake.events, copies=5)
    assert the_payment(order.id).state == "disputed"


def test_an_expired_checkout_takes_no_money(oms_app, oms_client, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    gateway = runtime.registry().gateway(GATEWAY_ID)
    started = gateway.start_payment(StartPaymentRequest(
        order_id=order.id, order_number=order.number, amount_minor=order.balance_minor, currency=order.currency,
        idempotency_key="expire-1", customer_email="", success_url="https://shop.example/paid",
        cancel_url="https://shop.example/cart"))
    fake.expire(started.external_id)
    deliver(oms_client, fake.events, copies=3)
    order = db.session.get(Order, order.id)
    assert (order.status, order.paid_minor) == ("confirmed", 0)


@pytest.mark.parametrize("how", ["another secret", "stale", "changed body"])
def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(oms_app, oms_client, fake, how):
    order = place_test_order(payment_method=GATEWAY_ID)
    start_and_pay(fake, order)
    body = fake.events[0].body
    if how == "another secret":
        headers = sign(body, "whsec_not_the_shops")
    elif how == "stale":
        headers = sign(body, fake.webhook_secret, timestamp=int(fake.events[0].event["created"]) - 301)
    else:
        headers, body = sign(body, fake.webhook_secret), body.replace(b'"amount"', b'"amount" ', 1)
    response = post_signed_webhook(oms_client, "payment", GATEWAY_ID, body, headers=headers)
    assert response.status_code == 400 and response.get_json()["ok"] is False
    db.session.expire_all()
    assert payments.payments_for(order.id) == []
    order = db.session.get(Order, order.id)
    assert (order.status, order.paid_minor) == ("confirmed", 0)
    [kept] = db.session.query(InboundEvent).all()  # kept, as refused, for staff to see
    assert kept.outcome == "refused"
