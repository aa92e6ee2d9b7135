"""Read-side views for the back-office: what an order page and a product page show,
and which actions staff may take on an order now. Read-only: nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from .. import limits, order_states
from ..db import db
from ..errors import NotFound
from ..models import (AssemblyJob, Complaint, Document, Order, Payment, Product, Refund, Shipment, StockMove,
                      TimelineEvent)
from . import (assembly, carrier_ops, catalog, complaints, documents, order_edits, parcels, refunds, returns, stock,
               unpaid)
from . import payments as payment_rules
from . import shipments as shipment_rules
from .payments import PAYABLE_STATES

# --------------------------------------------------------------- order page


@dataclass
class OrderDetail:
    order: Order
    payments: list[Payment]
    shipments: list[Shipment]
    refunds: list[Refund]
    refundable_minor: int  # captured and not refunded: what a refund may give back
    # Payments recorded by hand that cancelling or refunding gives back by hand (a reference).
    refunds_by_hand: bool
    events: list[TimelineEvent]  # all of them, private notes included, oldest first
    # What applies in the order's state: confirm, payment, refund, shipment, tracking, cancel, close,
    # note, edit.
    actions: frozenset[str]
    documents: list[Document] = field(default_factory=list)  # issued, oldest first
    # Shipping: units per order line not yet in a parcel, and the carrier and service
    # the destination rule picks for them (shop config), "" when none applies.
    remaining_units: dict[int, int] = field(default_factory=dict)
    default_carrier: str = ""
    default_service: str = ""
    assembly_job: AssemblyJob | None = None  # its assembly or installation job, if it has one
    returns: list = field(default_factory=list)  # its returns and exchanges (services.returns), oldest first
    complaints: list[Complaint] = field(default_factory=list)  # newest first

    @property
    def trackable_shipments(self) -> list[Shipment]:
        return [s for s in self.shipments if s.tracking_number]

    @property
    def voidable_shipment_ids(self) -> set[int]:
        """Parcels whose label the carrier can still void (not taken yet)."""
        return {s.id for s in self.shipments if carrier_ops.void_refusal(s) is None}

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
    if order_states.FULFILLING in targets or order.status in (
            order_states.FULFILLING, order_states.PARTIALLY_SHIPPED):
        actions.add("shipment")
    if any(s.tracking_number for s in shipments) and order.status not in (
            order_states.CANCELLED, order_states.CLOSED):
        actions.add("tracking")
    # Cancelling with money kept refunds it first (services.orders.cancel_order).
    if order_states.CANCELLED in targets or (
            order_states.CANCELLED in order_states.TRANSITIONS[order.status] and order.kept_minor > 0):
        actions.add("cancel")
    if order.payment_due_at is not None and order.status in unpaid.WAITING:
        actions.add("extend_deadline")  # services/unpaid.py
    if order.kept_minor > 0:
        actions.add("refund")
    if order_states.CLOSED in targets:
        actions.add("close")
    if order_edits.edit_refusal(order) is None:
        actions.add("edit")
    return frozenset(actions)


def order_detail(order_id: int) -> OrderDetail:
    if not limits.is_id(order_id):
        raise NotFound("No such order.")
    order = db.session.scalar(
        select(Order).where(Order.id == order_id)
        .options(joinedload(Order.customer), selectinload(Order.lines)))
    if order is None:
        raise NotFound(f"No order {order_id}.")
    shipments = list(db.session.scalars(
        select(Shipment).where(Shipment.order_id == order_id)
        .options(selectinload(Shipment.events)).order_by(Shipment.id)))
    payments = payment_rules.payments_for(order_id)
    events = list(db.session.scalars(
        select(TimelineEvent).where(TimelineEvent.order_id == order_id).order_by(TimelineEvent.id)))
    remaining = parcels.remaining_units(order)
    lines = {line.id: line for line in order.lines}
    weight = parcels.weight_grams([(lines[i], units) for i, units in remaining.items()], "") if remaining else 0
    default_carrier, default_service = parcels.default_choice(order, weight)
    return OrderDetail(order=order, payments=payments, shipments=shipments, refunds=refunds.refunds_for(order_id),
                       refundable_minor=refunds.refundable_total(order) if order.kept_minor > 0 else 0,
                       refunds_by_hand=refunds.by_hand(order), events=events,
                       actions=order_actions(order, shipments), documents=documents.documents_for(order_id),
                       remaining_units=remaining, default_carrier=default_carrier, default_service=default_service,
                       assembly_job=assembly.job_for_order(order_id), returns=returns.for_order(order_id),
                       complaints=complaints.for_order(order_id))


# --------------------------------------------------------------- product page


@dataclass
class ProductDetail:
    product: Product
    ledger: list[StockMove]  # newest first


def product_detail(product_id: int, *, limit: int = 200) -> ProductDetail:
    return ProductDetail(product=catalog.get_product(product_id),
                         ledger=stock.ledger(product_id, limit=limit))
