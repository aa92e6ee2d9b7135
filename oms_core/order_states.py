"""The order state machine. The order's status changes only through `transition`.

placed -> confirmed (stock reserved) -> paid -> fulfilling -> [partially_shipped ->] shipped -> delivered
-> closed (partially shipped: some units are with the carrier, others not yet in a
booked parcel; a label voided before hand-over steps back to partially shipped or
fulfilling)
cancelled releases stock; with money kept it is refused: cancelling a paid order
goes through services.orders.cancel_order, which creates the refunds first, so an
order is never cancelled silently after money was taken. A payment that arrives
for a cancelled order reopens it (cancelled -> confirmed) when its stock allows.
Cash on delivery may be fulfilled before it is paid. A paid order an edit made
cost more goes back to confirmed until the difference is paid. Returns after
delivery are their own entity with their own machine (oms_core/return_states.py):
the order stays delivered (or closed) while its returns move.
"""
from __future__ import annotations

from typing import Callable

from .errors import IllegalTransition
from .i18n import N_

PLACED = "placed"
CONFIRMED = "confirmed"
PAID = "paid"
FULFILLING = "fulfilling"
PARTIALLY_SHIPPED = "partially_shipped"
SHIPPED = "shipped"
DELIVERED = "delivered"
CLOSED = "closed"
CANCELLED = "cancelled"

STATUSES = (PLACED, CONFIRMED, PAID, FULFILLING, PARTIALLY_SHIPPED, SHIPPED, DELIVERED, CLOSED, CANCELLED)

TRANSITIONS: dict[str, frozenset[str]] = {
    PLACED: frozenset({CONFIRMED, CANCELLED}),
    CONFIRMED: frozenset({PAID, FULFILLING, CANCELLED}),
    # Back to confirmed: an edit made a paid order cost more (services.order_edits).
    PAID: frozenset({FULFILLING, CANCELLED, CONFIRMED}),
    FULFILLING: frozenset({PARTIALLY_SHIPPED, SHIPPED}),
    # Back a step: a label voided before the carrier took the parcel.
    PARTIALLY_SHIPPED: frozenset({SHIPPED, FULFILLING}),
    SHIPPED: frozenset({DELIVERED, PARTIALLY_SHIPPED, FULFILLING}),
    DELIVERED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    CANCELLED: frozenset({CONFIRMED}),
}


def _unpaid_only_if_cash_on_delivery(order) -> str | None:
    # "authorized": the money is held and is captured when the order ships.
    if order.payment_status not in ("paid", "authorized") and not order.pays_on_delivery:
        return "the order must be paid first (only cash on delivery ships unpaid)"
    return None


def _no_money_kept(order) -> str | None:
    if order.paid_minor > order.refunded_minor:
        return "money has been taken for this order; cancelling it refunds it (give the refund reference)"
    return None


def _paid_in_full(order) -> str | None:
    # Refunds after payment (a broken item, goodwill) do not unpay it: it can still be closed.
    if order.paid_minor < order.total_minor or order.payment_status not in ("paid", "partially_refunded",
                                                                            "refunded"):
        return "the order is not paid in full"
    return None


def _money_arrived(order) -> str | None:
    if order.paid_minor <= order.refunded_minor and order.payment_status != "authorized":
        return "only a payment that arrives after cancelling reopens an order"
    return None


def _balance_due(order) -> str | None:
    if order.paid_minor >= order.total_minor:
        return "the order is paid in full"
    return None


# Extra conditions on some edges; each returns why the change is refused, or None.
GUARDS: dict[tuple[str, str], Callable] = {
    (CONFIRMED, FULFILLING): _unpaid_only_if_cash_on_delivery,
    (CONFIRMED, CANCELLED): _no_money_kept,
    (PLACED, CANCELLED): _no_money_kept,
    (PAID, CANCELLED): _no_money_kept,
    (CANCELLED, CONFIRMED): _money_arrived,
    (CONFIRMED, PAID): _paid_in_full,
    (PAID, CONFIRMED): _balance_due,
    (DELIVERED, CLOSED): _paid_in_full,
}

# Status changes the customer sees on the tracking page.
PUBLIC_LABELS = {
    PLACED: N_("Order received"),
    CONFIRMED: N_("Order confirmed"),
    PAID: N_("Payment received"),
    FULFILLING: N_("Being prepared"),
    PARTIALLY_SHIPPED: N_("Partly shipped"),
    SHIPPED: N_("Shipped"),
    DELIVERED: N_("Delivered"),
    CLOSED: N_("Completed"),
    CANCELLED: N_("Cancelled"),
}


def allowed_targets(order) -> list[str]:
    """Targets reachable from the order's status now, guards included."""
    return [t for t in sorted(TRANSITIONS[order.status]) if refusal(order, t) is None]


def refusal(order, target: str) -> str | None:
    if target not in TRANSITIONS.get(order.status, ()):
        return f"not a next step from '{order.status}'"
    guard = GUARDS.get((order.status, target))
    return guard(order) if guard else None


def check(order, target: str) -> None:
    """Raise IllegalTransition (changing nothing) unless order may move to target."""
    reason = refusal(order, target)
    if reason is not None:
        error = IllegalTransition("order", order.status, target)
        error.args = (f"{error.args[0]} {reason[0].upper()}{reason[1:]}.",)
        raise error
