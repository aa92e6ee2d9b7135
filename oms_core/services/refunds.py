"""Refunds: money given back from a payment (docs/architecture.md, "Refunds").

Staff refund an amount, or lines and quantities (the amount is the lines' prices),
from the payments that took the money, never more than was captured and not
refunded yet (the order's row lock serialises two refunds at once). A gateway
that can refund gets an outbox message with the refund's random idempotency key
(a retry is the same refund); a payment staff recorded by hand is refunded by
hand, and staff give the reference of the transfer they made. Gateways also
report refunds in their events (`upsert_from_gateway`), matched by their id.

Where a refund succeeds (`_succeeded`), documents.issue_credit_note belongs at
merge time; the customer is emailed there.
"""
from __future__ import annotations

from sqlalchemy import select

from .. import limits, order_states, payment_states, runtime
from ..db import db, write_transaction
from ..errors import ValidationError
from ..models import Order, OutboxMessage, Payment, Refund
from ..money import format_amount
from ..payment_states import Snapshot
from ..plugins import GATEWAY
from ..protocols import (
    REFUND_FAILED,
    REFUND_PENDING,
    REFUND_STATES,
    REFUND_SUCCEEDED,
    GatewayRefund,
    RefundRequest,
    RefundResult,
    supports,
)
from . import documents, notifications, outbound_webhooks, outbox, payments, timeline
from .common import fetch, fetch_with_order_locked, lock_order, optional_text, required_text

REFUND_KIND = "payment.refund"


def _gateway_refunds(payment: Payment) -> bool:
    gateway = runtime.registry().objects(GATEWAY).get(payment.gateway_id)
    return gateway is not None and supports(gateway, "refund")


def _live(payment: Payment) -> list[Refund]:
    db.session.flush()
    return list(db.session.scalars(select(Refund).where(Refund.payment_id == payment.id,
                                                        Refund.state != REFUND_FAILED)))


def refundable(payment: Payment) -> int:
    """What can still be refunded from a payment: captured minus refunds not failed."""
    if payment.status != "recorded" or not payment_states.counted(payment.state):
        return 0
    return max(payment.amount_minor - sum(r.amount_minor for r in _live(payment)), 0)


def _counted(order: Order) -> list[Payment]:
    return [p for p in payments.payments_for(order.id)
            if p.status == "recorded" and payment_states.counted(p.state)]


def refundable_total(order: Order) -> int:
    return sum(refundable(p) for p in _counted(order))


def by_hand(order: Order) -> bool:
    """Whether refunding this order's money needs staff to pay some of it back by
    hand (and give the reference): a payment whose gateway cannot refund."""
    return any(refundable(p) > 0 and not _gateway_refunds(p) for p in _counted(order))


def refunded_quantities(order: Order) -> dict[int, int]:
    """Order line id -> units refunded by line (refunds not failed)."""
    done: dict[int, int] = {}
    for refund in db.session.scalars(select(Refund).where(Refund.order_id == order.id,
                                                          Refund.state != REFUND_FAILED)):
        for line_id, quantity in (refund.lines or {}).items():
            done[int(line_id)] = done.get(int(line_id), 0) + int(quantity)
    return done


def _lines_amount(order: Order, lines: dict[int, int]) -> int:
    """The price of the lines and quantities to refund; each at most what was bought
    and not refunded yet."""
    by_id = {line.id: line for line in order.lines}
    done = refunded_quantities(order)
    amount = 0
    for line_id, quantity in lines.items():
        line = by_id.get(line_id)
        if line is None:
            raise ValidationError("Pick lines of this order.")
        limits.check_whole(quantity, f"Quantity of {line.sku}", minimum=0, maximum=limits.MAX_ORDER_QUANTITY)
        left = line.quantity - done.get(line_id, 0)
        if quantity > left:
            raise ValidationError(f"At most {left} of {line.sku} can be refunded.")
        amount += line.unit_price_minor * quantity
    if amount <= 0:
        raise ValidationError("Pick at least one item to refund.")
    return amount


