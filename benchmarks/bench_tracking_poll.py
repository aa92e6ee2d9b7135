"""Tracking: polling open parcels, and applying carrier webhooks.

1. Polling: 1,000 open parcels of a carrier without webhooks, polled against a
   local HTTP carrier (oms_core/testing/carrier_server.py) in batches of 50, every
   parcel moving to in transit: time, parcels per second, SQL statements per parcel.
2. Webhooks: signed tracking deliveries, one event each, posted through the Flask
   test client to the carrier webhook endpoint: events applied per second.

    python benchmarks/bench_tracking_poll.py [--parcels 1000] [--events 500]
                                             [--postgres-url URL] [--skip-sqlite]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402

SECRET = "whsec_bench_tracking"


def webhook_carrier_class():
    from oms_core.protocols import WEBHOOK_AUTH_SECRET, TrackingUpdate, WebhookResult
    from oms_core.testing.carrier_server import HttpCarrier
    from oms_core.webhook_signing import verify_hmac_sha256

    class WebhookCarrier(HttpCarrier):
        """The HTTP carrier, also sending signed webhooks (HMAC-SHA256)."""

        webhook_auth = WEBHOOK_AUTH_SECRET

        def parse_webhook(self, body, headers, secret):
            problem = verify_hmac_sha256(body, headers, secret)
            if problem:
                return WebhookResult(ok=False, error=problem)
            event = json.loads(body)
            return WebhookResult(ok=True, events=[TrackingUpdate(
                tracking_number=event["number"], status=event["status"], event_id=event["id"],
                occurred_at=datetime.fromisoformat(event["at"]))])

    return WebhookCarrier


def open_parcels(count: int, carrier_id: str, prefix: str) -> list[str]:
    """`count` booked parcels (one order each) with tracking numbers."""
    from oms_core.db import db, write_transaction
    from oms_core.models import Shipment, ShipmentLine
    from oms_core.services import catalog
    from oms_core.services.orders import NewOrder, place_order

    sku = catalog.create_product(sku=f"{prefix}-SKU", name="Parcel", price_minor=1000, currency="EUR",
                                 on_hand=1_000_000, actor="bench").sku
    numbers = []
    for index in range(count):
        order = place_order(NewOrder(email=f"b{index}@example.com", name=f"Buyer {index}", lines=[(sku, 1)],
                                     payment_method="cash_on_delivery", address={
                                         "line1": "1 Main St", "postal_code": "1000", "city": "Utrecht",
                                         "country": "NL"}), actor="bench", confirm=True)
        number = f"{prefix}{index:07d}"
        with write_transaction():
            shipment = Shipment(order_id=order.id, carrier_id=carrier_id, carrier_name="Bench", service="std",
                                tracking_number=number, status="pre_transit")
            shipment.lines = [ShipmentLine(order_line_id=order.lines[0].id, quantity=1)]
            db.session.add(shipment)
        numbers.append(number)
    return numbers


def count_statements(engine):
    from sqlalchemy import event

    counter = {"n": 0}

    def before(*_args, **_kw):
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", before)
    return counter, lambda: event.remove(engine, "before_cursor_execute", before)


def run(url: str, label: str, parcels: int, events: int) -> None:
    from oms_core.db import db
    from oms_core.services import tracking_poll
    from oms_core.testing import dispose, make_app
    from oms_core.testing.carrier_server import CarrierServer
    from oms_core.testing.fakes import plugin_registering
    from oms_core.webhook_signing import sign_hmac_sha256

    with CarrierServer() as server:
        polled = webhooked = None
        WebhookCarrier = webhook_carrier_class()
        carriers = [WebhookCarrier(server.url, id="hookpost", label="Hook Post")]
        from oms_core.testing.carrier_server import HttpCarrier
        carriers.append(HttpCarrier(server.url))
        app = make_app(url, extra_plugins=[plugin_registering(*carriers)], OMS_CHECK_SCHEMA=False,
                       OMS_TRACK_EVERY_MINUTES=0, OMS_PLUGINS={"hookpost": {"webhook_secret": SECRET}},
                       WTF_CSRF_ENABLED=False)
        with app.app_context():
            setup = time.perf_counter()
            numbers = open_parcels(parcels, "httppost", "PL")
            hooked = open_parcels(events, "hookpost", "WH")
            print(f"[{label}] set-up: {parcels + events} parcels in {time.perf_counter() - setup:.1f}s")
            for number in numbers:
                server.statuses[number] = "in_transit"
            carrier = next(c for c in tracking_poll.pollable_carriers() if c.id == "httppost")
            counter, stop = count_statements(db.engine)
            start = time.perf_counter()
            outcome = tracking_poll.poll_carrier(carrier)
            seconds = time.perf_counter() - start
            stop()
            assert outcome.asked == parcels and outcome.applied == parcels, outcome
            polled = (seconds, counter["n"])

            client = app.test_client()
            now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            bodies = [json.dumps({"number": n, "status": "in_transit", "id": f"{n}-1", "at": now}).encode()
                      for n in hooked]
            start = time.perf_counter()
            for body in bodies:
                answer = client.post("/oms/webhooks/carriers/hookpost", data=body,
                                     headers={**sign_hmac_sha256(body, SECRET), "Content-Type": "application/json"})
                assert answer.status_code < 300, answer.get_data(as_text=True)
            webhooked = time.perf_counter() - start
            from sqlalchemy import func, select

            from oms_core.models import Shipment
            moved = db.session.scalar(select(func.count(Shipment.id)).where(
                Shipment.carrier_id == "hookpost", Shipment.status == "in_transit"))
            assert moved == events, f"only {moved} of {events} webhook events applied"
        dispose(app)
    seconds, statements = polled
    print(f"[{label}] polling: {parcels} parcels in {seconds:.2f}s = {parcels / seconds:,.0f} parcels/s, "
          f"{statements / parcels:.1f} SQL statements per parcel ({statements} in all, batches of 50)")
    print(f"[{label}] webhooks: {events} events in {webhooked:.2f}s = {events / webhooked:,.0f} events applied/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            run(url, "sqlite", args.parcels, args.events)
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            run(url, "postgresql", args.parcels, args.events)


if __name__ == "__main__":
    main()
