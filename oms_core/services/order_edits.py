"""Editing an order before it ships (docs/architecture.md, "Order edits").

Staff change line quantities, add lines (priced from the catalogue, taxed by the
one rule of oms_core/taxes.py), remove lines, change the delivery address, the
phone or the shipping charge. One edit is one transaction, and everything follows
in it:

- stock: a confirmed order's added units are reserved with the never-below-zero
  guard (OutOfStock refuses the whole edit), units taken off are released; every
  change a ledger row (reason `order_edit`);
- totals and taxes are computed again;
- money: what was paid beyond the new total is refunded through services.refunds
  (the gateway, or by hand with the transfer's reference); a difference still due
  is asked of the customer by email (pay-now link where the gateway can start a
  payment, else bank-transfer details), and a paid order goes back to confirmed
  until it is paid. services.payments.refresh_paid stays the only writer of the
  paid view;
- an issued invoice is never changed: it is credited in full and a new invoice
  issued for the order as edited (services.documents.correct_invoice);
- the timeline gets one entry with the actor and what changed.

Two staff editing at once: the form carries the order's `version`; an edit made
from an older one is refused ("the order changed, reload").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from .. import limits, order_states, taxes
from ..db import db, write_transaction
from ..errors import ValidationError
from ..models import Order, OrderLine, Product, Shipment, ShipmentLine
from ..money import format_amount
from . import documents, notifications, orders, outbox, payment_ops, payments, refunds, stock, timeline
from .common import fetch, lock_order, optional_text
from .status import change

# Before anything ships: a fulfilling order may have parcels, but units in one stay.
EDITABLE = (order_states.PLACED, order_states.CONFIRMED, order_states.PAID, order_states.FULFILLING)
HOLDS_STOCK = (order_states.CONFIRMED, order_states.PAID, order_states.FULFILLING)
ADDRESS_KEYS = ("name", *orders.ADDRESS_FIELDS)
BALANCE_DUE = "balance_due"  # the customer's email asking for the difference


class OrderChanged(ValidationError):
    """The order was changed since the form was loaded."""

    status_code = 409


@dataclass(frozen=True)
class OrderEdit:
    """What staff ask for. `version` is the order's version the form was made from."""

    version: int
    quantities: dict[int, int] = field(default_factory=dict)  # line id -> new quantity; 0 removes it
    added: list[tuple[str, int]] = field(default_factory=list)  # (sku, quantity)
    address: dict | None = None  # keys ADDRESS_KEYS; None leaves it as it is
    phone: str | None = None
    shipping_minor: int | None = None  # as typed (tax included or not, like the order's prices)
    reason: str = ""
    refund_reference: str = ""  # the transfer staff made, where money goes back by hand


@dataclass(frozen=True)
class Effect:
    """What an edit does, for the form's preview and the service's own use."""

    currency: str
    total_before: int
    total_after: int
    tax_after: int
    refund_minor: int  # given back from the payments
    due_minor: int  # asked of the customer
    changes: tuple[str, ...]
    corrects_invoice: str = ""  # the number of the invoice credited and replaced, if any
    refunds_by_hand: bool = False

    @property
    def summary(self) -> str:
        return ", ".join(self.changes)


@dataclass
class _Line:
    """A line as the edit leaves it."""

    product: Product
    quantity: int
    existing: OrderLine | None = None
    unit_price_minor: int = 0
    split: taxes.Split | None = None


