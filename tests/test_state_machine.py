"""The order state machine: every (status, target) pair.

Legal steps succeed (guards satisfied) and write a timeline event with actor,
reason, from and to; illegal ones raise IllegalTransition and change nothing in
the database: order, timeline, stock, ledger, outbox, payments, shipments, all
read back through a fresh session. Steps are driven through the real services
(confirm, cancel, close, payments, shipments). Returns have their own machine
(tests/test_returns.py)."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.errors import IllegalTransition, ValidationError
from oms_core.models import (
    Order,
    OutboxMessage,
    Payment,
    Product,
    Shipment,
    StockMove,
    TimelineEvent,
)
from oms_core.protocols import (
    GatewayEvent,
    CarrierResult,
    TrackingUpdate,
)
from oms_core.services import order_edits, orders, payments, shipments, status
from oms_core.services.common import lock_order
from oms_core.testing.fakes import BookingCarrier, plugin_registering

ACTOR = "staff:tester@example.com"
BOOKING_CARRIER = "testpost"


@pytest.fixture
def app_config():
    return {"extra_plugins": [plugin_registering(BookingCarrier(BOOKING_CARRIER))]}


# ------------------------------------------------------------------ helpers


def change_status(order_id: int, target: str, *, actor: str = ACTOR, reason: str = "test step"):
    """An edge without its own service: the state machine's one entry point."""
    with write_transaction() as tx:
        order = lock_order(order_id)
        status.change(order, target, actor=actor, reason=reason, tx=tx)


def pending_shipment_id(order_id: int) -> int:
    return db.session.scalar(select(Shipment.id).where(
        Shipment.order_id == order_id, Shipment.tracking_number.is_(None), Shipment.status != "cancelled")
        .order_by(Shipment.id))


def pay_balance(order_id: int, gateway_id: str) -> None:
    order = orders.get_order(order_id)
    payments.record_payment(order_id, gateway_id=gateway_id, amount_minor=order.balance_minor,
                            currency=order.currency, reference="REF-1", actor=ACTOR)


def book(order_id: int) -> None:
    shipment_id = pending_shipment_id(order_id)
    shipments.apply_booking(shipment_id, CarrierResult(ok=True, tracking_number=f"TP{shipment_id}"))


def deliver(order_id: int) -> None:
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order_id))
    shipments.add_tracking_update(
        shipment.id, TrackingUpdate(shipment.tracking_number, "delivered", datetime.now(timezone.utc),
                                    raw_code="DLV"), source="carrier:test")


def ship_one_unit(order_id: int) -> None:
    """From fulfilling (one parcel of everything, waiting): that parcel's booking
    fails and is given up, a parcel of one unit is booked instead."""
    waiting = pending_shipment_id(order_id)
    shipments.apply_booking(waiting, CarrierResult.failure("refused"))
    shipments.cancel_shipment(order_id, waiting, actor=ACTOR)
    first_line = orders.get_order(order_id).lines[0].id
    shipments.create_shipment(order_id, carrier_id=BOOKING_CARRIER, service="std", actor=ACTOR,
                              lines={first_line: 1})
    book(order_id)


# How to reach each status with real services: (previous status, step).
ROUTE = {
    S.CONFIRMED: (S.PLACED, lambda oid, gw: orders.confirm_order(oid, actor=ACTOR)),
    S.PAID: (S.CONFIRMED, lambda oid, gw: pay_balance(oid, gw)),
    S.FULFILLING: (S.PAID, lambda oid, gw: shipments.create_shipment(
        oid, carrier_id=BOOKING_CARRIER, service="std", actor=ACTOR)),
    S.SHIPPED: (S.FULFILLING, lambda oid, gw: book(oid)),
    S.PARTIALLY_SHIPPED: (S.FULFILLING, lambda oid, gw: ship_one_unit(oid)),
    S.DELIVERED: (S.SHIPPED, lambda oid, gw: deliver(oid)),
    S.CLOSED: (S.DELIVERED, lambda oid, gw: orders.close_order(oid, actor=ACTOR)),
    S.CANCELLED: (S.CONFIRMED, lambda oid, gw: orders.cancel_order(oid, actor=ACTOR, reason="test")),
}


