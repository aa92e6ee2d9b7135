"""`flask oms forecast` end to end on a shop's own database: the demo shop, and a
shop of 2,000 SKUs with 3 years of weekly history.

Times each stage of a real run (reading the demand series from the orders in SQL,
the forecaster, storing the result, the replenishment page's computation) for
every installed forecaster, and prints each forecaster's time as a ratio to
seasonal naive on the same data in the same run. Goal (issue 3): the scikit-learn
forecaster runs on the large shop in under 30 s on this machine (2 cores).

    python benchmarks/bench_forecast_shop.py [--skus 2000] [--years 3] [--postgres-url URL]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402
from synthetic_shop import make_shop  # noqa: E402

from oms_core import order_states, runtime  # noqa: E402
from oms_core.db import db  # noqa: E402
from oms_core.models import Customer, Order, OrderLine, Product  # noqa: E402
from oms_core.services import demand_history, forecast_runs, replenishment  # noqa: E402
from oms_core.testing import dispose, make_app  # noqa: E402

GOAL_SECONDS = 30.0
LINES_PER_ORDER = 4


def seed_shop(skus: int, years: int, *, seed: int = 11, batch: int = 20_000) -> int:
    """Products and orders whose lines add up to the weekly sales of bench_forecast.py's
    synthetic shop (so both benchmarks see the same shop); returns units sold."""
    rng = random.Random(seed)
    weeks = 52 * years
    sales = list(make_shop(skus=skus, years=years).history.values())  # each ends with last week
    now = datetime.now(timezone.utc)
    this_monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first_monday = this_monday - timedelta(weeks=weeks)
    session = db.session
    session.execute(insert(Product), [
        dict(sku=f"SKU-{n:05d}", name=f"Product {n}", description="", price_minor=1000, currency="EUR",
             on_hand=rng.randrange(0, 200), reserved=0, low_stock_threshold=3, active=True, created_at=now)
        for n in range(skus)])
    session.execute(insert(Customer), [dict(email="bench@example.com", name="Bench", phone="",
                                            created_at=now)])
    session.commit()
    product_ids = list(session.scalars(select(Product.id).order_by(Product.id)))
    customer_id = session.scalar(select(Customer.id))
    lines_by_week: list[list[tuple[int, int]]] = [[] for _ in range(weeks)]
    total = 0
    for product_id, units_per_week in zip(product_ids, sales):
        first_week = weeks - len(units_per_week)  # a new SKU's history starts later
        for offset, units in enumerate(units_per_week):
            if units:
                lines_by_week[first_week + offset].append((product_id, int(units)))
                total += int(units)
    order_id, orders, lines = 0, [], []

    def flush():
        session.execute(insert(Order), orders)
        session.execute(insert(OrderLine), lines)
        session.commit()
        orders.clear()
        lines.clear()

    for week, week_lines in enumerate(lines_by_week):
        rng.shuffle(week_lines)
        for start in range(0, len(week_lines), LINES_PER_ORDER):
            order_id += 1
            created = first_monday + timedelta(weeks=week, seconds=rng.randrange(7 * 86400))
            orders.append(dict(
                id=order_id, status=order_states.CLOSED, customer_id=customer_id, channel="web",
                currency="EUR", subtotal_minor=0, shipping_minor=0, total_minor=0, paid_minor=0,
                payment_method="bank_transfer", pays_on_delivery=False, payment_status="paid",
                tracking_code=None, customer_name="Bench", ship_name="Bench", ship_line1="", ship_line2="",
                ship_postal_code="",
                ship_city="", ship_country="NL", note="", created_at=created, updated_at=created,
                status_changed_at=created))
            for product_id, units in week_lines[start:start + LINES_PER_ORDER]:
                lines.append(dict(order_id=order_id, product_id=product_id, sku="SKU", name="Product",
                                  unit_price_minor=1000, quantity=units))
            if len(lines) >= batch:
                flush()
    flush()
    if db.engine.dialect.name == "postgresql":
        session.execute(db.text(f"SELECT setval(pg_get_serial_sequence('oms_order', 'id'), {order_id + 1})"))
        session.execute(db.text("ANALYZE"))
        session.commit()
    return total


def seconds(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class StageTimes:
    """A run's progress reporter that keeps how long each stage took."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._label, self._since = None, 0.0

    def stage(self, label: str, total: int) -> None:
        self._close()
        self._label, self._since = label.split()[0], time.perf_counter()

    def advance(self, steps: int = 1) -> None:
        pass

    def _close(self) -> None:
        if self._label:
            self.seconds[self._label] = self.seconds.get(self._label, 0.0) + time.perf_counter() - self._since

    def done(self) -> dict[str, float]:
        self._close()
        self._label = None
        return self.seconds