def _create(order: Order, payment: Payment, amount_minor: int, *, reason: str, actor: str, tx,
            lines: dict | None = None, reference: str = "", by_hand: bool = False,
            credit_note: bool = True) -> Refund:
    """One refund from one payment, in the caller's transaction (order locked):
    through its gateway, or made by staff (`by_hand`, or a gateway that cannot)."""
    refund = Refund(payment_id=payment.id, order_id=order.id, amount_minor=amount_minor,
                    currency=payment.currency, reason=reason, lines=lines or {}, actor=actor,
                    state=REFUND_PENDING, credit_note=credit_note)
    db.session.add(refund)
    db.session.flush()
    what = f"Refund of {format_amount(amount_minor, payment.currency)} from the {payment.gateway_id} payment"
    if _gateway_refunds(payment) and not by_hand:
        timeline.record(order, timeline.REFUND, actor, f"{what} requested: {reason}")
        outbox.enqueue(REFUND_KIND, {"refund_id": refund.id}, key=refund.idempotency_key, order_id=order.id)
    else:
        refund.external_id = reference
        timeline.record(order, timeline.REFUND, actor, f"{what} made by staff (ref {reference}): {reason}")
        _succeeded(order, refund, actor=actor, tx=tx)
    return refund


def _reference(reference: str, payment: Payment, *, needed: bool) -> str:
    reference = optional_text(reference, "Refund reference", 200)
    if needed and not _gateway_refunds(payment) and not reference:
        raise ValidationError(f"{payment.gateway_id} payments are refunded by hand: give the reference of "
                              "the transfer you made.")
    return reference


def refund_order(order_id: int, *, amount_minor: int | None = None, lines: dict[int, int] | None = None,
                 reason: str, reference: str = "", actor: str) -> list[Refund]:
    """Refund an amount, or lines and quantities, from the order's payments (the
    oldest first). Refused, changing nothing, beyond what can be refunded."""
    reason = required_text(reason, "A reason for the refund", 500)
    lines = {k: v for k, v in (lines or {}).items() if v} or None
    if (amount_minor is None) == (lines is None):
        raise ValidationError("Refund an amount or lines, not both.")
    with write_transaction() as tx:
        order = lock_order(order_id)
        if lines is not None:
            amount_minor = _lines_amount(order, lines)
        limits.check_whole(amount_minor, "The amount to refund", minimum=1, maximum=limits.MAX_AMOUNT_MINOR)
        made = _spread(order, amount_minor, reason=reason, reference=reference, actor=actor, tx=tx, lines=lines)
        payments.refresh_paid(order, actor=actor, tx=tx)
    return made


def _spread(order: Order, amount_minor: int, *, reason: str, reference: str, actor: str, tx,
            lines: dict | None = None, credit_note: bool = True) -> list[Refund]:
    """Refunds of `amount_minor` from the order's payments, the oldest first; refused
    beyond what can be refunded. Caller's transaction, order locked."""
    sources = [(p, refundable(p)) for p in _counted(order)]
    available = sum(left for _, left in sources)
    if amount_minor > available:
        raise ValidationError(f"At most {format_amount(available, order.currency)} can be refunded.")
    made, remaining = [], amount_minor
    for payment, left in sources:
        part = min(left, remaining)
        if part <= 0:
            continue
        made.append(_create(order, payment, part, reason=reason, actor=actor, tx=tx, lines=lines,
                            reference=_reference(reference, payment, needed=True), credit_note=credit_note))
        remaining -= part
        lines = None  # the lines travel with the first refund only, so they count once
    return made


def refund_edit_difference(order: Order, amount_minor: int, *, reason: str, reference: str, actor: str,
                           tx) -> list[Refund]:
    """Give back what an edit made the order cost less than was paid (services.order_edits),
    in the caller's transaction. No credit note of its own: the edit credits the whole
    invoice and issues a new one. The caller refreshes the paid view."""
    return _spread(order, amount_minor, reason=reason, reference=reference, actor=actor, tx=tx,
                   credit_note=False)


