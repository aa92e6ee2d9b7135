"""Returns and exchanges (services/returns.py) on SQLite and PostgreSQL: every
transition of the return machine and every refusal (changing nothing), the stock
ledger's "return" rows, refunds with their credit note, exchanges that reserve
stock like any order, return labels through the outbox, the customer's emails,
concurrency, demand staying gross, and the migration of the old order states."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update

from oms_core import return_states as R
from oms_core.db import db
from oms_core.errors import IllegalTransition, NotFound, OutOfStock, ValidationError
from oms_core.models import (
    Document,
    Order,
    OutboxMessage,
    Product,
    Refund,
    ReturnLine,
    ReturnRequest,
    Shipment,
    StockMove,
    TimelineEvent,
)
from oms_core.protocols import CarrierResult, Label, TrackingUpdate
from oms_core.services import demand_history, notifications, orders, payments, returns, shipments
from oms_core.testing import dispose, make_app, scratch_postgres_database
from oms_core.testing.fakes import BookingCarrier, plugin_registering
from oms_core.testing.helpers import run_worker_once
from test_concurrency import race

STAFF = "staff:sam@example.com"
CUSTOMER = "customer"


class ReturnLabelCarrier(BookingCarrier):
    """A carrier that also sells return labels (one per idempotency key)."""

    def __init__(self, *args, refuse: bool = False, **kw):
        super().__init__(*args, **kw)
        self.return_keys: list[str] = []
        self.refuse = refuse

    def create_return_label(self, request):
        self.return_keys.append(request.idempotency_key)
        if self.refuse:
            return CarrierResult.failure("no returns from this country")
        return CarrierResult(ok=True, tracking_number="RT0001", label=Label(b"%PDF-1.4 return label", "PDF"))


CARRIER = ReturnLabelCarrier("testpost")


@pytest.fixture
def app_config():
    return {"extra_plugins": [plugin_registering(CARRIER)],
            "OMS_RETURN_WINDOW_DAYS_BY_CATEGORY": {"furniture": 14},
            "OMS_PUBLIC_BASE_URL": "https://shop.example"}


# ------------------------------------------------------------------ helpers


def deliver_order(order_id: int) -> None:
    """Paid by bank transfer, one parcel booked with the test carrier, delivered."""
    order = orders.get_order(order_id)
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency=order.currency, reference="TRANSFER-1", actor=STAFF)
    shipment = shipments.create_shipment(order_id, carrier_id="testpost", service="std", actor=STAFF)
    shipments.apply_booking(shipment.id, CarrierResult(ok=True, tracking_number=f"TP{shipment.id}"))
    shipments.add_tracking_update(shipment.id, TrackingUpdate(f"TP{shipment.id}", "delivered",
                                                              datetime.now(timezone.utc), raw_code="DLV"),
                                  source="carrier:testpost")
    assert orders.get_order(order_id).status == "delivered"


@pytest.fixture
def delivered(app, place, make_product):
    """delivered(quantity=2, on_hand=10, category="") -> the delivered order (one line)."""

    def make(quantity: int = 2, *, on_hand: int = 10, category: str = "", email: str = "ann@example.com"):
        product = make_product(on_hand=on_hand, category=category)
        order = place([(product.sku, quantity)], confirm=True, email=email)
        deliver_order(order.id)
        return orders.get_order(order.id)
    return make


def line_of(order) -> int:
    return order.lines[0].id


def ask(order, quantity: int = 1, *, outcome: str = R.REFUND, reason: str = "damaged", text: str = ""):
    return returns.request_return(order.id, lines={line_of(order): quantity}, reason_code=reason,
                                  reason_text=text, outcome=outcome, actor=CUSTOMER)


def state(return_id: int) -> str:
    db.session.commit()
    return db.session.get(ReturnRequest, return_id, populate_existing=True).state


def counts() -> tuple:
    """Everything a refused step must leave as it was."""
    db.session.commit()
    return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in (
        ReturnRequest, ReturnLine, StockMove, Refund, OutboxMessage, TimelineEvent, Order, Document)) + (
        tuple(db.session.execute(select(ReturnRequest.id, ReturnRequest.state).order_by(ReturnRequest.id))),
        tuple(db.session.execute(select(Product.id, Product.on_hand, Product.reserved).order_by(Product.id))))


def refused(exception, step):
    before = counts()
    with pytest.raises(exception) as error:
        step()
    assert counts() == before
    return str(error.value)


def return_events(order_id: int) -> list[TimelineEvent]:
    db.session.commit()
    return list(db.session.scalars(select(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.kind == "return").order_by(TimelineEvent.id)))


def emails(order_id: int) -> list[str]:
    db.session.commit()
    return [m.payload["status"] for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.order_id == order_id, OutboxMessage.kind == notifications.EMAIL_KIND)
        .order_by(OutboxMessage.id)) if m.payload["status"].startswith("return_")]


def receive_all(ret, condition: str = R.RESTOCK, reason: str = ""):
    return returns.receive(ret.id, lines={line.id: returns.Receipt(line.quantity, condition, reason)
                                          for line in ret.lines}, actor=STAFF)


# ------------------------------------------------------------------ the refund route


def test_request_approve_receive_refund_close(delivered):
    order = delivered(2)
    product_id = order.lines[0].product_id
    on_hand = db.session.get(Product, product_id).on_hand
    ret = ask(order, 1, text="The lid is cracked")
    assert (ret.state, ret.outcome, ret.created_by) == (R.REQUESTED, R.REFUND, CUSTOMER)
    assert [(line.order_line_id, line.quantity) for line in ret.lines] == [(line_of(order), 1)]

    returns.approve(ret.id, note="Photo looks convincing", actor=STAFF)
    assert state(ret.id) == R.APPROVED
    receive_all(ret)
    assert state(ret.id) == R.RECEIVED
    # Restocked: on hand grows by one through a ledger row of reason "return".
    assert db.session.get(Product, product_id, populate_existing=True).on_hand == on_hand + 1
    move = db.session.scalar(select(StockMove).where(StockMove.product_id == product_id)
                             .order_by(StockMove.id.desc()).limit(1))
    assert (move.reason, move.on_hand_delta, move.reserved_delta, move.order_id) == ("return", 1, 0, order.id)

    # Bank transfers are refunded by hand: the reference is required, and nothing changes without it.
    assert "refunded by hand" in refused(ValidationError, lambda: returns.refund(ret.id, actor=STAFF))
    returns.refund(ret.id, reference="BACK-1", actor=STAFF)
    assert state(ret.id) == R.REFUNDED
    refund = db.session.scalar(select(Refund).where(Refund.order_id == order.id))
    assert (refund.amount_minor, refund.lines, refund.state) == (1250, {str(line_of(order)): 1}, "succeeded")
    credit_note = db.session.scalar(select(Document).where(Document.kind == "credit_note",
                                                           Document.order_id == order.id))
    assert credit_note is not None and credit_note.source_id == refund.id
    returns.close(ret.id, actor=STAFF)
    assert state(ret.id) == R.CLOSED
    assert orders.get_order(order.id).status == "delivered"  # the order's own status is untouched

    steps = return_events(order.id)
    assert [e.actor for e in steps] == [CUSTOMER, STAFF, STAFF, STAFF, STAFF]
    # The customer's text stays on the return.
    assert "requested" in steps[0].message and "The lid" not in steps[0].message
    assert "approved" in steps[1].message and "Photo looks convincing" in steps[1].message
    assert "received" in steps[2].message and "1 × " in steps[2].message and "refunded" in steps[3].message
    assert all(e.created_at is not None for e in steps)
    assert emails(order.id) == ["return_requested", "return_approved", "return_received", "return_refunded"]


def test_several_returns_per_order_count_each_other(delivered):
    order = delivered(3)
    first = ask(order, 2)
    assert "At most 1 of" in refused(ValidationError, lambda: ask(order, 2))
    second = ask(order, 1)
    assert [r.id for r in returns.for_order(order.id)] == [first.id, second.id]
    assert refused(ValidationError, lambda: ask(order, 1)).startswith("At most 0")
    # A rejected or withdrawn return gives its units back; a received one counts what arrived.
    returns.reject(first.id, reason="Worn", actor=STAFF)
    returns.cancel_by_customer(order.id, second.id, actor=CUSTOMER)
    third = ask(order, 3)
    returns.approve(third.id, actor=STAFF)
    returns.receive(third.id, lines={third.lines[0].id: returns.Receipt(2)}, actor=STAFF)
    assert [line.returnable for line in returns.returnable_lines(orders.get_order(order.id))] == [1]


def test_refusals_change_nothing(delivered, place):
    order = delivered(2)
    assert "At most 2" in refused(ValidationError, lambda: ask(order, 3))
    assert "at least one" in refused(ValidationError, lambda: ask(order, 0))
    assert "whole number" in refused(ValidationError, lambda: returns.request_return(
        order.id, lines={line_of(order): 1.5}, reason_code="damaged", actor=CUSTOMER))
    assert "at most 1,000" in refused(ValidationError, lambda: ask(order, 10**12))
    assert "reason" in refused(ValidationError, lambda: ask(order, 1, reason="because"))
    assert "refund or an exchange" in refused(ValidationError, lambda: ask(order, 1, outcome="both"))
    assert "longer than 2000" in refused(ValidationError, lambda: ask(order, 1, text="x" * 2001))
    assert "NUL" in refused(ValidationError, lambda: ask(order, 1, text="a\x00b"))
    other = delivered(1, email="bob@example.com")
    assert "items of this order" in refused(ValidationError, lambda: returns.request_return(
        order.id, lines={line_of(other): 1}, reason_code="damaged", actor=CUSTOMER))
    assert "No order" in refused(NotFound, lambda: returns.request_return(
        2**31 - 1, lines={1: 1}, reason_code="damaged", actor=CUSTOMER))
    # Not delivered yet: a confirmed order.
    waiting = place(confirm=True)
    assert "not been delivered" in refused(ValidationError, lambda: ask(waiting, 1))


def test_the_return_window_from_delivery_per_category(delivered):
    plain, chair = delivered(1), delivered(1, category="furniture")

    def delivered_days_ago(order, days):
        db.session.execute(update(TimelineEvent).where(TimelineEvent.order_id == order.id,
                                                       TimelineEvent.to_status == "delivered")
                           .values(created_at=datetime.now(timezone.utc) - timedelta(days=days)))
        db.session.commit()

    delivered_days_ago(plain, 20)
    delivered_days_ago(chair, 20)
    assert "ended on" in refused(ValidationError, lambda: ask(chair, 1))  # furniture: 14 days
    assert ask(plain, 1).state == R.REQUESTED  # everything else: 30 days
    delivered_days_ago(plain, 31)
    line = returns.returnable_lines(orders.get_order(plain.id))[0]
    assert line.returnable == 0 and line.window_closes < datetime.now(timezone.utc)


def test_every_illegal_step_is_refused(delivered):
    order = delivered(2)
    ret = ask(order, 1)
    receipt = {ret.lines[0].id: returns.Receipt(1)}
    steps = {
        R.APPROVED: lambda: returns.approve(ret.id, actor=STAFF),
        R.REJECTED: lambda: returns.reject(ret.id, reason="no", actor=STAFF),
        R.CANCELLED: lambda: returns.cancel_by_customer(order.id, ret.id, actor=CUSTOMER),
        R.RECEIVED: lambda: returns.receive(ret.id, lines=receipt, actor=STAFF),
        R.REFUNDED: lambda: returns.refund(ret.id, reference="R", actor=STAFF),
        R.EXCHANGED: lambda: returns.exchange(ret.id, actor=STAFF),
        R.CLOSED: lambda: returns.close(ret.id, actor=STAFF),
    }
    # requested -> approved -> received -> refunded -> closed, trying every other step on the way.
    for current, step in [(R.REQUESTED, R.APPROVED), (R.APPROVED, R.RECEIVED), (R.RECEIVED, R.REFUNDED),
                          (R.REFUNDED, R.CLOSED), (R.CLOSED, None)]:
        assert state(ret.id) == current
        for target, attempt in steps.items():
            if target not in R.TRANSITIONS[current]:
                message = refused(IllegalTransition, attempt)
                assert current in message and target in message
        if step:
            steps[step]()
    assert set(R.TRANSITIONS) == set(R.STATES)


def test_double_receive_is_refused(delivered):
    order = delivered(2)
    ret = ask(order, 2)
    returns.approve(ret.id, actor=STAFF)
    receive_all(ret)
    assert "received" in refused(IllegalTransition, lambda: receive_all(ret))
    returned = select(func.count()).select_from(StockMove).where(StockMove.reason == "return")
    assert db.session.scalar(returned) == 1


def test_receive_refusals(delivered):
    order = delivered(2)
    ret = ask(order, 2)
    returns.approve(ret.id, actor=STAFF)
    line = ret.lines[0].id
    assert "at most 2" in refused(ValidationError, lambda: returns.receive(
        ret.id, lines={line: returns.Receipt(3)}, actor=STAFF))
    assert "Nothing received" in refused(ValidationError, lambda: returns.receive(
        ret.id, lines={line: returns.Receipt(0)}, actor=STAFF))
    assert "written off" in refused(ValidationError, lambda: returns.receive(
        ret.id, lines={line: returns.Receipt(1, R.WRITE_OFF, "")}, actor=STAFF))
    assert "restock or write off" in refused(ValidationError, lambda: returns.receive(
        ret.id, lines={line: returns.Receipt(1, "shred")}, actor=STAFF))
    assert "lines of this return" in refused(ValidationError, lambda: returns.receive(
        ret.id, lines={line + 1000: returns.Receipt(1)}, actor=STAFF))


def test_reject_needs_a_reason_and_tells_the_customer(delivered):
    order = delivered(1)
    ret = ask(order, 1)
    assert "reason" in refused(ValidationError, lambda: returns.reject(ret.id, reason="  ", actor=STAFF))
    returns.reject(ret.id, reason="Used for months", actor=STAFF)
    assert state(ret.id) == R.REJECTED
    assert db.session.get(ReturnRequest, ret.id).rejection_reason == "Used for months"
    assert emails(order.id) == ["return_requested", "return_rejected"]
    returns.close(ret.id, actor=STAFF)
    assert state(ret.id) == R.CLOSED


def test_a_customer_reaches_no_other_order_s_return(delivered):
    mine, theirs = delivered(1), delivered(1, email="bob@example.com")
    their_return = ask(theirs, 1)
    assert "No return" in refused(NotFound, lambda: returns.cancel_by_customer(mine.id, their_return.id,
                                                                               actor=CUSTOMER))
    assert "No such return" in refused(NotFound, lambda: returns.cancel_by_customer(mine.id, 2**40,
                                                                                    actor=CUSTOMER))
    with pytest.raises(NotFound):
        returns.label(their_return.id, mine.id)


# ------------------------------------------------------------------ write-offs and exchanges


def test_write_off_has_no_ledger_row_and_exchange_reserves_stock(delivered):
    order = delivered(2, on_hand=10)
    product = db.session.get(Product, order.lines[0].product_id)
    ret = ask(order, 2, outcome=R.EXCHANGE)
    returns.approve(ret.id, actor=STAFF)
    moves = db.session.scalar(select(func.count()).select_from(StockMove))
    receive_all(ret, R.WRITE_OFF, "Broken in transit")
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == moves
    line = db.session.get(ReturnLine, ret.lines[0].id, populate_existing=True)
    assert (line.received_quantity, line.condition, line.write_off_reason) == (
        2, R.WRITE_OFF, "Broken in transit")

    replacement = returns.exchange(ret.id, actor=STAFF)
    db.session.commit()
    replacement = orders.get_order(replacement.id)
    assert (replacement.status, replacement.total_minor, replacement.payment_status) == ("paid", 0, "paid")
    assert (replacement.customer_id, replacement.ship_line1, replacement.channel) == (
        order.customer_id, order.ship_line1, "exchange")
    assert [(line.sku, line.quantity, line.unit_price_minor) for line in replacement.lines] == [
        (product.sku, 2, 0)]
    assert db.session.get(Product, product.id, populate_existing=True).reserved == 2
    assert state(ret.id) == R.EXCHANGED
    assert db.session.get(ReturnRequest, ret.id).exchange_order_id == replacement.id
    assert emails(order.id)[-1] == "return_exchanged"
    # The replacement costs nothing: no "confirmed" or "payment received" email; its shipping one comes.
    replacement_emails = select(OutboxMessage).where(OutboxMessage.order_id == replacement.id,
                                                     OutboxMessage.kind == notifications.EMAIL_KIND)
    assert not db.session.scalars(replacement_emails).all()
    # It ships through the normal parcel flow.
    shipment = shipments.create_shipment(replacement.id, carrier_id="testpost", service="std", actor=STAFF)
    shipments.apply_booking(shipment.id, CarrierResult(ok=True, tracking_number="TPX1"))
    assert orders.get_order(replacement.id).status == "shipped"
    db.session.commit()
    assert [m.payload["status"] for m in db.session.scalars(replacement_emails)] == ["shipped"]


def test_an_exchange_beyond_stock_is_refused_clearly(delivered, make_product):
    order = delivered(2, on_hand=2)  # both units shipped: none left
    ret = ask(order, 2, outcome=R.EXCHANGE)
    returns.approve(ret.id, actor=STAFF)
    receive_all(ret, R.WRITE_OFF, "Scratched")
    message = refused(OutOfStock, lambda: returns.exchange(ret.id, actor=STAFF))
    assert "Not enough stock" in message and "2 requested, 0 available" in message
    # Staff may pick other items instead.
    other = make_product(sku="OTHER", on_hand=5)
    assert "Unknown or unavailable" in refused(ValidationError, lambda: returns.exchange(
        ret.id, lines=[("NOPE", 1)], actor=STAFF))
    replacement = returns.exchange(ret.id, lines=[("OTHER", 1)], actor=STAFF)
    assert [(line.sku, line.quantity) for line in replacement.lines] == [("OTHER", 1)]
    assert db.session.get(Product, other.id, populate_existing=True).reserved == 1


# ------------------------------------------------------------------ return labels


def test_a_label_is_bought_through_the_outbox_when_the_shop_pays(app, delivered):
    app.config["OMS_RETURNS_SHOP_PAYS"] = True
    order = delivered(1)
    ret = ask(order, 1)
    returns.approve(ret.id, actor=STAFF)
    db.session.commit()
    # Nothing bought in the request: a message waits in the outbox, the email waits for the label.
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == returns.LABEL_KIND))
    assert message.status == "pending" and emails(order.id) == ["return_requested"]
    run_worker_once(app)
    stored = db.session.get(ReturnRequest, ret.id, populate_existing=True)
    assert (stored.label_format, stored.label_tracking_number) == ("PDF", "RT0001")
    data, media, filename = returns.label(ret.id, order.id)
    assert (data, media, filename) == (b"%PDF-1.4 return label", "application/pdf", f"return-{ret.id}.pdf")
    assert emails(order.id) == ["return_requested", "return_approved"]
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order.id))
    assert CARRIER.return_keys[-1] == f"return-{shipment.booking_key}"


def test_a_refused_label_falls_back_to_instructions(app, delivered):
    app.config["OMS_RETURNS_SHOP_PAYS"] = True
    order = delivered(1)
    ret = ask(order, 1)
    CARRIER.refuse = True
    try:
        returns.approve(ret.id, actor=STAFF)
        run_worker_once(app)
    finally:
        CARRIER.refuse = False
    stored = db.session.get(ReturnRequest, ret.id, populate_existing=True)
    assert stored.label_error == "no returns from this country" and not stored.label_format
    assert emails(order.id) == ["return_requested", "return_approved"]
    with pytest.raises(NotFound):
        returns.label(ret.id)


def test_without_shop_paid_returns_the_instructions_are_emailed(app, delivered):
    order = delivered(1)
    ret = ask(order, 1)
    returns.approve(ret.id, actor=STAFF)
    db.session.commit()
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key.like(
        f"email-return-{ret.key}-approved")))
    email = notifications.compose(message)
    assert app.config["OMS_RETURN_INSTRUCTIONS"] in email["text"]
    assert email["subject"] == f"Your return for order {order.number} is approved"
    assert f"https://shop.example/track/documents/{order.id}/returns/link/" in email["text"]
    assert not db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == returns.LABEL_KIND))


def test_every_return_email_renders_escaped_with_its_link(app, delivered):
    order = delivered(1)
    ret = ask(order, 1)
    returns.reject(ret.id, reason="<b>used</b> & worn", actor=STAFF)
    db.session.commit()
    for message in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.order_id == order.id, OutboxMessage.idempotency_key.like("email-return-%"))):
        email = notifications.compose(message)
        assert "/returns/link/" in email["html"] and f"return #{ret.id}" in email["text"]
        if message.payload["status"] == "return_rejected":
            assert "&lt;b&gt;used&lt;/b&gt; &amp; worn" in email["html"]
            assert "<b>used</b> & worn" in email["text"]


# ------------------------------------------------------------------ concurrency and demand


@pytest.mark.parametrize("step", ["approve", "receive"])
def test_two_staff_acting_at_once_move_a_return_once(app, delivered, step):
    order = delivered(2, on_hand=10)
    ret = ask(order, 2)
    if step == "receive":
        returns.approve(ret.id, actor=STAFF)
    line_id, return_id, product_id = ret.lines[0].id, ret.id, order.lines[0].product_id
    on_hand = db.session.get(Product, product_id).on_hand
    db.session.commit()

    def work(i):
        if step == "approve":
            return returns.approve(return_id, actor=f"staff:{i}").state
        return returns.receive(return_id, lines={line_id: returns.Receipt(2)}, actor=f"staff:{i}").state

    results = race(app, 6, work)
    assert [r for r in results if r[0] == "ok"] == [("ok", R.APPROVED if step == "approve" else R.RECEIVED)]
    assert all(isinstance(r[1], IllegalTransition) for r in results if r[0] == "error")
    assert len([e for e in return_events(order.id) if f"→ {step}" in e.message]) == 1
    expected = on_hand + (2 if step == "receive" else 0)
    assert db.session.get(Product, product_id, populate_existing=True).on_hand == expected


def test_returned_units_do_not_reduce_demand_history(delivered):
    order = delivered(3)
    product_id = order.lines[0].product_id
    as_of = datetime.now(timezone.utc) + timedelta(days=14)
    before = demand_history.read("week", as_of=as_of).series[product_id]
    ret = ask(order, 2)
    returns.approve(ret.id, actor=STAFF)
    receive_all(ret)
    returns.refund(ret.id, reference="BACK", actor=STAFF)
    after = demand_history.read("week", as_of=as_of).series[product_id]
    assert after == before and sum(after) == 3.0  # gross: the customer's demand happened


# ------------------------------------------------------------------ migration of the old order states

POSTGRES_URL = os.environ.get("OMS_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgres"])
def url_at_0009(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    if not POSTGRES_URL:
        if os.environ.get("OMS_CI_STRICT"):
            pytest.fail("OMS_CI_STRICT: PostgreSQL tests need OMS_TEST_POSTGRES_URL")
        pytest.skip("PostgreSQL tests need OMS_TEST_POSTGRES_URL")
    with scratch_postgres_database(POSTGRES_URL, "oms_returns_mig") as url:
        yield url


def test_orders_in_old_return_states_move_to_returns(url_at_0009):
    from oms_core import schema

    app = make_app(url_at_0009, upgrade=False)
    try:
        with app.app_context():
            schema.upgrade("0009")
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            db.session.execute(text(
                "INSERT INTO oms_customer (id, email, name, phone, created_at) "
                "VALUES (1, 'a@x.example', 'A', '', :now)"),
                {"now": now})
            db.session.execute(text(
                "INSERT INTO oms_product (id, sku, name, description, price_minor, currency, on_hand, "
                "reserved, low_stock_threshold, active, tax_class, created_at) "
                "VALUES (1, 'CUP', 'Cup', '', 500, 'EUR', 5, 0, 3, true, 'standard', :now)"), {"now": now})
            old = ["return_requested", "return_approved", "return_received", "refunded", "return_rejected",
                   "delivered"]
            for order_id, status in enumerate(old, start=1):
                db.session.execute(text(
                    "INSERT INTO oms_order (id, status, customer_id, channel, currency, subtotal_minor, "
                    "shipping_minor, total_minor, paid_minor, refunded_minor, payment_method, "
                    "payment_status, pays_on_delivery, customer_name, customer_phone, ship_name, "
                    "ship_line1, ship_line2, ship_postal_code, ship_city, ship_country, note, created_at, "
                    "updated_at, status_changed_at) VALUES (:id, :status, 1, 'web', 'EUR', 1000, 0, 1000, "
                    "1000, 0, 'bank_transfer', 'paid', false, 'A', '', 'A', '', '', '', '', '', '', :now, "
                    ":now, :now)"),
                    {"id": order_id, "status": status, "now": now})
                db.session.execute(text(
                    "INSERT INTO oms_order_line (order_id, product_id, sku, name, unit_price_minor, "
                    "quantity, net_minor, gross_minor) VALUES (:id, 1, 'CUP', 'Cup', 500, 2, 1000, 1000)"),
                    {"id": order_id})
            db.session.commit()
            db.session.remove()
            schema.upgrade()
            rows = db.session.execute(text(
                "SELECT o.id, o.status, r.state, l.quantity, l.received_quantity FROM oms_order o "
                "LEFT JOIN oms_return r ON r.order_id = o.id "
                "LEFT JOIN oms_return_line l ON l.return_id = r.id "
                "ORDER BY o.id")).all()
            assert [tuple(row) for row in rows] == [
                (1, "delivered", "requested", 2, 0), (2, "delivered", "approved", 2, 0),
                (3, "delivered", "received", 2, 2), (4, "closed", "refunded", 2, 2),
                (5, "closed", "rejected", 2, 0), (6, "delivered", None, None, None)]
            migrated = returns.for_order(5)[0]
            assert migrated.created_by == "migration" and migrated.rejection_reason
            assert len(migrated.key) == 32
            assert db.session.scalar(text("SELECT category FROM oms_product")) == ""
            db.session.remove()
            schema.downgrade("0009")
            schema.upgrade()
    finally:
        dispose(app)


def test_a_return_request_is_an_outbound_webhook_event_without_the_customers_text(app, delivered):
    from oms_core.models import WebhookDelivery
    from oms_core.services import outbound_webhooks

    outbound_webhooks.create_endpoint("https://erp.example/hooks", ["return.requested"], description="ERP")
    order = delivered(2)
    ret = ask(order, 2, text="It arrived broken, call me on +31 6 1234 5678")
    db.session.commit()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    body = json.loads(delivery.body)
    assert (delivery.event_type, delivery.order_id) == ("return.requested", order.id)
    assert body["data"]["return"] == {"id": ret.id, "has_reason": True,
                                      "lines": [{"order_line_id": line_of(order), "quantity": 2}]}
    assert "broken" not in delivery.body and "1234" not in delivery.body
