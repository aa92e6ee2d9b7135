"""What to reorder now: the latest forecast run against today's stock, per product.

Computed on read, not stored: stock changes with every order, the forecast once a
day, and a few thousand products take milliseconds.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import select

from .. import runtime
from ..db import db, write_transaction
from ..errors import ValidationError
from ..forecasting import fallback
from ..forecasting.replenishment import ForecastPath, Plan, plan
from ..models import ForecastRun, ForecastSeries, Product
from . import catalog, forecast_runs, forecast_schedule

log = logging.getLogger(__name__)
MAX_LEAD_TIME_DAYS = 365
SERVICE_LEVEL_RANGE = (0.5, 0.999)


@dataclass
class Row:
    product: Product
    forecast: ForecastSeries | None
    plan: Plan | None

    @property
    def note(self) -> str:
        if self.forecast is None:
            return "no sales before the last forecast"
        if self.forecast.method == fallback.METHOD:
            return "little history: average of sales so far"
        return ""


@dataclass(frozen=True)
class ShopDefaults:
    """What a product without its own settings uses (REPLENISH_* config)."""

    lead_time_days: int
    service_level: float


def shop_defaults() -> ShopDefaults:
    return ShopDefaults(lead_time_days=int(runtime.setting("REPLENISH_LEAD_TIME_DAYS")),
                        service_level=float(runtime.setting("REPLENISH_SERVICE_LEVEL")))


def lead_time_days(product: Product) -> int:
    return product.lead_time_days if product.lead_time_days is not None else shop_defaults().lead_time_days


def service_level(product: Product) -> float:
    return product.service_level if product.service_level is not None else shop_defaults().service_level


def set_replenishment_settings(product_id: int, *, lead_time_days: int | None,
                               service_level: float | None, actor: str) -> Product:
    """A product's own lead time (days) and service level (a fraction, e.g. 0.95);
    None for either means the shop's default."""
    if lead_time_days is not None and not 0 <= lead_time_days <= MAX_LEAD_TIME_DAYS:
        raise ValidationError(f"Lead time must be between 0 and {MAX_LEAD_TIME_DAYS} days, "
                              f"not {lead_time_days}.")
    low, high = SERVICE_LEVEL_RANGE
    if service_level is not None and not low <= service_level <= high:
        raise ValidationError(f"Service level must be between {low:.0%} and {high:.1%}, "
                              f"not {service_level * 100:g}%.")
    with write_transaction():
        product = catalog.get_product(product_id)
        product.lead_time_days, product.service_level = lead_time_days, service_level
    log.info("%s set the replenishment settings of %s: lead time %s days, service level %s",
             actor, product.sku, lead_time_days, service_level)
    return product


def path_of(run: ForecastRun, series: ForecastSeries) -> ForecastPath:
    return ForecastPath(first_period=run.first_period, frequency=run.frequency, point=series.point,
                        lower=series.lower, upper=series.upper, level=run.level)


def plan_for(product: Product, run: ForecastRun, series: ForecastSeries, today: date) -> Plan:
    return plan(path_of(run, series), available=product.available, lead_time_days=lead_time_days(product),
                service_level=service_level(product),
                review_days=int(runtime.setting("REPLENISH_REVIEW_DAYS")), today=today)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _urgency(row: Row):
    p = row.plan
    if p is None:
        return (3, date.max, row.product.sku)
    return (0 if p.needs_reorder else 1 if p.stockout_date else 2,
            p.order_by or date.max, p.stockout_date or date.max, row.product.sku)


def _forecasts(run: ForecastRun | None) -> list[tuple[Product, ForecastSeries | None]]:
    """Every active product with its series in `run` (None when it has none)."""
    products = list(db.session.scalars(select(Product).where(Product.active.is_(True))))
    by_product = {}
    if run is not None:
        by_product = {s.product_id: s for s in db.session.scalars(
            select(ForecastSeries).where(ForecastSeries.run_id == run.id))}
    return [(product, by_product.get(product.id)) for product in products]


def rows(today: date | None = None, *, run: ForecastRun | None = None) -> list[Row]:
    """Every active product with its plan, most urgent first: those to reorder, by the
    last day to order; then the others by stock-out date; products without a forecast last."""
    today = today or _today()
    run = run or forecast_runs.latest("forecast")
    result = [Row(product=product, forecast=series,
                  plan=plan_for(product, run, series, today) if series else None)
              for product, series in _forecasts(run)]
    return sorted(result, key=_urgency)


def expected_stockouts(today: date | None = None) -> list[Row]:
    """Products expected to run out before an order placed today could arrive.

    The dashboard asks on every load, so only products whose expected demand up to
    the end of their lead time reaches their stock (a unit of slack for rounding)
    get a whole plan; the others cannot run out that soon.
    """
    today = today or _today()
    run = forecast_runs.latest("forecast")
    result = []
    for product, series in _forecasts(run):
        if series is None:
            continue
        demand, _ = path_of(run, series).demand(today, lead_time_days(product) + 1)
        if demand < product.available - 1:
            continue
        row = Row(product=product, forecast=series, plan=plan_for(product, run, series, today))
        if row.plan.order_by is not None and row.plan.order_by <= today:
            result.append(row)
    return sorted(result, key=_urgency)


@dataclass
class ReplenishmentPage:
    """Everything the replenishment page shows."""

    today: date
    run: ForecastRun | None
    run_label: str  # the forecaster that made `run`
    stale: bool  # no run, or older than the worker's schedule allows
    every_hours: float  # the worker's FORECAST_EVERY_HOURS
    show_all: bool
    rows: list[Row]  # all active products, or those to reorder; most urgent first
    total: int  # active products
    to_order: int  # products to reorder now


def page(*, show_all: bool = False, today: date | None = None) -> ReplenishmentPage:
    today = today or _today()
    run = forecast_runs.latest("forecast")
    every = rows(today, run=run)
    reorder = [row for row in every if row.plan and row.plan.needs_reorder]
    return ReplenishmentPage(
        today=today, run=run, run_label=forecast_runs.forecaster_label(run.forecaster_id) if run else "",
        stale=forecast_schedule.is_stale(run), every_hours=forecast_schedule.schedule_hours(),
        show_all=show_all, rows=every if show_all else reorder, total=len(every), to_order=len(reorder))


CSV_HEADER = ["sku", "name", "quantity", "available", "reorder_point", "lead_time_days",
              "stockout_date", "order_by"]


@dataclass(frozen=True)
class PurchaseList:
    day: date
    csv: str


def purchase_list(today: date | None = None) -> PurchaseList:
    """The products to reorder now with their suggested quantities, most urgent first,
    as CSV for a supplier or a spreadsheet."""
    today = today or _today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows(today):
        p = row.plan
        if p is None or not p.needs_reorder:
            continue
        writer.writerow([_safe_cell(row.product.sku), _safe_cell(row.product.name), p.suggested_quantity,
                         p.available, round(p.reorder_point, 1), p.lead_time_days,
                         p.stockout_date.isoformat() if p.stockout_date else "",
                         p.order_by.isoformat() if p.order_by else ""])
    return PurchaseList(day=today, csv=out.getvalue())


def _safe_cell(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: quote them as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
