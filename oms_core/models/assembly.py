"""Assembly and installation jobs: one per order that bought the service
(services.assembly owns the rules and the state machine)."""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Optional

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order
from .staff import StaffUser


class AssemblyJob(db.Model):
    __tablename__ = "oms_assembly_job"
    __table_args__ = (
        Index("ix_oms_assembly_job_status_id", "status", "id"),
        Index("ix_oms_assembly_job_scheduled_date", "scheduled_date"),
        CheckConstraint("sequence >= 0", name="assembly_sequence_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One job per order: created once, when the order is confirmed.
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), unique=True, nullable=False)
    # Random: the calendar event's UID and the emails' idempotency keys, unique across installations.
    key: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="to_schedule", nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)  # why it failed
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)  # staff only
    # Where: a copy of the order's shipping address, which staff may correct.
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    line1: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    line2: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    postal_code: Mapped[str] = mapped_column(String(20), default="", nullable=False)
    city: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    country: Mapped[str] = mapped_column(String(2), default="", nullable=False)
    # The customer's wishes: [{"date": "2026-12-03", "part": "morning"}, ...] and a note.
    preferred_slots: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    customer_note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # The customer asked to move the appointment; cleared when staff schedule it again.
    move_requested: Mapped[bool] = mapped_column(default=False, nullable=False)
    # The appointment, in the shop's time zone (OMS_SHOP["time_zone"]).
    scheduled_date: Mapped[Optional[date]] = mapped_column(Date)
    window_start: Mapped[Optional[time]] = mapped_column(Time)
    window_end: Mapped[Optional[time]] = mapped_column(Time)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_staff_user.id"))
    # The calendar event's SEQUENCE: raised each time the appointment moves or is cancelled.
    sequence: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    order: Mapped[Order] = relationship()
    assignee: Mapped[Optional[StaffUser]] = relationship()

    @property
    def address(self) -> dict:
        return {key: getattr(self, key) for key in ADDRESS_KEYS}


ADDRESS_KEYS = ("name", "line1", "line2", "postal_code", "city", "country")
