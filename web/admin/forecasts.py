"""The forecast page of one product: its sales and forecast as a chart, how the
forecast was made, its reorder plan, the back-test figures and the forecast table."""
from __future__ import annotations

from flask import render_template

from oms_core.services import forecasts

from ..forecast_chart import ChartData, demand_chart
from . import blueprint

CHART_SEASONS = 2  # the chart shows this many seasons of history


def chart_of(view: forecasts.ProductForecast):
    history_starts, history = view.recent_history(CHART_SEASONS)
    series = view.series
    return demand_chart(ChartData(
        history_starts=history_starts, history=history,
        forecast_starts=view.forecast_starts, point=series.point if series else [],
        lower=series.lower if series else [], upper=series.upper if series else [],
        now=view.current_period, frequency=view.frequency, level=view.level, label=view.product.name))


@blueprint.route("/products/<int:product_id>/forecast")
def product_forecast(product_id: int):
    view = forecasts.for_product(product_id)
    return render_template("oms/admin/products/forecast.html", view=view, chart=chart_of(view))
