"""The OMS's carrier dataclasses to karrio's unified models (as the plain dicts
karrio's fluent API accepts) and karrio's answers back, read by attribute. Called
only around a karrio operation, when the SDK is imported anyway."""
from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Optional, Sequence

from oms_core.money import exponent
from oms_core.protocols import (
    LABEL_FORMATS, Address, ContentLine, Label, Parcel, Rate, ShipmentOptions, TrackingUpdate,
)

# The units the OMS keeps (grams, millimetres) as karrio's: kilograms, centimetres.
GRAMS_PER_KG, MM_PER_CM = 1000, 10
# karrio's normalised tracking statuses (karrio.core.units.TrackingStatus) as the OMS's.
TRACKING_STATUS = {
    "pending": "pre_transit",
    "picked_up": "in_transit",
    "in_transit": "in_transit",
    "delivery_delayed": "in_transit",
    "on_hold": "exception",
    "out_for_delivery": "out_for_delivery",
    "ready_for_pickup": "available_for_pickup",
    "delivery_failed": "delivery_attempted",
    "return_to_sender": "returned_to_sender",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "unknown": "unknown",
}


def to_major(minor: int, currency: str) -> float:
    """karrio's amounts are floats in major units (12.5 for 1250 EUR cents)."""
    return float(Decimal(int(minor)).scaleb(-exponent(currency)))


def to_minor(amount, currency: str) -> Optional[int]:
    if amount is None or not currency:
        return None
    minor = Decimal(str(amount)).scaleb(exponent(currency))
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _text(value: str) -> Optional[str]:
    return value or None  # karrio leaves out what is None; "" would be sent


def address(value: Address) -> dict:
    return {
        "person_name": _text(value.name), "company_name": _text(value.company),
        "address_line1": value.line1, "address_line2": _text(value.line2),
        "city": value.city, "postal_code": value.postal_code, "country_code": value.country,
        "state_code": _text(value.state), "phone_number": _text(value.phone), "email": _text(value.email),
    }


def commodity(line: ContentLine) -> dict:
    return {
        "sku": _text(line.sku), "title": line.description[:35], "description": line.description,
        "quantity": line.quantity, "value_amount": to_major(line.unit_value_minor, line.currency),
        "value_currency": line.currency, "hs_code": _text(line.hs_code),
        "origin_country": _text(line.origin_country),
        **({"weight": line.weight_grams / GRAMS_PER_KG, "weight_unit": "KG"} if line.weight_grams else {}),
    }


def parcel(value: Parcel, contents: Sequence[ContentLine] = ()) -> dict:
    dimensions = (value.length_mm, value.width_mm, value.height_mm)
    sized = all(size > 0 for size in dimensions)
    return {
        "weight": value.weight_grams / GRAMS_PER_KG, "weight_unit": "KG",
        **({"length": value.length_mm / MM_PER_CM, "width": value.width_mm / MM_PER_CM,
            "height": value.height_mm / MM_PER_CM, "dimension_unit": "CM"} if sized else {}),
        "items": [commodity(line) for line in contents],
    }


def crosses_customs(ship_from: Address, ship_to: Address) -> bool:
    """Whether the parcel leaves the EU's customs union (or goes between two other
    countries): karrio's own list of EU countries, which names Greece by its EU code EL."""
    from karrio.core.units import EUCountry

    union = {country.name for country in EUCountry} | {"GR"}
    return ship_from.country != ship_to.country and not {ship_from.country, ship_to.country} <= union


def customs(ship_from: Address, ship_to: Address, contents: Sequence[ContentLine]) -> Optional[dict]:
    """Customs content, for a parcel that crosses a customs border only: inside the
    union the extensions would otherwise add export paperwork no one needs."""
    if not contents or not crosses_customs(ship_from, ship_to):
        return None
    return {"content_type": "merchandise", "commodities": [commodity(line) for line in contents]}


def options(value: ShipmentOptions) -> dict:
    """karrio's unified option names (karrio.core.units.ShippingOption)."""
    chosen = {}
    if value.signature:
        chosen["signature_confirmation"] = True
    if value.insurance_minor and value.currency:
        chosen.update(insurance=to_major(value.insurance_minor, value.currency), currency=value.currency)
    return chosen


def label(docs, label_type: Optional[str]) -> Optional[Label]:
    """karrio's label (base64 in `docs.label`) as bytes, in one of the OMS's formats."""
    encoded = getattr(docs, "label", None)
    if not encoded:
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    kind = (label_type or "PDF").upper()
    return Label(data=data, format=kind if kind in LABEL_FORMATS else "PDF")


def rate(details, service_labels: dict, carrier_name: str) -> Optional[Rate]:
    amount = to_minor(details.total_charge, details.currency or "")
    if not amount or amount < 0:  # a rate sheet's service without a price answers 0: no quote
        return None
    return Rate(service=details.service, amount_minor=amount, currency=details.currency,
                label=service_labels.get(details.service, details.service),
                estimated_days=details.transit_days, rate_id=getattr(details, "id", None) or None,
                carrier_name=carrier_name)


def _occurred_at(event) -> Optional[datetime]:
    """When an event happened. karrio gives the carrier's date and time (the
    carrier's local time, zone unknown: read as UTC) or an ISO timestamp."""
    stamp = getattr(event, "timestamp", None)
    if stamp:
        try:
            moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    for pattern, text in (("%Y-%m-%d %H:%M", f"{event.date} {event.time}"), ("%Y-%m-%d", f"{event.date}")):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except (TypeError, ValueError):
            continue
    return None


def tracking_updates(details: Iterable) -> list[TrackingUpdate]:
    """Every event of every tracked parcel. An event without a status of its own
    takes the parcel's status when it is the newest (karrio lists newest first)."""
    updates = []
    for parcel_details in details:
        for index, event in enumerate(parcel_details.events or []):
            occurred_at = _occurred_at(event)
            if occurred_at is None:
                continue
            status = event.status or (parcel_details.status if index == 0 else None) or "unknown"
            updates.append(TrackingUpdate(
                tracking_number=parcel_details.tracking_number,
                status=TRACKING_STATUS.get(str(status), "unknown"),
                occurred_at=occurred_at, raw_code=str(event.code or "")[:100],
                message=str(event.description or "")[:2000], location=str(event.location or "")[:200]))
    return updates
