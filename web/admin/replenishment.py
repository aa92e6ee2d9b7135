"""The replenishment page: what to reorder now, most urgent first, from the latest
forecast run; the purchase list as CSV; and (owners) a forecast run on demand."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import make_response, render_template, request, url_for

from oms_core import runtime
from oms_core.errors import DomainError
from oms_core.forecasting import runs
from oms_core.services import forecasts, replenishment

from . import blueprint
from .access import owner_required
from .responses import action_result, vary_on_htmx, wants_fragment

BODY = "oms/admin/replenishment/_body.html"


def _show_all(source) -> bool:
    return source.get("show") == "all"


def page_context(show_all: bool) -> dict:
    today = datetime.now(timezone.utc).date()
    run = runs.latest("forecast")
    rows = replenishment.rows(today, run=run)
    to_order = [row for row in rows if row.plan and row.plan.needs_reorder]
    return dict(run=run, run_label=forecasts.forecaster_label(run.forecaster_id) if run else "",
                stale=replenishment.is_stale(run), every_hours=runtime.setting("FORECAST_EVERY_HOURS"),
                rows=rows if show_all else to_order, show_all=show_all, total=len(rows),
                to_order=len(to_order), today=today)


@blueprint.route("/replenishment")
def replenishment_page():
    template = BODY if wants_fragment() else "oms/admin/replenishment/page.html"
    context = dict(page_context(_show_all(request.args)), message=None, error=None)
    return vary_on_htmx(make_response(render_template(template, **context)))


@blueprint.route("/replenishment.csv")
def replenishment_csv():
    today = datetime.now(timezone.utc).date()
    response = make_response(replenishment.purchase_list_csv(replenishment.rows(today)))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="purchase-list-{today.isoformat()}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/replenishment/forecast", methods=["POST"])
@owner_required
def replenishment_forecast():
    """Runs the forecast in the request: seconds for a small shop; the worker does it on a schedule."""
    show_all = _show_all(request.form)
    try:
        run = runs.run_forecast()
        took = f"{run.seconds:.1f} s" if run.seconds >= 0.1 else "under 0.1 s"
        message = (f"Forecast #{run.id} made with {forecasts.forecaster_label(run.forecaster_id)} "
                   f"for {run.series_count} products in {took}.")
        error = None
    except DomainError as exc:
        message, error = None, f"No forecast was made: {exc}"
    back = url_for("oms_admin.replenishment_page", show="all" if show_all else None)
    return action_result(fragment=BODY, context=page_context(show_all) if wants_fragment() else {},
                         redirect_to=back, message=message, error=error)
