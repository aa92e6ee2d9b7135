"""Outbound webhooks: the shop's own systems hear of orders (docs/architecture.md,
"Outbound webhooks").

The owner registers endpoints (a URL, the events it wants, a signing secret the
OMS generates). When an event happens, `emit` writes one delivery per endpoint
that wants it and one outbox message each, in the transaction of the change, so a
delivery exists if and only if the change does. The worker sends it: a JSON body
fixed at that moment, signed per attempt (`OMS-Signature: t=...,v1=...`, see
oms_core/webhook_signing.py), with the event's id in `OMS-Event-Id` so the receiver
can drop what it has seen (a retry, a re-send). Anything but a 2xx answer is
retried by the outbox with exponential backoff; every attempt is logged with its
status code, the start of the answer and how long it took. Staff may re-send.

Events carry no more personal data than a receiver needs to look the order up:
ids, number, statuses, amounts, lines and the destination country; no names,
emails, addresses or tracking codes (the tracking code half-proves an order).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func, select

from .. import limits, order_states, outbound_http, runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import Order, OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ..models._base import utcnow
from ..webhook_signing import OUTBOUND_SIGNATURE_HEADER, outbound_signature
from . import outbox, timeline
from .common import optional_text

DELIVER_KIND = "webhook.deliver"
API_VERSION = "1"
USER_AGENT = "Flask-OMS-Webhooks/1"
WORKER_ACTOR = "system:webhooks"
# Event type -> what the owner reads when picking events.
EVENTS = {
    "order.placed": "An order is placed",
    "order.status_changed": "An order changes status",
    "order.paid": "An order is paid in full",
    "order.shipped": "Every unit of an order is with the carrier",
    "order.delivered": "An order is delivered",
    "order.refunded": "A refund to the customer went through",
    "return.requested": "A customer asks to return an order",
}
# Order statuses whose change also emits its own event.
STATUS_EVENTS = {"shipped": "order.shipped", "delivered": "order.delivered"}
RETRYING_STATUSES = ("pending", "retrying")
PAGE_SIZE = 50
# Whether any endpoint is active, as a column a hot path's first SELECT carries
# (services.orders.place_order): with none, its events need no lookup at all.
ANY_ACTIVE_ENDPOINT = select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True)).exists()


# ------------------------------------------------------------------ endpoints


def _events(events: Iterable[str]) -> list[str]:
    chosen = set()
    for event in events or ():
        if event not in EVENTS:
            raise ValidationError("Pick events from the list.")
        chosen.add(event)
    if not chosen:
        raise ValidationError("Pick at least one event.")
    return [event for event in EVENTS if event in chosen]


def _url(url: str) -> str:
    outbound_http.check_url(url, allow_private=runtime.setting("WEBHOOK_ALLOW_PRIVATE_ADDRESSES"))
    return url.strip()


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def get_endpoint(endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    if not limits.is_id(endpoint_id):
        raise NotFound("No such webhook endpoint.")
    endpoint = db.session.get(WebhookEndpoint, endpoint_id, with_for_update=lock, populate_existing=lock)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


@dataclass
class EndpointRow:
    endpoint: WebhookEndpoint
    failing: int  # deliveries retrying or given up on


def endpoints() -> list[EndpointRow]:
    """Every endpoint, oldest first, with how many of its deliveries are in trouble."""
    failing = dict(db.session.execute(select(WebhookDelivery.endpoint_id, func.count())
                                      .where(WebhookDelivery.status.in_(("retrying", "failed")))
                                      .group_by(WebhookDelivery.endpoint_id)).all())
    return [EndpointRow(endpoint, failing.get(endpoint.id, 0))
            for endpoint in db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def create_endpoint(url: str, events: Iterable[str], *, description: str = "") -> WebhookEndpoint:
    url, events = _url(url), _events(events)
    description = optional_text(description, "Description", 200)
    with write_transaction():
        count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint))
        if count >= limits.MAX_WEBHOOK_ENDPOINTS:
            raise ValidationError(f"A shop has at most {limits.MAX_WEBHOOK_ENDPOINTS} webhook endpoints: "
                                  "edit or reuse one.")
        endpoint = WebhookEndpoint(url=url, events=events, description=description, active=True,
                                   secret=new_secret())
        db.session.add(endpoint)
    return endpoint


def update_endpoint(endpoint_id: int, *, url: str, events: Iterable[str], description: str = "",
                    active: bool = True) -> WebhookEndpoint:
    url, events = _url(url), _events(events)
    description = optional_text(description, "Description", 200)
    with write_transaction():
        endpoint = get_endpoint(endpoint_id, lock=True)
        endpoint.url, endpoint.events, endpoint.description = url, events, description
        _set_active(endpoint, bool(active))
        endpoint.updated_at = utcnow()
    return endpoint


def set_active(endpoint_id: int, active: bool) -> WebhookEndpoint:
    with write_transaction():
        endpoint = get_endpoint(endpoint_id, lock=True)
        _set_active(endpoint, bool(active))
        endpoint.updated_at = utcnow()
    return endpoint


def _set_active(endpoint: WebhookEndpoint, active: bool) -> None:
    """Disabling withdraws what is still waiting to go to it: its deliveries are
    cancelled (staff may re-send them once it is enabled again)."""
    if endpoint.active and not active:
        waiting = list(db.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status.in_(RETRYING_STATUSES))))
        for delivery in waiting:
            outbox.withdraw(delivery.outbox_key)
            delivery.status = "cancelled"
    endpoint.active = active


def rotate_secret(endpoint_id: int) -> WebhookEndpoint:
    """A new secret, used from the next attempt on (deliveries waiting included)."""
    with write_transaction():
        endpoint = get_endpoint(endpoint_id, lock=True)
        endpoint.secret, endpoint.updated_at = new_secret(), utcnow()
    return endpoint


# ------------------------------------------------------------------ events


def _order_data(order: Order, status: str | None = None) -> dict:
    return {
        "id": order.id, "number": order.number, "status": status or order.status,
        "payment_status": order.payment_status, "channel": order.channel, "currency": order.currency,
        "total_minor": order.total_minor, "paid_minor": order.paid_minor or 0,
        "refunded_minor": order.refunded_minor or 0, "ship_country": order.ship_country,
        "placed_at": order.created_at.isoformat() if order.created_at else None,
        "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity, "gross_minor": line.gross_minor}
                  for line in order.lines],
    }


def emit(order: Order, event_type: str, extra: dict | None = None, *, status: str | None = None) -> None:
    """Queue `event_type` about `order` for every active endpoint that wants it, in
    the caller's write transaction (nothing at all when none does). `status`: the
    order's status the event reports, when not the one it has now."""
    emit_all(order, [(event_type, extra, status)])


