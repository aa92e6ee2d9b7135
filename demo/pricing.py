"""The shop's side of the catalogue: what is on sale and what a cart costs.

Product rows are the OMS's; prices and names are read from them, stock from the
OMS's storefront service. Shipping is this shop's own rule.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from oms_core.db import db, read_connection
from oms_core.models import Product

FREE_SHIPPING_FROM = 5000  # cents
SHIPPING_MINOR = 495
CURRENCY = "EUR"


def products_on_sale() -> list[Product]:
    return list(db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.sku)))


def product_name(sku: str) -> str | None:
    with read_connection() as connection:
        return connection.scalar(select(Product.name).where(Product.sku == sku, Product.active.is_(True)))


def shipping_for(subtotal_minor: int) -> int:
    return 0 if subtotal_minor >= FREE_SHIPPING_FROM else SHIPPING_MINOR


@dataclass(frozen=True)
class CartLine:
    sku: str
    name: str
    unit_price_minor: int
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True)
class CartView:
    lines: tuple[CartLine, ...]
    currency: str = CURRENCY

    @property
    def subtotal_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def shipping_minor(self) -> int:
        return shipping_for(self.subtotal_minor) if self.lines else 0

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.shipping_minor


def cart_view(quantities: dict[str, int]) -> CartView:
    """Price a cart ({sku: quantity}); SKUs no longer on sale drop out."""
    if not quantities:
        return CartView(lines=())
    with read_connection() as connection:  # no transaction of the request's own
        rows = connection.execute(
            select(Product.sku, Product.name, Product.price_minor)
            .where(Product.sku.in_(list(quantities)), Product.active.is_(True)).order_by(Product.name)
        ).all()
    return CartView(lines=tuple(CartLine(sku, name, price, quantities[sku]) for sku, name, price in rows))
