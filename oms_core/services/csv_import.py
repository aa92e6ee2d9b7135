"""Orders from other channels, products and stock levels, from CSV files.

Files are read whole but bounded (OMS_IMPORT_MAX_BYTES, OMS_IMPORT_MAX_ROWS), as
UTF-8 with or without a byte-order mark, with the delimiter the header line uses
(comma, semicolon or tab). A file that cannot be read (too big, not UTF-8, a quote
never closed) is refused as a whole with a ValidationError saying where; otherwise
every row is checked and the report says, per row number (the header is row 1, as
in a spreadsheet), what is wrong, while the rest goes on.

Orders (docs/architecture.md, "Orders from other channels" lists the columns): one
row per order line, grouped into orders by (channel, external order id). An order
with any bad row is not imported at all; each good one is placed through
`orders.place_order` (stock reserved, confirmed, on the timeline like any order) in
its own transaction, with its payment recorded in the same one when the channel
collected the money, so an oversold order is reported and the others go on. The
unique (channel, external_id) constraint makes a second import of the same file
create nothing: orders already there are reported as such, also when two imports
run at once.

Shopify's orders export is read too (`SHOPIFY_COLUMNS`): recognised by its header,
its columns mapped onto ours, the order fields of its first line carried to the
order's other lines.

Products: one row per SKU; a new SKU is created, a known one updated with the
columns given; `on_hand` sets the count through `stock.set_count` (a ledger row of
reason "import").
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import limits, runtime
from ..db import db, write_transaction
from ..errors import DomainError, ValidationError
from ..models import Order
from ..money import check_currency, parse_amount
from . import catalog, orders, payments, stock

DELIMITERS = (",", ";", "\t")
TRUE_WORDS = {"yes", "y", "true", "1", "paid"}
FALSE_WORDS = {"", "no", "n", "false", "0", "pending", "unpaid"}

# The documented order columns (docs/architecture.md). Order fields may be left
# blank on an order's later lines; given twice they must agree.
ORDER_FIELDS = ("email", "name", "phone", "line1", "line2", "postal_code", "city", "country", "currency",
                "payment_method", "paid", "shipping", "note")
LINE_FIELDS = ("sku", "quantity", "unit_price")
KEY_FIELDS = ("channel", "external_order_id")
ORDER_COLUMNS = KEY_FIELDS + ORDER_FIELDS + LINE_FIELDS
ORDER_REQUIRED = ("channel", "external_order_id", "email", "name", "sku", "quantity")

# Shopify's "Export orders" CSV (one row per line item), header -> our column.
SHOPIFY_COLUMNS = {
    "name": "external_order_id", "email": "email", "financial_status": "paid", "currency": "currency",
    "shipping": "shipping", "lineitem_quantity": "quantity", "lineitem_price": "unit_price",
    "lineitem_sku": "sku", "shipping_name": "name", "shipping_address1": "line1",
    "shipping_address2": "line2", "shipping_zip": "postal_code", "shipping_city": "city",
    "shipping_country": "country", "shipping_phone": "phone", "notes": "note",
}
SHOPIFY_MARKER = {"lineitem_sku", "lineitem_quantity", "financial_status"}

PRODUCT_COLUMNS = ("sku", "name", "price", "currency", "on_hand", "low_stock_threshold", "description",
                   "tax_class", "weight_grams")


# ------------------------------------------------------------------ reading a file


@dataclass
class Table:
    header: list[str]  # normalised: lower case, spaces as underscores
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, column -> text)
    problems: list[tuple[int, str]] = field(default_factory=list)  # rows that could not be read


def _column(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def read_table(data: bytes) -> Table:
    """The rows of a CSV file, or ValidationError when the file as a whole cannot be read."""
    max_bytes, max_rows = runtime.setting("IMPORT_MAX_BYTES"), runtime.setting("IMPORT_MAX_ROWS")
    if len(data) > max_bytes:
        raise ValidationError(f"The file is larger than {max_bytes:,} bytes: split it.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ValidationError(f"The file is not UTF-8 text (line {line}): save it as \"CSV UTF-8\".") from None
    if "\x00" in text:
        raise ValidationError("The file holds NUL characters: it is not a CSV file.")
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise ValidationError("The file is empty: the first row must name the columns.")
        header = [_column(cell) for cell in header]
        if len(set(header)) != len(header):
            raise ValidationError("The header names a column twice.")
        table = Table(header=header, rows=[])
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(table.rows) + len(table.problems) >= max_rows:
                raise ValidationError(f"The file has more than {max_rows:,} rows: split it.")
            if len(cells) > len(header):
                table.problems.append((number, f"{len(cells)} cells, but the header names {len(header)} columns."))
                continue
            table.rows.append((number, dict(zip(header, (cell.strip() for cell in cells)))))
    except csv.Error as exc:
        raise ValidationError(f"The file cannot be read as CSV near line {reader.line_num}: {exc}.") from None
    return table


# ------------------------------------------------------------------ the report


@dataclass
class RowError:
    rows: tuple[int, ...]
    message: str


@dataclass
class ImportReport:
    kind: str  # "orders" or "products"
    format: str  # "oms", "shopify"
    rows: int = 0
    created: list[tuple[str, int]] = field(default_factory=list)  # (label, id)
    updated: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[tuple[str, int]] = field(default_factory=list)  # already there
    errors: list[RowError] = field(default_factory=list)

    def error(self, rows, message: str) -> None:
        self.errors.append(RowError(tuple(sorted(rows)), message))

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """'Orders created: 1, already imported: 0, with errors: 2 (3 rows read).'"""
        parts = [f"{self.kind.capitalize()} created: {len(self.created)}"]
        if self.kind == "products":
            parts.append(f"updated: {len(self.updated)}")
        parts.append(("already imported" if self.kind == "orders" else "unchanged") + f": {len(self.unchanged)}")
        parts.append(f"with errors: {len(self.errors)}")
        return ", ".join(parts) + f" ({self.rows} rows read)."


# ------------------------------------------------------------------ orders


@dataclass
class _Draft:
    """One order being gathered from its rows."""

    channel: str
    external_id: str
    rows: list[int] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    first_row: dict[str, int] = field(default_factory=dict)
    lines: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _as_ours(table: Table) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """The file's format and its rows in our columns."""
    if SHOPIFY_MARKER <= set(table.header):
        rows = [(number, {"channel": "shopify", **{SHOPIFY_COLUMNS[key]: value for key, value in row.items()
                                                   if key in SHOPIFY_COLUMNS}})
                for number, row in table.rows]
        for _number, row in rows:  # Shopify says "paid", "pending", "refunded"... on an order's first line
            if row.get("paid"):
                row["paid"] = "yes" if row["paid"].lower() in ("paid", "partially_refunded") else "no"
        return "shopify", rows
    missing = [name for name in ORDER_REQUIRED if name not in table.header]
    if missing:
        raise ValidationError(f"The header lacks the column(s) {', '.join(missing)}. Columns: "
                              f"{', '.join(ORDER_COLUMNS)} (or Shopify's orders export).")
    return "oms", table.rows


