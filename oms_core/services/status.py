"""Change an order's status: the only place that assigns Order.status (a new order
is written placed, or confirmed at once, by orders.place_order, which records it
here with `placed`)."""
from __future__ import annotations

from types import SimpleNamespace

from .. import order_states, runtime
from ..db import Transaction, db
from ..models import Order
from ..models._base import utcnow
from . import documents, notifications, timeline

# Status changes the customer is told about by email.
NOTIFY_ON = {order_states.CONFIRMED, order_states.PAID, order_states.SHIPPED, order_states.DELIVERED}


def change(order: Order, target: str, *, actor: str, reason: str = "", tx: Transaction) -> None:
    """Move the order to `target` inside the caller's write transaction.

    Raises IllegalTransition (the caller's transaction then rolls back). Writes a
    public timeline event, queues the customer email in the outbox (same
    transaction), and calls the plugin hook after commit.
    """
    order_states.check(order, target)
    old = order.status
    order.status = target
    order.status_changed_at = utcnow()
    timeline.record(order, timeline.STATUS_CHANGED, actor, reason, public=True,
                    from_status=old, to_status=target)
    if target == order_states.CONFIRMED and documents.invoice_on_confirmation(order):
        documents.issue_invoice(order)  # before the email, which attaches it
    if target in NOTIFY_ON:
        notifications.queue_status_email(order, target)
    tx.after_commit(lambda: runtime.registry().hook.on_order_status_changed(
        order=order, old_status=old, new_status=target, actor=actor))


def record_new_order(order_id: int, *, channel: str, actor: str, confirmed: bool, tx: Transaction) -> Order:
    """Record a new order that place_order wrote placed or, `confirmed` at once (stock
    reserved, tracking code drawn), confirmed: the timeline shows both steps, and the
    confirmation brings its invoice, email and hook as `change` does. Returns the
    order, read through the ORM. The caller's write transaction."""
    events = [dict(kind=timeline.STATUS_CHANGED, actor=actor, message=timeline.placed_reason(channel),
                   public=True, to_status=order_states.PLACED)]
    if confirmed:
        order_states.check(SimpleNamespace(status=order_states.PLACED), order_states.CONFIRMED)
        events.append(dict(kind=timeline.STATUS_CHANGED, actor=actor, message=timeline.STOCK_RESERVED,
                           public=True, from_status=order_states.PLACED, to_status=order_states.CONFIRMED))
    timeline.record_rows(order_id, events)
    order = db.session.get(Order, order_id)
    if confirmed:
        invoice = [documents.issue_invoice(order).id] if documents.invoice_on_confirmation(order) else []
        notifications.queue_new_order_email(order, order_states.CONFIRMED, invoice)
        tx.after_commit(lambda: runtime.registry().hook.on_order_status_changed(
            order=order, old_status=order_states.PLACED, new_status=order_states.CONFIRMED, actor=actor))
    return order
