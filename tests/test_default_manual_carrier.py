"""The manual carrier: staff type the carrier's tracking number; known carriers get
a link to their own tracking page."""
from __future__ import annotations

from urllib.parse import unquote

import pytest

from oms_core.default_plugins.manual_carrier import TRACKING_URLS, ManualCarrier, register_carriers
from oms_core.protocols import ShipmentRequest
from oms_core.testing.contracts import check_carrier

CARRIER = ManualCarrier()


def shipment_request(tracking_number="JD0001", service="DHL"):
    return ShipmentRequest(shipment_id=7, order_number="000007", service=service,
                           idempotency_key="shipment-7", tracking_number=tracking_number)


def test_contract():
    check_carrier(CARRIER)


def test_the_hook_registers_it():
    [carrier] = register_carriers()
    assert carrier.id == "manual" and carrier.manual is True


def test_services_are_the_known_carriers_and_other():
    codes = [s.code for s in CARRIER.services()]
    assert codes == list(TRACKING_URLS) + ["Other"]


@pytest.mark.parametrize("service", sorted(TRACKING_URLS))
def test_every_known_carrier_links_to_its_https_tracking_page(service):
    url = CARRIER.tracking_url("AB123", service)
    assert url.startswith("https://") and "AB123" in url


def test_tracking_numbers_are_quoted_in_the_url():
    typed = 'AB 12/3?x=1&y#"<z>'
    url = CARRIER.tracking_url(typed, "UPS")
    assert url == "https://www.ups.com/track?tracknum=" + "AB%2012%2F3%3Fx%3D1%26y%23%22%3Cz%3E"
    tail = url.split("tracknum=", 1)[1]
    assert not set(tail) & set(' /?&#"<>=') and unquote(tail) == typed


@pytest.mark.parametrize("service", ["Other", "", "dhl", "Unknown Express"])
def test_unknown_carriers_have_no_link(service):
    assert CARRIER.tracking_url("AB123", service) is None


def test_create_shipment_echoes_the_typed_number():
    result = CARRIER.create_shipment(shipment_request())
    assert result.ok and result.tracking_number == "JD0001"
    assert result.external_id == "shipment-7"
    assert result.tracking_url == TRACKING_URLS["DHL"].format(number="JD0001")


def test_create_shipment_without_a_number_is_a_failure_result():
    result = CARRIER.create_shipment(shipment_request(tracking_number=None))
    assert not result.ok and "tracking number" in result.error


def test_no_webhooks():
    result = CARRIER.parse_webhook(b"{}", {}, "secret")
    assert not result.ok and result.error


# ------------------------------------------------------------ inside an OMS (test kit fixtures)


def test_shipping_with_the_manual_carrier(oms_app, oms_product):
    from oms_core.services import payments, shipments
    from oms_core.services.orders import NewOrder, place_order

    order = place_order(NewOrder(email="ann@example.com", name="Ann", lines=[(oms_product.sku, 1)],
                                 payment_method="bank_transfer"), actor="test", confirm=True)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=1250, currency="EUR",
                            reference="T1", actor="test")
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="PostNL",
                                         tracking_number="3S ABC 123", actor="staff")
    assert order.status == "shipped"
    assert shipment.tracking_number == "3SABC123"  # spaces typed by staff are dropped
    assert shipment.tracking_url == "https://jouw.postnl.nl/track-and-trace/3SABC123"
    assert shipment.carrier_name == "PostNL"