@pytest.fixture
def order_in(app, place):
    """order_in(status, payment_method=...) -> id of an order brought there by services."""

    def reach(target: str, payment_method: str = "bank_transfer") -> int:
        if target == S.PLACED:
            return place(payment_method=payment_method, confirm=False).id
        previous, step = ROUTE[target]
        order_id = reach(previous, payment_method)
        step(order_id, payment_method)
        assert orders.get_order(order_id).status == target
        return order_id
    return reach


def attempt(order_id: int, current: str, target: str) -> str:
    """Ask for `target` the way the back-office would; returns the actor to expect."""
    legal = target in S.TRANSITIONS[current]
    if target == S.CONFIRMED and current == S.CANCELLED and legal:
        # Only money arriving after cancelling reopens an order (a part: it stays confirmed).
        gateway_id = orders.get_order(order_id).payment_method
        payments.apply_gateway_event(gateway_id, GatewayEvent(
            event_id=f"late-{order_id}", order_id=order_id, amount_minor=1, currency="EUR",
            external_id=f"pi-late-{order_id}"))
        return f"gateway:{gateway_id}"
    if target == S.CONFIRMED and current == S.PAID and legal:
        # Only an edit that makes a paid order cost more sends it back (services.order_edits).
        order = orders.get_order(order_id)
        order_edits.edit_order(order_id, order_edits.OrderEdit(
            version=order.version, quantities={order.lines[0].id: order.lines[0].quantity + 1}), actor=ACTOR)
        return ACTOR
    if target == S.CONFIRMED:
        orders.confirm_order(order_id, actor=ACTOR)
    elif target == S.CANCELLED:
        # A paid order is cancelled with its refund: staff give the transfer's reference.
        orders.cancel_order(order_id, actor=ACTOR, reason="Customer changed their mind",
                            refund_reference="REFUND-1")
    elif target == S.CLOSED:
        orders.close_order(order_id, actor=ACTOR)
    elif target == S.FULFILLING and current not in (S.FULFILLING, S.PARTIALLY_SHIPPED, S.SHIPPED):
        # From fulfilling it adds a parcel; back from (partly) shipped is a voided label.
        shipments.create_shipment(order_id, carrier_id=BOOKING_CARRIER, service="std", actor=ACTOR)
    elif target == S.PAID and legal:
        pay_balance(order_id, "bank_transfer")
    elif target == S.SHIPPED and legal:
        if current == S.PARTIALLY_SHIPPED:  # the rest goes in another parcel
            shipments.create_shipment(order_id, carrier_id=BOOKING_CARRIER, service="std", actor=ACTOR)
        book(order_id)
        return f"carrier:{BOOKING_CARRIER}"
    elif target == S.DELIVERED and legal:
        deliver(order_id)
        return "carrier:test"
    else:
        change_status(order_id, target, reason="Manual step")
    return ACTOR


def snapshot(order_id: int) -> dict:
    """Everything a status change may touch, read through a fresh session."""
    db.session.remove()
    order = db.session.get(Order, order_id)
    rows = lambda model, *cols: [tuple(r) for r in db.session.execute(  # noqa: E731
        select(*cols).order_by(model.id)).all()]
    return {
        "order": {c.key: getattr(order, c.key) for c in Order.__mapper__.column_attrs},
        "timeline": rows(TimelineEvent, TimelineEvent.id, TimelineEvent.kind,
                         TimelineEvent.from_status, TimelineEvent.to_status),
        "stock": rows(Product, Product.id, Product.on_hand, Product.reserved),
        "ledger": db.session.scalar(select(func.count(StockMove.id))),
        "outbox": rows(OutboxMessage, OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status),
        "payments": rows(Payment, Payment.id, Payment.amount_minor, Payment.status),
        "shipments": rows(Shipment, Shipment.id, Shipment.status, Shipment.tracking_number),
    }


def status_events(order_id: int) -> list:
    """The order's status changes as plain rows, read through a fresh session."""
    db.session.remove()
    return db.session.execute(select(
        TimelineEvent.id, TimelineEvent.from_status, TimelineEvent.to_status, TimelineEvent.actor,
        TimelineEvent.message, TimelineEvent.public, TimelineEvent.created_at,
    ).where(TimelineEvent.order_id == order_id, TimelineEvent.kind == "status_changed")
        .order_by(TimelineEvent.id)).all()


def payment_method_for(current: str, target: str) -> str:
    # confirmed -> fulfilling unpaid is legal only for cash on delivery.
    return "cash_on_delivery" if (current, target) == (S.CONFIRMED, S.FULFILLING) else "bank_transfer"


