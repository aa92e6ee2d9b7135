"""Stripe's webhooks lost: the core asks Stripe (fetch_payment) and completes the
payment; the webhooks delivered late change nothing more (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from oms_core import runtime
from oms_core.db import db, write_transaction
from oms_core.models import Document, Order, Payment
from oms_core.models._base import utcnow
from oms_core.protocols import AUTHORIZED, CAPTURED, FAILED, INTENT_CREATED, FetchPaymentRequest
from oms_core.services import payment_ops, payment_sync, payments
from oms_core.testing import place_test_order, post_signed_webhook
from oms_stripe import GATEWAY_ID
from oms_stripe.events import sign


def started(order_id, minutes_ago=30) -> str:
    """Pay now, started that long ago; returns the Checkout Session id."""
    url = payment_ops.start_payment(order_id, success_url="https://shop.example/paid",
                                    cancel_url="https://shop.example/cart")
    with write_transaction():
        payment = db.session.scalar(select(Payment).where(Payment.order_id == order_id))
        payment.created_at = utcnow() - timedelta(minutes=minutes_ago)
    return url.rsplit("/", 1)[1]


def test_paid_without_webhooks_then_synced_then_the_webhooks_arrive(oms_app, oms_client, fake):
    order_id = place_test_order(payment_method=GATEWAY_ID).id
    session_id = started(order_id)
    intent_id = fake.pay(session_id)["payment_intent"]  # no webhook_url: nothing is delivered
    report = payment_sync.sync_stale()
    assert (report.asked, len(report.changed), report.failed) == (1, 1, [])
    assert ("GET", f"/v1/checkout/sessions/{session_id}") in fake.api_calls
    assert payment_sync.sync_stale().asked == 0
    for delivery in fake.events:  # late, twice
        for _ in range(2):
            response = post_signed_webhook(oms_client, "payment", GATEWAY_ID, delivery.body, sign=sign)
            assert response.status_code in (200, 202), response.get_json()
    db.session.remove()
    [payment] = payments.payments_for(order_id)
    assert (payment.state, payment.external_id, payment.checkout_id) == (CAPTURED, intent_id, session_id)
    assert payment.attention == payment_sync.WEBHOOK_MISSING
    assert db.session.get(Order, order_id).status == "paid"
    assert sorted(db.session.scalars(select(Document.kind).where(Document.order_id == order_id))) == [
        "invoice", "receipt"]


def test_an_expired_checkout_fails_and_an_open_one_waits(oms_app, fake):
    expired_id, open_id = (place_test_order(payment_method=GATEWAY_ID).id for _ in range(2))
    fake.expire(started(expired_id))
    started(open_id)
    assert payment_sync.sync_stale().asked == 2
    db.session.remove()
    assert [p.state for p in payments.payments_for(expired_id)] == [FAILED]
    assert [p.state for p in payments.payments_for(open_id)] == [INTENT_CREATED]


def test_stripe_down_changes_nothing_and_is_asked_again(oms_app, fake):
    order = place_test_order(payment_method=GATEWAY_ID)
    fake.pay(started(order.id))
    fake.fail_next(10)  # more than the SDK's own retries
    report = payment_sync.sync_stale()
    assert report.changed == [] and report.failed and "Stripe failed (500)" in report.failed[0]
    fake.fail_next(0)
    assert len(payment_sync.sync_stale().changed) == 1


def test_fetch_maps_an_authorization_and_a_payment_intent_by_its_id(oms_app, fake):
    gateway = runtime.registry().gateway(GATEWAY_ID)
    order = place_test_order(payment_method=GATEWAY_ID)
    from oms_core.protocols import CAPTURE_ON_SHIP, StartPaymentRequest

    start = gateway.start_payment(StartPaymentRequest(
        order_id=order.id, order_number=order.number, amount_minor=order.balance_minor, currency=order.currency,
        idempotency_key="sync-auth", customer_email="c@example.com", success_url="https://shop.example/ok",
        cancel_url="https://shop.example/no", capture=CAPTURE_ON_SHIP))
    intent_id = fake.pay(start.external_id)["payment_intent"]
    by_session = gateway.fetch_payment(FetchPaymentRequest(start.external_id, None, order.id))
    by_intent = gateway.fetch_payment(FetchPaymentRequest(intent_id, None, order.id))
    assert by_session.ok and by_intent.ok
    assert (by_session.event.state, by_session.event.external_id, by_session.event.checkout_id) == (
        AUTHORIZED, intent_id, start.external_id)
    assert (by_intent.event.state, by_intent.event.order_id) == (AUTHORIZED, order.id)
    assert by_session.event.event_id == f"sync:{start.external_id}:authorized:0"
    again = gateway.fetch_payment(FetchPaymentRequest(start.external_id, None, order.id))
    assert again.event.event_id == by_session.event.event_id