@dataclass
class _Plan:
    lines: list[_Line]
    removed: list[OrderLine]
    stock_deltas: dict[int, int]  # product id -> units more (or fewer) to hold
    address: dict
    phone: str
    shipping: taxes.Split
    changes: list[str]
    contents_changed: bool  # anything an invoice prints

    @property
    def subtotal(self) -> int:
        return sum(line.split.gross for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + self.shipping.gross

    @property
    def tax(self) -> int:
        return sum(line.split.tax for line in self.lines) + self.shipping.tax


# ------------------------------------------------------------------ refusals


def edit_refusal(order: Order) -> str | None:
    """Why this order cannot be edited now, or None."""
    if order.status not in EDITABLE:
        return (f"Order {order.number} is {order.status.replace('_', ' ')}: it can be edited only before "
                "anything ships.")
    return None


def _packed(order: Order) -> tuple[dict[int, int], set[int]]:
    """Units per line in parcels that are not cancelled, and the lines any parcel
    ever held (kept for the parcel's record, so they cannot be removed)."""
    packed: dict[int, int] = {}
    ever: set[int] = set()
    for line_id, status, units in db.session.execute(
            select(ShipmentLine.order_line_id, Shipment.status, func.sum(ShipmentLine.quantity))
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(Shipment.order_id == order.id).group_by(ShipmentLine.order_line_id, Shipment.status)):
        ever.add(line_id)
        if status != "cancelled":
            packed[line_id] = packed.get(line_id, 0) + int(units)
    return packed, ever


def _quantity(value, label: str, *, minimum: int) -> int:
    return limits.check_whole(value, label, minimum=minimum, maximum=limits.MAX_ORDER_QUANTITY)


# ------------------------------------------------------------------ the plan


def _plan(order: Order, edit: OrderEdit) -> _Plan:
    """Check the edit against the order (locked or just read) and work out the order
    it leaves; raises a DomainError and writes nothing."""
    refusal = edit_refusal(order)
    if refusal:
        raise ValidationError(refusal)
    if isinstance(edit.version, bool) or not isinstance(edit.version, int) or edit.version != order.version:
        raise OrderChanged(f"Order {order.number} changed since you opened the form: reload it and edit again.")
    changes: list[str] = []
    kept, removed = _kept_lines(order, edit.quantities, changes)
    _add_lines(order, kept, edit.added, changes)
    if not kept:
        raise ValidationError("An order needs at least one item: cancel the order instead of removing them all.")
    address = _address(order, edit.address)
    country_changed = address["country"] != order.ship_country
    _tax_lines(order, kept, address["country"], country_changed)
    shipping = _shipping(order, edit.shipping_minor, address["country"], country_changed, changes)
    if any(address[key] != getattr(order, f"ship_{key}") for key in ADDRESS_KEYS):
        changes.append("address changed")
    phone = order.customer_phone if edit.phone is None else optional_text(edit.phone, "Phone", 50)
    if phone != order.customer_phone:
        changes.append("phone changed")
    if not changes:
        raise ValidationError("Nothing to change: the edit leaves the order as it is.")
    plan = _Plan(lines=kept, removed=removed, stock_deltas=_stock_deltas(kept, removed), address=address,
                 phone=phone, shipping=shipping, changes=changes, contents_changed=changes != ["phone changed"])
    if plan.total > limits.MAX_AMOUNT_MINOR:
        raise ValidationError("The order's total is more than one order can hold: split it.")
    return plan


def _kept_lines(order: Order, quantities: dict[int, int], changes: list[str]) -> tuple[list[_Line], list[OrderLine]]:
    """The order's lines at their new quantities, and those removed (quantity 0).
    Units packed in a parcel or refunded by line stay; a line a parcel held stays."""
    by_id = {line.id: line for line in order.lines}
    if any(line_id not in by_id for line_id in quantities):
        raise ValidationError("Edit the lines of this order.")
    packed, ever_packed = _packed(order)
    refunded = refunds.refunded_quantities(order)
    products = {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_([line.product_id for line in order.lines])))}
    kept, removed = [], []
    for line in order.lines:
        quantity = _quantity(quantities.get(line.id, line.quantity), f"Quantity of {line.sku}", minimum=0)
        floor = max(packed.get(line.id, 0), refunded.get(line.id, 0))
        if quantity < floor:
            why = "are packed in a parcel" if packed.get(line.id, 0) >= refunded.get(line.id, 0) else "were refunded"
            raise ValidationError(f"{floor} of {line.sku} {why}: it cannot go below {floor}.")
        if quantity == 0:
            if line.id in ever_packed:
                raise ValidationError(f"{line.sku} was in a parcel: set its quantity instead of removing it.")
            removed.append(line)
            changes.append(f"removed {line.sku}")
            continue
        if quantity != line.quantity:
            changes.append(f"qty {line.sku} {line.quantity} -> {quantity}")
        kept.append(_Line(products[line.product_id], quantity, existing=line, unit_price_minor=line.unit_price_minor))
    return kept, removed


def _add_lines(order: Order, kept: list[_Line], added, changes: list[str]) -> None:
    """New lines at the catalogue's price; more of an item the order has keeps the
    price it was sold at."""
    for sku, (quantity, product) in _added(order, added):
        present = next((line for line in kept if line.product.sku == sku), None)
        if present is None:
            kept.append(_Line(product, quantity, unit_price_minor=product.price_minor))
            changes.append(f"added {sku} x{quantity}")
            continue
        before = present.existing.quantity
        present.quantity = _quantity(present.quantity + quantity, f"Quantity of {sku}", minimum=1)
        changes[:] = [c for c in changes if not c.startswith(f"qty {sku} ")]
        changes.append(f"qty {sku} {before} -> {present.quantity}")


