"""Card payments through their own state machine, with the in-process fake gateway
(oms_core/testing/fakes.py): convergence of gateway events, capture on ship, void,
refunds by amount and by lines, cancelling a paid order, late success, and two
refunds at once. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_core import order_states as S
from oms_core import payment_states
from oms_core.db import db
from oms_core.errors import IllegalTransition, PaymentRefused, ValidationError
from oms_core.models import Order, OutboxMessage, Payment, Product, Refund, TimelineEvent
from oms_core.payment_states import Snapshot
from oms_core.protocols import (
    AUTHORIZED,
    CAPTURED,
    INTENT_CREATED,
    PARTIALLY_REFUNDED,
    REFUNDED,
    GatewayEvent,
    GatewayRefund,
)
from oms_core.services import orders, outbox, payment_ops, payments, refunds, shipments
from oms_core.testing import post_signed_webhook, run_worker_once
from oms_core.testing.fakes import FakeCardGateway, plugin_registering
from test_concurrency import outcomes, race

ACTOR = "staff:owner@example.com"
SECRET = "whsec_test"
card = FakeCardGateway()


def card_config(capture="now"):
    return {"extra_plugins": [plugin_registering(card)],
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": SECRET, "capture": capture}},
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 5}}


@pytest.fixture
def app_config():
    return card_config()


@pytest.fixture(autouse=True)
def fresh_card():
    card.__init__()
    yield card


@pytest.fixture
def card_order(make_product, place):
    """card_order(price, quantity, on_hand) -> a confirmed order paid by card, id."""
    def make(price_minor=2500, quantity=1, on_hand=10, method="fakecard"):
        product = make_product(price_minor=price_minor, on_hand=on_hand)
        return place([(product.sku, quantity)], payment_method=method, confirm=True).id
    return make


def fresh(order_id) -> Order:
    db.session.remove()
    return db.session.get(Order, order_id)


def paid_view(order_id):
    order = fresh(order_id)
    return order.paid_minor, order.refunded_minor, order.payment_status


def start_and_pay(order_id) -> str:
    """The customer pays through the hosted page; returns the gateway's object id."""
    url = payment_ops.start_payment(order_id, success_url="https://shop.example/ok",
                                    cancel_url="https://shop.example/no")
    intent_id = url.rsplit("/", 1)[1]
    card.customer_pays(intent_id)
    return intent_id


def webhook(client, intent_id):
    body = card.event_for(intent_id)
    response = post_signed_webhook(client, "payment", "fakecard", body, sign=card.signed)
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    return response


def drain(app, rounds=3):
    """Run the worker until nothing is due (failures wait for their back-off)."""
    for _ in range(rounds):
        run_worker_once(app)


def refund_rows(order_id):
    db.session.remove()
    return [(r.amount_minor, r.state) for r in db.session.scalars(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.id))]


# ------------------------------------------------------------------ convergence


SNAPSHOTS = st.builds(Snapshot, st.sampled_from(sorted(payment_states.RANK)),
                      st.integers(0, 10_000), st.integers(0, 10_000))