def emit_all(order: Order, events: list[tuple[str, dict | None, str | None]]) -> None:
    """`emit` for several (event type, extra, status) in this order, with one lookup
    of the endpoints (a checkout and a shipment each raise two events)."""
    for event_type, _extra, _status in events:
        if event_type not in EVENTS:
            raise ValueError(f"Unknown webhook event {event_type!r}")
    endpoints = list(db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)).order_by(WebhookEndpoint.id)))
    for event_type, extra, status in events:
        wanted = [endpoint for endpoint in endpoints if event_type in (endpoint.events or ())]
        if wanted:
            _queue(order, event_type, extra, status, wanted)


def _queue(order: Order, event_type: str, extra: dict | None, status: str | None,
           wanted: list[WebhookEndpoint]) -> None:
    if order.id is None or order.created_at is None:
        db.session.flush()  # a new order gets its id and number here
    event_id = "evt_" + secrets.token_hex(16)
    body = json.dumps({"id": event_id, "type": event_type, "api_version": API_VERSION,
                       "created": int(time.time()),
                       "data": {"order": _order_data(order, status), **(extra or {})}},
                      separators=(",", ":"), ensure_ascii=False, default=str)
    for endpoint in wanted:
        # The event's random id makes the key unique across installations and resets.
        key = f"webhook-{event_id}-{endpoint.id}"
        db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, event_type=event_type,
                                       order_id=order.id, body=body, status="pending", outbox_key=key))
        outbox.enqueue(DELIVER_KIND, {"endpoint_id": endpoint.id, "event_id": event_id}, key=key,
                       order_id=order.id)


def placed(order: Order, *, confirmed: bool) -> None:
    """services.status.record_new_order: a new order, reported placed even when it
    was written confirmed at once; its confirmation is the order.status_changed
    that follows (one endpoint lookup for both)."""
    events = [("order.placed", None, order_states.PLACED)]
    if confirmed:
        events += _status_events(order_states.PLACED, order_states.CONFIRMED)
    emit_all(order, events)


def status_changed(order: Order, old_status: str, new_status: str) -> None:
    """services.status.change: order.status_changed, and order.shipped / delivered."""
    emit_all(order, _status_events(old_status, new_status))


def _status_events(old_status: str, new_status: str) -> list[tuple[str, dict | None, str | None]]:
    events = [("order.status_changed", {"from_status": old_status, "to_status": new_status}, None)]
    if new_status in STATUS_EVENTS:
        events.append((STATUS_EVENTS[new_status], None, None))
    return events


def refunded(order: Order, refund) -> None:
    """services.refunds: a refund went through."""
    emit(order, "order.refunded", {"refund": {"id": refund.id, "amount_minor": refund.amount_minor,
                                              "currency": refund.currency}})


def return_requested(order: Order, *, return_id: int, lines: dict[int, int] | None = None,
                     reason: str = "") -> None:
    """For the returns service: a customer asked to return (some of) the order.
    `lines`: order line id -> units; the reason as the customer typed it is not
    sent (free text may hold anything), only whether there is one."""
    emit(order, "return.requested", {"return": {
        "id": return_id, "has_reason": bool(reason),
        "lines": [{"order_line_id": line_id, "quantity": units} for line_id, units in sorted((lines or {}).items())],
    }})


# ------------------------------------------------------------------ sending