def _tax_lines(order: Order, lines: list[_Line], country: str, country_changed: bool) -> None:
    """Each line's split by the one rule: unchanged lines as stored, a changed line
    at its rate, a new line (or every line, in a new country) at the product's rate."""
    for line in lines:
        existing = line.existing
        if existing is not None and line.quantity == existing.quantity and not country_changed:
            line.split = taxes.Split(net=existing.net_minor, tax=existing.tax_minor, gross=existing.gross_minor,
                                     rate_bp=existing.tax_rate_bp)
            continue
        rate = (existing.tax_rate_bp if existing is not None and not country_changed
                else orders.tax_rate(line.product.tax_class, line.product.tax_rate_bp, country))
        line.split = taxes.split(line.unit_price_minor * line.quantity, rate,
                                 includes_tax=order.prices_include_tax)


def _stock_deltas(kept: list[_Line], removed: list[OrderLine]) -> dict[int, int]:
    """Product id -> units more (or fewer, negative) the order holds after the edit."""
    deltas: dict[int, int] = {}
    for line in removed:
        deltas[line.product_id] = deltas.get(line.product_id, 0) - line.quantity
    for line in kept:
        before = line.existing.quantity if line.existing is not None else 0
        deltas[line.product.id] = deltas.get(line.product.id, 0) + line.quantity - before
    return {product_id: delta for product_id, delta in deltas.items() if delta}


def _address(order: Order, raw: dict | None) -> dict:
    if raw is None:
        return {key: getattr(order, f"ship_{key}") for key in ADDRESS_KEYS}
    address = orders.clean_address(raw, with_name=True)
    if not address["name"]:
        raise ValidationError("The name to deliver to is required.")
    return address


def _added(order: Order, added) -> list[tuple[str, tuple[int, Product]]]:
    """(sku, (quantity, product)) of the lines to add, checked and merged per SKU."""
    wanted: dict[str, int] = {}
    for sku, quantity in added or ():
        sku = optional_text(str(sku or ""), "SKU", 64)
        if not sku:
            raise ValidationError("Pick a product for every line you add.")
        quantity = _quantity(quantity, f"Quantity of {sku}", minimum=1)
        wanted[sku] = _quantity(wanted.get(sku, 0) + quantity, f"Quantity of {sku}", minimum=1)
    if not wanted:
        return []
    found = {p.sku: p for p in db.session.scalars(
        select(Product).where(Product.sku.in_(list(wanted)), Product.active.is_(True)))}
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise ValidationError(f"Unknown or unavailable product: {', '.join(unknown)}.")
    for product in found.values():
        if product.currency != order.currency:
            raise ValidationError(f"{product.sku} is priced in {product.currency}; the order is in {order.currency}.")
    return [(sku, (quantity, found[sku])) for sku, quantity in wanted.items()]


def _shipping(order: Order, typed: int | None, country: str, country_changed: bool, changes: list[str]) -> taxes.Split:
    """Shipping stays as charged unless staff change it; a new country taxes it at its rate."""
    current = taxes.Split(net=order.shipping_minor - order.shipping_tax_minor, tax=order.shipping_tax_minor,
                          gross=order.shipping_minor, rate_bp=order.shipping_tax_rate_bp)
    # What was typed for it: gross where prices include tax, net where tax is added.
    as_typed = current.gross if order.prices_include_tax else current.net
    if typed is not None:
        limits.check_whole(typed, "Shipping", minimum=0, maximum=limits.MAX_AMOUNT_MINOR)
    if (typed is None or typed == as_typed) and not country_changed:
        return current
    amount = as_typed if typed is None else typed
    rate = orders.tax_rate(taxes.STANDARD, None, country)
    shipping = taxes.split(amount, rate, includes_tax=order.prices_include_tax)
    if shipping.gross != current.gross:
        changes.append(f"shipping {format_amount(current.gross, order.currency)} -> "
                       f"{format_amount(shipping.gross, order.currency)}")
    return shipping


def _effect(order: Order, plan: _Plan) -> Effect:
    total = plan.total
    refund = min(max(order.paid_minor - total, 0), refunds.refundable_total(order))
    due = max(total - order.paid_minor, 0)
    invoice = documents.current_invoice(order) if plan.contents_changed else None
    return Effect(currency=order.currency, total_before=order.total_minor, total_after=total, tax_after=plan.tax,
                  refund_minor=refund, due_minor=due, changes=tuple(plan.changes),
                  corrects_invoice=invoice.number if invoice else "",
                  refunds_by_hand=bool(refund) and refunds.by_hand(order))


