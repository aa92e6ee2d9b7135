"""`flask oms ...`: create-user, check-stock and the outbox worker."""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from oms_core.db import db
from oms_core.models import OutboxMessage, StaffUser
from oms_core.models._base import utcnow
from oms_core.services import payments, shipments, users


def create_user(runner, *extra, email="olive@example.com", role="owner", password="long-enough-pw"):
    args = ["oms", "create-user", "--email", email, "--name", "Olive", "--role", role, *extra]
    if password is not None:
        args += ["--password", password]
    return runner.invoke(args=args)


# ------------------------------------------------------------------ create-user


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_create_user(app, runner, role):
    result = create_user(runner, role=role, email=f"{role}@example.com")
    assert result.exit_code == 0, result.output
    assert result.output == f"Created {role} {role}@example.com.\n"
    user = users.authenticate(f"{role}@example.com", "long-enough-pw")
    assert user is not None and user.role == role
    assert users.authenticate(f"{role}@example.com", "wrong-password") is None


def test_create_user_asks_for_the_password_twice(app, runner):
    result = runner.invoke(args=["oms", "create-user", "--email", "sam@example.com", "--name", "Sam"],
                           input="typed-secret\ntyped-secret\n")
    assert result.exit_code == 0, result.output
    assert users.authenticate("sam@example.com", "typed-secret").role == "staff"  # the default role


def test_create_user_refuses_a_duplicate(app, runner):
    assert create_user(runner).exit_code == 0
    result = create_user(runner, email="Olive@Example.com ", role="staff")
    assert result.exit_code == 1
    assert "A user olive@example.com exists already." in result.output
    assert db.session.scalar(select(db.func.count()).select_from(StaffUser)) == 1


def test_create_user_refuses_a_short_password(app, runner):
    result = create_user(runner, password="short")
    assert result.exit_code == 1
    assert "at least 8 characters" in result.output
    assert db.session.scalar(select(db.func.count()).select_from(StaffUser)) == 0


def test_create_user_refuses_an_unknown_role(app, runner):
    result = create_user(runner, role="admin")
    assert result.exit_code == 2 and "admin" in result.output


# ------------------------------------------------------------------ check-stock


def test_check_stock_passes_on_consistent_data(app, runner, make_product, place):
    product = make_product(on_hand=10)
    shipped = place([(product.sku, 3)], confirm=True)
    payments.record_payment(shipped.id, gateway_id="bank_transfer", amount_minor=shipped.total_minor,
                            currency="EUR", reference="T1", actor="test")
    shipments.create_shipment(shipped.id, carrier_id="manual", service="DHL", tracking_number="JD1",
                              actor="test")
    place([(product.sku, 2)], confirm=True)  # reserved, not shipped
    result = runner.invoke(args=["oms", "check-stock"])
    assert result.exit_code == 0, result.output
    assert result.output == "Stock matches the ledger.\n"


@pytest.mark.parametrize("column", ["on_hand", "reserved"])
def test_check_stock_fails_after_a_raw_update_that_breaks_the_ledger(app, runner, make_product,
                                                                     place, column):
    make_product(sku="MUG-1", on_hand=10)
    make_product(sku="MUG-2", on_hand=4)
    place([("MUG-1", 2)], confirm=True)
    db.session.execute(text(f"UPDATE oms_product SET {column} = {column} + 1 WHERE sku = 'MUG-1'"))
    db.session.commit()
    result = runner.invoke(args=["oms", "check-stock"])
    assert result.exit_code == 1
    expected = {"on_hand": "MUG-1: on hand 11 vs ledger 10; reserved 2 vs ledger 2",
                "reserved": "MUG-1: on hand 10 vs ledger 10; reserved 3 vs ledger 2"}[column]
    assert expected in result.output.splitlines()
    assert "MUG-2" not in result.output
    assert "1 product(s) disagree with the ledger." in result.output


# ------------------------------------------------------------------ worker


class Inbox:
    """aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


class TestWorkerWithMailServer:
    @pytest.fixture
    def app_config(self, smtp_inbox):
        return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp_inbox.port}

    def test_worker_once_sends_what_is_due(self, app, runner, place, smtp_inbox):
        order = place(confirm=True, email="ann@example.com")  # queues the "confirmed" email
        result = runner.invoke(args=["oms", "worker", "--once"])
        assert result.exit_code == 0, result.output
        assert result.output == "1 sent, 0 failed\n"
        [envelope] = smtp_inbox.messages
        assert envelope.rcpt_tos == ["ann@example.com"]
        assert f"Subject: Order {order.number} confirmed" in envelope.content.decode()
        assert runner.invoke(args=["oms", "worker", "--once"]).output == "0 sent, 0 failed\n"
        assert len(smtp_inbox.messages) == 1


def test_worker_once_failure_is_retried_later(app, runner, place):
    place(confirm=True)  # nothing listens on the configured SMTP port
    result = runner.invoke(args=["oms", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output == "0 sent, 1 failed\n"
    db.session.expire_all()
    [message] = db.session.scalars(select(OutboxMessage))
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.startswith("SMTP")
    assert message.next_attempt_at > utcnow() + timedelta(seconds=20)  # backoff, not a busy loop
    assert runner.invoke(args=["oms", "worker", "--once"]).output == "0 sent, 0 failed\n"


def read_line_containing(process, needle: str, timeout: float = 30) -> list[str]:
    """Read the process's stdout until a line contains `needle` (or fail at timeout)."""
    seen = []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if needle in line:
                return seen
    raise AssertionError(f"no line with {needle!r}; got {seen!r}")


def test_worker_runs_until_sigterm(app, place, database_url, tmp_path):
    place(confirm=True)
    (tmp_path / "worker_app.py").write_text(
        "from oms_core.testing import make_app\n"
        f"app = make_app({database_url!r}, upgrade=False)\n")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "worker_app", "oms", "worker", "--poll", "0.1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        read_line_containing(process, "outbox worker")
        read_line_containing(process, "outbox: 0 sent, 1 failed")  # it did its work
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert output.strip().endswith("worker stopped")