def _drafts(rows, report: ImportReport) -> list[_Draft]:
    drafts: dict[tuple[str, str], _Draft] = {}
    for number, row in rows:
        channel, external_id = row.get("channel", "").lower(), row.get("external_order_id", "")
        if channel not in orders.CHANNELS or not orders.CHANNELS[channel].imported:
            names = ", ".join(key for key, value in orders.CHANNELS.items() if value.imported)
            report.error([number], f"Channel '{channel[:40]}' is not one orders are imported from ({names}).")
            continue
        if not external_id or len(external_id) > 64:
            report.error([number], "The external order id is required, at most 64 characters.")
            continue
        draft = drafts.setdefault((channel, external_id), _Draft(channel, external_id))
        draft.rows.append(number)
        for name in ORDER_FIELDS:
            value = row.get(name, "")
            if not value:
                continue
            if name not in draft.fields:
                draft.fields[name], draft.first_row[name] = value, number
            elif draft.fields[name] != value:
                draft.problems.append(f"row {number}: {name} differs from row {draft.first_row[name]}'s.")
        draft.lines.append((number, row))
    return list(drafts.values())


def _new_order(draft: _Draft) -> tuple[orders.NewOrder, bool]:
    """The order a draft stands for and whether its channel was paid, or ValidationError."""
    values = draft.fields
    currency = check_currency(values.get("currency") or runtime.setting("DEFAULT_CURRENCY"))
    paid = values.get("paid", "").lower()
    if paid not in TRUE_WORDS | FALSE_WORDS:
        raise ValidationError(f"Paid must be yes or no, not '{paid[:20]}'.")
    lines, prices = [], {}
    for number, row in draft.lines:
        sku = row.get("sku", "")
        if not sku:
            raise ValidationError(f"row {number}: the SKU is required.")
        raw = row.get("quantity", "")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or not 0 < int(raw) <= orders.MAX_QUANTITY:
            raise ValidationError(f"row {number}: the quantity must be a whole number from 1 to "
                                  f"{orders.MAX_QUANTITY}, not '{raw[:20]}'.")
        if row.get("unit_price"):
            price = parse_amount(row["unit_price"], currency)
            if price < 0:
                raise ValidationError(f"row {number}: the unit price cannot be negative.")
            if prices.setdefault(sku, price) != price:
                raise ValidationError(f"row {number}: {sku} has another unit price on an earlier row.")
        lines.append((sku, int(raw)))
    shipping = parse_amount(values["shipping"], currency) if values.get("shipping") else 0
    address = {key: values.get(key, "") for key in orders.ADDRESS_FIELDS}
    new = orders.NewOrder(email=values.get("email", ""), name=values.get("name", ""), lines=lines,
                          payment_method=values.get("payment_method") or runtime.setting("IMPORT_PAYMENT_METHOD"),
                          phone=values.get("phone", ""), address=address, channel=draft.channel,
                          note=values.get("note", ""), shipping_minor=shipping, external_id=draft.external_id,
                          unit_prices=prices)
    return new, paid in TRUE_WORDS


