"""Customers, orders, order lines and the order timeline."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ._base import UTCDateTime, created_at_column, utcnow


def order_number(order_id: int) -> str:
    """The order number staff and customers quote: the id, at least six digits."""
    return f"{order_id:06d}"


class Customer(db.Model):
    __tablename__ = "oms_customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True, unique=True, nullable=False)  # lower-case
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    phone: Mapped[str] = mapped_column(String(50), default="", nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class Order(db.Model):
    __tablename__ = "oms_order"
    __table_args__ = (
        Index("ix_oms_order_status_id", "status", "id"),
        Index("ix_oms_order_customer_id_id", "customer_id", "id"),
        # An order from another channel comes in once (services/csv_import.py).
        UniqueConstraint("channel", "external_id", name="uq_oms_order_channel_external_id"),
        Index("ix_oms_order_payment_due_at", "payment_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(32), default="placed", nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("oms_customer.id"), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), default="web", nullable=False)
    # The order's id in the channel it came from (a marketplace's order number), for
    # imported orders; None for orders placed here.
    external_id: Mapped[Optional[str]] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    shipping_minor: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    # Written only by services.payments.refresh_paid, from the payments and refunds:
    # money taken, and money given back or on its way back (refunds not failed); what
    # an order edit gave back (paid beyond its new total) counts in neither.
    paid_minor: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    payment_method: Mapped[str] = mapped_column(String(64), nullable=False)
    payment_status: Mapped[str] = mapped_column(String(20), default="unpaid", nullable=False)
    # Copied from the gateway at placement: cash on delivery may ship before it is paid.
    pays_on_delivery: Mapped[bool] = mapped_column(default=False, nullable=False)
    # The name and phone typed for this order. The Customer row (one per email) keeps
    # the first ones it was created with: anyone may type anyone's email at checkout.
    customer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_phone: Mapped[str] = mapped_column(String(50), default="", nullable=False)
    # The customer's language (oms_core/i18n.py): their emails and documents. Set when
    # placed; '' (orders from before languages) reads as the shop's locale.
    locale: Mapped[str] = mapped_column(String(16), default="", server_default="", nullable=False)
    tracking_code: Mapped[Optional[str]] = mapped_column(String(20), unique=True)
    ship_name: Mapped[str] = mapped_column(String(200), nullable=False)
    ship_line1: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    ship_line2: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    ship_postal_code: Mapped[str] = mapped_column(String(20), default="", nullable=False)
    ship_city: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    ship_country: Mapped[str] = mapped_column(String(2), default="", nullable=False)
    # Where the invoice goes; a copy of the shipping address unless another was given.
    bill_name: Mapped[str] = mapped_column(String(200), default="", server_default="", nullable=False)
    bill_line1: Mapped[str] = mapped_column(String(200), default="", server_default="", nullable=False)
    bill_line2: Mapped[str] = mapped_column(String(200), default="", server_default="", nullable=False)
    bill_postal_code: Mapped[str] = mapped_column(String(20), default="", server_default="", nullable=False)
    bill_city: Mapped[str] = mapped_column(String(100), default="", server_default="", nullable=False)
    bill_country: Mapped[str] = mapped_column(String(2), default="", server_default="", nullable=False)
    # Taxes as computed when the order was placed (oms_core/taxes.py): whether the
    # prices typed included tax, the tax in the total, and shipping's rate and tax.
    prices_include_tax: Mapped[bool] = mapped_column(default=True, server_default=true(), nullable=False)
    tax_minor: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    shipping_tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    shipping_tax_minor: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # Raised by every edit (services.order_edits): an edit made from an older version
    # is refused, so two staff editing at once never overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # Unpaid by then, it expires (services/unpaid.py); stored when placed, so a change
    # of OMS_PAYMENT_DEADLINES does not move it. None: it never expires.
    payment_due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    payment_reminded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
    status_changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False
    )

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["TimelineEvent"]] = relationship(
        back_populates="order", order_by="TimelineEvent.id", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        return order_number(self.id)

    @property
    def balance_minor(self) -> int:
        return self.total_minor - self.paid_minor

    @property
    def goods_lines(self) -> list["OrderLine"]:
        """The lines that hold stock and go in parcels (not service lines)."""
        return [line for line in self.lines if not line.service]

    @property
    def kept_minor(self) -> int:
        """Money taken and not given back."""
        return self.paid_minor - self.refunded_minor

    @property
    def billing_address(self) -> dict:
        """The invoice's address: name and ADDRESS_FIELDS keys (services.orders)."""
        return {key: getattr(self, f"bill_{key}") for key in BILLING_KEYS}

    @property
    def shipping_address(self) -> dict:
        return {key: getattr(self, f"ship_{key}") for key in BILLING_KEYS}


BILLING_KEYS = ("name", "line1", "line2", "postal_code", "city", "country")


def _untaxed_amount(context) -> int:
    """A line inserted without its tax split (bulk inserts of demo and benchmark
    data) is untaxed: net = gross = unit price x quantity."""
    row = context.get_current_parameters()
    return row["unit_price_minor"] * row["quantity"]


class OrderLine(db.Model):
    __tablename__ = "oms_order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("oms_product.id"), index=True, nullable=False)
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    unit_price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # Taxes at placing time (oms_core/taxes.py): the rate and the line's net, tax and
    # gross; gross is what the customer pays for the line.
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    net_minor: Mapped[int] = mapped_column(Integer, default=_untaxed_amount, nullable=False)
    tax_minor: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    gross_minor: Mapped[int] = mapped_column(Integer, default=_untaxed_amount, nullable=False)
    # "" for goods; a service's name (services.assembly.SERVICE) for a service line
    # bought with the product `product_id`: it reserves no stock and is never packed.
    service: Mapped[str] = mapped_column(String(20), default="", server_default="", nullable=False)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def total_minor(self) -> int:
        return self.gross_minor


class TimelineEvent(db.Model):
    """Audit trail of an order: who did what, when and why. `public` events show on
    the tracking page (never with personal data)."""

    __tablename__ = "oms_timeline_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("oms_order.id"), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[Optional[str]] = mapped_column(String(32))
    to_status: Mapped[Optional[str]] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    public: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    # When it happened, if not when it was recorded: a carrier's event time. The
    # public timeline is ordered by it, so an event that arrives late sits in place.
    occurred_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="events")
