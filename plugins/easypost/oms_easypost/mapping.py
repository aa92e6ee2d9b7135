"""Between the OMS's carrier protocol and EasyPost's JSON: units, addresses,
customs, rates, tracking statuses and webhook events. Pure functions on plain
dicts (the SDK's objects `.to_dict()`), so they are tested without a server and
import nothing heavy.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Optional, Sequence

from oms_core.errors import ValidationError
from oms_core.money import exponent, parse_amount
from oms_core.protocols import Address, ContentLine, Parcel, Rate, ShipmentOptions, TrackingUpdate

GRAMS_PER_OUNCE = Decimal("28.349523125")
MM_PER_INCH = Decimal("25.4")
# The EU customs union (the 27 members and Monaco): no customs form between two
# of these. Elsewhere a parcel crossing a border needs one.
CUSTOMS_UNION = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MC MT NL PL PT RO SE SI SK".split())
SERVICE_SEPARATOR = ":"  # service codes are "<EasyPost carrier>:<its service>", e.g. USPS:Priority

# EasyPost's tracker statuses -> oms_core.protocols.TRACKING_STATUSES.
STATUS_BY_EASYPOST = {
    "unknown": "unknown",
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "available_for_pickup": "available_for_pickup",
    "return_to_sender": "returned_to_sender",
    "failure": "exception",
    "error": "exception",
    "cancelled": "cancelled",
}
# A status_detail that says more than the status: a failed attempt is not a loss.
STATUS_BY_DETAIL = {"delivery_attempted": "delivery_attempted", "attempted_delivery": "delivery_attempted"}
TRACKER_EVENTS = ("tracker.created", "tracker.updated")
MAX_MESSAGE, MAX_LOCATION = 2000, 200


def _round_up(value: Decimal) -> float:
    """Up to the next tenth: a parcel declared lighter or smaller than it is gets surcharged."""
    return math.ceil(value * 10) / 10


def ounces(grams: int) -> float:
    return _round_up(Decimal(grams) / GRAMS_PER_OUNCE)


def inches(mm: int) -> float:
    return _round_up(Decimal(mm) / MM_PER_INCH)


def address(value: Address) -> dict:
    answer = {"name": value.name, "company": value.company, "street1": value.line1, "street2": value.line2,
              "city": value.city, "state": value.state, "zip": value.postal_code, "country": value.country,
              "phone": value.phone, "email": value.email}
    return {key: text for key, text in answer.items() if text}


def parcel(value: Parcel) -> dict:
    if value.weight_grams <= 0:
        raise ValidationError("The parcel needs its weight.")
    answer = {"weight": ounces(value.weight_grams)}
    if value.length_mm and value.width_mm and value.height_mm:
        answer.update(length=inches(value.length_mm), width=inches(value.width_mm),
                      height=inches(value.height_mm))
    return answer


def needs_customs(origin: str, destination: str) -> bool:
    origin, destination = origin.upper(), destination.upper()
    if origin == destination:
        return False
    return not (origin in CUSTOMS_UNION and destination in CUSTOMS_UNION)


def _decimal(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-exponent(currency)))


def customs_info(contents: Sequence[ContentLine], signer: str) -> dict:
    if not contents:
        raise ValidationError("A parcel that crosses a customs border needs its contents listed.")
    items = [{
        "description": line.description[:255], "quantity": line.quantity, "code": line.sku,
        "value": _decimal(line.unit_value_minor * line.quantity, line.currency), "currency": line.currency,
        "weight": ounces(max(line.weight_grams, 1) * line.quantity),
        "hs_tariff_number": line.hs_code, "origin_country": line.origin_country,
    } for line in contents]
    return {"contents_type": "merchandise", "customs_certify": True, "customs_signer": signer,
            "non_delivery_option": "return", "restriction_type": "none", "eel_pfc": "NOEEI 30.37(a)",
            "customs_items": [{key: value for key, value in item.items() if value != ""} for item in items]}


def shipment_options(options: ShipmentOptions, label_format: str) -> dict:
    answer = {"label_format": label_format}
    if options.signature:
        answer["delivery_confirmation"] = "SIGNATURE"
    return answer


def insurance(options: ShipmentOptions) -> Optional[str]:
    """The amount to insure, as EasyPost's buy call takes it (in the shipment's currency)."""
    if options.insurance_minor <= 0:
        return None
    return _decimal(options.insurance_minor, options.currency or "USD")


def shipment_body(ship_from: Address, ship_to: Address, box: Parcel, contents: Sequence[ContentLine],
                  options: ShipmentOptions, *, label_format: str, reference: str = "",
                  is_return: bool = False, carrier_accounts: Sequence[str] = ()) -> dict:
    """The Shipment to create. For a return, EasyPost takes the outbound addresses
    and swaps them itself (docs.easypost.com, Returns): the OMS's request names
    the return's own direction (ship_from is the customer), so they go in swapped."""
    origin, destination = (ship_to, ship_from) if is_return else (ship_from, ship_to)
    body = {"from_address": address(origin), "to_address": address(destination), "parcel": parcel(box),
            "options": shipment_options(options, label_format)}
    if needs_customs(ship_from.country, ship_to.country):
        body["customs_info"] = customs_info(contents, signer=ship_from.name)
    if reference:
        body["reference"] = reference
    if is_return:
        body["is_return"] = True
    if carrier_accounts:
        body["carrier_accounts"] = list(carrier_accounts)
    return body


