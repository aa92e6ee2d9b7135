"""The EasyPost carrier against the local stand-in, through the real EasyPost SDK:
every capability, buying once per idempotency key, the contract, signed webhooks,
and EasyPost down or failing."""
from __future__ import annotations

import json
import socket

import pytest
from werkzeug.datastructures import Headers

from oms_core.plugin_settings import PluginSettings
from oms_core.protocols import (
    CARRIER_CAPABILITIES, Address, ContentLine, Parcel, RateRequest, ShipmentOptions, ShipmentRequest,
    VoidLabelRequest, supports,
)
from oms_core.testing.contracts import check_carrier
from oms_easypost import EasyPost, mapping, register_carriers
from oms_easypost.testing import EasyPostStandIn, sign

API_KEY = "EZTK_test_0123456789"
SECRET = "whsec_easypost_test"
SHOP = Address("Harbour Shop", "Kade 1", "Rotterdam", "3011 AA", "NL")
US_CUSTOMER = Address("Ann Example", "179 N Harbor Dr", "Redondo Beach", "90277", "US", state="CA")
DE_CUSTOMER = Address("Bert Beispiel", "Hauptstr. 5", "Berlin", "10115", "DE")
PARCEL = Parcel(1000, 300, 200, 100)
MUG = ContentLine("MUG-1", "Stoneware mug", 2, 1250, "EUR", weight_grams=400, hs_code="691200",
                  origin_country="NL")


@pytest.fixture(scope="module")
def server():
    with EasyPostStandIn(api_key=API_KEY) as running:
        yield running


@pytest.fixture
def carrier(server):
    server._failures.clear()
    return EasyPost(api_key=API_KEY, api_base=server.api_base)


def booking(key: str, **fields) -> ShipmentRequest:
    fields = {"service": "USPS:Priority", "ship_from": SHOP, "ship_to": US_CUSTOMER, "parcel": PARCEL,
              "contents": [MUG], **fields}
    return ShipmentRequest(shipment_id=1, order_number="000001", idempotency_key=key, **fields)


def calls(server, method: str, ending: str) -> list:
    return [body for verb, path, body in server.requests if verb == method and path.endswith(ending)]


def free_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v2"


def test_registered_from_settings_and_offers_every_capability():
    settings = PluginSettings({"easypost": {"api_key": API_KEY, "carriers": "USPS, ca_123", "label_format": "zpl"}},
                              environ={"OMS_PLUGIN_EASYPOST_SERVICES": "USPS:Priority,UPS:Ground"})
    [carrier] = register_carriers(settings=settings)
    assert (carrier.id, carrier.label, carrier.manual, carrier.api_key) == ("easypost", "EasyPost", False, API_KEY)
    assert all(supports(carrier, name) for name in CARRIER_CAPABILITIES)
    assert [s.code for s in carrier.services()] == ["cheapest", "USPS:Priority"]  # UPS filtered out
    assert carrier.carrier_accounts == ("ca_123",) and carrier.label_format == "ZPL"
    assert PluginSettings({}, environ={}).missing(EasyPost()) == ["api_key"]
    with pytest.raises(ValueError, match="label_format"):
        EasyPost(api_key=API_KEY, label_format="GIF")


def test_the_contract_with_signed_webhooks(server, carrier):
    server.advance("EZCONTRACT1", "in_transit", "Arrived at facility", city="Chicago")
    check_carrier(carrier, webhook_body=json.dumps(server.event("EZCONTRACT1")).encode(), sign=sign)


def test_rates_for_the_parcel_with_customs_outside_the_customs_union(server, carrier):
    result = carrier.rates(RateRequest(SHOP, US_CUSTOMER, PARCEL, [MUG]))
    assert result.ok, result.error
    assert [r.amount_minor for r in result.rates] == sorted(r.amount_minor for r in result.rates)
    priority = next(r for r in result.rates if r.service == "USPS:Priority")
    assert (priority.amount_minor, priority.currency, priority.carrier_name) == (800 + 15 * 36, "USD", "USPS")
    sent = calls(server, "POST", "/v2/shipments")[-1]["shipment"]
    assert sent["parcel"] == {"weight": 35.3, "length": 11.9, "width": 7.9, "height": 4.0}
    assert sent["customs_info"]["customs_items"][0]["hs_tariff_number"] == "691200"
    only = carrier.rates(RateRequest(SHOP, DE_CUSTOMER, PARCEL, [MUG], services=["UPS:Ground"]))
    assert [r.service for r in only.rates] == ["UPS:Ground"]
    assert "customs_info" not in calls(server, "POST", "/v2/shipments")[-1]["shipment"]


