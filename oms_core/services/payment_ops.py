"""Operations on a gateway's payments: start (pay now), capture, void.

Capture and void are side effects: outbox messages written in the transaction
that decides them, sent by the worker with an idempotency key made from the
payment's random key (docs/architecture.md, invariant 7). A failure the gateway
marks `retryable` is retried by the outbox with backoff; a refusal ends the
message and is kept on the payment for staff (`Payment.attention`, dashboard).

Starting a payment is the one call made during a request: the customer waits for
the hosted page. It is idempotent: a started payment still open is reused, and a
retried start sends the same key.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from .. import runtime, tracking_codes
from ..db import db, write_transaction
from ..errors import DomainError, NotFound, PaymentRefused
from ..models import Order, OutboxMessage, Payment
from ..models._base import utcnow
from ..money import format_amount
from ..payment_states import Snapshot
from ..plugins import GATEWAY
from ..protocols import (
    AUTHORIZED,
    CAPTURE_MODES,
    CAPTURE_NOW,
    CAPTURED,
    FAILED,
    INTENT_CREATED,
    VOIDED,
    CaptureRequest,
    PaymentResult,
    PaymentStart,
    StartPaymentRequest,
    VoidRequest,
    supports,
)
from . import outbox, payments, timeline
from .common import fetch, lock_order

CAPTURE_KIND, VOID_KIND = "payment.capture", "payment.void"
CAPTURE_SETTING = "capture"


def capture_mode(gateway_id: str) -> str:
    """When the gateway's authorized payments are captured: its `capture` setting."""
    mode = runtime.registry().settings.get(gateway_id, CAPTURE_SETTING, CAPTURE_NOW)
    return mode if mode in CAPTURE_MODES else CAPTURE_NOW


# ------------------------------------------------------------------ capture and void


def enqueue_capture(payment: Payment) -> None:
    """Take the money of an authorized payment (caller's transaction)."""
    outbox.enqueue_once(CAPTURE_KIND, {"payment_id": payment.id}, key=f"{payment.key}-capture",
                        order_id=payment.order_id)


def enqueue_void(payment: Payment) -> None:
    """Let an authorization go (caller's transaction)."""
    outbox.enqueue_once(VOID_KIND, {"payment_id": payment.id}, key=f"{payment.key}-void",
                        order_id=payment.order_id)


def capture_now(payment_id: int, *, actor: str) -> None:
    """Staff capture an authorization before it expires (reconciliation). A capture
    the gateway refused is asked again under a new key: the old key's answer is
    stored at the gateway; a capture still waiting in the outbox is sent at once."""
    _resend(payment_id, "capture", CAPTURE_KIND, actor=actor)


def void_now(payment_id: int, *, actor: str) -> None:
    """Staff let go an authorization they will not keep (a flagged one)."""
    _resend(payment_id, "void", VOID_KIND, actor=actor)


def _resend(payment_id: int, name: str, kind: str, *, actor: str) -> None:
    with write_transaction():
        payment = payments.locked_payment(payment_id)
        if payment.state != AUTHORIZED:
            raise PaymentRefused(f"Only an authorized payment can be {name}d; this one is "
                                 f"{payment.state.replace('_', ' ')}.")
        sent = _messages(payment, kind)
        unsent = [m for m in sent if m.status in outbox.UNSENT]
        message_id = unsent[-1].id if unsent else None
        if message_id is None:
            key = f"{payment.key}-{name}" + (f"-{len(sent)}" if sent else "")
            outbox.enqueue(kind, {"payment_id": payment.id}, key=key, order_id=payment.order_id)
        payment.attention = ""
        timeline.record(payment.order, timeline.PAYMENT_STATE, actor, f"Staff asked the gateway to {name} "
                        f"{format_amount(payment.amount_minor, payment.currency)}.")
    if message_id is not None:
        outbox.retry_now(message_id)


def _messages(payment: Payment, kind: str) -> list[OutboxMessage]:
    """The captures (or voids) asked for a payment, oldest first."""
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == kind, OutboxMessage.order_id == payment.order_id,
        OutboxMessage.idempotency_key.startswith(payment.key)).order_by(OutboxMessage.id)))


def asked(payment: Payment, kind: str) -> bool:
    """Whether a capture (or void) was ever asked for this payment."""
    return bool(_messages(payment, kind))