def _currency_fits(new: orders.NewOrder, currency: str) -> None:
    for sku, _quantity in new.lines:
        product = catalog.find_by_sku(sku)
        if product is not None and product.currency != currency:
            raise ValidationError(f"{sku} is sold in {product.currency}, the order is in {currency}.")


def _existing(channel: str, external_id: str) -> int | None:
    return db.session.scalar(select(Order.id).where(Order.channel == channel, Order.external_id == external_id))


def import_orders(data: bytes, *, actor: str) -> ImportReport:
    """Import the orders of a CSV file; see the module's docstring. Raises
    ValidationError only for a file that cannot be read at all."""
    table = read_table(data)
    format_, rows = _as_ours(table)
    report = ImportReport(kind="orders", format=format_, rows=len(table.rows) + len(table.problems))
    for number, problem in table.problems:
        report.error([number], problem)
    for draft in _drafts(rows, report):
        label = f"{draft.channel} {draft.external_id}"
        if draft.problems:
            report.error(draft.rows, f"Order {label}: " + " ".join(draft.problems))
            continue
        existing = _existing(draft.channel, draft.external_id)
        if existing is not None:
            report.unchanged.append((label, existing))
            continue
        try:
            new, paid = _new_order(draft)
            _currency_fits(new, check_currency(draft.fields.get("currency") or runtime.setting("DEFAULT_CURRENCY")))
            order_id = _place(new, paid, actor=actor)
        except IntegrityError:
            db.session.rollback()
            existing = _existing(draft.channel, draft.external_id)
            if existing is None:
                raise
            report.unchanged.append((label, existing))  # another import took it meanwhile
        except DomainError as exc:
            report.error(draft.rows, f"Order {label}: {exc}")
        else:
            report.created.append((label, order_id))
    return report


