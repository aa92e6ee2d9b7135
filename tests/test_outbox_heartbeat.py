"""A worker killed with SIGKILL in the middle of an SMTP conversation: while it was
alive its heartbeat kept the lease (another worker running alongside did not take
its messages, though the conversation lasted several leases), and once it is dead
the other worker sends them within one short lease, not today's 120 s, each
Message-ID accepted by the SMTP server exactly once. Real `flask oms worker`
processes against a local SMTP server (aiosmtpd) that holds the first conversation
before MAIL FROM is answered, so the killed worker's message never reached DATA."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.models import OutboxMessage
from oms_core.models._base import utcnow
from oms_core.services import outbox

TESTS = Path(__file__).parent
LEASE = 3  # seconds; the workers renew it every second


class HoldingInbox:
    """Accepts mail; the first MAIL FROM waits until `release` is set."""

    def __init__(self):
        self.release, self.holding = threading.Event(), threading.Event()
        self.mail_commands = 0
        self.message_ids: list[str] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_commands += 1
        if self.mail_commands == 1:
            self.holding.set()
            while not self.release.is_set():  # the event loop keeps serving others meanwhile
                await __import__("asyncio").sleep(0.05)
            return "421 closing"  # the worker is dead by now: nobody reads this
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.decode(errors="replace").splitlines():
            if line.lower().startswith("message-id:"):
                self.message_ids.append(line.split(":", 1)[1].strip())
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox():
    from test_notifications import free_port

    handler = HoldingInbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.release.set()
    controller.stop()


def start_worker(database_url: str, inbox) -> subprocess.Popen:
    env = {**os.environ, "OMS_TEST_DATABASE_URL": database_url, "OMS_TEST_SMTP_PORT": str(inbox.port),
           "OMS_TEST_LEASE_SECONDS": str(LEASE), "PYTHONPATH": str(TESTS)}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "outbox_worker_app:create_app", "oms",
                             "worker", "--poll", "0.2"], cwd=TESTS, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def unsent() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.status != "sent"))


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_a_killed_workers_messages_go_out_within_one_lease_once_each(app, database_url, place, inbox):
    for n in range(3):
        place(confirm=True, email=f"buyer{n}@example.com")  # one "confirmed" email each
    db.session.remove()
    first = start_worker(database_url, inbox)
    second = None
    try:
        assert inbox.holding.wait(60), "the first worker never started sending"
        second = start_worker(database_url, inbox)
        time.sleep(3 * LEASE)  # three leases: without the heartbeat the second worker takes over
        assert inbox.mail_commands == 1, "the second worker took messages the first one still held"
        assert unsent() == 3
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        while unsent() and time.monotonic() - killed_at < 60:
            time.sleep(0.1)
        took = time.monotonic() - killed_at
    finally:
        if first.poll() is None:
            first.kill()
        if second is not None:
            stop(second)
    assert unsent() == 0
    assert took < LEASE + 3, f"{took:.1f} s after the kill, with a {LEASE} s lease"
    assert sorted(Counter(inbox.message_ids).values()) == [1, 1, 1]  # each Message-ID once


def test_the_heartbeat_renews_only_the_leases_its_worker_holds(app, place):
    place(confirm=True, email="a@example.com")
    place(confirm=True, email="b@example.com")
    ids, until = outbox._claim(10)
    assert len(ids) == 2
    with db.engine.begin() as connection:  # the second one's lease ran out and another worker took it
        connection.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == ids[1])
                           .values(locked_until=utcnow() + timedelta(seconds=999)))
    renewed = outbox.renew(ids, until)
    db.session.remove()
    leases = {m.id: m.locked_until for m in db.session.scalars(select(OutboxMessage))}
    assert leases[ids[0]] == renewed > until
    assert leases[ids[1]] > renewed  # the other worker's lease, untouched


def test_a_live_worker_keeps_its_lease_while_a_send_takes_longer(app, place, monkeypatch):
    """In-process: a handler that takes three leases; a claim made meanwhile (another
    worker) finds nothing, because the heartbeat renewed the lease."""
    app.config.update(OMS_OUTBOX_LEASE_SECONDS=2, OMS_OUTBOX_HEARTBEAT_SECONDS=1)
    place(confirm=True)
    db.session.remove()
    seen = []

    def slow(message):
        time.sleep(5)
        with app.app_context():
            seen.append(outbox.claim())
            db.session.remove()

    monkeypatch.setitem(outbox._HANDLERS, "email.send", slow)
    assert outbox.run_once() == (1, 0)
    assert seen == [[]]