def _held(order: Order) -> list[Payment]:
    db.session.flush()
    return list(db.session.scalars(select(Payment).where(
        Payment.order_id == order.id, Payment.state == AUTHORIZED, Payment.status == "recorded")))


def holds_authorization(order: Order) -> bool:
    """Whether money is held for the order and not captured yet."""
    return bool(_held(order))


def capture_held(order: Order) -> None:
    """The order ships: capture what was authorized for it (capture on ship)."""
    for payment in _held(order):
        enqueue_capture(payment)


def void_held(order: Order) -> int:
    """The order is cancelled: let its authorizations go. Returns how many."""
    held = _held(order)
    for payment in held:
        enqueue_void(payment)
    return len(held)


def _apply_result(payment_id: int, state: str | None, *, error: str | None) -> None:
    """Record a capture's or void's answer: the new state, or the refusal for staff."""
    with write_transaction() as tx:
        payment = fetch(Payment, payment_id, "payment")
        order = lock_order(payment.order_id)
        db.session.refresh(payment)
        actor = f"gateway:{payment.gateway_id}"
        if error:
            payment.attention = error
            timeline.record(order, timeline.PAYMENT_STATE, actor, error)
            return
        payments.apply_snapshot(order, payment, Snapshot(state, payment.amount_minor,
                                                         payment.amount_refunded_minor), actor=actor, tx=tx)


def _operate(message, name: str, request_for, done_state: str) -> None:
    payment = db.session.get(Payment, message.payload["payment_id"])
    if payment is None or payment.state != AUTHORIZED:
        db.session.commit()
        return  # gone, or captured / voided by an earlier attempt or the gateway's own event
    gateway = runtime.registry().gateway(payment.gateway_id)
    request = request_for(payment, message.idempotency_key)
    payment_id = payment.id
    db.session.commit()  # no transaction stays open while the gateway answers
    result = getattr(gateway, name)(request)
    if not isinstance(result, PaymentResult):
        raise outbox.SendError(f"{gateway.id}.{name} returned {result!r}, not a PaymentResult.")
    if result.ok:
        _apply_result(payment_id, result.state or done_state, error=None)
    elif result.retryable:
        raise outbox.SendError(result.error or f"{name} failed; trying again.")
    else:
        _apply_result(payment_id, None, error=f"The gateway refused to {name}: {result.error or 'no reason'}")


@outbox.handler(CAPTURE_KIND)
def _capture(message) -> None:
    _operate(message, "capture", lambda p, key: CaptureRequest(
        payment_external_id=p.external_id or "", amount_minor=p.amount_minor, currency=p.currency,
        idempotency_key=key), CAPTURED)


@outbox.handler(VOID_KIND)
def _void(message) -> None:
    _operate(message, "void", lambda p, key: VoidRequest(
        payment_external_id=p.external_id or "", idempotency_key=key), VOIDED)


# ------------------------------------------------------------------ pay now


def can_start(order: Order) -> bool:
    """Whether the customer can pay this order's balance online now."""
    if order.status not in payments.PAYABLE_STATES or order.balance_minor <= 0 or order.pays_on_delivery:
        return False
    gateway = runtime.registry().objects(GATEWAY).get(order.payment_method)
    return gateway is not None and supports(gateway, "start_payment")


def _open_payment(order: Order) -> Payment | None:
    """A started payment of the balance still open for the customer, newest first."""
    now = utcnow()
    for payment in db.session.scalars(select(Payment).where(
            Payment.order_id == order.id, Payment.state == INTENT_CREATED,
            Payment.amount_minor == order.balance_minor).order_by(Payment.id.desc())):
        if payment.expires_at is None or payment.expires_at > now:
            return payment
    return None


def _started(result, payment_id: int) -> tuple[str | None, str | None, datetime | None]:
    """(error, redirect_url, expires_at) of a gateway's answer to start_payment."""
    if not isinstance(result, PaymentStart):
        return f"The gateway answered {result!r}, not a PaymentStart.", None, None
    if not result.ok:
        return result.error or "The gateway could not start the payment.", None, None
    url = result.redirect_url
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2000:
        return "The gateway answered without a hosted page to send the customer to.", None, None
    external = result.external_id
    if external is not None and (not isinstance(external, str) or not 0 < len(external) <= 200):
        return "The gateway answered with a payment id that is not text of 1 to 200 characters.", None, None
    expires = result.expires_at if isinstance(result.expires_at, datetime) and result.expires_at.tzinfo else None
    return None, url, expires


