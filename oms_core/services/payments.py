"""Payments: the state machine applied, and the order's paid view (docs/architecture.md,
"Payment" and invariant 3).

Staff record offline payments (they enter `captured`); gateways report the state
of their payment objects by webhook, and every event is applied at most once
(PaymentEvent) to the payment it concerns, matched by the gateway's object id,
else its checkout id, else created for the event's order. The states converge
(oms_core/payment_states.py). A payment that does not fit the order's balance or
currency when its money is taken is flagged for a human, never counted.

`refresh_paid` is the one place that derives what an order has been paid and
refunded; everything that changes a payment or a refund calls it.

Documents follow the money: a receipt where a payment becomes captured
(`_captured`), the invoice where the order is paid in full (`refresh_paid`; at
confirmation instead with OMS_INVOICE_ON = "confirmed", services/status.py), a
credit note where a refund succeeds (services/refunds.py `_succeeded`).
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from .. import limits, order_states, payment_states, runtime
from ..db import db, write_transaction
from ..errors import OutOfStock, PaymentRefused, ValidationError
from ..models import Order, Payment, PaymentEvent, Refund
from ..models._base import utcnow
from ..money import format_amount
from ..payment_states import Snapshot
from ..protocols import (
    AUTHORIZED,
    CAPTURE_NOW,
    CAPTURED,
    DISPUTED,
    INTENT_CREATED,
    PAYMENT_STATES,
    REFUND_FAILED,
    REFUND_STATES,
    GatewayEvent,
    PaymentRequest,
    supports,
)
from . import alerts, documents, inbox, orders, outbound_webhooks, payment_ops, refunds, timeline
from .common import fetch_with_order_locked, lock_order, optional_text
from .status import change

# States in which money is expected (cash on delivery: until it is delivered).
PAYABLE_STATES = {
    order_states.CONFIRMED, order_states.FULFILLING, order_states.PARTIALLY_SHIPPED, order_states.SHIPPED,
    order_states.DELIVERED,
}
# Derived payment statuses of an order (refresh_paid).
UNPAID, PARTIALLY_PAID, AUTHORIZED_STATUS, PAID = "unpaid", "partially_paid", "authorized", "paid"
PARTIALLY_REFUNDED, REFUNDED = "partially_refunded", "refunded"


# ------------------------------------------------------------------ the paid view


def refresh_paid(order: Order, *, actor: str, tx) -> None:
    """Derive the order's paid amount, refunded amount and payment status from its
    payments and refunds (less what order edits gave back) (caller's transaction, order locked), and move a confirmed
    order paid in full to `paid`. The only writer of those columns."""
    db.session.flush()
    rows = list(db.session.scalars(select(Payment).where(Payment.order_id == order.id)))
    counted = [p for p in rows if p.status == "recorded" and payment_states.counted(p.state)]
    live = db.session.execute(select(Refund.amount_minor, Refund.credit_note).where(
        Refund.payment_id.in_([p.id for p in counted]) if counted else False,
        Refund.state != REFUND_FAILED)).all()
    # What an order edit gave back was paid beyond the order's new total: it was never
    # the order's money, so it counts as neither paid nor refunded (services.order_edits).
    returned = sum(amount for amount, credit_note in live if not credit_note)
    paid = sum(p.amount_minor for p in counted) - returned
    refunded = sum(amount for amount, _credit_note in live) - returned
    held = sum(p.amount_minor for p in rows if p.status == "recorded" and p.state == AUTHORIZED)
    if refunded > 0:
        status = REFUNDED if refunded >= paid else PARTIALLY_REFUNDED
    elif paid >= order.total_minor:
        status = PAID
    elif held and paid + held >= order.total_minor:
        status = AUTHORIZED_STATUS
    else:
        status = PARTIALLY_PAID if paid else UNPAID
    was_paid = order.payment_status == PAID
    order.paid_minor, order.refunded_minor, order.payment_status = paid, refunded, status
    if status == PAID:
        documents.issue_invoice(order)  # paid in full (cash on delivery too), before the "paid" email
    if status == PAID and order.status == order_states.CONFIRMED:
        change(order, order_states.PAID, actor=actor, reason=timeline.PAID_IN_FULL, tx=tx)
    if status == PAID and not was_paid:
        # By the money, not the order status: cash on delivery is paid after shipping.
        outbound_webhooks.emit(order, "order.paid")


def _mismatch(order: Order, amount_minor: int, currency: str, *, counted_already: int = 0) -> str | None:
    if order.status not in PAYABLE_STATES:
        return f"Order {order.number} is {order.status}; it takes no payment now."
    if currency != order.currency:
        return f"The order is in {order.currency}, not {currency}."
    if amount_minor <= 0:
        return "The amount must be more than zero."
    balance = order.total_minor - counted_already
    if amount_minor > balance:
        return (f"{format_amount(amount_minor, currency)} is more than the balance due of "
                f"{format_amount(balance, order.currency)}.")
    return None


def _captured(order: Order, payment: Payment, *, actor: str) -> None:
    """A payment's money was taken and it counts (staff recorded it, or its gateway
    captured it): the one place for that, so each gets its receipt."""
    db.session.flush()  # the payment's id, for its receipt
    documents.issue_receipt(order, payment_id=payment.id, amount_minor=payment.amount_minor,
                            currency=payment.currency, method_label=_method_label(payment.gateway_id),
                            reference=payment.reference or payment.external_id or "", paid_at=utcnow())
    timeline.record(order, timeline.PAYMENT_RECORDED, actor, timeline.payment_message(
        payment.amount_minor, payment.currency, payment.gateway_id, payment.reference))


def _method_label(gateway_id: str) -> str:
    gateway = runtime.registry().gateways.get(gateway_id)
    return gateway.label if gateway else gateway_id


def record_payment(order_id: int, *, gateway_id: str, amount_minor: int, currency: str,
                   reference: str, actor: str) -> Payment:
    """Staff record a payment received offline (bank transfer, cash). Refused with a
    clear PaymentRefused, recording nothing, unless it fits the balance; partial
    payments add up. It enters `captured`."""
    reference = optional_text(reference, "Reference", 200)
    currency = (currency or "").strip().upper()
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):  # True is an int too
        raise ValidationError("The amount must be a whole number of minor units.")
    gateway = runtime.registry().gateway(gateway_id)
    if not supports(gateway, "verify_payment"):
        raise PaymentRefused(f"{gateway.label} payments are taken by the gateway, not recorded by staff.")
    with write_transaction() as tx:
        order = lock_order(order_id)
        problem = _mismatch(order, amount_minor, currency, counted_already=order.paid_minor)
        if problem:
            raise PaymentRefused(problem)
        result = gateway.verify_payment(PaymentRequest(
            order_id=order.id, order_number=order.number, amount_minor=amount_minor,
            currency=currency, order_currency=order.currency, balance_minor=order.balance_minor,
            reference=reference))
        if not result.ok:
            raise PaymentRefused(result.error or "The payment method refused this payment.")
        payment = Payment(order=order, gateway_id=gateway.id, amount_minor=amount_minor,
                          currency=currency, reference=reference, status="recorded", state=CAPTURED,
                          external_id=result.external_id, actor=actor)
        db.session.add(payment)
        _captured(order, payment, actor=actor)
        refresh_paid(order, actor=actor, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_payment_recorded(order=order, payment=payment))
    return payment


# ------------------------------------------------------------------ gateway events

MAX_ORDER_ID = MAX_AMOUNT = limits.MAX_AMOUNT_MINOR  # the columns' integer range


def _check_text(value, label: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValidationError(f"A payment event's {label} must be text of 1 to 200 characters.")


def _check_whole(value, label: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"A payment event's {label} must be a whole number from {low} to {high}.")


def check_gateway_event(event: GatewayEvent) -> None:
    """Refuse, changing nothing, an event that cannot be stored as it is."""
    if not isinstance(event, GatewayEvent):
        raise ValidationError(f"Not a gateway event: {event!r}.")
    _check_text(event.event_id, "id", required=True)
    if event.order_id is not None:
        _check_whole(event.order_id, "order id", 1, MAX_ORDER_ID)
    if event.order_id is None and event.external_id is None and event.checkout_id is None:
        raise ValidationError("A payment event needs an order id or the gateway's payment id.")
    _check_whole(event.amount_minor, "amount", 0, MAX_AMOUNT)
    _check_whole(event.amount_refunded_minor, "refunded amount", 0, MAX_AMOUNT)
    if not isinstance(event.currency, str) or not (len(event.currency) == 3 and event.currency.isalpha()):
        raise ValidationError("A payment event's currency must be a three-letter code (ISO 4217).")
    if event.state not in PAYMENT_STATES:
        raise ValidationError(f"A payment event's state must be one of {', '.join(PAYMENT_STATES)}.")
    _check_text(event.external_id, "external id")
    _check_text(event.checkout_id, "checkout id")
    if not isinstance(event.reason, str) or len(event.reason) > 2000:
        raise ValidationError("A payment event's reason must be text of at most 2000 characters.")
    if not isinstance(event.refunds, (list, tuple)) or len(event.refunds) > 100:
        raise ValidationError("A payment event lists at most 100 refunds.")
    for refund in event.refunds:
        _check_text(getattr(refund, "external_id", None), "refund id", required=True)
        _check_whole(getattr(refund, "amount_minor", None), "refund amount", 1, MAX_AMOUNT)
        if getattr(refund, "state", None) not in REFUND_STATES:
            raise ValidationError(f"A refund's state must be one of {', '.join(REFUND_STATES)}.")


def find_payment(gateway_id: str, event: GatewayEvent) -> Payment | None:
    """The payment an event concerns: by the gateway's object id, else its checkout id."""
    for column, value in ((Payment.external_id, event.external_id), (Payment.checkout_id, event.checkout_id)):
        if value:
            found = db.session.scalar(select(Payment).where(Payment.gateway_id == gateway_id, column == value)
                                      .order_by(Payment.id).limit(1))
            if found is not None:
                return found
    return None


