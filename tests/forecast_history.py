"""Order history for forecast pages: weekly sales of a few products, ending with the
last complete week before today (the pages forecast from the real date)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import update

from oms_core.db import db
from oms_core.forecasting import periods
from oms_core.models import Order

# The scikit-learn plugin, when installed, is left out: these tests are about the pages,
# and the baseline alone makes them fast and their forecasts known.
FORECAST_CONFIG = {"OMS_DISABLED_PLUGINS": ["sklearn_global"]}


def seasonal(weeks: int, *, base: int = 3, peak: int = 9) -> list[int]:
    """Weekly units with a busy stretch every 52 weeks (oldest first)."""
    return [peak if n % 52 in range(40, 48) else base + n % 3 for n in range(weeks)]


def sell_weekly(place, units_by_sku: dict[str, list[int]]) -> None:
    """Confirmed orders, one a week, such that each SKU sold units[i] in the i-th of its
    last len(units) complete weeks (oldest first). The products need the stock."""
    this_week = periods.period_start(datetime.now(timezone.utc).date(), "week")
    for back in range(max(map(len, units_by_sku.values())), 0, -1):
        lines = [(sku, units[-back]) for sku, units in units_by_sku.items()
                 if back <= len(units) and units[-back]]
        if not lines:
            continue
        order = place(lines, confirm=True)
        wednesday = this_week - timedelta(weeks=back) + timedelta(days=2)
        db.session.execute(update(Order).where(Order.id == order.id).values(
            created_at=datetime.combine(wednesday, time(12), tzinfo=timezone.utc)))
    db.session.commit()