# ------------------------------------------------------------------ preview and edit


def preview(order_id: int, edit: OrderEdit) -> Effect:
    """What the edit would do (new total, refund or amount due, invoice corrected),
    checked like the edit itself except for stock, which is reserved only when saved."""
    order = fetch(Order, order_id, "order")
    return _effect(order, _plan(order, edit))


def edit_order(order_id: int, edit: OrderEdit, *, actor: str) -> Effect:
    """Apply an edit in one transaction, or raise a DomainError and change nothing."""
    reason = optional_text(edit.reason, "Reason", 300)
    with write_transaction() as tx:
        order = lock_order(order_id)
        plan = _plan(order, edit)
        effect = _effect(order, plan)
        if effect.total_after != order.total_minor and payment_ops.holds_authorization(order):
            raise ValidationError("A card authorization is held for the old total: capture or void it before "
                                  "changing what the order costs.")
        _move_stock(order, plan, actor=actor)
        invoice = documents.current_invoice(order) if plan.contents_changed else None
        _apply(order, plan)
        message = effect.summary + (f" ({reason})" if reason else "")
        event = timeline.record(order, timeline.ORDER_EDITED, actor, message)
        db.session.flush()  # the event's id sources the new invoice
        _settle_money(order, effect, reason=f"Order edited: {effect.summary}", reference=edit.refund_reference,
                      actor=actor, tx=tx)
        if invoice is not None:  # after the money, so the new invoice says what is paid and due
            documents.correct_invoice(order, invoice, edit_id=event.id, reason=f"Order edited: {effect.summary}")
    return effect


def _move_stock(order: Order, plan: _Plan, *, actor: str) -> None:
    if order.status not in HOLDS_STOCK:
        return  # a placed order holds nothing yet: confirming reserves its lines
    # Products in id order, like confirming, so two transactions never deadlock.
    for product_id, delta in sorted(plan.stock_deltas.items()):
        if delta > 0:
            stock.reserve_lines([(product_id, delta)], order_id=order.id, actor=actor,
                                reason=stock.ORDER_EDIT)
        else:
            stock.release(product_id, -delta, order_id=order.id, actor=actor, reason=stock.ORDER_EDIT)


def _apply(order: Order, plan: _Plan) -> None:
    for line in plan.removed:
        order.lines.remove(line)  # delete-orphan: the row goes
    for line in plan.lines:
        row = line.existing
        if row is None:
            row = OrderLine(product_id=line.product.id, sku=line.product.sku, name=line.product.name,
                            unit_price_minor=line.unit_price_minor)
            order.lines.append(row)
        row.quantity = line.quantity
        row.tax_rate_bp, row.net_minor, row.tax_minor, row.gross_minor = (
            line.split.rate_bp, line.split.net, line.split.tax, line.split.gross)
    for key in ADDRESS_KEYS:
        setattr(order, f"ship_{key}", plan.address[key])
    order.customer_phone = plan.phone
    order.subtotal_minor, order.total_minor, order.tax_minor = plan.subtotal, plan.total, plan.tax
    order.shipping_minor, order.shipping_tax_minor, order.shipping_tax_rate_bp = (
        plan.shipping.gross, plan.shipping.tax, plan.shipping.rate_bp)
    order.version += 1


def _settle_money(order: Order, effect: Effect, *, reason: str, reference: str, actor: str, tx) -> None:
    """Refund what was paid beyond the new total, or ask for what is now due."""
    if effect.refund_minor:
        refunds.refund_edit_difference(order, effect.refund_minor, reason=reason[:500], reference=reference,
                                       actor=actor, tx=tx)
    payments.refresh_paid(order, actor=actor, tx=tx)
    if effect.due_minor <= 0 or effect.total_after <= effect.total_before:
        return
    if order.status == order_states.PAID:
        change(order, order_states.CONFIRMED, actor=actor, tx=tx,
               reason=f"Order changed: {format_amount(effect.due_minor, order.currency)} to pay.")
    if order.tracking_code and not order.pays_on_delivery:
        key = f"{notifications.status_email_key(order, BALANCE_DUE)}-{order.version}"
        outbox.enqueue_once(notifications.EMAIL_KIND, {"status": BALANCE_DUE, "amount_minor": effect.due_minor},
                            key=key, order_id=order.id)


def version_of(order_id: int) -> int:
    """The version an edit form is made from."""
    return fetch(Order, order_id, "order").version
