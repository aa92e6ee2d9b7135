"""Shipments: hand the order to a carrier and follow it to delivery.

A manual carrier (staff type the tracking number) ships at once. Any other carrier
is booked by the outbox worker, with the shipment's random booking key as
idempotency key; the order ships when the booking succeeds. A booking that failed
for good can be cancelled by staff and the goods sent in another parcel.

Tracking events are normalised, kept raw and de-duplicated: by the carrier's event
id when it sends one, else by their content. A shipment's status is that of its
latest event by the carrier's time, so re-sent and re-ordered events change
nothing. Carrier events that arrive before their tracking number is recorded wait
in the inbox (services.inbox) and are applied in the transaction that records it.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import case, func, select

from .. import limits, order_states, runtime, shipping_config
from ..db import db, is_postgres, write_transaction
from ..errors import NotFound, ValidationError
from ..i18n import N_
from ..limits import EARLIEST_EVENT
from ..models import Order, Shipment, ShipmentEvent, ShipmentLine
from ..models._base import utcnow
from ..protocols import TRACKING_STATUSES, CarrierResult, CarrierService, TrackingUpdate
from . import alerts, documents, inbox, labels, outbox, parcels, payment_ops, stock, timeline
from . import shipping_emails as emails
from .common import lock_order, optional_text
from .status import change

BOOK_KIND = "carrier.book"
CANCELLED, DELIVERED = "cancelled", "delivered"
STATUS_LABELS = {
    "unknown": N_("Status unknown"), "pre_transit": N_("Label created"), "in_transit": N_("In transit"),
    "out_for_delivery": N_("Out for delivery"), "available_for_pickup": N_("Ready for pick-up"),
    "delivery_attempted": N_("Delivery attempted"), "exception": N_("Delivery problem"),
    "returned_to_sender": N_("Returned to sender"), "delivered": N_("Delivered"),
    "cancelled": N_("Shipment cancelled"), "expired": N_("Tracking expired"),
}
# Of two events at the same carrier time the one further along wins: a parcel
# reported in transit and delivered in the same second is delivered.
STATUS_RANK = {status: rank for rank, status in enumerate((
    "unknown", "pre_transit", "in_transit", "available_for_pickup", "out_for_delivery",
    "delivery_attempted", "exception", "expired", "returned_to_sender", "cancelled", "delivered"))}
# Longest text of each field of a TrackingUpdate (the columns' sizes).
UPDATE_TEXT_LIMITS = (("tracking_number", 100), ("raw_code", 100), ("location", 200), ("message", 2000))


# ------------------------------------------------------------------ creating and booking


def _chosen_service(carrier, code: str) -> CarrierService | None:
    """The service staff picked: one the carrier offers (its only one when none is
    named). None for a carrier that lists no services: the code is then free text."""
    services = list(carrier.services())
    if not services:
        return None
    if not code and len(services) == 1:
        return services[0]
    for service in services:
        if service.code == code:
            return service
    raise ValidationError(f"Pick one of {carrier.label}'s services.")


def lock_tracking_numbers(carrier_id: str, numbers: Iterable[str]) -> None:
    """PostgreSQL: serialise recording a tracking number with the webhook deliveries
    that look it up (a transaction-scoped advisory lock per carrier and number), so
    an event kept as unmatched a moment before the booking lands is seen by the
    booking's re-match. (SQLite's BEGIN IMMEDIATE serialises all writers already.)
    Taken before any row lock and in sorted order, so they never deadlock."""
    if not is_postgres():
        return
    for number in sorted(set(numbers)):
        digest = hashlib.sha256(f"{carrier_id}\n{number}".encode()).digest()
        db.session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


def _lock_shipment(shipment_id: int, *, tracking_number: str | None = None) -> tuple[Shipment, Order]:
    """Lock the shipment's order, then read the shipment: read before the lock, a
    concurrent writer's change (a booking recorded a moment ago) would be missed on
    PostgreSQL and the parcel shipped twice. With `tracking_number` (about to be
    recorded), its advisory lock is taken first."""
    found = db.session.execute(select(Shipment.order_id, Shipment.carrier_id).where(
        Shipment.id == shipment_id)).first()
    if found is None:
        raise NotFound(f"No shipment {shipment_id}.")
    if tracking_number:
        lock_tracking_numbers(found.carrier_id, [tracking_number])
    order = lock_order(found.order_id)
    return db.session.get(Shipment, shipment_id, populate_existing=True), order


def _handed_over(order: Order, shipment: Shipment, *, actor: str, tx) -> None:
    """A parcel got its tracking number: its units leave the shelf (one ledger row
    per line). The order is shipped once every unit is in a booked parcel, partially
    shipped before; the first parcel captures money held until shipping. Carrier
    events that arrived for the number before it was known are applied now."""
    for item in shipment.lines:
        stock.deduct_shipped(item.order_line.product_id, item.quantity, order_id=order.id, actor=actor)
    db.session.flush()
    first = order.status == order_states.FULFILLING
    target = order_states.SHIPPED if parcels.all_units_handed_over(order) else order_states.PARTIALLY_SHIPPED
    moves = order.status in (order_states.FULFILLING, order_states.PARTIALLY_SHIPPED) and target != order.status
    if moves:
        change(order, target, actor=actor, reason=timeline.handed_to(shipment.carrier_name), tx=tx)
    else:
        timeline.record(order, timeline.SHIPMENT_BOOKED, actor,
                        f"Shipment #{shipment.id} booked: {shipment.tracking_number}")
    if not (moves and target == order_states.SHIPPED):
        emails.parcel_shipped(order, shipment)
    # else the order's "shipped" email, sent now, names its parcels
    if first:
        payment_ops.capture_held(order)  # money held until shipping is taken now
    _apply_unmatched(shipment)


def create_shipment(order_id: int, *, carrier_id: str, service: str = "", carrier_name: str = "",
                    tracking_number: str = "", actor: str, lines: dict[int, int] | None = None,
                    packaging: str = "", ship_from: str = "", signature: bool = False,
                    insurance_minor: int = 0, rate_id: str = "") -> Shipment:
    """A parcel for the order with one of the carrier's services. `lines` maps order
    line ids to units in this parcel; None: every unit not yet in a parcel.
    `carrier_name` is the company typed by staff for a service that names none (the
    manual carrier's "Other"). `packaging` and `ship_from` are codes of the shop's
    presets and addresses (oms_core/shipping_config.py); `rate_id` a quote of the
    carrier's that staff picked."""
    carrier = runtime.registry().carrier(carrier_id)
    code = optional_text(service, "Service", 100)
    chosen = _chosen_service(carrier, code)
    tracking_number = optional_text(tracking_number, "Tracking number", 100).replace(" ", "")
    typed_name = optional_text(carrier_name, "Carrier name", 100)
    # What staff, emails and the public page show: a company, never a service code.
    name = (chosen.carrier_name if chosen else "") or typed_name or carrier.label
    if carrier.manual and not tracking_number:
        raise ValidationError("Type the carrier's tracking number.")
    packaging = optional_text(packaging, "Packaging", 32)
    shipping_config.packaging(packaging)  # refuses an unknown preset
    ship_from = optional_text(ship_from, "Ship from", 32)
    if ship_from:
        shipping_config.ship_from(ship_from)
    limits.check_whole(insurance_minor, "The insured value", maximum=limits.MAX_AMOUNT_MINOR)
    rate_id = optional_text(rate_id, "Rate", 200) or None
    with write_transaction() as tx:
        if carrier.manual:
            lock_tracking_numbers(carrier.id, [tracking_number])
        order = lock_order(order_id)
        if order.status in (order_states.PAID, order_states.CONFIRMED):
            change(order, order_states.FULFILLING, actor=actor, reason=timeline.FULFILMENT_STARTED, tx=tx)
        elif order.status == order_states.SHIPPED:
            raise ValidationError("Every unit of this order is in a parcel with the carrier already.")
        elif order.status not in (order_states.FULFILLING, order_states.PARTIALLY_SHIPPED):
            order_states.check(order, order_states.FULFILLING)  # raises the clear error
        picked = parcels.pick(order, lines)
        shipment = Shipment(order=order, carrier_id=carrier.id, carrier_name=name,
                            service=chosen.code if chosen else code, status="unknown",
                            packaging=packaging, ship_from=ship_from, signature=bool(signature),
                            insurance_minor=insurance_minor, rate_id=rate_id,
                            weight_grams=parcels.weight_grams(picked, packaging),
                            lines=[ShipmentLine(order_line=line, quantity=units) for line, units in picked])
        db.session.add(shipment)
        db.session.flush()
        timeline.record(order, timeline.SHIPMENT_CREATED, actor,
                        timeline.shipment_message(shipment.id, name, shipment.service))
        documents.issue_packing_slip(shipment)
        if carrier.manual:
            shipment.tracking_number = tracking_number
            shipment.tracking_url = carrier.tracking_url(tracking_number, shipment.service)
            shipment.status = "pre_transit"
            _handed_over(order, shipment, actor=actor, tx=tx)
        else:
            outbox.enqueue(BOOK_KIND, {"shipment_id": shipment.id}, key=shipment.booking_key,
                           order_id=order.id)
        tx.after_commit(lambda: runtime.registry().hook.on_shipment_updated(
            order=order, shipment=shipment, event=None))
    return shipment


def _booking_problem(result: CarrierResult) -> str | None:
    if not result.ok:
        return result.error or "The carrier refused the booking."
    for value, label, limit in ((result.tracking_number, "tracking number", 100),
                                (result.tracking_url, "tracking URL", 500), (result.external_id, "id", 200)):
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return f"The carrier answered with a {label} that is not text of at most {limit} characters."
    if not result.tracking_number:
        return "The carrier answered without a tracking number."
    return None


def apply_booking(shipment_id: int, result: CarrierResult) -> Shipment:
    """Record what the carrier answered to a booking (called by the outbox worker)."""
    problem = _booking_problem(result)
    with write_transaction() as tx:
        shipment, order = _lock_shipment(shipment_id,
                                         tracking_number=None if problem else result.tracking_number)
        if problem:
            shipment.booking_error = problem
            return shipment
        if shipment.tracking_number:  # already booked: a repeated answer changes nothing
            return shipment
        shipment.booking_error = ""
        shipment.tracking_number = result.tracking_number
        shipment.tracking_url = result.tracking_url
        shipment.external_id = result.external_id
        labels.keep(shipment, result)
        actor = f"carrier:{shipment.carrier_id}"
        if shipment.status == CANCELLED:
            # Cancelled while the worker was booking it: keep the carrier's answer, so
            # staff can void the label with it; nothing ships.
            timeline.record(order, timeline.SHIPMENT_BOOKED, actor,
                            f"Shipment #{shipment.id} was booked ({shipment.tracking_number}) after it "
                            "was cancelled: void it with the carrier.")
            return shipment
        shipment.status = "pre_transit"
        _handed_over(order, shipment, actor=actor, tx=tx)
    return shipment


def cancel_refusal(shipment: Shipment) -> str | None:
    """Why staff may not cancel this shipment now, or None: only a booking that
    failed (a parcel the carrier never took) is cancelled here."""
    if shipment.status == CANCELLED:
        return "it is cancelled already"
    if shipment.tracking_number:
        return f"the carrier booked it ({shipment.tracking_number}); void the label with the carrier"
    if not shipment.booking_error:
        return "its booking has not failed; wait for the carrier's answer"
    return None


def cancel_shipment(order_id: int, shipment_id: int, *, actor: str) -> Shipment:
    """Give up a parcel whose booking failed for good: its booking is not tried
    again, and the order is shipped (and delivered) through its other parcels."""
    with write_transaction() as tx:
        shipment, order = _lock_shipment(shipment_id)
        if shipment.order_id != order_id:
            raise NotFound(f"Order {order_id} has no shipment #{shipment_id}.")
        problem = cancel_refusal(shipment)
        if problem:
            raise ValidationError(f"Shipment #{shipment.id} cannot be cancelled: {problem}.")
        shipment.status = CANCELLED
        outbox.withdraw(shipment.booking_key)
        timeline.record(order, timeline.SHIPMENT_CANCELLED, actor,
                        f"Shipment #{shipment.id} with {shipment.carrier_name} cancelled; its booking "
                        f"failed: {shipment.booking_error}")
        _deliver_if_all_delivered(order, actor=actor, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_shipment_updated(
            order=order, shipment=shipment, event=None))
    return shipment


# ------------------------------------------------------------------ tracking events


def check_update(update: TrackingUpdate) -> None:
    """Refuse, changing nothing, an event that cannot be stored as it is."""
    if not isinstance(update, TrackingUpdate):
        raise ValidationError(f"Not a tracking update: {update!r}.")
    if update.status not in TRACKING_STATUSES:
        raise ValidationError(f"Unknown tracking status '{update.status}'.")
    if not isinstance(update.occurred_at, datetime) or update.occurred_at.tzinfo is None:
        raise ValidationError("Tracking event times need a timezone.")
    if update.occurred_at > utcnow() + timedelta(days=1):
        raise ValidationError("A tracking event cannot be in the future.")
    if update.occurred_at < EARLIEST_EVENT:
        raise ValidationError(f"A tracking event cannot be before {EARLIEST_EVENT:%Y}.")
    for name, limit in UPDATE_TEXT_LIMITS:
        value = getattr(update, name)
        if not isinstance(value, str) or len(value) > limit:
            raise ValidationError(f"A tracking event's {name.replace('_', ' ')} must be text of at most "
                                  f"{limit} characters.")
    if not update.tracking_number.strip():
        raise ValidationError("A tracking event needs its tracking number.")
    event_id = update.event_id
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 200):
        raise ValidationError("A tracking event's id must be text of 1 to 200 characters.")


