"""The calls to EasyPost, through its SDK. Imported only by the carrier's methods
(the outbox worker, a rates request, a webhook), never when a page is served:
the SDK brings `requests` with it.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

import easypost
import requests
from easypost.errors import ApiError, EasyPostError, HttpError, JsonError, NotFoundError, TimeoutError

from oms_core.protocols import Label

# Label files are served from the carrier's storage; a slow one is tried again.
LABEL_TIMEOUT_SECONDS = 30
MAX_LABEL_BYTES = 10 * 1024 * 1024  # a label is a page or a few: more is not a label
REQUEST_TIMEOUT_SECONDS = 30
REFUNDED = ("submitted", "refunded")  # refund_status values that mean the label is voided


def make(api_key: str, api_base: Optional[str]) -> "easypost.EasyPostClient":
    if api_base:
        return easypost.EasyPostClient(api_key, api_base=api_base.rstrip("/"), timeout=REQUEST_TIMEOUT_SECONDS)
    return easypost.EasyPostClient(api_key, timeout=REQUEST_TIMEOUT_SECONDS)


def retryable(error: Exception) -> bool:
    """Down, slow, rate-limited or answering 5xx: worth trying again later."""
    if isinstance(error, (HttpError, TimeoutError, JsonError, requests.RequestException)):
        return True
    status = getattr(error, "http_status", None)
    return isinstance(error, ApiError) and status is not None and (status >= 500 or status in (408, 429))


def describe(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    status = getattr(error, "http_status", None)
    return f"EasyPost: {message}"[:500] + (f" ({status})" if status else "")


CALL_ERRORS = (EasyPostError, requests.RequestException)


def create_shipment(client, body: dict) -> dict:
    return client.shipment.create(**body).to_dict()


def find_shipment(client, id_or_reference: str) -> Optional[dict]:
    """A shipment by its id or by the reference we gave it (EasyPost takes either
    in its URLs); None when there is none."""
    try:
        return client.shipment.retrieve(quote(id_or_reference, safe="")).to_dict()
    except NotFoundError:
        return None


def quoted_shipment(client, rate_id: str) -> Optional[dict]:
    """The shipment a rate was quoted on (rates() made it): buying that rate buys it."""
    try:
        rate = client.rate.retrieve(quote(rate_id, safe="")).to_dict()
    except NotFoundError:
        return None
    return find_shipment(client, rate["shipment_id"]) if rate.get("shipment_id") else None


def buy(client, shipment_id: str, rate_id: str, insurance: Optional[str]) -> dict:
    params = {"rate": {"id": rate_id}}
    if insurance:
        params["insurance"] = insurance
    return client.shipment.buy(shipment_id, **params).to_dict()


def refund(client, shipment_id: str) -> dict:
    return client.shipment.refund(shipment_id).to_dict()


def label(client, shipment: dict, label_format: str) -> Label:
    """The label file in the format asked: the URL EasyPost gave for it, or one it
    makes on a label-convert call (GET /shipments/{id}/label?file_format=)."""
    key = f"label_{label_format.lower()}_url"
    postage = shipment.get("postage_label") or {}
    url = postage.get(key)
    if not url and str(postage.get("label_file_type", "")).lower().endswith(label_format.lower()):
        url = postage.get("label_url")
    if not url:
        converted = client.shipment.label(shipment["id"], file_format=label_format).to_dict()
        url = (converted.get("postage_label") or {}).get(key)
    if not url:
        raise JsonError(f"EasyPost gave no {label_format} label for {shipment['id']}.")
    with requests.get(url, timeout=LABEL_TIMEOUT_SECONDS, stream=True) as response:
        response.raise_for_status()
        data = response.raw.read(MAX_LABEL_BYTES + 1, decode_content=True)
    if not data or len(data) > MAX_LABEL_BYTES:
        raise EasyPostError(f"The {label_format} label of {shipment['id']} is empty or over 10 MiB.")
    return Label(data=data, format=label_format)


def trackers(client, numbers: list[str]) -> list[dict]:
    """The trackers of these numbers: those EasyPost has, and new ones for the rest
    (a label bought elsewhere, or a tracker not made yet)."""
    listed = client.tracker.all(tracking_codes=list(numbers), page_size=min(max(len(numbers), 1), 100)).to_dict()
    found = {tracker["tracking_code"]: tracker for tracker in listed.get("trackers") or []
             if tracker.get("tracking_code") in numbers}
    for number in numbers:
        if number not in found:
            found[number] = client.tracker.create(tracking_code=number).to_dict()
    return list(found.values())


def validate_webhook(body: bytes, headers, secret: str) -> dict:
    """The SDK's own check (HMAC-SHA256 of the body with the secret, hex, in the
    X-Hmac-Signature header); raises SignatureVerificationError, or ValueError for
    a body that is not JSON."""
    from easypost.util import validate_webhook as check

    return check(body, headers, secret)
