"""The karrio bridge against two real karrio extensions (UPS and DHL Parcel DE): karrio
builds the real requests and parses recorded carrier answers served by a local
server (karrio_recorded_server.py), never the carrier. Covered: rates, buying a
label, voiding it, tracking, a carrier's error, a carrier that is down, and the
core's carrier contract for each configured carrier."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from karrio_recorded_server import (
    DHL_NUMBER, DHL_ROUTES, HANG_UP, UPS_NUMBER, UPS_ROUTES, Answer, CarrierServer, recorded,
)

from oms_core.plugin_settings import PluginSettings
from oms_core.protocols import (
    CARRIER_CAPABILITIES, TRACKING_STATUSES, Address, ContentLine, Parcel, RateRequest, ShipmentOptions,
    ShipmentRequest, VoidLabelRequest, supports,
)
from oms_core.testing.contracts import check_carrier
from oms_karrio import mapping, register_carriers, static
from oms_karrio.config import KarrioSettingsError, carrier_configs

pytest.importorskip("karrio.mappers.ups")
pytest.importorskip("karrio.mappers.dhl_parcel_de")

SHOP = Address(name="Shop Owner", company="Example Shop GmbH", line1="Hauptstrasse 1", city="Bonn",
               postal_code="53113", country="DE", phone="+49228123456", email="shop@example.com")
ANN = Address(name="Ann Example", line1="Oudegracht 1", city="Utrecht", postal_code="3511 AA", country="NL",
              phone="+31301234567", email="ann@example.com")
ZOE = Address(name="Zoe Example", line1="Bahnhofstrasse 10", city="Zürich", postal_code="8001", country="CH",
              phone="+41441234567", email="zoe@example.com")  # outside the EU's customs union
PARCEL = Parcel(weight_grams=1850, length_mm=300, width_mm=200, height_mm=150)
LINES = (ContentLine(sku="MUG-1", description="Stoneware mug", quantity=2, unit_value_minor=1250,
                     currency="EUR", weight_grams=400, hs_code="691200", origin_country="DE"),)


def carriers_at(api_host: str) -> dict:
    entries = {
        "karrio_ups": {"carrier_name": "ups", "label": "UPS", "client_id": "test-client",
                       "client_secret": "test-secret", "account_number": "A1B2C3", "api_host": api_host},
        "karrio_dhl": {"carrier_name": "dhl_parcel_de", "label": "DHL", "username": "user-valid",
                       "password": "SandboxPasswort2023!", "client_id": "test-client",
                       "client_secret": "test-secret", "api_host": api_host},
    }
    settings = PluginSettings({"karrio": {"carriers": entries}}, environ={})
    return {carrier.id: carrier for carrier in register_carriers(settings)}


@pytest.fixture
def server():
    with CarrierServer() as running:
        running.routes = {**UPS_ROUTES, **DHL_ROUTES}
        yield running


@pytest.fixture
def carriers(server):
    return carriers_at(server.url)


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def booking(service: str, **fields) -> ShipmentRequest:
    return ShipmentRequest(**{
        "shipment_id": 7, "order_number": "000042", "service": service, "idempotency_key": "shipment-7",
        "destination_country": "NL", "weight_grams": 1850, "ship_from": SHOP, "ship_to": ANN, "parcel": PARCEL,
        "contents": LINES, **fields})


# ---------------------------------------------------------------- registration


def test_one_carrier_per_configured_account_with_the_extensions_services(carriers):
    ups, dhl = carriers["karrio_ups"], carriers["karrio_dhl"]
    assert (ups.label, dhl.label, ups.manual) == ("UPS", "DHL", False)
    ups_codes = {service.code for service in ups.services()}
    assert {"ups_standard", "ups_standard_eu", "ups_worldwide_saver_eu"} <= ups_codes
    standard = next(s for s in ups.services() if s.code == "ups_standard")
    assert (standard.label, standard.carrier_name) == ("UPS Standard", "UPS")
    paket = next(s for s in dhl.services() if s.code == "dhl_parcel_de_paket")
    assert paket.label == "Paket"  # the extension's bare product code (V01PAK) is no label


def test_the_capabilities_are_those_the_extensions_proxy_implements(carriers):
    for carrier in carriers.values():
        assert [name for name in CARRIER_CAPABILITIES if supports(carrier, name)] == list(CARRIER_CAPABILITIES)
        assert carrier.webhook_auth == "none"
        assert not carrier.parse_webhook(b"{}", {}, None).ok
    assert not supports(carriers["karrio_ups"], "refund")


def test_a_carrier_whose_extension_is_not_installed_offers_nothing_and_says_how_to_install_it():
    settings = PluginSettings({"karrio": {"carriers": {"karrio_gls": {"carrier_name": "gls_not_installed"}}}},
                              environ={})
    (carrier,) = register_carriers(settings)
    assert carrier.services() == [] and carrier.tracking_url("123") is None
    assert not any(supports(carrier, name) for name in CARRIER_CAPABILITIES)
    result = carrier.create_shipment(booking("gls_standard"))
    assert not result.ok and "pip install karrio.gls_not_installed" in result.error


def test_settings_come_from_the_environment_as_json():
    entry = {"carrier_name": "ups", "client_id": "c", "client_secret": "s"}
    environ = {"OMS_PLUGIN_KARRIO_CARRIERS": json.dumps({"karrio_ups": entry})}
    (config,) = carrier_configs(PluginSettings({}, environ=environ).for_id("karrio"))
    assert (config.id, config.carrier_name, config.label) == ("karrio_ups", "ups", "ups")
    assert config.connection == {"client_id": "c", "client_secret": "s"}


@pytest.mark.parametrize("carriers_setting, complaint", [
    ("{not json", "not valid JSON"),
    (["ups"], "must map carrier ids"),
    ({"UPS!": {"carrier_name": "ups"}}, "ids are lower-case"),
    ({"karrio_ups": "ups"}, "must be a mapping"),
    ({"karrio_ups": {"label": "UPS"}}, "needs 'carrier_name'"),
    ({"karrio_ups": {"carrier_name": "ups", "api_host": "ftp://x"}}, "'api_host' must be a URL"),
])
def test_malformed_settings_stop_the_start_up_with_a_clear_message(carriers_setting, complaint):
    with pytest.raises(KarrioSettingsError, match=complaint):
        carrier_configs({"carriers": carriers_setting})


def test_settings_karrio_does_not_know_fail_the_booking_clearly(server):
    settings = PluginSettings({"karrio": {"carriers": {"karrio_ups": {
        "carrier_name": "ups", "client_id": "c", "client_secret": "s", "acount_number": "typo",
        "api_host": server.url}}}}, environ={})
    (carrier,) = register_carriers(settings)
    result = carrier.create_shipment(booking("ups_standard"))
    assert not result.ok and not result.retryable and "no setting acount_number" in result.error
    assert server.asked == []


# ---------------------------------------------------------------- UPS


def test_ups_rates_come_back_in_minor_units_with_the_extensions_service_codes(carriers, server):
    result = carriers["karrio_ups"].rates(RateRequest(ship_from=SHOP, ship_to=ANN, parcel=PARCEL, contents=LINES))
    assert result.ok, result.error
    by_service = {rate.service: rate for rate in result.rates}
    assert set(by_service) == {"ups_standard_eu", "ups_worldwide_saver_eu"}
    standard = by_service["ups_standard_eu"]
    assert (standard.amount_minor, standard.currency, standard.estimated_days) == (1840, "EUR", 2)
    assert standard.carrier_name == "UPS" and standard.label == "UPS Standard EU"
    assert by_service["ups_worldwide_saver_eu"].amount_minor == 4195
    # karrio built UPS's request from the OMS's parcel: kilograms and centimetres.
    sent = json.loads(next(a.body for a in server.asked if a.path.startswith("/api/rating/")))
    package = sent["RateRequest"]["Shipment"]["Package"][0]
    assert package["PackageWeight"]["Weight"] == "1.85"
    assert package["PackageWeight"]["UnitOfMeasurement"]["Code"] == "KGS"
    assert (package["Dimensions"]["Length"], package["Dimensions"]["UnitOfMeasurement"]["Code"]) == ("30.0", "CM")
    assert sent["RateRequest"]["Shipment"]["ShipTo"]["Address"]["CountryCode"] == "NL"


def test_ups_buys_a_label_the_pdf_comes_back_with_its_tracking_number(carriers, server):
    result = carriers["karrio_ups"].create_shipment(booking("ups_standard_eu"))
    assert result.ok, result.error
    assert result.tracking_number == result.external_id == UPS_NUMBER
    assert result.label.format == "PDF" and result.label.data.startswith(b"%PDF")  # karrio made UPS's GIF a PDF
    assert result.tracking_url.startswith("https://www.ups.com/track") and UPS_NUMBER in result.tracking_url
    sent = json.loads(next(a.body for a in server.asked if a.path.startswith("/api/shipments/")))
    shipment = sent["ShipmentRequest"]["Shipment"]
    assert shipment["Service"]["Code"] == "11"
    assert shipment["ShipTo"]["Address"]["City"] == "Utrecht"
    assert shipment["Shipper"]["ShipperNumber"] == "A1B2C3"
    assert "000042" in json.dumps(shipment)  # the order number travels as the shipment's reference


def test_ups_books_signature_and_insurance_as_karrios_options(carriers, server):
    options = ShipmentOptions(signature=True, insurance_minor=50000, currency="EUR")
    assert carriers["karrio_ups"].create_shipment(booking("ups_standard_eu", options=options, ship_to=ZOE)).ok
    sent = json.loads(next(a.body for a in server.asked if a.path.startswith("/api/shipments/")))
    service_options = sent["ShipmentRequest"]["Shipment"]["ShipmentServiceOptions"]
    assert "DeliveryConfirmation" in service_options  # karrio's signature_confirmation
    # 500.00 EUR of insurance, in major units (karrio's), on the customs forms of a
    # parcel to Switzerland, with the contents as the invoice's products.
    forms = service_options["InternationalForms"]
    assert forms["InsuranceCharges"]["MonetaryValue"] == 500.0
    assert [(p["CommodityCode"], p["Unit"]["Number"]) for p in forms["Product"]] == [("691200", "2")]


@pytest.mark.parametrize("route, crosses", [
    (("DE", "NL"), False), (("DE", "GR"), False), (("DE", "DE"), False), (("US", "US"), False),
    (("DE", "CH"), True), (("CH", "FR"), True), (("US", "CA"), True), (("NO", "CH"), True),
])
def test_customs_are_for_parcels_that_leave_the_eus_customs_union(route, crosses):
    ship_from, ship_to = (Address(name="A", line1="1 Street", city="City", postal_code="1", country=country)
                          for country in route)
    assert mapping.crosses_customs(ship_from, ship_to) is crosses


def test_a_parcel_inside_the_eus_customs_union_goes_without_customs_forms(carriers, server):
    assert carriers["karrio_ups"].create_shipment(booking("ups_standard_eu")).ok  # Bonn to Utrecht
    sent = json.loads(next(a.body for a in server.asked if a.path.startswith("/api/shipments/")))
    assert "InternationalForms" not in sent["ShipmentRequest"]["Shipment"]["ShipmentServiceOptions"]


def test_ups_return_label_goes_from_the_customer_to_the_shop(carriers, server):
    result = carriers["karrio_ups"].create_return_label(booking("ups_standard_eu", is_return=True,
                                                                ship_from=ANN, ship_to=SHOP))
    assert result.ok and result.label.data.startswith(b"%PDF")
    shipment = json.loads(next(a.body for a in server.asked if a.path.startswith("/api/shipments/")))
    shipment = shipment["ShipmentRequest"]["Shipment"]
    assert shipment["ShipFrom"]["Address"]["City"] == "Utrecht"
    assert shipment["ShipTo"]["Address"]["City"] == "Bonn"


def test_ups_voids_a_label(carriers, server):
    result = carriers["karrio_ups"].void_label(VoidLabelRequest(shipment_id=7, idempotency_key="void-7",
                                                                external_id=UPS_NUMBER))
    assert result.ok, result.error
    assert server.paths("DELETE") == [f"/api/shipments/v2409/void/cancel/{UPS_NUMBER}"]
    assert not carriers["karrio_ups"].void_label(VoidLabelRequest(shipment_id=7, idempotency_key="v")).ok


def test_ups_tracking_events_become_updates_with_normalised_statuses(carriers):
    result = carriers["karrio_ups"].track([UPS_NUMBER])
    assert result.ok, result.error
    updates = sorted(result.updates, key=lambda update: update.occurred_at)
    assert [u.status for u in updates] == ["pre_transit", "in_transit", "in_transit", "delivered"]
    assert all(u.status in TRACKING_STATUSES and u.tracking_number == UPS_NUMBER for u in updates)
    assert updates[-1].occurred_at == datetime(2026, 11, 27, 14, 15, tzinfo=timezone.utc)
    assert (updates[-1].raw_code, updates[-1].message) == ("KB", "DELIVERED")
    assert updates[-1].location.startswith("UTRECHT")


def test_ups_error_message_is_a_final_failure(carriers, server):
    server.routes[("POST", "/api/shipments/v2409/ship")] = recorded("ups_error.json", status=400)
    result = carriers["karrio_ups"].create_shipment(booking("ups_standard_eu"))
    assert not result.ok and not result.retryable
    assert "Address Validation Error on ShipTo address" in result.error and "120802" in result.error


def test_a_carrier_that_answers_503_is_worth_trying_again(carriers, server):
    page = Answer(503, b"<html><body>Service Unavailable</body></html>", "text/html")
    server.routes[("POST", "/api/shipments/v2409/ship")] = page
    server.routes[("POST", "/api/rating/")] = page
    result = carriers["karrio_ups"].create_shipment(booking("ups_standard_eu"))
    assert not result.ok and result.retryable
    rates = carriers["karrio_ups"].rates(RateRequest(ship_from=SHOP, ship_to=ANN, parcel=PARCEL))
    assert not rates.ok and rates.retryable


def test_a_call_that_gets_no_answer_after_others_did_is_worth_trying_again(carriers, server):
    server.routes[("POST", "/api/shipments/v2409/ship")] = HANG_UP  # the OAuth token came back
    result = carriers["karrio_ups"].create_shipment(booking("ups_standard_eu"))
    assert not result.ok and result.retryable
    assert [path for path in server.paths("POST")] == ["/security/v1/oauth/token", "/api/shipments/v2409/ship"]


def test_a_carrier_that_is_down_is_worth_trying_again():
    down = carriers_at(closed_port_url())
    for carrier in down.values():
        result = carrier.create_shipment(booking(carrier.services()[0].code))
        assert not result.ok and result.retryable and result.error
        tracked = carrier.track(["123"])
        assert not tracked.ok and tracked.retryable
        voided = carrier.void_label(VoidLabelRequest(shipment_id=1, idempotency_key="v", external_id="123"))
        assert not voided.ok and voided.retryable
    rates = down["karrio_ups"].rates(RateRequest(ship_from=SHOP, ship_to=ANN, parcel=PARCEL))
    assert not rates.ok and rates.retryable


# ---------------------------------------------------------------- DHL Parcel DE


def test_dhl_buys_a_label_and_voids_it(carriers, server):
    dhl = carriers["karrio_dhl"]
    result = dhl.create_shipment(booking("dhl_parcel_de_paket_international", ship_to=ZOE))
    assert result.ok, result.error
    assert result.tracking_number == result.external_id == DHL_NUMBER
    assert result.label.format == "PDF" and result.label.data.startswith(b"%PDF")
    assert result.tracking_url.startswith("https://www.dhl.com/") and DHL_NUMBER in result.tracking_url
    order = json.loads(next(a.body for a in server.asked if a.method == "POST" and "/v2/orders" in a.path))
    sent = order["shipments"][0]
    assert sent["product"] == "V53WPAK" and sent["refNo"] == "000042"
    assert sent["details"]["weight"] == {"uom": "kg", "value": 1.85}
    assert sent["consignee"]["city"] == "Zürich" and sent["customs"]["items"][0]["hsCode"] == "691200"
    voided = dhl.void_label(VoidLabelRequest(shipment_id=7, idempotency_key="void-7", external_id=DHL_NUMBER))
    assert voided.ok, voided.error
    assert any(f"shipment={DHL_NUMBER}" in path for path in server.paths("DELETE"))


def test_dhl_rates_come_from_karrios_rate_sheet_and_a_service_without_a_price_is_no_quote(carriers, server):
    berlin = Address(name="Bea Example", line1="Unter den Linden 5", city="Berlin", postal_code="10117",
                     country="DE")
    result = carriers["karrio_dhl"].rates(RateRequest(ship_from=SHOP, ship_to=berlin, parcel=PARCEL))
    assert result.ok and result.rates == []  # the default sheet's Paket has no price
    assert server.asked == []  # rated from the sheet, without asking DHL


def test_dhl_validation_messages_are_a_final_failure(carriers, server):
    server.routes[("POST", "/parcel/de/shipping/v2/orders")] = recorded("dhl_order_error.json", status=400)
    result = carriers["karrio_dhl"].create_shipment(booking("dhl_parcel_de_paket_international"))
    assert not result.ok and not result.retryable
    assert "consignee.postalCode" in result.error and "Postleitzahl" in result.error


def test_dhl_tracking_reads_the_xml_answer(carriers):
    result = carriers["karrio_dhl"].track(["00" + DHL_NUMBER])
    assert result.ok, result.error
    updates = sorted(result.updates, key=lambda update: update.occurred_at)
    assert [u.status for u in updates] == ["in_transit", "in_transit"]
    assert updates[0].occurred_at == datetime(2026, 11, 27, 18, 12, tzinfo=timezone.utc)
    assert updates[-1].location == "Köln, Deutschland" and updates[-1].raw_code == "AA"


def test_tracking_asks_at_most_one_batch(carriers, server):
    numbers = [f"1Z{index:016d}" for index in range(60)]
    carriers["karrio_ups"].track(numbers)
    asked = [path for path in server.paths("GET") if path.startswith("/api/track/")]
    assert len(asked) == carriers["karrio_ups"].track_batch_size


# ---------------------------------------------------------------- the core's contract


@pytest.mark.parametrize("carrier_id", ["karrio_ups", "karrio_dhl"])
def test_each_configured_carrier_meets_the_carrier_contract(carriers, carrier_id):
    check_carrier(carriers[carrier_id])


def test_the_contracts_booking_without_addresses_fails_with_a_reason(carriers, server):
    result = carriers["karrio_ups"].create_shipment(ShipmentRequest(
        shipment_id=1, order_number="000001", service="ups_standard", idempotency_key="shipment-1"))
    assert not result.ok and "addresses" in result.error and server.asked == []


LISTING = """
import json, sys
from oms_core.plugin_settings import PluginSettings
from oms_core.protocols import CARRIER_CAPABILITIES, supports
import oms_karrio
entries = {"karrio_ups": {"carrier_name": "ups"}, "karrio_dhl": {"carrier_name": "dhl_parcel_de"}}
carriers = oms_karrio.register_carriers(PluginSettings({"karrio": {"carriers": entries}}, environ={}))
listed = {c.id: [len(c.services()), [name for name in CARRIER_CAPABILITIES if supports(c, name)]] for c in carriers}
print(json.dumps({"listed": listed, "karrio": sorted(m for m in sys.modules if m.split(".")[0] == "karrio")}))
"""


def test_listing_the_carriers_their_services_and_capabilities_imports_no_karrio():
    """What every web worker does (load the plugin, list the carriers, their services
    and capabilities on the order page) loads none of the SDK: about a second and
    50 MB per process. Only booking, rating, voiding and tracking do."""
    done = subprocess.run([sys.executable, "-c", LISTING], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["karrio"] == []
    assert all(count > 5 and capabilities == list(CARRIER_CAPABILITIES)
               for count, capabilities in report["listed"].values())


@pytest.mark.parametrize("carrier_name", ["ups", "dhl_parcel_de"])
def test_reading_an_extensions_source_gives_what_karrio_itself_reports(carrier_name):
    from karrio.references import collect_providers_data, detect_proxy_methods

    provider = collect_providers_data()[carrier_name]
    assert static.operations(carrier_name) == frozenset(detect_proxy_methods(provider.Proxy))
    assert static.services(carrier_name) == tuple((member.name, member.value) for member in provider.services)


def test_an_extension_whose_source_cannot_be_read_plainly_is_asked_of_karrio():
    assert static.operations("not_an_extension") is None and static.services("not_an_extension") is None
