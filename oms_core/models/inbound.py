"""The inbound inbox: every webhook delivery from a gateway or carrier, kept raw with
how it was verified and what came of it, and the events of it that did not match
our data yet (docs/architecture.md, invariant 3)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, utcnow


class InboundEvent(db.Model):
    """One delivery to a webhook endpoint, stored before the plugin reads it."""

    __tablename__ = "oms_inbound_event"
    __table_args__ = (Index("ix_oms_inbound_event_outcome_id", "outcome", "id"),)

    SOURCES = ("payment", "carrier")
    VERIFICATIONS = ("verified", "refused", "not_checked")
    # received: stored, not settled yet (a crash in between leaves it so, body kept).
    OUTCOMES = ("received", "applied", "duplicate", "unmatched", "refused", "error")

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    plugin_id: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The request's headers without credentials (cookies, authorization).
    headers: Mapped[dict] = mapped_column(JSON, nullable=False)
    verification: Mapped[str] = mapped_column(String(16), default="not_checked", nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), default="received", nullable=False)
    # Why it was refused, the error, or why events are unmatched.
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    events_received: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    events_applied: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    events_duplicate: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    events_unmatched: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    events_flagged: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    settled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    unmatched: Mapped[list["UnmatchedEvent"]] = relationship(
        back_populates="inbound", order_by="UnmatchedEvent.id", passive_deletes=True)


class UnmatchedEvent(db.Model):
    """An event of a verified delivery that fits no shipment or order yet (a carrier
    reports a tracking number before its booking is recorded). Kept parsed, so it is
    applied when the booking lands without asking the plugin again; deleted then."""

    __tablename__ = "oms_inbound_unmatched"
    __table_args__ = (
        # Also the index of the look-up by (source, plugin, tracking number or order).
        UniqueConstraint("source", "plugin_id", "match_key", "dedupe_key",
                         name="uq_oms_inbound_unmatched_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int] = mapped_column(
        ForeignKey("oms_inbound_event.id", ondelete="CASCADE"), index=True, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    plugin_id: Mapped[str] = mapped_column(String(64), nullable=False)
    match_key: Mapped[str] = mapped_column(String(200), nullable=False)  # tracking number / order id
    dedupe_key: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[dict] = mapped_column(JSON, nullable=False)  # the parsed event's fields
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)

    inbound: Mapped[InboundEvent] = relationship(back_populates="unmatched")
