"""Reconciliation (oms_core/services/reconciliation.py): every kind of row is found
when its money does not add up, and its action settles it (the row goes away);
the page and `flask oms reconcile` list the same rows. SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from oms_core import order_states as S
from oms_core.db import db, write_transaction
from oms_core.errors import ValidationError
from oms_core.models import Order, OutboxMessage, Payment, Refund
from oms_core.models._base import utcnow
from oms_core.protocols import AUTHORIZED, CAPTURED, REFUND_FAILED, REFUND_SUCCEEDED
from oms_core.services import reconciliation, refunds
import test_payment_lifecycle as lifecycle
from test_payment_lifecycle import card, card_config, drain, fresh, start_and_pay, webhook

card_order, fresh_card = lifecycle.card_order, lifecycle.fresh_card  # the fixtures, used here too

ACTOR = "staff:owner@example.com"


def config(capture="now"):
    return {**card_config(capture), "OMS_OUTBOX_BACKOFF_SECONDS": 0}


@pytest.fixture
def app_config():
    return config()


def kinds() -> list[tuple[str, int]]:
    db.session.remove()
    return [(row.kind, row.target_id) for row in reconciliation.rows()]


def paid_by_card(client, card_order, **kw) -> tuple[int, int]:
    """(order id, payment id) of an order paid by card."""
    order_id = card_order(**kw)
    webhook(client, start_and_pay(order_id))
    db.session.remove()
    return order_id, db.session.scalar(select(Payment.id).where(Payment.order_id == order_id))


def refund_of(order_id, amount_minor, reason="scratched") -> tuple[int, str]:
    """(id, idempotency key) of a refund staff make from the order page."""
    [refund] = refunds.refund_order(order_id, amount_minor=amount_minor, reason=reason, actor=ACTOR)
    return refund.id, refund.idempotency_key


def age(model, row_id, **delta):
    with write_transaction():
        column = model.created_at
        db.session.execute(update(model).where(model.id == row_id).values({column.key: utcnow() - timedelta(**delta)}))


def test_nothing_to_reconcile_in_a_healthy_shop(app, client, card_order):
    paid_by_card(client, card_order)
    assert kinds() == []


def test_an_event_for_no_order_waits_and_is_rematched_when_its_order_exists(app, client, card_order, make_product,
                                                                            place):
    first = card_order()
    # Paid at the gateway for an order the OMS has not got yet (a payment link made elsewhere).
    card.intents["pi_elsewhere"] = {"state": CAPTURED, "amount": 2500, "currency": "EUR", "refunded": 0,
                                    "refunds": [], "order_id": first + 1, "capture": "now"}
    webhook(client, "pi_elsewhere")
    [(kind, waiting_id)] = kinds()
    assert kind == "unmatched_event"
    with pytest.raises(ValidationError, match="Still no"):
        reconciliation.act(kind, "rematch", waiting_id, actor=ACTOR)
    second = place([(make_product(price_minor=2500).sku, 1)], payment_method="fakecard", confirm=True).id
    assert second == first + 1
    assert reconciliation.act(kind, "rematch", waiting_id, actor=ACTOR) == "Applied to its order."
    assert kinds() == []
    assert fresh(second).payment_status == "paid"


def test_a_flagged_payment_is_accepted_and_counts(app, client, card_order):
    order_id = card_order()
    intent = start_and_pay(order_id)
    card.intents[intent]["amount"] = 3000  # the customer paid more than the order
    webhook(client, intent)
    [(kind, payment_id)] = kinds()
    assert kind == "mismatch"
    assert fresh(order_id).paid_minor == 0
    reconciliation.act(kind, "accept", payment_id, actor=ACTOR)
    assert kinds() == []
    order = fresh(order_id)
    assert (order.paid_minor, order.status) == (3000, S.PAID)


def test_a_flagged_payment_is_given_back_through_the_gateway(app, client, card_order):
    order_id = card_order()
    intent = start_and_pay(order_id)
    card.intents[intent]["currency"] = "USD"
    webhook(client, intent)
    [(kind, payment_id)] = kinds()
    assert kind == "mismatch"
    reconciliation.act(kind, "refund", payment_id, actor=ACTOR)
    drain(app)
    assert card.intents[intent]["refunded"] == 2500
    assert kinds() == []
    order = fresh(order_id)
    assert (order.paid_minor, order.refunded_minor) == (0, 0)  # never counted, so nothing to credit


def test_captured_for_a_cancelled_order_is_refunded(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    with write_transaction():  # as if cancelled by something that kept the money (an old bug, a manual edit)
        db.session.execute(update(Order).where(Order.id == order_id).values(status=S.CANCELLED))
    assert kinds() == [("paid_not_in_oms", payment_id)]
    kind = "paid_not_in_oms"
    reconciliation.act(kind, "refund", payment_id, actor=ACTOR)
    drain(app)
    assert kinds() == []
    assert db.session.scalar(select(Refund.state).where(Refund.payment_id == payment_id)) == REFUND_SUCCEEDED


@pytest.mark.parametrize("app_config", [config(capture="on_ship")])
def test_an_old_authorization_is_captured_now(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    assert db.session.get(Payment, payment_id).state == AUTHORIZED
    assert kinds() == []
    age(Payment, payment_id, days=6, minutes=1)
    assert kinds() == [("authorization_expiring", payment_id)]
    reconciliation.act("authorization_expiring", "capture", payment_id, actor=ACTOR)
    drain(app)
    assert db.session.get(Payment, payment_id).state == CAPTURED
    assert kinds() == []


@pytest.mark.parametrize("app_config", [config(capture="on_ship")])
def test_a_refused_capture_is_listed_and_asked_again_under_a_new_key(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    age(Payment, payment_id, days=7)
    card.refuse = "try later"
    reconciliation.act("authorization_expiring", "capture", payment_id, actor=ACTOR)
    drain(app)
    assert ("payment_attention", payment_id) in kinds()
    reconciliation.act("payment_attention", "done", payment_id, actor=ACTOR)
    assert kinds() == [("authorization_expiring", payment_id)]
    card.refuse = None
    reconciliation.act("authorization_expiring", "capture", payment_id, actor=ACTOR)
    drain(app)
    assert db.session.get(Payment, payment_id).state == CAPTURED
    keys = [key for operation, key in card.calls if operation == "capture"]
    assert len(set(keys)) == 2
    assert kinds() == []


def test_a_pending_refund_is_retried_then_recorded_by_hand(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    card.failures = 100  # the gateway is down
    refund_id, refund_key = refund_of(order_id, 1000)
    drain(app, rounds=1)
    assert kinds() == []
    age(Refund, refund_id, hours=25)
    assert kinds() == [("refund_pending", refund_id)]
    reconciliation.act("refund_pending", "retry", refund_id, actor=ACTOR)
    with pytest.raises(ValidationError, match="reference"):
        reconciliation.act("refund_pending", "by_hand", refund_id, actor=ACTOR, reference="")
    reconciliation.act("refund_pending", "by_hand", refund_id, actor=ACTOR, reference="SEPA-77")
    assert kinds() == []
    assert db.session.get(Refund, refund_id).state == REFUND_SUCCEEDED
    assert fresh(order_id).refunded_minor == 1000
    assert db.session.scalar(select(OutboxMessage.status).where(
        OutboxMessage.idempotency_key == refund_key)) == "cancelled"


def test_a_refund_pending_at_the_gateway_is_not_paid_by_hand_too(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    refund_id, _ = refund_of(order_id, 1000)
    with write_transaction():  # the gateway answered "pending" with its id (slow payment methods)
        db.session.execute(update(Refund).where(Refund.id == refund_id).values(external_id="re_slow"))
    with pytest.raises(ValidationError, match="may still pay"):
        reconciliation.act("refund_pending", "by_hand", refund_id, actor=ACTOR, reference="SEPA-1")
    assert db.session.get(Refund, refund_id).state == "pending"


def test_a_failed_refund_is_replaced_by_a_new_one(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    card.refuse = "card closed"
    refund_id, refund_key = refund_of(order_id, 1000)
    drain(app)
    assert db.session.get(Refund, refund_id).state == REFUND_FAILED
    assert kinds() == [("refund_failed", refund_id)]
    card.refuse = None
    reconciliation.act("refund_failed", "retry", refund_id, actor=ACTOR)
    drain(app)
    assert kinds() == []
    assert fresh(order_id).refunded_minor == 1000


def test_a_dead_payment_message_is_retried(app, client, card_order):
    order_id, payment_id = paid_by_card(client, card_order)
    card.failures = 1
    refund_id, refund_key = refund_of(order_id, 500)
    with write_transaction():
        db.session.execute(update(OutboxMessage).where(OutboxMessage.idempotency_key == refund_key)
                           .values(max_attempts=1))
    drain(app, rounds=1)
    message_id = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.idempotency_key == refund_key))
    assert ("outbox_dead", message_id) in kinds()
    reconciliation.act("outbox_dead", "retry", message_id, actor=ACTOR)
    drain(app)
    assert ("outbox_dead", message_id) not in kinds()
    assert db.session.get(Refund, refund_id).state == REFUND_SUCCEEDED


@pytest.mark.parametrize("kind, action", [("mismatch", "capture"), ("nonsense", "retry"), ("outbox_dead", "")])
def test_an_action_a_row_does_not_offer_is_refused(app, kind, action):
    with pytest.raises(ValidationError):
        reconciliation.act(kind, action, 1, actor=ACTOR)


def test_the_page_lists_rows_and_acts_with_csrf(app, client, card_order, staff_user):
    from conftest import LoggedInClient

    order_id = card_order()
    intent = start_and_pay(order_id)
    card.intents[intent]["amount"] = 3000
    webhook(client, intent)
    payment_id = kinds()[0][1]
    staff = LoggedInClient(client, "staff@example.com", "staff-password")
    page = staff.get("/oms/admin/reconciliation").get_data(as_text=True)
    assert "Amount or currency mismatches" in page and "Reconciliation" in page
    url = f"/oms/admin/reconciliation/mismatch/{payment_id}/accept"
    assert client.post(url).status_code == 400  # no CSRF token
    assert kinds() == [("mismatch", payment_id)]
    answer = staff.post(url, htmx=True)
    assert answer.status_code == 200 and "The payment counts now." in answer.get_data(as_text=True)
    assert "Everything adds up." in answer.get_data(as_text=True)
    assert kinds() == []


def test_the_page_needs_login(app, client):
    assert client.get("/oms/admin/reconciliation").status_code == 302


def test_the_command_prints_rows_and_exits_1(app, client, card_order, runner):
    order_id = card_order()
    assert runner.invoke(args=["oms", "reconcile"]).exit_code == 0
    intent = start_and_pay(order_id)
    card.intents[intent]["currency"] = "USD"
    webhook(client, intent)
    result = runner.invoke(args=["oms", "reconcile", "--json"])
    assert result.exit_code == 1
    [row] = [json.loads(line) for line in result.output.splitlines()]
    assert (row["kind"], row["order_id"], row["actions"]) == ("mismatch", order_id, ["accept", "refund"])
    text = runner.invoke(args=["oms", "reconcile"])
    assert text.exit_code == 1 and "mismatch" in text.output and "USD" in text.output