def _place(new: orders.NewOrder, paid: bool, *, actor: str) -> int:
    """Place, confirm and (when the channel was paid) record the payment, all in one
    transaction: an order is imported whole or not at all."""
    with write_transaction():
        order = orders.place_order(new, actor=actor, confirm=True)
        if paid:
            payments.record_payment(order.id, gateway_id=order.payment_method, amount_minor=order.total_minor,
                                    currency=order.currency, reference=f"{new.channel} {new.external_id}",
                                    actor=actor)
        order_id = order.id
    return order_id


# ------------------------------------------------------------------ products and stock


def _whole(row: dict, name: str, label: str, maximum: int) -> int | None:
    raw = row.get(name, "")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ValidationError(f"{label} must be a whole number, not '{raw[:20]}'.")
    value = int(raw)
    if value > maximum:
        raise ValidationError(f"{label} must be at most {maximum:,}.")
    return value


def import_products(data: bytes, *, actor: str) -> ImportReport:
    """Create or update the products of a CSV file and set their counts on hand.
    Each row is its own transaction: a bad row is reported, the others go on."""
    table = read_table(data)
    if "sku" not in table.header:
        raise ValidationError(f"The header lacks the column sku. Columns: {', '.join(PRODUCT_COLUMNS)}.")
    report = ImportReport(kind="products", format="oms", rows=len(table.rows) + len(table.problems))
    for number, problem in table.problems:
        report.error([number], problem)
    seen: dict[str, int] = {}
    for number, row in table.rows:
        sku = row.get("sku", "")
        if sku in seen:
            report.error([number], f"{sku} is on row {seen[sku]} already.")
            continue
        seen[sku] = number
        try:
            outcome, product_id = _import_product(row, actor=actor)
        except DomainError as exc:
            report.error([number], f"{sku[:64] or 'No SKU'}: {exc}")
            continue
        except IntegrityError:  # created by someone else meanwhile
            db.session.rollback()
            report.error([number], f"{sku[:64]}: changed by someone else meanwhile; import the file again.")
            continue
        getattr(report, outcome).append((sku, product_id))
    return report


def _import_product(row: dict, *, actor: str) -> tuple[str, int]:
    sku = row.get("sku", "")
    if not sku:
        raise ValidationError("The SKU is required.")
    on_hand = _whole(row, "on_hand", "On hand", limits.MAX_STOCK)
    threshold = _whole(row, "low_stock_threshold", "Low-stock threshold", limits.MAX_STOCK)
    weight = _whole(row, "weight_grams", "Weight (g)", limits.MAX_WEIGHT_GRAMS)
    with write_transaction():
        product = catalog.find_by_sku(sku)
        if product is None:
            currency = check_currency(row.get("currency") or runtime.setting("DEFAULT_CURRENCY"))
            if not row.get("price"):
                raise ValidationError("A new product needs a price.")
            product = catalog.create_product(
                sku=sku, name=row.get("name", ""), price_minor=parse_amount(row["price"], currency),
                currency=currency, low_stock_threshold=3 if threshold is None else threshold,
                description=row.get("description", ""), tax_class=row.get("tax_class") or "standard",
                weight_grams=weight or 0, actor=actor)
            outcome = "created"
        else:
            if row.get("currency") and check_currency(row["currency"]) != product.currency:
                raise ValidationError(f"it is sold in {product.currency}; a file cannot change its currency.")
            before = (product.name, product.price_minor, product.description, product.low_stock_threshold,
                      product.weight_grams)
            product = catalog.update_product(
                product.id, name=row.get("name") or None,
                price_minor=parse_amount(row["price"], product.currency) if row.get("price") else None,
                description=row.get("description") if "description" in row and row["description"] else None,
                low_stock_threshold=threshold, weight_grams=weight)
            after = (product.name, product.price_minor, product.description, product.low_stock_threshold,
                     product.weight_grams)
            outcome = "updated" if after != before else "unchanged"
        if on_hand is not None and stock.set_count(product.id, on_hand, reason=stock.IMPORT,
                                                   note="stock file", actor=actor):
            outcome = "updated" if outcome == "unchanged" else outcome
        product_id = product.id
    return outcome, product_id