def measure(label: str) -> None:
    """Time each stage of a forecast run, per installed forecaster, on the current app's shop."""
    read_s, history = seconds(lambda: demand_history.read("week"))
    series = sum(len(values) for values in history.series.values())
    print(f"\n{label}: {len(history.series)} SKUs with sales, {series:,} weekly values; "
          f"reading them from the orders took {read_s:.2f} s")
    forecasters = sorted(runtime.registry().forecasters, key=lambda f: f != forecast_runs.BASELINE)
    baseline = None
    print(f"  {'forecaster':<18}{'whole run s':>12}{'model s':>9}{'save s':>8}{'ratio':>8}"
          f"{'replenish s':>13}  goal")
    for forecaster_id in forecasters:
        times = StageTimes()
        run_s, run = seconds(lambda: forecast_runs.run_forecast(forecaster_id=forecaster_id, progress=times))
        stages = times.done()
        replenish_s, _ = seconds(lambda: replenishment.rows())
        baseline = baseline or run_s
        goal = "" if forecaster_id == forecast_runs.BASELINE else (
            "PASS" if run_s < GOAL_SECONDS else "MISS") + f" (< {GOAL_SECONDS:.0f} s)"
        print(f"  {forecaster_id:<18}{run_s:>12.2f}{stages['Forecasting']:>9.2f}{stages['Saving']:>8.2f}"
              f"{run_s / baseline:>8.2f}{replenish_s:>13.2f}  {goal}")
    backtest_s, tested = seconds(lambda: forecast_runs.run_backtest())
    best = tested.summary.get("scores", {})
    figures = ", ".join(f"{fid} MASE {s['mase']:.3f} WAPE {s['wape'] * 100:.1f}% "
                        f"coverage {s['coverage'] * 100:.0f}%"
                        for fid, s in best.items() if s.get("mase") is not None)
    print(f"  back-test of all forecasters (last 52 weeks held out): {backtest_s:.2f} s; {figures}")


def demo_case(database_url: str) -> None:
    from oms_demo import demo_data

    app = make_app(database_url, OMS_FORECAST_KEEP_RUNS=50)
    try:
        with app.app_context():
            demo_data.generate()
            measure("Demo shop (two years of weekly history)")
    finally:
        dispose(app)


def large_case(database_url: str, skus: int, years: int) -> None:
    app = make_app(database_url, OMS_FORECAST_KEEP_RUNS=50)
    try:
        with app.app_context():
            seed_s, units = seconds(lambda: seed_shop(skus, years))
            print(f"\n(seeded {skus:,} SKUs x {years} years, {units:,} units sold, in {seed_s:.0f} s)")
            measure(f"Large shop ({skus:,} SKUs x {years} years of weekly history)")
    finally:
        dispose(app)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args(argv)
    backends = [("SQLite", temporary_sqlite)]
    if args.postgres_url:
        backends.append(("PostgreSQL", lambda: temporary_postgres(args.postgres_url)))
    for name, database in backends:
        print(f"=== {name} ===")
        if not args.skip_demo:
            with database() as url:
                demo_case(url)
        with database() as url:
            large_case(url, args.skus, args.years)
    return 0


if __name__ == "__main__":
    sys.exit(main())
