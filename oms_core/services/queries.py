"""Read-side queries for the back-office: order lists that stay fast at any size.

Lists use keyset pagination (id below the last one shown) on indexed columns, and
never count all rows, so page N costs the same at 1,000 and 1,000,000 orders.
"""
from __future__ import annotations

from dataclasses import dataclass

import re

from sqlalchemy import false, select
from sqlalchemy.orm import joinedload

from .. import limits, tracking_codes
from ..db import db
from ..errors import ValidationError
from ..models import Customer, Order


@dataclass
class OrderPage:
    orders: list[Order]
    next_before: int | None  # pass as `before` for the next page


def list_orders(*, status: str | None = None, search: str = "", before: int | None = None,
                limit: int = 50) -> OrderPage:
    query = select(Order).options(joinedload(Order.customer)).where(*order_filter(status=status, search=search))
    return keyset_page(query, before=before, limit=limit)


def order_filter(*, status: str | None = None, search: str = "") -> list:
    """The WHERE clauses on Order of the orders list's filters (a status, a search
    term), shared by the list and the CSV exports of it (services/csv_export.py)."""
    clauses = []
    if status:
        clauses.append(Order.status == status)
    term = (search or "").strip()
    if term:
        clauses.append(_search_clause(term))
    return clauses


def keyset_page(query, *, before: int | None, limit: int) -> OrderPage:
    """Newest first, the `limit` orders below id `before`."""
    rows, next_before = keyset_rows(query, Order.id, before=before, limit=limit)
    return OrderPage(orders=rows, next_before=next_before)


def keyset_rows(query, id_column, *, before: int | None, limit: int) -> tuple[list, int | None]:
    """Newest first, the `limit` rows below id `before`, and the `before` of the next
    page (None on the last); one extra row tells whether it exists (no count of all rows)."""
    if before is not None:
        if not limits.is_id(before):
            raise ValidationError("A page cursor must be a row id.")
        query = query.where(id_column < before)
    rows = list(db.session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


def _search_clause(term: str):
    """Order number, tracking code or customer email (prefix)."""
    digits = term.lstrip("#")
    if re.fullmatch(r"[0-9]+", digits):  # not isdigit(): "²" is a digit to it, and not to int()
        order_id = limits.parse_id(digits)
        return Order.id == order_id if order_id is not None else false()
    code = tracking_codes.normalise(term)
    if "@" not in term and len(code) == tracking_codes.CODE_LENGTH:
        return Order.tracking_code == code
    email = term.lower()
    # A range on the indexed email column: a prefix search both databases can seek.
    customer_ids = select(Customer.id).where(Customer.email >= email, Customer.email < email + "\uffff")
    return Order.customer_id.in_(customer_ids)
