"""Read-side views for the back-office: what an order page, the products page and the
dashboard show, and which actions staff may take on an order now.

Read-only: nothing here writes. The lists use keyset pagination on indexed columns
and never count all rows, like `queries.list_orders`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from .. import order_states
from ..db import db
from ..errors import NotFound, ValidationError
from ..models import Order, OutboxMessage, Payment, Product, Shipment, StockMove, TimelineEvent
from . import dashboard, outbox, shipments as shipment_rules
from .payments import PAYABLE_STATES
from .queries import OrderPage, keyset_page

# --------------------------------------------------------------- order page

ACTIONS = ("confirm", "payment", "shipment", "tracking", "cancel", "close", "note")


@dataclass
class OrderDetail:
    order: Order
    payments: list[Payment]
    shipments: list[Shipment]
    events: list[TimelineEvent]  # all of them, private notes included, oldest first
    actions: frozenset[str]      # names from ACTIONS that apply in the order's state

    @property
    def trackable_shipments(self) -> list[Shipment]:
        return [s for s in self.shipments if s.tracking_number]

    @property
    def cancellable_shipment_ids(self) -> set[int]:
        """Shipments whose booking failed, which staff may give up."""
        return {s.id for s in self.shipments if shipment_rules.cancel_refusal(s) is None}


def order_actions(order: Order, shipments: list[Shipment]) -> frozenset[str]:
    """What staff may do next, from the state machine and the order's data, so the
    page offers no button that can only fail."""
    targets = set(order_states.allowed_targets(order))
    actions = {"note"}
    if order_states.CONFIRMED in targets:
        actions.add("confirm")
    if order.status in PAYABLE_STATES and order.balance_minor > 0:
        actions.add("payment")
    if order_states.FULFILLING in targets or order.status == order_states.FULFILLING:
        actions.add("shipment")
    if any(s.tracking_number for s in shipments) and order.status not in (
            order_states.CANCELLED, order_states.CLOSED):
        actions.add("tracking")
    if order_states.CANCELLED in targets:
        actions.add("cancel")
    if order_states.CLOSED in targets:
        actions.add("close")
    return frozenset(actions)


def order_detail(order_id: int) -> OrderDetail:
    order = db.session.scalar(
        select(Order).where(Order.id == order_id)
        .options(joinedload(Order.customer), selectinload(Order.lines)))
    if order is None:
        raise NotFound(f"No order {order_id}.")
    shipments = list(db.session.scalars(
        select(Shipment).where(Shipment.order_id == order_id)
        .options(selectinload(Shipment.events)).order_by(Shipment.id)))
    payments = list(db.session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))
    events = list(db.session.scalars(
        select(TimelineEvent).where(TimelineEvent.order_id == order_id).order_by(TimelineEvent.id)))
    return OrderDetail(order=order, payments=payments, shipments=shipments, events=events,
                       actions=order_actions(order, shipments))


# --------------------------------------------------------------- attention lists

# The orders behind the dashboard's counts (dashboard.attention_clause is the one definition).
ATTENTION_LISTS = {
    "unconfirmed": "Not confirmed yet",
    "unpaid": "Confirmed, waiting for payment",
    "late": "Ready but not shipped in time",
    "shipment_problems": "Shipment problems",
}


def _attention_clause(kind: str):
    if kind not in ATTENTION_LISTS:
        raise ValidationError(f"Unknown list '{kind}'.")
    return dashboard.attention_clause(kind)


def attention_orders(kind: str, *, before: int | None = None, limit: int = 50) -> OrderPage:
    """One page (newest first) of the orders a dashboard count stands for."""
    query = select(Order).options(joinedload(Order.customer)).where(_attention_clause(kind))
    return keyset_page(query, before=before, limit=limit)


# --------------------------------------------------------------- dashboard


@dataclass
class DashboardView:
    attention: dashboard.Attention
    outbox_problems: list[OutboxMessage]


def dashboard_view() -> DashboardView:
    return DashboardView(attention=dashboard.attention(), outbox_problems=outbox.problems())


def outbox_problems() -> list[OutboxMessage]:
    return outbox.problems()


# --------------------------------------------------------------- products


@dataclass
class ProductPage:
    products: list[Product]
    next_after: str | None  # pass as `after` (a SKU) for the next page


def product_page(*, after: str | None = None, search: str = "", limit: int = 100) -> ProductPage:
    """Products by SKU, keyset paginated; `search` is a SKU or name prefix."""
    query = select(Product)
    term = (search or "").strip()
    if term:
        query = query.where((Product.sku >= term) & (Product.sku < term + "\uffff")
                            | Product.name.ilike(term.replace("%", r"\%").replace("_", r"\_") + "%",
                                                 escape="\\"))
    if after:
        query = query.where(Product.sku > after)
    rows = list(db.session.scalars(query.order_by(Product.sku).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ProductPage(products=rows, next_after=rows[-1].sku if more and rows else None)


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product #{product_id}.")
    return product


@dataclass
class ProductDetail:
    product: Product
    ledger: list[StockMove]  # newest first


def product_detail(product_id: int, *, limit: int = 200) -> ProductDetail:
    from .stock import ledger

    product = get_product(product_id)
    return ProductDetail(product=product, ledger=ledger(product_id, limit=limit))


def products_for_order_form() -> list[Product]:
    """Active products staff can put on a hand-entered order, by name."""
    return list(db.session.scalars(
        select(Product).where(Product.active.is_(True)).order_by(Product.name, Product.sku)))
