"""The EasyPost plugin inside an OMS shop, on SQLite and (with OMS_TEST_POSTGRES_URL)
PostgreSQL: loaded through its entry point from its settings, a booking's answer
recorded, and EasyPost's signed tracker webhooks applied once."""
from __future__ import annotations

import json

import pytest
from oms_easypost.testing import EasyPostStandIn, sign

from oms_core.protocols import Address, ContentLine, Parcel, ShipmentRequest
from oms_core.testing import dispose, make_app, place_test_order, post_signed_webhook, postgres_test_database

API_KEY = "EZTK_oms_test"
SECRET = "whsec_oms_test"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'oms.sqlite3'}"
        return
    yield from postgres_test_database("oms_easypost")


@pytest.fixture
def standin():
    with EasyPostStandIn(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def shop(database_url, standin):
    app = make_app(database_url, OMS_PLUGINS={"easypost": {
        "api_key": API_KEY, "webhook_secret": SECRET, "api_base": standin.api_base}})
    with app.app_context():
        yield app
    dispose(app)


def test_a_booked_label_then_easypost_webhooks_track_the_parcel_to_delivery(shop, standin):
    from oms_core import runtime
    from oms_core.db import db
    from oms_core.services import shipments

    carrier = runtime.registry().carrier("easypost")
    assert "USPS:Priority" in [service.code for service in carrier.services()]
    order = place_test_order(payment_method="cash_on_delivery")
    shipment = shipments.create_shipment(order.id, carrier_id="easypost", service="USPS:Priority", actor="test")
    # What the outbox worker will send once the core passes addresses and parcels (issue 9).
    booked = carrier.create_shipment(ShipmentRequest(
        shipment_id=shipment.id, order_number=order.number, service=shipment.service,
        idempotency_key=shipment.booking_key, destination_country="NL",
        ship_from=Address("Harbour Shop", "Kade 1", "Rotterdam", "3011 AA", "NL"),
        ship_to=Address("Test Customer", "Keizersgracht 1", "Amsterdam", "1015 CJ", "NL"),
        parcel=Parcel(900), contents=[ContentLine("TEST-1", "Test product", 1, 1250, "EUR")]))
    assert booked.ok, booked.error
    shipments.apply_booking(shipment.id, booked)
    client = shop.test_client()

    standin.advance(booked.tracking_number, "in_transit", "Arrived at facility", city="Utrecht", country="NL")
    body = json.dumps(standin.event(booked.tracking_number)).encode()
    first = post_signed_webhook(client, "carrier", "easypost", body, sign=sign)
    assert first.status_code == 200, first.get_json()
    again = post_signed_webhook(client, "carrier", "easypost", body, sign=sign)
    assert again.status_code == 200  # EasyPost sends at least once: a repeat changes nothing
    standin.advance(booked.tracking_number, "delivered", "Delivered", city="Amsterdam", country="NL")
    delivered = post_signed_webhook(client, "carrier", "easypost",
                                    json.dumps(standin.event(booked.tracking_number)).encode(), sign=sign)
    assert delivered.status_code == 200, delivered.get_json()
    db.session.expire_all()
    [stored] = shipments.shipments_for(order.id)
    assert stored.status == "delivered" and stored.external_id == booked.external_id
    # Each scan once, though every delivery repeats the tracker's earlier ones.
    assert sorted(event.status for event in stored.events) == ["delivered", "in_transit", "pre_transit"]


def test_an_unsigned_or_wrongly_signed_delivery_is_refused(shop, standin):
    standin.advance("EZUNKNOWN1", "in_transit")
    body = json.dumps(standin.event("EZUNKNOWN1")).encode()
    client = shop.test_client()
    assert post_signed_webhook(client, "carrier", "easypost", body).status_code == 400
    forged = post_signed_webhook(client, "carrier", "easypost", body, sign=sign, secret="whsec_guess")
    assert forged.status_code == 400
    kept = post_signed_webhook(client, "carrier", "easypost", body, sign=sign)
    assert kept.status_code == 202  # well signed, for a parcel the shop does not know yet
