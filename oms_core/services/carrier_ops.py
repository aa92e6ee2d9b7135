"""What staff ask a carrier about a parcel beyond buying its label, where the
carrier offers it (`supports`): quotes (rates) for a parcel, voiding a label before
the carrier took the parcel (through the outbox), and a return label (issue 10's
returns call `return_label` from their own outbox handler).
"""
from __future__ import annotations

from sqlalchemy import select

from .. import order_states, runtime, shipping_config
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import Shipment
from ..protocols import CarrierResult, RateRequest, RatesResult, VoidLabelRequest, supports
# shipments before status: importing status first closes an import cycle through orders.
from . import outbox, parcels, shipments, status, stock, timeline  # noqa: F401
from .common import lock_order, optional_text

VOID_KIND = "carrier.void_label"
VOID_ACTOR = "carrier:void"


# ------------------------------------------------------------------ rates


def rates(order_id: int, *, carrier_id: str, lines: dict[int, int] | None = None, packaging: str = "",
          ship_from: str = "") -> RatesResult:
    """The carrier's quotes for a parcel of these lines (None: everything left to
    pack). Asked while staff wait: a quote changes nothing, so it needs no outbox."""
    carrier = runtime.registry().carrier(carrier_id)
    if not supports(carrier, "rates"):
        raise ValidationError(f"{carrier.label} gives no quotes.")
    from ..models import Order

    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order {order_id}.")
    picked = parcels.pick(order, lines)
    origin = shipping_config.ship_from(optional_text(ship_from, "Ship from", 32))
    if origin is None:
        raise ValidationError("Set the shop's ship-from address (OMS_SHIP_FROM) to ask for quotes.")
    preset = shipping_config.packaging(optional_text(packaging, "Packaging", 32))
    length, width, height = preset.outer_mm if preset else (0, 0, 0)
    from ..protocols import Parcel

    parcel = Parcel(weight_grams=parcels.weight_grams(picked, packaging), length_mm=length, width_mm=width,
                    height_mm=height, packaging=packaging)
    request = RateRequest(ship_from=origin, ship_to=parcels.ship_to(order), parcel=parcel)
    db.session.commit()  # no transaction open while the carrier answers
    try:
        result = carrier.rates(request)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is a failed quote, not a 500
        return RatesResult(ok=False, error=f"{carrier.label}: {exc.__class__.__name__}")
    if not isinstance(result, RatesResult):
        return RatesResult(ok=False, error=f"{carrier.label} answered nothing usable.")
    return result


# ------------------------------------------------------------------ voiding a label


def void_refusal(shipment: Shipment) -> str | None:
    """Why this parcel's label cannot be voided now, or None."""
    carrier = runtime.registry().carriers.get(shipment.carrier_id)
    if carrier is None or not supports(carrier, "void_label"):
        return "its carrier cannot void labels"
    if not shipment.tracking_number or shipment.status == "cancelled":
        return "it has no label"
    if shipment.status != "pre_transit":
        return "the carrier has the parcel already"
    return None


def void_key(shipment: Shipment) -> str:
    return f"void-{shipment.booking_key}"


def void_label(order_id: int, shipment_id: int, *, actor: str) -> Shipment:
    """Ask the carrier to void the label (the outbox sends it; the parcel is
    cancelled and its units put back when the carrier agrees)."""
    with write_transaction():
        order = lock_order(order_id)
        shipment = db.session.get(Shipment, shipment_id, populate_existing=True)
        if shipment is None or shipment.order_id != order.id:
            raise NotFound(f"Order {order_id} has no shipment #{shipment_id}.")
        problem = void_refusal(shipment)
        if problem:
            raise ValidationError(f"Shipment #{shipment.id}'s label cannot be voided: {problem}.")
        outbox.enqueue_once(VOID_KIND, {"shipment_id": shipment.id}, key=void_key(shipment), order_id=order.id)
        timeline.record(order, timeline.SHIPMENT_CANCELLED, actor,
                        f"Voiding the label of shipment #{shipment.id} ({shipment.tracking_number}) asked.")
    return shipment


def apply_void(shipment_id: int) -> None:
    """The carrier voided the label: the parcel is cancelled, its units are back on
    the shelf (reserved for the order) and can be packed again; the order steps back."""
    with write_transaction() as tx:
        order_id = db.session.scalar(select(Shipment.order_id).where(Shipment.id == shipment_id))
        order = lock_order(order_id)
        shipment = db.session.get(Shipment, shipment_id, populate_existing=True)
        if shipment.status == "cancelled":
            return
        shipment.status = "cancelled"
        for item in shipment.lines:
            stock.return_unshipped(item.order_line.product_id, item.quantity, order_id=order.id, actor=VOID_ACTOR)
        db.session.flush()
        booked = parcels.packed_units(order.id, booked_only=True)
        target = (order_states.FULFILLING if not booked else order_states.PARTIALLY_SHIPPED
                  if not parcels.all_units_handed_over(order) else order_states.SHIPPED)
        reason = f"Label of shipment #{shipment.id} voided."
        if order.status in (order_states.SHIPPED, order_states.PARTIALLY_SHIPPED) and target != order.status:
            status.change(order, target, actor=VOID_ACTOR, reason=reason, tx=tx)
        else:
            timeline.record(order, timeline.SHIPMENT_CANCELLED, VOID_ACTOR, reason)


@outbox.handler(VOID_KIND)
def _void_with_carrier(message) -> None:
    shipment = db.session.get(Shipment, message.payload["shipment_id"])
    if shipment is None or shipment.status == "cancelled":
        return
    carrier = runtime.registry().carrier(shipment.carrier_id)
    request = VoidLabelRequest(shipment_id=shipment.id, idempotency_key=message.idempotency_key,
                               external_id=shipment.external_id, tracking_number=shipment.tracking_number)
    db.session.commit()
    result = carrier.void_label(request)
    if isinstance(result, CarrierResult) and result.ok:
        apply_void(shipment.id)
        return
    error = getattr(result, "error", None) or "The carrier did not void the label."
    raise (outbox.SendError if getattr(result, "retryable", False) else outbox.Refused)(error)


# ------------------------------------------------------------------ return labels


def return_label(shipment_id: int) -> CarrierResult:
    """Buy a return label for a parcel (the customer sends it back to its ship-from
    address), idempotently: one key per parcel. For outbox handlers (issue 10)."""
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(f"No shipment {shipment_id}.")
    carrier = runtime.registry().carrier(shipment.carrier_id)
    if not supports(carrier, "create_return_label"):
        return CarrierResult.failure(f"{carrier.label} sells no return labels.")
    request = parcels.shipment_request(shipment, f"return-{shipment.booking_key}", is_return=True)
    db.session.commit()
    return carrier.create_return_label(request)
