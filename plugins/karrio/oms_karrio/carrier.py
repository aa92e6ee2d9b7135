"""One OMS carrier per configured karrio carrier (plugins/karrio/README.md)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence
from urllib.parse import quote

from oms_core.protocols import (
    WEBHOOK_AUTH_NONE, CarrierResult, CarrierService, RateRequest, RatesResult, ShipmentRequest,
    TrackingResult, VoidLabelRequest, WebhookResult,
)

from . import mapping
from .config import CarrierConfig
from .connection import Connection, ExtensionMissing, SettingsRefused

# Each optional capability of the OMS, offered where the extension's proxy has the
# karrio operation it needs.
CAPABILITY_OPERATIONS = {
    "rates": "get_rates",
    "void_label": "cancel_shipment",
    "create_return_label": "create_return_shipment",
    "track": "get_tracking",
}
BOOKING_NEEDS = "Booking with karrio needs the shop's and the customer's addresses and the parcel."


class KarrioCarrier:
    manual = False
    # karrio's extensions push no tracking events the OMS can check: the core polls `track`.
    webhook_auth = WEBHOOK_AUTH_NONE
    track_batch_size = 20  # karrio asks the carrier for each number in parallel

    def __init__(self, config: CarrierConfig):
        self.id, self.label = config.id, config.label
        self.connection = Connection(config)
        self._services: Optional[list[CarrierService]] = None
        self._tracking_template: Optional[str] = None  # "" once known to have none

    def __repr__(self) -> str:
        return f"KarrioCarrier({self.id!r}, karrio extension {self.connection.config.carrier_name!r})"

    def __getattr__(self, name: str):
        # The optional capabilities exist only where the extension implements them
        # (the core asks with `supports(carrier, name)`), which is read without
        # importing karrio (static.py).
        operation = CAPABILITY_OPERATIONS.get(name)
        if operation is None:
            raise AttributeError(name)
        try:
            offered = operation in self.connection.operations()
        except ExtensionMissing:
            offered = False
        if not offered:
            raise AttributeError(f"{self!r} cannot {name}")
        return getattr(self, f"_{name}")

    # ------------------------------------------------------------------ required

    def services(self) -> Sequence[CarrierService]:
        """The extension's own service codes (karrio's names, like ups_standard)."""
        if self._services is None:
            try:
                members = self.connection.services()
            except ExtensionMissing:
                return []
            carrier_name = self.connection.config.carrier_name
            self._services = [CarrierService(code=name, label=_service_label(name, value, carrier_name),
                                             carrier_name=self.label) for name, value in members]
        return self._services

    def create_shipment(self, request: ShipmentRequest) -> CarrierResult:
        """Buy the label. karrio has no idempotency key for most carriers: the
        order number goes as the shipment's reference and the core's outbox makes
        sure one booking of a key succeeds (README: "Idempotency")."""
        return self._book(request)

    def tracking_url(self, tracking_number: str, service: str = "") -> Optional[str]:
        template = self._tracking_url_template()
        if not template:
            return None
        url = template.format(quote(tracking_number, safe=""))
        return url if url.startswith("https://") else None

    def parse_webhook(self, body, headers, secret) -> WebhookResult:
        return WebhookResult(ok=False, error="karrio carriers have no webhooks: tracking is polled.")

    # ------------------------------------------------------------------ optional

    def _rates(self, request: RateRequest) -> RatesResult:
        payload = {
            "shipper": mapping.address(request.ship_from), "recipient": mapping.address(request.ship_to),
            "parcels": [mapping.parcel(request.parcel, request.contents)],
            "customs": mapping.customs(request.ship_from, request.ship_to, request.contents),
            "options": mapping.options(request.options), "services": list(request.services),
        }
        outcome = self.connection.run(lambda sdk, gateway: sdk.Rating.fetch(payload).from_(gateway))
        if outcome.result is None:
            return RatesResult(ok=False, error=outcome.error, retryable=outcome.retryable)
        labels = {service.code: service.label for service in self.services()}
        rates = [rate for rate in (mapping.rate(details, labels, self.label) for details in outcome.result) if rate]
        return RatesResult(ok=True, rates=rates)

    def _void_label(self, request: VoidLabelRequest) -> CarrierResult:
        identifier = request.external_id or request.tracking_number
        if not identifier:
            return CarrierResult.failure("There is no booked label to void.")
        payload = {"shipment_identifier": identifier}
        outcome = self.connection.run(lambda sdk, gateway: sdk.Shipment.cancel(payload).from_(gateway))
        if outcome.result is None or not outcome.result.success:
            return CarrierResult.failure(outcome.error, retryable=outcome.retryable)
        return CarrierResult(ok=True, external_id=request.external_id, tracking_number=request.tracking_number)

    def _create_return_label(self, request: ShipmentRequest) -> CarrierResult:
        return self._book(replace(request, is_return=True))

    def _track(self, numbers: Sequence[str]) -> TrackingResult:
        numbers = [number for number in numbers if number][: self.track_batch_size]
        if not numbers:
            return TrackingResult(ok=True)
        payload = {"tracking_numbers": numbers}
        outcome = self.connection.run(lambda sdk, gateway: sdk.Tracking.fetch(payload).from_(gateway))
        if outcome.result is None:
            return TrackingResult(ok=False, error=outcome.error, retryable=outcome.retryable)
        return TrackingResult(ok=True, updates=mapping.tracking_updates(outcome.result))

    # ------------------------------------------------------------------ helpers

    def _book(self, request: ShipmentRequest) -> CarrierResult:
        if not (request.ship_from and request.ship_to and request.parcel):
            return CarrierResult.failure(BOOKING_NEEDS)
        # karrio takes a return in the outbound orientation and swaps the addresses
        # itself; the OMS's return request already names the customer as ship_from.
        shipper, recipient = ((request.ship_to, request.ship_from) if request.is_return
                              else (request.ship_from, request.ship_to))
        payload = {
            "service": request.service, "shipper": mapping.address(shipper),
            "recipient": mapping.address(recipient),
            "parcels": [mapping.parcel(request.parcel, request.contents)],
            "customs": mapping.customs(shipper, recipient, request.contents),
            "options": mapping.options(request.options), "label_type": request.label_format,
            "reference": request.order_number, "is_return": request.is_return,
            "metadata": {"oms_idempotency_key": request.idempotency_key, "oms_shipment_id": request.shipment_id},
        }
        outcome = self.connection.run(lambda sdk, gateway: sdk.Shipment.create(payload).from_(gateway))
        details = outcome.result
        if details is None:
            return CarrierResult.failure(outcome.error, retryable=outcome.retryable)
        cost = getattr(details, "selected_rate", None)
        currency = getattr(cost, "currency", None)
        return CarrierResult(
            ok=True, external_id=details.shipment_identifier or details.tracking_number,
            tracking_number=details.tracking_number, tracking_url=self.tracking_url(details.tracking_number),
            label=mapping.label(details.docs, details.label_type),
            cost_minor=mapping.to_minor(getattr(cost, "total_charge", None), currency or ""),
            currency=currency)

    def _tracking_url_template(self) -> Optional[str]:
        """The extension's public tracking page ("...{}..."), from the account's settings."""
        if self._tracking_template is None:
            try:
                template = self.connection.settings().tracking_url
            except (ExtensionMissing, SettingsRefused):
                return None
            self._tracking_template = template if isinstance(template, str) and "{}" in template else ""
        return self._tracking_template or None


def _service_label(name: str, value, carrier_name: str) -> str:
    if isinstance(value, str) and not value.isupper():  # "UPS Standard", not a bare code "V01PAK"
        return value
    short = name.removeprefix(f"{carrier_name}_")  # dhl_parcel_de_europaket -> Europaket
    return short.replace("_", " ").capitalize()
