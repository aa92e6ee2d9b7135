"""Customer emails through the outbox to a real SMTP server (aiosmtpd on a free
local port): one per confirmed, paid, shipped and delivered, each with a plain
text and an HTML part that carry the tracking link and code; a server that is
down means later, not lost; user text is escaped in the HTML."""
from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.models import OutboxMessage
from oms_core.protocols import TrackingUpdate
from oms_core.services import notifications, orders, outbox, payments, refunds, shipments
from oms_core.testing.fakes import FakeCardGateway, plugin_registering

ACTOR = "staff:ops@example.com"
BASE_URL = "https://shop.example"


class Inbox:
    """aiosmtpd handler: keeps every message it accepts. smtplib returns only after
    the server answered DATA, so a message is here when the worker's call is done."""

    def __init__(self):
        self.received: list = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPServer:
    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(smtp):
    return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_PUBLIC_BASE_URL": BASE_URL,
            "OMS_SHOP_NAME": "Corner Shop", "OMS_MAIL_SENDER": "hello@shop.example",
            "OMS_OUTBOX_BACKOFF_SECONDS": 30}


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = datetime.now(timezone.utc)

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(outbox, "utcnow", fake)
    return fake


def parts(message) -> tuple[str, str]:
    # multipart/mixed when documents are attached (test_document_downloads.py)
    assert message.get_content_type() in ("multipart/alternative", "multipart/mixed")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def order_through_delivery(place, **kw) -> int:
    order = place(confirm=True, **kw)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency="EUR", reference="T-1", actor=ACTOR)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD014600", actor=ACTOR)
    shipments.add_tracking_update(shipment.id, TrackingUpdate(
        "JD014600", "delivered", datetime.now(timezone.utc), raw_code="DLV"), source="carrier:manual")
    return order.id


def test_four_emails_with_text_html_and_the_tracking_link(app, place, smtp):
    order_id = order_through_delivery(place, email="Ann@Example.com", name="Ann Example")
    assert outbox.run_once() == (4, 0)
    order = orders.get_order(order_id)
    code = tracking_codes.display(order.tracking_code)
    url = f"{BASE_URL}/track?code={code}"
    assert notifications.tracking_url(order.tracking_code) == url

    assert len(smtp.inbox.received) == 4
    subjects = []
    for mail_from, recipients, message in smtp.inbox.received:
        assert mail_from == "hello@shop.example" and recipients == ["ann@example.com"]
        assert message["To"] == "Ann Example <ann@example.com>"
        assert message["From"] == "Corner Shop <hello@shop.example>"
        assert message["Message-ID"].startswith("<" + notifications.status_email_key(order, ""))
        text, html = parts(message)
        for body in (text, html):
            assert code in body and url in body and order.number in body
        assert f'href="{url}"' in html
        subjects.append(message["Subject"])
    assert subjects == [f"Order {order.number} confirmed", f"Payment received for order {order.number}",
                        f"Order {order.number} is on its way", f"Order {order.number} has been delivered"]
    assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}
    assert outbox.run_once() == (0, 0)  # nothing is sent twice


def test_smtp_down_means_later_not_lost(app, place, smtp, clock):
    smtp.stop()
    order_id = place(confirm=True).id
    assert outbox.run_once() == (0, 1)
    db.session.remove()
    message = db.session.scalar(select(OutboxMessage))
    assert message.status == "pending" and message.attempts == 1
    assert message.last_error.startswith("SMTP:")
    assert [m.id for m in outbox.problems()] == [message.id]
    assert orders.get_order(order_id).status == "confirmed"

    smtp.start()
    assert outbox.run_once() == (0, 0)  # still waiting out its backoff
    clock.now += timedelta(seconds=30)
    assert outbox.run_once() == (1, 0)
    assert [m["Subject"] for _, _, m in smtp.inbox.received] == [
        f"Order {orders.get_order(order_id).number} confirmed"]
    assert outbox.problems() == []


def test_user_text_is_escaped_in_the_html(app, place, make_product, smtp):
    product = make_product(name='Mug <img src=x onerror="alert(2)">')
    place([(product.sku, 1)], confirm=True, name="<script>alert(1)</script> Eve")
    assert outbox.run_once() == (1, 0)
    _, _, message = smtp.inbox.received[0]
    text, html = parts(message)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Eve" in html
    assert "&lt;img src=x" in html
    assert "<script>alert(1)</script> Eve" in text  # plain text is shown as typed


