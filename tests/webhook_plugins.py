"""Gateways and carriers that take webhooks, written as a plugin author would: they
sign bodies with HMAC-SHA256 and a shared secret, and read the signature header in
lower case (header names are case-insensitive). Plus the plugins the core must not
trust blindly: one that checks the signature only when a secret is set, one that
raises, one with its own (custom) authentication."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from oms_core.protocols import (
    WEBHOOK_AUTH_CUSTOM, CarrierResult, CarrierService, GatewayEvent, PaymentResult, TrackingUpdate,
    WebhookResult,
)
from oms_core.testing.fakes import BookingCarrier, plugin_registering

SECRET = "whsec_test_3f9a"
SIGNATURE_HEADER = "X-Test-Signature"


def signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str = SECRET) -> dict:
    return {SIGNATURE_HEADER: signature(body, secret)}


def _json(body):
    try:
        return json.loads(body), None
    except ValueError:
        return None, "The body is not JSON."


def verified_json(body, headers, secret):
    """(data, None) or (None, error): the signature first, then the JSON."""
    if not secret:
        return None, "No webhook secret is configured."
    if not hmac.compare_digest(headers.get(SIGNATURE_HEADER.lower(), ""), signature(body, secret)):
        return None, "Bad signature."
    return _json(body)


def payment_events(data) -> WebhookResult:
    try:
        events = [GatewayEvent(event_id=e["id"], order_id=int(e["order"]), amount_minor=int(e["amount"]),
                               currency=e["currency"], external_id=e.get("charge"))
                  for e in data["events"]]
    except (KeyError, TypeError, ValueError) as exc:
        return WebhookResult(ok=False, error=f"Unreadable event: {exc}")
    return WebhookResult(ok=True, events=events)


def tracking_events(data) -> WebhookResult:
    try:
        updates = [TrackingUpdate(tracking_number=e["number"], status=e["status"],
                                  occurred_at=datetime.fromisoformat(e["at"]), raw_code=e.get("code", ""),
                                  location=e.get("where", ""), event_id=e.get("id"))
                   for e in data["events"]]
    except (KeyError, TypeError, ValueError) as exc:
        return WebhookResult(ok=False, error=f"Unreadable event: {exc}")
    return WebhookResult(ok=True, events=updates)


class HmacGateway:
    label = "HMAC Pay"
    pays_on_delivery = False

    def __init__(self, id: str = "hmacpay"):
        self.id = id

    def verify_payment(self, request):
        return PaymentResult.success()

    def parse_webhook(self, body, headers, secret):
        data, error = verified_json(body, headers, secret)
        return WebhookResult(ok=False, error=error) if error else payment_events(data)


class LaxGateway(HmacGateway):
    """The bug the core guards against: checks the signature only if a secret is set."""

    label = "Lax Pay"

    def parse_webhook(self, body, headers, secret):
        data, error = verified_json(body, headers, secret) if secret else _json(body)
        return WebhookResult(ok=False, error=error) if error else payment_events(data)


class HmacCarrier:
    """A manual carrier (staff type the number) that also reports by webhook."""

    label = "HMAC Ship"
    manual = True

    def __init__(self, id: str = "hmacship"):
        self.id = id

    def services(self):
        return [CarrierService("standard", "Standard")]

    def create_shipment(self, request):
        return CarrierResult(ok=True, tracking_number=request.tracking_number)

    def tracking_url(self, tracking_number, service=""):
        return f"https://track.example.net/{tracking_number}"

    def parse_webhook(self, body, headers, secret):
        data, error = verified_json(body, headers, secret)
        return WebhookResult(ok=False, error=error) if error else tracking_events(data)


class HmacBookingCarrier(BookingCarrier):
    """Booked through the outbox (numbers HB0001, HB0002...), and reports by webhook,
    like a real carrier that sends "accepted" at once."""

    def __init__(self, id: str = "hmacbook", **kw):
        super().__init__(id, "HMAC Book", prefix="HB", **kw)

    def parse_webhook(self, body, headers, secret):
        data, error = verified_json(body, headers, secret)
        return WebhookResult(ok=False, error=error) if error else tracking_events(data)


class RaisingCarrier(HmacCarrier):
    label = "Broken Ship"

    def parse_webhook(self, body, headers, secret):
        raise RuntimeError("plugin bug")


class TokenCarrier(HmacCarrier):
    """Authenticates its own documented way (a fixed token header), without a secret."""

    label = "Token Ship"
    webhook_auth = WEBHOOK_AUTH_CUSTOM

    def parse_webhook(self, body, headers, secret):
        if headers.get("x-carrier-token") != "token-123":
            return WebhookResult(ok=False, error="Bad token.")
        data, error = _json(body)
        return WebhookResult(ok=False, error=error) if error else tracking_events(data)


def signed_plugins(*extra):
    """The gateway and carriers above, as one plugin."""
    return plugin_registering(HmacGateway(), HmacCarrier(), HmacBookingCarrier(), *extra)


def secrets_for(*ids: str) -> dict:
    return {"OMS_PLUGINS": {plugin_id: {"webhook_secret": SECRET} for plugin_id in ids}}


def post(client, url, payload, *, secret=SECRET, raw: bytes | None = None, headers: dict | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(url, data=body, content_type="application/json",
                       headers={**signed_headers(body, secret), **(headers or {})})
