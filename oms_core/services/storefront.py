"""What a host shop's own pages need from the OMS: live stock per SKU and the
payment methods a checkout may offer. Read-only; placing an order is
`orders.place_order` (the web layer's `place_checkout_order` wraps it)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from .. import runtime
from ..db import read_connection
from ..i18n import N_
from ..models import Product
from ..plugins import GATEWAY

IN_STOCK, LOW, OUT, UNAVAILABLE = "in_stock", "low", "out_of_stock", "unavailable"
_BADGE_TEXTS = {IN_STOCK: N_("In stock"), LOW: N_("%(count)s left"), OUT: N_("Out of stock"),
                UNAVAILABLE: N_("Unavailable")}


@dataclass(frozen=True)
class StockBadge:
    sku: str
    state: str  # IN_STOCK, LOW, OUT or UNAVAILABLE
    available: int
    name: str = ""  # the product's, for a shop's messages; empty when unavailable

    @property
    def message(self) -> str:
        """The label's catalog text (customer pages translate it), %(count)s for the number."""
        return _BADGE_TEXTS.get(self.state, _BADGE_TEXTS[UNAVAILABLE])

    @property
    def label(self) -> str:
        return self.message % {"count": self.available}

    @property
    def shown_available(self) -> int | None:
        """The count a shopper may be told, as the badge tells it: exact only at or
        below the low-stock threshold (or none left); None above it. Asking for
        100,000 units must not reveal a shop's stock."""
        return self.available if self.state in (LOW, OUT) else None

    def shortfall(self) -> str:
        """What to tell a shopper who asks for more of the product than can be sold."""
        if self.shown_available is None:
            return f"Sorry, we do not have that many of {self.name} in stock."
        if self.shown_available == 0:
            return f"Sorry, {self.name} is out of stock."
        return f"Sorry, only {self.shown_available} of {self.name} left."


# Built once: polled by every product page and read by every add-to-cart, which
# also needs the name (one statement, not two: docs/architecture.md, Performance).
_BADGE = (select(Product.on_hand - Product.reserved, Product.low_stock_threshold, Product.name)
          .where(Product.sku == bindparam("sku"), Product.active.is_(True)))


def stock_badge(sku: str) -> StockBadge:
    """Stock as a shopper should see it: "3 left" once at or below the product's
    low-stock threshold; unknown or inactive SKUs are unavailable."""
    if "\x00" in sku:  # no SKU has one, and PostgreSQL refuses to compare it
        return StockBadge(sku, UNAVAILABLE, 0)
    with read_connection() as connection:  # polled by every product page: keep it light
        row = connection.execute(_BADGE, {"sku": sku}).first()
    if row is None:
        return StockBadge(sku, UNAVAILABLE, 0)
    available = max(row[0], 0)
    return StockBadge(sku, stock_state(available, row[1]), available, row[2])


def stock_state(available: int, low_stock_threshold: int) -> str:
    """IN_STOCK, LOW (at or below the threshold) or OUT, for staff and shoppers alike."""
    if available <= 0:
        return OUT
    return LOW if available <= low_stock_threshold else IN_STOCK


def payment_methods() -> list[tuple[str, str]]:
    """(id, label) of the payment gateways a checkout may offer: installed and
    configured (one missing its settings cannot be chosen)."""
    return sorted(((g.id, g.label) for g in runtime.registry().usable(GATEWAY)), key=lambda item: item[1])
