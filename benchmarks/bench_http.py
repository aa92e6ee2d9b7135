"""Checkout and public tracking page over HTTP, against a hello-world route of the
same app on the same server, in the same run.

Starts the demo shop under gunicorn (2 sync workers) on a fresh database, drives it
with closed-loop clients on 127.0.0.1 and prints requests per second, p50/p99 latency
and each figure's ratio to hello-world. Goals: checkout >= 0.25, tracking >= 0.45.

    python benchmarks/bench_http.py [--seconds 10] [--clients 4] [--postgres-url URL]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402
from http_load import run_load  # noqa: E402


# Several workers must share the rate-limit counters, as in production: Redis when
# it answers on 127.0.0.1:6379 (or BENCH_RATELIMIT_STORAGE_URI), else per-worker memory.
def _rate_limit_storage() -> str:
    if os.environ.get("BENCH_RATELIMIT_STORAGE_URI"):
        return os.environ["BENCH_RATELIMIT_STORAGE_URI"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379"
    except OSError:
        return "memory://"


RATE_LIMIT_STORAGE = _rate_limit_storage()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
BENCH_SKU = "BENCH-CHECKOUT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str, data_dir: str) -> list[str]:
    """Schema, one product with ample stock, and a few confirmed orders to track."""
    from oms_demo.app import create_app

    from oms_core import schema, tracking_codes
    from oms_core.services import catalog
    from oms_core.services.orders import NewOrder, place_order

    app = create_app(url, data_dir=data_dir)
    with app.app_context():
        schema.upgrade()
        catalog.create_product(sku=BENCH_SKU, name="Benchmark mug", price_minor=1500, currency="EUR",
                               on_hand=10_000_000, actor="bench")
        codes = []
        for i in range(20):
            order = place_order(NewOrder(email=f"bench{i}@example.com", name="Bench Buyer",
                                         lines=[(BENCH_SKU, 1)], payment_method="bank_transfer",
                                         address={"line1": "1 Bench St", "postal_code": "1000",
                                                  "city": "Utrecht", "country": "NL"}),
                                actor="bench", confirm=True)
            codes.append(tracking_codes.display(order.tracking_code))
        from oms_core.db import db
        db.session.remove()
        db.engine.dispose()
    return codes


class Hello:
    def __call__(self, session, base, state):
        return session.get(f"{base}/hello").status_code == 200


class Tracking:
    def __init__(self, codes):
        self.codes = codes

    def setup(self, session, base, seed):
        return {"i": seed}

    def __call__(self, session, base, state):
        state["i"] += 1
        code = self.codes[state["i"] % len(self.codes)]
        response = session.get(f"{base}/track", params={"code": code})
        return response.status_code == 200 and "Order" in response.text


class Checkout:
    """One operation = add to cart (an htmx POST, as the shop's button sends it) +
    place the order (the checkout form's POST, answered by a redirect to the
    confirmation). Both requests count in the operation's latency."""

    def setup(self, session, base, seed):
        page = session.get(f"{base}/").text
        return {"token": TOKEN.search(page).group(1), "n": 0, "seed": seed}

    def __call__(self, session, base, state):
        state["n"] += 1
        added = session.post(f"{base}/cart/add", data={"sku": BENCH_SKU, "quantity": "1",
                                                       "csrf_token": state["token"]},
                             headers={"HX-Request": "true"}, allow_redirects=False)
        if added.status_code not in (200, 302):
            return False
        placed = session.post(f"{base}/checkout", allow_redirects=False, data={
            "csrf_token": state["token"], "name": "Load Tester",
            "email": f"load{state['seed']}-{state['n']}@example.com", "line1": "2 Load Lane",
            "postal_code": "1011", "city": "Amsterdam", "country": "NL",
            "payment_method": "bank_transfer"})
        return placed.status_code == 302 and placed.headers.get("Location", "").endswith("/checkout/done")


def serve(url: str, data_dir: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, OMS_DEMO_DATABASE_URL=url, OMS_DEMO_DATA_DIR=data_dir,
               OMS_DEMO_SECRET_KEY=uuid.uuid4().hex, OMS_TRACKING_RATE_LIMIT="1000000 per second")
    env["OMS_RATELIMIT_STORAGE_URI"] = RATE_LIMIT_STORAGE
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "oms_demo.app:create_app()"], env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/hello", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def run(label: str, url: str, seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        codes = prepare_database(url, data_dir)
        port = free_port()
        server = serve(url, data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            scenarios = (("hello-world", Hello()), ("checkout (order placed)", Checkout()),
                         ("tracking page", Tracking(codes)), ("hello-world (again)", Hello()))
            results = [run_load(name, scenario, base, clients=clients, seconds=seconds)
                       for name, scenario in scenarios]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    hello = (results[0].per_second + results[3].per_second) / 2
    print(f"\n{label}: gunicorn 2 sync workers, {clients} clients, {seconds:.0f}s per case, "
          f"rate limits in {RATE_LIMIT_STORAGE}")
    for result in results:
        print(f"  {result.line()}  ratio to hello {result.per_second / hello:5.2f}")
    print(f"  checkout ratio {results[1].per_second / hello:.2f} (goal >= 0.25); "
          f"tracking ratio {results[2].per_second / hello:.2f} (goal >= 0.45)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            run("SQLite", url, args.seconds, args.clients)
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            run("PostgreSQL", url, args.seconds, args.clients)


if __name__ == "__main__":
    main()
