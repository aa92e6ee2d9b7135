"""Stand-ins for tests of code around plugins (the core's own tests, or a host app's).

`BookingCarrier` is a carrier booked through the outbox, idempotent like a real
one (one idempotency key, one parcel), that can refuse its first bookings;
`plugin_registering(...)` wraps objects into a plugin to pass as `extra_plugins`.
"""
from __future__ import annotations

from oms_core.hookspecs import hookimpl
from oms_core.protocols import (
    Carrier,
    CarrierResult,
    CarrierService,
    Forecaster,
    PaymentGateway,
    WebhookResult,
)


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
            return CarrierResult.failure("carrier API timed out")
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
