"""The order page's "Edit order" form: its fields turned into the service's
OrderEdit, saving it, and the preview of what saving would do
(services.order_edits). A field the form does not send leaves that part as it is."""
from __future__ import annotations

from flask import render_template, request

from oms_core import limits, money
from oms_core.errors import DomainError
from oms_core.services import order_edits
from oms_core.services import orders as order_service
from oms_core.services.order_edits import ADDRESS_KEYS, OrderEdit

from . import blueprint, formatting, forms
from .access import actor
from .order_actions import run_action

MAX_ADDED = 20  # lines added in one edit


def edit_request(form, order) -> OrderEdit:
    """The edit the form asks for, bounded at the edge; ValidationError otherwise."""
    quantities = {}
    for line in order.lines:
        field = f"qty-{line.id}"
        if field in form:
            quantities[line.id] = forms.whole_number(form.get(field), f"Quantity of {line.sku}",
                                                     maximum=limits.MAX_ORDER_QUANTITY)
    added = []
    skus, typed = form.getlist("add_sku")[:MAX_ADDED], form.getlist("add_quantity")[:MAX_ADDED]
    for sku, quantity in zip(skus, typed + [""] * (len(skus) - len(typed))):
        if sku.strip():
            added.append((sku.strip(), forms.whole_number(quantity or "1", f"Quantity of {sku.strip()[:64]}",
                                                          minimum=1, maximum=limits.MAX_ORDER_QUANTITY)))
    address = None
    if any(f"ship_{key}" in form for key in ADDRESS_KEYS):
        address = {key: forms.text(form, f"ship_{key}") for key in ADDRESS_KEYS}
    shipping = forms.text(form, "shipping")
    return OrderEdit(
        version=forms.whole_number(form.get("version"), "The form's version", maximum=limits.MAX_ID),
        quantities=quantities, added=added, address=address,
        phone=forms.text(form, "phone") if "phone" in form else None,
        shipping_minor=money.parse_amount(shipping, order.currency) if shipping else None,
        reason=forms.text(form, "reason"), refund_reference=forms.text(form, "refund_reference"))


@blueprint.route("/orders/<int:order_id>/edit", methods=["POST"])
def order_edit(order_id: int):
    def save():
        order = order_service.get_order(order_id)
        effect = order_edits.edit_order(order_id, edit_request(request.form, order), actor=actor())
        money_part = ""
        if effect.refund_minor:
            money_part = f" {formatting.amount(effect.refund_minor, effect.currency)} refunded."
        elif effect.due_minor and effect.total_after > effect.total_before:
            money_part = f" {formatting.amount(effect.due_minor, effect.currency)} asked of the customer."
        return (f"Order {order.number} changed: {effect.summary}. New total "
                f"{formatting.amount(effect.total_after, effect.currency)}.{money_part}")
    return run_action(order_id, save)


@blueprint.route("/orders/<int:order_id>/edit/preview", methods=["POST"])
def order_edit_preview(order_id: int):
    """What saving the form as it stands would do (the form swaps it in as staff type)."""
    order = order_service.get_order(order_id)
    try:
        effect, error = order_edits.preview(order_id, edit_request(request.form, order)), None
    except DomainError as exc:
        effect, error = None, str(exc)
    return render_template("oms/admin/orders/_edit_effect.html", effect=effect, error=error)
