"""Shipments: hand the order to a carrier and follow it to delivery.

A manual carrier (staff type the tracking number) ships at once. Any other carrier
is booked by the outbox worker, with the shipment id as idempotency key; the order
ships when the booking succeeds. Tracking events are normalised, kept raw and
de-duplicated; the shipment's status is that of its latest event by time, so
re-sent and re-ordered events change nothing.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from .. import order_states, runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..limits import EARLIEST_EVENT
from ..models import Order, Shipment, ShipmentEvent
from ..models._base import utcnow
from ..protocols import TRACKING_STATUSES, CarrierResult, TrackingUpdate
from . import outbox, stock, timeline
from .common import lock_order, optional_text
from .status import change

BOOK_KIND = "carrier.book"
STATUS_LABELS = {
    "unknown": "Status unknown", "pre_transit": "Label created", "in_transit": "In transit",
    "out_for_delivery": "Out for delivery", "available_for_pickup": "Ready for pick-up",
    "delivery_attempted": "Delivery attempted", "exception": "Delivery problem",
    "returned_to_sender": "Returned to sender", "delivered": "Delivered",
    "cancelled": "Shipment cancelled", "expired": "Tracking expired",
}


def _ship(order: Order, shipment: Shipment, *, actor: str, tx) -> None:
    """Goods handed over: stock leaves the shelf, the order is shipped."""
    for line in order.lines:
        stock.deduct_shipped(line.product_id, line.quantity, order_id=order.id, actor=actor)
    change(order, order_states.SHIPPED, actor=actor,
           reason=timeline.handed_to(shipment.carrier_name), tx=tx)


def create_shipment(order_id: int, *, carrier_id: str, service: str = "", carrier_name: str = "",
                    tracking_number: str = "", actor: str) -> Shipment:
    carrier = runtime.registry().carrier(carrier_id)
    service = optional_text(service, "Service", 100)
    tracking_number = optional_text(tracking_number, "Tracking number", 100).replace(" ", "")
    carrier_name = optional_text(carrier_name, "Carrier name", 100) or service or carrier.label
    if carrier.manual and not tracking_number:
        raise ValidationError("Type the carrier's tracking number.")
    with write_transaction() as tx:
        order = lock_order(order_id)
        if order.status in (order_states.PAID, order_states.CONFIRMED):
            change(order, order_states.FULFILLING, actor=actor, reason=timeline.FULFILMENT_STARTED, tx=tx)
        elif order.status != order_states.FULFILLING:
            order_states.check(order, order_states.FULFILLING)  # raises the clear error
        shipment = Shipment(order=order, carrier_id=carrier.id, carrier_name=carrier_name,
                            service=service, status="unknown")
        db.session.add(shipment)
        db.session.flush()
        timeline.record(order, timeline.SHIPMENT_CREATED, actor,
                        timeline.shipment_message(shipment.id, carrier_name, service))
        if carrier.manual:
            shipment.tracking_number = tracking_number
            shipment.tracking_url = carrier.tracking_url(tracking_number, service)
            shipment.status = "pre_transit"
            _ship(order, shipment, actor=actor, tx=tx)
        else:
            outbox.enqueue(BOOK_KIND, {"shipment_id": shipment.id}, key=f"shipment-{shipment.id}",
                           order_id=order.id)
        tx.after_commit(lambda: runtime.registry().hook.on_shipment_updated(
            order=order, shipment=shipment, event=None))
    return shipment


def _lock_shipment(shipment_id: int) -> tuple[Shipment, Order]:
    """Lock the shipment's order, then read the shipment: read before the lock, a
    concurrent writer's change (a booking recorded a moment ago) would be missed on
    PostgreSQL and the parcel shipped twice."""
    order_id = db.session.scalar(select(Shipment.order_id).where(Shipment.id == shipment_id))
    if order_id is None:
        raise NotFound(f"No shipment {shipment_id}.")
    order = lock_order(order_id)
    return db.session.get(Shipment, shipment_id, populate_existing=True), order


def apply_booking(shipment_id: int, result: CarrierResult) -> Shipment:
    """Record what the carrier answered to a booking (called by the outbox worker)."""
    with write_transaction() as tx:
        shipment, order = _lock_shipment(shipment_id)
        if not result.ok:
            shipment.booking_error = result.error or "The carrier refused the booking."
            return shipment
        if shipment.tracking_number:  # already booked: a repeated answer changes nothing
            return shipment
        shipment.booking_error = ""
        shipment.tracking_number = result.tracking_number
        shipment.tracking_url = result.tracking_url
        shipment.external_id = result.external_id
        shipment.status = "pre_transit"
        if order.status == order_states.FULFILLING:
            _ship(order, shipment, actor=f"carrier:{shipment.carrier_id}", tx=tx)
        else:
            # A further parcel of an order that has shipped already: its stock left
            # with the first parcel, so only the booking is recorded.
            timeline.record(order, timeline.SHIPMENT_BOOKED, f"carrier:{shipment.carrier_id}",
                            f"Shipment #{shipment.id} booked: {shipment.tracking_number}")
    return shipment


def event_dedupe_key(update: TrackingUpdate) -> str:
    """What tells a repeated carrier event from a new one (also used by the demo data)."""
    raw = "|".join([update.status, update.raw_code, update.occurred_at.isoformat(),
                    update.location, update.message])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def add_tracking_update(shipment_id: int, update: TrackingUpdate, *, source: str) -> ShipmentEvent | None:
    """Add one carrier event. Returns None when it was seen before."""
    if update.status not in TRACKING_STATUSES:
        raise ValidationError(f"Unknown tracking status '{update.status}'.")
    if update.occurred_at.tzinfo is None:
        raise ValidationError("Tracking event times need a timezone.")
    if update.occurred_at > utcnow() + timedelta(days=1):
        raise ValidationError("A tracking event cannot be in the future.")
    if update.occurred_at < EARLIEST_EVENT:
        raise ValidationError(f"A tracking event cannot be before {EARLIEST_EVENT:%Y}.")
    key = event_dedupe_key(update)
    with write_transaction() as tx:
        shipment, order = _lock_shipment(shipment_id)
        if db.session.scalar(select(ShipmentEvent.id).where(
                ShipmentEvent.shipment_id == shipment.id, ShipmentEvent.dedupe_key == key)):
            return None
        event = ShipmentEvent(shipment=shipment, status=update.status, raw_code=update.raw_code,
                              message=update.message, location=update.location,
                              occurred_at=update.occurred_at, dedupe_key=key, source=source)
        db.session.add(event)
        db.session.flush()
        latest = db.session.scalar(
            select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
            .order_by(ShipmentEvent.occurred_at.desc(), ShipmentEvent.id.desc()).limit(1))
        shipment.status = latest.status
        timeline.record(order, timeline.TRACKING_UPDATE, source,
                        timeline.tracking_message(STATUS_LABELS[update.status], update.location), public=True)
        if order.status == order_states.SHIPPED and _all_parcels_delivered(order.id):
            change(order, order_states.DELIVERED, actor=source, reason=timeline.CARRIER_DELIVERED, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_shipment_updated(
            order=order, shipment=shipment, event=event))
    return event


def _all_parcels_delivered(order_id: int) -> bool:
    """An order with several parcels is delivered when the last one is (cancelled
    bookings do not count)."""
    db.session.flush()
    pending = db.session.scalar(select(Shipment.id).where(
        Shipment.order_id == order_id, Shipment.status.not_in(("delivered", "cancelled"))).limit(1))
    return pending is None


def apply_carrier_updates(carrier_id: str, updates) -> int:
    """Webhook / polling entry point: route updates to shipments by tracking number.
    Returns how many were new; updates for unknown numbers are ignored."""
    numbers = {update.tracking_number for update in updates}
    shipment_ids = dict(db.session.execute(select(Shipment.tracking_number, Shipment.id).where(
        Shipment.carrier_id == carrier_id, Shipment.tracking_number.in_(numbers))).all()) if numbers else {}
    new = 0
    for update in updates:
        shipment_id = shipment_ids.get(update.tracking_number)
        if shipment_id is not None and add_tracking_update(
                shipment_id, update, source=f"carrier:{carrier_id}") is not None:
            new += 1
    return new


def shipments_for(order_id: int) -> list[Shipment]:
    return list(db.session.scalars(
        select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id)))


@outbox.handler(BOOK_KIND)
def _book_with_carrier(message) -> None:
    """Outbox handler: book a shipment with its carrier, idempotently."""
    from ..protocols import ShipmentRequest

    shipment = db.session.get(Shipment, message.payload["shipment_id"])
    if shipment is None or shipment.tracking_number:
        return  # gone, or booked by an earlier attempt whose answer was recorded
    order = shipment.order
    request = ShipmentRequest(shipment_id=shipment.id, order_number=order.number,
                              service=shipment.service, idempotency_key=message.idempotency_key,
                              destination_country=order.ship_country)
    carrier = runtime.registry().carrier(shipment.carrier_id)
    db.session.commit()
    result = carrier.create_shipment(request)
    apply_booking(shipment.id, result)
    if not result.ok:
        raise outbox.SendError(result.error or "The carrier refused the booking.")
