"""Contract checks every gateway, carrier and forecaster plugin can run against itself.

Each function raises AssertionError with a message naming what is wrong. They need
no database and no network: they call the object's methods with valid and invalid
values and check the answers' types and the result-object rules (expected failures
are results, not exceptions).
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..links import is_web_url
from ..protocols import (
    Carrier, CarrierResult, CarrierService, Forecaster, PaymentGateway, PaymentRequest,
    PaymentResult, SeriesForecast, ShipmentRequest, WebhookResult, missing_attributes,
)


def _has_identity(obj, protocol) -> None:
    missing = missing_attributes(obj, protocol)
    assert not missing, f"{obj!r} lacks {', '.join(missing)}"
    assert isinstance(obj.id, str) and obj.id and obj.id == obj.id.strip(), "id must be a non-empty string"
    assert all(c.isalnum() or c in "_-" for c in obj.id), f"id {obj.id!r} must be a slug"
    assert isinstance(obj.label, str) and obj.label, "label must be a non-empty string"


def check_payment_gateway(gateway: PaymentGateway) -> None:
    _has_identity(gateway, PaymentGateway)
    assert isinstance(gateway.pays_on_delivery, bool), "pays_on_delivery must be a bool"
    fitting = PaymentRequest(order_id=1, order_number="000001", amount_minor=500, currency="EUR",
                             order_currency="EUR", balance_minor=1000, reference="REF-1")
    result = gateway.verify_payment(fitting)
    assert isinstance(result, PaymentResult), "verify_payment must return a PaymentResult"
    assert result.ok, f"a partial payment that fits the balance was refused: {result.error}"
    for label, request in (
        ("over the balance", PaymentRequest(1, "000001", 1001, "EUR", "EUR", 1000, "REF")),
        ("in another currency", PaymentRequest(1, "000001", 500, "USD", "EUR", 1000, "REF")),
        ("zero", PaymentRequest(1, "000001", 0, "EUR", "EUR", 1000, "REF")),
    ):
        result = gateway.verify_payment(request)
        assert isinstance(result, PaymentResult) and not result.ok, f"a payment {label} was accepted"
        assert result.error, f"refusing a payment {label} must say why"
    bad = gateway.parse_webhook(b"{not json", {}, "secret")
    assert isinstance(bad, WebhookResult), "parse_webhook must return a WebhookResult"
    assert not bad.ok and bad.error, "a garbage webhook must be refused with a reason"


def check_carrier(carrier: Carrier) -> None:
    _has_identity(carrier, Carrier)
    assert isinstance(carrier.manual, bool), "manual must be a bool"
    services = list(carrier.services())
    assert services and all(isinstance(s, CarrierService) for s in services), \
        "services() must return CarrierService objects"
    request = ShipmentRequest(shipment_id=1, order_number="000001", service=services[0].code,
                              idempotency_key="shipment-1", tracking_number="TRACK123",
                              destination_country="NL")
    first = carrier.create_shipment(request)
    assert isinstance(first, CarrierResult), "create_shipment must return a CarrierResult"
    if first.ok:
        assert first.tracking_number, "a successful booking must return a tracking number"
        again = carrier.create_shipment(request)
        assert again.ok and again.tracking_number == first.tracking_number, \
            "booking twice with one idempotency key must return the same shipment"
    else:
        assert first.error, "a failed booking must say why"
    url = carrier.tracking_url("TRACK123", services[0].code)
    assert url is None or is_web_url(url, schemes=("https",)), \
        "tracking_url must be None or an https URL"
    bad = carrier.parse_webhook(b"{not json", {}, "secret")
    assert isinstance(bad, WebhookResult) and not bad.ok and bad.error, \
        "a garbage webhook must be refused with a reason"


def check_forecaster(forecaster: Forecaster) -> None:
    _has_identity(forecaster, Forecaster)
    series = {"flat": [5.0] * 24, "seasonal": [float(i % 4) for i in range(24)], "short": [1.0, 2.0]}
    answer = forecaster.forecast(series, horizon=6, season_length=4, level=0.8)
    assert set(answer) == set(series), "forecast must answer for every series"
    for key, fc in answer.items():
        assert isinstance(fc, SeriesForecast), "each answer must be a SeriesForecast"
        assert len(fc.point) == len(fc.lower) == len(fc.upper) == 6, f"{key}: wrong horizon length"
        for lo, pt, hi in zip(fc.lower, fc.point, fc.upper):
            assert lo <= pt <= hi, f"{key}: interval does not contain the point forecast"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
