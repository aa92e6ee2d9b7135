"""Stand-ins for tests of code around plugins (the core's own tests, or a host app's).

`BookingCarrier` is a carrier booked through the outbox, idempotent like a real
one (one idempotency key, one parcel), that can refuse its first bookings;
`FakeCardGateway` is a card gateway in process (start, capture, void, refund,
fetch, signed webhooks) that can fail as if it were down; `plugin_registering(...)`
wraps objects into a plugin to pass as `extra_plugins`.
"""
from __future__ import annotations

import json

from oms_core.hookspecs import hookimpl
from oms_core.protocols import (
    AUTHORIZED,
    CAPTURE_ON_SHIP,
    CAPTURED,
    FAILED,
    INTENT_CREATED,
    PARTIALLY_REFUNDED,
    REFUNDED,
    VOIDED,
    Carrier,
    CarrierResult,
    CarrierService,
    FetchPaymentResult,
    Forecaster,
    GatewayEvent,
    GatewayRefund,
    PaymentGateway,
    PaymentResult,
    PaymentStart,
    RefundResult,
    WebhookResult,
    sync_event_id,
)
from oms_core.webhook_signing import sign_hmac_sha256, verify_hmac_sha256


class BookingCarrier:
    manual = False

    def __init__(self, id: str = "testpost", label: str = "Test Post", *, failures: int = 0,
                 prefix: str = "TP"):
        self.id, self.label, self.failures, self.prefix = id, label, failures, prefix
        self.keys: list[str] = []  # every idempotency key it was called with, in order
        self.booked: dict[str, str] = {}

    def services(self):
        return [CarrierService("std", "Standard")]

    def create_shipment(self, request):
        self.keys.append(request.idempotency_key)
        if len(self.keys) <= self.failures:
            return CarrierResult.failure("carrier API timed out", retryable=True)
        number = self.booked.setdefault(request.idempotency_key,
                                        f"{self.prefix}{len(self.booked) + 1:04d}")
        return CarrierResult(ok=True, tracking_number=number, external_id=f"ext-{number}",
                             tracking_url=self.tracking_url(number))

    def tracking_url(self, tracking_number, service=""):
        return f"https://{self.id}.example/track/{tracking_number}"

    def parse_webhook(self, body, headers, secret):
        return WebhookResult(ok=False, error=f"{self.label} has no webhooks")


class _RegisteringPlugin:
    def __init__(self, objects):
        self.objects = objects

    def _of(self, protocol):
        return [obj for obj in self.objects if isinstance(obj, protocol)]

    @hookimpl
    def register_carriers(self):
        return self._of(Carrier)

    @hookimpl
    def register_payment_gateways(self):
        return self._of(PaymentGateway)

    @hookimpl
    def register_forecasters(self):
        return self._of(Forecaster)


def plugin_registering(*objects):
    """A plugin object that registers the given carriers, gateways and forecasters."""
    return _RegisteringPlugin(objects)


