"""The karrio carriers inside an OMS app, on SQLite and PostgreSQL (set
OMS_TEST_POSTGRES_URL): loaded from OMS_PLUGINS, listed in the back-office with the
extension's services, chosen for a shipment, and booked by the core's outbox worker
against the recorded carrier (karrio_recorded_server.py)."""
from __future__ import annotations

import re

import pytest
from karrio_recorded_server import DHL_ROUTES, UPS_NUMBER, UPS_ROUTES, CarrierServer

from oms_core import runtime
from oms_core.errors import ValidationError
from oms_core.plugins import CARRIER
from oms_core.testing import dispose, make_app, postgres_test_database
from oms_core.testing.contracts import check_carrier
from oms_core.testing.helpers import place_test_order, run_worker_once

pytest.importorskip("karrio.mappers.ups")

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
OWNER = {"email": "owner@example.com", "password": "owner-password"}
SHIP_FROM = {"code": "main", "name": "Shop Warehouse", "line1": "Damrak 1", "city": "Amsterdam",
             "postal_code": "1012LG", "country": "NL", "phone": "+31201234567", "default": True}
BOX = {"code": "box-s", "label": "Small box", "outer_mm": [300, 200, 100], "weight_grams": 150}


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh PostgreSQL database for this module, dropped at the end."""
    yield from postgres_test_database("oms_karrio")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'oms.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def server():
    with CarrierServer() as running:
        running.routes = {**UPS_ROUTES, **DHL_ROUTES}
        yield running


@pytest.fixture
def app(database_url, server):
    carriers = {
        "karrio_ups": {"carrier_name": "ups", "label": "UPS", "client_id": "test-client",
                       "client_secret": "test-secret", "account_number": "A1B2C3", "api_host": server.url},
        "karrio_dhl": {"carrier_name": "dhl_parcel_de", "label": "DHL", "username": "user", "password": "pass",
                       "api_host": server.url},
    }
    app = make_app(database_url, OMS_PLUGINS={"karrio": {"carriers": carriers}}, OMS_SHIP_FROM=[SHIP_FROM],
                   OMS_PACKAGING=[BOX])
    with app.app_context():
        _empty_tables()  # PostgreSQL: what the module's earlier tests left
        yield app
    dispose(app)


def _empty_tables() -> None:
    from oms_core import models  # noqa: F401  (every OMS table on the metadata)
    from oms_core.db import db

    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


def owner_client(app):
    from oms_core.services import users

    users.create_user(email=OWNER["email"], name="Olive Owner", password=OWNER["password"], role="owner")
    client = app.test_client()
    token = CSRF_META.search(client.get("/oms/admin/login").get_data(as_text=True)).group(1)
    assert client.post("/oms/admin/login", data={**OWNER, "csrf_token": token}).status_code == 302
    return client


def test_the_app_offers_each_configured_karrio_carrier_with_its_services(app):
    registry = runtime.registry()
    usable = {carrier.id for carrier in registry.usable(CARRIER)}
    assert {"karrio_ups", "karrio_dhl", "manual"} <= usable
    for carrier_id in ("karrio_ups", "karrio_dhl"):
        check_carrier(registry.carrier(carrier_id))
    client = owner_client(app)
    plugins_page = client.get("/oms/admin/plugins").get_data(as_text=True)
    assert "karrio_ups" in plugins_page and "UPS Worldwide Saver EU" in plugins_page
    options = client.get("/oms/admin/carrier-services?carrier_id=karrio_dhl").get_data(as_text=True)
    assert 'value="dhl_parcel_de_paket"' in options and "Europaket" in options


def test_a_karrio_shipment_takes_one_of_the_extensions_services_and_is_booked_by_the_outbox(app, server):
    from oms_core.models import OutboxMessage, Shipment
    from oms_core.services import shipments

    order = place_test_order(paid=True)
    with pytest.raises(ValidationError, match="Pick one of UPS's services"):
        shipments.create_shipment(order.id, carrier_id="karrio_ups", service="ups_teleport", actor="test")
    shipment = shipments.create_shipment(order.id, carrier_id="karrio_ups", service="ups_standard_eu",
                                         packaging="box-s", actor="test")
    run_worker_once(app)
    from oms_core.db import db

    booked = db.session.get(Shipment, shipment.id)
    message = db.session.query(OutboxMessage).filter_by(idempotency_key=booked.booking_key).one()
    # The core hands the carrier the addresses, the parcel (preset's size) and contents.
    assert server.asked
    assert booked.tracking_number == UPS_NUMBER and message.status == "sent", booked.booking_error
    assert booked.label_data and booked.label_format in ("PDF", "PNG", "ZPL") and booked.weight_grams >= 150
