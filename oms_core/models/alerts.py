"""Staff alerts: what someone must act on, raised once per kind and subject, and the
daily digests that listed them (services/alerts.py)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ._base import UTCDateTime, created_at_column
from .payments import random_key


class Alert(db.Model):
    __tablename__ = "oms_alert"
    __table_args__ = (UniqueConstraint("kind", "subject", name="uq_oms_alert_kind_subject"),
                      Index("ix_oms_alert_resolved_at_id", "resolved_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    # What it is about ("payment:12", "shipment:3:exception"): an alert per kind and subject, once.
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    url: Mapped[str] = mapped_column(String(500), nullable=False)  # the page that resolves it
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_order.id"), index=True)
    # Random: the stem of its emails' idempotency keys, unique across installations.
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False, default=random_key)
    created_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str] = mapped_column(String(200), default="", nullable=False)


class AlertDigest(db.Model):
    """One staff member's digest of one shop day: at most one (the unique constraint),
    listing the alerts with ids above the previous digest's `last_alert_id`."""

    __tablename__ = "oms_alert_digest"
    __table_args__ = (UniqueConstraint("staff_user_id", "day", name="uq_oms_alert_digest_user_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("oms_staff_user.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    first_alert_id: Mapped[int] = mapped_column(Integer, nullable=False)  # exclusive
    last_alert_id: Mapped[int] = mapped_column(Integer, nullable=False)  # inclusive
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False, default=random_key)
    created_at: Mapped[datetime] = created_at_column()
