"""What the public tracking page may show (docs/architecture.md, invariant 6).

The page gets a frozen projection built from selected columns only, never an ORM
object, so a template cannot reach the customer's email, phone, address or name,
private notes or staff actors. Four small indexed queries, whatever the order's
size: the page is meant to be about as cheap as a static one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, bindparam, cast, func, literal_column, null, select, union_all

from .. import order_states, tracking_cache, tracking_codes
from ..db import read_connection
from ..i18n import N_
from ..links import web_link
from ..models import Order, OrderLine, Shipment, ShipmentEvent, TimelineEvent, order_number
from . import timeline
from .shipments import CANCELLED as SHIPMENT_CANCELLED, STATUS_LABELS as SHIPMENT_LABELS

# Outcomes of a lookup.
EMPTY = "empty"          # nothing typed yet: show the form
MISTYPED = "mistyped"    # the check symbol (or length/alphabet) says it is a typo
UNKNOWN = "unknown"      # well formed, but no order has it
FOUND = "found"

BOOKING_LABEL = N_("Being booked with the carrier")


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
    # The carrier's events, newest first: status label and place only (a carrier's
    # message may name who signed for the parcel).
    events: tuple["PublicEvent", ...] = ()


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
    order_id: int | None = None  # for the cache's keys only, never shown


# Built once: a plain Core statement on the tables' columns skips the ORM's per-query
# work, and a fixed statement is compiled once and then found in the cache. One
# round trip per lookup (each costs more than the query under load): the order,
# its lines, shipments and public events as rows of one UNION, told apart by
# `row_kind`. Events come first: the UNION's column types (the event time's UTC
# handling) are taken from its first SELECT. An event's time is when it happened
# (a carrier's event time), else when it was recorded.
_orders, _lines = Order.__table__.c, OrderLine.__table__.c
_shipments, _events = Shipment.__table__.c, TimelineEvent.__table__.c
_parcel_events = ShipmentEvent.__table__.c
_ORDER_ID = select(_orders.id).where(_orders.tracking_code == bindparam("code")).scalar_subquery()
_LOOKUP = union_all(
    select(literal_column("'event'").label("row_kind"), _events.id.label("seq"),
           func.coalesce(_events.occurred_at, _events.created_at).label("at"), _events.kind.label("a"),
           _events.to_status.label("b"), _events.message.label("c"), null().label("d"),
           cast(null(), Integer).label("n"))
    .where(_events.order_id == _ORDER_ID, _events.public.is_(True)),
    select(literal_column("'order'"), _orders.id, _orders.created_at, _orders.status,
           null(), null(), null(), cast(null(), Integer))
    .where(_orders.tracking_code == bindparam("code")),
    select(literal_column("'line'"), _lines.id, null(), _lines.name, null(), null(), null(),
           _lines.quantity)
    .where(_lines.order_id == _ORDER_ID),
    select(literal_column("'shipment'"), _shipments.id, null(), _shipments.carrier_name,
           _shipments.status, _shipments.tracking_number, _shipments.tracking_url, null())
    .where(_shipments.order_id == _ORDER_ID),
    select(literal_column("'parcel_event'"), _parcel_events.id, _parcel_events.occurred_at, _parcel_events.location,
           _parcel_events.status, null(), null(), _parcel_events.shipment_id)
    .where(_parcel_events.shipment_id.in_(select(_shipments.id).where(_shipments.order_id == _ORDER_ID))),
)


def lookup(typed: str | None) -> TrackingLookup:
    """Turn what the customer typed into what the tracking page shows."""
    code = tracking_codes.normalise(typed or "")
    if not code:
        return TrackingLookup(EMPTY)
    if not tracking_codes.is_well_formed(code):
        return TrackingLookup(MISTYPED, code=(typed or "").strip()[:40])
    with read_connection() as connection:
        rows = connection.execute(_LOOKUP, {"code": code}).all()
    if not rows:
        return TrackingLookup(UNKNOWN, code=tracking_codes.display(code))
    order_id = next(row.seq for row in rows if row.row_kind == "order")
    return TrackingLookup(FOUND, code=tracking_codes.display(code), order=_project(rows),
                          order_id=order_id)


def cached_page(typed: str | None, variant: str, render: Callable[[TrackingLookup], str], *,
                client: str, limits: tuple[tracking_cache.Limit, ...]) -> str | None:
    """The tracking page for what `client` typed, counted against its `limits` in the
    same round trip to Redis that reads the page cached while the order has not
    changed (oms_core/tracking_cache.py); else `render`ed from `lookup` and stored.
    `variant` names everything else the page depends on (templates, language).
    None when the cache is off or Redis cannot be reached: the caller counts and
    looks up without it. Raises tracking_cache.LookupLimited past a limit."""
    cache = tracking_cache.current()
    if cache is None:
        return None
    code = tracking_codes.normalise(typed or "")
    if not code:  # the empty form: nothing to count or look up
        return render(lookup(typed))
    well_formed = tracking_codes.is_well_formed(code)
    cached = cache.count_and_read(client, limits, code if well_formed else None, variant)
    if cached is None:
        return None
    if cached.page is not None:
        return cached.page
    result = lookup(typed)
    answer = render(result)
    if result.order_id is not None:
        if cached.order_id is None:  # first seen: learn its order, to read its version next time
            cache.learn(code, result.order_id)
        elif cached.order_id == result.order_id:  # under the version read before the lookup
            cache.store(code, variant, cached.version, answer)
    return answer


def _project(rows) -> PublicOrder:
    kinds: dict[str, list] = {"order": [], "line": [], "shipment": [], "event": [], "parcel_event": []}
    for row in sorted(rows, key=lambda r: r.seq):
        kinds[row.row_kind].append(row)
    order = kinds["order"][0]
    # Oldest first by when they happened: a carrier event that arrived late sits in place.
    events = sorted(kinds["event"], key=lambda r: (r.at, r.seq))
    # A parcel given up before the carrier took it never existed for the customer.
    shipments = [r for r in kinds["shipment"] if r.c or r.b != SHIPMENT_CANCELLED]
    return PublicOrder(
        number=order_number(order.seq),
        status=order.a,
        status_label=order_states.PUBLIC_LABELS.get(order.a, order.a),
        placed_at=order.at,
        lines=tuple(PublicLine(r.a, r.n) for r in kinds["line"]),
        shipments=tuple(_public_shipment(r.a, r.b, r.c, r.d, _parcel_events_of(kinds["parcel_event"], r.seq))
                        for r in shipments),
        events=tuple(_public_event(r.at, r.a, r.b, r.c) for r in reversed(events)),  # newest first
    )


def _parcel_events_of(rows, shipment_id: int) -> tuple[PublicEvent, ...]:
    mine = sorted((r for r in rows if r.n == shipment_id), key=lambda r: (r.at, r.seq), reverse=True)
    return tuple(PublicEvent(at=r.at, label=SHIPMENT_LABELS.get(r.b, r.b), message=r.a or "") for r in mine)


def _public_shipment(carrier_name, status, tracking_number, tracking_url, events=()) -> PublicShipment:
    label = SHIPMENT_LABELS.get(status, status) if tracking_number else BOOKING_LABEL
    return PublicShipment(carrier_name=carrier_name, status=status, status_label=label,
                          tracking_number=tracking_number, tracking_url=web_link(tracking_url), events=events)


def _public_event(created_at, kind, to_status, message) -> PublicEvent:
    if kind == timeline.STATUS_CHANGED and to_status:
        # Status changes show their label only: the reason is typed by staff (a
        # cancellation reason, for one) and may say things meant for the shop alone.
        return PublicEvent(at=created_at, label=order_states.PUBLIC_LABELS.get(to_status, to_status),
                           message="")
    if kind == timeline.TRACKING_UPDATE:
        return PublicEvent(at=created_at, label=N_("Carrier update"), message=message)
    return PublicEvent(at=created_at, label=kind.replace("_", " ").capitalize(), message=message)
