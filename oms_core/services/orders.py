"""Placing, confirming, cancelling and closing orders."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from .. import i18n, limits, order_states, runtime, shop, taxes, tracking_codes
from ..db import as_loaded, db, execute_core, is_postgres, write_transaction
from ..errors import ValidationError
from ..models import Customer, Order, OrderLine, Product
from ..models._base import UTCDateTime, utcnow
from . import assembly, outbound_webhooks, payment_ops, payments, refunds, stock, timeline, unpaid
from .common import clean_email, fetch, lock_order, optional_text, required_text
from .status import change, record_new_order

MAX_QUANTITY = limits.MAX_ORDER_QUANTITY


@dataclass(frozen=True)
class Channel:
    label: str
    staff: bool  # offered on the back-office form for orders taken by hand
    imported: bool = False  # orders come in from a file (services/csv_import.py)


# How an order came in.
CHANNELS = {
    "web": Channel("Web shop", staff=False),
    "phone": Channel("Phone", staff=True),
    "shop": Channel("In the shop", staff=True),
    "shopify": Channel("Shopify", staff=False, imported=True),
    "etsy": Channel("Etsy", staff=False, imported=True),
    "amazon": Channel("Amazon", staff=False, imported=True),
    "ebay": Channel("eBay", staff=False, imported=True),
    "marketplace": Channel("Other marketplace", staff=False, imported=True),
    # A replacement sent for an exchange (services.returns), at no charge.
    "exchange": Channel("Exchange", staff=False),
}
# The shipping address an order carries, with the label of each part; all optional
# here (an order collected in the shop has none), the country an ISO 3166 code.
ADDRESS_FIELDS = {
    "line1": "Street and number",
    "line2": "Address line 2",
    "postal_code": "Postal code",
    "city": "City",
    "country": "Country",
}


def staff_channels() -> list[tuple[str, str]]:
    """(id, label) of the channels staff enter orders for."""
    return [(key, channel.label) for key, channel in CHANNELS.items() if channel.staff]


def _address_max_length(key: str) -> int:
    """Its column's length; the country is read longer, so a name typed instead of
    the two-letter code gets the clearer message below."""
    return 200 if key == "country" else Order.__table__.c[f"ship_{key}"].type.length


@dataclass
class NewOrder:
    """What a checkout or the back-office form hands in."""

    email: str
    name: str
    lines: list[tuple[str, int]]  # (sku, quantity)
    payment_method: str
    phone: str = ""
    address: dict = field(default_factory=dict)  # keys of ADDRESS_FIELDS
    # The invoice's address (keys "name" and ADDRESS_FIELDS); empty: the shipping one.
    billing: dict = field(default_factory=dict)
    channel: str = "web"
    note: str = ""
    shipping_minor: int = 0
    # SKUs whose offered assembly the customer chose (services.assembly.services_for).
    assembly: list[str] = field(default_factory=list)
    # Orders from another channel: its order id (unique per channel), and the unit
    # prices it charged (sku -> minor units; a SKU left out costs the product's price).
    external_id: str | None = None
    unit_prices: dict = field(default_factory=dict)
    # The customer's language (a shipped locale, i18n.LOCALES); None: the shop's.
    locale: str | None = None


def _merged_lines(lines) -> dict[str, int]:
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        # int() would quietly turn 1.5 into 1 and True into 1.
        if isinstance(quantity, bool) or (isinstance(quantity, float) and not quantity.is_integer()):
            raise ValidationError(f"Quantity for {sku} must be a whole number.")
        try:
            quantity = int(quantity)
        except (TypeError, ValueError):
            raise ValidationError(f"Quantity for {sku} must be a whole number.") from None
        if quantity <= 0:
            continue
        sku = str(sku).strip()
        if "\x00" in sku:  # PostgreSQL cannot even compare such a text
            raise ValidationError("A SKU cannot contain a NUL character.")
        merged[sku] = merged.get(sku, 0) + quantity
    if not merged:
        raise ValidationError("An order needs at least one item.")
    for sku, quantity in merged.items():
        if quantity > MAX_QUANTITY:
            raise ValidationError(f"At most {MAX_QUANTITY} of {sku} per order.")
    return merged


def place_order(new: NewOrder, *, actor: str, confirm: bool | None = None) -> Order:
    """Create an order (status placed). With `confirm` (default: OMS_AUTO_CONFIRM for
    web orders) it is confirmed in the same transaction, so a checkout either gets
    its stock reserved or fails with OutOfStock and leaves nothing behind."""
    email = clean_email(new.email)
    name = required_text(new.name, "Name")
    phone = optional_text(new.phone, "Phone", 50)
    note = optional_text(new.note, "Note", 2000)
    if new.channel not in CHANNELS:
        raise ValidationError(f"Unknown channel '{new.channel}'.")
    if isinstance(new.shipping_minor, int) and new.shipping_minor < 0:
        raise ValidationError("Shipping cannot be negative.")
    limits.check_whole(new.shipping_minor, "Shipping", maximum=limits.MAX_AMOUNT_MINOR)
    external_id = optional_text(new.external_id, "External order id", 64) or None
    locale = i18n.order_locale(new.locale)
    if external_id and not CHANNELS[new.channel].imported:
        raise ValidationError(f"Orders of channel '{new.channel}' have no external order id.")
    for sku, price in new.unit_prices.items():
        limits.check_whole(price, f"Unit price of {sku}", maximum=limits.MAX_AMOUNT_MINOR)
    address = clean_address(new.address)
    billing = _billing_address(new.billing, name, address)
    wanted = _merged_lines(new.lines)
    gateway = runtime.registry().gateway(new.payment_method)
    if confirm is None:
        confirm = new.channel == "web" and runtime.setting("AUTO_CONFIRM")

    with write_transaction(keep_loaded=True) as tx:
        # The rows are written with Core INSERTs (lines, ledger and timeline each in
        # one), not through the unit of work: a checkout is the hottest write and the
        # ORM's bookkeeping cost it several times the database's work. The order and
        # its lines become ORM objects (for the invoice, the email, the hooks and the
        # page after it) from the values written, not read back (docs/architecture.md,
        # "Performance").
        rows = execute_core(_READ_PRODUCTS, {"skus": list(wanted)}).all()
        products = {row.sku: row for row in rows}
        unknown = sorted(set(wanted) - set(products))
        if unknown:
            raise ValidationError(f"Unknown or unavailable product: {', '.join(unknown)}.")
        currencies = {p.currency for p in products.values()}
        if len(currencies) != 1:
            raise ValidationError("All items of an order must be in one currency.")
        prices = {sku: new.unit_prices.get(sku, product.price_minor) for sku, product in products.items()}
        taxed = _taxed_lines(products, wanted, address["country"], price=lambda product: prices[product.sku])
        serviced = _taxed_lines(products, assembly.services_for(products, wanted, new.assembly),
                                address["country"], price=assembly.unit_price)
        shipping = taxes.split(new.shipping_minor, tax_rate(taxes.STANDARD, None, address["country"]),
                               includes_tax=runtime.setting("PRICES_INCLUDE_TAX"))
        subtotal = sum(part.gross for _sku, _quantity, part in taxed + serviced)
        if subtotal + shipping.gross > limits.MAX_AMOUNT_MINOR:
            raise ValidationError("The order's total is more than one order can hold: split it.")
        now = utcnow()
        buyer = {"buyer_email": email, "buyer_name": name, "buyer_phone": phone, "buyer_since": now}
        order = _write_order(buyer, dict(
            # Confirmed at once: written confirmed, with its tracking code; record_new_order
            # records both steps on the timeline.
            status=order_states.CONFIRMED if confirm else order_states.PLACED,
            tracking_code=tracking_codes.generate() if confirm else None,
            channel=new.channel, external_id=external_id,
            currency=currencies.pop(), subtotal_minor=subtotal, shipping_minor=shipping.gross,
            total_minor=subtotal + shipping.gross, paid_minor=0,
            prices_include_tax=runtime.setting("PRICES_INCLUDE_TAX"),
            tax_minor=sum(part.tax for _sku, _quantity, part in taxed + serviced) + shipping.tax,
            shipping_tax_rate_bp=shipping.rate_bp, shipping_tax_minor=shipping.tax,
            payment_method=gateway.id, pays_on_delivery=bool(gateway.pays_on_delivery),
            customer_name=name, customer_phone=phone, locale=locale,
            payment_status="unpaid", ship_name=name, ship_line1=address["line1"],
            ship_line2=address["line2"], ship_postal_code=address["postal_code"],
            ship_city=address["city"], ship_country=address["country"], note=note,
            payment_due_at=unpaid.deadline_for(gateway.id, pays_on_delivery=bool(gateway.pays_on_delivery),
                                               now=now),
            created_at=now, updated_at=now, status_changed_at=now,
            **{f"bill_{key}": value for key, value in billing.items()},
        ))
        if confirm:  # goods only: a service line holds no stock
            stock.reserve_lines([(products[s].id, q) for s, q, _part in taxed], order_id=order.id,
                                actor=actor)
        line_rows = (_line_rows(order.id, products, taxed, price=lambda product: prices[product.sku])
                     + _line_rows(order.id, products, serviced, price=assembly.unit_price,
                                  name=assembly.line_name, service=assembly.SERVICE))
        line_ids = execute_core(_INSERT_LINES, line_rows).scalars().all()
        lines = [as_loaded(OrderLine, {**row, "id": line_id}) for row, line_id in zip(line_rows, line_ids)]
        set_committed_value(order, "lines", lines)
        for line in lines:
            set_committed_value(line, "order", order)
        record_new_order(order, channel=new.channel, actor=actor, confirmed=confirm,
                         webhooks=rows[0].webhooks, tx=tx)
        tx.after_commit(lambda: runtime.registry().hook.on_order_placed(order=order))
    return order


def clean_address(raw: dict, *, with_name: bool = False) -> dict:
    fields = {"name": "Name", **ADDRESS_FIELDS} if with_name else ADDRESS_FIELDS
    address = {key: optional_text(raw.get(key), label, _address_max_length(key))
               for key, label in fields.items()}
    address["country"] = address["country"].upper()
    # Cutting a name to two letters would ship "Germany" to GE (Georgia): refuse it.
    if address["country"] and not (len(address["country"]) == 2 and address["country"].isalpha()):
        raise ValidationError("Country must be a two-letter code (ISO 3166), e.g. NL.")
    return address


def _billing_address(raw: dict, name: str, shipping: dict) -> dict:
    """The billing address given, else a copy of the shipping one (and the order's name)."""
    if not any(str(value or "").strip() for value in (raw or {}).values()):
        return {"name": name, **shipping}
    billing = clean_address(raw, with_name=True)
    billing["name"] = billing["name"] or name
    return billing


def tax_rate(tax_class: str, own_rate: int | None, country: str) -> int:
    """A product's own rate, else its class's rate in the order's country (the shop's
    country for an order without an address)."""
    if own_rate is not None:
        return own_rate
    return taxes.rate_for(runtime.setting("TAX_CLASSES"), tax_class, country or shop.details().country)


def _taxed_lines(products: dict, wanted: dict[str, int], country: str,
                 price=lambda product: product.price_minor) -> list[tuple[str, int, taxes.Split]]:
    """(sku, quantity, its tax split) per line, by the one rounding rule (oms_core/taxes.py);
    `price` of one unit (a service line's is the product's assembly price)."""
    includes_tax = runtime.setting("PRICES_INCLUDE_TAX")
    return [(sku, quantity, taxes.split(price(products[sku]) * quantity,
                                        tax_rate(products[sku].tax_class, products[sku].tax_rate_bp, country),
                                        includes_tax=includes_tax))
            for sku, quantity in wanted.items()]


def _line_rows(order_id: int, products: dict, lines, *, price, name=lambda product: product.name,
               service: str = "") -> list[dict]:
    """The columns of the order's lines from (sku, units, tax split) triples: goods, or
    with `service` the lines of a service bought with each product (services.assembly).
    Every row holds every column: one INSERT writes them all."""
    return [dict(order_id=order_id, product_id=products[sku].id, sku=sku, name=name(products[sku]),
                 unit_price_minor=price(products[sku]), quantity=quantity, tax_rate_bp=part.rate_bp,
                 net_minor=part.net, tax_minor=part.tax, gross_minor=part.gross, service=service)
            for sku, quantity, part in lines]


def _write_order(buyer: dict, values: dict) -> Order:
    """INSERT the order for the customer with the buyer's email and return it (as
    loaded; db.as_loaded). One customer per email, even when two first orders from it
    arrive at once: a single INSERT ... ON CONFLICT ... RETURNING hands back the row,
    new or existing. An existing customer is left as it is (the conflict "updates" the
    email to itself): whoever types an email at checkout has not proven it is theirs,
    so the name and phone typed stay on the order only. PostgreSQL: the customer's
    upsert runs in the order's INSERT (WITH), one round trip fewer."""
    if is_postgres():
        written = execute_core(_INSERT_ORDER_FOR_BUYER, {**values, **buyer})
    else:
        customer_id = execute_core(_UPSERT_CUSTOMER["sqlite"], buyer).scalar_one()
        written = execute_core(_INSERT_ORDER, {**values, "customer_id": customer_id})
    order_id, customer_id = written.one()
    return as_loaded(Order, {**written.last_inserted_params(), "id": order_id, "customer_id": customer_id})


def _upsert_customer(insert_for_dialect):
    # Parameters named apart from the order's columns: the order's INSERT would take
    # a parameter named as one of its columns (customer_name...) for that column.
    statement = insert_for_dialect(Customer.__table__).values(
        email=bindparam("buyer_email"), name=bindparam("buyer_name"), phone=bindparam("buyer_phone"),
        created_at=bindparam("buyer_since", type_=UTCDateTime()))
    return statement.on_conflict_do_update(index_elements=[Customer.email],
                                           set_={"email": statement.excluded.email}).returning(Customer.id)


# The checkout's statements, built once.
_UPSERT_CUSTOMER = {"postgresql": _upsert_customer(postgres_insert),
                    "sqlite": _upsert_customer(sqlite_insert)}
_INSERT_ORDER = insert(Order.__table__).returning(Order.id, Order.customer_id)
_BUYER = _UPSERT_CUSTOMER["postgresql"].cte("buyer")
_INSERT_ORDER_FOR_BUYER = (insert(Order.__table__).values(customer_id=select(_BUYER.c.id).scalar_subquery())
                           .add_cte(_BUYER).returning(Order.id, Order.customer_id))
# What the checkout reads of its products, and whether any webhook endpoint is active:
# without one, the webhooks need no lookup of their own (outbound_webhooks.placed).
_READ_PRODUCTS = (select(Product.id, Product.sku, Product.name, Product.price_minor, Product.currency,
                         Product.tax_class, Product.tax_rate_bp, Product.assembly, Product.assembly_price_minor,
                         outbound_webhooks.ANY_ACTIVE_ENDPOINT.label("webhooks"))
                  .where(Product.sku.in_(bindparam("skus", expanding=True)), Product.active.is_(True)))
_INSERT_LINES = insert(OrderLine.__table__).returning(OrderLine.__table__.c.id, sort_by_parameter_order=True)


def _confirm(order: Order, *, actor: str, tx) -> None:
    """Reserve the stock and confirm (a reopened order is confirmed by `reopen`);
    the invoice, where it is due at confirmation, comes with the status change."""
    order_states.check(order, order_states.CONFIRMED)
    stock.reserve_lines([(line.product_id, line.quantity) for line in order.goods_lines], order_id=order.id,
                        actor=actor)
    order.tracking_code = tracking_codes.generate()
    change(order, order_states.CONFIRMED, actor=actor, reason=timeline.STOCK_RESERVED, tx=tx)


def confirm_order(order_id: int, *, actor: str) -> Order:
    """Reserve the order's stock and issue its tracking code, or raise OutOfStock."""
    with write_transaction() as tx:
        order = lock_order(order_id)
        _confirm(order, actor=actor, tx=tx)
    return order


def place_replacement(original: Order, wanted: list[tuple[str, int]], *, note: str, actor: str, tx) -> Order:
    """The order that ships an exchange (services.returns): the original's customer,
    addresses and payment method, these (sku, quantity) at no charge. Confirmed at
    once like any order, so its stock is reserved or OutOfStock refuses it; with
    nothing to pay it is paid, and ships through the normal parcel flow. Caller's
    transaction."""
    merged = _merged_lines(wanted)
    products = {p.sku: p for p in db.session.scalars(
        select(Product).where(Product.sku.in_(list(merged)), Product.active.is_(True)))}
    unknown = sorted(set(merged) - set(products))
    if unknown:
        raise ValidationError(f"Unknown or unavailable product: {', '.join(unknown)}.")
    if any(p.currency != original.currency for p in products.values()):
        raise ValidationError("A replacement must be in the order's currency.")
    order = Order(
        status=order_states.PLACED, customer=original.customer, channel="exchange",
        currency=original.currency, subtotal_minor=0, shipping_minor=0, total_minor=0, paid_minor=0,
        payment_method=original.payment_method,
        pays_on_delivery=False, payment_status="unpaid", customer_name=original.customer_name,
        customer_phone=original.customer_phone, prices_include_tax=original.prices_include_tax, note=note,
        **{f"ship_{key}": getattr(original, f"ship_{key}") for key in ("name", *ADDRESS_FIELDS)},
        **{f"bill_{key}": value for key, value in original.billing_address.items()},
    )
    order.lines = [OrderLine(product_id=products[sku].id, sku=sku, name=products[sku].name,
                             unit_price_minor=0, quantity=quantity, net_minor=0, tax_minor=0, gross_minor=0)
                   for sku, quantity in merged.items()]
    db.session.add(order)
    timeline.record(order, timeline.STATUS_CHANGED, actor, timeline.placed_reason("exchange"), public=True,
                    to_status=order_states.PLACED)
    db.session.flush()  # its id: the ledger rows of its reservation are written by Core
    _confirm(order, actor=actor, tx=tx)
    payments.refresh_paid(order, actor=actor, tx=tx)  # nothing to pay: paid
    return order


def cancel_order(order_id: int, *, actor: str, reason: str, refund_reference: str = "") -> Order:
    """Cancel an order that has not shipped, in one transaction: its stock goes back
    on sale, every payment that took money gets a refund (through its gateway, by
    the outbox; a staff-recorded one is refunded by hand, with `refund_reference`),
    and authorizations are voided. Cancelling twice refunds once: a cancelled order
    cannot be cancelled again."""
    reason = required_text(reason, "A reason for cancelling", 500)
    with write_transaction() as tx:
        order = lock_order(order_id)
        cancel_locked(order, actor=actor, reason=reason, refund_reference=refund_reference, tx=tx)
    return order


def cancel_locked(order: Order, *, actor: str, reason: str, tx, refund_reference: str = "") -> None:
    """`cancel_order` in the caller's transaction, the order locked by the caller (who
    may check something else under the same lock first: services/unpaid.py)."""
    holds_stock = order.status in (order_states.CONFIRMED, order_states.PAID)
    if order_states.CANCELLED not in order_states.TRANSITIONS[order.status]:
        order_states.check(order, order_states.CANCELLED)  # raises the clear error
    refunds.refund_everything(order, reason=f"Order cancelled: {reason}", reference=refund_reference,
                              actor=actor, tx=tx)
    payment_ops.void_held(order)
    payments.refresh_paid(order, actor=actor, tx=tx)
    change(order, order_states.CANCELLED, actor=actor, reason=reason, tx=tx)
    if holds_stock:
        for line in order.goods_lines:
            stock.release(line.product_id, line.quantity, order_id=order.id, actor=actor)


def reopen(order: Order, *, actor: str, reason: str, tx) -> None:
    """Confirm a cancelled order again (a payment arrived after cancelling): its
    stock is reserved again, or OutOfStock. Caller's transaction, order locked;
    its tracking code stays the one the customer has."""
    order_states.check(order, order_states.CONFIRMED)
    stock.reserve_lines([(line.product_id, line.quantity) for line in order.goods_lines], order_id=order.id,
                        actor=actor)
    change(order, order_states.CONFIRMED, actor=actor, reason=reason, tx=tx)


def close_order(order_id: int, *, actor: str) -> Order:
    with write_transaction() as tx:
        order = lock_order(order_id)
        change(order, order_states.CLOSED, actor=actor, reason=timeline.ORDER_COMPLETED, tx=tx)
    return order


def add_note(order_id: int, text: str, *, actor: str) -> Order:
    """A private staff note on the timeline."""
    text = required_text(text, "Note", 2000)
    with write_transaction():
        order = lock_order(order_id)
        timeline.record(order, timeline.NOTE, actor, text)
    return order


def get_order(order_id: int) -> Order:
    return fetch(Order, order_id, "order")


def find_by_tracking_code(code: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.tracking_code == code))
