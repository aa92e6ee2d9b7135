"""Payment webhook throughput: signed gateway events applied per second through the
real endpoint (Flask test client, the whole request path: signature, inbox,
payment machine, receipt and invoice issued, order paid, emails queued), on
SQLite and PostgreSQL, against two baselines measured in the same run:

- hello-world: the same number of requests to a route that returns "hello";
- store only: the same bodies kept in the inbound inbox (`inbox.store`) without
  verifying or applying them (the part of a delivery every webhook pays).

A second pass re-sends every event (the sender's retries): duplicates recognised.

Events come from the core's in-process fake card gateway (oms_core/testing/fakes.py),
signed with the common HMAC scheme (oms_core/webhook_signing.py); every event
captures one order's payment, as a card checkout's `payment succeeded` does.

    python benchmarks/bench_payment_webhooks.py [--events 300] [--postgres-url URL] [--skip-sqlite]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402

SECRET = "whsec_bench"


def _app(url: str, card):
    from oms_core.testing import make_app
    from oms_core.testing.fakes import plugin_registering

    return make_app(url, extra_plugins=[plugin_registering(card)], TESTING=False,
                    OMS_PLUGINS={"fakecard": {"webhook_secret": SECRET, "capture": "now"}})


def _paid_at_gateway(app, card, count: int) -> list[bytes]:
    """`count` confirmed card orders, each paid on the hosted page; returns the
    webhook body that tells the OMS, per order."""
    from oms_core.services import catalog, payment_ops
    from oms_core.services.orders import NewOrder, place_order

    with app.app_context():
        catalog.create_product(sku="BENCH-PAY", name="Benchmark mug", price_minor=1500, currency="EUR",
                               on_hand=10_000_000, actor="bench")
        bodies = []
        for i in range(count):
            order = place_order(NewOrder(email=f"bench{i}@example.com", name="Bench Buyer", lines=[("BENCH-PAY", 1)],
                                         payment_method="fakecard",
                                         address={"line1": "1 Bench St", "postal_code": "1000",
                                                  "city": "Utrecht", "country": "NL"}),
                                actor="bench", confirm=True)
            url = payment_ops.start_payment(order.id, success_url="https://shop.example/ok",
                                            cancel_url="https://shop.example/no")
            intent = url.rsplit("/", 1)[1]
            card.customer_pays(intent)
            bodies.append(card.event_for(intent))
    return bodies


def _rate(count: int, run) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def measure(url: str, events: int) -> dict:
    from sqlalchemy import func, select

    from oms_core.db import db
    from oms_core.models import Order
    from oms_core.services import inbox
    from oms_core.testing import dispose
    from oms_core.testing.fakes import FakeCardGateway

    card = FakeCardGateway()
    app = _app(url, card)
    bodies = _paid_at_gateway(app, card, events + 1)
    signed = [(body, card.signed(body, SECRET)) for body in bodies]
    client = app.test_client()
    endpoint = f"{app.config['OMS_WEBHOOK_PREFIX']}/payments/fakecard"

    def post_all(signed=signed[1:]):
        for body, headers in signed:
            answer = client.post(endpoint, data=body, headers=headers, content_type="application/json")
            assert answer.status_code == 200, answer.get_data(as_text=True)

    def hello_all():
        for _ in range(events):
            assert client.get("/hello").status_code == 200

    def store_all():
        with app.app_context():
            for body, headers in signed[1:]:
                inbox.store(inbox.PAYMENT, "fakecard", body, headers)
            db.session.remove()

    post_all(signed[:1])  # warm-up: the first event imports what applying needs
    result = {"hello": _rate(events, hello_all), "store": _rate(events, store_all)}
    result["applied"] = _rate(events, post_all)
    result["duplicates"] = _rate(events, post_all)
    result["hello_after"] = _rate(events, hello_all)
    with app.app_context():
        paid = db.session.scalar(select(func.count(Order.id)).where(Order.payment_status == "paid"))
    if paid != events + 1:
        raise SystemExit(f"only {paid} of {events + 1} orders are paid: the benchmark measured something else")
    dispose(app)
    return result


def report(name: str, r: dict) -> None:
    hello = (r["hello"] + r["hello_after"]) / 2
    print(f"{name}: applied {r['applied']:.0f} events/s, duplicates {r['duplicates']:.0f}/s; "
          f"hello-world {hello:.0f} req/s (before {r['hello']:.0f}, after {r['hello_after']:.0f}), "
          f"inbox store only {r['store']:.0f}/s")
    print(f"{name}: applied / hello-world = {r['applied'] / hello:.3f}; applied / store only = "
          f"{r['applied'] / r['store']:.3f}; duplicates / hello-world = {r['duplicates'] / hello:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            report("SQLite", measure(url, args.events))
    if not args.skip_postgres:
        with temporary_postgres(args.postgres_url) as url:
            report("PostgreSQL", measure(url, args.events))


if __name__ == "__main__":
    main()