def service_code(rate: dict) -> str:
    return f"{rate.get('carrier', '')}{SERVICE_SEPARATOR}{rate.get('service', '')}"


def amount_minor(amount, currency: str) -> int:
    return parse_amount(str(amount), currency)


def rates(answer: dict, *, services: Iterable[str] = (), carriers: Iterable[str] = ()) -> list[Rate]:
    """The shipment's rates as the OMS's, cheapest first, keeping only the services
    and carriers asked for (none named: all)."""
    services, carriers = set(services), {name.lower() for name in carriers}
    found = []
    for rate in answer.get("rates") or ():
        code = service_code(rate)
        if (services and code not in services) or (carriers and str(rate.get("carrier", "")).lower() not in carriers):
            continue
        currency = str(rate.get("currency") or "USD").upper()
        days = rate.get("delivery_days") or rate.get("est_delivery_days")
        found.append(Rate(service=code, amount_minor=amount_minor(rate["rate"], currency), currency=currency,
                          label=f"{rate.get('carrier', '')} {rate.get('service', '')}".strip(),
                          estimated_days=int(days) if isinstance(days, int) else None,
                          rate_id=rate.get("id"), carrier_name=str(rate.get("carrier", ""))))
    return sorted(found, key=lambda rate: rate.amount_minor)


def pick_rate(answer: dict, service: str, rate_id: Optional[str], carriers: Iterable[str] = ()) -> Optional[dict]:
    """The quote to buy: the one staff picked when it is still on the shipment,
    else the cheapest of the service ("cheapest": of any service)."""
    offered = answer.get("rates") or []
    if rate_id:
        for rate in offered:
            if rate.get("id") == rate_id:
                return rate
    wanted = () if service == "cheapest" else (service,)
    cheapest = rates(answer, services=wanted, carriers=carriers)
    if not cheapest:
        return None
    return next(rate for rate in offered if rate.get("id") == cheapest[0].rate_id)


# ---------------------------------------------------------------- tracking


def _occurred_at(text) -> datetime:
    when = datetime.fromisoformat(str(text))
    # EasyPost gives a local time with its offset when it knows the place, else UTC.
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def tracking_status(status: str, detail: str = "") -> str:
    return STATUS_BY_DETAIL.get(detail) or STATUS_BY_EASYPOST.get(status, "unknown")


def _location(place) -> str:
    if not isinstance(place, dict):
        return ""
    parts = [place.get(key) for key in ("city", "state", "zip", "country")]
    return ", ".join(str(part) for part in parts if part)[:MAX_LOCATION]


def tracker_updates(tracker: dict) -> list[TrackingUpdate]:
    """One update per tracking detail of an EasyPost Tracker. EasyPost gives the
    details no id: an event is told by its number, time and status."""
    number = str(tracker["tracking_code"])
    details = tracker.get("tracking_details") or []
    if not details and tracker.get("status") not in (None, "unknown"):  # only its own status so far
        details = [{"status": tracker["status"], "status_detail": tracker.get("status_detail", ""),
                    "datetime": tracker.get("updated_at") or tracker["created_at"], "message": ""}]
    updates = []
    for detail in details:
        status, fine = str(detail.get("status") or "unknown"), str(detail.get("status_detail") or "")
        occurred_at = _occurred_at(detail["datetime"])
        updates.append(TrackingUpdate(
            tracking_number=number, status=tracking_status(status, fine), occurred_at=occurred_at,
            raw_code=f"{status}/{fine}" if fine else status,
            message=str(detail.get("message") or detail.get("description") or "")[:MAX_MESSAGE],
            location=_location(detail.get("tracking_location")),
            event_id=f"{number}@{occurred_at.isoformat()}:{status}:{fine}"))
    return updates


def event_updates(event: dict) -> list[TrackingUpdate]:
    """The TrackingUpdates of a webhook Event: a tracker's, or none for any other
    kind of event (acknowledged, nothing to apply)."""
    if not isinstance(event, dict) or event.get("object") != "Event":
        raise ValueError("not an EasyPost Event")
    if event.get("description") not in TRACKER_EVENTS:
        return []
    return tracker_updates(event["result"])
