"""Recording and verifying payments (docs/architecture.md, invariant 3).

Staff record offline payments; gateways report payments by webhook. A payment
that does not fit the order's balance or currency is refused (staff) or flagged
(gateway event: the money may really have moved, so it is kept for a human), never
counted as paid. A gateway event is applied at most once, by its event id, and only
to an order paid with that gateway.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from .. import order_states, runtime
from ..db import db, write_transaction
from ..errors import PaymentRefused, ValidationError
from ..models import Order, Payment
from ..protocols import GatewayEvent, PaymentRequest
from ..models._base import utcnow
from . import documents, inbox, timeline
from .common import lock_order, optional_text
from .status import change

# States in which money is expected (cash on delivery: until it is delivered).
PAYABLE_STATES = {
    order_states.CONFIRMED, order_states.FULFILLING, order_states.SHIPPED, order_states.DELIVERED,
}


def _mismatch(order: Order, amount_minor: int, currency: str) -> str | None:
    if order.status not in PAYABLE_STATES:
        return f"Order {order.number} is {order.status}; it takes no payment now."
    if currency != order.currency:
        return f"The order is in {order.currency}, not {currency}."
    if amount_minor <= 0:
        return "The amount must be more than zero."
    if amount_minor > order.balance_minor:
        from ..money import format_amount

        return (f"{format_amount(amount_minor, currency)} is more than the balance due of "
                f"{format_amount(order.balance_minor, order.currency)}.")
    return None


def _apply(order: Order, payment: Payment, *, actor: str, tx) -> None:
    """Count a good payment: update the balance, reach `paid` when nothing is due."""
    order.paid_minor += payment.amount_minor
    order.payment_status = "paid" if order.balance_minor == 0 else "partially_paid"
    db.session.flush()  # the payment's id, for its receipt
    documents.issue_receipt(order, payment_id=payment.id, amount_minor=payment.amount_minor,
                            currency=payment.currency, method_label=_method_label(payment.gateway_id),
                            reference=payment.reference, paid_at=utcnow())
    if order.payment_status == "paid":
        documents.issue_invoice(order)  # paid in full (cash on delivery too), before the "paid" email
    timeline.record(order, timeline.PAYMENT_RECORDED, actor, timeline.payment_message(
        payment.amount_minor, payment.currency, payment.gateway_id, payment.reference))
    if order.payment_status == "paid" and order.status == order_states.CONFIRMED:
        change(order, order_states.PAID, actor=actor, reason=timeline.PAID_IN_FULL, tx=tx)


def _method_label(gateway_id: str) -> str:
    gateway = runtime.registry().gateways.get(gateway_id)
    return gateway.label if gateway else gateway_id


def record_payment(order_id: int, *, gateway_id: str, amount_minor: int, currency: str,
                   reference: str, actor: str) -> Payment:
    """Staff record a payment received offline (bank transfer, cash). Refused with a
    clear PaymentRefused, recording nothing, unless it fits the balance; partial
    payments add up."""
    reference = optional_text(reference, "Reference", 200)
    currency = (currency or "").strip().upper()
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):  # True is an int too
        raise ValidationError("The amount must be a whole number of minor units.")
    gateway = runtime.registry().gateway(gateway_id)
    with write_transaction() as tx:
        order = lock_order(order_id)
        problem = _mismatch(order, amount_minor, currency)
        if problem:
            raise PaymentRefused(problem)
        result = gateway.verify_payment(PaymentRequest(
            order_id=order.id, order_number=order.number, amount_minor=amount_minor,
            currency=currency, order_currency=order.currency, balance_minor=order.balance_minor,
            reference=reference))
        if not result.ok:
            raise PaymentRefused(result.error or "The payment method refused this payment.")
        payment = Payment(order=order, gateway_id=gateway.id, amount_minor=amount_minor,
                          currency=currency, reference=reference, status="recorded",
                          external_id=result.external_id, actor=actor)
        db.session.add(payment)
        _apply(order, payment, actor=actor, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_payment_recorded(order=order, payment=payment))
    return payment


MAX_ORDER_ID = MAX_AMOUNT = 2 ** 31 - 1  # the columns' integer range


def check_gateway_event(event: GatewayEvent) -> None:
    """Refuse, changing nothing, an event that cannot be stored as it is."""
    if not isinstance(event, GatewayEvent):
        raise ValidationError(f"Not a gateway event: {event!r}.")
    if not isinstance(event.event_id, str) or not 0 < len(event.event_id) <= 200:
        raise ValidationError("A payment event needs an id of 1 to 200 characters.")
    for value, label, low, high in ((event.order_id, "order id", 1, MAX_ORDER_ID),
                                    (event.amount_minor, "amount", -MAX_AMOUNT, MAX_AMOUNT)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"A payment event's {label} must be a whole number from {low} to {high}.")
    if not isinstance(event.currency, str) or not (len(event.currency) == 3 and event.currency.isalpha()):
        raise ValidationError("A payment event's currency must be a three-letter code (ISO 4217).")
    external_id = event.external_id
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) > 200):
        raise ValidationError("A payment event's external id must be text of at most 200 characters.")


def event_refusal(gateway_id: str, order: Order | None, order_id: int) -> str | None:
    """Why a gateway's event cannot apply to this order (yet), or None. An order
    takes payment events only from its own payment method: a gateway cannot pay
    an order placed with bank transfer, whatever it signs."""
    if order is None:
        return f"No order {order_id}."
    if order.payment_method != gateway_id:
        return f"Order {order.number} is paid by {order.payment_method}, not {gateway_id}."
    return None


def event_seen(gateway_id: str, event_id: str) -> bool:
    return db.session.scalar(select(Payment.id).where(
        Payment.gateway_id == gateway_id, Payment.event_id == event_id)) is not None


def event_dedupe_key(event: GatewayEvent) -> str:
    """What tells a re-sent gateway event from a new one: its id."""
    return hashlib.sha256(event.event_id.encode()).hexdigest()[:40]


def outcome_of(payment: Payment | None) -> str:
    """What applying an event did, in the inbox's words."""
    if payment is None:
        return inbox.DUPLICATE
    return inbox.FLAGGED if payment.status == "flagged" else inbox.APPLIED


