"""The order timeline: every status change, payment, shipment and note.

The kinds of events and the words the services write on them are defined here
once, so everything that writes timeline rows (the services, the demo data)
writes the same ones.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert

from ..db import db, execute_core
from ..models import Order, TimelineEvent
from ..money import format_amount

# Kinds of events.
STATUS_CHANGED = "status_changed"
NOTE = "note"
PAYMENT_RECORDED = "payment_recorded"
PAYMENT_FLAGGED = "payment_flagged"
PAYMENT_STATE = "payment_state"  # a payment moved in its own state machine
PAYMENT_LATE = "payment_late"  # money arrived for an order cancelled meanwhile
REFUND = "refund"
SHIPMENT_CREATED = "shipment_created"
SHIPMENT_BOOKED = "shipment_booked"
SHIPMENT_CANCELLED = "shipment_cancelled"
TRACKING_UPDATE = "tracking_update"
DOCUMENT_ISSUED = "document_issued"
WEBHOOK_FAILED = "webhook_failed"  # an outbound webhook given up on
WEBHOOK_RESENT = "webhook_resent"
ASSEMBLY = "assembly"  # an assembly job changed (services.assembly)
ORDER_EDITED = "order_edited"
RETURN = "return"  # a return or exchange moved in its own state machine (services.returns)
PAYMENT_DEADLINE = "payment_deadline"  # reminded, extended, or kept past it (services/unpaid.py)
COMPLAINT = "complaint"  # a complaint opened, written in, moved (always private)

# Reasons of the status changes the services make themselves.
STOCK_RESERVED = "Stock reserved."
PAID_IN_FULL = "Paid in full."
FULFILMENT_STARTED = "Shipment created."
CARRIER_DELIVERED = "Carrier reports delivery."
ORDER_COMPLETED = "Order completed."


def placed_reason(channel: str) -> str:
    return f"Order placed ({channel})."


def handed_to(carrier_name: str) -> str:
    return f"Handed to {carrier_name}."


def payment_message(amount_minor: int, currency: str, gateway_id: str, reference: str) -> str:
    return (f"{format_amount(amount_minor, currency)} via {gateway_id}"
            + (f" (ref {reference})" if reference else ""))


def payment_state_message(gateway_id: str, state_label: str, amount_minor: int, currency: str,
                          reason: str = "") -> str:
    return (f"{gateway_id} payment of {format_amount(amount_minor, currency)}: {state_label}"
            + (f" ({reason})" if reason else ""))


def shipment_message(shipment_id: int, carrier_name: str, service: str) -> str:
    # A manual carrier's service is the carrier's name: "with PostNL", not "with PostNL (PostNL)".
    shown = f" ({service})" if service and service != carrier_name else ""
    return f"Shipment #{shipment_id} with {carrier_name}{shown}"


def tracking_message(status_label: str, location: str) -> str:
    return status_label + (f" - {location}" if location else "")


def record(order: Order, kind: str, actor: str, message: str = "", *, public: bool = False,
           from_status: str | None = None, to_status: str | None = None,
           occurred_at: datetime | None = None) -> TimelineEvent:
    """`occurred_at`: when it happened, if not now (a carrier's event time)."""
    event = TimelineEvent(order=order, kind=kind, actor=actor, message=message, public=public,
                          from_status=from_status, to_status=to_status, occurred_at=occurred_at)
    db.session.add(event)
    return event


_INSERT_EVENTS = insert(TimelineEvent.__table__)


def record_rows(order_id: int, events: list[dict]) -> None:
    """Several events of one order in one INSERT (the checkout's placed and confirmed
    steps); each dict holds record's kind, actor, message and keywords."""
    execute_core(_INSERT_EVENTS, [
        {"from_status": None, "to_status": None, "occurred_at": None, "public": False, "message": "",
         **event, "order_id": order_id} for event in events])


def happened_at():
    """When an event happened: a carrier's time for tracking events, else when recorded."""
    return func.coalesce(TimelineEvent.occurred_at, TimelineEvent.created_at)