def test_a_name_cannot_inject_mail_headers(app, place, smtp):
    place(confirm=True, name="Eve\r\nBcc: everyone@example.com", email="eve@example.com")
    assert outbox.run_once() == (1, 0)
    mail_from, recipients, message = smtp.inbox.received[0]
    assert recipients == ["eve@example.com"]
    assert message["Bcc"] is None and "\n" not in message["To"]


def test_no_email_for_steps_the_customer_is_not_told_about(app, place):
    order = place(confirm=False)
    orders.cancel_order(order.id, actor=ACTOR, reason="Duplicate")
    db.session.remove()
    assert db.session.scalar(select(OutboxMessage.id)) is None


def test_email_keys_come_from_the_random_tracking_code_not_the_order_id(app, place):
    """Order ids start again at 1 after a database reset or in another installation;
    a Message-ID made from them would repeat. The tracking code's digest does not,
    and it does not show the code itself to every mail server on the way."""
    first, second = place(confirm=True), place(confirm=True)
    keys = {notifications.status_email_key(order, "confirmed") for order in (first, second)}
    assert len(keys) == 2
    for order in (first, second):
        key = notifications.status_email_key(order, "confirmed")
        assert order.tracking_code not in key and f"-{order.id}-" not in key
        again = type(order)(id=order.id + 1000, tracking_code=order.tracking_code)
        assert notifications.status_email_key(again, "confirmed") == key  # the code decides, not the id


WORKER_ONLY_APP = '''
import sys

sys.modules["oms_web"] = None  # only the core in this process: importing the web package fails

from flask import Flask

from oms_core.setup import init_core

app = Flask("worker_only")
app.config.update({config!r})
init_core(app)
'''


def test_a_worker_with_only_the_core_sends_the_email(app, place, smtp, tmp_path):
    """`flask oms worker` in a process without the web package (no OMS extension, no
    oms_web templates) renders and sends the customer's email."""
    order = place(confirm=True, name="Ann <Example>")
    config = {key: value for key, value in app.config.items()
              if key.startswith("OMS_") and isinstance(value, (str, int, bool))}
    config["SQLALCHEMY_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"]
    (tmp_path / "worker_only.py").write_text(WORKER_ONLY_APP.format(config=config))
    db.session.remove()
    worker = [sys.executable, "-m", "flask", "--app", "worker_only", "oms", "worker", "--once"]
    result = subprocess.run(worker, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("1 sent, 0 failed")
    [(_, recipients, message)] = smtp.inbox.received
    assert recipients == ["ann@example.com"] and message["Subject"] == f"Order {order.number} confirmed"
    text, html = parts(message)
    assert "Hello Ann <Example>," in text and "Hello Ann &lt;Example&gt;," in html
    assert tracking_codes.display(order.tracking_code) in text


def test_the_worker_only_app_really_lacks_the_web_package(tmp_path):
    """The check above proves something only if its app cannot import oms_web."""
    (tmp_path / "probe.py").write_text(WORKER_ONLY_APP.format(config={}).split("from flask")[0]
                                       + "import oms_web\n")
    result = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("app_config", [{"OMS_SMTP_HOST": "127.0.0.1", "OMS_PUBLIC_BASE_URL": BASE_URL,
                                         "extra_plugins": [plugin_registering(FakeCardGateway())],
                                         "OMS_PLUGINS": {"fakecard": {"webhook_secret": "s"}}}])
def test_the_confirmation_of_a_card_order_links_pay_now_and_a_refund_is_told(app_config, app, place, smtp):
    app.config["OMS_SMTP_PORT"] = smtp.port
    card_order = place(confirm=True, payment_method="fakecard")
    transfer = order_through_delivery(place)
    refunds.refund_order(transfer, amount_minor=100, reason="Dented box", reference="BACK-1", actor=ACTOR)
    outbox.run_once()
    by_subject = {message["Subject"]: parts(message) for _, _, message in smtp.inbox.received}
    code = tracking_codes.display(orders.get_order(card_order.id).tracking_code)
    text, html = by_subject[f"Order {card_order.number} confirmed"]
    assert f"Pay now: {BASE_URL}/track/pay?code={code}" in text and f'href="{BASE_URL}/track/pay?code={code}"' in html
    text, _ = by_subject[f"Order {orders.get_order(transfer).number} confirmed"]
    assert "Pay now" not in text  # paid by the time it is sent, and a transfer has no online payment
    text, html = by_subject[f"Refund for order {orders.get_order(transfer).number}"]
    assert "We have refunded €1.00" in text and "€1.00" in html  # the customer's locale (en_GB here)
