"""Uploaded images, and complaints: a support thread per complaint on an order
(docs/architecture.md, "Complaints and uploads")."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow
from .orders import Order


def new_token() -> str:
    """128 random bits, hex: the only name an upload is served by."""
    return secrets.token_hex(16)


class Upload(db.Model):
    """An image a customer or staff member sent, as re-encoded by services.uploads
    (never the bytes they sent). It belongs to one order: served only to staff and
    to a visitor who proved that order."""

    __tablename__ = "oms_upload"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="upload_size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True, nullable=False, default=new_token)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    filename: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class Complaint(db.Model):
    """One complaint on an order and its status (services.complaints.TRANSITIONS)."""

    __tablename__ = "oms_complaint"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(32), index=True, nullable=False)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_staff_user.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    # Since when the status says someone must answer (waiting on us / on the customer).
    waiting_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship()
    assignee = relationship("StaffUser")
    messages: Mapped[list["ComplaintMessage"]] = relationship(
        back_populates="complaint", order_by="ComplaintMessage.id")


class ComplaintMessage(db.Model):
    """A message in a complaint's thread: the customer's, a staff reply, or a staff
    internal note (never shown or sent to the customer)."""

    __tablename__ = "oms_complaint_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("oms_complaint.id"), index=True, nullable=False)
    author_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # customer | staff | internal
    staff_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_staff_user.id"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    complaint: Mapped[Complaint] = relationship(back_populates="messages")
    staff_user = relationship("StaffUser")
    attachments: Mapped[list[Upload]] = relationship(secondary="oms_complaint_attachment",
                                                     order_by=Upload.id)


class ComplaintAttachment(db.Model):
    """Which uploads a message carries (uploads stay generic: returns link their own)."""

    __tablename__ = "oms_complaint_attachment"

    message_id: Mapped[int] = mapped_column(ForeignKey("oms_complaint_message.id"), primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("oms_upload.id"), primary_key=True, unique=True)
