"""Payments (docs/architecture.md, invariant 3): a payment that does not fit the order is refused
and nothing is recorded; partial payments add up; `paid` only at a zero balance;
cash on delivery is paid after delivery; a gateway event that does not fit is
flagged for a human, never counted, and applied at most once."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from oms_core import order_states as S
from oms_core.db import db
from oms_core.errors import NotFound, PaymentRefused, ValidationError
from oms_core.hookspecs import hookimpl
from oms_core.models import Order, OutboxMessage, Payment, PaymentEvent, TimelineEvent
from oms_core.protocols import GatewayEvent, TrackingUpdate
from oms_core.services import notifications, orders, payments, shipments

ACTOR = "staff:cashier@example.com"


class PaymentHookRecorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def on_payment_recorded(self, order, payment):
        self.calls.append((order.id, payment.amount_minor, payment.status))


@pytest.fixture
def recorder():
    return PaymentHookRecorder()


@pytest.fixture
def app_config(recorder):
    return {"extra_plugins": [recorder]}


@pytest.fixture
def order_of(make_product, place):
    """order_of(total_minor, payment_method) -> id of a confirmed order of that total."""

    def make(total_minor=2500, payment_method="bank_transfer", confirm=True, currency="EUR"):
        product = make_product(price_minor=total_minor, currency=currency)
        return place([(product.sku, 1)], payment_method=payment_method, confirm=confirm).id
    return make


def pay(order_id, amount_minor, currency="EUR", gateway_id="bank_transfer", reference="REF"):
    return payments.record_payment(order_id, gateway_id=gateway_id, amount_minor=amount_minor,
                                   currency=currency, reference=reference, actor=ACTOR)


def state(order_id) -> dict:
    """What a payment may change, through a fresh session."""
    db.session.remove()
    order = db.session.get(Order, order_id)
    return {
        "order": (order.status, order.paid_minor, order.payment_status, order.updated_at),
        "payments": db.session.scalar(select(func.count()).select_from(Payment)),
        "timeline": db.session.scalar(select(func.count()).select_from(TimelineEvent)
                                      .where(TimelineEvent.order_id == order_id)),
        "outbox": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
    }


def ship_and_deliver(order_id):
    shipment = shipments.create_shipment(order_id, carrier_id="manual", service="DHL",
                                         tracking_number=f"JD{order_id}", actor=ACTOR)
    shipments.add_tracking_update(shipment.id, TrackingUpdate(
        f"JD{order_id}", "delivered", datetime.now(timezone.utc)), source="carrier:manual")


# ------------------------------------------------------------------ refused


@pytest.mark.parametrize("amount, currency, says", [
    (2500, "USD", "EUR"),
    (2501, "EUR", "more than the balance"),
    (0, "EUR", "more than zero"),
    (-100, "EUR", "more than zero"),
])
def test_a_payment_that_does_not_fit_is_refused_and_nothing_recorded(order_of, recorder,
                                                                      amount, currency, says):
    order_id = order_of(2500)
    before = state(order_id)
    with pytest.raises(PaymentRefused, match=says):
        pay(order_id, amount, currency)
    assert state(order_id) == before
    assert recorder.calls == []


@pytest.mark.parametrize("amount", [12.5, "100", None, True])
def test_the_amount_must_be_whole_minor_units(order_of, amount):
    order_id = order_of(2500)
    before = state(order_id)
    with pytest.raises(ValidationError):
        pay(order_id, amount)
    assert state(order_id) == before


def test_the_gateway_can_refuse_too(order_of):
    """Bank transfers need the transfer's reference (the plugin's own rule)."""
    order_id = order_of(2500)
    before = state(order_id)
    with pytest.raises(PaymentRefused, match="reference"):
        pay(order_id, 2500, reference=" ")
    assert state(order_id) == before


def test_an_unknown_payment_method_is_refused(order_of):
    order_id = order_of(2500)
    with pytest.raises(NotFound):
        pay(order_id, 2500, gateway_id="no_such_gateway")


def test_no_payment_on_a_placed_order(order_of):
    order_id = order_of(2500, confirm=False)
    before = state(order_id)
    with pytest.raises(PaymentRefused, match="placed"):
        pay(order_id, 2500)
    assert state(order_id) == before


def test_no_payment_on_a_cancelled_order(order_of):
    order_id = order_of(2500)
    orders.cancel_order(order_id, actor=ACTOR, reason="Customer asked")
    before = state(order_id)
    with pytest.raises(PaymentRefused, match="cancelled"):
        pay(order_id, 2500)
    assert state(order_id) == before


def test_no_payment_on_a_paid_order(order_of):
    order_id = order_of(2500)
    pay(order_id, 2500)
    before = state(order_id)
    with pytest.raises(PaymentRefused):
        pay(order_id, 1)
    assert state(order_id) == before


# ------------------------------------------------------------------ adding up


def test_partial_payments_add_up_and_paid_comes_at_zero_balance(order_of, recorder):
    order_id = order_of(2500)
    for amount, paid_so_far in ((1000, 1000), (1, 1001), (1498, 2499)):
        pay(order_id, amount, reference=f"T{amount}")
        order = orders.get_order(order_id)
        assert (order.paid_minor, order.balance_minor) == (paid_so_far, 2500 - paid_so_far)
        assert (order.status, order.payment_status) == (S.CONFIRMED, "partially_paid")
    with pytest.raises(PaymentRefused):
        pay(order_id, 2)  # one cent too much
    pay(order_id, 1, reference="LAST")
    db.session.remove()
    order = orders.get_order(order_id)
    assert (order.paid_minor, order.balance_minor) == (2500, 0)
    assert (order.status, order.payment_status) == (S.PAID, "paid")
    assert [p.amount_minor for p in payments.payments_for(order_id)] == [1000, 1, 1498, 1]
    kinds = [e.kind for e in order.events]
    assert kinds.count("payment_recorded") == 4
    paid_events = [e for e in order.events if e.to_status == S.PAID]
    assert len(paid_events) == 1 and paid_events[0].actor == ACTOR
    assert [c[1] for c in recorder.calls] == [1000, 1, 1498, 1]


def test_shipping_is_part_of_what_is_due(make_product, place):
    product = make_product(price_minor=1000)
    order_id = place([(product.sku, 2)], confirm=True, shipping_minor=495).id
    with pytest.raises(PaymentRefused):
        pay(order_id, 2496)
    pay(order_id, 2495)
    assert orders.get_order(order_id).status == S.PAID


def test_yen_orders_are_paid_in_whole_yen(order_of):
    order_id = order_of(1500, currency="JPY")
    with pytest.raises(PaymentRefused, match="JPY"):
        pay(order_id, 1500, currency="EUR")
    pay(order_id, 1500, currency="jpy")
    assert orders.get_order(order_id).status == S.PAID


# ------------------------------------------------------------------ cash on delivery


def test_cash_on_delivery_is_paid_after_delivery(order_of):
    order_id = order_of(2500, payment_method="cash_on_delivery")
    ship_and_deliver(order_id)
    order = orders.get_order(order_id)
    assert (order.status, order.payment_status) == (S.DELIVERED, "unpaid")
    pay(order_id, 2500, gateway_id="cash_on_delivery", reference="")
    db.session.remove()
    order = orders.get_order(order_id)
    assert (order.status, order.payment_status, order.balance_minor) == (S.DELIVERED, "paid", 0)
    orders.close_order(order_id, actor=ACTOR)
    assert orders.get_order(order_id).status == S.CLOSED


def test_cash_on_delivery_paid_before_shipping_goes_to_paid(order_of):
    order_id = order_of(2500, payment_method="cash_on_delivery")
    pay(order_id, 2500, gateway_id="cash_on_delivery", reference="")
    assert orders.get_order(order_id).status == S.PAID


def test_no_payment_after_the_order_is_closed(order_of):
    order_id = order_of(2500, payment_method="cash_on_delivery")
    ship_and_deliver(order_id)
    pay(order_id, 2500, gateway_id="cash_on_delivery", reference="")
    orders.close_order(order_id, actor=ACTOR)
    with pytest.raises(PaymentRefused, match="closed"):
        pay(order_id, 1, gateway_id="cash_on_delivery", reference="")


# ------------------------------------------------------------------ gateway events


def event(order_id, amount=2500, currency="EUR", event_id="evt_1"):
    return GatewayEvent(event_id=event_id, order_id=order_id, amount_minor=amount, currency=currency,
                        external_id=f"pi_{event_id}")


def test_a_fitting_gateway_event_is_counted_once(order_of, recorder):
    order_id = order_of(2500)
    payment = payments.apply_gateway_event("bank_transfer", event(order_id))
    assert payment.status == "recorded" and payment.state == "captured"
    assert db.session.scalars(select(PaymentEvent.event_id).where(PaymentEvent.payment_id == payment.id)).all() \
        == ["evt_1"]
    assert payments.apply_gateway_event("bank_transfer", event(order_id)) is None
    db.session.remove()
    order = orders.get_order(order_id)
    assert (order.status, order.paid_minor) == (S.PAID, 2500)
    assert len(payments.payments_for(order_id)) == 1
    assert len(recorder.calls) == 1


def test_the_same_event_id_from_another_gateway_is_another_event(order_of):
    by_transfer, by_cash = order_of(2500), order_of(2500, payment_method="cash_on_delivery")
    assert payments.apply_gateway_event("bank_transfer", event(by_transfer, 1000)) is not None
    assert payments.apply_gateway_event("cash_on_delivery", event(by_cash, 1000)) is not None
    assert [orders.get_order(i).paid_minor for i in (by_transfer, by_cash)] == [1000, 1000]


def test_a_gateway_pays_only_orders_placed_with_it(order_of):
    order_id = order_of(2500)  # bank transfer
    with pytest.raises(PaymentRefused, match="paid by bank_transfer, not cash_on_delivery"):
        payments.apply_gateway_event("cash_on_delivery", event(order_id))
    db.session.remove()
    assert payments.payments_for(order_id) == [] and orders.get_order(order_id).paid_minor == 0


@pytest.mark.parametrize("amount, currency, says", [
    (2500, "USD", "EUR"),
    (9999, "EUR", "more than the balance"),
    (0, "EUR", "more than zero"),
])
def test_a_gateway_event_that_does_not_fit_is_flagged_not_counted(order_of, recorder,
                                                                  amount, currency, says):
    order_id = order_of(2500)
    payment = payments.apply_gateway_event("bank_transfer", event(order_id, amount, currency))
    assert payment.status == "flagged" and says in payment.flag_reason
    db.session.remove()
    order = orders.get_order(order_id)
    assert (order.status, order.paid_minor, order.payment_status) == (S.CONFIRMED, 0, "unpaid")
    flagged = [e for e in order.events if e.kind == "payment_flagged"]
    assert len(flagged) == 1 and says in flagged[0].message and not flagged[0].public
    assert recorder.calls == [(order_id, amount, "flagged")]  # staff hear about it
    # A redelivery of the flagged event is still the same event.
    assert payments.apply_gateway_event("bank_transfer", event(order_id, amount, currency)) is None
    assert len(payments.payments_for(order_id)) == 1


@pytest.mark.parametrize("status", [S.PLACED])  # a cancelled order: test_payment_lifecycle.py
def test_a_gateway_event_for_an_order_that_takes_no_payment_is_flagged(order_of, status):
    order_id = order_of(2500, confirm=status != S.PLACED)
    payment = payments.apply_gateway_event("bank_transfer", event(order_id))
    assert payment.status == "flagged" and status in payment.flag_reason
    order = orders.get_order(order_id)
    assert (order.status, order.paid_minor) == (status, 0)


def test_a_gateway_event_for_an_unknown_order_records_nothing(app):
    with pytest.raises(NotFound):
        payments.apply_gateway_event("bank_transfer", event(999_999))
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 0


def test_paid_email_is_queued_once_with_the_status_change(order_of):
    order_id = order_of(2500)
    pay(order_id, 1000)
    pay(order_id, 1500)
    db.session.remove()
    keys = list(db.session.scalars(select(OutboxMessage.idempotency_key).where(
        OutboxMessage.order_id == order_id).order_by(OutboxMessage.id)))
    order = db.session.get(Order, order_id)
    assert keys == [notifications.status_email_key(order, status) for status in ("confirmed", "paid")]
