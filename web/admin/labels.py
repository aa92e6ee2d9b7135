"""Staff print parcels: a parcel's label as the carrier sold it, its label followed
by its packing slip in one PDF, and one PDF for many orders picked in the list."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from oms_core import limits
from oms_core.errors import ValidationError
from oms_core.services import labels

from ..pdf_response import attachment
from . import blueprint


@blueprint.route("/orders/<int:order_id>/shipments/<int:shipment_id>/label")
def shipment_label(order_id: int, shipment_id: int):
    return attachment(*labels.label(order_id, shipment_id))


@blueprint.route("/orders/<int:order_id>/shipments/<int:shipment_id>/parcel.pdf")
def shipment_parcel_pdf(order_id: int, shipment_id: int):
    pdf, filename = labels.parcel_pdf(order_id, shipment_id)
    return attachment(pdf, "application/pdf", filename)


@blueprint.route("/orders/labels.pdf", methods=["POST"])
def orders_labels_pdf():
    """The orders ticked in the list: their parcels' labels and packing slips."""
    try:
        order_ids = [limits.parse_id(raw) for raw in request.form.getlist("order_id")[:labels.MAX_BATCH_ORDERS + 1]]
        if None in order_ids:
            raise ValidationError("Pick orders from the list.")
        pdf = labels.batch_pdf(order_ids)
    except ValidationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("oms_admin.orders"))
    return attachment(pdf, "application/pdf", "labels-and-packing-slips.pdf")
