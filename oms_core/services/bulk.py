"""Bulk actions on orders picked in the list: confirm, create shipments with the
preferred carrier, print packing slips, export (docs/architecture.md, "Bulk actions").

Each action takes up to limits.MAX_BULK_ORDERS ids and reports, per order, whether
it succeeded and, if not, why it was refused. Each order's change is its own call
to the service that owns it, in its own transaction: one refusal (out of stock, a
wrong status) changes nothing of that order and undoes nothing of the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from .. import limits, runtime, shipping_config
from ..db import db
from ..errors import DomainError, ValidationError
from ..models import Document, Order, Shipment
from . import csv_export, documents, labels, orders, parcels, shipments

ACTIONS = {"confirm": "Confirm", "ship": "Create shipments", "slips": "Packing slips", "export": "Export CSV"}
# Actions whose result is a file to download as well as the report.
FILE_ACTIONS = frozenset({"slips", "export"})


@dataclass(frozen=True)
class Outcome:
    order_id: int
    number: str  # "" for an id that is no order
    ok: bool
    message: str


@dataclass
class Report:
    action: str
    outcomes: list[Outcome] = field(default_factory=list)
    data: bytes | None = None  # the PDF or CSV of the orders that succeeded
    filename: str = ""
    media_type: str = ""

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def check_ids(order_ids) -> list[int]:
    """1 to MAX_BULK_ORDERS order ids, each a possible id, duplicates dropped (the
    first kept, so the report follows the list's order)."""
    order_ids = list(order_ids or ())
    if not order_ids:
        raise ValidationError("Pick at least one order.")
    if len(order_ids) > limits.MAX_BULK_ORDERS:
        raise ValidationError(f"Pick at most {limits.MAX_BULK_ORDERS} orders at once.")
    if not all(limits.is_id(order_id) for order_id in order_ids):
        raise ValidationError("Pick orders from the list.")
    return list(dict.fromkeys(order_ids))


def run(action: str, order_ids, *, actor: str) -> Report:
    """Perform `action` on every order; bad ids or too many refuse the whole request."""
    if action not in ACTIONS:
        raise ValidationError("Pick one of the bulk actions.")
    order_ids = check_ids(order_ids)
    return _RUNNERS[action](order_ids, actor)


def _each(action: str, order_ids: list[int], step: Callable[[Order], str]) -> Report:
    """Run `step` per order (it returns what succeeded, or raises why not)."""
    found = {order.id: order for order in db.session.scalars(select(Order).where(Order.id.in_(order_ids)))}
    numbers = {order_id: order.number for order_id, order in found.items()}
    db.session.commit()  # end the read: each step opens its own write transaction
    report = Report(action)
    for order_id in order_ids:
        if order_id not in found:
            report.outcomes.append(Outcome(order_id, "", False, f"No order {order_id}."))
            continue
        try:
            message = step(db.session.get(Order, order_id))
        except DomainError as exc:
            db.session.rollback()
            report.outcomes.append(Outcome(order_id, numbers[order_id], False, str(exc)))
        else:
            report.outcomes.append(Outcome(order_id, numbers[order_id], True, message))
    return report


def confirm(order_ids: list[int], actor: str) -> Report:
    def step(order: Order) -> str:
        orders.confirm_order(order.id, actor=actor)
        return "Confirmed; stock reserved."
    return _each("confirm", order_ids, step)


def ship(order_ids: list[int], actor: str) -> Report:
    """Every unit not yet in a parcel, in one parcel with the default packaging, to
    the carrier and service the shop's rule picks for its destination and weight."""
    preset = shipping_config.default_packaging()
    packaging = preset.code if preset else ""

    def step(order: Order) -> str:
        left = parcels.remaining_units(order)
        if not left:
            raise ValidationError("Every unit of this order is in a parcel already.")
        lines = {line.id: line for line in order.lines}
        weight = parcels.weight_grams([(lines[i], units) for i, units in left.items()], packaging)
        carrier_id, service = parcels.default_choice(order, weight)
        if not carrier_id:
            raise ValidationError(f"No shipping rule picks a carrier for {order.ship_country or 'this address'} "
                                  f"at {weight} g: create the parcel on the order page.")
        if runtime.registry().carrier(carrier_id).manual:
            raise ValidationError("The preferred carrier is booked by hand: type its tracking number "
                                  "on the order page.")
        shipment = shipments.create_shipment(order.id, carrier_id=carrier_id, service=service,
                                             packaging=packaging, actor=actor)
        return f"Parcel #{shipment.id} with {shipment.carrier_name}: booking queued."
    return _each("ship", order_ids, step)


def _slip(order_id: int) -> list[bytes]:
    """The packing slips of the order's parcels that are not cancelled."""
    document_ids = db.session.scalars(
        select(Document.id).join(Shipment, Shipment.id == Document.source_id)
        .where(Document.source_kind == "shipment", Shipment.order_id == order_id, Shipment.status != "cancelled")
        .order_by(Shipment.id))
    return [documents.download(order_id, document_id)[1] for document_id in document_ids]


def slips(order_ids: list[int], actor: str) -> Report:
    """One PDF with the packing slips of every order that has a parcel."""
    pdfs: list[bytes] = []

    def step(order: Order) -> str:
        found = _slip(order.id)
        if not found:
            raise ValidationError("No parcel yet: create a shipment first.")
        pdfs.extend(found)
        return f"{len(found)} packing slip{'s' if len(found) > 1 else ''}."
    report = _each("slips", order_ids, step)
    if pdfs:
        report.data, report.filename, report.media_type = labels.join_pdfs(pdfs), "packing-slips.pdf", "application/pdf"
    return report


def export(order_ids: list[int], actor: str) -> Report:
    picked: list[Order] = []

    def step(order: Order) -> str:
        picked.append(order)
        return "Exported."
    report = _each("export", order_ids, step)
    if picked:
        # The orders list's own export, for the picked orders (one definition of its columns).
        data = "".join(csv_export.export_orders(ids=[order.id for order in picked])).encode("utf-8")
        report.data, report.filename, report.media_type = data, "orders.csv", "text/csv; charset=utf-8"
    return report


_RUNNERS = {"confirm": confirm, "ship": ship, "slips": slips, "export": export}