def _adopt_started(order: Order, gateway_id: str, event: GatewayEvent) -> Payment | None:
    """The order's started payment an event's object grew out of, when the event
    does not name the attempt (Stripe: the PaymentIntent's events do not name the
    Checkout Session the OMS started). Without this the started payment would stay
    "started" next to a second payment for the same money. The attempt's id is
    kept as its checkout id."""
    started = db.session.scalar(select(Payment).where(
        Payment.order_id == order.id, Payment.gateway_id == gateway_id, Payment.state == INTENT_CREATED,
        Payment.amount_minor == event.amount_minor).order_by(Payment.id.desc()).limit(1))
    if started is not None and started.external_id and started.external_id != event.external_id:
        started.checkout_id = started.checkout_id or started.external_id
        started.external_id = None
    return started


def order_id_for(gateway_id: str, event: GatewayEvent) -> int | None:
    """The order an event is for: its payment's, else the one it names."""
    payment = find_payment(gateway_id, event)
    return payment.order_id if payment is not None else event.order_id


def match_key(gateway_id: str, event: GatewayEvent) -> str:
    """What an unmatched event waits for: its order id, else its payment object."""
    order_id = order_id_for(gateway_id, event)
    return str(order_id) if order_id is not None else f"ext:{event.external_id or event.checkout_id}"


