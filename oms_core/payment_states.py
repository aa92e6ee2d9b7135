"""The payment state machine (docs/architecture.md, "Payment").

A payment is the core's copy of one gateway object. Gateways report the object's
state in their events, which arrive late, twice or out of order; the core keeps
the furthest state by RANK and the largest refunded amount seen, so every order
and duplication of the same events ends in the same place (`merge` is a
lexicographic maximum: commutative, associative and idempotent).

intent_created < failed < authorized < voided < captured < partially_refunded < refunded < disputed

A failure ranks low because the customer may try again on the same object; a
void and a capture exclude each other, so their order only has to be fixed, not
meaningful. Staff-recorded payments (bank transfer, cash) enter `captured`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .protocols import (
    AUTHORIZED,
    CAPTURED,
    DISPUTED,
    FAILED,
    INTENT_CREATED,
    PARTIALLY_REFUNDED,
    REFUNDED,
    VOIDED,
)

RANK = {state: rank for rank, state in enumerate((
    INTENT_CREATED, FAILED, AUTHORIZED, VOIDED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED))}
# States in which the payment's money was taken: it counts towards the order
# (unless flagged). A disputed payment still counts until the bank decides.
COUNTED = frozenset({CAPTURED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED})
# A payment still open for the customer to complete: pay now reuses it.
OPEN = frozenset({INTENT_CREATED})
LABELS = {
    INTENT_CREATED: "Started", FAILED: "Failed", AUTHORIZED: "Authorized", VOIDED: "Voided",
    CAPTURED: "Captured", PARTIALLY_REFUNDED: "Partially refunded", REFUNDED: "Refunded",
    DISPUTED: "Disputed",
}


@dataclass(frozen=True)
class Snapshot:
    """What one event (or the stored row) says about the gateway object."""

    state: str
    amount_minor: int
    amount_refunded_minor: int = 0


def merge(current: Snapshot | None, incoming: Snapshot) -> Snapshot:
    """The furthest state with its amount (at equal state, the larger amount), and
    the largest refunded amount."""
    if current is None:
        return incoming
    ahead = max(current, incoming, key=lambda s: (RANK[s.state], s.amount_minor))
    return Snapshot(ahead.state, ahead.amount_minor,
                    max(current.amount_refunded_minor, incoming.amount_refunded_minor))


def after_refunds(snapshot: Snapshot) -> Snapshot:
    """A captured payment with refunds is (partially) refunded: the state its
    refunds imply, merged so it never moves back."""
    if snapshot.state not in COUNTED or snapshot.amount_refunded_minor <= 0:
        return snapshot
    implied = REFUNDED if snapshot.amount_refunded_minor >= snapshot.amount_minor else PARTIALLY_REFUNDED
    return merge(snapshot, Snapshot(implied, snapshot.amount_minor, snapshot.amount_refunded_minor))


def counted(state: str) -> bool:
    return state in COUNTED


def check(state: str) -> None:
    if state not in RANK:
        from .errors import ValidationError

        raise ValidationError(f"Unknown payment state '{state}'.")
