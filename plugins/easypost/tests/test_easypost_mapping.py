"""The EasyPost plugin's pure conversions: units, customs, rates, statuses and
webhook Events (shaped after EasyPost's API reference), without a server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from oms_core.errors import ValidationError
from oms_core.protocols import TRACKING_STATUSES, Address, ContentLine, Parcel, ShipmentOptions
from oms_easypost import mapping

SHOP = Address("Harbour Shop", "Kade 1", "Rotterdam", "3011 AA", "NL", phone="+31101234567")
US_CUSTOMER = Address("Ann Example", "179 N Harbor Dr", "Redondo Beach", "90277", "US", state="CA")
DE_CUSTOMER = Address("Bert Beispiel", "Hauptstr. 5", "Berlin", "10115", "DE")
MUG = ContentLine("MUG-1", "Stoneware mug", 2, 1250, "EUR", weight_grams=400, hs_code="691200",
                  origin_country="NL")

# A tracker.updated Event as EasyPost posts it (the shape of docs.easypost.com's Event
# and Tracker objects; the values are ours).
EVENT = {
    "id": "evt_3f1b6d0c2a8e4f5c9e7d1a2b3c4d5e6f", "object": "Event", "mode": "test",
    "description": "tracker.updated", "previous_attributes": {"status": "in_transit"},
    "created_at": "2026-03-02T14:05:11Z", "updated_at": "2026-03-02T14:05:11Z", "user_id": "user_0f1e2d",
    "status": "pending", "pending_urls": ["https://shop.example/oms/webhooks/carriers/easypost"],
    "completed_urls": [],
    "result": {
        "id": "trk_8c6f2b1a9d4e4c3b8a7f6e5d4c3b2a19", "object": "Tracker", "mode": "test",
        "tracking_code": "9400100000000000000001", "status": "delivered", "status_detail": "arrived_at_destination",
        "created_at": "2026-03-01T09:00:00Z", "updated_at": "2026-03-02T14:05:00Z", "signed_by": "A EXAMPLE",
        "weight": None, "est_delivery_date": "2026-03-02T00:00:00Z", "shipment_id": "shp_5a4b3c2d1e",
        "carrier": "USPS", "public_url": "https://track.easypost.com/djE6dHJrXzhj", "fees": [],
        "carrier_detail": {"object": "CarrierDetail", "service": "Priority", "container_type": None},
        "tracking_details": [
            {"object": "TrackingDetail", "message": "Shipping Label Created", "description": "",
             "status": "pre_transit", "status_detail": "label_created", "datetime": "2026-03-01T09:00:00Z",
             "source": "USPS", "carrier_code": "GX",
             "tracking_location": {"object": "TrackingLocation", "city": None, "state": None, "country": None,
                                   "zip": None}},
            {"object": "TrackingDetail", "message": "Arrived at USPS Regional Facility", "description": "",
             "status": "in_transit", "status_detail": "arrived_at_facility",
             "datetime": "2026-03-01T21:40:00-08:00", "source": "USPS", "carrier_code": "10",
             "tracking_location": {"object": "TrackingLocation", "city": "LOS ANGELES", "state": "CA",
                                   "country": "US", "zip": "90052"}},
            {"object": "TrackingDetail", "message": "Delivery attempted - no access", "description": "",
             "status": "in_transit", "status_detail": "delivery_attempted", "datetime": "2026-03-02T10:02:00Z",
             "source": "USPS", "carrier_code": "02", "tracking_location": None},
            {"object": "TrackingDetail", "message": "Delivered, In/At Mailbox", "description": "",
             "status": "delivered", "status_detail": "arrived_at_destination",
             "datetime": "2026-03-02T13:58:00Z", "source": "USPS", "carrier_code": "01",
             "tracking_location": {"object": "TrackingLocation", "city": "REDONDO BEACH", "state": "CA",
                                   "country": "US", "zip": "90277"}},
        ],
    },
}


@pytest.mark.parametrize("grams, ounces", [(1, 0.1), (28, 1.0), (29, 1.1), (1000, 35.3), (2267, 80.0), (2268, 80.1)])
def test_weights_become_ounces_rounded_up_to_a_tenth(grams, ounces):
    assert mapping.ounces(grams) == ounces
    assert mapping.ounces(grams) * 28.349523125 >= grams - 1e-9  # never declared lighter


@pytest.mark.parametrize("mm, inches", [(254, 10.0), (100, 4.0), (255, 10.1), (1, 0.1)])
def test_lengths_become_inches_rounded_up_to_a_tenth(mm, inches):
    assert mapping.inches(mm) == inches


def test_a_parcel_without_weight_is_refused_and_dimensions_go_only_all_together():
    with pytest.raises(ValidationError, match="weight"):
        mapping.parcel(Parcel(weight_grams=0))
    assert mapping.parcel(Parcel(500, 300, 200, 0)) == {"weight": 17.7}
    assert mapping.parcel(Parcel(500, 300, 200, 100)) == {"weight": 17.7, "length": 11.9, "width": 7.9,
                                                          "height": 4.0}


@pytest.mark.parametrize("origin, destination, needed", [
    ("NL", "DE", False), ("NL", "NL", False), ("US", "US", False), ("FR", "MC", False),
    ("NL", "US", True), ("NL", "GB", True), ("NL", "CH", True), ("NL", "NO", True), ("US", "CA", True),
])
def test_customs_are_needed_across_a_customs_border_only(origin, destination, needed):
    assert mapping.needs_customs(origin, destination) is needed


def test_customs_info_lists_each_line_with_total_value_weight_hs_code_and_origin():
    body = mapping.shipment_body(SHOP, US_CUSTOMER, Parcel(1000), [MUG], ShipmentOptions(), label_format="PDF")
    customs = body["customs_info"]
    assert customs["customs_certify"] is True and customs["customs_signer"] == "Harbour Shop"
    assert customs["customs_items"] == [{
        "description": "Stoneware mug", "quantity": 2, "code": "MUG-1", "value": "25.00", "currency": "EUR",
        "weight": 28.3, "hs_tariff_number": "691200", "origin_country": "NL"}]
    assert "customs_info" not in mapping.shipment_body(SHOP, DE_CUSTOMER, Parcel(1000), [MUG], ShipmentOptions(),
                                                       label_format="PDF")
    with pytest.raises(ValidationError, match="contents"):
        mapping.shipment_body(SHOP, US_CUSTOMER, Parcel(1000), [], ShipmentOptions(), label_format="PDF")


def test_addresses_options_and_insurance_in_easypost_terms():
    body = mapping.shipment_body(SHOP, DE_CUSTOMER, Parcel(1000), [], ShipmentOptions(signature=True),
                                 label_format="ZPL", reference="shipment-7")
    assert body["from_address"] == {"name": "Harbour Shop", "street1": "Kade 1", "city": "Rotterdam",
                                    "zip": "3011 AA", "country": "NL", "phone": "+31101234567"}
    assert body["options"] == {"label_format": "ZPL", "delivery_confirmation": "SIGNATURE"}
    assert body["reference"] == "shipment-7" and "is_return" not in body
    assert mapping.insurance(ShipmentOptions(insurance_minor=10050, currency="EUR")) == "100.50"
    assert mapping.insurance(ShipmentOptions()) is None


def test_a_return_goes_in_with_the_outbound_addresses_for_easypost_to_swap():
    # The OMS names the return's own direction: from the customer to the shop.
    body = mapping.shipment_body(DE_CUSTOMER, SHOP, Parcel(1000), [], ShipmentOptions(), label_format="PDF",
                                 is_return=True)
    assert body["is_return"] is True
    assert body["from_address"]["name"] == "Harbour Shop" and body["to_address"]["name"] == "Bert Beispiel"


def test_rates_cheapest_first_in_minor_units_filtered_by_service_and_carrier():
    answer = {"rates": [
        {"id": "rate_1", "carrier": "UPS", "service": "Ground", "rate": "9.50", "currency": "USD", "delivery_days": 4},
        {"id": "rate_2", "carrier": "USPS", "service": "Priority", "rate": "7.58", "currency": "USD",
         "delivery_days": 2},
        {"id": "rate_3", "carrier": "USPS", "service": "Express", "rate": "31.25", "currency": "USD",
         "delivery_days": None},
    ]}
    found = mapping.rates(answer)
    assert [(r.service, r.amount_minor, r.rate_id, r.estimated_days) for r in found] == [
        ("USPS:Priority", 758, "rate_2", 2), ("UPS:Ground", 950, "rate_1", 4), ("USPS:Express", 3125, "rate_3", None)]
    assert [r.service for r in mapping.rates(answer, services=["UPS:Ground"])] == ["UPS:Ground"]
    assert [r.service for r in mapping.rates(answer, carriers=["usps"])] == ["USPS:Priority", "USPS:Express"]
    assert mapping.pick_rate(answer, "USPS:Express", None)["id"] == "rate_3"
    assert mapping.pick_rate(answer, "cheapest", None)["id"] == "rate_2"
    assert mapping.pick_rate(answer, "USPS:Express", "rate_1")["id"] == "rate_1"  # the quote staff picked
    assert mapping.pick_rate(answer, "FedEx:FEDEX_GROUND", None) is None


def test_every_easypost_status_maps_onto_a_tracking_status():
    documented = ["unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup",
                  "return_to_sender", "failure", "cancelled", "error"]
    assert set(mapping.STATUS_BY_EASYPOST) == set(documented)
    assert set(mapping.STATUS_BY_EASYPOST.values()) <= set(TRACKING_STATUSES)
    assert mapping.tracking_status("return_to_sender") == "returned_to_sender"
    assert mapping.tracking_status("failure") == "exception"
    assert mapping.tracking_status("something_new") == "unknown"
    assert mapping.tracking_status("in_transit", "delivery_attempted") == "delivery_attempted"


def test_a_tracker_event_becomes_one_update_per_tracking_detail():
    updates = mapping.event_updates(json.loads(json.dumps(EVENT)))
    assert [u.status for u in updates] == ["pre_transit", "in_transit", "delivery_attempted", "delivered"]
    assert {u.tracking_number for u in updates} == {"9400100000000000000001"}
    assert all(u.occurred_at.tzinfo is not None for u in updates)
    los_angeles = updates[1]
    assert los_angeles.occurred_at.utcoffset() == timedelta(hours=-8)
    assert los_angeles.occurred_at == datetime(2026, 3, 2, 5, 40, tzinfo=timezone.utc)
    assert los_angeles.location == "LOS ANGELES, CA, 90052, US"
    assert los_angeles.raw_code == "in_transit/arrived_at_facility"
    assert updates[3].message == "Delivered, In/At Mailbox" and updates[2].location == ""
    assert len({u.event_id for u in updates}) == 4  # each detail told apart, the same every delivery
    assert [u.event_id for u in mapping.event_updates(EVENT)] == [u.event_id for u in updates]


def test_other_events_carry_no_updates_and_a_non_event_is_refused():
    assert mapping.event_updates({**EVENT, "description": "batch.updated", "result": {"object": "Batch"}}) == []
    with pytest.raises(ValueError):
        mapping.event_updates({"description": "tracker.updated"})
    fresh = {**EVENT["result"], "tracking_details": [], "status": "unknown"}
    assert mapping.tracker_updates(fresh) == []  # nothing happened yet
    created = {**EVENT["result"], "tracking_details": [], "status": "pre_transit"}
    assert [u.status for u in mapping.tracker_updates(created)] == ["pre_transit"]
