"""What the forecast page of one product shows: its demand history, the latest
forecast with its interval, how the forecast was made, and the back-test figures."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import select

from .. import runtime
from ..db import db
from ..errors import NotFound
from ..forecasting import demand, fallback, periods, runs
from ..forecasting.replenishment import Plan
from ..models import ForecastRun, ForecastSeries, Product
from . import replenishment


@dataclass
class ProductForecast:
    product: Product
    frequency: str
    history_starts: list[date]
    history: list[float]
    run: ForecastRun | None = None
    series: ForecastSeries | None = None
    forecast_starts: list[date] = field(default_factory=list)
    plan: Plan | None = None
    backtest: ForecastRun | None = None
    # Back-test scores of this product and of the whole shop, per forecaster id.
    product_scores: dict = field(default_factory=dict)
    shop_scores: dict = field(default_factory=dict)

    @property
    def method_label(self) -> str:
        if self.series is None:
            return "No forecast yet" if self.history else "No sales yet: nothing to forecast"
        return forecaster_label(self.series.method)

    @property
    def short_history(self) -> bool:
        """Less than a season: the forecast cannot know this product's seasons yet."""
        return len(self.history) < periods.SEASON_LENGTH[self.frequency]


def forecaster_label(method: str) -> str:
    if method == fallback.METHOD:
        return fallback.LABEL
    forecaster = runtime.registry().forecasters.get(method)
    return forecaster.label if forecaster else f"{method} (no longer installed)"


def _series_of(run: ForecastRun | None, product_id: int) -> ForecastSeries | None:
    if run is None:
        return None
    return db.session.scalars(select(ForecastSeries).where(
        ForecastSeries.run_id == run.id, ForecastSeries.product_id == product_id)).first()


def for_product(product_id: int, today: date | None = None) -> ProductForecast:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product {product_id}.")
    today = today or datetime.now(timezone.utc).date()
    run = runs.latest("forecast")
    frequency = run.frequency if run else runs.settings()["frequency"]
    history = demand.build(frequency, product_ids=[product_id])
    values = history.series.get(product_id, [])
    view = ProductForecast(product=product, frequency=frequency, history=values,
                           history_starts=history.period_starts(product_id), run=run)
    view.series = _series_of(run, product_id)
    if view.series is not None:
        view.forecast_starts = periods.starts(run.first_period, len(view.series.point), run.frequency)
        view.plan = replenishment.plan_for(product, run, view.series, today)
    view.backtest = runs.latest("backtest")
    if view.backtest is not None:
        tested = _series_of(view.backtest, product_id)
        view.product_scores = tested.scores if tested else {}
        view.shop_scores = view.backtest.summary.get("scores", {})
    return view
