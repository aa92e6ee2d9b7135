"""What the forecast page of one product shows: its demand history, the latest
forecast with its interval, how the forecast was made, and the back-test figures."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from sqlalchemy import select

from ..db import db
from ..forecasting import fallback, periods
from ..forecasting.replenishment import Plan
from ..models import ForecastRun, ForecastSeries, Product
from . import catalog, demand_history, forecast_runs, replenishment
from .forecast_runs import BASELINE, forecaster_label


@dataclass
class ScoreRow:
    """One forecaster's back-test figures: on this product and over the whole shop."""

    forecaster_id: str
    label: str
    product: dict | None  # {"mase", "wape", "bias", "coverage"}; None if not scored on it
    shop: dict | None
    baseline: bool
    chosen: bool  # the back-test's best, which an "auto" forecast uses


@dataclass
class ProductForecast:
    product: Product
    today: date
    frequency: str
    level: float  # of the run's intervals (the configured level before any run)
    min_history: int  # periods of sales a product needs for a model instead of the fallback
    # The current, incomplete period: the history ends just before it.
    current_period: date
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
    def season_length(self) -> int:
        return periods.SEASON_LENGTH[self.frequency]

    @property
    def short_history(self) -> bool:
        """Less than a season: the forecast cannot know this product's seasons yet."""
        return len(self.history) < self.season_length

    @property
    def uses_fallback(self) -> bool:
        return self.series is not None and self.series.method == fallback.METHOD

    def recent_history(self, seasons: int = 2) -> tuple[list[date], list[float]]:
        """The last `seasons` seasons of the history (all of it if shorter), for the chart."""
        keep = seasons * self.season_length
        return self.history_starts[-keep:], self.history[-keep:]

    def score_rows(self) -> list[ScoreRow]:
        """The back-test's forecasters, the baseline first."""
        ids = sorted(set(self.shop_scores) | set(self.product_scores), key=lambda f: (f != BASELINE, f))
        chosen = self.backtest.forecaster_id if self.backtest is not None else None
        return [ScoreRow(forecaster_id=fid, label=forecaster_label(fid), product=self.product_scores.get(fid),
                         shop=self.shop_scores.get(fid), baseline=fid == BASELINE, chosen=fid == chosen)
                for fid in ids]


def _series_of(run: ForecastRun | None, product_id: int) -> ForecastSeries | None:
    if run is None:
        return None
    return db.session.scalars(select(ForecastSeries).where(
        ForecastSeries.run_id == run.id, ForecastSeries.product_id == product_id)).first()


def for_product(product_id: int, today: date | None = None) -> ProductForecast:
    product = catalog.get_product(product_id)
    today = today or datetime.now(timezone.utc).date()
    conf = forecast_runs.settings()
    run = forecast_runs.latest("forecast")
    frequency = run.frequency if run else conf["frequency"]
    history = demand_history.read(frequency, as_of=datetime.combine(today, time.min, tzinfo=timezone.utc),
                                  product_ids=[product_id])
    values = history.series.get(product_id, [])
    view = ProductForecast(product=product, today=today, frequency=frequency,
                           level=run.level if run else conf["level"], min_history=conf["min_history"],
                           current_period=history.next_period, history=values,
                           history_starts=history.period_starts(product_id), run=run)
    view.series = _series_of(run, product_id)
    if view.series is not None:
        view.forecast_starts = periods.starts(run.first_period, len(view.series.point), run.frequency)
        view.plan = replenishment.plan_for(product, run, view.series, today)
    view.backtest = forecast_runs.latest("backtest")
    if view.backtest is not None:
        tested = _series_of(view.backtest, product_id)
        view.product_scores = tested.scores if tested else {}
        view.shop_scores = view.backtest.summary.get("scores", {})
    return view


def month_starts(first: date, last: date) -> list[date]:
    """The first days of the months within [first, last], for a chart's time axis."""
    month = periods.period_start(first, "month")
    if month < first:
        month = periods.shift(month, 1, "month")
    if month > last:
        return []
    return periods.starts(month, periods.count_between(month, last, "month") + 1, "month")
