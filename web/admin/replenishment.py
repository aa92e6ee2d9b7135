"""The replenishment page: what to reorder now, most urgent first, from the latest
forecast run; the purchase list as CSV; and (owners) a forecast run on demand."""
from __future__ import annotations

from flask import make_response, render_template, request, url_for

from oms_core.errors import DomainError
from oms_core.services import forecast_runs, replenishment

from . import blueprint
from .access import owner_required
from .responses import action_result, vary_on_htmx, wants_fragment

BODY = "oms/admin/replenishment/_body.html"


def _show_all(source) -> bool:
    return source.get("show") == "all"


@blueprint.route("/replenishment")
def replenishment_page():
    template = BODY if wants_fragment() else "oms/admin/replenishment/page.html"
    view = replenishment.page(show_all=_show_all(request.args))
    return vary_on_htmx(make_response(render_template(template, view=view, message=None, error=None)))


@blueprint.route("/replenishment.csv")
def replenishment_csv():
    purchases = replenishment.purchase_list()
    response = make_response(purchases.csv)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    filename = f"purchase-list-{purchases.day.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/replenishment/forecast", methods=["POST"])
@owner_required
def replenishment_forecast():
    """Runs the forecast in the request: seconds for a small shop; the worker does it on a schedule."""
    show_all = _show_all(request.form)
    try:
        run = forecast_runs.run_forecast()
        took = f"{run.seconds:.1f} s" if run.seconds >= 0.1 else "under 0.1 s"
        message = (f"Forecast #{run.id} made with {forecast_runs.forecaster_label(run.forecaster_id)} "
                   f"for {run.series_count} products in {took}.")
        error = None
    except DomainError as exc:
        message, error = None, f"No forecast was made: {exc}"
    back = url_for("oms_admin.replenishment_page", show="all" if show_all else None)
    context = {"view": replenishment.page(show_all=show_all)} if wants_fragment() else {}
    return action_result(fragment=BODY, context=context, redirect_to=back, message=message, error=error)
