"""The order timeline: every status change, payment, shipment and note."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func

from ..db import db
from ..models import Order, TimelineEvent


def record(order: Order, kind: str, actor: str, message: str = "", *, public: bool = False,
           from_status: str | None = None, to_status: str | None = None,
           occurred_at: datetime | None = None) -> TimelineEvent:
    """`occurred_at`: when it happened, if not now (a carrier's event time)."""
    event = TimelineEvent(order=order, kind=kind, actor=actor, message=message, public=public,
                          from_status=from_status, to_status=to_status, occurred_at=occurred_at)
    db.session.add(event)
    return event


def happened_at():
    """When an event happened: a carrier's time for tracking events, else when recorded."""
    return func.coalesce(TimelineEvent.occurred_at, TimelineEvent.created_at)


def public_events(order_id: int) -> list[TimelineEvent]:
    """Events the tracking-code holder may see, oldest first by when they happened."""
    return list(db.session.scalars(
        db.select(TimelineEvent)
        .where(TimelineEvent.order_id == order_id, TimelineEvent.public.is_(True))
        .order_by(happened_at(), TimelineEvent.id)
    ))
