"""What the public tracking page may show (DESIGN invariant 6).

The page gets a frozen projection built from selected columns only, never an ORM
object, so a template cannot reach the customer's email, phone, address or name,
private notes or staff actors. Four small indexed queries, whatever the order's
size: the page is meant to be about as cheap as a static one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from .. import order_states, tracking_codes
from ..db import read_connection
from ..models import Order, OrderLine, Shipment, TimelineEvent
from .shipments import STATUS_LABELS as SHIPMENT_LABELS

# Outcomes of a lookup.
EMPTY = "empty"          # nothing typed yet: show the form
MISTYPED = "mistyped"    # the check symbol (or length/alphabet) says it is a typo
UNKNOWN = "unknown"      # well formed, but no order has it
FOUND = "found"

BOOKING_LABEL = "Being booked with the carrier"


@dataclass(frozen=True)
class PublicLine:
    name: str
    quantity: int


@dataclass(frozen=True)
class PublicShipment:
    carrier_name: str
    status: str
    status_label: str
    tracking_number: str | None
    tracking_url: str | None


@dataclass(frozen=True)
class PublicEvent:
    at: datetime
    label: str
    message: str


@dataclass(frozen=True)
class PublicOrder:
    number: str
    status: str
    status_label: str
    placed_at: datetime
    lines: tuple[PublicLine, ...]
    shipments: tuple[PublicShipment, ...]
    events: tuple[PublicEvent, ...]  # newest first


@dataclass(frozen=True)
class TrackingLookup:
    outcome: str
    code: str = ""  # the normalised code in display form, to refill the form
    order: PublicOrder | None = None


# Built once: plain Core statements on the tables' columns skip the ORM's per-query
# work, and a fixed statement is compiled once and then found in the cache.
_orders, _lines = Order.__table__.c, OrderLine.__table__.c
_shipments, _events = Shipment.__table__.c, TimelineEvent.__table__.c
_FIND_ORDER = select(_orders.id, _orders.status, _orders.created_at).where(
    _orders.tracking_code == bindparam("code"))
_LINES = select(_lines.name, _lines.quantity).where(
    _lines.order_id == bindparam("order_id")).order_by(_lines.id)
_SHIPMENTS = select(_shipments.carrier_name, _shipments.status, _shipments.tracking_number,
                    _shipments.tracking_url).where(
    _shipments.order_id == bindparam("order_id")).order_by(_shipments.id)
_PUBLIC_EVENTS = select(_events.created_at, _events.kind, _events.to_status, _events.message).where(
    _events.order_id == bindparam("order_id"), _events.public.is_(True)).order_by(_events.id.desc())


def lookup(typed: str | None) -> TrackingLookup:
    """Turn what the customer typed into what the tracking page shows."""
    code = tracking_codes.normalise(typed or "")
    if not code:
        return TrackingLookup(EMPTY)
    if not tracking_codes.is_well_formed(code):
        return TrackingLookup(MISTYPED, code=(typed or "").strip()[:40])
    with read_connection() as connection:
        row = connection.execute(_FIND_ORDER, {"code": code}).first()
        if row is None:
            return TrackingLookup(UNKNOWN, code=tracking_codes.display(code))
        return TrackingLookup(FOUND, code=tracking_codes.display(code), order=_project(connection, *row))


def _project(connection, order_id: int, status: str, created_at: datetime) -> PublicOrder:
    key = {"order_id": order_id}
    return PublicOrder(
        number=f"{order_id:06d}",
        status=status,
        status_label=order_states.PUBLIC_LABELS.get(status, status),
        placed_at=created_at,
        lines=tuple(PublicLine(name, quantity) for name, quantity in connection.execute(_LINES, key)),
        shipments=tuple(_public_shipment(*s) for s in connection.execute(_SHIPMENTS, key)),
        events=tuple(_public_event(*e) for e in connection.execute(_PUBLIC_EVENTS, key)),
    )


def _public_shipment(carrier_name, status, tracking_number, tracking_url) -> PublicShipment:
    label = SHIPMENT_LABELS.get(status, status) if tracking_number else BOOKING_LABEL
    # Only web links: a URL is shown as a link, so nothing like javascript: gets through.
    url = tracking_url if tracking_url and tracking_url.startswith(("https://", "http://")) else None
    return PublicShipment(carrier_name=carrier_name, status=status, status_label=label,
                          tracking_number=tracking_number, tracking_url=url)


def _public_event(created_at, kind, to_status, message) -> PublicEvent:
    if kind == "status_changed" and to_status:
        # Status changes show their label only: the reason is typed by staff (a
        # cancellation reason, for one) and may say things meant for the shop alone.
        return PublicEvent(at=created_at, label=order_states.PUBLIC_LABELS.get(to_status, to_status),
                           message="")
    if kind == "tracking_update":
        return PublicEvent(at=created_at, label="Carrier update", message=message)
    return PublicEvent(at=created_at, label=kind.replace("_", " ").capitalize(), message=message)