def apply_gateway_event(gateway_id: str, event: GatewayEvent) -> Payment | None:
    """Apply a payment a gateway reported. Returns None when the event was applied
    before (idempotent). A mismatch is stored as a flagged payment, not counted.
    Raises PaymentRefused for an order of another payment method."""
    check_gateway_event(event)
    actor = f"gateway:{gateway_id}"
    with write_transaction() as tx:
        if event_seen(gateway_id, event.event_id):
            return None
        order = lock_order(event.order_id)
        # Re-check under the lock: a concurrent delivery of the same event waits here.
        if event_seen(gateway_id, event.event_id):
            return None
        refusal = event_refusal(gateway_id, order, event.order_id)
        if refusal:
            raise PaymentRefused(refusal)
        problem = _mismatch(order, event.amount_minor, event.currency.upper())
        payment = Payment(order=order, gateway_id=gateway_id, amount_minor=event.amount_minor,
                          currency=event.currency.upper(), reference=event.external_id or "",
                          external_id=event.external_id, event_id=event.event_id, actor=actor,
                          status="flagged" if problem else "recorded", flag_reason=problem or "")
        db.session.add(payment)
        if problem:
            timeline.record(order, timeline.PAYMENT_FLAGGED, actor, f"Payment flagged: {problem}")
        else:
            _apply(order, payment, actor=actor, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_payment_recorded(order=order, payment=payment))
    return payment


def rematch_unmatched(gateway_id: str, order_key: str) -> bool:
    """Apply a gateway's waiting events for one order once it exists and is paid
    with that gateway (the worker's periodic re-match). False when it still is not."""
    order_id = int(order_key)
    if event_refusal(gateway_id, db.session.get(Order, order_id), order_id):
        return False
    with write_transaction():
        lock_order(order_id)
        for waiting in inbox.unmatched_for(inbox.PAYMENT, gateway_id, order_key):
            inbox.resolve(waiting, outcome_of(apply_gateway_event(gateway_id, inbox.gateway_event(waiting))))
    return True


def payments_for(order_id: int) -> list[Payment]:
    return list(db.session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))
