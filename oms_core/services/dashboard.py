"""What needs the staff's attention now. Each count is defined once, as a condition
on orders (`attention_clause`), which the dashboard counts and the back-office lists."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, union

from .. import order_states, runtime
from ..db import db
from ..models import Order, OutboxMessage, Product, Shipment
from ..models._base import utcnow

ATTENTION_SHIPMENT_STATUSES = ("exception", "delivery_attempted", "returned_to_sender")


@dataclass
class Attention:
    unconfirmed: int
    unpaid: int
    unshipped_late: int
    shipment_problems: int
    low_stock: list[Product]
    outbox_failures: int


def attention_clause(kind: str):
    """The condition on Order for one attention list: unconfirmed, unpaid, late,
    shipment_problems. Written so the (status, id) and shipment indexes apply."""
    if kind == "unconfirmed":
        return Order.status == order_states.PLACED
    if kind == "unpaid":
        return (Order.status == order_states.CONFIRMED) & Order.pays_on_delivery.is_(False)
    if kind == "late":
        cutoff = utcnow() - timedelta(days=runtime.setting("UNSHIPPED_AFTER_DAYS"))
        # Paid, being fulfilled, or cash on delivery (which ships unpaid).
        ready_to_ship = Order.status.in_(
            [order_states.PAID, order_states.FULFILLING, order_states.CONFIRMED]
        ) & ((Order.status != order_states.CONFIRMED) | Order.pays_on_delivery.is_(True))
        return ready_to_ship & (Order.status_changed_at < cutoff)
    if kind == "shipment_problems":
        # Two indexed lookups instead of one OR that would scan every shipment.
        problems = union(
            select(Shipment.order_id).where(Shipment.status.in_(ATTENTION_SHIPMENT_STATUSES)),
            select(Shipment.order_id).where(Shipment.tracking_number.is_(None),
                                            Shipment.booking_error != "", Shipment.status != "cancelled"),
        )
        return Order.id.in_(select(problems.subquery().c.order_id))
    raise ValueError(f"unknown attention list {kind!r}")


def _count(kind: str) -> int:
    return db.session.scalar(select(func.count(Order.id)).where(attention_clause(kind))) or 0


def attention() -> Attention:
    return Attention(
        unconfirmed=_count("unconfirmed"),
        unpaid=_count("unpaid"),
        unshipped_late=_count("late"),
        shipment_problems=_count("shipment_problems"),
        low_stock=list(db.session.scalars(
            select(Product).where(Product.active.is_(True),
                                  Product.on_hand - Product.reserved <= Product.low_stock_threshold)
            .order_by(Product.on_hand - Product.reserved, Product.sku).limit(50))),
        outbox_failures=db.session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status.in_(("pending", "dead")), OutboxMessage.attempts > 0)) or 0,
    )