def event_refusal(gateway_id: str, order: Order | None, order_id: int | None) -> str | None:
    """Why a gateway's event cannot apply to this order (yet), or None. An order
    takes payment events only from its own payment method: a gateway cannot pay
    an order placed with bank transfer, whatever it signs."""
    if order is None:
        return f"No order {order_id}." if order_id is not None else "No payment with that id yet."
    if order.payment_method != gateway_id:
        return f"Order {order.number} is paid by {order.payment_method}, not {gateway_id}."
    return None


def event_seen(gateway_id: str, event_id: str) -> bool:
    return db.session.scalar(select(PaymentEvent.id).where(
        PaymentEvent.gateway_id == gateway_id, PaymentEvent.event_id == event_id)) is not None


def event_dedupe_key(event: GatewayEvent) -> str:
    """What tells a re-sent gateway event from a new one: its id."""
    return hashlib.sha256(event.event_id.encode()).hexdigest()[:40]


def outcome_of(payment: Payment | None) -> str:
    """What applying an event did, in the inbox's words."""
    if payment is None:
        return inbox.DUPLICATE
    return inbox.FLAGGED if payment.status == "flagged" else inbox.APPLIED


def snapshot_of(payment: Payment) -> Snapshot:
    return Snapshot(payment.state, payment.amount_minor, payment.amount_refunded_minor)


