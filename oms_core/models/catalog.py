"""Products and the stock ledger.

on_hand and reserved are kept on the product row so that a reservation is one
conditional UPDATE; every change to either is also a StockMove row, and the ledger's
sums equal the product's counters (checked by tests and `flask oms check-stock`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ..limits import MAX_STOCK
from ._base import created_at_column


class Product(db.Model):
    __tablename__ = "oms_product"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint(f"on_hand <= {MAX_STOCK}", name="on_hand_within_bound"),
        # SQLite stores whatever it is given (an overflowing sum becomes a REAL);
        # PostgreSQL's INTEGER needs no such guard.
        CheckConstraint("typeof(on_hand) = 'integer' AND typeof(reserved) = 'integer'",
                        name="stock_whole_numbers").ddl_if(dialect="sqlite"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("tax_rate_bp >= 0 AND tax_rate_bp <= 10000", name="tax_rate_in_range"),
        CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),
        CheckConstraint("service_level > 0 AND service_level < 1", name="service_level_a_probability"),
        CheckConstraint("assembly IN ('none', 'offered', 'required')", name="assembly_choice"),
        CheckConstraint("assembly_price_minor >= 0", name="assembly_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    on_hand: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    reserved: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=3, nullable=False)
    active: Mapped[bool] = mapped_column(default=True, nullable=False)
    # Tax: a rate of its own in basis points (2100 = 21%), else its class's rate in the
    # order's country (OMS_TAX_CLASSES; oms_core/taxes.py).
    tax_rate_bp: Mapped[Optional[int]] = mapped_column(Integer)
    tax_class: Mapped[str] = mapped_column(String(32), default="standard", server_default="standard",
                                           nullable=False)
    # Replenishment: days from ordering to receiving, and the chance of not running out
    # while waiting; None means the shop's defaults (REPLENISH_* settings).
    lead_time_days: Mapped[Optional[int]] = mapped_column(Integer)
    service_level: Mapped[Optional[float]] = mapped_column(Float)
    # Shipping: the weight of one unit (parcels' weights) and, for customs outside the
    # customs union, its HS code and country of origin.
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    hs_code: Mapped[str] = mapped_column(String(20), default="", server_default="", nullable=False)
    origin_country: Mapped[str] = mapped_column(String(2), default="", server_default="", nullable=False)
    # Assembly or installation (services.assembly): none, offered (the customer may
    # add it) or required (always added), at this price per unit, taxed like the product.
    assembly: Mapped[str] = mapped_column(String(10), default="none", server_default="none", nullable=False)
    assembly_price_minor: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # A category of the shop's own choosing; returns: OMS_RETURN_WINDOW_DAYS_BY_CATEGORY.
    category: Mapped[str] = mapped_column(String(64), default="", server_default="", nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    @property
    def available(self) -> int:
        """Stock that can still be sold: on hand minus what confirmed orders hold."""
        return self.on_hand - self.reserved

    @property
    def is_low(self) -> bool:
        return self.available <= self.low_stock_threshold


class StockMove(db.Model):
    """One row per change of stock: the ledger."""

    __tablename__ = "oms_stock_move"
    __table_args__ = (Index("ix_oms_stock_move_product_id_id", "product_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("oms_product.id"), nullable=False)
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("oms_order.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()

    product: Mapped[Product] = relationship()
    order: Mapped[Optional["Order"]] = relationship()  # noqa: F821 (models.orders)
