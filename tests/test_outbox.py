"""The outbox (docs/architecture.md, invariant 7): a message exists if and only if its state change
was committed; the worker retries failures with exponential backoff until the
message is dead and shown to staff; a worker that dies after claiming loses
nothing, and the message is sent once when its lease has expired; two workers
never send one message twice; a carrier booking is retried with one idempotency key.

Time is a fake clock patched into the outbox module, so backoff and lease expiry
are exact and no test sleeps."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.errors import NotFound
from oms_core.hookspecs import hookimpl
from oms_core.models import (
    Order,
    OutboxMessage,
    Product,
    Shipment,
    StockMove,
    TimelineEvent,
)
from oms_core.services import notifications, orders, outbox, payments, shipments, status
from oms_core.services.common import lock_order
from oms_core.testing.fakes import BookingCarrier, plugin_registering

BACKOFF = 30
LEASE = 120
MAX_ATTEMPTS = 4
ACTOR = "staff:ops@example.com"

# ------------------------------------------------------------------ test handlers

DELIVERIES: list[str] = []  # idempotency keys, one per delivery
FLAKY = {"failures_left": 0}


@outbox.handler("test.count")
def _count_delivery(message) -> None:
    DELIVERIES.append(message.idempotency_key)


@outbox.handler("test.flaky")
def _flaky(message) -> None:
    DELIVERIES.append(message.idempotency_key)
    if FLAKY["failures_left"] > 0:
        FLAKY["failures_left"] -= 1
        raise outbox.SendError("remote end said no")


@outbox.handler("test.bug")
def _buggy(message) -> None:
    raise KeyError("a handler bug")


@outbox.handler("test.no_open_transaction")
def _check_transaction(message) -> None:
    DELIVERIES.append(message.payload["name"])
    if db.session().in_transaction():
        raise AssertionError("a transaction is open while the outside is called")


class StatusHookRecorder:
    def __init__(self):
        self.changes = []

    @hookimpl
    def on_order_status_changed(self, order, old_status, new_status, actor):
        self.changes.append((order.id, old_status, new_status))


@pytest.fixture
def carrier():
    return BookingCarrier("flakypost", "Flaky Post", failures=2, prefix="FP")


@pytest.fixture
def hooks():
    return StatusHookRecorder()


@pytest.fixture
def app_config(carrier, hooks):
    return {"extra_plugins": [plugin_registering(carrier), hooks], "OMS_OUTBOX_BACKOFF_SECONDS": BACKOFF,
            "OMS_OUTBOX_LEASE_SECONDS": LEASE, "OMS_OUTBOX_MAX_ATTEMPTS": MAX_ATTEMPTS}


@pytest.fixture(autouse=True)
def fresh_handlers_state():
    DELIVERIES.clear()
    FLAKY["failures_left"] = 0
    yield
    DELIVERIES.clear()


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(outbox, "utcnow", fake)
    return fake


def enqueue(kind: str, key: str, order_id: int | None = None, **payload) -> int:
    with write_transaction():
        message = outbox.enqueue(kind, payload, key=key, order_id=order_id)
    return message.id


def message(message_id: int) -> OutboxMessage:
    db.session.remove()
    return db.session.get(OutboxMessage, message_id)


# ------------------------------------------------------------------ atomic with the change


class Boom(Exception):
    pass


def test_a_rolled_back_change_leaves_no_message(app, place, hooks, monkeypatch):
    """Crash after the state change queued its email, before commit: neither stays."""
    order = place(confirm=False)
    order_id, product_id = order.id, order.lines[0].product_id
    real_queue = notifications.queue_status_email

    def queue_then_crash(order, status_):
        real_queue(order, status_)
        db.session.flush()  # the rows really reached the database inside the transaction
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        raise Boom()

    monkeypatch.setattr(notifications, "queue_status_email", queue_then_crash)
    with pytest.raises(Boom):
        orders.confirm_order(order_id, actor=ACTOR)
    db.session.remove()
    fresh = db.session.get(Order, order_id)
    assert (fresh.status, fresh.tracking_code) == (S.PLACED, None)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert db.session.get(Product, product_id).reserved == 0
    assert [e.to_status for e in fresh.events] == [S.PLACED]
    assert hooks.changes == []  # plugins never hear about an undone change


def test_a_committed_change_has_its_message(app, place, hooks):
    order_id = place(confirm=True).id
    db.session.remove()
    queued = db.session.scalars(select(OutboxMessage)).all()
    key = notifications.status_email_key(orders.get_order(order_id), "confirmed")
    assert [(m.kind, m.idempotency_key, m.order_id, m.status) for m in queued] == [
        (notifications.EMAIL_KIND, key, order_id, "pending")]
    assert hooks.changes == [(order_id, S.PLACED, S.CONFIRMED)]


def test_an_exception_in_any_write_block_leaves_neither(app, place):
    order_id = place(confirm=False).id
    with pytest.raises(Boom):
        with write_transaction() as tx:
            order = lock_order(order_id)
            status.change(order, S.CANCELLED, actor=ACTOR, reason="x", tx=tx)
            outbox.enqueue("test.count", {}, key="side-effect-1", order_id=order_id)
            db.session.flush()
            raise Boom()
    db.session.remove()
    assert db.session.get(Order, order_id).status == S.PLACED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_service_inside_a_write_block_commits_with_it(app, place, hooks):
    """A host app calling a service inside its own write block: one transaction.
    The outer block failing afterwards undoes the service's work too, and plugins
    hear nothing."""
    order_id = place(confirm=False).id
    with pytest.raises(Boom):
        with write_transaction():
            outbox.enqueue("test.count", {}, key="host-side-effect")
            orders.confirm_order(order_id, actor=ACTOR)
            assert hooks.changes == []  # not before the outer commit
            raise Boom()
    db.session.remove()
    assert db.session.get(Order, order_id).status == S.PLACED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert db.session.scalar(select(func.sum(Product.reserved))) == 0
    assert hooks.changes == []

    with write_transaction():
        outbox.enqueue("test.count", {}, key="host-side-effect")
        orders.confirm_order(order_id, actor=ACTOR)
        assert hooks.changes == []
    assert hooks.changes == [(order_id, S.PLACED, S.CONFIRMED)]
    db.session.remove()
    assert db.session.get(Order, order_id).status == S.CONFIRMED
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_a_failed_service_inside_a_write_block_undoes_only_its_own_work(app, make_product, place,
                                                                       hooks):
    from oms_core.errors import OutOfStock

    product = make_product(on_hand=1)
    sku = product.sku
    with write_transaction():
        outbox.enqueue("test.count", {}, key="kept")
        with pytest.raises(OutOfStock):
            place([(sku, 2)], confirm=True)
    db.session.remove()
    assert list(db.session.scalars(select(OutboxMessage.idempotency_key))) == ["kept"]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert hooks.changes == []


def test_one_idempotency_key_is_one_message(app):
    from sqlalchemy.exc import IntegrityError

    enqueue("test.count", "only-once")
    with pytest.raises(IntegrityError):
        enqueue("test.count", "only-once")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


# ------------------------------------------------------------------ retries


def test_failures_back_off_exponentially_then_die(app, clock):
    FLAKY["failures_left"] = 99
    message_id = enqueue("test.flaky", "flaky-1")
    delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        failed_at = clock()
        assert outbox.run_once() == (0, 1)
        m = message(message_id)
        assert (m.attempts, m.last_error, m.locked_until) == (attempt, "remote end said no", None)
        if attempt < MAX_ATTEMPTS:
            assert m.status == "pending"
            delays.append((m.next_attempt_at - failed_at).total_seconds())
            clock.advance(delays[-1] - 1)
            assert outbox.run_once() == (0, 0), "sent before its backoff was over"
            clock.advance(1)
        else:
            assert m.status == "dead"
    assert delays == [BACKOFF, 2 * BACKOFF, 4 * BACKOFF]
    assert len(DELIVERIES) == MAX_ATTEMPTS
    clock.advance(10 ** 6)
    assert outbox.run_once() == (0, 0)  # the dead stay dead
    assert [p.id for p in outbox.problems()] == [message_id]


def test_backoff_is_capped(app):
    assert outbox.backoff(1) == timedelta(seconds=BACKOFF)
    assert outbox.backoff(3) == timedelta(seconds=4 * BACKOFF)
    assert outbox.backoff(40) == outbox.MAX_BACKOFF


def test_a_retry_that_succeeds_clears_the_problem(app, clock):
    FLAKY["failures_left"] = 1
    message_id = enqueue("test.flaky", "flaky-2")
    assert outbox.run_once() == (0, 1)
    assert [p.id for p in outbox.problems()] == [message_id]
    clock.advance(BACKOFF)
    assert outbox.run_once() == (1, 0)
    m = message(message_id)
    assert (m.status, m.attempts, m.last_error) == ("sent", 2, "")
    assert m.sent_at == clock()
    assert outbox.problems() == []


def test_a_handler_bug_is_kept_visible_and_retried(app, clock):
    message_id = enqueue("test.bug", "bug-1")
    assert outbox.run_once() == (0, 1)
    m = message(message_id)
    assert m.status == "pending" and m.last_error.startswith("KeyError")
    unknown = enqueue("test.nobody-handles-this", "nobody-1")
    outbox.run_once()
    assert "No handler" in message(unknown).last_error


def test_a_dead_message_does_not_hold_up_the_order_or_the_queue(app, place, clock):
    """The confirmation email cannot be sent (no SMTP server): the order goes on."""
    order_id = place(confirm=True).id
    for _ in range(MAX_ATTEMPTS):
        outbox.run_once()
        clock.advance(outbox.backoff(MAX_ATTEMPTS).total_seconds())
    dead = message(db.session.scalar(select(OutboxMessage.id)))
    assert dead.status == "dead" and "SMTP" in dead.last_error
    assert [p.id for p in outbox.problems()] == [dead.id]
    assert db.session.get(Order, order_id).status == S.CONFIRMED
    fine = enqueue("test.count", "after-the-dead-one")
    assert outbox.run_once() == (1, 0)  # the dead email is skipped, the new message goes
    assert DELIVERIES == ["after-the-dead-one"] and message(fine).status == "sent"


def test_retry_now(app, clock):
    FLAKY["failures_left"] = MAX_ATTEMPTS
    message_id = enqueue("test.flaky", "flaky-3")
    for _ in range(MAX_ATTEMPTS):
        outbox.run_once()
        clock.advance(10 ** 5)
    assert message(message_id).status == "dead"
    outbox.retry_now(message_id)
    m = message(message_id)
    assert (m.status, m.next_attempt_at, m.locked_until) == ("pending", clock(), None)
    assert outbox.run_once() == (1, 0)
    assert message(message_id).status == "sent"
    outbox.retry_now(message_id)  # a sent message is not sent again
    assert message(message_id).status == "sent" and outbox.run_once() == (0, 0)
    with pytest.raises(NotFound):
        outbox.retry_now(987654)


def test_retry_now_skips_the_wait_of_a_pending_message(app, clock):
    FLAKY["failures_left"] = 1
    message_id = enqueue("test.flaky", "flaky-4")
    outbox.run_once()
    assert outbox.run_once() == (0, 0)
    outbox.retry_now(message_id)
    assert outbox.run_once() == (1, 0)


def test_retry_now_does_not_hand_a_message_being_sent_to_a_second_worker(app, clock):
    FLAKY["failures_left"] = 1
    message_id = enqueue("test.flaky", "in-flight")
    outbox.run_once()  # failed once: staff see it and press "retry now"...
    clock.advance(BACKOFF)
    assert outbox.claim() == [message_id]  # ...just as a worker picks it up
    outbox.retry_now(message_id)
    assert outbox.run_once() == (0, 0), "a second worker got a message that is being sent"
    assert outbox.send_one(message_id) is True
    assert DELIVERIES == ["in-flight", "in-flight"] and message(message_id).status == "sent"


# ------------------------------------------------------------------ crashes


def test_a_worker_that_dies_after_claiming_loses_nothing(app, clock):
    message_id = enqueue("test.count", "claimed-then-crashed")
    assert outbox.claim() == [message_id]
    # ...the worker dies here without sending or finishing.
    db.session.remove()
    assert outbox.run_once() == (0, 0), "another worker took a leased message"
    clock.advance(LEASE - 1)
    assert outbox.run_once() == (0, 0)
    clock.advance(2)
    assert outbox.run_once() == (1, 0)
    assert DELIVERIES == ["claimed-then-crashed"]
    assert outbox.run_once() == (0, 0)
    m = message(message_id)
    assert (m.status, m.attempts) == ("sent", 1)


def test_a_slow_worker_whose_lease_ran_out_does_not_undo_a_send(app, clock):
    """Worker A claims and stalls past its lease; worker B sends the message. When A
    wakes up it must neither send again nor mark the sent message failed or dead."""
    message_id = enqueue("test.count", "stalled")
    assert outbox.claim() == [message_id]        # worker A
    clock.advance(LEASE + 1)
    assert outbox.run_once() == (1, 0)          # worker B
    assert outbox.send_one(message_id) is None  # worker A wakes up: nothing to do
    assert DELIVERIES == ["stalled"]
    m = message(message_id)
    assert (m.status, m.attempts) == ("sent", 1)


def test_no_transaction_is_open_while_a_handler_talks_to_the_outside(app):
    enqueue("test.no_open_transaction", "tx-1", name="checked")
    assert outbox.run_once() == (1, 0)
    assert DELIVERIES == ["checked"]


# ------------------------------------------------------------------ the carrier


def paid_order(place, payment_method="bank_transfer") -> int:
    order = place(confirm=True, payment_method=payment_method)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency="EUR", reference="T", actor=ACTOR)
    return order.id


def booking(order_id: int) -> OutboxMessage:
    db.session.remove()
    return db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.order_id == order_id, OutboxMessage.kind == shipments.BOOK_KIND))


def test_a_carrier_that_fails_twice_then_books(app, place, carrier, clock):
    order_id = paid_order(place)
    shipment_id = shipments.create_shipment(order_id, carrier_id="flakypost", service="std",
                                            actor=ACTOR).id
    assert orders.get_order(order_id).status == S.FULFILLING
    key = db.session.get(Shipment, shipment_id).booking_key
    assert len(key) == 32 and booking(order_id).idempotency_key == key  # random: never reused

    for attempt in (1, 2):
        outbox.run_once()
        db.session.remove()
        shipment = db.session.get(Shipment, shipment_id)
        assert shipment.booking_error == "carrier API timed out" and shipment.tracking_number is None
        assert orders.get_order(order_id).status == S.FULFILLING  # waiting, not lost
        m = booking(order_id)
        assert (m.status, m.attempts) == ("pending", attempt)
        clock.advance(outbox.backoff(attempt).total_seconds())

    outbox.run_once()
    db.session.remove()
    shipment = db.session.get(Shipment, shipment_id)
    assert (shipment.tracking_number, shipment.booking_error, shipment.status) == ("FP0001", "", "pre_transit")
    assert shipment.tracking_url == "https://flakypost.example/track/FP0001"
    order = orders.get_order(order_id)
    assert order.status == S.SHIPPED
    assert [e.actor for e in order.events if e.to_status == S.SHIPPED] == ["carrier:flakypost"]
    product_id = order.lines[0].product_id
    assert booking(order_id).status == "sent"
    assert carrier.keys == [key, key, key]
    product = db.session.get(Product, product_id)
    assert (product.on_hand, product.reserved) == (8, 0)
    clock.advance(10 ** 5)
    outbox.run_once()
    assert carrier.keys == [key, key, key]  # booked: never called again


def test_a_booking_whose_answer_was_lost_is_booked_once(app, place, carrier, clock):
    """The worker called the carrier and died before recording the answer: the next
    try sends the same key, the carrier answers with the same parcel, and stock
    leaves the shelf once."""
    carrier.failures = 0
    order_id = paid_order(place)
    shipment_id = shipments.create_shipment(order_id, carrier_id="flakypost", service="std",
                                            actor=ACTOR).id
    message_id = booking(order_id).id
    assert message_id in outbox.claim()
    from oms_core.protocols import ShipmentRequest

    key = booking(order_id).idempotency_key
    carrier.create_shipment(ShipmentRequest(shipment_id=shipment_id, order_number="x", service="std",
                                            idempotency_key=key))
    # ...the worker dies before apply_booking.
    clock.advance(LEASE + 1)
    outbox.run_once()
    assert carrier.keys == [key] * 2 and len(carrier.booked) == 1
    order = orders.get_order(order_id)
    assert order.status == S.SHIPPED
    shipped_moves = db.session.scalar(select(func.count()).select_from(StockMove).where(
        StockMove.order_id == order_id, StockMove.reason == "shipment"))
    shipped_events = db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.to_status == S.SHIPPED))
    assert (shipped_moves, shipped_events) == (1, 1)


def test_an_order_sent_in_two_parcels_ships_once(app, place, carrier, clock):
    """Staff add a second parcel while the first booking is pending: both get booked,
    the order ships once and its stock leaves the shelf once."""
    carrier.failures = 0
    order_id = paid_order(place)
    one_unit = {orders.get_order(order_id).lines[0].id: 1}  # two units: one in each parcel
    first = shipments.create_shipment(order_id, carrier_id="flakypost", service="std", actor=ACTOR,
                                      lines=one_unit).id
    second = shipments.create_shipment(order_id, carrier_id="flakypost", service="std", actor=ACTOR,
                                       lines=one_unit).id
    outbox.run_once()
    db.session.remove()
    numbers = {s.id: s.tracking_number for s in shipments.shipments_for(order_id)}
    assert numbers == {first: "FP0001", second: "FP0002"}
    assert orders.get_order(order_id).status == S.SHIPPED
    db.session.remove()
    bookings = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == shipments.BOOK_KIND)).all()
    assert [(m.status, m.last_error) for m in bookings] == [("sent", ""), ("sent", "")]
    # Each parcel's unit leaves the shelf once (one ledger row per parcel line).
    shipped_units = db.session.scalar(select(func.sum(StockMove.on_hand_delta)).where(
        StockMove.order_id == order_id, StockMove.reason == "shipment"))
    shipped_events = db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.to_status == S.SHIPPED))
    assert (shipped_units, shipped_events) == (-2, 1)


# ------------------------------------------------------------------ many workers


def test_workers_in_parallel_send_each_message_once(app):
    keys = [f"parallel-{i}" for i in range(60)]
    with write_transaction():
        for key in keys:
            outbox.enqueue("test.count", {}, key=key)
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                while outbox.run_once(limit=3) != (0, 0):
                    pass
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert Counter(DELIVERIES) == Counter(keys), "a message was sent twice or not at all"
    db.session.remove()
    assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}
    assert set(db.session.scalars(select(OutboxMessage.attempts))) == {1}
