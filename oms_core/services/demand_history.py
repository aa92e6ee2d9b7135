"""Reading demand from the order history: units per product per period.

What counts as demand: the units of every order that was confirmed (its stock was
reserved), dated when the order was placed. Orders still waiting for confirmation
are not demand yet; cancelled orders are not demand at all, whenever they were
cancelled. Returns are not subtracted: the customer's demand happened, and
returned units come back through the stock ledger when they are restocked, so
netting them here as well would count them twice.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import func, literal_column, select

from ..db import db
from ..forecasting import periods
from ..forecasting.demand import DemandHistory, from_units
from ..models import Order, OrderLine, Product
from ..order_states import CANCELLED, PLACED

NOT_DEMAND = (PLACED, CANCELLED)


def _period_of(column, frequency: str, dialect: str):
    """SQL for the first day of the column's period (UTC), as text on SQLite, a date on PostgreSQL."""
    if dialect == "sqlite":
        if frequency == "week":  # to the coming Sunday (or today), then back to its Monday
            return func.date(column, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-01", column)
    unit = literal_column("'week'" if frequency == "week" else "'month'")
    return func.date_trunc(unit, func.timezone("UTC", column)).cast(db.Date)


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def read(frequency: str = "week", *, as_of: datetime | None = None,
         product_ids: list[int] | None = None) -> DemandHistory:
    """Demand of every active product (or of `product_ids`) up to the last complete period."""
    periods.check_frequency(frequency)
    today = (as_of or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    next_period = periods.period_start(today, frequency)
    cutoff = datetime.combine(next_period, time.min, tzinfo=timezone.utc)
    period = _period_of(Order.created_at, frequency, db.session.get_bind().dialect.name).label("period")
    query = (
        select(OrderLine.product_id, period, func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.status.not_in(NOT_DEMAND), Order.created_at < cutoff, Product.active.is_(True),
               OrderLine.service == "")  # goods only: an assembly line is not a unit sold
        .group_by(OrderLine.product_id, period)
    )
    if product_ids is not None:
        query = query.where(OrderLine.product_id.in_(product_ids))
    units: dict[int, dict[date, float]] = {}
    for product_id, start, quantity in db.session.execute(query):
        units.setdefault(product_id, {})[_as_date(start)] = float(quantity)
    return from_units(units, frequency=frequency, next_period=next_period)
