"""Payments, their refunds and the gateway events applied to them.

A payment is one gateway object (a card PaymentIntent, a bank transfer staff
recorded) with its own state (protocols.PAYMENT_STATES, the machine in
services/payments.py). It counts towards the order only while it is not flagged
and its money is taken (services.payments.COUNTED).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order


def random_key() -> str:
    """An idempotency key unique across installations and database resets: a gateway
    answers a reused key with somebody else's old payment."""
    return uuid.uuid4().hex


class Payment(db.Model):
    __tablename__ = "oms_payment"
    __table_args__ = (Index("ix_oms_payment_gateway_external", "gateway_id", "external_id"),)

    STATUSES = ("recorded", "flagged")  # counted when its money is taken, or kept for a human

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    gateway_id: Mapped[str] = mapped_column(String(64), nullable=False)
    state: Mapped[str] = mapped_column(String(20), default="captured", nullable=False)
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)  # authorized or captured
    amount_refunded_minor: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="recorded", nullable=False)
    flag_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    external_id: Mapped[Optional[str]] = mapped_column(String(200))  # the gateway's payment object
    checkout_id: Mapped[Optional[str]] = mapped_column(String(200), index=True)  # what started it
    capture_mode: Mapped[str] = mapped_column(String(10), default="now", nullable=False)
    # Random: the idempotency key of starting it, and the stem of its capture and void keys.
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False, default=random_key)
    redirect_url: Mapped[Optional[str]] = mapped_column(String(2000))  # a started payment's hosted page
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # What staff must look at: a capture or void the gateway refused, a late payment refunded.
    attention: Mapped[str] = mapped_column(Text, default="", nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    order: Mapped[Order] = relationship()
    refunds: Mapped[list["Refund"]] = relationship(back_populates="payment", order_by="Refund.id")


class PaymentEvent(db.Model):
    """A gateway event applied: at most once per gateway and event id, however many
    events one payment receives."""

    __tablename__ = "oms_payment_event"
    __table_args__ = (UniqueConstraint("gateway_id", "event_id", name="uq_oms_payment_event_gateway_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    payment_id: Mapped[int] = mapped_column(ForeignKey("oms_payment.id"), index=True, nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class Refund(db.Model):
    """Money given back from one payment: by amount, or for lines ({line id: quantity})."""

    __tablename__ = "oms_refund"

    STATES = ("pending", "succeeded", "failed")

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("oms_payment.id"), index=True, nullable=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    lines: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    state: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    external_id: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False, default=random_key)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # Whether its success issues a credit note. Not for the difference an order edit
    # gives back: the edit credits the whole invoice itself (services.order_edits).
    credit_note: Mapped[bool] = mapped_column(default=True, server_default=true(), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    payment: Mapped[Payment] = relationship(back_populates="refunds")
