"""Back-office users. The flask-login user protocol is spelled out here so that the
core does not import the web layer's libraries."""
from __future__ import annotations

from datetime import datetime

from typing import Optional

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ._base import UTCDateTime, created_at_column

ROLES = ("owner", "staff")
# How a staff member hears of alerts (services/alerts.py).
ALERT_DELIVERIES = ("immediate", "digest", "none")


class StaffUser(db.Model):
    __tablename__ = "oms_staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(300), nullable=False)
    role: Mapped[str] = mapped_column(String(20), default="staff", nullable=False)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)
    # Part of the id kept in the session cookie: raising it (log-out, deactivation, a
    # new password) ends every session of the user, copies of the cookie included.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)
    alert_delivery: Mapped[str] = mapped_column(String(10), default="digest", server_default="digest",
                                                nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    # flask-login's user protocol
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What flask-login keeps in the session: '<id>:<session version>'
        (services.users.session_user reads it back)."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def actor(self) -> str:
        """How this user appears in timelines and the stock ledger."""
        return f"staff:{self.email}"


class StaffToken(db.Model):
    """A single-use link emailed to someone: an invitation to join the back-office
    (`invite`, for an email with no user yet) or a password reset (`reset`, for a
    user). The link carries this row's id signed with the app's SECRET_KEY
    (services/staff.py); the row says whether it is still good: unused, not expired,
    and (a reset) not overtaken by a new password."""

    __tablename__ = "oms_staff_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10), nullable=False)  # invite | reset
    email: Mapped[str] = mapped_column(String(254), index=True, nullable=False)
    role: Mapped[str] = mapped_column(String(20), default="staff", nullable=False)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_staff_user.id"), index=True)
    # The outbox idempotency key of its email: random, unique across installations.
    key: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class StaffAuditEvent(db.Model):
    """The staff audit trail: who invited, changed, disabled or reset whom, and when."""

    __tablename__ = "oms_staff_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(254), index=True, nullable=False)  # the email concerned
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
