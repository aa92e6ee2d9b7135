"""What needs the staff's attention now."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

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


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def attention() -> Attention:
    days = runtime.setting("UNSHIPPED_AFTER_DAYS")
    cutoff = utcnow() - timedelta(days=days)
    ready_to_ship = (
        (Order.status == order_states.PAID)
        | ((Order.status == order_states.CONFIRMED) & Order.pays_on_delivery.is_(True))
        | (Order.status == order_states.FULFILLING)
    )
    return Attention(
        unconfirmed=_count(select(Order.id).where(Order.status == order_states.PLACED)),
        unpaid=_count(select(Order.id).where(Order.status == order_states.CONFIRMED,
                                             Order.pays_on_delivery.is_(False))),
        unshipped_late=_count(select(Order.id).where(ready_to_ship, Order.status_changed_at < cutoff)),
        shipment_problems=_count(select(Shipment.id).where(
            Shipment.status.in_(ATTENTION_SHIPMENT_STATUSES)
            | (Shipment.booking_error != ""))),
        low_stock=list(db.session.scalars(
            select(Product).where(Product.active.is_(True),
                                  Product.on_hand - Product.reserved <= Product.low_stock_threshold)
            .order_by(Product.on_hand - Product.reserved, Product.sku).limit(50))),
        outbox_failures=_count(select(OutboxMessage.id).where(
            OutboxMessage.status != "sent", OutboxMessage.attempts > 0)),
    )