def apply_snapshot(order: Order, payment: Payment, incoming: Snapshot, *, actor: str, tx,
                   reason: str = "") -> None:
    """Move a payment to what its gateway object says now (caller's transaction, the
    order locked): merge, put the change on the timeline, and settle the order."""
    was = payment.state  # None for a payment created just now
    merged = payment_states.merge(snapshot_of(payment) if was else None, incoming)
    payment.state, payment.amount_minor = merged.state, merged.amount_minor
    payment.amount_refunded_minor = merged.amount_refunded_minor
    if merged.state != was:
        timeline.record(order, timeline.PAYMENT_STATE, actor, timeline.payment_state_message(
            payment.gateway_id, payment_states.LABELS[merged.state], payment.amount_minor, payment.currency,
            reason))
        if merged.state == DISPUTED:  # still counted until the bank decides; staff must answer it
            payment.attention = "Disputed by the cardholder's bank" + (f": {reason}" if reason else ".")
    _settle(order, payment, was=was, actor=actor, tx=tx)


def _settle(order: Order, payment: Payment, *, was: str | None, actor: str, tx) -> None:
    """What a payment's new state means for its order: counted (or flagged when it
    does not fit), a late payment for a cancelled order, a capture to make."""
    newly_counted = payment_states.counted(payment.state) and not (was and payment_states.counted(was))
    newly_held = payment.state == AUTHORIZED and was != AUTHORIZED
    if payment.status == "flagged":
        return
    if newly_counted:
        late = order.status == order_states.CANCELLED
        # A late payment is checked after the order is reopened or given back: only its currency here.
        problem = _mismatch(order, payment.amount_minor, payment.currency, counted_already=order.paid_minor) \
            if not late else (None if payment.currency == order.currency else
                              f"The order is in {order.currency}, not {payment.currency}.")
        if problem:
            payment.status, payment.flag_reason = "flagged", problem
            timeline.record(order, timeline.PAYMENT_FLAGGED, actor, f"Payment flagged: {problem}")
            return
        _captured(order, payment, actor=actor)
    if (newly_counted or newly_held) and order.status == order_states.CANCELLED:
        refresh_paid(order, actor=actor, tx=tx)
        _late_success(order, payment, actor=actor, tx=tx)
    elif newly_held and payment.capture_mode == CAPTURE_NOW:
        payment_ops.enqueue_capture(payment)
    refresh_paid(order, actor=actor, tx=tx)


def _late_success(order: Order, payment: Payment, *, actor: str, tx) -> None:
    """Money arrived for an order cancelled meanwhile: reopen it if its stock is
    still there, otherwise give the money back (refund, or void an authorization)
    and list it for staff. Never lost, never kept silently."""
    try:
        with db.session.begin_nested():
            orders.reopen(order, actor=actor, tx=tx,
                          reason=f"Payment of {format_amount(payment.amount_minor, payment.currency)} "
                                 "arrived after the order was cancelled: order reopened.")
        return
    except OutOfStock as exc:
        db.session.expire(order)
        short = str(exc)
    if payment.state == AUTHORIZED:
        payment_ops.enqueue_void(payment)
        done = "its authorization is voided"
    else:
        given_back = refunds.refund_whole_payment(order, payment, reason="Paid after cancellation; out of stock.",
                                                  actor=actor, tx=tx)
        done = "it is refunded" if given_back else "refund it by hand"
    payment.attention = (f"Paid after the order was cancelled, and it could not be reopened ({short}); "
                         f"{done}.")
    timeline.record(order, timeline.PAYMENT_LATE, actor, payment.attention)
    db.session.flush()  # a payment new with this event gets its id, the alert's subject
    alerts.late_payment_given_back(order, payment, payment.attention)


