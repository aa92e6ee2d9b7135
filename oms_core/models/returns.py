"""Returns and exchanges: some units of an order's lines coming back
(docs/architecture.md, "Returns"). Several per order; each has its own state
machine (oms_core/return_states.py)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import (CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order, OrderLine


class ReturnRequest(db.Model):
    __tablename__ = "oms_return"
    __table_args__ = (Index("ix_oms_return_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    state: Mapped[str] = mapped_column(String(20), default="requested", nullable=False)
    # Why (a code of OMS_RETURN_REASONS) and in the customer's words.
    reason_code: Mapped[str] = mapped_column(String(32), nullable=False)
    reason_text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), default="refund", nullable=False)  # refund | exchange
    staff_note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    rejection_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # Random: the outbox keys of its emails and its label purchase, unique across
    # installations and database resets.
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False,
                                     default=lambda: uuid.uuid4().hex)
    # The return label the carrier sold (when the shop pays returns), served as stored.
    label_data: Mapped[Optional[bytes]] = mapped_column(LargeBinary, deferred=True)
    label_format: Mapped[str] = mapped_column(String(8), default="", nullable=False)
    label_tracking_number: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    label_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # The replacement order of an exchange.
    exchange_order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_order.id"))
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    order: Mapped[Order] = relationship(foreign_keys=[order_id])
    exchange_order: Mapped[Optional[Order]] = relationship(foreign_keys=[exchange_order_id])
    lines: Mapped[list["ReturnLine"]] = relationship(
        back_populates="return_request", order_by="ReturnLine.id", cascade="all, delete-orphan")


class ReturnLine(db.Model):
    """Units of one order line in a return: asked for, then received and what
    became of them (restocked, or written off with a reason: no ledger row)."""

    __tablename__ = "oms_return_line"
    __table_args__ = (
        UniqueConstraint("return_id", "order_line_id", name="uq_oms_return_line"),
        CheckConstraint("quantity > 0", name="return_line_quantity_positive"),
        CheckConstraint("received_quantity >= 0 AND received_quantity <= quantity",
                        name="return_line_received_within_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("oms_return.id"), index=True, nullable=False)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("oms_order_line.id"), index=True, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    received_quantity: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    condition: Mapped[str] = mapped_column(String(16), default="", nullable=False)  # "" | restock | write_off
    write_off_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)

    return_request: Mapped[ReturnRequest] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()
