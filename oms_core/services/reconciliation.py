"""Reconciliation: what does not add up between the gateways and the OMS, one row
per problem, each with the action that settles it (docs/architecture.md,
"Reconciliation"). The back-office page and `flask oms reconcile` both list
`rows()`; every action is `act()`, which calls the service that owns the area.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from .. import order_states, runtime
from ..db import db
from ..errors import ValidationError
from ..models import InboundEvent, Order, OutboxMessage, Payment, Refund, UnmatchedEvent
from ..models._base import utcnow
from ..protocols import AUTHORIZED, REFUND_FAILED, REFUND_PENDING
from . import inbox, outbox, payment_ops, payments, refunds
from .payment_ops import CAPTURE_KIND, VOID_KIND
from .refunds import REFUND_KIND

# Kinds of rows, with their titles, in the order the page shows them.
KINDS = {
    "unmatched_event": "Payment events with no order",
    "paid_not_in_oms": "Paid at the gateway, not in the OMS",
    "mismatch": "Amount or currency mismatches",
    "payment_attention": "Payments staff must look at",
    "authorization_expiring": "Authorizations about to expire uncaptured",
    "refund_pending": "Refunds pending at the gateway",
    "refund_failed": "Refunds that failed",
    "outbox_dead": "Payment messages given up on",
}
# Actions: what staff can do to a row, by name -> label.
ACTIONS = {
    "rematch": "Re-match now", "refund": "Refund", "accept": "Accept", "capture": "Capture now",
    "retry": "Retry", "by_hand": "Record manual refund", "done": "Mark dealt with",
}
PAYMENT_MESSAGE_KINDS = (CAPTURE_KIND, VOID_KIND, REFUND_KIND)
MAX_ROWS_PER_KIND = 200


@dataclass
class Row:
    kind: str
    target_id: int  # what the actions act on: the waiting event, payment, refund or outbox message
    order_id: int | None
    payment_id: int | None
    amount_minor: int
    currency: str
    since: datetime
    reason: str
    actions: tuple[str, ...]
    inbound_id: int | None = None  # the inbox delivery to open

    @property
    def age(self) -> timedelta:
        return utcnow() - self.since

    def as_json(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["age_seconds"] = int(self.age.total_seconds())
        return data


def rows() -> list[Row]:
    """Everything that does not add up, by kind, oldest first within a kind."""
    found: list[Row] = []
    for finder in (_unmatched_events, _paid_not_in_oms, _mismatches, _payment_attention,
                   _expiring_authorizations, _pending_refunds, _failed_refunds, _dead_messages):
        found.extend(finder())
    return found


def _unmatched_events() -> list[Row]:
    query = (select(UnmatchedEvent, InboundEvent.received_at).join(InboundEvent)
             .where(UnmatchedEvent.source == inbox.PAYMENT).order_by(UnmatchedEvent.id).limit(MAX_ROWS_PER_KIND))
    found = []
    for waiting, received_at in db.session.execute(query):
        event = waiting.event
        found.append(Row("unmatched_event", waiting.id, event.get("order_id"), None, event.get("amount_minor") or 0,
                         event.get("currency") or "", received_at,
                         f"A {waiting.plugin_id} event ({event.get('state')}) fits no order: {waiting.reason}",
                         ("rematch",), inbound_id=waiting.inbound_id))
    return found


def _payment_row(kind: str, payment: Payment, reason: str, actions: tuple[str, ...], since=None) -> Row:
    return Row(kind, payment.id, payment.order_id, payment.id, payment.amount_minor, payment.currency,
               since or payment.updated_at, reason, actions)


def _paid_not_in_oms() -> list[Row]:
    """Money held or taken at the gateway for an order the OMS has cancelled."""
    query = (select(Payment).join(Order, Order.id == Payment.order_id)
             .where(Order.status == order_states.CANCELLED, Payment.status == "recorded",
                    Payment.state.in_(sorted(payments.payment_states.COUNTED | {AUTHORIZED})))
             .order_by(Payment.id).limit(MAX_ROWS_PER_KIND))
    found = []
    for payment in db.session.scalars(query):
        if payment.state == AUTHORIZED and not payment_ops.asked(payment, VOID_KIND):
            found.append(_payment_row("paid_not_in_oms", payment, "Authorized at the gateway, but the order is "
                                      "cancelled and nothing voids it.", ("refund",)))
        elif payment.state != AUTHORIZED and refunds.refundable(payment) > 0:
            found.append(_payment_row("paid_not_in_oms", payment, "Captured at the gateway, but the order is "
                                      "cancelled and the money not given back.", ("refund",)))
    return found


def _mismatches() -> list[Row]:
    query = (select(Payment).where(Payment.status == "flagged",
                                   Payment.state.in_(sorted(payments.payment_states.COUNTED | {AUTHORIZED})))
             .order_by(Payment.id).limit(MAX_ROWS_PER_KIND))
    found = []
    for payment in db.session.scalars(query):
        given_back = sum(r.amount_minor for r in payment.refunds if r.state != REFUND_FAILED)
        if given_back < payment.amount_minor:
            found.append(_payment_row("mismatch", payment, payment.flag_reason, ("accept", "refund")))
    return found


def _payment_attention() -> list[Row]:
    return [_payment_row("payment_attention", p, p.attention, ("done",))
            for p in reversed(payments.needing_attention(MAX_ROWS_PER_KIND))]


def _expiring_authorizations() -> list[Row]:
    days = runtime.whole_setting("AUTHORIZATION_WARN_DAYS", 0, 365)
    # Started before it was authorized: its age is at least the authorization's (listed early, never late).
    query = (select(Payment).where(Payment.state == AUTHORIZED, Payment.status == "recorded",
                                   Payment.created_at < utcnow() - timedelta(days=days))
             .order_by(Payment.id).limit(MAX_ROWS_PER_KIND))
    return [_payment_row("authorization_expiring", p, f"Started more than {days} days ago and still authorized, "
                         "not captured: card authorizations expire (Stripe's after 7 days).", ("capture",),
                         since=p.created_at)
            for p in db.session.scalars(query)]


def _refund_row(kind: str, refund: Refund, reason: str, actions: tuple[str, ...]) -> Row:
    return Row(kind, refund.id, refund.order_id, refund.payment_id, refund.amount_minor, refund.currency,
               refund.created_at, reason, actions)


def _pending_refunds() -> list[Row]:
    hours = runtime.whole_setting("REFUND_PENDING_WARN_HOURS", 0, 24 * 365)
    query = (select(Refund).where(Refund.state == REFUND_PENDING, Refund.created_at < utcnow() - timedelta(hours=hours))
             .order_by(Refund.id).limit(MAX_ROWS_PER_KIND))
    return [_refund_row("refund_pending", r, f"Pending at the gateway for more than {hours} hours.",
                        ("retry", "by_hand")) for r in db.session.scalars(query)]


def _failed_refunds() -> list[Row]:
    """Failed refunds not replaced by a later refund of the same amount from the same payment."""
    later = aliased(Refund)
    replaced = (select(later.id).where(later.payment_id == Refund.payment_id, later.id > Refund.id,
                                       later.amount_minor == Refund.amount_minor, later.state != REFUND_FAILED)
                .exists())
    query = (select(Refund).where(Refund.state == REFUND_FAILED, ~replaced).order_by(Refund.id)
             .limit(MAX_ROWS_PER_KIND))
    return [_refund_row("refund_failed", r, f"The gateway refused the refund: {r.error}", ("retry", "by_hand"))
            for r in db.session.scalars(query)]


def _dead_messages() -> list[Row]:
    query = (select(OutboxMessage).where(OutboxMessage.kind.in_(PAYMENT_MESSAGE_KINDS),
                                         OutboxMessage.status == "dead")
             .order_by(OutboxMessage.id).limit(MAX_ROWS_PER_KIND))
    return [Row("outbox_dead", m.id, m.order_id, m.payload.get("payment_id"), 0, "", m.created_at,
                f"{m.kind} gave up after {m.attempts} tries: {m.last_error}", ("retry",))
            for m in db.session.scalars(query)]


def act(kind: str, action: str, target_id: int, *, actor: str, reference: str = "") -> str:
    """Do one row's action; returns what was done, in words. Raises ValidationError
    for an action the row does not offer."""
    handler = _HANDLERS.get((kind, action))
    if handler is None:
        raise ValidationError(f"'{action}' is not an action on '{kind}' rows.")
    return handler(target_id, actor=actor, reference=reference)


def _rematch(waiting_id: int, **_) -> str:
    waiting = db.session.get(UnmatchedEvent, waiting_id) if isinstance(waiting_id, int) else None
    if waiting is None or waiting.source != inbox.PAYMENT:
        raise ValidationError("That event is no longer waiting (applied meanwhile?).")
    if not payments.rematch_unmatched(waiting.plugin_id, waiting.match_key):
        raise ValidationError(f"Still no {waiting.plugin_id} order for it: {waiting.reason}")
    return "Applied to its order."


def _refund_payment(payment_id: int, *, actor: str, **_) -> str:
    payment = db.session.get(Payment, payment_id) if isinstance(payment_id, int) else None
    if payment is not None and payment.state == AUTHORIZED:
        payment_ops.void_now(payment_id, actor=actor)
        return "The authorization will be voided."
    if payment is not None and payment.status == "flagged":
        refunds.refund_flagged(payment_id, actor=actor)
    else:
        refunds.refund_cancelled_payment(payment_id, actor=actor)
    return "The refund is on its way through the gateway."


def _retry_refund(refund_id: int, *, actor: str, **_) -> str:
    refund = refunds.retry(refund_id, actor=actor)
    return f"Refund #{refund.id} will be sent to the gateway again."


def _retry_message(message_id: int, **_) -> str:
    message = db.session.get(OutboxMessage, message_id) if isinstance(message_id, int) else None
    if message is None or message.kind not in PAYMENT_MESSAGE_KINDS:
        raise ValidationError("No such payment message.")
    outbox.retry_now(message_id)
    return f"Message #{message_id} will be sent again by the worker."


def _then(service, words: str):
    """An action that is one service call taking (id, actor=...), answered with `words`."""
    def run(target_id: int, *, actor: str, **_) -> str:
        service(target_id, actor=actor)
        return words
    return run


def _by_hand(refund_id: int, *, actor: str, reference: str) -> str:
    refunds.record_by_hand(refund_id, reference=reference, actor=actor)
    return "Recorded as refunded by hand."


_HANDLERS = {
    ("unmatched_event", "rematch"): _rematch,
    ("paid_not_in_oms", "refund"): _refund_payment,
    ("mismatch", "accept"): _then(payments.accept_flagged, "The payment counts now."),
    ("mismatch", "refund"): _refund_payment,
    ("payment_attention", "done"): _then(payments.acknowledge, "Marked as dealt with."),
    ("authorization_expiring", "capture"): _then(payment_ops.capture_now,
                                                 "The capture will be sent to the gateway now."),
    ("refund_pending", "retry"): _retry_refund,
    ("refund_pending", "by_hand"): _by_hand,
    ("refund_failed", "retry"): _retry_refund,
    ("refund_failed", "by_hand"): _by_hand,
    ("outbox_dead", "retry"): _retry_message,
}
