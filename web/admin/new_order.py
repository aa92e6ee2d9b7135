"""Enter an order by hand (phone or in-shop). Bad input shows the form again with
the error and everything typed kept; nothing is saved."""
from __future__ import annotations

from flask import flash, redirect, render_template, request

from oms_core import runtime
from oms_core.errors import DomainError, ValidationError
from oms_core.plugins import GATEWAY
from oms_core.services import catalog
from oms_core.services.orders import ADDRESS_FIELDS, NewOrder, place_order, staff_channels

from . import blueprint, forms
from .access import actor
from .orders import order_url

START_LINES = 5
MAX_LINES = 50


def _form_lines(form) -> list[tuple[str, str]]:
    skus, quantities = form.getlist("sku"), form.getlist("quantity")
    return list(zip(skus, quantities + [""] * (len(skus) - len(quantities))))


def _render(*, values=None, lines=None, error=None, status=200):
    lines = lines or [("", "1")] * START_LINES
    return render_template(
        "oms/admin/orders/new.html", values=values or {}, lines=lines[:MAX_LINES], error=error,
        products=catalog.products_on_sale(), channels=staff_channels(), address_labels=ADDRESS_FIELDS,
        gateways=runtime.registry().usable(GATEWAY),
        currency=runtime.setting("DEFAULT_CURRENCY"), max_lines=MAX_LINES), status


def _new_order(form) -> tuple[NewOrder, bool]:
    channel = forms.text(form, "channel")
    offered = dict(staff_channels())
    if channel not in offered:
        raise ValidationError(f"Unknown channel: pick {' or '.join(offered.values()).lower()}.")
    lines = []
    for sku, quantity in _form_lines(form):
        if sku.strip():
            lines.append((sku.strip(), forms.whole_number(quantity, f"Quantity of {sku}")))
    shipping = forms.text(form, "shipping")
    new = NewOrder(
        email=forms.text(form, "email"), name=forms.text(form, "name"), phone=forms.text(form, "phone"),
        address={field: forms.text(form, field) for field in ADDRESS_FIELDS},
        billing={field: forms.text(form, f"bill_{field}") for field in ("name", *ADDRESS_FIELDS)},
        channel=channel, payment_method=forms.text(form, "payment_method"),
        lines=lines, note=forms.text(form, "note"),
        assembly=[sku.strip()[:64] for sku in form.getlist("assembly")[:MAX_LINES]],
        shipping_minor=forms.amount(shipping, runtime.setting("DEFAULT_CURRENCY"), "Shipping")
        if shipping else 0)
    return new, forms.checkbox(form, "confirm")


@blueprint.route("/orders/new", methods=["GET", "POST"])
def new_order():
    if request.method == "GET":
        return _render()
    form = request.form
    lines = _form_lines(form)
    if "add_line" in form:  # the no-JavaScript way to get one more line
        return _render(values=form, lines=lines + [("", "1")])
    try:
        new, confirm = _new_order(form)
        order = place_order(new, actor=actor(), confirm=confirm)
    except DomainError as exc:
        return _render(values=form, lines=lines, error=str(exc), status=400)
    flash(f"Order {order.number} placed" + (" and confirmed." if order.status == "confirmed" else "."),
          "info")
    return redirect(order_url(order.id))


@blueprint.route("/orders/new/line")
def new_order_line():
    """One more empty line for the form (htmx appends it)."""
    return render_template("oms/admin/orders/_new_line.html", sku="", quantity="1",
                           products=catalog.products_on_sale())