def start_payment(order_id: int, *, success_url: str, cancel_url: str, actor: str = "customer") -> str:
    """Start paying the order's balance through its gateway; returns the hosted
    page's URL. Reuses a started payment that is still open; PaymentRefused when
    there is nothing to pay or the gateway cannot start one."""
    gateway_id = fetch(Order, order_id, "order").payment_method
    gateway = runtime.registry().gateway(gateway_id)
    if not supports(gateway, "start_payment"):
        raise PaymentRefused(f"{gateway.label} cannot be paid online.")
    with write_transaction():
        order = lock_order(order_id)
        if not can_start(order):
            raise PaymentRefused(f"Order {order.number} has nothing to pay online now.")
        payment = _open_payment(order)
        if payment is not None and payment.redirect_url:
            return payment.redirect_url
        if payment is None:
            payment = Payment(order=order, gateway_id=gateway.id, state=INTENT_CREATED,
                              amount_minor=order.balance_minor, currency=order.currency,
                              capture_mode=capture_mode(gateway.id), actor=actor, status="recorded")
            db.session.add(payment)
            db.session.flush()
            timeline.record(order, timeline.PAYMENT_STATE, actor, f"Online payment started via {gateway.id}.")
        request = StartPaymentRequest(
            order_id=order.id, order_number=order.number, amount_minor=payment.amount_minor,
            currency=order.currency, idempotency_key=payment.key, customer_email=order.customer.email,
            success_url=success_url, cancel_url=cancel_url, capture=payment.capture_mode,
            description=f"Order {order.number}")
        payment_id = payment.id
    result = gateway.start_payment(request)  # outside any transaction: the gateway may be slow
    error, url, expires = _started(result, payment_id)
    with write_transaction() as tx:
        payment = fetch(Payment, payment_id, "payment")
        order = lock_order(payment.order_id)
        db.session.refresh(payment)
        if error:
            if not getattr(result, "retryable", False):
                payments.apply_snapshot(order, payment, Snapshot(FAILED, payment.amount_minor), actor=actor,
                                        tx=tx, reason=error)
        else:
            payment.external_id = payment.external_id or result.external_id
            payment.redirect_url, payment.expires_at = url, expires
    if error:
        raise PaymentRefused(f"The payment could not be started: {error}")
    return url


@dataclass(frozen=True)
class PayNow:
    """What the public pay-now page shows: no personal data, only the order number
    and the amount; `redirect_url` when the customer goes on to the gateway."""

    number: str
    code: str  # as printed on the confirmation
    amount: str
    due: bool
    redirect_url: str | None = None
    problem: str = ""
    # The amount again, for pages that write it for the visitor's locale.
    amount_minor: int = 0
    currency: str = ""


def pay_now(code: str, back_url: Callable[[str], str]) -> PayNow:
    """Pay now for the order of a tracking code: start (or reuse) a hosted payment of
    its balance where its gateway can, else say what is due or that it is paid.
    `back_url(code)` is where the gateway sends the customer back. NotFound for an
    unknown code."""
    order = order_for_code(code)
    shown = tracking_codes.display(order.tracking_code)
    page = dict(number=order.number, code=shown, due=order.balance_minor > 0,
                amount=format_amount(order.balance_minor, order.currency),
                amount_minor=order.balance_minor, currency=order.currency)
    if can_start(order):
        back = back_url(shown)
        try:
            return PayNow(**page, redirect_url=start_payment(order.id, success_url=back, cancel_url=back))
        except DomainError as exc:
            return PayNow(**page, problem=str(exc))
    return PayNow(**page)


def order_for_code(code: str) -> Order:
    """The order of a tracking code (pay now): possession of the code authorises paying."""
    normal = tracking_codes.normalise(code or "")
    if not tracking_codes.is_well_formed(normal):
        raise NotFound("No order with that code.")
    order = db.session.scalar(select(Order).where(Order.tracking_code == normal))
    if order is None:
        raise NotFound("No order with that code.")
    return order
