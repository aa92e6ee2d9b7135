"""Outbound webhooks: the shop's endpoints (URL, events, signing secret), one
delivery per event and endpoint (its body fixed when the event happened), and a log
row per attempt to send it (docs/architecture.md, "Outbound webhooks")."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow


class WebhookEndpoint(db.Model):
    __tablename__ = "oms_webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    description: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    # The event types it receives (services.outbound_webhooks.EVENTS).
    events: Mapped[list] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # The HMAC key deliveries are signed with: the receiver holds a copy, so it is
    # kept readable (for the owner only), not hashed.
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class WebhookDelivery(db.Model):
    """One event for one endpoint. Its status: pending (queued, not tried yet) ->
    delivered (a 2xx answer), or retrying -> delivered / failed (the outbox gave up);
    cancelled when its endpoint is disabled before it went out. A re-send by staff
    puts a delivered or failed one back to pending with a new outbox message."""

    __tablename__ = "oms_webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_oms_webhook_delivery_event"),
        Index("ix_oms_webhook_delivery_endpoint_id_id", "endpoint_id", "id"),
    )

    STATUSES = ("pending", "retrying", "delivered", "failed", "cancelled")

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("oms_webhook_endpoint.id"), nullable=False)
    # The event's random id: the same for every endpoint, sent as OMS-Event-Id so a
    # receiver recognises a delivery it has seen (retries and re-sends).
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_order.id"), index=True)
    # The JSON body exactly as sent (every attempt sends the same bytes).
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    resends: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # The outbox message now standing for it (a re-send gets a new one).
    outbox_key: Mapped[str] = mapped_column(String(200), nullable=False)
    last_status_code: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    endpoint: Mapped[WebhookEndpoint] = relationship()
    log: Mapped[list["WebhookAttempt"]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.id", passive_deletes=True)


class WebhookAttempt(db.Model):
    """One try to send a delivery: the answer's status code (None: no answer), the
    first characters of its body, how long it took, or the error."""

    __tablename__ = "oms_webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("oms_webhook_delivery.id"), index=True, nullable=False)
    attempted_at: Mapped[datetime] = created_at_column()
    status_code: Mapped[Optional[int]] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    response_excerpt: Mapped[str] = mapped_column(Text, default="", nullable=False)
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="log")
