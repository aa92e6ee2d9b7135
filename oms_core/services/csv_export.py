"""Exports: orders, order lines, payments and stock moves as CSV, and the shop's
whole data as a zip of CSVs (owners).

Streamed: each export is a generator of text chunks, one per batch of BATCH rows
read by keyset (id below the last one read), as plain column rows (no ORM objects
gather in the session), so a large export holds one batch in memory and the first
bytes go out before the last rows are read. The order exports take the orders
list's filters (`queries.order_filter`).

Excel-friendly: UTF-8 with a byte-order mark (Excel reads UTF-8 only with one),
amounts as decimals with a point, times in ISO 8601 UTC, and every text cell that a
spreadsheet would take for a formula (starting with = + - @, a tab or a carriage
return) gets a leading apostrophe, so a customer named "=HYPERLINK(...)" stays text.

The full export holds every OMS table, each column except password hashes, the
staff links' keys, webhook request headers (they may carry a sender's credentials)
and binary columns (document PDFs and label bytes: download those from the order
page). The zip is written to a temporary file (spooled to disk past a few MB)
and then streamed in chunks.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from sqlalchemy import LargeBinary, select

from ..db import db
from ..models import Customer, Order, OrderLine, Payment, Product, StockMove, order_number
from ..money import exponent
from . import queries

BOM = "\ufeff"
BATCH = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCLUDED_COLUMNS = {("oms_staff_user", "password_hash"), ("oms_staff_token", "key"),
                    ("oms_inbound_event", "headers")}
# The Alembic bookkeeping table is the schema's, not the shop's data.
EXCLUDED_TABLES = {"oms_alembic_version"}


def cell(value) -> str | int:
    """One value as a CSV cell: text neutralised against formulas, times in UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    if isinstance(value, (date, Decimal, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def decimal_amount(minor: int | None, currency: str) -> Decimal | None:
    """1250 EUR -> Decimal('12.50'): a number to a spreadsheet, not text with a currency."""
    if minor is None:
        return None
    return Decimal(minor).scaleb(-exponent(currency)).quantize(Decimal(1).scaleb(-exponent(currency)))


def _lines(rows: Iterable[Iterable]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def keyset_batches(query, id_column, batch: int | None = None) -> Iterator[list]:
    """The rows of `query` (whose first column is `id_column`), newest first, one
    batch at a time: each batch is one query for the ids below the last one read."""
    batch = batch or BATCH
    before = None
    while True:
        page = query if before is None else query.where(id_column < before)
        rows = db.session.execute(page.order_by(id_column.desc()).limit(batch)).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        before = rows[-1][0]


def stream(header: list[str], batches: Iterable[list], to_cells: Callable) -> Iterator[str]:
    """BOM and header, then one chunk of CSV text per batch."""
    yield BOM + _lines([header])
    for rows in batches:
        yield _lines(to_cells(row) for row in rows)


# ------------------------------------------------------------------ what the back-office exports

ORDER_HEADER = ["order", "created_at", "status", "channel", "external_order_id", "email", "name", "phone",
                "ship_name", "line1", "line2", "postal_code", "city", "country", "currency", "subtotal",
                "shipping", "tax", "total", "paid", "refunded", "payment_method", "payment_status",
                "tracking_code", "note"]


def export_orders(*, status: str | None = None, search: str = "", ids: list[int] | None = None) -> Iterator[str]:
    """The orders the list's filters select, or the orders `ids` (a bulk action's selection)."""
    query = (select(Order.id, Order.created_at, Order.status, Order.channel, Order.external_id, Customer.email,
                    Order.customer_name, Order.customer_phone, Order.ship_name, Order.ship_line1,
                    Order.ship_line2, Order.ship_postal_code, Order.ship_city, Order.ship_country,
                    Order.currency, Order.subtotal_minor, Order.shipping_minor, Order.tax_minor,
                    Order.total_minor, Order.paid_minor, Order.refunded_minor, Order.payment_method,
                    Order.payment_status, Order.tracking_code, Order.note)
             .join(Customer, Customer.id == Order.customer_id)
             .where(*queries.order_filter(status=status, search=search)))
    if ids is not None:
        query = query.where(Order.id.in_(ids))

    def to_cells(row):
        currency = row.currency
        return [order_number(row.id), *row[1:15],
                *(decimal_amount(row[i], currency) for i in range(15, 21)), *row[21:]]
    return stream(ORDER_HEADER, keyset_batches(query, Order.id), to_cells)


LINE_HEADER = ["order", "line", "sku", "name", "quantity", "currency", "unit_price", "tax_rate_percent",
               "net", "tax", "gross"]


def export_lines(*, status: str | None = None, search: str = "") -> Iterator[str]:
    query = (select(OrderLine.id, OrderLine.order_id, OrderLine.sku, OrderLine.name, OrderLine.quantity,
                    Order.currency, OrderLine.unit_price_minor, OrderLine.tax_rate_bp, OrderLine.net_minor,
                    OrderLine.tax_minor, OrderLine.gross_minor)
             .join(Order, Order.id == OrderLine.order_id)
             .where(*queries.order_filter(status=status, search=search)))

    def to_cells(row):
        money = [decimal_amount(value, row.currency) for value in (row.unit_price_minor, row.net_minor,
                                                                    row.tax_minor, row.gross_minor)]
        return [order_number(row.order_id), row.id, row.sku, row.name, row.quantity, row.currency, money[0],
                str(Decimal(row.tax_rate_bp) / 100), *money[1:]]
    return stream(LINE_HEADER, keyset_batches(query, OrderLine.id), to_cells)


PAYMENT_HEADER = ["payment", "order", "created_at", "gateway", "state", "currency", "amount", "refunded",
                  "reference", "external_id", "flagged", "actor"]


def export_payments(*, status: str | None = None, search: str = "") -> Iterator[str]:
    query = (select(Payment.id, Payment.order_id, Payment.created_at, Payment.gateway_id, Payment.state,
                    Payment.currency, Payment.amount_minor, Payment.amount_refunded_minor, Payment.reference,
                    Payment.external_id, Payment.flag_reason, Payment.actor)
             .join(Order, Order.id == Payment.order_id)
             .where(*queries.order_filter(status=status, search=search)))

    def to_cells(row):
        return [row.id, order_number(row.order_id), row.created_at, row.gateway_id, row.state, row.currency,
                decimal_amount(row.amount_minor, row.currency),
                decimal_amount(row.amount_refunded_minor, row.currency), row.reference, row.external_id,
                row.flag_reason, row.actor]
    return stream(PAYMENT_HEADER, keyset_batches(query, Payment.id), to_cells)


STOCK_HEADER = ["move", "created_at", "sku", "on_hand_change", "reserved_change", "reason", "note", "actor",
                "order"]


def export_stock_moves(*, search: str = "") -> Iterator[str]:
    """The stock ledger, newest first; `search` is a SKU prefix."""
    query = (select(StockMove.id, StockMove.created_at, Product.sku, StockMove.on_hand_delta,
                    StockMove.reserved_delta, StockMove.reason, StockMove.note, StockMove.actor,
                    StockMove.order_id)
             .join(Product, Product.id == StockMove.product_id))
    term = (search or "").strip()
    if term:
        query = query.where(Product.sku >= term, Product.sku < term + "\uffff")

    def to_cells(row):
        return [*row[:8], order_number(row.order_id) if row.order_id else ""]
    return stream(STOCK_HEADER, keyset_batches(query, StockMove.id), to_cells)


EXPORTS = {"orders": export_orders, "lines": export_lines, "payments": export_payments}


# ------------------------------------------------------------------ the owner's full export


def exported_tables() -> list:
    """(table, its exported columns) of every OMS table."""
    result = []
    for table in db.metadata.sorted_tables:
        if not table.name.startswith("oms_") or table.name in EXCLUDED_TABLES:
            continue
        columns = [column for column in table.columns
                   if (table.name, column.name) not in EXCLUDED_COLUMNS and not isinstance(column.type, LargeBinary)]
        result.append((table, columns))
    return result


def _table_chunks(table, columns) -> Iterator[str]:
    header = [column.name for column in columns]
    if "id" in table.columns:
        id_column = table.c.id
        query = select(id_column.label("_key"), *columns)
        batches = keyset_batches(query, id_column)
        yield from stream(header, batches, lambda row: list(row[1:]))
    else:  # a small table keyed otherwise (the document counters)
        rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
        yield from stream(header, [rows], list)


def full_export(chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """A zip of one CSV per OMS table, written to a temporary file, then yielded in chunks."""
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table, columns in exported_tables():
            with archive.open(f"{table.name.removeprefix('oms_')}.csv", "w") as member:
                for text in _table_chunks(table, columns):
                    member.write(text.encode("utf-8"))
    db.session.commit()  # end the read before the file is sent

    def chunks() -> Iterator[bytes]:
        with spool:
            spool.seek(0)
            while data := spool.read(chunk_size):
                yield data
    return chunks()
