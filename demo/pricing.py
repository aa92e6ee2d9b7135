"""What a cart costs in this shop: products, prices and names are the OMS's (its
catalog service); shipping is this shop's own rule."""
from __future__ import annotations

from dataclasses import dataclass

from oms_core.services import catalog

FREE_SHIPPING_FROM = 5000  # cents
SHIPPING_MINOR = 495
CURRENCY = "EUR"


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
    items = catalog.items_on_sale(quantities)
    return CartView(lines=tuple(CartLine(item.sku, item.name, item.price_minor, quantities[item.sku])
                                for item in items))
