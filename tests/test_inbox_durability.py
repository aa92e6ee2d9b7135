"""The inbox under real concurrency and real crashes: an event racing its booking
is applied exactly once and never left waiting; a process killed while a
delivery is read or applied loses neither the body nor half of the events; and
the migration gives shipments booked before it their old booking key."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from oms_core import schema
from oms_core.db import db
from oms_core.models import InboundEvent, Order, Shipment, ShipmentEvent, UnmatchedEvent
from oms_core.protocols import CarrierResult
from oms_core.services import orders, shipments, webhooks
from test_concurrency import outcomes, race
from webhook_plugins import post, secrets_for, signed_headers, signed_plugins

DELIVERIES = 4  # the carrier's retries of one event, at the same moment as the booking


@pytest.fixture
def app_config():
    return {"extra_plugins": [signed_plugins()], **secrets_for("hmacship", "hmacbook"),
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": DELIVERIES + 5, "max_overflow": 5}}


def count(model, *where) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def delivery(number: str, status: str = "pre_transit") -> bytes:
    at = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    event = {"number": number, "status": status, "at": at, "id": f"{number}-1"}
    return json.dumps({"events": [event]}).encode()


def test_an_event_racing_its_booking_is_applied_once_and_never_left_waiting(app, place):
    for attempt in range(6):
        order_id = place(payment_method="cash_on_delivery", confirm=True).id
        shipment_id = shipments.create_shipment(order_id, carrier_id="hmacbook", service="std", actor="t").id
        number = f"RACE{attempt}"
        body = delivery(number)

        def work(index: int):
            if index == 0:
                return shipments.apply_booking(shipment_id, CarrierResult(ok=True, tracking_number=number)).id
            return webhooks.receive_carrier_webhook("hmacbook", body, signed_headers(body)).as_dict()

        results = race(app, DELIVERIES + 1, work)
        assert outcomes(results) == {"ok": DELIVERIES + 1}, results
        assert count(ShipmentEvent, ShipmentEvent.shipment_id == shipment_id) == 1, attempt
        assert count(UnmatchedEvent, UnmatchedEvent.match_key == number) == 0, attempt
        assert db.session.get(Order, order_id).status == "shipped"
        settled = db.session.scalars(select(InboundEvent.outcome).where(InboundEvent.id > 0)).all()
        assert set(settled) <= {"applied", "duplicate"}, settled


CRASHING_RECEIVER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[3])
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from oms_core.models import ShipmentEvent
    from oms_core.testing import make_app
    from webhook_plugins import HmacCarrier, post, secrets_for, signed_plugins

    url, where = sys.argv[1], sys.argv[2]

    def die(*args, **kw):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "parse":
        HmacCarrier.parse_webhook = die
    else:  # while the events are being written, inside the transaction
        @event.listens_for(Session, "before_flush")
        def _die_on_event(session, context, instances):
            if any(isinstance(obj, ShipmentEvent) for obj in session.new):
                die()

    app = make_app(url, upgrade=False, extra_plugins=[signed_plugins()], **secrets_for("hmacship"))
    post(app.test_client(), "/oms/webhooks/carriers/hmacship", None, raw=sys.stdin.buffer.read())
    print("survived")
""")


@pytest.mark.parametrize("where", ["parse", "apply"])
def test_a_receiver_killed_mid_delivery_loses_nothing_and_applies_nothing(
        app, client, place, database_url, where):
    order_id = place(payment_method="cash_on_delivery", confirm=True).id
    shipments.create_shipment(order_id, carrier_id="hmacship", service="standard", tracking_number="HS1",
                              actor="t")
    body = delivery("HS1", "delivered")
    db.session.remove()
    killed = subprocess.run([sys.executable, "-c", CRASHING_RECEIVER, database_url, where,
                             str(Path(__file__).parent)], input=body, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]

    [row] = db.session.scalars(select(InboundEvent)).all()
    assert (row.outcome, row.body) == ("received", body)  # kept, and shown as not settled
    assert count(ShipmentEvent) == 0 and db.session.get(Order, order_id).status == "shipped"
    # The sender got no answer and retries: now it is applied.
    assert post(client, "/oms/webhooks/carriers/hmacship", None, raw=body).status_code == 200
    assert count(ShipmentEvent) == 1 and orders.get_order(order_id).status == "delivered"


def test_shipments_booked_before_the_migration_keep_their_booking_key(app, place):
    order = place(confirm=True)
    db.session.remove()
    schema.downgrade("0004")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    db.session.execute(text(
        "INSERT INTO oms_shipment (order_id, carrier_id, carrier_name, service, status, booking_error, "
        "created_at, updated_at) "
        "VALUES (:order_id, 'testpost', 'Test Post', 'std', 'unknown', '', :now, :now)"),
        {"order_id": order.id, "now": now})
    db.session.commit()
    db.session.remove()
    schema.upgrade()
    shipment = db.session.scalar(select(Shipment))
    assert shipment.booking_key == f"shipment-{shipment.id}"  # its outbox message's key, unchanged