def apply_gateway_event(gateway_id: str, event: GatewayEvent, *, attention: str = "") -> Payment | None:
    """Apply what a gateway reported about one of its payment objects. Returns None
    when the event was applied before (idempotent). Raises PaymentRefused for an
    order of another payment method. `attention`: what staff must learn when the
    event moves the payment (a state found by asking, services/payment_sync.py)."""
    check_gateway_event(event)
    actor = f"gateway:{gateway_id}"
    with write_transaction() as tx:
        if event_seen(gateway_id, event.event_id):
            return None
        order_id = order_id_for(gateway_id, event)
        order = lock_order(order_id) if order_id is not None else None
        # Re-check under the lock: a concurrent delivery of the same event waits here.
        if event_seen(gateway_id, event.event_id):
            return None
        refusal = event_refusal(gateway_id, order, order_id)
        if refusal:
            raise PaymentRefused(refusal)
        payment = find_payment(gateway_id, event) or _adopt_started(order, gateway_id, event)
        if payment is None:
            payment = Payment(order=order, gateway_id=gateway_id, currency=event.currency.upper(),
                              amount_minor=event.amount_minor, reference=event.external_id or "",
                              capture_mode=payment_ops.capture_mode(gateway_id), actor=actor, status="recorded")
            db.session.add(payment)
        payment.external_id = payment.external_id or event.external_id
        payment.checkout_id = payment.checkout_id or event.checkout_id
        if event.currency.upper() != payment.currency:
            payment.status, payment.flag_reason = "flagged", f"The payment is in {payment.currency}, " \
                                                             f"an event said {event.currency.upper()}."
        was = payment.state
        apply_snapshot(order, payment, Snapshot(event.state, event.amount_minor, event.amount_refunded_minor),
                       actor=actor, tx=tx, reason=event.reason)
        if attention and payment.state != was and not payment.attention:
            payment.attention = attention
        db.session.flush()
        refunds.upsert_from_gateway(order, payment, event.refunds, actor=actor, tx=tx)
        db.session.add(PaymentEvent(gateway_id=gateway_id, event_id=event.event_id, payment_id=payment.id,
                                    state=event.state))
        alerts.payment_problem(order, payment)  # flagged or disputed: once per payment
        tx.after_commit(lambda: runtime.registry().hook.on_payment_recorded(order=order, payment=payment))
    return payment


def rematch_unmatched(gateway_id: str, order_key: str) -> bool:
    """Apply a gateway's waiting events for one order (or payment object) once it
    exists and is paid with that gateway (the worker's periodic re-match). False
    when it still is not."""
    if order_key.startswith("ext:"):
        probe = GatewayEvent(event_id="-", order_id=None, amount_minor=0, currency="XXX",
                             external_id=order_key[4:], checkout_id=order_key[4:])
        order_id = order_id_for(gateway_id, probe)
    else:
        order_id = int(order_key)
    if order_id is None or event_refusal(gateway_id, db.session.get(Order, order_id), order_id):
        return False
    with write_transaction():
        lock_order(order_id)
        for waiting in inbox.unmatched_for(inbox.PAYMENT, gateway_id, order_key):
            inbox.resolve(waiting, outcome_of(apply_gateway_event(gateway_id, inbox.gateway_event(waiting))))
    return True


def payments_for(order_id: int) -> list[Payment]:
    return list(db.session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))


def needing_attention(limit: int = 50) -> list[Payment]:
    """Payments staff must look at (a refused capture or void, a late payment given
    back), newest first: for the dashboard."""
    return list(db.session.scalars(select(Payment).where(Payment.attention != "")
                                   .order_by(Payment.id.desc()).limit(limit)))


# ------------------------------------------------------------------ staff decisions (reconciliation)


def accept_flagged(payment_id: int, *, actor: str) -> Payment:
    """Staff accept a flagged payment (an amount or currency that did not fit): it
    counts from now on, with its receipt; the timeline says who decided."""
    with write_transaction() as tx:
        payment = locked_payment(payment_id)
        if payment.status != "flagged":
            raise ValidationError("This payment is not flagged.")
        order = payment.order
        payment.status = "recorded"
        timeline.record(order, timeline.PAYMENT_STATE, actor,
                        f"Flagged payment accepted by staff ({payment.flag_reason})")
        if payment_states.counted(payment.state):
            _captured(order, payment, actor=actor)
        refresh_paid(order, actor=actor, tx=tx)
    return payment


def acknowledge(payment_id: int, *, actor: str) -> Payment:
    """Staff have dealt with what a payment needed (a refused capture, a dispute, a
    late payment given back): it leaves the attention lists; the timeline keeps it."""
    with write_transaction():
        payment = locked_payment(payment_id)
        if not payment.attention:
            raise ValidationError("This payment needs nothing.")
        timeline.record(payment.order, timeline.NOTE, actor, f"Dealt with: {payment.attention}")
        payment.attention = ""
    return payment


def locked_payment(payment_id: int) -> Payment:
    """A payment with its order locked, in the caller's write transaction."""
    return fetch_with_order_locked(Payment, payment_id, "payment")
