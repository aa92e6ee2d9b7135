"""The checkout service against SQLAlchemy Core writing the same rows (issue 12, P1).

`orders.place_order` (web order, confirmed at once: customer upsert, stock reserved
with the never-below-zero guard, tracking code, payment deadline, lines, ledger,
timeline, outbox email, and the webhook deliveries of the endpoints that want
order.placed / order.status_changed: the Core writer checks for active endpoints too)
side by side with a plain SQLAlchemy Core writer of exactly the same rows in one
transaction. Rounds alternate (service, Core, service, Core ...) in one process on
one database, so a machine shared with other work disturbs both alike; each prints
checkouts per second, the CPU seconds of this process (Python: ORM, Core, driver)
and of the database (PostgreSQL backend; SQLite runs in this process), and the
ratio. Goal: place_order >= 0.40 of the Core writer's checkouts per second.

    python benchmarks/bench_checkout_service.py [--orders 300] [--rounds 5]
                                                [--postgres-url URL] [--skip-sqlite] [--profile]

--profile prints where place_order's time goes (cProfile, top functions).
"""
from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import bindparam, insert, select, text, update

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402

from oms_core import order_states, runtime, taxes, tracking_codes  # noqa: E402
from oms_core.db import db  # noqa: E402
from oms_core.models import (  # noqa: E402
    Order, OrderLine, OutboxMessage, Product, StockMove, TimelineEvent, WebhookEndpoint,
)
from oms_core.models._base import utcnow  # noqa: E402
from oms_core.services import catalog, notifications, orders, stock, timeline  # noqa: E402
from oms_core.services.orders import NewOrder, place_order  # noqa: E402
from oms_core.testing import dispose, make_app  # noqa: E402

