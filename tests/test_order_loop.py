"""The order loop end to end through the services: place, confirm, pay, ship,
track, deliver, close; stock and the ledger agree at every step."""
from datetime import datetime, timedelta, timezone

import pytest

from oms_core.db import db
from oms_core.protocols import TrackingUpdate
from oms_core.services import orders, payments, shipments, stock
from oms_core.testing.fakes import BookingCarrier, plugin_registering


def test_full_loop(app, make_product, place):
    product = make_product(on_hand=5, price_minor=1000)
    order = place([(product.sku, 2)], confirm=True)
    assert order.status == "confirmed" and order.tracking_code
    db.session.refresh(product)
    assert (product.on_hand, product.reserved, product.available) == (5, 2, 3)

    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=500,
                            currency="EUR", reference="T1", actor="test")
    assert orders.get_order(order.id).payment_status == "partially_paid"
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1500,
                            currency="EUR", reference="T2", actor="test")
    assert orders.get_order(order.id).status == "paid"

    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD0001", actor="test")
    assert orders.get_order(order.id).status == "shipped"
    assert shipment.tracking_url.startswith("https://")
    db.session.refresh(product)
    assert (product.on_hand, product.reserved) == (3, 0)

    now = datetime.now(timezone.utc)
    update = TrackingUpdate("JD0001", "delivered", now, raw_code="DLV", message="Delivered")
    assert shipments.add_tracking_update(shipment.id, update, source="test") is not None
    assert shipments.add_tracking_update(shipment.id, update, source="test") is None  # de-duplicated
    # An older event arriving late does not move the shipment back.
    late = TrackingUpdate("JD0001", "in_transit", now - timedelta(hours=5), raw_code="TRN")
    shipments.add_tracking_update(shipment.id, late, source="test")
    assert db.session.get(type(shipment), shipment.id).status == "delivered"
    assert orders.get_order(order.id).status == "delivered"
    orders.close_order(order.id, actor="test")
    assert orders.get_order(order.id).status == "closed"
    assert stock.ledger_mismatches() == []
    kinds = [e.to_status for e in orders.get_order(order.id).events if e.kind == "status_changed"]
    assert kinds == ["placed", "confirmed", "paid", "fulfilling", "shipped", "delivered", "closed"]


@pytest.mark.parametrize("app_config", [{"extra_plugins": [plugin_registering(BookingCarrier("parcelpost", prefix="PP"))]}])
def test_order_with_two_parcels_is_delivered_when_both_are(app, place):
    from oms_core.services import outbox

    order = place(payment_method="cash_on_delivery", confirm=True)
    one_unit = {order.lines[0].id: 1}  # two units: one in each parcel
    first = shipments.create_shipment(order.id, carrier_id="parcelpost", service="std", actor="test",
                                      lines=one_unit)
    second = shipments.create_shipment(order.id, carrier_id="parcelpost", service="std", actor="test",
                                       lines=one_unit)
    assert orders.get_order(order.id).status == "fulfilling"
    outbox.run_once()  # books both parcels (the emails fail: no SMTP server here)
    numbers = {s.id: db.session.get(type(first), s.id).tracking_number for s in (first, second)}
    # Two parcels, two numbers (the carrier object outlives one test's database: its
    # numbering goes on, as a real carrier's does).
    assert len(set(numbers.values())) == 2 and all(n.startswith("PP") for n in numbers.values())
    assert orders.get_order(order.id).status == "shipped"

    now = datetime.now(timezone.utc)
    shipments.add_tracking_update(first.id, TrackingUpdate(numbers[first.id], "delivered", now), source="test")
    assert orders.get_order(order.id).status == "shipped"  # one parcel still on its way
    shipments.add_tracking_update(second.id, TrackingUpdate(numbers[second.id], "delivered", now), source="test")
    assert orders.get_order(order.id).status == "delivered"
