"""Shipments and their carrier tracking events (normalised, de-duplicated)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order


class Shipment(db.Model):
    __tablename__ = "oms_shipment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    carrier_id: Mapped[str] = mapped_column(String(64), nullable=False)
    carrier_name: Mapped[str] = mapped_column(String(100), nullable=False)
    service: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    tracking_number: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    tracking_url: Mapped[Optional[str]] = mapped_column(String(500))
    external_id: Mapped[Optional[str]] = mapped_column(String(200))
    # The idempotency key of the booking with the carrier (outbox key too): random, so
    # it is never reused by another installation or after a database reset, where a
    # carrier would answer a reused key with somebody else's old parcel.
    booking_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False,
                                             default=lambda: uuid.uuid4().hex)
    # booking: waiting for the carrier (outbox); then a normalised carrier status.
    status: Mapped[str] = mapped_column(String(32), default="unknown", index=True, nullable=False)
    booking_error: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    order: Mapped[Order] = relationship()
    events: Mapped[list["ShipmentEvent"]] = relationship(
        back_populates="shipment", order_by="ShipmentEvent.occurred_at"
    )


class ShipmentEvent(db.Model):
    """One raw carrier event, kept as sent plus its normalised status. Carriers resend
    and reorder events: (shipment, dedupe_key) is unique, the key made from the
    carrier's event id when it sends one, else from the content
    (`services.shipments.event_dedupe_key`)."""

    __tablename__ = "oms_shipment_event"
    __table_args__ = (UniqueConstraint("shipment_id", "dedupe_key", name="uq_oms_shipment_event_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("oms_shipment.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    raw_code: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    location: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[Optional[str]] = mapped_column(String(200))  # the carrier's own, if any
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    shipment: Mapped[Shipment] = relationship(back_populates="events")