def refund_everything(order: Order, *, reason: str, reference: str, actor: str, tx) -> int:
    """Give back all money kept on the order (cancelling it), in the caller's
    transaction. Returns the amount. Staff-recorded payments need `reference`."""
    total = 0
    for payment in _counted(order):
        left = refundable(payment)
        if left > 0:
            _create(order, payment, left, reason=reason, actor=actor, tx=tx,
                    reference=_reference(reference, payment, needed=True))
            total += left
    return total


def refund_whole_payment(order: Order, payment: Payment, *, reason: str, actor: str, tx) -> bool:
    """Refund what is left of one payment through its gateway (a late payment that
    cannot be kept). False when the gateway cannot refund: staff must."""
    left = refundable(payment)
    if left <= 0 or not _gateway_refunds(payment):
        return False
    _create(order, payment, left, reason=reason, actor=actor, tx=tx)
    return True


# ------------------------------------------------------------------ outcomes


def _succeeded(order: Order, refund: Refund, *, actor: str, tx) -> None:
    """A refund went through: the payment's refunded amount, the timeline, the
    customer's email, its credit note."""
    refund.state = REFUND_SUCCEEDED
    db.session.flush()
    payment = db.session.get(Payment, refund.payment_id)
    # A flagged payment was never invoiced, and an edit's difference is credited by the edit.
    if payment.status == "recorded" and refund.credit_note:
        _issue_credit_note(order, refund)
    done = sum(db.session.scalars(select(Refund.amount_minor).where(
        Refund.payment_id == payment.id, Refund.state == REFUND_SUCCEEDED)))
    timeline.record(order, timeline.REFUND, actor,
                    f"Refund of {format_amount(refund.amount_minor, refund.currency)} succeeded.", public=True)
    notifications.queue_refund_email(order, refund)
    payments.apply_snapshot(order, payment, payment_states.after_refunds(
        Snapshot(payment.state, payment.amount_minor, max(done, payment.amount_refunded_minor))),
        actor=actor, tx=tx)
    outbound_webhooks.refunded(order, refund)  # after the paid view, so the body shows the refund


def _issue_credit_note(order: Order, refund: Refund) -> None:
    """Credit what was refunded: its lines; or, for the whole order refunded at
    once, every line and the shipping, so the credit note's tax mirrors the
    invoice's; otherwise an amount shared over the order's tax rates."""
    lines = [(int(line_id), quantity) for line_id, quantity in (refund.lines or {}).items()]
    shipping = 0
    if not lines and refund.amount_minor == order.total_minor:
        lines = [(line.id, line.quantity) for line in order.lines]
        shipping = order.shipping_minor
    documents.issue_credit_note(order, refund_id=refund.id, amount_minor=refund.amount_minor,
                                lines=lines or None, reason=refund.reason, shipping_minor=shipping)


def _settle(order: Order, refund: Refund, state: str, *, external_id: str | None, error: str, actor: str,
            tx) -> None:
    """Move a refund to what its gateway says; succeeded and failed are final."""
    if refund.state != REFUND_PENDING or state == REFUND_PENDING:
        refund.external_id = refund.external_id or external_id
        return
    refund.external_id = refund.external_id or external_id
    if state == REFUND_SUCCEEDED:
        _succeeded(order, refund, actor=actor, tx=tx)
    else:
        refund.state, refund.error = REFUND_FAILED, error or "The gateway refused the refund."
        amount = format_amount(refund.amount_minor, refund.currency)
        timeline.record(order, timeline.REFUND, actor, f"Refund of {amount} failed: {refund.error}")
    payments.refresh_paid(order, actor=actor, tx=tx)