@given(st.lists(SNAPSHOTS, min_size=1, max_size=8), st.randoms())
def test_merge_ignores_order_and_repetition(snapshots, rnd):
    shuffled = snapshots + rnd.sample(snapshots, len(snapshots) // 2)
    rnd.shuffle(shuffled)

    def fold(items):
        state = None
        for item in items:
            state = payment_states.merge(state, item)
        return state
    assert fold(snapshots) == fold(shuffled)


def realistic_events(tag: str, order_id: int) -> list[GatewayEvent]:
    """What a card gateway sends for one payment: started, authorized, captured,
    refunded in two steps."""
    pi = f"pi_{tag}"
    one = GatewayRefund(f"re_{tag}_1", 1000)
    two = GatewayRefund(f"re_{tag}_2", 1500)
    return [GatewayEvent(event_id=f"{tag}-{i}", order_id=order_id, amount_minor=2500, currency="EUR",
                         external_id=pi, state=state, amount_refunded_minor=refunded, refunds=listed)
            for i, (state, refunded, listed) in enumerate([
                (INTENT_CREATED, 0, ()), (AUTHORIZED, 0, ()), (CAPTURED, 0, ()),
                (PARTIALLY_REFUNDED, 1000, (one,)), (REFUNDED, 2500, (one, two))])]


_tags = itertools.count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_order_and_duplication_of_events_ends_in_the_same_state(card_order, data):
    order_id = card_order()
    tag = f"c{next(_tags)}"
    events = realistic_events(tag, order_id)
    delivered = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    for event in delivered:
        payments.apply_gateway_event("fakecard", event)
    db.session.remove()
    payment = db.session.scalar(select(Payment).where(Payment.external_id == f"pi_{tag}"))
    assert (payment.state, payment.amount_minor, payment.amount_refunded_minor, payment.status) == (
        REFUNDED, 2500, 2500, "recorded")
    assert sorted((r.external_id, r.amount_minor, r.state) for r in payment.refunds) == [
        (f"re_{tag}_1", 1000, "succeeded"), (f"re_{tag}_2", 1500, "succeeded")]
    assert paid_view(order_id) == (2500, 2500, "refunded")


# ------------------------------------------------------------------ capture, void


@pytest.mark.parametrize("app_config", [card_config(capture="on_ship")])
def test_an_authorization_is_captured_when_the_order_ships(app, client, card_order):
    order_id = card_order()
    intent_id = start_and_pay(order_id)
    webhook(client, intent_id)
    assert paid_view(order_id) == (0, 0, "authorized")
    assert fresh(order_id).status == S.CONFIRMED
    shipments.create_shipment(order_id, carrier_id="manual", service="DHL", tracking_number="JD1",
                              actor=ACTOR)
    assert [op for op, _ in card.calls] == ["start"]  # nothing captured before it ships
    drain(app)
    assert [op for op, _ in card.calls] == ["start", "capture"]
    assert card.intents[intent_id]["state"] == CAPTURED
    assert paid_view(order_id) == (2500, 0, "paid") and fresh(order_id).status == S.SHIPPED
    webhook(client, intent_id)  # the gateway's own event says the same: nothing changes
    assert paid_view(order_id) == (2500, 0, "paid")


@pytest.mark.parametrize("app_config", [card_config(capture="on_ship")])
def test_cancelling_an_authorized_order_voids_it(app, client, card_order):
    order_id = card_order()
    intent_id = start_and_pay(order_id)
    webhook(client, intent_id)
    orders.cancel_order(order_id, actor=ACTOR, reason="Customer asked")
    drain(app)
    assert card.intents[intent_id]["state"] == "voided"
    db.session.remove()
    assert db.session.scalar(select(Payment.state).where(Payment.external_id == intent_id)) == "voided"
    assert fresh(order_id).status == S.CANCELLED and refund_rows(order_id) == []


@pytest.mark.parametrize("app_config", [card_config(capture="on_ship")])
def test_a_refused_capture_is_kept_for_staff_not_retried(app, client, card_order):
    order_id = card_order()
    intent_id = start_and_pay(order_id)
    webhook(client, intent_id)
    card.refuse = "card expired"
    shipments.create_shipment(order_id, carrier_id="manual", service="DHL", tracking_number="JD2",
                              actor=ACTOR)
    drain(app)
    assert [op for op, _ in card.calls] == ["start", "capture"]
    db.session.remove()
    payment = db.session.scalar(select(Payment).where(Payment.external_id == intent_id))
    assert "card expired" in payment.attention and payment in payments.needing_attention()


# ------------------------------------------------------------------ refunds


def test_refunds_by_amount_and_by_lines_never_exceed_the_capture(app, client, card_order):
    order_id = card_order(price_minor=1000, quantity=3)
    webhook(client, start_and_pay(order_id))
    assert paid_view(order_id) == (3000, 0, "paid")
    line_id = fresh(order_id).lines[0].id
    refunds.refund_order(order_id, lines={line_id: 2}, reason="Two arrived broken", actor=ACTOR)
    with pytest.raises(ValidationError, match="At most 1 of"):
        refunds.refund_order(order_id, lines={line_id: 2}, reason="again", actor=ACTOR)
    with pytest.raises(ValidationError, match="At most"):
        refunds.refund_order(order_id, amount_minor=1001, reason="too much", actor=ACTOR)
    assert refund_rows(order_id) == [(2000, "pending")]
    drain(app)
    assert refund_rows(order_id) == [(2000, "succeeded")]
    assert paid_view(order_id) == (3000, 2000, "partially_refunded")
    refunds.refund_order(order_id, amount_minor=1000, reason="Goodwill", actor=ACTOR)
    drain(app)
    assert paid_view(order_id) == (3000, 3000, "refunded")
    db.session.remove()
    assert db.session.scalar(select(Payment.state).where(Payment.order_id == order_id)) == REFUNDED
    emails = db.session.scalars(select(OutboxMessage.idempotency_key).where(
        OutboxMessage.order_id == order_id, OutboxMessage.idempotency_key.like("email-refund-%"))).all()
    assert len(emails) == 2  # the customer hears of each refund


def test_a_hand_recorded_payment_is_refunded_with_a_reference(app, make_product, place):
    order_id = place([(make_product(price_minor=2000).sku, 1)], confirm=True).id
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=2000, currency="EUR",
                            reference="NL01", actor=ACTOR)
    with pytest.raises(ValidationError, match="reference"):
        refunds.refund_order(order_id, amount_minor=500, reason="Late", actor=ACTOR)
    refunds.refund_order(order_id, amount_minor=500, reason="Late", reference="BACK-1", actor=ACTOR)
    assert refund_rows(order_id) == [(500, "succeeded")]
    assert paid_view(order_id) == (2000, 500, "partially_refunded")


