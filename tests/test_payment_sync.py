"""A started payment whose webhook never came: the worker asks the gateway
(services/payment_sync.py), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.models import Document, Order, Payment, PaymentEvent, TimelineEvent
from oms_core.models._base import utcnow
from oms_core.protocols import CAPTURED, FAILED, INTENT_CREATED, FetchPaymentRequest
from oms_core.services import payment_ops, payment_sync
from oms_core.testing import post_signed_webhook
from oms_core.testing.fakes import FakeCardGateway, plugin_registering

SECRET = "whsec_test"
card = FakeCardGateway()


@pytest.fixture
def app_config():
    return {"extra_plugins": [plugin_registering(card)],
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": SECRET}}}


@pytest.fixture(autouse=True)
def fresh_card():
    card.__init__()
    yield card


@pytest.fixture
def started(make_product, place):
    """started(minutes_ago, pay=True) -> (order id, intent id): a card payment
    started that long ago, paid at the gateway (or not), its webhook never sent."""
    def make(minutes_ago=30, pay=True):
        product = make_product(price_minor=2500, on_hand=10)
        order_id = place([(product.sku, 1)], payment_method="fakecard", confirm=True).id
        url = payment_ops.start_payment(order_id, success_url="https://shop.example/ok",
                                        cancel_url="https://shop.example/no")
        intent_id = url.rsplit("/", 1)[1]
        if pay:
            card.customer_pays(intent_id)
        with write_transaction():
            payment = db.session.scalar(select(Payment).where(Payment.order_id == order_id))
            payment.created_at = utcnow() - timedelta(minutes=minutes_ago)
        return order_id, intent_id
    return make


def state_of(order_id):
    db.session.remove()
    order = db.session.get(Order, order_id)
    payments = list(db.session.scalars(select(Payment).where(Payment.order_id == order_id)))
    documents = sorted(db.session.scalars(select(Document.kind).where(Document.order_id == order_id)))
    return order.status, order.payment_status, [p.state for p in payments], documents


def fetches():
    return [call for call in card.calls if call[0] == "fetch"]


def test_a_lost_webhook_is_replaced_by_asking_the_gateway_once(app, client, started):
    order_id, intent_id = started()
    report = payment_sync.sync_stale()
    assert (report.asked, len(report.changed), report.failed) == (1, 1, [])
    assert state_of(order_id) == (S.PAID, "paid", [CAPTURED], ["invoice", "receipt"])
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order_id))
    assert payment.attention == payment_sync.WEBHOOK_MISSING  # staff learn their endpoint is broken
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.order_id == order_id, TimelineEvent.message.contains(payment_sync.SYNC_REASON))) == 1

    # Asked again: nothing left to ask. The webhook arrives late: applied, nothing more happens.
    assert payment_sync.sync_stale().asked == 0
    response = post_signed_webhook(client, "payment", "fakecard", card.event_for(intent_id), sign=card.signed)
    assert response.status_code in (200, 202)
    assert state_of(order_id) == (S.PAID, "paid", [CAPTURED], ["invoice", "receipt"])
    assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 2


def test_the_same_state_fetched_twice_is_one_event(app, started):
    from oms_core.services import payments

    order_id, intent_id = started()
    first = card.fetch_payment(FetchPaymentRequest(intent_id, None, order_id)).event
    assert payments.apply_gateway_event("fakecard", first) is not None
    assert payments.apply_gateway_event("fakecard", first) is None
    assert state_of(order_id)[2:] == ([CAPTURED], ["invoice", "receipt"])


def test_an_abandoned_checkout_fails_and_an_unpaid_one_waits(app, started):
    abandoned, intent_id = started(pay=False)
    waiting, _ = started(pay=False)
    card.abandon(intent_id)
    report = payment_sync.sync_stale()
    assert (report.asked, len(report.changed)) == (2, 1)
    assert state_of(abandoned)[:3] == (S.CONFIRMED, "unpaid", [FAILED])
    assert state_of(waiting)[:3] == (S.CONFIRMED, "unpaid", [INTENT_CREATED])


def test_a_gateway_down_changes_nothing_and_is_asked_again_next_run(app, started):
    first, _ = started(minutes_ago=40)
    second, _ = started(minutes_ago=30)
    card.failures = 1
    report = payment_sync.sync_stale()
    # Down at the first question: the second is not asked in the same run.
    assert (report.asked, report.changed, report.postponed, len(report.failed)) == (1, [], 1, 1)
    assert state_of(first)[2] == state_of(second)[2] == [INTENT_CREATED]
    report = payment_sync.sync_stale()
    assert (report.asked, len(report.changed)) == (2, 2)
    assert state_of(first)[1] == state_of(second)[1] == "paid"


def test_only_payments_between_the_threshold_and_the_max_age_are_asked(app, started):
    young, _ = started(minutes_ago=5)
    old, _ = started(minutes_ago=3 * 24 * 60)
    due, _ = started(minutes_ago=20)
    report = payment_sync.sync_stale()
    assert (report.asked, len(fetches())) == (1, 1)
    assert [state_of(o)[1] for o in (young, old, due)] == ["unpaid", "unpaid", "paid"]
    app.config["OMS_PAYMENT_SYNC_AFTER_MINUTES"] = 1
    assert payment_sync.sync_stale().asked == 1  # the young one now
    assert state_of(young)[1] == "paid"


def test_a_bad_setting_is_a_clear_error(app, started):
    app.config["OMS_PAYMENT_SYNC_AFTER_MINUTES"] = -1
    with pytest.raises(ValueError, match="OMS_PAYMENT_SYNC_AFTER_MINUTES"):
        payment_sync.sync_stale()


def test_the_worker_schedule_runs_it(app, started):
    order_id, _ = started()
    schedule = payment_sync.sync_schedule()
    schedule()
    assert state_of(order_id)[1] == "paid"
    assert schedule.every_seconds == 5 * 60


def test_the_schedule_backs_off_a_gateway_that_is_down(app, started):
    order_id, _ = started()
    now = [0.0]
    schedule = payment_sync.sync_schedule(clock=lambda: now[0])
    card.failures = 2

    def next_pass():
        schedule()
        now[0] += schedule.every_seconds
        return len(fetches())

    # Down: asked, then skipped one pass; down again: skipped two; then it answers.
    assert [next_pass() for _ in range(6)] == [1, 1, 2, 2, 2, 3]
    assert state_of(order_id)[1] == "paid"


def test_the_command_prints_what_changed(app, runner, started):
    order_id, _ = started()
    result = runner.invoke(args=["oms", "sync-payments"])
    assert result.exit_code == 0, result.output
    assert f"order {order_id}, fakecard): captured" in result.output
    assert "1 asked, 1 changed, 0 failed" in result.output
    assert "0 asked" in runner.invoke(args=["oms", "sync-payments", "--limit", "5"]).output


def test_the_contract_checks_what_fetch_payment_answers():
    from oms_core.testing.contracts import check_payment_gateway

    class Wrong(FakeCardGateway):
        def fetch_payment(self, request):
            return {"state": "captured"}

    # The right answers: tests/test_payment_lifecycle.py checks the fake card gateway.
    with pytest.raises(AssertionError, match="not a FetchPaymentResult"):
        check_payment_gateway(Wrong(), call_operations=True)
