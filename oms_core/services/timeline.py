"""The order timeline: every status change, payment, shipment and note."""
from __future__ import annotations

from ..db import db
from ..models import Order, TimelineEvent


def record(order: Order, kind: str, actor: str, message: str = "", *, public: bool = False,
           from_status: str | None = None, to_status: str | None = None) -> TimelineEvent:
    event = TimelineEvent(order=order, kind=kind, actor=actor, message=message, public=public,
                          from_status=from_status, to_status=to_status)
    db.session.add(event)
    return event


def public_events(order_id: int) -> list[TimelineEvent]:
    """Events the tracking-code holder may see, oldest first."""
    return list(db.session.scalars(
        db.select(TimelineEvent)
        .where(TimelineEvent.order_id == order_id, TimelineEvent.public.is_(True))
        .order_by(TimelineEvent.id)
    ))