class FakeCardGateway:
    """An in-process card gateway: starts hosted payments, captures, voids and
    refunds idempotently (one idempotency key, one object), and signs its webhooks
    with the common scheme (oms_core/webhook_signing.py). `failures` makes its
    next calls fail as retryable (the gateway is down); `refuse` makes them refused.

    Its objects live in `intents` ({id: {"state", "amount", "refunded", "order_id",
    "refunds": [...]}}); `event_for(intent_id)` builds the webhook body that reports
    an object's state now, and `signed(body, secret)` its headers."""

    pays_on_delivery = False
    required_settings = ("webhook_secret",)

    def __init__(self, id: str = "fakecard", label: str = "Fake card", *, failures: int = 0):
        self.id, self.label, self.failures = id, label, failures
        self.refuse: str | None = None
        self.intents: dict[str, dict] = {}
        self.by_key: dict[str, object] = {}  # idempotency key -> the answer given
        self.calls: list[tuple[str, str]] = []  # (operation, idempotency key)
        self._events = 0

    def _trouble(self, operation: str, key: str, failure):
        self.calls.append((operation, key))
        if self.failures > 0:
            self.failures -= 1
            return failure("gateway unavailable (503)", retryable=True)
        if self.refuse:
            return failure(self.refuse)
        return None

    def _once(self, key: str, make):
        if key not in self.by_key:
            self.by_key[key] = make()
        return self.by_key[key]

    def start_payment(self, request):
        trouble = self._trouble("start", request.idempotency_key, PaymentStart.failure)
        if trouble:
            return trouble

        def make():
            intent_id = f"pi_{len(self.intents) + 1:04d}"
            self.intents[intent_id] = {"state": INTENT_CREATED, "amount": request.amount_minor,
                                       "currency": request.currency, "refunded": 0, "refunds": [],
                                       "order_id": request.order_id, "capture": request.capture,
                                       "success_url": request.success_url}
            return PaymentStart(ok=True, external_id=intent_id,
                                redirect_url=f"https://{self.id}.example/pay/{intent_id}")
        return self._once(request.idempotency_key, make)

    def customer_pays(self, intent_id: str) -> None:
        """The customer completes the hosted page: authorized, or captured at once."""
        intent = self.intents[intent_id]
        intent["state"] = AUTHORIZED if intent["capture"] == CAPTURE_ON_SHIP else CAPTURED

    def abandon(self, intent_id: str) -> None:
        """The hosted page expires unpaid."""
        self.intents[intent_id]["state"] = FAILED

    def fetch_payment(self, request):
        """The object's state now, as the event `event_for` would report it, under
        the synthetic id of that state (asked twice: one event)."""
        self.calls.append(("fetch", request.external_id or ""))
        if self.failures > 0:
            self.failures -= 1
            return FetchPaymentResult.failure("gateway unavailable (503)", retryable=True)
        intent = self.intents.get(request.external_id or "")
        if intent is None:
            return FetchPaymentResult.failure(f"no such payment {request.external_id}")
        return FetchPaymentResult(ok=True, event=self._event(request.external_id, sync_event_id(
            request.external_id, intent["state"], intent["refunded"])))

    def _event(self, intent_id: str, event_id: str) -> GatewayEvent:
        intent = self.intents[intent_id]
        return GatewayEvent(
            event_id=event_id, order_id=intent["order_id"], amount_minor=intent["amount"],
            currency=intent["currency"], external_id=intent_id, state=intent["state"],
            amount_refunded_minor=intent["refunded"],
            refunds=tuple(GatewayRefund(str(rid), amount) for rid, amount in intent["refunds"]))

    def _call(self, operation, request, failure, make):
        """One operation on an existing object: down or refused as switched, and
        the same answer for the same idempotency key."""
        trouble = self._trouble(operation, request.idempotency_key, failure)
        if trouble:
            return trouble
        intent = self.intents.get(request.payment_external_id)
        if intent is None:
            return failure(f"no such payment {request.payment_external_id}")
        return self._once(request.idempotency_key, lambda: make(intent))

    def _move(self, operation, request, to_state, allowed_from):
        def make(intent):
            if intent["state"] not in allowed_from:
                return PaymentResult.failure(f"cannot {operation} a payment that is {intent['state']}")
            intent["state"] = to_state
            return PaymentResult.success(external_id=request.payment_external_id, state=to_state)
        return self._call(operation, request, PaymentResult.failure, make)

    def capture(self, request):
        return self._move("capture", request, CAPTURED, (AUTHORIZED,))

    def void(self, request):
        return self._move("void", request, VOIDED, (AUTHORIZED, INTENT_CREATED))

    def refund(self, request):
        def make(intent):
            if intent["state"] not in (CAPTURED, PARTIALLY_REFUNDED):
                return RefundResult.failure(f"cannot refund a payment that is {intent['state']}")
            if intent["refunded"] + request.amount_minor > intent["amount"]:
                return RefundResult.failure("the refund is more than the payment")
            refund_id = f"re_{sum(len(i['refunds']) for i in self.intents.values()) + 1:04d}"
            intent["refunded"] += request.amount_minor
            intent["refunds"].append((refund_id, request.amount_minor))
            intent["state"] = REFUNDED if intent["refunded"] >= intent["amount"] else PARTIALLY_REFUNDED
            return RefundResult(ok=True, external_id=refund_id)
        return self._call("refund", request, RefundResult.failure, make)

    # ---------------------------------------------------------------- webhooks

    def event_for(self, intent_id: str, *, event_id: str | None = None) -> bytes:
        """The webhook body that reports this object as it is now."""
        intent = self.intents[intent_id]
        self._events += 1
        return json.dumps({"id": event_id or f"evt_{self._events:05d}", "object": intent_id,
                           "order_id": intent["order_id"], "state": intent["state"],
                           "amount": intent["amount"], "currency": intent["currency"],
                           "refunded": intent["refunded"], "refunds": intent["refunds"]}).encode()

    @staticmethod
    def signed(body: bytes, secret: str) -> dict[str, str]:
        return sign_hmac_sha256(body, secret)

    def parse_webhook(self, body, headers, secret):
        problem = verify_hmac_sha256(body, headers, secret)
        if problem:
            return WebhookResult(ok=False, error=problem)
        try:
            data = json.loads(body)
            event = GatewayEvent(
                event_id=str(data["id"]), order_id=data.get("order_id"), amount_minor=data["amount"],
                currency=data["currency"], external_id=data["object"], state=data["state"],
                amount_refunded_minor=data.get("refunded", 0),
                refunds=tuple(GatewayRefund(str(rid), amount) for rid, amount in data.get("refunds", ())))
        except (ValueError, KeyError, TypeError) as exc:
            return WebhookResult(ok=False, error=f"not a {self.label} event: {exc}")
        return WebhookResult(ok=True, events=[event])
