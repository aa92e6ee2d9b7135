"""Shipments: event time decides the status and the public timeline's order,
duplicates are told by the carrier's event id, a failed booking can be given up,
carrier names are companies, booking keys are never reused, and the shipments
service (not the view) checks services and whose shipment an update is for."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from oms_core.db import db
from oms_core.errors import NotFound, ValidationError
from oms_core.models import Order, OutboxMessage, Shipment, ShipmentEvent
from oms_core.protocols import CarrierResult, TrackingUpdate
from oms_core.services import dashboard, orders, outbox, shipments, tracking_view
from oms_core.testing.fakes import BookingCarrier, plugin_registering

T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def carriers():
    """failpost refuses every booking, goodpost books at once."""
    return BookingCarrier("failpost", "Fail Post", failures=10 ** 6, prefix="FP"), \
        BookingCarrier("goodpost", "Good Post", prefix="GP")


@pytest.fixture
def app_config(carriers):
    return {"extra_plugins": [plugin_registering(*carriers)]}


def fresh_order(order_id: int) -> Order:
    db.session.expire_all()
    return orders.get_order(order_id)


def fresh_shipment(shipment_id: int) -> Shipment:
    db.session.expire_all()
    return db.session.get(Shipment, shipment_id)


def manual_shipment(place, number="JD1"):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number=number,
                                         actor="test")
    return order, shipment


def add(shipment, status, at, **kw):
    return shipments.add_tracking_update(
        shipment.id, TrackingUpdate(shipment.tracking_number, status, at, **kw), source="carrier:test")


# ------------------------------------------------------------------ event time


def test_a_late_older_event_never_moves_a_delivered_shipment_back(place):
    order, shipment = manual_shipment(place)
    add(shipment, "delivered", T0 + timedelta(hours=8), location="Utrecht")
    add(shipment, "in_transit", T0 + timedelta(hours=2), location="Venlo")  # older, arriving late
    assert fresh_shipment(shipment.id).status == "delivered"
    assert fresh_order(order.id).status == "delivered"
    add(shipment, "out_for_delivery", T0 + timedelta(hours=6))
    assert fresh_shipment(shipment.id).status == "delivered"


def test_of_two_events_at_one_time_the_one_further_along_wins(place):
    _, shipment = manual_shipment(place)
    add(shipment, "delivered", T0)
    add(shipment, "in_transit", T0, raw_code="SCAN")  # same second, arrives later
    assert fresh_shipment(shipment.id).status == "delivered"


def test_the_public_timeline_is_ordered_by_the_carriers_event_time(client, place):
    order, shipment = manual_shipment(place)
    add(shipment, "out_for_delivery", T0 + timedelta(hours=6), location="Utrecht")
    add(shipment, "in_transit", T0 + timedelta(hours=2), location="Venlo")  # arrives last
    found = tracking_view.lookup(order.tracking_code).order
    carrier = [(e.at, e.message) for e in found.events if e.label == "Carrier update"]
    assert carrier == [(T0 + timedelta(hours=6), "Out for delivery - Utrecht"),
                       (T0 + timedelta(hours=2), "In transit - Venlo")]  # newest first
    html = client.get(f"/track?code={order.tracking_code}").get_data(as_text=True)
    assert html.index("Out for delivery - Utrecht") < html.index("In transit - Venlo")


# ------------------------------------------------------------------ duplicates


def test_duplicates_are_told_by_the_carriers_event_id_when_it_sends_one(place):
    _, shipment = manual_shipment(place)
    assert add(shipment, "in_transit", T0, event_id="ev-1") is not None
    # The same event id with another text (the carrier corrected its message): the same event.
    assert add(shipment, "in_transit", T0, event_id="ev-1", message="Sorted") is None
    # Two scans with the same content but their own ids: two events.
    assert add(shipment, "in_transit", T0 + timedelta(hours=1), event_id="ev-2") is not None
    assert add(shipment, "in_transit", T0 + timedelta(hours=1), event_id="ev-3") is not None
    # Without an id, the content tells.
    assert add(shipment, "in_transit", T0 + timedelta(hours=2)) is not None
    assert add(shipment, "in_transit", T0 + timedelta(hours=2)) is None
    kept = db.session.scalars(select(ShipmentEvent.event_id).order_by(ShipmentEvent.id)).all()
    assert kept == ["ev-1", "ev-2", "ev-3", None]


def test_the_content_key_is_the_one_stored_rows_were_made_with():
    update = TrackingUpdate("JD1", "in_transit", T0, raw_code="TRN", message="In transit", location="Venlo")
    raw = f"in_transit|TRN|{T0.isoformat()}|Venlo|In transit"
    assert shipments.event_dedupe_key(update) == hashlib.sha256(raw.encode()).hexdigest()[:40]
    with_id = TrackingUpdate("JD1", "in_transit", T0, event_id="ev-9")
    assert shipments.event_dedupe_key(with_id) != shipments.event_dedupe_key(update)
    assert len(shipments.event_dedupe_key(with_id)) <= 64


@pytest.mark.parametrize("change, says", [
    ({"status": "teleported"}, "Unknown tracking status"),
    ({"occurred_at": T0.replace(tzinfo=None)}, "timezone"),
    ({"occurred_at": datetime.now(timezone.utc) + timedelta(days=2)}, "future"),
    ({"tracking_number": " "}, "tracking number"),
    ({"location": "x" * 201}, "location"),
    ({"message": "x" * 2001}, "message"),
    ({"raw_code": None}, "raw code"),
    ({"event_id": ""}, "id"),
    ({"event_id": "x" * 201}, "id"),
])
def test_an_event_that_cannot_be_stored_is_refused_with_a_reason(place, change, says):
    _, shipment = manual_shipment(place)
    fields = {"tracking_number": "JD1", "status": "in_transit", "occurred_at": T0, **change}
    with pytest.raises(ValidationError, match=says):
        shipments.add_tracking_update(shipment.id, TrackingUpdate(**fields), source="test")
    assert db.session.scalars(select(ShipmentEvent)).all() == []


# ------------------------------------------------------------------ rules in the service


def test_the_service_refuses_a_service_the_carrier_does_not_offer(place):
    order = place(payment_method="cash_on_delivery", confirm=True)
    with pytest.raises(ValidationError, match="Pick one of Manual"):
        shipments.create_shipment(order.id, carrier_id="manual", service="Pigeon", tracking_number="X1",
                                  actor="test")
    with pytest.raises(ValidationError, match="Pick one of Manual"):  # several offered: name one
        shipments.create_shipment(order.id, carrier_id="manual", tracking_number="X1", actor="test")
    assert shipments.shipments_for(order.id) == [] and fresh_order(order.id).status == "confirmed"
    only = shipments.create_shipment(order.id, carrier_id="goodpost", actor="test")  # its one service
    assert only.service == "std"


def test_a_staff_update_is_only_for_a_shipment_of_that_order(place):
    order, shipment = manual_shipment(place, "JD1")
    other, _ = manual_shipment(place, "JD2")
    with pytest.raises(ValidationError, match="this order's shipments"):
        shipments.add_staff_update(other.id, shipment.id, status="delivered", occurred_at=T0, actor="test")
    with pytest.raises(ValidationError, match="this order's shipments"):
        shipments.add_staff_update(order.id, 999_999, status="delivered", occurred_at=T0, actor="test")
    assert shipments.add_staff_update(order.id, shipment.id, status="delivered", occurred_at=T0,
                                      message="Left with neighbour", actor="staff:a@b.c") is not None
    assert fresh_order(order.id).status == "delivered" and fresh_order(other.id).status == "shipped"


@pytest.mark.parametrize("carrier_id, service, typed, shown", [
    ("manual", "PostNL", "", "PostNL"),
    ("manual", "DHL", "UPS", "DHL"),  # the service names the company: typing cannot change it
    ("manual", "Other", "Bpost", "Bpost"),
    ("manual", "Other", "", "Manual (any carrier)"),
    ("goodpost", "std", "", "Good Post"),  # never the service code
])
def test_the_carrier_name_is_a_company_never_a_service_code(
        staff_client, place, carrier_id, service, typed, shown):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipment = shipments.create_shipment(order.id, carrier_id=carrier_id, service=service, carrier_name=typed,
                                         tracking_number="N1" if carrier_id == "manual" else "", actor="test")
    assert shipment.carrier_name == shown
    page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert f"#{shipment.id} {shown}" in page


# ------------------------------------------------------------------ booking keys


def test_booking_keys_are_random_and_never_reused_after_a_reset(app, place, carriers, backend):
    """The carrier remembers keys across our database resets, like a real one: a
    reused key would get the old parcel back."""
    goodpost = carriers[1]
    first = shipments.create_shipment(place(confirm=True, payment_method="cash_on_delivery").id,
                                      carrier_id="goodpost", actor="test")
    outbox.run_once()
    assert goodpost.keys == [fresh_shipment(first.id).booking_key] and len(goodpost.keys[0]) == 32
    old = (first.id, fresh_shipment(first.id).tracking_number)
    db.session.remove()
    tables = ["oms_shipment_event", "oms_shipment_line", "oms_shipment", "oms_outbox", "oms_stock_move",
              "oms_timeline_event", "oms_document", "oms_order_line", "oms_order", "oms_customer"]
    if backend == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:  # SQLite hands out max(id) + 1 again
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()
    second = shipments.create_shipment(place(confirm=True, payment_method="cash_on_delivery").id,
                                       carrier_id="goodpost", actor="test")
    outbox.run_once()
    assert second.id == old[0]  # the same shipment id as before the reset...
    assert len(set(goodpost.keys)) == 2  # ...but another key, so a new parcel
    assert fresh_shipment(second.id).tracking_number != old[1]


# ------------------------------------------------------------------ cancelling a failed booking


def paid_order(place):
    return place(payment_method="cash_on_delivery", confirm=True)


def failed_booking(place):
    order = paid_order(place)
    shipment = shipments.create_shipment(order.id, carrier_id="failpost", actor="test")
    outbox.run_once()
    assert fresh_shipment(shipment.id).booking_error == "carrier API timed out"
    return order, shipment


@pytest.mark.parametrize("htmx", [False, True])
def test_staff_cancel_a_failed_booking_and_ship_through_another_parcel(staff_client, place, carriers, htmx):
    failpost = carriers[0]
    order, shipment = failed_booking(place)
    assert dashboard.attention().shipment_problems == 1
    page = staff_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert f'id="cancel-shipment-{shipment.id}"' in page

    response = staff_client.post(f"/oms/admin/orders/{order.id}/shipments/{shipment.id}/cancel", htmx=htmx)
    if htmx:
        assert f"Shipment #{shipment.id} cancelled" in response.get_data(as_text=True)
    else:
        assert response.status_code == 302
    cancelled = fresh_shipment(shipment.id)
    assert (cancelled.status, cancelled.tracking_number) == ("cancelled", None)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == shipments.BOOK_KIND))
    assert message.status == "cancelled"
    assert dashboard.attention().shipment_problems == 0
    order_now = fresh_order(order.id)
    assert order_now.status == "fulfilling"
    assert any(e.kind == "shipment_cancelled" and not e.public for e in order_now.events)

    # Nobody books it again, not even when its retry is due or staff press retry.
    db.session.execute(update(OutboxMessage).values(next_attempt_at=T0))
    db.session.commit()
    calls = len(failpost.keys)
    outbox.retry_now(message.id)
    outbox.run_once()
    assert len(failpost.keys) == calls and fresh_shipment(shipment.id).status == "cancelled"

    # The goods go in another parcel: the order ships and is delivered through it.
    second = shipments.create_shipment(order.id, carrier_id="goodpost", actor="staff:test")
    outbox.run_once()
    assert fresh_order(order.id).status == "shipped"
    shipments.add_tracking_update(second.id, TrackingUpdate(fresh_shipment(second.id).tracking_number,
                                                            "delivered", T0), source="carrier:goodpost")
    assert fresh_order(order.id).status == "delivered"
    public = tracking_view.lookup(order.tracking_code).order
    assert [s.carrier_name for s in public.shipments] == ["Good Post"]  # the given-up parcel is not shown


def test_a_shipped_order_is_delivered_once_its_failed_parcel_is_cancelled_and_replaced(place):
    order = paid_order(place)
    one_unit = {order.lines[0].id: 1}  # two units: one in each parcel
    good = shipments.create_shipment(order.id, carrier_id="goodpost", actor="test", lines=one_unit)
    bad = shipments.create_shipment(order.id, carrier_id="failpost", actor="test", lines=one_unit)
    outbox.run_once()
    assert fresh_order(order.id).status == "partially_shipped"
    shipments.add_tracking_update(good.id, TrackingUpdate(fresh_shipment(good.id).tracking_number,
                                                          "delivered", T0), source="carrier:goodpost")
    assert fresh_order(order.id).status == "partially_shipped"  # a unit is still not with a carrier
    shipments.cancel_shipment(order.id, bad.id, actor="staff:test")  # its unit can be packed again
    again = shipments.create_shipment(order.id, carrier_id="goodpost", actor="test")
    outbox.run_once()
    assert fresh_order(order.id).status == "shipped"
    shipments.add_tracking_update(again.id, TrackingUpdate(fresh_shipment(again.id).tracking_number,
                                                           "delivered", T0), source="carrier:goodpost")
    order_now = fresh_order(order.id)
    assert order_now.status == "delivered"
    assert [e.to_status for e in order_now.events if e.kind == "status_changed"][-3:] == [
        "partially_shipped", "shipped", "delivered"]


def test_only_a_failed_booking_can_be_cancelled(place):
    order = paid_order(place)
    waiting = shipments.create_shipment(order.id, carrier_id="goodpost", actor="test")
    with pytest.raises(ValidationError, match="has not failed"):
        shipments.cancel_shipment(order.id, waiting.id, actor="test")
    outbox.run_once()
    with pytest.raises(ValidationError, match="void the label"):
        shipments.cancel_shipment(order.id, waiting.id, actor="test")
    other, failed = failed_booking(place)
    with pytest.raises(NotFound):
        shipments.cancel_shipment(order.id, failed.id, actor="test")  # not this order's
    shipments.cancel_shipment(other.id, failed.id, actor="test")
    with pytest.raises(ValidationError, match="cancelled already"):
        shipments.cancel_shipment(other.id, failed.id, actor="test")


def test_a_booking_answer_after_the_cancel_is_kept_but_ships_nothing(place):
    order, shipment = failed_booking(place)
    shipments.cancel_shipment(order.id, shipment.id, actor="test")
    shipments.apply_booking(shipment.id, CarrierResult(ok=True, tracking_number="FP0001", external_id="x"))
    late = fresh_shipment(shipment.id)
    assert (late.status, late.tracking_number) == ("cancelled", "FP0001")
    order_now = fresh_order(order.id)
    assert order_now.status == "fulfilling"
    assert any("after it was cancelled" in e.message for e in order_now.events)


@pytest.mark.parametrize("answer, says", [
    (CarrierResult(ok=True), "without a tracking number"),
    (CarrierResult(ok=True, tracking_number="x" * 101), "tracking number"),
])
def test_a_booking_answer_that_cannot_be_stored_is_a_failed_booking(place, answer, says):
    order = paid_order(place)
    shipment = shipments.create_shipment(order.id, carrier_id="goodpost", actor="test")
    shipments.apply_booking(shipment.id, answer)
    assert says in fresh_shipment(shipment.id).booking_error
    assert fresh_order(order.id).status == "fulfilling"


def test_the_timeline_names_a_service_only_when_it_is_not_the_carrier():
    from oms_core.services import timeline

    assert timeline.shipment_message(3, "PostNL", "PostNL") == "Shipment #3 with PostNL"
    assert timeline.shipment_message(3, "Test Post", "std") == "Shipment #3 with Test Post (std)"
    assert timeline.shipment_message(3, "Test Post", "") == "Shipment #3 with Test Post"
