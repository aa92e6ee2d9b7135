"""What needs the staff's attention now: the dashboard and the order lists behind
its counts. Each count is defined once, as a condition on orders
(`attention_clause`), which the dashboard counts and `attention_orders` lists."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, union
from sqlalchemy.orm import joinedload

from .. import order_states, runtime
from ..db import db
from ..errors import ValidationError
from ..models import Order, OutboxMessage, Payment, Product, Refund, Shipment
from ..models._base import utcnow
from ..money import format_amount
from ..protocols import REFUND_FAILED
from . import complaints, inbox, outbox, payments, refunds, replenishment
from .queries import OrderPage, keyset_page

ATTENTION_SHIPMENT_STATUSES = ("exception", "delivery_attempted", "returned_to_sender")
# The order lists behind the dashboard's counts, with their titles.
ATTENTION_LISTS = {
    "unconfirmed": "Not confirmed yet",
    "unpaid": "Confirmed, waiting for payment",
    "late": "Ready but not shipped in time",
    "shipment_problems": "Shipment problems",
    "payment_problems": "Payment problems",
}


@dataclass
class Attention:
    unconfirmed: int
    unpaid: int
    unshipped_late: int
    shipment_problems: int
    payment_problems: int
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
        return late_clause(runtime.setting("UNSHIPPED_AFTER_DAYS"))
    if kind == "shipment_problems":
        # Two indexed lookups instead of one OR that would scan every shipment.
        problems = union(
            select(Shipment.order_id).where(Shipment.status.in_(ATTENTION_SHIPMENT_STATUSES)),
            select(Shipment.order_id).where(Shipment.tracking_number.is_(None),
                                            Shipment.booking_error != "", Shipment.status != "cancelled"),
        )
        return Order.id.in_(select(problems.subquery().c.order_id))
    if kind == "payment_problems":
        # A capture or void the gateway refused, a late payment given back, a refund refused.
        problems = union(select(Payment.order_id).where(Payment.attention != ""),
                         select(Refund.order_id).where(Refund.state == REFUND_FAILED))
        return Order.id.in_(select(problems.subquery().c.order_id))
    raise ValueError(f"unknown attention list {kind!r}")


def late_clause(days: int, *, now=None):
    """Orders ready to ship for more than `days` days: paid, being fulfilled (some
    parcels gone, maybe), or cash on delivery (which ships unpaid). Also the staff
    alert's condition (services/alerts.py), with the same OMS_UNSHIPPED_AFTER_DAYS."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    ready_to_ship = Order.status.in_(
        [order_states.PAID, order_states.FULFILLING, order_states.PARTIALLY_SHIPPED, order_states.CONFIRMED]
    ) & ((Order.status != order_states.CONFIRMED) | Order.pays_on_delivery.is_(True))
    return ready_to_ship & (Order.status_changed_at < cutoff)


def _count(kind: str) -> int:
    return db.session.scalar(select(func.count(Order.id)).where(attention_clause(kind))) or 0


def attention() -> Attention:
    return Attention(
        unconfirmed=_count("unconfirmed"),
        unpaid=_count("unpaid"),
        unshipped_late=_count("late"),
        shipment_problems=_count("shipment_problems"),
        payment_problems=_count("payment_problems"),
        low_stock=list(db.session.scalars(
            select(Product).where(Product.active.is_(True),
                                  Product.on_hand - Product.reserved <= Product.low_stock_threshold)
            .order_by(Product.on_hand - Product.reserved, Product.sku).limit(50))),
        outbox_failures=db.session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status.in_(("pending", "dead")), OutboxMessage.attempts > 0)) or 0,
    )


def attention_orders(kind: str, *, before: int | None = None, limit: int = 50) -> OrderPage:
    """One page (newest first) of the orders a dashboard count stands for."""
    if kind not in ATTENTION_LISTS:
        raise ValidationError(f"Unknown list '{kind}'.")
    query = select(Order).options(joinedload(Order.customer)).where(attention_clause(kind))
    return keyset_page(query, before=before, limit=limit)


@dataclass
class DashboardView:
    attention: Attention
    outbox_problems: list[OutboxMessage]
    stockouts: list[replenishment.Row]  # expected to run out before a reorder could arrive
    inbox_waiting: int  # webhook deliveries with events unmatched for too long
    payment_problems: list[tuple[int, str]]  # (order id, what is wrong), newest first
    complaints_waiting: int = 0  # complaints waiting on our answer
    waiting_complaints: list = ()  # complaints.Waiting, the oldest wait first


def dashboard_view() -> DashboardView:
    waiting_count, waiting = complaints.waiting_on_us()
    return DashboardView(attention=attention(), outbox_problems=outbox.problems(),
                         stockouts=replenishment.expected_stockouts(), inbox_waiting=inbox.waiting_count(),
                         payment_problems=payment_problems(), complaints_waiting=waiting_count,
                         waiting_complaints=waiting)


def payment_problems(limit: int = 50) -> list[tuple[int, str]]:
    """What went wrong with money, with the reason: for the dashboard's list."""
    found = [(p.id, p.order_id, p.attention) for p in payments.needing_attention(limit)]
    found += [(r.id, r.order_id, f"Refund of {format_amount(r.amount_minor, r.currency)} refused: {r.error}")
              for r in refunds.failed(limit)]
    return [(order_id, reason) for _, order_id, reason in sorted(found, reverse=True)[:limit]]
