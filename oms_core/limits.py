"""The bounds of every number the OMS accepts, in one place.

Services check them (the Python API and the CLI never pass through a form) and the
web forms parse to them, so a number out of range is a clear ValidationError before
it reaches the database: SQLite would store an overflowing sum as a REAL, PostgreSQL
would refuse it with an error no one can read.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .errors import ValidationError

# Primary keys are INTEGER columns: 32 bits on PostgreSQL. Also the bound of a cursor
# (`?before=` an order id).
MAX_ID = 2**31 - 1
# Units of one product on hand (so also reserved, or moved by one ledger row). With
# both terms of `on_hand + change` at most this, the sum fits PostgreSQL's INTEGER.
MAX_STOCK = 1_000_000_000
# Units of one product on one order.
MAX_ORDER_QUANTITY = 1000
# A product unit's weight in grams (a tonne: beyond any parcel carrier).
MAX_WEIGHT_GRAMS = 1_000_000
# Orders one bulk action on the orders list handles at once (services/bulk.py).
MAX_BULK_ORDERS = 100
# Outbound webhook endpoints a shop may register (services/outbound_webhooks.py).
MAX_WEBHOOK_ENDPOINTS = 20
# Any amount of money in minor units: a price, shipping, an order's total, a payment.
# What an INTEGER column holds on PostgreSQL (21,474,836.47 in a currency with cents).
MAX_AMOUNT_MINOR = 2**31 - 1
# Times a carrier or staff member may give for a tracking event: nothing before this.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=timezone.utc)

# A whole number as people type it, in ASCII digits only: str.isdigit() and int()
# also take "²", "①" or "٣", and int() refuses more than 4,300 digits with an error
# of its own. Twelve digits are more than any bound above.
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")


def check_whole(value, label: str, *, minimum: int = 0, maximum: int) -> int:
    """`value` itself if it is an int within [minimum, maximum], else ValidationError.
    A bool or a float is refused, not rounded: True is an int to Python."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{label} must be a whole number.")
    if value < minimum:
        raise ValidationError(f"{label} must be at least {minimum:,}.")
    if value > maximum:
        # The value itself is not echoed: it may have thousands of digits.
        raise ValidationError(f"{label} must be at most {maximum:,}.")
    return value


def is_id(value) -> bool:
    """Whether `value` can be the id of a row: a lookup by anything else finds nothing
    (and must not reach SQLite, which cannot even bind an int above 2**63)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def parse_id(text: str | None) -> int | None:
    """An id typed in a URL or a query string ('#123' allowed); None when it is not one."""
    raw = (text or "").strip().removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,10}", raw):
        return None
    value = int(raw)
    return value if is_id(value) else None
