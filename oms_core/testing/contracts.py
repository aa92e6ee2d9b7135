"""Contract checks every gateway, carrier and forecaster plugin can run against itself.

Each function raises AssertionError with a message naming what is wrong. They need
no database and no network of their own: they call the object's methods with valid
and invalid values and check the answers' types and the result-object rules
(expected failures are results, not exceptions).

Webhooks: a gateway or carrier whose `webhook_auth` is "secret" (the default) must
refuse what its sender did not sign. Pass `webhook_body` (a delivery as its sender
would make it, holding at least one event) and `sign` (a function `(body, secret)
-> headers` that signs it as the sender does); the contract checks that the signed
delivery is accepted, also with its header names in other cases (as they arrive
in production), and that a missing signature, a wrong one, a body changed after
signing and a missing secret are each refused with a reason.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Mapping, Optional

from werkzeug.datastructures import Headers

from ..links import is_web_url
from ..plugin_settings import SETTING_NAME
from ..protocols import (
    CAPTURE_ON_SHIP, LABEL_FORMATS, PAYMENT_CAPABILITIES, PAYMENT_STATES, TRACKING_STATUSES, WEBHOOK_AUTH_CUSTOM,
    WEBHOOK_AUTH_KINDS, WEBHOOK_AUTH_NONE, Address, CaptureRequest, Carrier, CarrierResult, CarrierService,
    ContentLine, FetchPaymentRequest, FetchPaymentResult, Forecaster, GatewayEvent, GatewayRefund, Label, Parcel,
    PaymentGateway, PaymentRequest, PaymentResult, PaymentStart, Rate, RateRequest, RatesResult, RefundRequest,
    RefundResult, SeriesForecast, ShipmentRequest, StartPaymentRequest, TrackingResult, TrackingUpdate,
    VoidLabelRequest, VoidRequest,
    WebhookResult, missing_attributes, supports, webhook_auth,
)

Sign = Callable[[bytes, str], Mapping[str, str]]
CONTRACT_SECRET = "whsec_contract_check_5b1e"
OTHER_SECRET = "whsec_not_the_configured_one"


def _has_identity(obj, protocol) -> None:
    missing = missing_attributes(obj, protocol)
    assert not missing, f"{obj!r} lacks {', '.join(missing)}"
    assert isinstance(obj.id, str) and obj.id and obj.id == obj.id.strip(), "id must be a non-empty string"
    assert all(c.isalnum() or c in "_-" for c in obj.id), f"id {obj.id!r} must be a slug"
    assert isinstance(obj.label, str) and obj.label, "label must be a non-empty string"
    required = getattr(obj, "required_settings", ())
    assert isinstance(required, (list, tuple)) and all(
        isinstance(name, str) and SETTING_NAME.fullmatch(name) for name in required), \
        f"required_settings must be a list of lower-case setting names, not {required!r}"


def _parse(obj, body: bytes, headers, secret: Optional[str]) -> WebhookResult:
    try:
        result = obj.parse_webhook(body, headers, secret)
    except Exception as exc:
        raise AssertionError(f"parse_webhook raised {exc!r}: a webhook it cannot accept must be "
                             "refused with WebhookResult(ok=False, error=...), not an exception") from exc
    assert isinstance(result, WebhookResult), "parse_webhook must return a WebhookResult"
    return result


def _refused(result: WebhookResult, what: str) -> None:
    assert not result.ok, f"a webhook {what} was accepted"
    assert result.error, f"refusing a webhook {what} must say why"


def _check_webhooks(obj, event_type, body: Optional[bytes], sign: Optional[Sign]) -> None:
    auth = webhook_auth(obj)
    assert auth in WEBHOOK_AUTH_KINDS, \
        f"webhook_auth must be one of {', '.join(WEBHOOK_AUTH_KINDS)}, not {auth!r}"
    if auth == WEBHOOK_AUTH_NONE:
        return  # takes no webhooks: the core refuses them unread
    garbage = b"{not json"
    _refused(_parse(obj, garbage, Headers(), CONTRACT_SECRET), "of garbage without a signature")
    if auth == WEBHOOK_AUTH_CUSTOM:
        return  # authenticated its own documented way: only the plugin's own tests can tell
    assert body is not None and sign is not None, (
        f"'{obj.id}' verifies signed webhooks (webhook_auth 'secret'): pass webhook_body= (a delivery "
        "as its sender makes it) and sign= (a function (body, secret) -> headers signing it as the "
        "sender does), so the contract can check that a bad signature is refused")
    signed = dict(sign(body, CONTRACT_SECRET))
    assert signed, "sign() returned no headers"
    accepted = _parse(obj, body, Headers(signed), CONTRACT_SECRET)
    assert accepted.ok, f"a correctly signed webhook was refused: {accepted.error}"
    events = list(accepted.events)
    assert events, "the example webhook_body must hold at least one event"
    for event in events:
        assert isinstance(event, event_type), f"parse_webhook returned {event!r}, not a {event_type.__name__}"
        if isinstance(event, GatewayEvent):
            assert event.state in PAYMENT_STATES, \
                f"payment state {event.state!r} is not one of oms_core.protocols.PAYMENT_STATES"
            assert all(isinstance(refund, GatewayRefund) for refund in event.refunds), \
                "a payment event's refunds must be GatewayRefund objects"
        if isinstance(event, TrackingUpdate):
            assert event.status in TRACKING_STATUSES, \
                f"tracking status {event.status!r} is not one of oms_core.protocols.TRACKING_STATUSES"
            assert event.occurred_at.tzinfo is not None, "a tracking event's occurred_at needs a timezone"
    for case, rename in (("lower", str.lower), ("upper", str.upper)):
        result = _parse(obj, body, Headers([(rename(k), v) for k, v in signed.items()]), CONTRACT_SECRET)
        assert result.ok, (
            f"the same signed webhook with {case}-case header names was refused ({result.error}): header "
            "names are case-insensitive and HTTP/2 or a proxy may change them; look them up with "
            "headers.get(name) on the mapping given, never in a dict copy")
    _refused(_parse(obj, body, Headers(), CONTRACT_SECRET), "without its signature headers")
    _refused(_parse(obj, body, Headers(dict(sign(body, OTHER_SECRET))), CONTRACT_SECRET),
             "signed with another secret")
    _refused(_parse(obj, body + b" ", Headers(signed), CONTRACT_SECRET), "whose body changed after signing")
    _refused(_parse(obj, body, Headers(signed), None), "while no secret is configured")
    _refused(_parse(obj, garbage, Headers(dict(sign(garbage, CONTRACT_SECRET))), CONTRACT_SECRET),
             "of signed garbage")


def _check_verify(gateway) -> None:
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


def _twice(call, request, result_type, name: str):
    """Call an operation twice with one idempotency key: the same answer both times."""
    first, second = call(request), call(request)
    for result in (first, second):
        assert isinstance(result, result_type), f"{name} must return a {result_type.__name__}, not {result!r}"
        assert isinstance(result.retryable, bool), f"{name}'s result.retryable must be a bool"
        assert result.ok or result.error, f"a failed {name} must say why"
    if first.ok and second.ok:
        assert first.external_id == second.external_id, (
            f"{name} called twice with one idempotency key gave two objects ({first.external_id!r}, "
            f"{second.external_id!r}): a retry must be the same operation")
    return first


def _check_operations(gateway) -> None:
    """start_payment, capture, void and refund, where offered: the right result types,
    and one object per idempotency key."""
    external_id = "pi_contract_check"
    if supports(gateway, "start_payment"):
        started = _twice(gateway.start_payment, StartPaymentRequest(
            order_id=1, order_number="000001", amount_minor=1000, currency="EUR",
            idempotency_key="contract-start-1", customer_email="contract@example.com",
            success_url="https://shop.example/track?code=X", cancel_url="https://shop.example/track?code=X",
            capture=CAPTURE_ON_SHIP), PaymentStart, "start_payment")
        if started.ok:
            assert started.redirect_url or started.client_secret, \
                "a started payment needs a redirect_url (hosted page) or a client_secret"
            assert started.redirect_url is None or is_web_url(started.redirect_url), \
                f"redirect_url {started.redirect_url!r} is not an http(s) URL"
            external_id = started.external_id or external_id
    if supports(gateway, "capture"):
        _twice(gateway.capture, CaptureRequest(external_id, 1000, "EUR", "contract-capture-1"), PaymentResult,
               "capture")
    if supports(gateway, "refund"):
        _twice(gateway.refund, RefundRequest(external_id, 100, "EUR", "contract-refund-1", reason="contract"),
               RefundResult, "refund")
    if supports(gateway, "void"):
        _twice(gateway.void, VoidRequest(external_id, "contract-void-1"), PaymentResult, "void")
    if supports(gateway, "fetch_payment"):
        _check_fetch(gateway.fetch_payment(FetchPaymentRequest(external_id=external_id, checkout_id=None,
                                                               order_id=1)))


def _check_fetch(result) -> None:
    """fetch_payment answers a FetchPaymentResult; a state found is a GatewayEvent."""
    assert isinstance(result, FetchPaymentResult), f"fetch_payment returned {result!r}, not a FetchPaymentResult"
    assert not result.ok or result.event is None or isinstance(result.event, GatewayEvent), \
        "fetch_payment's event must be a GatewayEvent"
    if result.ok and result.event is not None:
        assert result.event.state in PAYMENT_STATES, f"fetch_payment's state {result.event.state!r} is unknown"


def check_payment_gateway(gateway: PaymentGateway, *, webhook_body: Optional[bytes] = None,
                          sign: Optional[Sign] = None, call_operations: bool = True) -> None:
    """Check what the gateway offers (protocols.PAYMENT_CAPABILITIES): staff-recorded
    payments when it has `verify_payment`; start, capture, void, refund and fetch_payment called
    with valid requests when `call_operations` (pass False for a plugin that needs
    its server, and run its own tests against a fake one; True calls them twice
    with one key, which must give one object); its webhooks' events carry a state."""
    _has_identity(gateway, PaymentGateway)
    assert isinstance(gateway.pays_on_delivery, bool), "pays_on_delivery must be a bool"
    for name in PAYMENT_CAPABILITIES:
        assert getattr(gateway, name, None) is None or supports(gateway, name), f"{name} must be a method"
    assert any(supports(gateway, name) for name in ("verify_payment", "start_payment")) or \
        webhook_auth(gateway) != WEBHOOK_AUTH_NONE, \
        "a gateway that takes no webhooks must let staff record payments (verify_payment) or start them"
    if supports(gateway, "verify_payment"):
        _check_verify(gateway)
    if call_operations:
        _check_operations(gateway)
    _check_webhooks(gateway, GatewayEvent, webhook_body, sign)


