"""The shopping cart, kept in the signed session cookie as {sku: quantity}."""
from __future__ import annotations

from flask import session

KEY = "cart"
MAX_PER_LINE = 20
MAX_LINES = 30


def quantities() -> dict[str, int]:
    raw = session.get(KEY) or {}
    return {str(sku): int(q) for sku, q in raw.items() if isinstance(q, int) and q > 0}


def count() -> int:
    return sum(quantities().values())


def set_quantity(sku: str, quantity: int) -> int:
    """Set one line (0 removes it); returns the quantity kept."""
    cart = quantities()
    quantity = max(0, min(int(quantity), MAX_PER_LINE))
    if quantity == 0:
        cart.pop(sku, None)
    elif sku in cart or len(cart) < MAX_LINES:
        cart[sku] = quantity
    session[KEY] = cart
    return cart.get(sku, 0)


def clear() -> None:
    session.pop(KEY, None)


def parse_quantity(text, default: int = 1) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default
