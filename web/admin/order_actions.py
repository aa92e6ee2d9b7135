"""Actions on one order. Each is a POST that parses the form, calls one service and
answers through `action_result`: the re-rendered order body for HTMX, a flash and
a redirect to the order page for a plain post. A DomainError (bad input, illegal
step, refused payment) changes nothing and is shown to the user."""
from __future__ import annotations

from typing import Callable

from flask import render_template, request

from oms_core import limits, runtime
from oms_core.errors import DomainError
from oms_core.services import carrier_ops, orders as order_service, payments, refunds, shipments, unpaid

from . import blueprint, formatting, forms
from .access import actor
from .orders import order_body_context, order_url
from .responses import action_result, wants_fragment

BODY = "oms/admin/orders/_body.html"


def _run(order_id: int, action: Callable[[], str]):
    """Run `action` (returns the success message); show its DomainError instead."""
    order_service.get_order(order_id)  # a missing order is a 404, not a message
    try:
        message, error = action(), None
    except DomainError as exc:
        message, error = None, str(exc)
    # On error keep what was typed, so the form can be corrected instead of retyped.
    values = request.form if error else None
    return respond(order_id, message=message, error=error, values=values)


# The edit form's own module (order_edit_form.py) answers the same way.
run_action = _run


def respond(order_id, *, message, error, values):
    """The re-rendered order body (htmx) or a flash and the order page."""
    context = order_body_context(order_id, values) if wants_fragment() else {}
    return action_result(fragment=BODY, context=context, redirect_to=order_url(order_id),
                         message=message, error=error)


@blueprint.route("/orders/<int:order_id>/confirm", methods=["POST"])
def order_confirm(order_id: int):
    def confirm():
        order = order_service.confirm_order(order_id, actor=actor())
        return f"Order {order.number} confirmed; stock reserved."
    return _run(order_id, confirm)


@blueprint.route("/orders/<int:order_id>/payments", methods=["POST"])
def order_payment(order_id: int):
    def record():
        order = order_service.get_order(order_id)
        form = request.form
        amount_minor = forms.amount(form.get("amount"), order.currency)
        payment = payments.record_payment(
            order_id, gateway_id=forms.text(form, "gateway_id"), amount_minor=amount_minor,
            currency=order.currency, reference=forms.text(form, "reference"), actor=actor())
        return f"Payment of {formatting.amount(payment.amount_minor, payment.currency)} recorded."
    return _run(order_id, record)


@blueprint.route("/orders/<int:order_id>/deadline", methods=["POST"])
def order_extend_deadline(order_id: int):
    def extend():
        hours = forms.whole_number(request.form.get("hours"), "Hours", minimum=1,
                                   maximum=unpaid.MAX_EXTEND_HOURS)
        order = unpaid.extend(order_id, hours, actor=actor())
        return f"Payment deadline of order {order.number} extended by {hours} h."
    return _run(order_id, extend)


@blueprint.route("/orders/<int:order_id>/refunds", methods=["POST"])
def order_refund(order_id: int):
    def refund():
        order = order_service.get_order(order_id)
        form = request.form
        typed = forms.text(form, "amount")
        made = refunds.refund_order(
            order_id, amount_minor=forms.amount(typed, order.currency) if typed else None,
            lines=None if typed else forms.refund_lines(form, [line.id for line in order.lines]),
            reason=forms.text(form, "reason"), reference=forms.text(form, "reference"), actor=actor())
        total = formatting.amount(sum(r.amount_minor for r in made), order.currency)
        pending = any(r.state == "pending" for r in made)
        return f"Refund of {total} " + ("sent to the payment gateway." if pending else "recorded.")
    return _run(order_id, refund)