def test_refunds_are_refused_with_bad_input(app, card_order):
    order_id = card_order()
    for kwargs, says in (({"amount_minor": 100}, "At most"), ({"amount_minor": 0}, "amount"),
                         ({}, "amount or lines"), ({"lines": {999_999: 1}}, "lines of this order")):
        with pytest.raises(ValidationError, match=says):
            refunds.refund_order(order_id, reason="x", actor=ACTOR, **kwargs)
    assert refund_rows(order_id) == []


# ------------------------------------------------------------------ cancelling a paid order


def test_cancelling_a_paid_order_refunds_once_even_when_the_gateway_is_down(app, client, card_order):
    order_id = card_order(quantity=2)
    webhook(client, start_and_pay(order_id))
    order = fresh(order_id)
    product_id = order.lines[0].product_id
    assert order.status == S.PAID and refunds.refundable_total(order) == 5000
    card.failures = 2
    orders.cancel_order(order_id, actor=ACTOR, reason="Customer changed their mind")
    with pytest.raises(IllegalTransition):
        orders.cancel_order(order_id, actor=ACTOR, reason="clicked twice")
    assert db.session.get(Product, product_id).reserved == 0  # stock back on sale at once
    assert refund_rows(order_id) == [(5000, "pending")]
    run_worker_once(app)  # down: retried later
    db.session.remove()
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == refunds.REFUND_KIND))
    assert (message.status, message.attempts) == ("pending", 1)
    for _ in range(2):
        outbox.retry_now(message.id)
        run_worker_once(app)
    assert refund_rows(order_id) == [(5000, "succeeded")]
    refund_calls = [key for op, key in card.calls if op == "refund"]
    assert len(refund_calls) == 3 and len(set(refund_calls)) == 1  # one key: one refund at the gateway
    assert card.intents[next(iter(card.intents))]["refunded"] == 5000
    assert paid_view(order_id) == (5000, 5000, "refunded")
    messages = [e.message for e in fresh(order_id).events if e.kind == "refund"]
    assert any("50.00" in m and "requested" in m for m in messages) and any("succeeded" in m for m in messages)


