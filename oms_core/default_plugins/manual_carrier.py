"""The manual carrier: staff hand the parcel to a carrier of their choice, type its
tracking number and set status updates by hand. For well-known carriers the public
page links to the carrier's own tracking page."""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from oms_core.hookspecs import hookimpl
from oms_core.protocols import (
    WEBHOOK_AUTH_NONE, CarrierResult, CarrierService, ShipmentRequest, WebhookResult,
)

# Carrier name -> its public tracking URL ({number} is replaced, URL-quoted).
TRACKING_URLS = {
    "DHL": "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?tracking-id={number}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "GLS": "https://gls-group.com/track/{number}",
    "UPS": "https://www.ups.com/track?tracknum={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "PostNL": "https://jouw.postnl.nl/track-and-trace/{number}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "La Poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "Deutsche Post": "https://www.deutschepost.de/sendung/simpleQuery.html?form.sendungsnummer={number}",
}


class ManualCarrier:
    id = "manual"
    label = "Manual (any carrier)"
    manual = True
    webhook_auth = WEBHOOK_AUTH_NONE  # staff add the updates by hand

    def services(self) -> list[CarrierService]:
        named = [CarrierService(code=name, label=name, carrier_name=name) for name in TRACKING_URLS]
        return named + [CarrierService(code="Other", label="Other carrier")]

    def create_shipment(self, request: ShipmentRequest) -> CarrierResult:
        # Nothing to book remotely: the tracking number is the one staff typed.
        if not request.tracking_number:
            return CarrierResult.failure("Type the carrier's tracking number.")
        return CarrierResult(ok=True, tracking_number=request.tracking_number,
                             external_id=request.idempotency_key,
                             tracking_url=self.tracking_url(request.tracking_number, request.service))

    def tracking_url(self, tracking_number: str, service: str = "") -> Optional[str]:
        template = TRACKING_URLS.get(service)
        return template.format(number=quote(tracking_number, safe="")) if template else None

    def parse_webhook(self, body, headers, secret) -> WebhookResult:
        return WebhookResult(ok=False, error="The manual carrier has no webhooks; staff add updates.")


@hookimpl
def register_carriers():
    return [ManualCarrier()]
