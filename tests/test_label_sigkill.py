"""A worker killed with SIGKILL in the middle of buying a label, then restarted,
leaves exactly one label at the carrier and one on the shipment: the booking key is
the idempotency key, so the carrier answers the repeated purchase with the label it
sold already. A real `flask oms worker` process against the local HTTP carrier."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oms_core.db import db
from oms_core.models import OutboxMessage, Shipment
from oms_core.services import shipments
from oms_core.testing.carrier_server import LABEL_PDF, CarrierServer, HttpCarrier
from oms_core.testing.fakes import plugin_registering

TESTS = Path(__file__).parent


@pytest.fixture
def server():
    with CarrierServer() as running:
        yield running


@pytest.fixture
def app_config(server):
    return {"extra_plugins": [plugin_registering(HttpCarrier(server.url))]}


def start_worker(database_url: str, server) -> subprocess.Popen:
    env = {**os.environ, "OMS_TEST_DATABASE_URL": database_url, "OMS_TEST_CARRIER_URL": server.url,
           "PYTHONPATH": str(TESTS)}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "http_carrier_app:create_app", "oms", "worker",
                             "--poll", "0.2"], cwd=TESTS, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.remove()
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_purchase_leaves_one_label(app, database_url, server, place):
    order = place(confirm=True, payment_method="cash_on_delivery")
    shipment_id = shipments.create_shipment(order.id, carrier_id="httppost", actor="test").id
    key = db.session.get(Shipment, shipment_id).booking_key
    db.session.remove()
    server.hold.clear()  # the carrier keeps the purchase waiting
    worker = start_worker(database_url, server)
    try:
        assert server.waiting.wait(60), "the worker never asked the carrier"
        os.kill(worker.pid, signal.SIGKILL)  # mid-purchase: no answer was recorded
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    server.hold.set()  # the carrier finishes the sale for the dead client
    wait_for(lambda: key in server.labels, "the carrier to sell the held label")
    assert db.session.get(Shipment, shipment_id).tracking_number is None

    restarted = start_worker(database_url, server)
    try:
        wait_for(lambda: db.session.get(Shipment, shipment_id).tracking_number is not None, "the booking")
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(20)
    shipment = db.session.get(Shipment, shipment_id)
    purchases = [body["idempotency_key"] for path, body in server.requests if path == "/shipments"]
    assert purchases == [key, key]  # asked twice, with one key
    assert list(server.labels) == [key]  # one label sold
    assert shipment.tracking_number == server.labels[key]["tracking_number"]
    assert shipment.label_data == LABEL_PDF and shipment.label_format == "PDF"
    assert (shipment.label_cost_minor, shipment.label_currency) == (695, "EUR")
    message = db.session.query(OutboxMessage).filter_by(idempotency_key=key).one()
    assert message.status == "sent"
