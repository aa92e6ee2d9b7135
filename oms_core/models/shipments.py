"""Shipments and their carrier tracking events (normalised, de-duplicated)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order, OrderLine


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
    # The parcel as booked: packaging preset and ship-from address codes (shop config,
    # oms_core/shipping_config.py), weight (units plus packaging), options, the rate picked.
    packaging: Mapped[str] = mapped_column(String(32), default="", server_default="", nullable=False)
    ship_from: Mapped[str] = mapped_column(String(32), default="", server_default="", nullable=False)
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    signature: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)
    insurance_minor: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    rate_id: Mapped[Optional[str]] = mapped_column(String(200))
    # The label the carrier sold, served as stored.
    label_data: Mapped[Optional[bytes]] = mapped_column(LargeBinary, deferred=True)
    label_format: Mapped[str] = mapped_column(String(8), default="", server_default="", nullable=False)
    label_cost_minor: Mapped[Optional[int]] = mapped_column(Integer)
    label_currency: Mapped[str] = mapped_column(String(3), default="", server_default="", nullable=False)
    polled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())  # last tracking poll
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    order: Mapped[Order] = relationship()
    events: Mapped[list["ShipmentEvent"]] = relationship(
        back_populates="shipment", order_by="ShipmentEvent.occurred_at"
    )
    lines: Mapped[list["ShipmentLine"]] = relationship(
        back_populates="shipment", order_by="ShipmentLine.id", cascade="all, delete-orphan"
    )


class ShipmentLine(db.Model):
    """Units of one order line packed in a parcel. Never more, over the order's
    non-cancelled parcels, than the line's quantity (services.shipments)."""

    __tablename__ = "oms_shipment_line"
    __table_args__ = (UniqueConstraint("shipment_id", "order_line_id", name="uq_oms_shipment_line"),
                      CheckConstraint("quantity > 0", name="shipment_line_quantity_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("oms_shipment.id"), nullable=False)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("oms_order_line.id"), index=True, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)

    shipment: Mapped[Shipment] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()


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
