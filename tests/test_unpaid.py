"""Unpaid orders (docs/architecture.md, "Unpaid orders"): the deadline stored when an
order is placed, one reminder, expiry through the cancel path with a frozen clock,
never with money on the order (checked in its payments), the race with a payment
arriving while expiry runs, staff extending a deadline, and the CLI. Every test runs
on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.errors import ValidationError
from oms_core.models import Alert, Order, OutboxMessage, Payment, Product, Refund, TimelineEvent
from oms_core.models._base import utcnow
from oms_core.protocols import AUTHORIZED, CAPTURED, GatewayEvent
from oms_core.services import alerts, notifications, payment_ops, payments, unpaid
from oms_core.testing.fakes import FakeCardGateway, plugin_registering
from test_concurrency import race

card = FakeCardGateway()
DEADLINES = {"bank_transfer": {"deadline_hours": 168, "remind_hours_before": 48},
             "fakecard": {"deadline_hours": 1}}


@pytest.fixture
def app_config():
    return {"extra_plugins": [plugin_registering(card)], "OMS_PAYMENT_DEADLINES": DEADLINES,
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": "whsec", "capture": "now"}},
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 5}}


@pytest.fixture(autouse=True)
def fresh_card():
    card.__init__()


def fresh(order_id) -> Order:
    db.session.remove()
    return db.session.get(Order, order_id)


def reserved(sku) -> int:
    db.session.remove()
    return db.session.scalar(select(Product.reserved).where(Product.sku == sku))


@pytest.fixture
def unpaid_order(make_product, place):
    """unpaid_order(method) -> (order, sku): a confirmed order waiting for payment."""
    def make(method="bank_transfer", on_hand=10, quantity=2):
        product = make_product(on_hand=on_hand, price_minor=1250)
        return place([(product.sku, quantity)], payment_method=method, confirm=True), product.sku
    return make


def captured_event(order, tag="x", state=CAPTURED):
    return GatewayEvent(event_id=f"evt-{tag}-{order.id}", order_id=order.id, amount_minor=order.total_minor,
                        currency="EUR", external_id=f"pi-{tag}-{order.id}", state=state)


# ------------------------------------------------------------------ the deadline


def test_the_deadline_is_stored_when_placed_and_a_config_change_does_not_move_it(app, unpaid_order, place):
    before = utcnow()
    order, _ = unpaid_order()
    assert before + timedelta(hours=168) <= order.payment_due_at <= utcnow() + timedelta(hours=168)
    app.config["OMS_PAYMENT_DEADLINES"] = {"bank_transfer": {"deadline_hours": 1}}
    assert fresh(order.id).payment_due_at == order.payment_due_at
    # Cash on delivery never expires, even when configured; a method not listed neither.
    app.config["OMS_PAYMENT_DEADLINES"] = {"cash_on_delivery": {"deadline_hours": 1}}
    assert place(payment_method="cash_on_delivery", confirm=True).payment_due_at is None
    assert place(payment_method="bank_transfer", confirm=True).payment_due_at is None


@pytest.mark.parametrize("entry", [{"deadline_hours": 0}, {"deadline_hours": "7"}, {"deadline_hours": True},
                                   {"deadline_hours": 5, "remind": 1}, ["deadline_hours"]])
def test_a_malformed_deadline_config_is_a_clear_error(app, entry):
    app.config["OMS_PAYMENT_DEADLINES"] = {"bank_transfer": entry}
    with pytest.raises(ValueError, match="OMS_PAYMENT_DEADLINES"):
        unpaid.terms_for("bank_transfer")


# ------------------------------------------------------------------ reminder and expiry, frozen clock


def test_one_reminder_then_expiry_with_a_frozen_clock(app, unpaid_order):
    order, sku = unpaid_order()
    due = order.payment_due_at
    assert reserved(sku) == 2

    assert unpaid.run(now=due - timedelta(hours=49)).reminded == []
    report = unpaid.run(now=due - timedelta(hours=47))
    assert report.reminded == [order.number] and report.expired == []
    again = unpaid.run(now=due - timedelta(hours=1))
    assert again.reminded == [] and again.expired == []
    db.session.remove()
    reminders = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.idempotency_key == notifications.status_email_key(fresh(order.id), "payment_reminder"))))
    assert len(reminders) == 1
    email = notifications.compose(reminders[0])
    assert email["subject"] == f"Reminder: order {order.number} is waiting for your payment"
    assert unpaid.due_text(fresh(order.id)) in email["text"] and "cancelled" in email["html"]

    report = unpaid.run(now=due + timedelta(seconds=1))
    assert report.expired == [order.number]
    order = fresh(order.id)
    assert order.status == S.CANCELLED and reserved(sku) == 0
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.order_id == order.id,
                                                          TimelineEvent.to_status == S.CANCELLED))
    assert event.actor == "system:expiry" and "deadline" in event.message
    assert unpaid.run(now=due + timedelta(days=30)).expired == []  # once


def test_an_order_not_due_yet_is_left_alone(app, unpaid_order):
    order, sku = unpaid_order()
    assert unpaid.expire(order.id, now=order.payment_due_at - timedelta(seconds=1)) is None
    assert fresh(order.id).status == S.CONFIRMED and reserved(sku) == 2


# ------------------------------------------------------------------ never with money on it


def test_a_partly_paid_order_is_kept_and_its_deadline_dropped(app, unpaid_order):
    order, sku = unpaid_order()
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1000, currency="EUR",
                            reference="part", actor="staff:a@example.com")
    report = unpaid.run(now=order.payment_due_at + timedelta(hours=1))
    assert report.expired == [] and report.kept == [f"{order.number}: money has been paid on it"]
    order = fresh(order.id)
    assert order.status == S.CONFIRMED and order.payment_due_at is None and reserved(sku) == 2


def test_an_authorized_payment_keeps_the_order(app, unpaid_order):
    order, sku = unpaid_order("fakecard")
    app.config["OMS_PLUGINS"] = {"fakecard": {"webhook_secret": "whsec", "capture": "on_ship"}}
    payments.apply_gateway_event("fakecard", captured_event(order, "auth", AUTHORIZED))
    assert "authorized" in unpaid.expire(order.id, now=order.payment_due_at + timedelta(hours=1))
    assert fresh(order.id).status == S.CONFIRMED and reserved(sku) == 2


def test_an_open_gateway_payment_keeps_the_order_until_it_expires(app, unpaid_order):
    order, sku = unpaid_order("fakecard")
    payment_ops.start_payment(order.id, success_url="https://shop.example/ok", cancel_url="https://shop.example/no")
    late = order.payment_due_at + timedelta(minutes=5)
    assert "still open" in unpaid.expire(order.id, now=late)
    assert fresh(order.id).status == S.CONFIRMED
    # The hosted checkout expired: nothing can land on it any more.
    with write_transaction():
        db.session.execute(update(Payment).values(expires_at=late - timedelta(minutes=1)))
    assert unpaid.expire(order.id, now=late) is True
    assert fresh(order.id).status == S.CANCELLED and reserved(sku) == 0


def test_a_payment_after_expiry_reopens_the_order(app, unpaid_order):
    order, sku = unpaid_order("fakecard")
    assert unpaid.expire(order.id, now=order.payment_due_at) is True
    payments.apply_gateway_event("fakecard", captured_event(order))
    order = fresh(order.id)
    assert (order.status, order.payment_status, reserved(sku)) == (S.PAID, "paid", 2)
    assert db.session.scalar(select(func.count(Alert.id))) == 0


def test_a_payment_after_expiry_without_stock_is_refunded_and_staff_are_alerted(app, unpaid_order, place):
    order, sku = unpaid_order("fakecard", on_hand=2)
    assert unpaid.expire(order.id, now=order.payment_due_at) is True
    place([(sku, 2)], confirm=True)  # the released stock sold to someone else
    payments.apply_gateway_event("fakecard", captured_event(order))
    order = fresh(order.id)
    assert order.status == S.CANCELLED and order.payment_status == "refunded"
    assert db.session.scalar(select(func.count(Refund.id)).where(Refund.order_id == order.id)) == 1
    alert = db.session.scalar(select(Alert))
    assert (alert.kind, alert.order_id, alert.url) == (alerts.LATE_PAYMENT_REFUNDED, order.id, f"/orders/{order.id}")
    assert "refunded" in alert.title


# ------------------------------------------------------------------ the race


def test_a_payment_arriving_while_expiry_runs_ends_paid_not_cancelled(app, unpaid_order):
    """Expiry and the gateway's capture at once, ten times: whichever takes the order's
    lock first, the order ends paid with its stock reserved and nothing refunded."""
    # Plain values, for the threads (each has its own session) and the checks after.
    placed = [(order.id, order.total_minor, captured_event(order, f"r{n}"),
               order.payment_due_at + timedelta(minutes=1), sku)
              for n, (order, sku) in enumerate(unpaid_order("fakecard") for _ in range(10))]
    for order_id, total, event, expire_at, sku in placed:

        def work(i, order_id=order_id, event=event, expire_at=expire_at):
            if i == 0:
                return unpaid.expire(order_id, now=expire_at)
            return payments.apply_gateway_event("fakecard", event).id
        results = race(app, 2, work)
        assert all(kind == "ok" for kind, _ in results), results
        after = fresh(order_id)
        assert (after.status, after.payment_status, after.paid_minor) == (S.PAID, "paid", total)
        assert reserved(sku) == 2
        assert db.session.scalar(select(func.count(Refund.id)).where(Refund.order_id == order_id)) == 0


# ------------------------------------------------------------------ staff extend a deadline


def test_staff_extend_a_deadline(app, unpaid_order, place):
    order, _ = unpaid_order()
    due = order.payment_due_at
    assert unpaid.extend(order.id, 24, actor="staff:a@example.com").payment_due_at == due + timedelta(hours=24)
    assert unpaid.expire(order.id, now=due + timedelta(hours=1)) is None
    # Past the deadline (the worker has not come by yet): from now.
    assert unpaid.extend(order.id, 2, actor="staff:a@example.com",
                         now=due + timedelta(hours=30)).payment_due_at == due + timedelta(hours=32)
    for hours in (0, -1, unpaid.MAX_EXTEND_HOURS + 1, True, "5"):
        with pytest.raises(ValidationError):
            unpaid.extend(order.id, hours, actor="staff:a@example.com")
    cod = place(payment_method="cash_on_delivery", confirm=True)
    with pytest.raises(ValidationError, match="no payment deadline"):
        unpaid.extend(cod.id, 5, actor="staff:a@example.com")


def test_the_order_page_extends_a_deadline(app, staff_client, unpaid_order):
    order, _ = unpaid_order()
    due = order.payment_due_at
    page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert 'id="deadline-form"' in page and 'id="payment-due"' in page
    response = staff_client.post(f"/oms/admin/orders/{order.id}/deadline", data={"hours": "48"}, htmx=True)
    assert response.status_code == 200 and "extended by 48 h" in response.get_data(as_text=True)
    assert fresh(order.id).payment_due_at == due + timedelta(hours=48)
    response = staff_client.post(f"/oms/admin/orders/{order.id}/deadline", data={"hours": "0"}, htmx=True)
    assert "at least 1" in response.get_data(as_text=True)
    assert fresh(order.id).payment_due_at == due + timedelta(hours=48)
    assert staff_client.client.post(f"/oms/admin/orders/{order.id}/deadline",
                                    data={"hours": "5"}).status_code == 400  # no CSRF token


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hours=st.one_of(st.text(max_size=30), st.integers().map(str)))
def test_fuzz_extend_deadline_form(staff_client, unpaid_order, hours):
    order, _ = unpaid_order()
    before = order.payment_due_at
    response = staff_client.post(f"/oms/admin/orders/{order.id}/deadline", data={"hours": hours}, htmx=True)
    assert response.status_code in (200, 400)  # 400: the input guard refuses control characters
    after = db.session.scalar(select(Order.payment_due_at).where(Order.id == order.id))
    assert after == before or after == before + timedelta(hours=int(hours.strip()))


# ------------------------------------------------------------------ CLI and the worker


def test_cli_expire_unpaid_with_a_frozen_clock(app, runner, unpaid_order, monkeypatch):
    order, sku = unpaid_order()
    monkeypatch.setattr(unpaid, "utcnow", lambda: order.payment_due_at - timedelta(hours=2))
    result = runner.invoke(args=["oms", "expire-unpaid"])
    assert result.exit_code == 0 and f"reminded\t{order.number}" in result.output
    monkeypatch.setattr(unpaid, "utcnow", lambda: order.payment_due_at + timedelta(seconds=1))
    result = runner.invoke(args=["oms", "expire-unpaid"])
    assert result.exit_code == 0 and f"expired\t{order.number}" in result.output
    assert "0 reminded, 1 expired, 0 kept" in result.output
    assert fresh(order.id).status == S.CANCELLED and reserved(sku) == 0


def test_the_worker_schedule_expires_every_round_it_is_due(app, unpaid_order, monkeypatch):
    order, _ = unpaid_order()
    order_id, due = order.id, order.payment_due_at
    monotonic = [0.0]
    schedule = unpaid.schedule(every_seconds=60, clock=lambda: monotonic[0])
    monkeypatch.setattr(unpaid, "utcnow", lambda: due - timedelta(hours=1))
    schedule()
    assert fresh(order_id).status == S.CONFIRMED
    monkeypatch.setattr(unpaid, "utcnow", lambda: due + timedelta(hours=1))
    schedule()  # not a minute later yet: nothing runs
    assert fresh(order_id).status == S.CONFIRMED
    monotonic[0] = 61.0
    schedule()
    assert fresh(order_id).status == S.CANCELLED
