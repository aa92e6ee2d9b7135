"""Real concurrency on both databases (docs/architecture.md, invariants 1 and 3).

Buyers run in threads, each with its own app context and so its own session and
connection, or in separate processes (multiprocessing 'spawn') that build their
own app on the same database URL. A barrier starts them together. On SQLite,
BEGIN IMMEDIATE plus the busy timeout must let every one of them finish without
"database is locked"; on PostgreSQL the conditional updates and row locks must
keep the counters right."""
from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from oms_core import order_states
from oms_core.db import db
from oms_core.errors import IllegalTransition, OutOfStock, ValidationError
from oms_core.models import (
    Customer,
    Order,
    OrderLine,
    OutboxMessage,
    Payment,
    Product,
    ShipmentEvent,
    StockMove,
    TimelineEvent,
)
from oms_core.protocols import (
    CarrierResult,
    GatewayEvent,
    TrackingUpdate,
)
from oms_core.services import orders, payments, shipments, stock
from oms_core.services.orders import NewOrder, place_order
from oms_core.testing.fakes import BookingCarrier, plugin_registering

BUYERS = 20
LAST_UNITS = 5


@pytest.fixture
def app_config():
    # Enough pooled connections that all buyers really hold one at the same time.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": BUYERS + 5, "max_overflow": 10}}


def new_order(index: int, sku: str, quantity: int = 1) -> NewOrder:
    return NewOrder(email=f"buyer{index}@example.com", name=f"Buyer {index}", lines=[(sku, quantity)],
                    payment_method="bank_transfer",
                    address={"line1": "1 Main St", "postal_code": "1000", "city": "Springfield",
                             "country": "NL"})


