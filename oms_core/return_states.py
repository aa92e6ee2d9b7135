"""The return state machine (one return or exchange of some of an order's lines).

requested -> approved -> received -> refunded | exchanged -> closed
requested -> rejected (staff, with a reason) -> closed
requested -> cancelled (the customer changed their mind)

A return's state changes only through `services.returns`, which checks the edge
here and writes it on the order's timeline with actor, time and reason.
"""
from __future__ import annotations

from .errors import IllegalTransition
from .i18n import N_

REQUESTED = "requested"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"
RECEIVED = "received"
REFUNDED = "refunded"
EXCHANGED = "exchanged"
CLOSED = "closed"

STATES = (REQUESTED, APPROVED, REJECTED, CANCELLED, RECEIVED, REFUNDED, EXCHANGED, CLOSED)

TRANSITIONS: dict[str, frozenset[str]] = {
    REQUESTED: frozenset({APPROVED, REJECTED, CANCELLED}),
    APPROVED: frozenset({RECEIVED}),
    RECEIVED: frozenset({REFUNDED, EXCHANGED}),
    REFUNDED: frozenset({CLOSED}),
    EXCHANGED: frozenset({CLOSED}),
    REJECTED: frozenset({CLOSED}),
    CANCELLED: frozenset(),
    CLOSED: frozenset(),
}

# Returns whose units no longer count as returnable: everything but a refusal or a withdrawal.
DEAD = frozenset({REJECTED, CANCELLED})
# From here on the units counted are those staff received, not those asked for.
AFTER_RECEIPT = frozenset({RECEIVED, REFUNDED, EXCHANGED, CLOSED})
# Waiting on the shop: listed for staff.
OPEN = frozenset({REQUESTED, APPROVED, RECEIVED})

# Refund or exchange: what the customer wants back.
REFUND, EXCHANGE = "refund", "exchange"
OUTCOMES = {REFUND: N_("A refund"), EXCHANGE: N_("An exchange (the same items again)")}
# What staff do with a unit they received.
RESTOCK, WRITE_OFF = "restock", "write_off"
CONDITIONS = {RESTOCK: "Back to sellable stock", WRITE_OFF: "Write off"}

LABELS = {
    REQUESTED: N_("Requested"), APPROVED: N_("Approved"), REJECTED: N_("Rejected"), CANCELLED: N_("Cancelled"),
    RECEIVED: N_("Received"), REFUNDED: N_("Refunded"), EXCHANGED: N_("Exchanged"), CLOSED: N_("Closed"),
}


def check(current: str, target: str) -> None:
    """Raise IllegalTransition (changing nothing) unless current -> target is an edge."""
    if target not in TRANSITIONS.get(current, ()):
        error = IllegalTransition("return", current, target)
        error.args = (f"{error.args[0]} Not a next step from '{current}'.",)
        raise error