@blueprint.route("/orders/<int:order_id>/shipments", methods=["POST"])
def order_shipment(order_id: int):
    def create():
        form = request.form
        order = order_service.get_order(order_id)
        typed_insurance = forms.text(form, "insurance")
        shipment = shipments.create_shipment(
            order_id, carrier_id=forms.text(form, "carrier_id"), service=forms.text(form, "service"),
            tracking_number=forms.text(form, "tracking_number"), actor=actor(),
            lines=forms.parcel_lines(form, [line.id for line in order.lines]),
            packaging=forms.text(form, "packaging"), ship_from=forms.text(form, "ship_from"),
            signature=forms.checkbox(form, "signature"), rate_id=forms.text(form, "rate_id"),
            insurance_minor=forms.amount(typed_insurance, order.currency, "Insured value") if typed_insurance else 0)
        if shipment.tracking_number:
            return f"Shipped with {shipment.carrier_name}, tracking number {shipment.tracking_number}."
        return f"Shipment #{shipment.id} created; booking it with {shipment.carrier_name}."
    return _run(order_id, create)


@blueprint.route("/orders/<int:order_id>/tracking", methods=["POST"])
def order_tracking(order_id: int):
    def add():
        form = request.form
        event = shipments.add_staff_update(
            order_id, forms.whole_number(form.get("shipment_id"), "Shipment", maximum=limits.MAX_ID),
            status=forms.text(form, "status"), occurred_at=forms.utc_time(form.get("occurred_at")),
            message=forms.text(form, "message"), location=forms.text(form, "location"), actor=actor())
        return "Tracking update added." if event else "That tracking update was there already."
    return _run(order_id, add)


@blueprint.route("/orders/<int:order_id>/shipments/<int:shipment_id>/cancel", methods=["POST"])
def shipment_cancel(order_id: int, shipment_id: int):
    def cancel():
        shipment = shipments.cancel_shipment(order_id, shipment_id, actor=actor())
        return f"Shipment #{shipment.id} cancelled; its booking will not be tried again."
    return _run(order_id, cancel)


@blueprint.route("/orders/<int:order_id>/shipments/<int:shipment_id>/void", methods=["POST"])
def shipment_void(order_id: int, shipment_id: int):
    def void():
        shipment = carrier_ops.void_label(order_id, shipment_id, actor=actor())
        return f"Voiding the label of shipment #{shipment.id} with {shipment.carrier_name}."
    return _run(order_id, void)


@blueprint.route("/orders/<int:order_id>/cancel", methods=["POST"])
def order_cancel(order_id: int):
    def cancel():
        order = order_service.cancel_order(order_id, actor=actor(), reason=request.form.get("reason", ""),
                                           refund_reference=forms.text(request.form, "refund_reference"))
        refunded = f" {formatting.amount(order.refunded_minor, order.currency)} refunded." \
            if order.refunded_minor else ""
        return f"Order {order.number} cancelled.{refunded}"
    return _run(order_id, cancel)


@blueprint.route("/orders/<int:order_id>/close", methods=["POST"])
def order_close(order_id: int):
    def close():
        order = order_service.close_order(order_id, actor=actor())
        return f"Order {order.number} closed."
    return _run(order_id, close)


@blueprint.route("/orders/<int:order_id>/notes", methods=["POST"])
def order_note(order_id: int):
    def note():
        order_service.add_note(order_id, request.form.get("text", ""), actor=actor())
        return "Note added."
    return _run(order_id, note)


@blueprint.route("/carrier-services")
def carrier_services():
    """The <option>s of one carrier's services (the shipment form swaps them in when
    the carrier changes)."""
    carrier = runtime.registry().carrier(request.args.get("carrier_id", ""))
    return render_template("oms/admin/orders/_service_options.html", services=carrier.services(),
                           selected="")


@blueprint.route("/orders/<int:order_id>/rates")
def order_rates(order_id: int):
    """The carrier's quotes for the parcel as the form stands (the ship form swaps
    them in); staff pick one, whose rate id goes with the purchase."""
    order = order_service.get_order(order_id)
    args = request.args
    try:
        result, error = carrier_ops.rates(
            order_id, carrier_id=forms.text(args, "carrier_id"), packaging=forms.text(args, "packaging"),
            ship_from=forms.text(args, "ship_from"),
            lines=forms.parcel_lines(args, [line.id for line in order.lines])), None
    except DomainError as exc:
        result, error = None, str(exc)
    return render_template("oms/admin/orders/_rates.html", result=result, error=error, currency=order.currency)
