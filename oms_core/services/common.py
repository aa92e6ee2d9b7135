"""Small helpers shared by the service modules."""
from __future__ import annotations

import re

from .. import limits
from ..db import db
from ..errors import NotFound, ValidationError
from ..models import Order

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def fetch(model, row_id: int, what: str, **options):
    """The `model` row with this id, or NotFound ("No order 12."); `options` go to Session.get."""
    if not limits.is_id(row_id):
        raise NotFound(f"No such {what}.")  # not formatted: it may have thousands of digits
    row = db.session.get(model, row_id, **options)
    if row is None:
        raise NotFound(f"No {what} {row_id}.")
    return row


def lock_order(order_id: int) -> Order:
    """Load an order for change inside a write transaction: a row lock on PostgreSQL
    (SQLite's BEGIN IMMEDIATE already serialises writers) and fresh column values."""
    return fetch(Order, order_id, "order", with_for_update=True, populate_existing=True)


def fetch_with_order_locked(model, row_id: int, what: str):
    """A row that belongs to an order (a payment, a refund), its order locked first
    (the order's lock serialises every change to its money), then read fresh."""
    row = fetch(model, row_id, what)
    lock_order(row.order_id)
    db.session.refresh(row)
    return row


def clean_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 254 or "\x00" in value:
        raise ValidationError(f"'{email}' is not an email address.")
    return value


def _no_nul(text: str, label: str) -> str:
    # PostgreSQL refuses NUL in text, with an error no user can read; no one types one.
    if "\x00" in text:
        raise ValidationError(f"{label} cannot contain a NUL character.")
    return text


def required_text(value: str, label: str, max_length: int = 200) -> str:
    text = _no_nul((value or "").strip(), label)
    if not text:
        raise ValidationError(f"{label} is required.")
    if len(text) > max_length:
        raise ValidationError(f"{label} is longer than {max_length} characters.")
    return text


def optional_text(value: str | None, label: str, max_length: int = 200) -> str:
    text = _no_nul((value or "").strip(), label)
    if len(text) > max_length:
        raise ValidationError(f"{label} is longer than {max_length} characters.")
    return text
