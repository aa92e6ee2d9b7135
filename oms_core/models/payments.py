"""Payments recorded against an order."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import created_at_column
from .orders import Order


class Payment(db.Model):
    __tablename__ = "oms_payment"
    __table_args__ = (
        # A gateway event is applied at most once: its id is unique per gateway.
        UniqueConstraint("gateway_id", "event_id", name="uq_oms_payment_gateway_event"),
    )

    STATUSES = ("recorded", "flagged")

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    gateway_id: Mapped[str] = mapped_column(String(64), nullable=False)
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="recorded", nullable=False)
    flag_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    external_id: Mapped[Optional[str]] = mapped_column(String(200))
    event_id: Mapped[Optional[str]] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    order: Mapped[Order] = relationship()