def record_result(refund_id: int, result: RefundResult) -> Refund:
    """What the gateway answered to a refund (called by the outbox worker)."""
    with write_transaction() as tx:
        refund = fetch(Refund, refund_id, "refund")
        order = lock_order(refund.order_id)
        db.session.refresh(refund)
        state = result.state if result.ok and result.state in REFUND_STATES else REFUND_FAILED
        external = result.external_id if isinstance(result.external_id, str) and len(result.external_id) <= 200 \
            else None
        _settle(order, refund, state, external_id=external, error=result.error or "", actor="gateway:"
                + refund.payment.gateway_id, tx=tx)
    return refund


def upsert_from_gateway(order: Order, payment: Payment, listed: list[GatewayRefund], *, actor: str, tx) -> None:
    """The refunds a gateway event lists for a payment: each matched by its id (or a
    pending refund of ours of that amount whose answer is not back yet), else
    recorded as made at the gateway."""
    for item in listed:
        refund = db.session.scalar(select(Refund).where(Refund.payment_id == payment.id,
                                                        Refund.external_id == item.external_id))
        if refund is None:
            refund = db.session.scalar(select(Refund).where(
                Refund.payment_id == payment.id, Refund.external_id.is_(None), Refund.state == REFUND_PENDING,
                Refund.amount_minor == item.amount_minor).order_by(Refund.id).limit(1))
        if refund is None:
            refund = Refund(payment_id=payment.id, order_id=order.id, amount_minor=item.amount_minor,
                            currency=payment.currency, reason="Refunded at the gateway.", lines={},
                            actor=actor, state=REFUND_PENDING, external_id=item.external_id)
            db.session.add(refund)
            timeline.record(order, timeline.REFUND, actor, "Refund of "
                            f"{format_amount(item.amount_minor, payment.currency)} made at the gateway.")
        _settle(order, refund, item.state, external_id=item.external_id, error="", actor=actor, tx=tx)


@outbox.handler(REFUND_KIND)
def _refund(message) -> None:
    refund = db.session.get(Refund, message.payload["refund_id"])
    if refund is None or refund.state != REFUND_PENDING:
        db.session.commit()
        return  # settled already: by an earlier attempt or the gateway's event
    payment = refund.payment
    gateway = runtime.registry().gateway(payment.gateway_id)
    request = RefundRequest(payment_external_id=payment.external_id or "", amount_minor=refund.amount_minor,
                            currency=refund.currency, idempotency_key=refund.idempotency_key,
                            reason=refund.reason)
    refund_id = refund.id
    db.session.commit()  # no transaction stays open while the gateway answers
    result = gateway.refund(request)
    if not isinstance(result, RefundResult):
        raise outbox.SendError(f"{gateway.id}.refund returned {result!r}, not a RefundResult.")
    if not result.ok and result.retryable:
        raise outbox.SendError(result.error or "The refund failed; trying again.")
    record_result(refund_id, result)


def refunds_for(order_id: int) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))


def failed(limit: int = 50) -> list[Refund]:
    """Refunds the gateway refused, newest first: for the dashboard."""
    return list(db.session.scalars(select(Refund).where(Refund.state == REFUND_FAILED)
                                   .order_by(Refund.id.desc()).limit(limit)))


# ------------------------------------------------------------------ staff decisions (reconciliation)


def retry(refund_id: int, *, actor: str) -> Refund:
    """Try a refund again through its gateway: a pending one is sent again at once
    (same key); a failed one, final, is replaced by a new refund of the same
    amount and lines. Returns the refund that is on its way."""
    with write_transaction() as tx:
        refund = _locked(refund_id)
        if refund.state == REFUND_SUCCEEDED:
            raise ValidationError("This refund went through already.")
        if not _gateway_refunds(refund.payment):
            raise ValidationError(f"{refund.payment.gateway_id} payments are refunded by hand.")
        if refund.state == REFUND_PENDING:
            message = db.session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.idempotency_key == refund.idempotency_key))
            if message is None:
                raise ValidationError("This refund was made at the gateway: its answer comes from there.")
        else:
            refund = _replace(refund, actor=actor, tx=tx)
            message = None
    if message is not None:
        outbox.retry_now(message)
    return refund


