"""Change an order's status: the only place that assigns Order.status."""
from __future__ import annotations

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
    if target == order_states.CONFIRMED and documents.invoice_on_confirmation(order):
        documents.issue_invoice(order)  # before the email, which attaches it
    if target == order_states.CONFIRMED:
        assembly.order_confirmed(order, actor=actor)  # its job, once
    elif target == order_states.CANCELLED:
        assembly.order_cancelled(order, actor=actor)
    if target in NOTIFY_ON and not (order.channel == "exchange" and target in QUIET_FOR_EXCHANGES):
        notifications.queue_status_email(order, target)
    outbound_webhooks.status_changed(order, old, target)
    tx.after_commit(lambda: runtime.registry().hook.on_order_status_changed(
        order=order, old_status=old, new_status=target, actor=actor))
