"""EasyPost: one account, many carriers (USPS, UPS, FedEx, DHL...). Rates, labels
(PDF, ZPL or PNG), return labels, voids (refunds), tracking by polling and by
signed webhooks. Settings and what to configure at EasyPost: plugins/easypost/README.md.

Every web worker loads this module to list the carrier, so it imports nothing
heavy: the EasyPost SDK (and `requests`) are imported by the methods that call
EasyPost (`client`), in the outbox worker or the request that needs them.

Buying twice: each booking is created with `reference` = the OMS's idempotency
key, and before creating one the carrier looks the reference up (EasyPost takes
a reference in place of an id in its URLs). A retry after a timeout or a crash
so finds the first shipment, bought or not, instead of buying a second label.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence
from urllib.parse import quote

from oms_core.errors import ValidationError
from oms_core.hookspecs import hookimpl
from oms_core.protocols import (
    LABEL_FORMATS, CarrierResult, CarrierService, RateRequest, RatesResult, ShipmentRequest, TrackingResult,
    VoidLabelRequest, WebhookResult,
)

from . import mapping

CARRIER_ID = "easypost"
TRACKING_PAGE = "https://track.easypost.com/{number}"
CHEAPEST = "cheapest"
# The services offered when the shop names none (setting `services`): EasyPost's
# codes for the common ones. Any "<carrier>:<service>" EasyPost rates can be bought.
DEFAULT_SERVICES = (
    "USPS:GroundAdvantage", "USPS:Priority", "USPS:Express", "UPS:Ground", "UPS:2ndDayAir",
    "UPS:NextDayAir", "FedEx:FEDEX_GROUND", "FedEx:FEDEX_2_DAY", "FedEx:INTERNATIONAL_PRIORITY",
    "DHLExpress:ExpressWorldwide",
)


def _names(value) -> tuple[str, ...]:
    """A list setting, from the config (a list) or the environment (comma-separated)."""
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(item).strip() for item in items if str(item).strip())


class EasyPost:
    id = CARRIER_ID
    label = "EasyPost"
    manual = False
    required_settings = ("api_key",)
    track_batch_size = 50
    # webhook_auth "secret" (the default): parse_webhook checks EasyPost's HMAC with webhook_secret.

    def __init__(self, api_key: Optional[str] = None, *, api_base: Optional[str] = None, carriers=(),
                 services=(), label_format: Optional[str] = None):
        self.api_key = api_key
        self.api_base = api_base or None
        carriers = _names(carriers)
        # Carrier account ids (ca_...) restrict the rating; carrier names filter the rates.
        self.carrier_accounts = tuple(name for name in carriers if name.startswith("ca_"))
        self.carrier_names = tuple(name for name in carriers if not name.startswith("ca_"))
        self.service_codes = _names(services) or DEFAULT_SERVICES
        if label_format and label_format.upper() not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}, not {label_format!r}")
        self.label_format = label_format.upper() if label_format else None

    def _client(self):
        """The module of EasyPost calls (imported here: see the docstring) and a client."""
        from . import client
        return client, client.make(self.api_key, self.api_base)

    def services(self) -> list[CarrierService]:
        wanted = {name.lower() for name in self.carrier_names}
        codes = [code for code in self.service_codes
                 if not wanted or code.split(mapping.SERVICE_SEPARATOR)[0].lower() in wanted]
        listed = [CarrierService(code, code.replace(mapping.SERVICE_SEPARATOR, " "),
                                 carrier_name=code.split(mapping.SERVICE_SEPARATOR)[0]) for code in codes]
        return [CarrierService(CHEAPEST, "Cheapest rate of any carrier")] + listed

    def tracking_url(self, tracking_number: str, service: str = "") -> Optional[str]:
        return TRACKING_PAGE.format(number=quote(tracking_number, safe=""))

    # ------------------------------------------------------------ rates

    def rates(self, request: RateRequest) -> RatesResult:
        api, client = self._client()
        try:
            body = mapping.shipment_body(request.ship_from, request.ship_to, request.parcel, request.contents,
                                         request.options, label_format=self.label_format or "PDF",
                                         carrier_accounts=self.carrier_accounts)
            answer = api.create_shipment(client, body)
            found = mapping.rates(answer, services=[s for s in request.services if s != CHEAPEST],
                                  carriers=self.carrier_names)
        except ValidationError as error:
            return RatesResult(ok=False, error=str(error))
        except api.CALL_ERRORS as error:
            return RatesResult(ok=False, error=api.describe(error), retryable=api.retryable(error))
        if not found:
            messages = "; ".join(str(m.get("message", "")) for m in answer.get("messages") or [])
            return RatesResult(ok=False, error="EasyPost offered no rate for this parcel"
                               + (f": {messages}" if messages else "."))
        return RatesResult(ok=True, rates=found)

    # ------------------------------------------------------------ labels

    def create_shipment(self, request: ShipmentRequest) -> CarrierResult:
        return self._book(request, is_return=False)

    def create_return_label(self, request: ShipmentRequest) -> CarrierResult:
        return self._book(request, is_return=True)

    def _book(self, request: ShipmentRequest, *, is_return: bool) -> CarrierResult:
        if not (request.ship_from and request.ship_to and request.parcel):
            return CarrierResult.failure("EasyPost needs the ship-from and ship-to addresses and the parcel.")
        label_format = self.label_format or request.label_format
        api, client = self._client()
        try:
            body = mapping.shipment_body(request.ship_from, request.ship_to, request.parcel, request.contents,
                                         request.options, label_format=label_format,
                                         reference=request.idempotency_key, is_return=is_return,
                                         carrier_accounts=self.carrier_accounts)
            shipment = self._shipment(api, client, request, body, is_return)
            if not shipment.get("tracking_code"):
                rate = mapping.pick_rate(shipment, request.service, request.rate_id, self.carrier_names)
                if rate is None:
                    return CarrierResult.failure(f"EasyPost offered no rate for the service {request.service}.")
                shipment = api.buy(client, shipment["id"], rate["id"], mapping.insurance(request.options))
            label = api.label(client, shipment, label_format)
            selected = shipment.get("selected_rate") or {}
            currency = str(selected.get("currency") or "USD").upper()
            cost = mapping.amount_minor(selected["rate"], currency) if selected.get("rate") else None
        except ValidationError as error:
            return CarrierResult.failure(str(error))
        except api.CALL_ERRORS as error:
            return CarrierResult.failure(api.describe(error), retryable=api.retryable(error))
        number = shipment["tracking_code"]
        tracker = shipment.get("tracker") or {}
        return CarrierResult(ok=True, external_id=shipment["id"], tracking_number=number,
                             tracking_url=tracker.get("public_url") or self.tracking_url(number),
                             label=label, cost_minor=cost, currency=currency if cost is not None else None)

    @staticmethod
    def _shipment(api, client, request: ShipmentRequest, body: dict, is_return: bool) -> dict:
        """The EasyPost shipment to buy: the one a first attempt made (a retry; see the
        module's docstring), else the one the picked rate was quoted on (a return is
        never quoted), else a new one."""
        found = api.find_shipment(client, request.idempotency_key)
        if found is None and request.rate_id and not is_return:
            found = api.quoted_shipment(client, request.rate_id)
        return found or api.create_shipment(client, body)

    def void_label(self, request: VoidLabelRequest) -> CarrierResult:
        if not request.external_id:
            return CarrierResult.failure("EasyPost voids a label by its shipment id, which this shipment lacks.")
        api, client = self._client()
        try:
            try:
                shipment = api.refund(client, request.external_id)
            except api.CALL_ERRORS as error:
                if api.retryable(error):
                    raise
                # Refused: asked before (a retried void) or not refundable; the shipment says which.
                shipment = api.find_shipment(client, request.external_id) or {}
                if shipment.get("refund_status") not in api.REFUNDED:
                    raise
        except api.CALL_ERRORS as error:
            return CarrierResult.failure(api.describe(error), retryable=api.retryable(error))
        if shipment.get("refund_status") not in api.REFUNDED:
            return CarrierResult.failure(f"EasyPost refused to void the label ({shipment.get('refund_status')}).")
        return CarrierResult(ok=True, external_id=shipment.get("id"), tracking_number=shipment.get("tracking_code"))

    # ------------------------------------------------------------ tracking

    def track(self, numbers: Sequence[str]) -> TrackingResult:
        numbers = list(dict.fromkeys(str(number) for number in numbers))[:self.track_batch_size]
        if not numbers:
            return TrackingResult(ok=True)
        api, client = self._client()
        try:
            found = api.trackers(client, numbers)
            updates = [update for tracker in found for update in mapping.tracker_updates(tracker)]
        except api.CALL_ERRORS as error:
            return TrackingResult(ok=False, error=api.describe(error), retryable=api.retryable(error))
        except (KeyError, TypeError, ValueError) as error:
            return TrackingResult(ok=False, error=f"EasyPost sent a tracker we cannot read: {error!r}")
        return TrackingResult(ok=True, updates=updates)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: Optional[str]) -> WebhookResult:
        """Checked with the SDK's validate_webhook. EasyPost posts one Event per
        delivery; a tracker.created/updated Event carries the whole Tracker."""
        if not secret:
            return WebhookResult(ok=False, error="No webhook_secret is set for EasyPost.")
        if not headers.get("X-Hmac-Signature"):
            return WebhookResult(ok=False, error="The X-Hmac-Signature header is missing.")
        from . import client as api
        try:
            event = api.validate_webhook(body, headers, secret)
        except ValueError:
            return WebhookResult(ok=False, error="The body is not JSON.")
        except api.CALL_ERRORS:
            return WebhookResult(ok=False, error="The signature does not match.")
        try:
            return WebhookResult(ok=True, events=mapping.event_updates(event))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return WebhookResult(ok=False, error=f"Unreadable EasyPost event: {error!r}")


@hookimpl
def register_carriers(settings):
    mine = settings.for_id(CARRIER_ID)
    return [EasyPost(api_key=mine.get("api_key"), api_base=mine.get("api_base"), carriers=mine.get("carriers"),
                     services=mine.get("services"), label_format=mine.get("label_format"))]