GOAL = 0.40
SKUS = ("BENCH-A", "BENCH-B")  # two lines per order: the common small-shop basket
ADDRESS = {"line1": "2 Load Lane", "postal_code": "1011", "city": "Amsterdam", "country": "NL"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_serial = itertools.count()


def new_order() -> NewOrder:
    n = next(_serial)
    # Every fourth order from a returning customer: the upsert's both branches.
    email = f"buyer{n if n % 4 else 0}@example.com"
    return NewOrder(email=email, name="Load Tester", lines=[(SKUS[0], 1), (SKUS[1], 2)],
                    payment_method="bank_transfer", address=ADDRESS)


def with_service() -> None:
    place_order(new_order(), actor="customer", confirm=True)
    db.session.remove()  # as at the end of a request


# The Core writer's statements, built once (as a hand-tuned writer would), executed
# with parameters: no ORM, no statement construction per checkout.
ORDER, LINE, PRODUCT = Order.__table__, OrderLine.__table__, Product.__table__
# With whether any webhook endpoint is active, as place_order reads it (none in this
# benchmark: no delivery rows, but a writer must look).
READ_PRODUCTS = select(PRODUCT.c.id, PRODUCT.c.sku, PRODUCT.c.name, PRODUCT.c.price_minor, PRODUCT.c.currency,
                       PRODUCT.c.tax_rate_bp, select(WebhookEndpoint.__table__.c.id).where(
                           WebhookEndpoint.__table__.c.active.is_(True)).exists().label("webhooks")).where(
    PRODUCT.c.sku.in_(bindparam("skus", expanding=True)), PRODUCT.c.active.is_(True))
RESERVE = (update(PRODUCT).where(PRODUCT.c.id == bindparam("product_id"),
                                 PRODUCT.c.on_hand - PRODUCT.c.reserved >= bindparam("quantity"))
           .values(reserved=PRODUCT.c.reserved + bindparam("quantity")))
INSERT_ORDER = insert(ORDER).returning(ORDER.c.id)
INSERT_LINES, INSERT_MOVES = insert(LINE), insert(StockMove.__table__)
INSERT_EVENTS, INSERT_MESSAGE = insert(TimelineEvent.__table__), insert(OutboxMessage.__table__)


def with_core() -> None:
    write_with_core(new_order())


def write_with_core(new: NewOrder, actor: str = "customer") -> int:
    """The same rows place_order writes for `new` (a web order, confirmed at once),
    by hand with Core, one transaction; the new order's id. bench_http.py times it
    over HTTP too, in the shop's checkout in place of place_order."""
    wanted = dict(new.lines)
    includes_tax = runtime.setting("PRICES_INCLUDE_TAX")
    address = {key: new.address.get(key, "") for key in ("line1", "line2", "postal_code", "city", "country")}
    with db.engine.begin() as connection:
        if connection.dialect.name == "sqlite":  # a writer's transaction, as write_transaction starts it
            connection.exec_driver_sql("COMMIT")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        products = connection.execute(READ_PRODUCTS, {"skus": list(wanted)}).all()
        if any(product.webhooks for product in products):
            raise RuntimeError("the benchmark writes no webhook deliveries: register no endpoint")
        now = utcnow()
        postgres = connection.dialect.name == "postgresql"
        buyer = {"buyer_email": new.email, "buyer_name": new.name, "buyer_phone": "", "buyer_since": now}
        lines = [(product, wanted[product.sku],
                  taxes.split(product.price_minor * wanted[product.sku], product.tax_rate_bp or 2100,
                              includes_tax=includes_tax))
                 for product in sorted(products, key=lambda p: p.id)]
        shipping = taxes.split(new.shipping_minor, 2100, includes_tax=includes_tax)
        subtotal = sum(part.gross for _p, _q, part in lines)
        code = tracking_codes.generate()
        deadline = runtime.setting("PAYMENT_DEADLINES")["bank_transfer"]["deadline_hours"]
        order = dict(
            status=order_states.CONFIRMED, channel="web", external_id=None,
            currency="EUR", version=0, locale="", payment_due_at=now + timedelta(hours=deadline),
            subtotal_minor=subtotal, shipping_minor=shipping.gross, total_minor=subtotal + shipping.gross,
            paid_minor=0, refunded_minor=0,
            payment_method="bank_transfer", payment_status="unpaid", pays_on_delivery=False,
            customer_name=new.name, customer_phone="", tracking_code=code, ship_name=new.name,
            bill_name=new.name, prices_include_tax=includes_tax,
            tax_minor=sum(part.tax for _p, _q, part in lines) + shipping.tax, shipping_tax_rate_bp=2100,
            shipping_tax_minor=shipping.tax, note="", created_at=now, updated_at=now, status_changed_at=now,
            **{f"{kind}_{key}": value for kind in ("ship", "bill") for key, value in address.items()})
        if postgres:
            # Folded as place_order folds them (the same statements): the customer's
            # upsert in the order's INSERT, each reservation with its ledger row.
            order_id = connection.execute(orders._INSERT_ORDER_FOR_BUYER, {**order, **buyer}).first()[0]
            for product, quantity, _part in lines:
                if not connection.execute(stock._RESERVE_WITH_MOVE, {
                        "product_id": product.id, "quantity": quantity, "reason": "reservation",
                        "actor": actor, "order_id": order_id, "moved_at": now}).all():
                    raise RuntimeError("out of stock")
        else:
            customer_id = connection.execute(orders._UPSERT_CUSTOMER["sqlite"], buyer).scalar_one()
            for product, quantity, _part in lines:
                reserved = connection.execute(RESERVE, {"product_id": product.id, "quantity": quantity})
                if reserved.rowcount != 1:
                    raise RuntimeError("out of stock")
            order_id = connection.execute(INSERT_ORDER, {**order, "customer_id": customer_id}).scalar_one()
        connection.execute(INSERT_LINES, [
            dict(order_id=order_id, product_id=p.id, sku=p.sku, name=p.name, unit_price_minor=p.price_minor,
                 quantity=q, tax_rate_bp=part.rate_bp, net_minor=part.net, tax_minor=part.tax,
                 gross_minor=part.gross, service="") for p, q, part in lines])
        if not postgres:
            connection.execute(INSERT_MOVES, [
                dict(product_id=p.id, on_hand_delta=0, reserved_delta=q, reason="reservation", note="",
                     actor=actor, order_id=order_id, created_at=now) for p, q, _part in lines])
        event = dict(order_id=order_id, kind=timeline.STATUS_CHANGED, actor=actor, public=True,
                     created_at=now, occurred_at=None)
        connection.execute(INSERT_EVENTS, [
            dict(event, message=timeline.placed_reason("web"), from_status=None,
                 to_status=order_states.PLACED),
            dict(event, message=timeline.STOCK_RESERVED, from_status=order_states.PLACED,
                 to_status=order_states.CONFIRMED)])
        connection.execute(INSERT_MESSAGE, dict(
            kind=notifications.EMAIL_KIND, payload={"status": "confirmed", "documents": []},
            idempotency_key=notifications.status_email_key(SimpleNamespace(tracking_code=code), "confirmed"),
            status="pending", attempts=0, max_attempts=8, next_attempt_at=now, last_error="",
            order_id=order_id, created_at=now, locked_until=None, sent_at=None))
    return order_id


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _database_pids() -> list[int]:
    """The PostgreSQL backends of this database (every pooled connection's)."""
    if db.engine.dialect.name != "postgresql":
        return []
    with db.engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars())


