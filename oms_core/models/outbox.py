"""The outbox: side effects that leave the system, written in the same transaction
as the state change that causes them and sent later by the worker."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow


class OutboxMessage(db.Model):
    __tablename__ = "oms_outbox"
    __table_args__ = (Index("ix_oms_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    STATUSES = ("pending", "sent", "dead", "cancelled")  # cancelled: withdrawn by staff

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    # Sent along to the gateway / carrier / mail server so a retry is recognised.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_order.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