# ------------------------------------------------------------------ the matrix


# The edges of docs/architecture.md, written out so that a change to the table is a decision.
DESIGNED_EDGES = {
    (S.PLACED, S.CONFIRMED), (S.PLACED, S.CANCELLED),
    (S.CONFIRMED, S.PAID), (S.CONFIRMED, S.FULFILLING), (S.CONFIRMED, S.CANCELLED),
    (S.PAID, S.FULFILLING), (S.PAID, S.CANCELLED), (S.CANCELLED, S.CONFIRMED),
    (S.PAID, S.CONFIRMED),  # an edit made it cost more than was paid
    (S.FULFILLING, S.SHIPPED), (S.SHIPPED, S.DELIVERED),
    (S.FULFILLING, S.PARTIALLY_SHIPPED), (S.PARTIALLY_SHIPPED, S.SHIPPED),
    # A label voided before the carrier took the parcel steps back.
    (S.SHIPPED, S.PARTIALLY_SHIPPED), (S.SHIPPED, S.FULFILLING), (S.PARTIALLY_SHIPPED, S.FULFILLING),
    (S.DELIVERED, S.CLOSED),
}


def test_the_transition_table_is_the_designed_one():
    table = {(a, b) for a, targets in S.TRANSITIONS.items() for b in targets}
    assert table == DESIGNED_EDGES


def test_the_transition_table_covers_every_status():
    assert set(S.TRANSITIONS) == set(S.STATUSES) == set(S.PUBLIC_LABELS)
    for targets in S.TRANSITIONS.values():
        assert targets <= set(S.STATUSES)
    assert S.TRANSITIONS[S.CLOSED] == frozenset()
    assert S.TRANSITIONS[S.CANCELLED] == {S.CONFIRMED}  # only by a payment that arrives late
    for pair in S.GUARDS:
        assert pair[1] in S.TRANSITIONS[pair[0]], f"guard on an edge that does not exist: {pair}"


@pytest.mark.parametrize("current", S.STATUSES)
def test_every_target_from(current, order_in, subtests):
    """For one status, try all 13 targets: legal ones on a fresh order each, illegal
    ones all on the same order, which must come out of each attempt untouched."""
    untouched = order_in(current)
    reachable = []
    for target in S.STATUSES:
        legal = target in S.TRANSITIONS[current]
        with subtests.test(current=current, target=target, legal=legal):
            if legal:
                order_id = order_in(current, payment_method_for(current, target))
                before = status_events(order_id)
                actor = attempt(order_id, current, target)
                after = status_events(order_id)
                assert [e.id for e in after[:len(before)]] == [e.id for e in before]
                new = after[len(before):]
                assert [(e.from_status, e.to_status) for e in new] == [(current, target)]
                assert new[0].actor == actor and new[0].message.strip()
                assert new[0].public and new[0].created_at is not None
                assert orders.get_order(order_id).status == target
                reachable.append(target)
            else:
                before = snapshot(untouched)
                with pytest.raises(IllegalTransition) as refused:
                    attempt(untouched, current, target)
                assert (refused.value.current, refused.value.target) == (current, target)
                assert current in str(refused.value) and target in str(refused.value)
                assert snapshot(untouched) == before
    assert sorted(reachable) == sorted(S.TRANSITIONS[current])
    # What the order page offers is exactly what the services accept (guards included).
    assert S.allowed_targets(orders.get_order(untouched)) == sorted(
        t for t in S.TRANSITIONS[current] if S.refusal(orders.get_order(untouched), t) is None)


def test_the_full_route_writes_one_event_per_step(order_in):
    order_id = order_in(S.CLOSED)
    steps = [(e.from_status, e.to_status, e.actor) for e in status_events(order_id)]
    assert [s[:2] for s in steps] == [
        (None, S.PLACED), (S.PLACED, S.CONFIRMED), (S.CONFIRMED, S.PAID), (S.PAID, S.FULFILLING),
        (S.FULFILLING, S.SHIPPED), (S.SHIPPED, S.DELIVERED), (S.DELIVERED, S.CLOSED)]
    assert steps[4][2] == f"carrier:{BOOKING_CARRIER}" and steps[-1][2] == ACTOR


# ------------------------------------------------------------------ guards