# ------------------------------------------------------------------ late success


def test_a_payment_for_a_cancelled_order_reopens_it_when_stock_allows(app, client, card_order):
    order_id = card_order(quantity=2)
    url = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    intent_id = url.rsplit("/", 1)[1]
    orders.cancel_order(order_id, actor=ACTOR, reason="Unpaid for too long")
    card.customer_pays(intent_id)
    webhook(client, intent_id)
    order = fresh(order_id)
    assert order.status == S.PAID and order.paid_minor == 5000
    assert db.session.get(Product, order.lines[0].product_id).reserved == 2
    steps = [(e.from_status, e.to_status) for e in order.events if e.kind == "status_changed"]
    assert steps[-3:] == [(S.CONFIRMED, S.CANCELLED), (S.CANCELLED, S.CONFIRMED), (S.CONFIRMED, S.PAID)]
    assert any("after the order was cancelled" in e.message for e in order.events)
    assert [e.kind for e in order.events].count("payment_recorded") == 1  # the money counts, once


def test_a_payment_for_a_cancelled_order_without_stock_is_refunded(app, client, card_order, place):
    order_id = card_order(quantity=2, on_hand=2)
    url = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    intent_id = url.rsplit("/", 1)[1]
    orders.cancel_order(order_id, actor=ACTOR, reason="Unpaid for too long")
    sku = fresh(order_id).lines[0].sku
    place([(sku, 2)], confirm=True)  # someone else buys the last units
    card.customer_pays(intent_id)
    webhook(client, intent_id)
    order = fresh(order_id)
    assert order.status == S.CANCELLED
    assert refund_rows(order_id) == [(5000, "pending")]
    drain(app)
    assert refund_rows(order_id) == [(5000, "succeeded")] and paid_view(order_id) == (5000, 5000, "refunded")
    listed = payments.needing_attention()
    assert [p.order_id for p in listed] == [order_id] and "refunded" in listed[0].attention
    assert any(e.kind == "payment_late" for e in fresh(order_id).events)


# ------------------------------------------------------------------ pay now


def test_pay_now_reuses_an_open_payment_and_refuses_a_paid_order(app, client, card_order):
    order_id = card_order()
    first = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    again = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    assert first == again and len(card.intents) == 1
    card.customer_pays(first.rsplit("/", 1)[1])
    webhook(client, first.rsplit("/", 1)[1])
    with pytest.raises(PaymentRefused, match="nothing to pay"):
        payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")


def test_pay_now_while_the_gateway_is_down_starts_the_same_payment_later(app, card_order):
    order_id = card_order()
    card.failures = 1
    with pytest.raises(PaymentRefused, match="unavailable"):
        payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    url = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    starts = [key for op, key in card.calls if op == "start"]
    assert len(starts) == 2 and len(set(starts)) == 1 and url.startswith("https://fakecard.example/")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1


# ------------------------------------------------------------------ concurrency


def test_two_refunds_at_once_never_exceed_the_capture(app, client, card_order, backend):
    order_id = card_order(price_minor=1000, quantity=3)
    webhook(client, start_and_pay(order_id))
    results = race(app, 6, lambda i: refunds.refund_order(order_id, amount_minor=1000, reason=f"r{i}",
                                                          actor=ACTOR)[0].amount_minor)
    assert outcomes(results) == {"ok": 3, "ValidationError": 3}, results
    db.session.remove()
    total = db.session.scalar(select(func.sum(Refund.amount_minor)).where(Refund.order_id == order_id))
    assert total == 3000 and paid_view(order_id) == (3000, 3000, "refunded")
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.kind == "refund")) == 3


# ------------------------------------------------------------------ pay-now route


def pay_route(client, code):
    return client.get("/track/pay", query_string={"code": code})


