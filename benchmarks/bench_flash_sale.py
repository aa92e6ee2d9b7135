"""A flash sale (issue 12): 200 buyers check out at the same moment for the last 50
units, against the demo shop under gunicorn with several sync workers on PostgreSQL.

Each buyer has its own session: it opens the shop (session cookie, CSRF token) and
puts one unit in its cart while the units are there; then all buyers wait at one
barrier and post the checkout at once. Exactly 50 must be sold (checked in the
database: orders, the product's counters and the stock ledger), and every other
buyer must get the clear answer (409, "sold out ... Nothing was ordered"), never
an error page. Prints sold/refused/other, checkout latency p50/p99 and the CPU
seconds of the server and the database.

    python benchmarks/bench_flash_sale.py --postgres-url URL [--buyers 200] [--units 50] [--workers 4]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import (  # noqa: E402
    Processes, _postgres_backends, _rate_limit_storage, _used, free_port, serve,
)
from databases import temporary_postgres  # noqa: E402

SKU = "FLASH-SALE"
EARLIER_SALES = 50  # the sale starts with this many units sold already: the last ones are contested
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SOLD_OUT = "sold out while you were shopping"


def prepare(url: str, data_dir: str, units: int) -> None:
    from oms_demo.app import create_app

    from oms_core import schema
    from oms_core.db import db
    from oms_core.services import catalog
    from oms_core.services.orders import NewOrder, place_order

    app = create_app(url, data_dir=data_dir)
    with app.app_context():
        schema.upgrade()
        catalog.create_product(sku=SKU, name="Limited edition mug", price_minor=2500, currency="EUR",
                               on_hand=EARLIER_SALES + units, actor="bench")
        for n in range(EARLIER_SALES):
            place_order(NewOrder(email=f"early{n}@example.com", name="Early Bird", lines=[(SKU, 1)],
                                 payment_method="bank_transfer",
                                 address={"line1": "1 Early St", "postal_code": "1000", "city": "Utrecht",
                                          "country": "NL"}), actor="bench", confirm=True)
            db.session.remove()
        db.engine.dispose()


class Buyer:
    def __init__(self, port: int, number: int):
        self.port, self.number = port, number
        self.cookie = self.token = ""
        self.outcome, self.seconds = "", 0.0

    def request(self, method: str, path: str, form: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode({**form, "csrf_token": self.token})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        page = response.read().decode(errors="replace")
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        connection.close()
        return response.status, response.getheader("Location") or "", page

    def fill_cart(self) -> None:
        _status, _location, page = self.request("GET", "/")
        self.token = TOKEN.search(page).group(1)
        status, _location, page = self.request("POST", "/cart/add", {"sku": SKU, "quantity": "1"})
        if status not in (200, 302):
            raise SystemExit(f"buyer {self.number} could not fill the cart: {status}")

    def check_out(self, barrier: threading.Barrier) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            status, location, page = self.request("POST", "/checkout", {
                "name": "Flash Buyer", "email": f"flash{self.number}@example.com", "line1": "2 Sale St",
                "postal_code": "1011", "city": "Amsterdam", "country": "NL",
                "payment_method": "bank_transfer"})
        except OSError as exc:
            self.outcome = f"connection error {exc}"
            return
        finally:
            self.seconds = time.perf_counter() - started
        if status == 302 and location.endswith("/checkout/done"):
            self.outcome = "sold"
        elif status == 409 and SOLD_OUT in page and "Nothing was ordered" in page:
            self.outcome = "refused"
        else:
            self.outcome = f"HTTP {status}"


def check_database(url: str, units: int) -> list[str]:
    from sqlalchemy import create_engine, func, select

    from oms_core.models import OrderLine, Product, StockMove

    engine = create_engine(url)
    with engine.connect() as connection:
        product = connection.execute(select(Product.id, Product.on_hand, Product.reserved)
                                     .where(Product.sku == SKU)).one()
        lines = connection.execute(select(func.count(), func.coalesce(func.sum(OrderLine.quantity), 0))
                                   .where(OrderLine.product_id == product.id)).one()
        ledger = connection.execute(select(func.sum(StockMove.on_hand_delta),
                                           func.sum(StockMove.reserved_delta))
                                    .where(StockMove.product_id == product.id)).one()
    engine.dispose()
    problems = []
    if lines[1] != EARLIER_SALES + units:
        problems.append(f"{lines[1] - EARLIER_SALES} units ordered in the sale, not {units}")
    if product.reserved != EARLIER_SALES + units or product.on_hand != EARLIER_SALES + units:
        problems.append(f"product counters on hand {product.on_hand}, reserved {product.reserved}")
    if tuple(ledger) != (product.on_hand, product.reserved):
        problems.append(f"ledger sums {tuple(ledger)} differ from the counters")
    return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()
    if not (1 <= args.units <= args.buyers <= 2000 and 1 <= args.workers <= 64):
        parser.error("need 1 <= units <= buyers <= 2000 and 1 <= workers <= 64")
    with temporary_postgres(args.postgres_url) as url, tempfile.TemporaryDirectory() as data_dir:
        prepare(url, data_dir, args.units)
        port = free_port()
        server = serve(url, data_dir, port, args.workers, _rate_limit_storage())
        try:
            buyers = [Buyer(port, n) for n in range(args.buyers)]
            for buyer in buyers:
                buyer.fill_cart()
            barrier = threading.Barrier(args.buyers)
            threads = [threading.Thread(target=buyer.check_out, args=(barrier,)) for buyer in buyers]
            processes = Processes(server.pid, _postgres_backends(url))
            before, started = processes.snapshot(), time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            cpu = _used(before, processes.snapshot(), time.perf_counter() - started)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        problems = check_database(url, args.units)
    outcomes = [buyer.outcome for buyer in buyers]
    sold, refused = outcomes.count("sold"), outcomes.count("refused")
    other = sorted({o for o in outcomes if o not in ("sold", "refused")})
    latencies = [buyer.seconds * 1000 for buyer in buyers]
    print(f"\nFlash sale on PostgreSQL: {args.buyers} buyers at once for the last {args.units} units, "
          f"gunicorn "
          f"{args.workers} sync workers, {os.cpu_count()} cores")
    print(f"  sold {sold}, told sold out {refused}, "
          f"anything else {len(outcomes) - sold - refused} {other or ''}")
    print(f"  checkout latency p50 {percentile(latencies, 0.5):.0f} ms, "
          f"p99 {percentile(latencies, 0.99):.0f} ms, "
          f"max {max(latencies):.0f} ms | CPU s: server {cpu['server']:.1f}, db {cpu['database']:.1f}, "
          f"machine {cpu['machine_busy']:.0%} busy")
    agreed = "; ".join(problems) or "orders, counters, ledger agree"
    print(f"  exactly {args.units} sold (answers and database: {agreed}):"
          f" {'PASS' if sold == args.units and not problems else 'MISS'}")
    print(f"  every other buyer told clearly (409, sold out, nothing ordered): "
          f"{'PASS' if refused == args.buyers - args.units else 'MISS'}")


if __name__ == "__main__":
    main()
