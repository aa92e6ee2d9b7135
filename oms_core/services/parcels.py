"""What goes into a parcel: which order lines and how many units, its weight, and
the request a carrier gets to book it (addresses, parcel, contents, options).

An order line's units are never in more non-cancelled parcels than were ordered.
"""
from __future__ import annotations

from sqlalchemy import func, select

from .. import limits, runtime, shipping_config
from ..db import db
from ..errors import ValidationError
from ..models import Order, OrderLine, Product, Shipment, ShipmentLine
from ..protocols import Address, ContentLine, Parcel, ShipmentOptions, ShipmentRequest

CANCELLED = "cancelled"


def packed_units(order_id: int, *, booked_only: bool = False) -> dict[int, int]:
    """Order line id -> units in the order's non-cancelled parcels (only those with
    a tracking number: handed over, when `booked_only`)."""
    query = (select(ShipmentLine.order_line_id, func.sum(ShipmentLine.quantity))
             .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
             .where(Shipment.order_id == order_id, Shipment.status != CANCELLED)
             .group_by(ShipmentLine.order_line_id))
    if booked_only:
        query = query.where(Shipment.tracking_number.is_not(None))
    return {line_id: int(units) for line_id, units in db.session.execute(query)}


def remaining_units(order: Order) -> dict[int, int]:
    """Order line id -> units not yet in any non-cancelled parcel (zeros left out)."""
    packed = packed_units(order.id)
    left = {line.id: line.quantity - packed.get(line.id, 0) for line in order.goods_lines}
    return {line_id: units for line_id, units in left.items() if units > 0}


def all_units_handed_over(order: Order) -> bool:
    booked = packed_units(order.id, booked_only=True)
    return all(booked.get(line.id, 0) >= line.quantity for line in order.goods_lines)


def pick(order: Order, wanted: dict[int, int] | None) -> list[tuple[OrderLine, int]]:
    """The lines and units of a new parcel; None: every unit not yet in a parcel.
    Refuses unknown lines, quantities that are not whole and positive, and more
    units than are left. Caller's transaction, holding the order's lock."""
    left = remaining_units(order)
    lines = {line.id: line for line in order.goods_lines}  # a service is never packed
    if wanted is None:
        wanted = left
    picked = []
    for line_id, quantity in sorted(wanted.items()):
        line = lines.get(line_id)
        if line is None:
            raise ValidationError("Pick lines of this order.")
        limits.check_whole(quantity, f"The quantity of {line.sku}", minimum=0, maximum=limits.MAX_ORDER_QUANTITY)
        if quantity == 0:
            continue
        if quantity > left.get(line_id, 0):
            raise ValidationError(f"Only {left.get(line_id, 0)} of {line.sku} are left to pack "
                                  f"(ordered {line.quantity}).")
        picked.append((line, quantity))
    if not picked:
        raise ValidationError("The parcel holds nothing: every unit is in a parcel already."
                              if not left else "Pick at least one unit for the parcel.")
    return picked


def _products(lines) -> dict[int, Product]:
    ids = {line.product_id for line in lines}
    return {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(ids)))} if ids else {}


def weight_grams(picked: list[tuple[OrderLine, int]], packaging_code: str) -> int:
    products = _products([line for line, _ in picked])
    preset = shipping_config.packaging(packaging_code)
    units = sum(products[line.product_id].weight_grams * quantity for line, quantity in picked)
    return units + (preset.weight_grams if preset else 0)


def ship_to(order: Order) -> Address:
    return Address(name=order.ship_name, line1=order.ship_line1, line2=order.ship_line2, city=order.ship_city,
                   postal_code=order.ship_postal_code, country=order.ship_country,
                   phone=order.customer_phone, email=order.customer.email)


def contents(shipment: Shipment, *, customs: bool) -> tuple[ContentLine, ...]:
    """The parcel's lines, with HS code and origin when it crosses a customs border."""
    products = _products([item.order_line for item in shipment.lines])
    found = []
    for item in shipment.lines:
        line, product = item.order_line, products[item.order_line.product_id]
        found.append(ContentLine(
            sku=line.sku, description=line.name, quantity=item.quantity,
            unit_value_minor=line.gross_minor // max(line.quantity, 1), currency=shipment.order.currency,
            weight_grams=product.weight_grams, hs_code=product.hs_code if customs else "",
            origin_country=product.origin_country if customs else ""))
    return tuple(found)


def parcel(shipment: Shipment) -> Parcel:
    preset = shipping_config.packaging(shipment.packaging) if shipment.packaging else None
    length, width, height = preset.outer_mm if preset else (0, 0, 0)
    return Parcel(weight_grams=shipment.weight_grams, length_mm=length, width_mm=width, height_mm=height,
                  packaging=shipment.packaging)


def shipment_request(shipment: Shipment, idempotency_key: str, *, is_return: bool = False) -> ShipmentRequest:
    """What the carrier gets to buy the parcel's label (a return: the customer sends
    it back to the ship-from address)."""
    order = shipment.order
    origin, destination = shipping_config.ship_from(shipment.ship_from), ship_to(order)
    customs = bool(origin) and shipping_config.needs_customs(origin.country, destination.country)
    if is_return:
        origin, destination = destination, origin
    return ShipmentRequest(
        shipment_id=shipment.id, order_number=order.number, service=shipment.service,
        idempotency_key=idempotency_key, destination_country=order.ship_country,
        weight_grams=shipment.weight_grams, ship_from=origin, ship_to=destination, parcel=parcel(shipment),
        contents=contents(shipment, customs=customs),
        options=ShipmentOptions(signature=shipment.signature, insurance_minor=shipment.insurance_minor,
                                currency=order.currency if shipment.insurance_minor else ""),
        is_return=is_return, rate_id=shipment.rate_id)


def default_choice(order: Order, weight: int) -> tuple[str, str]:
    """(carrier id, service) the destination rule picks for a parcel, or ("", "")."""
    from ..plugins import CARRIER

    rule = shipping_config.preferred(order.ship_country, weight)
    if rule is None or rule.carrier not in {c.id for c in runtime.registry().usable(CARRIER)}:
        return "", ""
    return rule.carrier, rule.service
