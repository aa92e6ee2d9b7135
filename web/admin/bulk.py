"""Bulk actions on the orders ticked in the list: one POST per action, one service
call (services.bulk.run). An htmx request gets the results panel (what succeeded,
what was refused and why; a download button for a PDF or CSV); a plain post gets
the file, or a flash and the list again."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from oms_core import limits
from oms_core.errors import ValidationError
from oms_core.services import bulk

from . import blueprint
from .access import actor
from ..pdf_response import attachment
from .responses import wants_fragment

PANEL = "oms/admin/orders/_bulk_results.html"


def picked_ids(form) -> list[int]:
    """The ticked order ids; one more than the bound is read, so too many is refused."""
    raw = form.getlist("order_id")[:limits.MAX_BULK_ORDERS + 1]
    ids = [limits.parse_id(value) for value in raw]
    if None in ids:
        raise ValidationError("Pick orders from the list.")
    return ids


@blueprint.route("/orders/bulk/<action>", methods=["POST"])
def orders_bulk(action: str):
    if action not in bulk.ACTIONS:
        abort(404)
    try:
        report, error = bulk.run(action, picked_ids(request.form), actor=actor()), None
    except ValidationError as exc:
        report, error = None, str(exc)
    if wants_fragment():
        return render_template(PANEL, report=report, error=error, action=action, actions=bulk.ACTIONS)
    if report is not None and report.data is not None:
        return attachment(report.data, report.media_type, report.filename)
    if error or not report.succeeded:
        flash(error or "; ".join(f"{o.number or o.order_id}: {o.message}" for o in report.refused[:5]), "error")
    else:
        flash(f"{bulk.ACTIONS[action]}: {len(report.succeeded)} succeeded, {len(report.refused)} refused.", "info")
    return redirect(url_for("oms_admin.orders"))