def test_a_booking_buys_one_label_and_a_retry_finds_it(server, carrier):
    options = ShipmentOptions(signature=True, insurance_minor=5000, currency="USD")
    request = booking("shipment-11-book", options=options)
    first = carrier.create_shipment(request)
    assert first.ok, first.error
    assert first.tracking_number.startswith("EZ") and first.external_id.startswith("shp_")
    assert (first.cost_minor, first.currency) == (800 + 15 * 36, "USD")
    assert first.label.format == "PDF" and first.label.data.startswith(b"%PDF-") and b"%%EOF" in first.label.data
    assert first.tracking_url == f"https://track.easypost.com/{first.tracking_number}"
    shipment = server.shipments[first.external_id]
    assert shipment["reference"] == "shipment-11-book"
    assert shipment["options"]["delivery_confirmation"] == "SIGNATURE" and shipment["insurance"] == "50.00"
    assert shipment["selected_rate"]["service"] == "Priority"
    bought = len(calls(server, "POST", "/buy"))
    again = carrier.create_shipment(request)
    assert (again.ok, again.tracking_number, again.external_id) == (True, first.tracking_number, first.external_id)
    assert len(calls(server, "POST", "/buy")) == bought  # never bought twice


def test_a_retry_after_the_shipment_was_made_but_not_bought_buys_that_one(server, carrier):
    # A first attempt that died between creating the shipment and buying it.
    made = server._create({**mapping.shipment_body(SHOP, US_CUSTOMER, PARCEL, [MUG], ShipmentOptions(),
                                                   label_format="PDF", reference="shipment-12-book")})
    count = len(server.shipments)
    result = carrier.create_shipment(booking("shipment-12-book", service="cheapest"))
    assert result.ok, result.error
    assert result.external_id == made["id"] and len(server.shipments) == count
    assert made["selected_rate"]["service"] == "GroundAdvantage"  # the cheapest


def test_the_rate_staff_picked_is_bought_on_the_shipment_it_was_quoted_on(server, carrier):
    quote = next(r for r in carrier.rates(RateRequest(SHOP, US_CUSTOMER, PARCEL, [MUG])).rates
                 if r.service == "UPS:Ground")
    made = len(server.shipments)
    result = carrier.create_shipment(booking("shipment-13-book", service="UPS:Ground", rate_id=quote.rate_id))
    assert result.ok, result.error
    assert len(server.shipments) == made  # no new shipment: the quoted one was bought
    assert server.shipments[result.external_id]["selected_rate"]["id"] == quote.rate_id
    assert result.cost_minor == quote.amount_minor


def test_a_zpl_label_comes_from_easypost_s_label_conversion(server):
    zpl = EasyPost(api_key=API_KEY, api_base=server.api_base, label_format="ZPL")
    result = zpl.create_shipment(booking("shipment-14-book", ship_to=DE_CUSTOMER))
    assert result.ok, result.error
    assert result.label.format == "ZPL" and result.label.data.startswith(b"^XA")
    assert "customs_info" not in server.shipments[result.external_id] or \
        server.shipments[result.external_id]["customs_info"] is None
    png = EasyPost(api_key=API_KEY, api_base=server.api_base).create_shipment(
        booking("shipment-15-book", label_format="PNG"))
    assert png.label.data.startswith(b"\x89PNG")
    server.shipments[png.external_id]["postage_label"]["label_pdf_url"] = None
    pdf = EasyPost(api_key=API_KEY, api_base=server.api_base, label_format="PDF").create_shipment(
        booking("shipment-15-book"))  # the same booking, asked as PDF: converted, not bought again
    assert pdf.tracking_number == png.tracking_number and pdf.label.data.startswith(b"%PDF-")
    assert calls(server, "GET", f"/shipments/{png.external_id}/label")


def test_a_return_label_ships_from_the_customer_to_the_shop(server, carrier):
    result = carrier.create_return_label(booking("return-21", service="USPS:GroundAdvantage", ship_to=SHOP,
                                                 ship_from=DE_CUSTOMER, rate_id="rate_ignored"))
    assert result.ok, result.error
    shipment = server.shipments[result.external_id]
    assert shipment["is_return"] is True
    assert shipment["to_address"]["name"] == "Harbour Shop" and shipment["from_address"]["name"] == "Bert Beispiel"


def test_void_refunds_the_label_once_and_a_repeated_void_is_fine(server, carrier):
    booked = carrier.create_shipment(booking("shipment-31-book"))
    request = VoidLabelRequest(shipment_id=1, idempotency_key="void-31", external_id=booked.external_id)
    first = carrier.void_label(request)
    assert first.ok and server.shipments[booked.external_id]["refund_status"] == "submitted"
    assert carrier.void_label(request).ok
    unbought = server._create({"to_address": {"name": "a"}, "from_address": {"name": "b"}, "parcel": {"weight": 1}})
    refused = carrier.void_label(VoidLabelRequest(1, "void-32", external_id=unbought["id"]))
    assert (refused.ok, refused.retryable) == (False, False) and "postage" in refused.error
    assert not carrier.void_label(VoidLabelRequest(1, "void-33")).ok