def check_carrier(carrier: Carrier, *, webhook_body: Optional[bytes] = None,
                  sign: Optional[Sign] = None) -> None:
    _has_identity(carrier, Carrier)
    assert isinstance(carrier.manual, bool), "manual must be a bool"
    services = list(carrier.services())
    assert services and all(isinstance(s, CarrierService) for s in services), \
        "services() must return CarrierService objects"
    request = ShipmentRequest(shipment_id=1, order_number="000001", service=services[0].code,
                              idempotency_key="shipment-1", tracking_number="TRACK123",
                              destination_country="NL", weight_grams=650, ship_from=CONTRACT_FROM,
                              ship_to=CONTRACT_TO, parcel=CONTRACT_PARCEL, contents=CONTRACT_CONTENTS)
    first = carrier.create_shipment(request)
    assert isinstance(first, CarrierResult), "create_shipment must return a CarrierResult"
    if first.ok:
        assert first.tracking_number, "a successful booking must return a tracking number"
        _check_label(first)
        again = carrier.create_shipment(request)
        assert again.ok and again.tracking_number == first.tracking_number, \
            "booking twice with one idempotency key must return the same shipment"
    else:
        assert first.error, "a failed booking must say why"
    _check_capabilities(carrier, request, first)
    url = carrier.tracking_url("TRACK123", services[0].code)
    assert url is None or is_web_url(url, schemes=("https",)), \
        "tracking_url must be None or an https URL"
    _check_webhooks(carrier, TrackingUpdate, webhook_body, sign)