def race_processes(target, arguments: list[tuple]) -> tuple[list, list]:
    """Run target(*args, barrier, answers) in one spawned process per args, released
    together by a barrier; each puts one answer on the queue. Returns the answers
    and the (joined, or killed) processes."""
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(len(arguments)), context.Queue()
    processes = [context.Process(target=target, args=(*args, barrier, answers)) for args in arguments]
    for process in processes:
        process.start()
    try:
        results = [answers.get(timeout=240) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    return results, processes


def race(app, workers: int, work) -> list[tuple[str, object]]:
    """Run work(i) in `workers` threads released together by a barrier. Each thread
    has its own app context (own session and connection). Returns per worker
    ("ok", value) or ("error", exception)."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def run(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                results[index] = ("ok", work(index))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                results[index] = ("error", exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,), name=f"worker-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


def outcomes(results) -> Counter:
    return Counter(value.__class__.__name__ if kind == "error" else "ok" for kind, value in results)


class StockWatcher:
    """Samples the product's counters from its own connection while a race runs:
    available and reserved never go below zero, reserved never above on hand."""

    def __init__(self, app, product_id: int):
        self.app, self.product_id = app, product_id
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stock-watcher")

    def _run(self) -> None:
        with self.app.app_context():
            while not self._stop.is_set():
                self.samples.append(tuple(db.session.execute(
                    select(Product.on_hand, Product.reserved).where(Product.id == self.product_id)).one()))
                db.session.rollback()  # end the read so the next sample sees new commits
            db.session.remove()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        assert self.samples, "the watcher saw nothing"
        for on_hand, reserved in self.samples:
            assert 0 <= reserved <= on_hand, (on_hand, reserved)


def fresh_product(product_id: int) -> Product:
    db.session.remove()
    return db.session.get(Product, product_id)


def ledger_sums(product_id: int) -> tuple[int, int]:
    on_hand, reserved = db.session.execute(
        select(func.coalesce(func.sum(StockMove.on_hand_delta), 0),
               func.coalesce(func.sum(StockMove.reserved_delta), 0))
        .where(StockMove.product_id == product_id)).one()
    return on_hand, reserved


def assert_last_units_sold_once(product_id: int, winners: list[int]) -> None:
    """Exactly LAST_UNITS buyers won; losers left no row anywhere."""
    product = fresh_product(product_id)
    assert (product.on_hand, product.reserved, product.available) == (8, 8, 0)
    assert ledger_sums(product_id) == (product.on_hand, product.reserved)
    assert stock.ledger_mismatches() == []
    assert len(winners) == len(set(winners)) == LAST_UNITS
    buyer_orders = list(db.session.scalars(
        select(Order).join(Customer).where(Customer.email.like("buyer%"))))
    assert sorted(o.id for o in buyer_orders) == sorted(winners)
    assert {o.status for o in buyer_orders} == {order_states.CONFIRMED}
    assert all(o.tracking_code for o in buyer_orders)
    # Losers' transactions were rolled back whole: no customer, line, event or email.
    assert db.session.scalar(select(func.count()).select_from(Customer)
                             .where(Customer.email.like("buyer%"))) == LAST_UNITS
    order_ids = set(db.session.scalars(select(Order.id)))
    for model in (OrderLine, TimelineEvent, OutboxMessage):
        assert set(db.session.scalars(select(model.order_id))) <= order_ids
    assert db.session.scalar(select(func.count()).select_from(StockMove).where(
        StockMove.product_id == product_id, StockMove.reason == "reservation")) == LAST_UNITS + 1


@pytest.fixture
def last_units(make_product, place):
    """A product with 8 on hand of which 3 are already held: 5 left to sell."""
    product = make_product(on_hand=8)
    place([(product.sku, 3)], confirm=True, email="early@example.com")
    assert stock.available_for_sale([product.sku]) == {product.sku: LAST_UNITS}
    return product.id, product.sku


# ------------------------------------------------------------------ buyers


def test_threads_race_for_the_last_units(app, last_units):
    product_id, sku = last_units

    def buy(index: int) -> int:
        return place_order(new_order(index, sku), actor=f"buyer:{index}", confirm=True).id

    with StockWatcher(app, product_id):
        results = race(app, BUYERS, buy)
    assert outcomes(results) == {"ok": LAST_UNITS, "OutOfStock": BUYERS - LAST_UNITS}, results
    assert_last_units_sold_once(product_id, [value for kind, value in results if kind == "ok"])


def _buyer_process(database_url: str, sku: str, index: int, barrier, answers) -> None:
    """One buyer in its own process: its own app, engine and connection."""
    from oms_core.testing import dispose, make_app

    app = make_app(database_url, upgrade=False)
    try:
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                order = place_order(new_order(index, sku), actor=f"buyer:{index}", confirm=True)
                answers.put((index, "ok", order.id))
            except OutOfStock:
                answers.put((index, "OutOfStock", None))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                answers.put((index, exc.__class__.__name__, repr(exc)))
    finally:
        dispose(app)


def test_processes_race_for_the_last_units(app, database_url, last_units):
    product_id, sku = last_units
    results, processes = race_processes(_buyer_process, [(database_url, sku, i) for i in range(BUYERS)])
    assert Counter(kind for _, kind, _ in results) == {
        "ok": LAST_UNITS, "OutOfStock": BUYERS - LAST_UNITS}, results
    assert all(process.exitcode == 0 for process in processes)
    assert_last_units_sold_once(product_id, [value for _, kind, value in results if kind == "ok"])


# ------------------------------------------------------------------ staff


def test_concurrent_confirmation_of_placed_orders(app, make_product, place):
    product = make_product(on_hand=LAST_UNITS)
    placed = [place([(product.sku, 1)], confirm=False, email=f"buyer{i}@example.com").id
              for i in range(BUYERS)]

    def confirm(index: int) -> int:
        return orders.confirm_order(placed[index], actor="staff:x").id

    with StockWatcher(app, product.id):
        results = race(app, BUYERS, confirm)
    assert outcomes(results) == {"ok": LAST_UNITS, "OutOfStock": BUYERS - LAST_UNITS}, results
    fresh = fresh_product(product.id)
    assert (fresh.on_hand, fresh.reserved) == (LAST_UNITS, LAST_UNITS)
    assert ledger_sums(product.id) == (LAST_UNITS, LAST_UNITS)
    statuses = Counter(db.session.scalars(select(Order.status).where(Order.id.in_(placed))))
    assert statuses == {order_states.CONFIRMED: LAST_UNITS, order_states.PLACED: BUYERS - LAST_UNITS}
    assert db.session.scalar(select(func.count()).select_from(Order).where(
        Order.status == order_states.PLACED, Order.tracking_code.is_not(None))) == 0


def test_one_order_confirmed_by_many_at_once_is_confirmed_once(app, make_product, place):
    product = make_product(on_hand=10)
    order_id = place([(product.sku, 3)], confirm=False).id
    results = race(app, BUYERS, lambda i: orders.confirm_order(order_id, actor=f"staff:{i}").id)
    assert outcomes(results) == {"ok": 1, "IllegalTransition": BUYERS - 1}, results
    assert all(isinstance(value, IllegalTransition) for kind, value in results if kind == "error")
    fresh = fresh_product(product.id)
    assert (fresh.on_hand, fresh.reserved) == (10, 3)
    assert ledger_sums(product.id) == (10, 3)
    confirmations = db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.to_status == order_states.CONFIRMED))
    emails = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.order_id == order_id))
    assert (confirmations, emails) == (1, 1)


def test_stock_adjustments_race_reservations(app, make_product):
    """Counts going down, goods coming in and buyers reserving, all at once: the
    counters never break 0 <= reserved <= on_hand and always equal the ledger."""
    product = make_product(on_hand=20)
    plan = (["buy"] * 15) + (["shrink"] * 10) + (["receive"] * 5)

    def work(index: int):
        action = plan[index]
        if action == "buy":
            return action, place_order(new_order(index, product.sku, 2), actor="buyer", confirm=True).id
        if action == "shrink":
            return action, stock.adjust(product.id, -2, reason="adjustment", note="damaged",
                                        actor="staff:x").on_hand
        return action, stock.adjust(product.id, 1, reason="receipt", note="", actor="staff:x").on_hand

    with StockWatcher(app, product.id):
        results = race(app, len(plan), work)
    errors = [value for kind, value in results if kind == "error"]
    assert all(isinstance(e, (OutOfStock, ValidationError)) for e in errors), errors
    done = Counter(value[0] for kind, value in results if kind == "ok")
    assert done["receive"] == 5
    fresh = fresh_product(product.id)
    assert fresh.on_hand == 20 + done["receive"] - 2 * done["shrink"]
    assert fresh.reserved == 2 * done["buy"]
    assert 0 <= fresh.reserved <= fresh.on_hand
    assert ledger_sums(product.id) == (fresh.on_hand, fresh.reserved)
    assert stock.ledger_mismatches() == []
    # Every refusal was a real shortage, not a lost race: something was refused.
    assert errors and done["buy"] + done["shrink"] < 25


# ------------------------------------------------------------------ gateways


def test_duplicate_gateway_event_from_many_threads_applies_once(app, place):
    order = place(confirm=True)
    order_id, balance = order.id, order.balance_minor
    event = GatewayEvent(event_id="evt_42", order_id=order_id, amount_minor=balance, currency="EUR",
                         external_id="pi_42")
    results = race(app, BUYERS, lambda i: payments.apply_gateway_event("bank_transfer", event))
    applied = [value for kind, value in results if kind == "ok" and value is not None]
    assert outcomes(results) == {"ok": BUYERS}, results
    assert len(applied) == 1
    db.session.remove()
    fresh = db.session.get(Order, order_id)
    assert (fresh.paid_minor, fresh.payment_status, fresh.status) == (balance, "paid", order_states.PAID)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
    kinds = Counter(db.session.scalars(select(TimelineEvent.kind).where(
        TimelineEvent.order_id == order_id)))
    assert kinds["payment_recorded"] == 1


def test_distinct_gateway_events_at_once_lose_no_money(app, make_product, place):
    """Thirty 1.00 EUR events against a 25.00 EUR balance: each is counted or
    flagged, none is lost to a read-modify-write race."""
    product = make_product(price_minor=2500)
    order_id = place([(product.sku, 1)], confirm=True).id
    events = [GatewayEvent(event_id=f"evt_{i}", order_id=order_id, amount_minor=100, currency="EUR")
              for i in range(30)]
    results = race(app, len(events), lambda i: payments.apply_gateway_event("bank_transfer", events[i]).status)
    assert Counter(value for kind, value in results) == {"recorded": 25, "flagged": 5}, results
    db.session.remove()
    fresh = db.session.get(Order, order_id)
    assert (fresh.paid_minor, fresh.payment_status, fresh.status) == (2500, "paid", order_states.PAID)
    recorded = db.session.scalar(select(func.sum(Payment.amount_minor)).where(Payment.status == "recorded"))
    assert recorded == fresh.paid_minor


def test_staff_recording_payments_at_once_lose_no_money(app, make_product, place):
    product = make_product(price_minor=1000)
    order_id = place([(product.sku, 1)], confirm=True).id
    results = race(app, 12, lambda i: payments.record_payment(
        order_id, gateway_id="bank_transfer", amount_minor=100, currency="EUR", reference=f"T{i}",
        actor=f"staff:{i}").amount_minor)
    assert outcomes(results) == {"ok": 10, "PaymentRefused": 2}, results
    db.session.remove()
    fresh = db.session.get(Order, order_id)
    assert (fresh.paid_minor, fresh.status) == (1000, order_states.PAID)
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 10


# ------------------------------------------------------------------ carriers


@pytest.mark.parametrize("app_config", [{
    "extra_plugins": [plugin_registering(BookingCarrier("racepost"))],
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": BUYERS + 5, "max_overflow": 10}}])
def test_a_booking_answer_delivered_twice_at_once_ships_once(app, place):
    """Two workers record the carrier's answer for one shipment at the same time
    (a lease ran out): the order ships once, stock leaves once, nobody fails."""
    order = place(confirm=True)
    order_id = order.id
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency="EUR", reference="T", actor="test")
    shipment_id = shipments.create_shipment(order_id, carrier_id="racepost", actor="test").id
    answer = CarrierResult(ok=True, tracking_number=f"RP{shipment_id}")
    results = race(app, 8, lambda i: shipments.apply_booking(shipment_id, answer).tracking_number)
    assert outcomes(results) == {"ok": 8}, results
    db.session.remove()
    assert db.session.get(Order, order_id).status == order_states.SHIPPED
    shipped = db.session.scalar(select(func.count()).select_from(StockMove).where(
        StockMove.order_id == order_id, StockMove.reason == "shipment"))
    assert shipped == 1 and stock.ledger_mismatches() == []


def test_one_tracking_event_from_many_threads_is_kept_once(app, place):
    order_id = place(confirm=True, payment_method="cash_on_delivery").id
    shipment_id = shipments.create_shipment(order_id, carrier_id="manual", service="DHL",
                                            tracking_number="JD9", actor="test").id
    update = TrackingUpdate("JD9", "delivered", datetime.now(timezone.utc), raw_code="DLV")
    results = race(app, BUYERS, lambda i: shipments.add_tracking_update(shipment_id, update, source="t"))
    assert outcomes(results) == {"ok": BUYERS}, results
    assert sum(value is not None for _, value in results) == 1
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(ShipmentEvent)) == 1
    assert db.session.get(Order, order_id).status == order_states.DELIVERED


def test_first_orders_from_one_new_email_at_once_make_one_customer(app, make_product):
    """A customer double-clicks checkout (or two tabs): every order is placed, and
    they all belong to one customer, not to one customer per order."""
    sku = make_product(on_hand=100).sku

    def buy(index: int) -> int:
        same_person = NewOrder(email="Twin.Clicker@example.com", name="Twin Clicker",
                               lines=[(sku, 1)], payment_method="bank_transfer")
        return place_order(same_person, actor="test", confirm=True).customer_id

    results = race(app, 10, buy)
    assert outcomes(results) == Counter({"ok": 10})
    assert len({value for _, value in results}) == 1
    db.session.rollback()  # end this thread's read snapshot from before the race
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
