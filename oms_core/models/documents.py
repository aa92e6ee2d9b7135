"""Issued documents (invoices, receipts, credit notes, packing slips) and the
counters that number them (docs/architecture.md, invariant 4).

A document is immutable once issued: its number and data snapshot are written in
the transaction that issues it, its PDF bytes and their sha256 once, right after
(services.documents), and never again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column
from .orders import Order


class DocumentCounter(db.Model):
    """The last number issued in a series and year. Locked (FOR UPDATE) and raised in
    the issuing transaction: a rolled-back issue gives its number back, so numbers
    run without gaps, which a database sequence does not promise."""

    __tablename__ = "oms_document_counter"

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, nullable=False)


class Document(db.Model):
    __tablename__ = "oms_document"
    __table_args__ = (
        # One invoice per order, one receipt per payment, one credit note per refund,
        # one packing slip per shipment.
        UniqueConstraint("kind", "source_kind", "source_id", name="uq_oms_document_source"),
        UniqueConstraint("series", "year", "sequence", name="uq_oms_document_series_year_sequence"),
        Index("ix_oms_document_order_id_id", "order_id", "id"),
    )

    KINDS = ("invoice", "receipt", "credit_note", "packing_slip")

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    series: Mapped[str] = mapped_column(String(20), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # What it documents: ("order", order id), ("payment", id), ("refund", id), ("shipment", id).
    source_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    source_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # Everything printed on it, as it was when issued (seller, customer, lines, totals).
    data: Mapped[dict] = deferred(mapped_column(JSON, nullable=False))
    pdf: Mapped[Optional[bytes]] = deferred(mapped_column(LargeBinary))
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    size: Mapped[Optional[int]] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    order: Mapped[Order] = relationship()

    @property
    def rendered(self) -> bool:
        return self.sha256 is not None