def event_dedupe_key(update: TrackingUpdate) -> str:
    """What tells a re-sent event from a new one of the same shipment: the carrier's
    own event id when it sends one, else the event's content (the demo data uses it too)."""
    if update.event_id:
        return "id:" + hashlib.sha256(update.event_id.encode()).hexdigest()[:40]
    raw = "|".join([update.status, update.raw_code, update.occurred_at.isoformat(),
                    update.location, update.message])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _latest_status(shipment_id: int) -> str:
    rank = case(STATUS_RANK, value=ShipmentEvent.status, else_=-1)
    return db.session.scalar(
        select(ShipmentEvent.status).where(ShipmentEvent.shipment_id == shipment_id)
        .order_by(ShipmentEvent.occurred_at.desc(), rank.desc(), ShipmentEvent.id.desc()).limit(1))


def add_tracking_update(shipment_id: int, update: TrackingUpdate, *, source: str) -> ShipmentEvent | None:
    """Add one carrier event. Returns None when it was seen before."""
    check_update(update)
    key = event_dedupe_key(update)
    with write_transaction() as tx:
        shipment, order = _lock_shipment(shipment_id)
        if db.session.scalar(select(ShipmentEvent.id).where(
                ShipmentEvent.shipment_id == shipment.id, ShipmentEvent.dedupe_key == key)):
            return None
        event = ShipmentEvent(shipment=shipment, status=update.status, raw_code=update.raw_code,
                              message=update.message, location=update.location,
                              occurred_at=update.occurred_at, dedupe_key=key, event_id=update.event_id,
                              source=source)
        db.session.add(event)
        db.session.flush()
        old_status, shipment.status = shipment.status, _latest_status(shipment.id)
        timeline.record(order, timeline.TRACKING_UPDATE, source,
                        timeline.tracking_message(STATUS_LABELS[update.status], update.location), public=True,
                        occurred_at=update.occurred_at)
        delivered_now = _deliver_if_all_delivered(order, actor=source, tx=tx)
        if shipment.status != old_status:
            emails.tracking_changed(order, shipment, shipment.status, order_email_sent=delivered_now)
            if shipment.status in emails.PROBLEM_STATUSES:
                alerts.delivery_problem(order, shipment, STATUS_LABELS[shipment.status])
        tx.after_commit(lambda: runtime.registry().hook.on_shipment_updated(
            order=order, shipment=shipment, event=event))
    return event