def record_by_hand(refund_id: int, *, reference: str, actor: str) -> Refund:
    """Staff paid a pending or failed refund back themselves (a transfer) and give
    its reference: the gateway is no longer asked, the refund succeeds. Refused
    for a refund the gateway has accepted and not settled: it may still pay."""
    reference = required_text(reference, "The reference of the transfer you made", 200)
    with write_transaction() as tx:
        refund = _locked(refund_id)
        if refund.state == REFUND_SUCCEEDED:
            raise ValidationError("This refund went through already.")
        if refund.state == REFUND_FAILED:
            return _replace(refund, actor=actor, tx=tx, reference=reference)
        if refund.external_id:  # the gateway took it (pending there): paying it by hand too would pay twice
            raise ValidationError(f"The gateway has this refund ({refund.external_id}) and may still pay it: "
                                  "cancel it there first, or wait for its answer.")
        outbox.withdraw(refund.idempotency_key)
        refund.external_id = reference
        timeline.record(refund.payment.order, timeline.REFUND, actor,
                        f"Refund of {format_amount(refund.amount_minor, refund.currency)} made by staff "
                        f"(ref {reference}).")
        _succeeded(refund.payment.order, refund, actor=actor, tx=tx)
        payments.refresh_paid(refund.payment.order, actor=actor, tx=tx)
    return refund


def refund_flagged(payment_id: int, *, actor: str) -> Refund:
    """Give back a flagged payment's money (staff will not keep it) through its
    gateway. No credit note: it was never invoiced."""
    with write_transaction() as tx:
        payment = payments.locked_payment(payment_id)
        left = payment.amount_minor - sum(r.amount_minor for r in _live(payment))
        if payment.status != "flagged" or not payment_states.counted(payment.state) or left <= 0:
            raise ValidationError("Only a flagged payment whose money was taken can be given back here.")
        if not _gateway_refunds(payment):
            raise ValidationError(f"{payment.gateway_id} payments are refunded by hand.")
        return _create(payment.order, payment, left, reason="Flagged payment given back.", actor=actor, tx=tx)


def refund_cancelled_payment(payment_id: int, *, actor: str) -> Refund:
    """Give back what a payment kept for a cancelled order (reconciliation) through
    its gateway."""
    with write_transaction() as tx:
        payment = payments.locked_payment(payment_id)
        order = payment.order
        if order.status != order_states.CANCELLED:
            raise ValidationError(f"Order {order.number} is {order.status}: refund it from the order page.")
        if refundable(payment) <= 0:
            raise ValidationError("Nothing is left to refund from this payment.")
        if not refund_whole_payment(order, payment, reason="Paid for a cancelled order.", actor=actor, tx=tx):
            raise ValidationError(f"{payment.gateway_id} payments are refunded by hand: do it from the order page.")
        payments.refresh_paid(order, actor=actor, tx=tx)
        return refunds_for(order.id)[-1]


def _locked(refund_id: int) -> Refund:
    return fetch_with_order_locked(Refund, refund_id, "refund")


def _replace(failed_refund: Refund, *, actor: str, tx, reference: str = "") -> Refund:
    """A new refund for a failed one (failed is final): the same amount and lines,
    if the payment still has that much to give back."""
    payment = failed_refund.payment
    if failed_refund.amount_minor > refundable(payment) and payment.status == "recorded":
        raise ValidationError("The payment has less left to refund than this refund.")
    refund = _create(payment.order, payment, failed_refund.amount_minor, reason=failed_refund.reason,
                     actor=actor, tx=tx, lines=failed_refund.lines or None, reference=reference,
                     by_hand=bool(reference), credit_note=failed_refund.credit_note)
    failed_refund.error = f"{failed_refund.error} (replaced by refund #{refund.id})"[:2000]
    payments.refresh_paid(payment.order, actor=actor, tx=tx)
    return refund
