"""Demo rows look like rows the services write: an order the demo data generator made
and an order taken through the real services, at the same stage, have timelines,
ledger rows, payments, shipments and carrier events of the same shape (kinds,
statuses, public flags, message formats, actor formats, de-duplication keys)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from oms_demo import demo_data
from sqlalchemy import select

from oms_core import runtime, tracking_codes
from oms_core.db import db
from oms_core.models import Order, Payment, Shipment, ShipmentEvent, StockMove, TimelineEvent
from oms_core.money import format_amount
from oms_core.protocols import TrackingUpdate
from oms_core.services import orders, payments, shipments, timeline

NOW = datetime(2025, 3, 14, 15, 30, tzinfo=timezone.utc)
OWNER, PACKER = "staff:owner@demo.shop", "staff:sam@demo.shop"
EMAIL = re.compile(r"^staff:[^@\s]+@[^@\s]+\.[^@\s]+$")


def actor_shape(actor: str) -> str:
    if EMAIL.match(actor):
        return "staff:<email>"
    return re.sub(r"^carrier:\w+$", "carrier:<id>", actor)


def sign(number: int) -> int:
    return (number > 0) - (number < 0)


def shape(order: Order) -> dict:
    """Everything about an order's rows that does not depend on which order it is."""
    shipment = db.session.scalars(select(Shipment).where(Shipment.order_id == order.id)).one()
    events = db.session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
                                .order_by(ShipmentEvent.occurred_at)).all()
    placeholders = {format_amount(order.total_minor, order.currency): "<amount>", order.number: "<number>",
                    f"#{shipment.id}": "#<shipment>", shipment.carrier_name: "<carrier>",
                    **{event.location: "<location>" for event in events}}

    def plain(text: str | None) -> str | None:
        for value in sorted(placeholders, key=len, reverse=True):
            text = text.replace(value, placeholders[value]) if text else text
        return text

    moves: dict[int, list] = {}
    for move in db.session.scalars(select(StockMove).where(StockMove.order_id == order.id)
                                   .order_by(StockMove.id)):
        moves.setdefault(move.product_id, []).append((move.reason, sign(move.on_hand_delta),
                                                      sign(move.reserved_delta), actor_shape(move.actor),
                                                      move.note))
    carrier_url = runtime.registry().carrier(shipment.carrier_id).tracking_url(
        shipment.tracking_number, shipment.service)
    # The demo's history has no documents (invoices, receipts, packing slips): those are
    # issued for orders placed in the running demo, so their timeline events are left out.
    rows = select(TimelineEvent).where(TimelineEvent.order_id == order.id,
                                       TimelineEvent.kind != timeline.DOCUMENT_ISSUED).order_by(TimelineEvent.id)
    return {
        "order": (order.status, order.channel, order.payment_status, order.paid_minor == order.total_minor,
                  order.pays_on_delivery, tracking_codes.is_well_formed(order.tracking_code),
                  order.ship_name == order.customer.name),
        "timeline": [(e.kind, e.from_status, e.to_status, e.public, plain(e.message), actor_shape(e.actor))
                     for e in db.session.scalars(rows)],
        "ledger": {tuple(rows) for rows in moves.values()},
        "payments": [(p.gateway_id, p.status, p.currency, p.amount_minor == order.total_minor,
                      plain(p.reference), plain(p.external_id), p.state, p.amount_refunded_minor, p.capture_mode,
                      p.flag_reason, actor_shape(p.actor))
                     for p in db.session.scalars(select(Payment).where(Payment.order_id == order.id))],
        "shipment": (shipment.carrier_id, plain(shipment.carrier_name), plain(shipment.service),
                     shipment.status, shipment.booking_error, shipment.external_id,
                     shipment.tracking_url == carrier_url),
        "carrier_events": [
            (e.status, e.raw_code, e.message, plain(e.location), actor_shape(e.source),
             e.dedupe_key == shipments.event_dedupe_key(TrackingUpdate(
                 shipment.tracking_number, e.status, e.occurred_at, e.raw_code, e.message, e.location)))
            for e in events],
    }


def demo_order(method: str) -> Order:
    """A closed web order of the demo paid by `method`, without a staff note."""
    noted = select(TimelineEvent.order_id).where(TimelineEvent.kind == timeline.NOTE)
    return db.session.scalars(select(Order).where(
        Order.status == "closed", Order.channel == "web", Order.payment_method == method,
        Order.id.not_in(noted)).order_by(Order.id).limit(1)).one()


def service_order(make_product, method: str) -> Order:
    """The same life through the services: checkout, payment, a manual shipment, two
    carrier updates typed by staff, the money at the door for cash on delivery, closed."""
    product = make_product(on_hand=50)
    order = orders.place_order(orders.NewOrder(
        email="ann@example.com", name="Ann Example", lines=[(product.sku, 2)], payment_method=method,
        address={"line1": "Kerkstraat 1", "postal_code": "3511 AB", "city": "Utrecht", "country": "NL"}),
        actor="storefront")
    pays_at_door = runtime.registry().gateway(method).pays_on_delivery
    if not pays_at_door:
        payments.record_payment(order.id, gateway_id=method, amount_minor=order.total_minor, currency="EUR",
                                reference=order.number, actor=OWNER)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JVGL0000123456", actor=PACKER)
    now = datetime.now(timezone.utc)
    for hours_ago, status, raw, where in ((5, "in_transit", "TRN", "Hub Venlo"),
                                          (1, "delivered", "DLV", "Utrecht")):
        shipments.add_tracking_update(shipment.id, TrackingUpdate(
            "JVGL0000123456", status, now - timedelta(hours=hours_ago), raw_code=raw,
            message=shipments.STATUS_LABELS[status], location=where), source=PACKER)
    if pays_at_door:
        payments.record_payment(order.id, gateway_id=method, amount_minor=order.total_minor, currency="EUR",
                                reference="", actor=OWNER)
    orders.close_order(order.id, actor=OWNER)
    return orders.get_order(order.id)


@pytest.mark.parametrize("method", ["bank_transfer", "cash_on_delivery"])
def test_a_demo_order_has_the_rows_the_services_write(app, make_product, method):
    demo_data.generate(5, now=NOW, days=60)
    made_by_services = shape(service_order(make_product, method))
    assert shape(demo_order(method)) == made_by_services
    # What the comparison rests on, spelled out once.
    kinds = [row[0] for row in made_by_services["timeline"]]
    assert kinds.count(timeline.TRACKING_UPDATE) == 2 and timeline.SHIPMENT_CREATED in kinds
    assert made_by_services["ledger"] == {(("reservation", 0, 1, "storefront", ""),
                                           ("shipment", -1, -1, "staff:<email>", ""))}
    assert all(event[-1] for event in made_by_services["carrier_events"])


def test_the_shape_tells_a_different_row_apart(app, make_product):
    """The comparison above can fail: a demo-style row written with other words or
    another de-duplication key is seen."""
    order = service_order(make_product, "bank_transfer")
    before = shape(order)
    event = db.session.scalars(select(ShipmentEvent).join(Shipment)
                               .where(Shipment.order_id == order.id)).first()
    event.dedupe_key = "0" * 40
    created = db.session.scalars(select(TimelineEvent).where(
        TimelineEvent.order_id == order.id, TimelineEvent.kind == timeline.SHIPMENT_CREATED)).one()
    created.message = "Shipment with DHL (DHL)"  # the demo's words before it used the services' own
    db.session.commit()
    after = shape(order)
    assert after["carrier_events"] != before["carrier_events"] and after["timeline"] != before["timeline"]