def test_tracking_polls_known_trackers_and_creates_missing_ones(server, carrier):
    booked = carrier.create_shipment(booking("shipment-41-book"))
    server.advance(booked.tracking_number, "out_for_delivery", "Out for delivery", city="Redondo Beach")
    result = carrier.track([booked.tracking_number, "EZNEW0001", booked.tracking_number])
    assert result.ok, result.error
    mine = [u for u in result.updates if u.tracking_number == booked.tracking_number]
    assert [u.status for u in mine] == ["pre_transit", "out_for_delivery"]
    assert "EZNEW0001" in server.trackers  # made, with nothing to tell yet
    assert carrier.track([]).ok


def test_webhooks_are_checked_with_the_sdk_and_read_into_updates(server, carrier):
    booked = carrier.create_shipment(booking("shipment-51-book"))
    server.advance(booked.tracking_number, "delivered", "Delivered", city="Redondo Beach")
    body = json.dumps(server.event(booked.tracking_number)).encode()
    accepted = carrier.parse_webhook(body, Headers(sign(body, SECRET)), SECRET)
    assert accepted.ok and accepted.events[-1].status == "delivered"
    lower = {name.lower(): value for name, value in sign(body, SECRET).items()}
    assert carrier.parse_webhook(body, Headers(lower), SECRET).ok
    for headers, secret, why in (
        (sign(body, "whsec_other"), SECRET, "signature"), ({}, SECRET, "missing"),
        ({"X-Hmac-Signature": "hmac-sha256-hex=00"}, SECRET, "signature"), (sign(body, SECRET), None, "secret"),
    ):
        refused = carrier.parse_webhook(body, Headers(headers), secret)
        assert not refused.ok and why in refused.error
    changed = body.replace(b'"delivered"', b'"in_transit"')
    assert not carrier.parse_webhook(changed, Headers(sign(body, SECRET)), SECRET).ok
    other = json.dumps({**server.event(booked.tracking_number), "description": "refund.successful"}).encode()
    acknowledged = carrier.parse_webhook(other, Headers(sign(other, SECRET)), SECRET)
    assert acknowledged.ok and list(acknowledged.events) == []
    broken = json.dumps({"object": "Event", "description": "tracker.updated", "result": {}}).encode()
    assert not carrier.parse_webhook(broken, Headers(sign(broken, SECRET)), SECRET).ok


def test_easypost_down_or_failing_is_retryable_and_a_refusal_is_not(server, carrier):
    down = EasyPost(api_key=API_KEY, api_base=free_port_url())
    for result in (down.create_shipment(booking("shipment-61-book")),
                   down.rates(RateRequest(SHOP, US_CUSTOMER, PARCEL, [MUG])), down.track(["EZ1"]),
                   down.void_label(VoidLabelRequest(1, "void-61", external_id="shp_1"))):
        assert (result.ok, result.retryable) == (False, True) and result.error.startswith("EasyPost")
    for status in (500, 503):
        server.fail_next(1, status=status)
        failed = carrier.create_shipment(booking(f"shipment-62-{status}"))
        assert (failed.ok, failed.retryable) == (False, True)
    wrong_key = EasyPost(api_key="EZTK_wrong", api_base=server.api_base).create_shipment(booking("shipment-63"))
    assert (wrong_key.ok, wrong_key.retryable) == (False, False) and "API key" in wrong_key.error
    no_address = carrier.create_shipment(ShipmentRequest(1, "000001", "USPS:Priority", "shipment-64"))
    assert not no_address.ok and "address" in no_address.error
    no_customs = carrier.create_shipment(booking("shipment-65", contents=[]))
    assert (no_customs.ok, no_customs.retryable) == (False, False) and "contents" in no_customs.error
    unknown_service = carrier.create_shipment(booking("shipment-66", service="FedEx:FEDEX_GROUND"))
    assert not unknown_service.ok and "FedEx:FEDEX_GROUND" in unknown_service.error


def test_a_label_file_over_the_bound_is_refused(server, carrier, monkeypatch):
    from oms_easypost import client as api
    monkeypatch.setattr(api, "MAX_LABEL_BYTES", 100)  # the stand-in's PDF is about 600 bytes
    result = carrier.create_shipment(booking("shipment-71-book"))
    assert (result.ok, result.retryable) == (False, False) and "over 10 MiB" in result.error