@outbox.handler(DELIVER_KIND)
def _deliver(message) -> None:
    row = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.body, WebhookDelivery.event_id, WebhookDelivery.event_type,
               WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.active)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.endpoint_id == message.payload["endpoint_id"],
               WebhookDelivery.event_id == message.payload["event_id"])).first()
    db.session.commit()  # end the read before talking to the receiver
    if row is None or not row.active:
        return  # disabled since: its deliveries were cancelled with it
    body = row.body.encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               "OMS-Event-Id": row.event_id, "OMS-Event-Type": row.event_type,
               OUTBOUND_SIGNATURE_HEADER: outbound_signature(body, row.secret, int(time.time()))}
    final = message.attempts + 1 >= message.max_attempts
    try:
        answer = outbound_http.post(row.url, body, headers, timeout=runtime.setting("WEBHOOK_TIMEOUT_SECONDS"),
                                    allow_private=runtime.setting("WEBHOOK_ALLOW_PRIVATE_ADDRESSES"))
    except outbound_http.Unreachable as exc:
        _record(row.id, message.idempotency_key, status_code=None, excerpt="", duration_ms=exc.duration_ms,
                error=str(exc), final=final)
        raise outbox.SendError(f"Webhook not delivered: {exc}") from None
    ok = 200 <= answer.status < 300
    _record(row.id, message.idempotency_key, status_code=answer.status, excerpt=answer.excerpt,
            duration_ms=answer.duration_ms, error="" if ok else f"HTTP {answer.status}", final=final)
    if not ok:
        raise outbox.SendError(f"Webhook not delivered: the receiver answered HTTP {answer.status}.")


def _record(delivery_id: int, key: str, *, status_code, excerpt: str, duration_ms: int, error: str,
            final: bool) -> None:
    """Log one attempt and move the delivery (its own transaction, after the send)."""
    with write_transaction():
        delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
        db.session.add(WebhookAttempt(delivery_id=delivery_id, status_code=status_code,
                                      duration_ms=max(0, min(duration_ms, limits.MAX_ID)),
                                      response_excerpt=excerpt, error=error[:2000]))
        delivery.attempts += 1
        delivery.last_status_code = status_code
        if key != delivery.outbox_key or delivery.status in ("delivered", "cancelled"):
            return  # an older message's late answer: logged, the delivery's state stays
        if not error:
            delivery.status, delivery.delivered_at = "delivered", utcnow()
        elif final:
            delivery.status = "failed"
            if delivery.order_id is not None:
                timeline.record(db.session.get(Order, delivery.order_id), timeline.WEBHOOK_FAILED, WORKER_ACTOR,
                                f"Webhook {delivery.event_type} to {delivery.endpoint.url} failed "
                                f"after {delivery.attempts} attempts: {error[:200]}")
        else:
            delivery.status = "retrying"


def resend(endpoint_id: int, delivery_id: int, *, actor: str) -> WebhookDelivery:
    """Staff: send a delivery again now, same event id and body (the receiver may
    drop it as seen). One that is still waiting is tried at once."""
    with write_transaction():
        delivery = _delivery(endpoint_id, delivery_id, lock=True)
        if not delivery.endpoint.active:
            raise ValidationError("This endpoint is disabled: enable it before re-sending.")
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == delivery.outbox_key))
        if message is not None and message.status in outbox.UNSENT:
            outbox.retry_now(message.id)
        else:
            delivery.resends += 1
            delivery.outbox_key = f"webhook-{delivery.event_id}-{delivery.endpoint_id}-r{delivery.resends}"
            outbox.enqueue(DELIVER_KIND, {"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id},
                           key=delivery.outbox_key, order_id=delivery.order_id)
        delivery.status = "retrying" if delivery.attempts else "pending"
        if delivery.order_id is not None:
            timeline.record(db.session.get(Order, delivery.order_id), timeline.WEBHOOK_RESENT, actor,
                            f"Webhook {delivery.event_type} re-sent to {delivery.endpoint.url}")
    return delivery


# ------------------------------------------------------------------ the deliveries log


@dataclass
class DeliveryPage:
    endpoint: WebhookEndpoint
    deliveries: list[WebhookDelivery]
    next_before: int | None


def _delivery(endpoint_id: int, delivery_id: int, *, lock: bool = False) -> WebhookDelivery:
    if not limits.is_id(delivery_id) or not limits.is_id(endpoint_id):
        raise NotFound("No such webhook delivery.")
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=lock, populate_existing=lock)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(f"Webhook endpoint {endpoint_id} has no delivery {delivery_id}.")
    return delivery


def get_delivery(endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """A delivery with its attempts, for its page."""
    return _delivery(endpoint_id, delivery_id)


def deliveries(endpoint_id: int, *, before: int | None = None, limit: int = PAGE_SIZE) -> DeliveryPage:
    """An endpoint's deliveries, newest first, a page at a time (keyset on the id)."""
    endpoint = get_endpoint(endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before is not None and limits.is_id(before):
        query = query.where(WebhookDelivery.id < before)
    rows = list(db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    return DeliveryPage(endpoint=endpoint, deliveries=rows[:limit], next_before=rows[limit - 1].id if len(rows) > limit else None)

