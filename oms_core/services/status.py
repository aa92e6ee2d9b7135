"""Change an order's status: the only place that assigns Order.status (a new order
is written placed, or confirmed at once, by orders.place_order, which records it
here with `placed`)."""
from __future__ import annotations

from types import SimpleNamespace

from .. import order_states, runtime
from ..db import Transaction
from ..models import Order
from ..models._base import utcnow
from . import assembly, documents, notifications, outbound_webhooks, timeline

# Status changes the customer is told about by email.
NOTIFY_ON = {order_states.CONFIRMED, order_states.PAID, order_states.SHIPPED, order_states.DELIVERED}
# A replacement sent for an exchange (services.returns) costs nothing: the return's own
# email announces it, so "confirmed" and "payment received" would only confuse.
QUIET_FOR_EXCHANGES = {order_states.CONFIRMED, order_states.PAID}


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
    _arrived(order, old, target, actor=actor, tx=tx)


def _arrived(order: Order, old: str, target: str, *, actor: str, tx: Transaction, new: bool = False) -> None:
    """What reaching `target` brings: the invoice, the assembly job, the customer's
    email, the webhooks, the plugin hook. `new`: an order written in this
    transaction, whose email key cannot exist yet (one INSERT, no lookup) and whose
    webhooks record_new_order queued."""
    invoice = None
    if target == order_states.CONFIRMED and documents.invoice_on_confirmation(order):
        invoice = documents.issue_invoice(order)  # before the email, which attaches it
    if target == order_states.CONFIRMED:
        assembly.order_confirmed(order, actor=actor)  # its job, once
    elif target == order_states.CANCELLED:
        assembly.order_cancelled(order, actor=actor)
    if target in NOTIFY_ON and not (order.channel == "exchange" and target in QUIET_FOR_EXCHANGES):
        if new:  # a new order's only document is the invoice just issued
            notifications.queue_new_order_email(order, target, [invoice.id] if invoice else [])
        else:
            notifications.queue_status_email(order, target)
    if not new:  # a new order's confirmation went out with its order.placed (record_new_order)
        outbound_webhooks.status_changed(order, old, target)
    tx.after_commit(lambda: runtime.registry().hook.on_order_status_changed(
        order=order, old_status=old, new_status=target, actor=actor))


def record_new_order(order: Order, *, channel: str, actor: str, confirmed: bool, webhooks: bool,
                     tx: Transaction) -> None:
    """Record a new order that place_order wrote placed or, `confirmed` at once (stock
    reserved, tracking code drawn), confirmed: the timeline shows both steps, the
    webhooks hear it placed (`webhooks`: whether any endpoint is active), and the
    confirmation brings what `change` brings. The caller's write transaction."""
    events = [dict(kind=timeline.STATUS_CHANGED, actor=actor, message=timeline.placed_reason(channel),
                   public=True, to_status=order_states.PLACED)]
    if confirmed:
        order_states.check(SimpleNamespace(status=order_states.PLACED), order_states.CONFIRMED)
        events.append(dict(kind=timeline.STATUS_CHANGED, actor=actor, message=timeline.STOCK_RESERVED,
                           public=True, from_status=order_states.PLACED, to_status=order_states.CONFIRMED))
    timeline.record_rows(order.id, events)
    if webhooks:
        outbound_webhooks.placed(order, confirmed=confirmed)
    if confirmed:
        _arrived(order, order_states.PLACED, order_states.CONFIRMED, actor=actor, tx=tx, new=True)