def timed(fn, orders: int) -> dict:
    pids = _database_pids()
    database_before = sum(_cpu_of(pid) for pid in pids)
    cpu_before, started = time.process_time(), time.perf_counter()
    for _ in range(orders):
        fn()
    elapsed = time.perf_counter() - started
    return {"per_second": orders / elapsed, "python_cpu": time.process_time() - cpu_before,
            "database_cpu": sum(_cpu_of(pid) for pid in pids) - database_before, "seconds": elapsed}


def check_rows(core_orders: int, service_orders: int) -> None:
    """Both writers left the same shape behind: every order confirmed with its lines,
    two ledger rows, two timeline events, one email and its payment deadline; stock
    and ledger agree."""
    from oms_core.services import stock

    total = core_orders + service_orders
    counts = {model.__name__: db.session.scalar(select(db.func.count()).select_from(model))
              for model in (Order, OrderLine, StockMove, TimelineEvent, OutboxMessage)}
    expected = {"Order": total, "OrderLine": 2 * total, "StockMove": 2 * total + len(SKUS),
                "TimelineEvent": 2 * total, "OutboxMessage": total}
    if counts != expected:
        raise SystemExit(f"the writers left different rows: {counts}, expected {expected}")
    undated = db.session.scalar(select(db.func.count()).select_from(Order)
                                .where(Order.payment_due_at.is_(None)))
    if undated:
        raise SystemExit(f"{undated} orders have no payment deadline")
    if stock.ledger_mismatches():
        raise SystemExit(f"stock and ledger disagree: {stock.ledger_mismatches()}")


def run(label: str, url: str, args) -> float:
    app = make_app(url, OMS_AUTO_CONFIRM=True)
    with app.app_context():
        for sku in SKUS:
            catalog.create_product(sku=sku, name=f"Benchmark {sku}", price_minor=1500, currency="EUR",
                                   on_hand=10_000_000, actor="bench")
        db.session.remove()
        for fn in (with_service, with_core):  # warm-up: caches, pool, statement cache
            timed(fn, 30)
        service, core = [], []
        for _ in range(args.rounds):
            service.append(timed(with_service, args.orders))
            core.append(timed(with_core, args.orders))
        check_rows((args.rounds * args.orders + 30), (args.rounds * args.orders + 30))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.orders):
                with_service()
            profiler.disable()
            print(f"\n{label}: where place_order's time goes ({args.orders} orders, by own time):")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    dispose(app)

    def median(results, key):
        return statistics.median(r[key] for r in results)

    ratio = median(service, "per_second") / median(core, "per_second")

    def cpu_per_checkout(results):
        return (median(results, "python_cpu") + median(results, "database_cpu")) / args.orders

    # On a shared machine the wall clock also counts other work's time: the ratio of
    # CPU per checkout (Python + database) is the steadier figure; both must pass.
    cpu_ratio = cpu_per_checkout(core) / cpu_per_checkout(service)
    ratios = [s["per_second"] / c["per_second"] for s, c in zip(service, core)]
    print(f"\n{label}: {args.rounds} rounds of {args.orders} checkouts each (2 lines, new and returning "
          f"customers), alternating")
    for name, results in (("place_order", service), ("Core writer", core)):
        rounds = ", ".join(f"{r['per_second']:.0f}" for r in results)
        cpu = (median(results, "python_cpu") + median(results, "database_cpu")) / args.orders * 1000
        print(f"  {name:12} {median(results, 'per_second'):7.0f} checkouts/s (median; rounds "
              f"{rounds})  CPU per checkout: "
              f"python {median(results, 'python_cpu') / args.orders * 1000:.2f} ms, database "
              f"{median(results, 'database_cpu') / args.orders * 1000:.2f} ms, total {cpu:.2f} ms")
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"  P1 place_order / Core = {ratio:.2f} checkouts/s (rounds {rounds}), "
          f"{cpu_ratio:.2f} by CPU per checkout; goal >= {GOAL}: "
          f"{'PASS' if min(ratio, cpu_ratio) >= GOAL else 'MISS'}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300, help="checkouts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not (10 <= args.orders <= 100_000 and 1 <= args.rounds <= 50):
        parser.error("need 10 <= orders <= 100000 and 1 <= rounds <= 50")
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            run("SQLite", url, args)
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