def test_the_pay_route_sends_the_customer_to_the_gateway_and_shows_no_personal_data(app, client, card_order):
    from oms_core import tracking_codes

    order_id = card_order()
    code = tracking_codes.display(fresh(order_id).tracking_code)
    response = pay_route(client, code)
    assert response.status_code == 303 and response.location.startswith("https://fakecard.example/pay/")
    intent = card.intents[response.location.rsplit("/", 1)[1]]
    assert intent["success_url"].endswith(f"/track?code={code}")
    assert pay_route(client, code).location == response.location  # the open payment is reused
    card.customer_pays(response.location.rsplit("/", 1)[1])
    webhook(client, response.location.rsplit("/", 1)[1])
    page = pay_route(client, code)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "This order is paid" in body and fresh(order_id).number in body
    for personal in ("Ann Example", "ann@example.com", "1 Main St", "Springfield"):
        assert personal not in body


@pytest.mark.parametrize("code", ["", "nonsense", "ABCD-EFGH-JKLM-N"])
def test_the_pay_route_does_not_know_other_codes(app, client, code):
    response = pay_route(client, code)
    assert response.status_code == 404 and "No order has that code" in response.get_data(as_text=True)


def test_the_pay_route_says_when_the_gateway_is_down(app, client, card_order):
    from oms_core import tracking_codes

    order_id = card_order()
    card.failures = 1
    response = pay_route(client, tracking_codes.display(fresh(order_id).tracking_code))
    assert response.status_code == 200 and "Try again" in response.get_data(as_text=True)


def test_the_dashboard_lists_a_late_payment_given_back(app, client, card_order, place, staff_client):
    order_id = card_order(quantity=1, on_hand=1)
    order = orders.get_order(order_id)
    number, sku = order.number, order.lines[0].sku
    url = payment_ops.start_payment(order_id, success_url="https://s/ok", cancel_url="https://s/no")
    orders.cancel_order(order_id, actor=ACTOR, reason="Unpaid")
    place([(sku, 1)], confirm=True)
    card.customer_pays(url.rsplit("/", 1)[1])
    body = card.event_for(url.rsplit("/", 1)[1])
    assert post_signed_webhook(client, "payment", "fakecard", body, sign=card.signed).status_code == 200
    page = staff_client.get("/oms/admin/").get_data(as_text=True)
    assert 'id="payment-problems"' in page and "could not be reopened" in page
    listed = staff_client.get("/oms/admin/orders?attention=payment_problems").get_data(as_text=True)
    assert number in listed


def test_the_fake_card_gateway_follows_the_payment_contract():
    import json

    from oms_core.testing.contracts import check_payment_gateway

    body = json.dumps({"id": "evt_1", "object": "pi_1", "order_id": 1, "state": "captured", "amount": 500,
                       "currency": "EUR", "refunded": 0, "refunds": []}).encode()
    check_payment_gateway(FakeCardGateway(), webhook_body=body, sign=FakeCardGateway.signed)
    check_payment_gateway(FakeCardGateway(), webhook_body=body, sign=FakeCardGateway.signed,
                          call_operations=False)


def test_the_checkout_sends_a_card_order_to_pay_now_and_a_transfer_to_its_confirmation(app, card_order):
    from oms_web.storefront import pay_now_url

    card_id, transfer_id = card_order(), card_order(method="bank_transfer")
    with app.test_request_context():
        url = pay_now_url(orders.get_order(card_id))
        assert url.startswith("/track/pay?code=") and pay_now_url(orders.get_order(transfer_id)) is None


def test_a_dispute_is_listed_for_staff_and_the_money_still_counts(app, client, card_order):
    order_id = card_order()
    intent_id = start_and_pay(order_id)
    webhook(client, intent_id)
    payments.apply_gateway_event("fakecard", GatewayEvent(
        event_id="evt_dispute", order_id=None, amount_minor=2500, currency="EUR", external_id=intent_id,
        state="disputed", reason="fraudulent"))
    assert paid_view(order_id) == (2500, 0, "paid")
    [listed] = payments.needing_attention()
    assert listed.state == "disputed" and "fraudulent" in listed.attention
