"""Customer emails about one parcel: shipped (carrier, number, link), out for
delivery, delivered and a delivery problem, each at most once per parcel (an
outbox key per parcel and kind). The order's own "shipped" and "delivered" emails
(services.status) stand in for the parcel's when that parcel moved the order:
nobody gets two emails for one event."""
from __future__ import annotations

from ..models import Order, Shipment
from . import notifications, outbox

PROBLEM_STATUSES = frozenset({"exception", "delivery_attempted", "returned_to_sender"})
# Tracking status -> the parcel email it triggers.
KIND_OF_STATUS = {"out_for_delivery": "parcel_out_for_delivery", "delivered": "parcel_delivered",
                  **{status: "parcel_problem" for status in PROBLEM_STATUSES}}


def _queue(order: Order, shipment: Shipment, kind: str) -> None:
    if not order.tracking_code:
        return
    key = f"{notifications.status_email_key(order, kind)}-{shipment.booking_key[:16]}"
    outbox.enqueue_once(notifications.EMAIL_KIND, {"status": kind, "shipment_id": shipment.id}, key=key,
                        order_id=order.id)


def parcel_shipped(order: Order, shipment: Shipment) -> None:
    """A parcel was handed over without the order's status email saying so."""
    _queue(order, shipment, "parcel_shipped")


def tracking_changed(order: Order, shipment: Shipment, status: str, *, order_email_sent: bool) -> None:
    """A parcel's status is now `status` (after an event was applied)."""
    kind = KIND_OF_STATUS.get(status)
    if kind is None or (kind == "parcel_delivered" and order_email_sent):
        return
    _queue(order, shipment, kind)
