"""What a document prints, taken from the order when it is issued (the snapshot
services.documents stores): the parties, the lines with their tax split as the
order stored them, totals and the breakdown per rate, payment terms. Every figure
comes from the one rounding rule of oms_core/taxes.py."""
from __future__ import annotations

from datetime import timedelta

from .. import limits, runtime, shop, taxes
from ..errors import ValidationError
from ..i18n import N_
from ..models import Order, OrderLine
from ..models._base import utcnow


def parties(order: Order) -> dict:
    return {"billing": order.billing_address, "shipping": order.shipping_address,
            "customer": {"name": order.customer_name, "email": order.customer.email}}


def _line_split(line: OrderLine) -> taxes.Split:
    return taxes.Split(net=line.net_minor, tax=line.tax_minor, gross=line.gross_minor, rate_bp=line.tax_rate_bp)


def _shipping_split(order: Order) -> taxes.Split:
    return taxes.Split(net=order.shipping_minor - order.shipping_tax_minor, tax=order.shipping_tax_minor,
                       gross=order.shipping_minor, rate_bp=order.shipping_tax_rate_bp)


def _line_row(name: str, sku: str, quantity: int | None, part: taxes.Split, unit: int | None = None) -> dict:
    """One printed line; `unit` is the catalogue price per unit, as typed (with or
    without tax, as the order says)."""
    return {"name": name, "sku": sku, "quantity": quantity, "unit": unit, "rate_bp": part.rate_bp,
            "net": part.net, "tax": part.tax, "gross": part.gross}


def _summed(currency: str, rows: list[dict]) -> dict:
    """Lines with their totals and the breakdown per rate, all from the same splits."""
    splits = [taxes.Split(net=r["net"], tax=r["tax"], gross=r["gross"], rate_bp=r["rate_bp"]) for r in rows]
    return {"currency": currency, "lines": rows,
            "totals": {"net": sum(s.net for s in splits), "tax": sum(s.tax for s in splits),
                       "gross": sum(s.gross for s in splits)},
            "breakdown": [{"rate_bp": b.rate_bp, "net": b.net, "tax": b.tax, "gross": b.gross}
                          for b in taxes.breakdown(splits)]}


def taxed(order: Order) -> dict:
    """The order's lines and shipping as stored when it was placed."""
    rows = [_line_row(line.name, line.sku, line.quantity, _line_split(line), line.unit_price_minor)
            for line in order.lines]
    if order.shipping_minor:
        rows.append(_line_row(N_("Shipping"), "", None, _shipping_split(order)))
    return _summed(order.currency, rows)


def credited(order: Order, amount_minor: int, lines: list[tuple[int, int]], shipping_minor: int) -> dict:
    """A credit note's rows and totals: the lines and shipping credited, and any rest
    of the amount shared over the order's rates."""
    rows = _credited_lines(order, lines)
    if shipping_minor:
        shipping = _shipping_split(order)
        part = shipping if shipping_minor == shipping.gross else taxes.split(
            shipping_minor, shipping.rate_bp, includes_tax=True)
        rows.append(_line_row(N_("Shipping"), "", None, part))
    rest = amount_minor - sum(row["gross"] for row in rows)
    if rest < 0:
        raise ValidationError("The refunded amount is less than the refunded lines are worth.")
    if rest:
        rows += [_line_row("Amount refunded", "", None, part) for part in taxes.spread(rest, _gross_by_rate(order))]
    return _summed(order.currency, rows)


def _gross_by_rate(order: Order) -> dict[int, int]:
    sums: dict[int, int] = {}
    for part in [_line_split(line) for line in order.lines] + [_shipping_split(order)]:
        sums[part.rate_bp] = sums.get(part.rate_bp, 0) + part.gross
    return sums


def _credited_lines(order: Order, lines: list[tuple[int, int]]) -> list[dict]:
    by_id = {line.id: line for line in order.lines}
    wanted: dict[int, int] = {}
    for line_id, quantity in lines:
        if line_id not in by_id:
            raise ValidationError(f"Order {order.number} has no line {line_id}.")
        limits.check_whole(quantity, "A quantity credited", minimum=1, maximum=limits.MAX_ORDER_QUANTITY)
        wanted[line_id] = wanted.get(line_id, 0) + quantity
    rows = []
    for line_id, quantity in wanted.items():
        line = by_id[line_id]
        part = taxes.part_of(_line_split(line), quantity, line.quantity)
        rows.append(_line_row(line.name, line.sku, quantity, part, line.unit_price_minor))
    return rows


def payment_terms(order: Order) -> dict:
    """What is paid and what is due, and by when for an order paid by transfer later."""
    gateway = runtime.registry().gateways.get(order.payment_method)
    due = max(order.balance_minor, 0)
    terms = {"method": gateway.label if gateway else order.payment_method, "paid_minor": order.paid_minor,
             "due_minor": 0 if order.pays_on_delivery else due, "due_date": ""}
    if terms["due_minor"]:
        terms["due_date"] = (utcnow() + timedelta(days=shop.details().payment_terms_days)).isoformat()
    return terms