def add_staff_update(order_id: int, shipment_id: int, *, status: str, occurred_at: datetime,
                     message: str = "", location: str = "", actor: str) -> ShipmentEvent | None:
    """Staff add a tracking event by hand to one of the order's booked shipments.
    Returns None when the same event is there already."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None or shipment.order_id != order_id or not shipment.tracking_number:
        raise ValidationError("Pick one of this order's shipments.")
    update = TrackingUpdate(tracking_number=shipment.tracking_number, status=status, occurred_at=occurred_at,
                            message=message, location=location)
    return add_tracking_update(shipment.id, update, source=actor)


def _deliver_if_all_delivered(order: Order, *, actor: str, tx) -> bool:
    """An order with several parcels is delivered when the last one is. Cancelled
    parcels do not count, but one parcel at least must be delivered."""
    if order.status != order_states.SHIPPED:
        return False
    db.session.flush()
    statuses = set(db.session.scalars(select(Shipment.status).where(Shipment.order_id == order.id)))
    if statuses - {CANCELLED} == {DELIVERED}:
        change(order, order_states.DELIVERED, actor=actor, reason=timeline.CARRIER_DELIVERED, tx=tx)
        return True
    return False


def shipment_ids_by_number(carrier_id: str, numbers: Iterable[str]) -> dict[str, int]:
    """The shipments of a carrier with these tracking numbers."""
    numbers = set(numbers)
    if not numbers:
        return {}
    return dict(db.session.execute(select(Shipment.tracking_number, Shipment.id).where(
        Shipment.carrier_id == carrier_id, Shipment.tracking_number.in_(numbers))).all())


def _apply_unmatched(shipment: Shipment) -> None:
    """Apply the carrier events that arrived for this shipment's tracking number
    before it was known. Caller's transaction, which holds the order's lock."""
    source = f"carrier:{shipment.carrier_id}"
    for waiting in inbox.unmatched_for(inbox.CARRIER, shipment.carrier_id, shipment.tracking_number):
        event = add_tracking_update(shipment.id, inbox.tracking_update(waiting), source=source)
        inbox.resolve(waiting, inbox.APPLIED if event is not None else inbox.DUPLICATE)


def rematch_unmatched(carrier_id: str, tracking_number: str) -> bool:
    """Apply waiting events for a tracking number that is now known (the worker's
    periodic re-match; bookings apply them at once). False when it is still unknown."""
    shipment_id = shipment_ids_by_number(carrier_id, [tracking_number]).get(tracking_number)
    if shipment_id is None:
        return False
    with write_transaction():
        shipment, _order = _lock_shipment(shipment_id, tracking_number=tracking_number)
        _apply_unmatched(shipment)
    return True


def shipments_for(order_id: int) -> list[Shipment]:
    return list(db.session.scalars(
        select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id)))


@outbox.handler(BOOK_KIND)
def _book_with_carrier(message) -> None:
    """Outbox handler: buy the parcel's label with its carrier, idempotently (the
    booking key). A carrier that was down is asked again with backoff; a refusal is
    shown on the order and not retried."""
    shipment = db.session.get(Shipment, message.payload["shipment_id"])
    if shipment is None or shipment.tracking_number or shipment.status == CANCELLED:
        return  # gone, booked by an earlier attempt whose answer was recorded, or given up
    try:
        request = parcels.shipment_request(shipment, message.idempotency_key)
    except ValidationError as exc:  # the shop's settings changed since (a ship-from or preset removed)
        apply_booking(shipment.id, CarrierResult.failure(str(exc)))
        raise outbox.Refused(str(exc)) from None
    carrier = runtime.registry().carrier(shipment.carrier_id)
    db.session.commit()
    result = carrier.create_shipment(request)
    apply_booking(shipment.id, result)
    problem = _booking_problem(result)
    if problem:
        raise (outbox.SendError if result.retryable else outbox.Refused)(problem)