def assert_refused_unchanged(order_id: int, action) -> IllegalTransition:
    before = snapshot(order_id)
    with pytest.raises(IllegalTransition) as refused:
        action()
    assert snapshot(order_id) == before
    return refused.value


def test_cash_on_delivery_may_be_fulfilled_unpaid(order_in):
    order_id = order_in(S.CONFIRMED, "cash_on_delivery")
    shipments.create_shipment(order_id, carrier_id="manual", service="DHL", tracking_number="JD1",
                              actor=ACTOR)
    order = orders.get_order(order_id)
    assert (order.status, order.payment_status) == (S.SHIPPED, "unpaid")


@pytest.mark.parametrize("paid_part", [0, 100])
def test_bank_transfer_may_not_be_fulfilled_before_it_is_paid(order_in, paid_part):
    order_id = order_in(S.CONFIRMED, "bank_transfer")
    if paid_part:
        payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=paid_part,
                                currency="EUR", reference="PART", actor=ACTOR)
    error = assert_refused_unchanged(order_id, lambda: shipments.create_shipment(
        order_id, carrier_id="manual", service="DHL", tracking_number="JD1", actor=ACTOR))
    assert "paid" in str(error)
    assert_refused_unchanged(order_id, lambda: change_status(order_id, S.FULFILLING))


def test_cancel_once_money_is_taken_refunds_it_first(order_in):
    """Never cancelled silently after money was taken: without the refund's reference
    (a hand-recorded payment) it is refused and nothing changes; with it the refund is
    recorded in the same transaction (test_payment_lifecycle.py has the rest)."""
    order_id = order_in(S.CONFIRMED, "cash_on_delivery")
    payments.record_payment(order_id, gateway_id="cash_on_delivery", amount_minor=100,
                            currency="EUR", reference="", actor=ACTOR)
    before = snapshot(order_id)
    with pytest.raises(ValidationError, match="reference"):
        orders.cancel_order(order_id, actor=ACTOR, reason="too late")
    assert snapshot(order_id) == before
    order = orders.get_order(order_id)
    product = db.session.get(Product, order.lines[0].product_id)
    assert order.status == S.CONFIRMED and product.reserved == order.lines[0].quantity  # still held
    with pytest.raises(IllegalTransition, match="refund"):
        status.change(order, S.CANCELLED, actor=ACTOR, tx=None)  # the bare edge is guarded
    orders.cancel_order(order_id, actor=ACTOR, reason="too late", refund_reference="CASH-BACK-1")
    order = orders.get_order(order_id)
    assert (order.status, order.paid_minor, order.refunded_minor, order.payment_status) == (
        S.CANCELLED, 100, 100, "refunded")


def test_cancelling_a_confirmed_order_releases_its_stock(order_in):
    order_id = order_in(S.CONFIRMED)
    product_id = orders.get_order(order_id).lines[0].product_id
    assert db.session.get(Product, product_id).reserved == 2
    orders.cancel_order(order_id, actor=ACTOR, reason="Customer asked")
    db.session.remove()
    assert db.session.get(Product, product_id).reserved == 0
    event = status_events(order_id)[-1]
    assert (event.to_status, event.message, event.actor) == (S.CANCELLED, "Customer asked", ACTOR)


def test_cancel_needs_a_reason(order_in):
    from oms_core.errors import ValidationError

    order_id = order_in(S.PLACED)
    with pytest.raises(ValidationError):
        orders.cancel_order(order_id, actor=ACTOR, reason="  ")
    assert orders.get_order(order_id).status == S.PLACED


def test_closed_only_when_paid(order_in):
    order_id = order_in(S.CONFIRMED, "cash_on_delivery")
    shipments.create_shipment(order_id, carrier_id="manual", service="DHL", tracking_number="JD2",
                              actor=ACTOR)
    deliver(order_id)
    assert orders.get_order(order_id).status == S.DELIVERED
    error = assert_refused_unchanged(order_id, lambda: orders.close_order(order_id, actor=ACTOR))
    assert "paid" in str(error)
    pay_balance(order_id, "cash_on_delivery")  # the courier hands over the cash
    orders.close_order(order_id, actor=ACTOR)
    assert orders.get_order(order_id).status == S.CLOSED


def test_paid_only_when_the_balance_is_zero(order_in):
    order_id = order_in(S.CONFIRMED)
    assert_refused_unchanged(order_id, lambda: change_status(order_id, S.PAID))