CONTRACT_FROM = Address(name="Shop", line1="Damrak 1", city="Amsterdam", postal_code="1012LG", country="NL")
CONTRACT_TO = Address(name="Ann Example", line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE",
                      email="ann@example.com")
CONTRACT_PARCEL = Parcel(weight_grams=650, length_mm=300, width_mm=200, height_mm=100)
CONTRACT_CONTENTS = (ContentLine(sku="MUG", description="Mug", quantity=2, unit_value_minor=1250, currency="EUR",
                                 weight_grams=250),)


def _check_label(result: CarrierResult) -> None:
    label = result.label
    if label is not None:
        assert isinstance(label, Label) and isinstance(label.data, bytes) and label.data, \
            "a label must be a Label with its bytes"
        assert label.format in LABEL_FORMATS, f"a label's format must be one of {', '.join(LABEL_FORMATS)}"
    assert result.cost_minor is None or (isinstance(result.cost_minor, int) and result.cost_minor >= 0), \
        "cost_minor must be None or a whole number of minor units"


def _check_capabilities(carrier, request: ShipmentRequest, booked: CarrierResult) -> None:
    """Optional capabilities, where the carrier offers them: each answers with its
    result type (what they answer is the plugin's own tests' business)."""
    if supports(carrier, "rates"):
        quotes = carrier.rates(RateRequest(ship_from=CONTRACT_FROM, ship_to=CONTRACT_TO, parcel=CONTRACT_PARCEL))
        assert isinstance(quotes, RatesResult), "rates must return a RatesResult"
        assert all(isinstance(rate, Rate) for rate in quotes.rates), "rates must be Rate objects"
    if supports(carrier, "track"):
        tracked = carrier.track([booked.tracking_number or "TRACK123"])
        assert isinstance(tracked, TrackingResult), "track must return a TrackingResult"
        assert all(isinstance(u, TrackingUpdate) for u in tracked.updates), "track must return TrackingUpdates"
    if supports(carrier, "void_label"):
        voided = carrier.void_label(VoidLabelRequest(shipment_id=1, idempotency_key="void-shipment-1",
                                                     external_id=booked.external_id,
                                                     tracking_number=booked.tracking_number))
        assert isinstance(voided, CarrierResult), "void_label must return a CarrierResult"


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
