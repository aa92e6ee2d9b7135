"""Outbound webhooks against a real HTTP receiver on a local port (tests/webhook_receiver.py)
that checks every signature: events written with the change that causes them, signed,
sent through the outbox in the order they happened, retried with backoff while the
receiver answers 500 or is down and then delivered once each, a wrong secret refused,
re-sends with the same event id, bad endpoint input refused. Both databases."""
from __future__ import annotations

import json
import socket
import time

import pytest
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.errors import NotFound, ValidationError
from oms_core.models import OutboxMessage, TimelineEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from oms_core.models._base import utcnow
from oms_core.services import orders, outbound_webhooks as hooks, outbox, payments, refunds, shipments
from oms_core.webhook_signing import outbound_signature, verify_outbound
from webhook_receiver import Receiver

ACTOR = "staff:ops@example.com"


@pytest.fixture
def app_config():
    # The receiver listens on 127.0.0.1; retries are due at once (backoff tested in test_outbox).
    return {"OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True, "OMS_OUTBOX_BACKOFF_SECONDS": 0,
            "OMS_OUTBOX_MAX_ATTEMPTS": 5, "OMS_WEBHOOK_TIMEOUT_SECONDS": 5}


@pytest.fixture
def receiver():
    found = Receiver().start()
    yield found
    found.stop()


def register(receiver, events=tuple(hooks.EVENTS)) -> WebhookEndpoint:
    endpoint = hooks.create_endpoint(receiver.url, events, description="ERP")
    receiver.secret = endpoint.secret
    return endpoint


def send_due() -> tuple[int, int]:
    """One worker pass over the webhook messages that are due (the emails the same
    changes queue are not what these tests are about)."""
    ids = list(db.session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.kind == hooks.DELIVER_KIND, OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= utcnow()).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)))
    db.session.commit()
    outcomes = [outbox.send_one(message_id) for message_id in ids]
    return outcomes.count(True), outcomes.count(False)


def deliveries(**where) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).filter_by(**where).order_by(WebhookDelivery.id)))


def paid_and_shipped(place):
    order = place(confirm=True)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T-1", actor=ACTOR)
    shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD0001",
                              actor=ACTOR)
    return order


def test_events_are_signed_sent_in_order_and_carry_no_personal_data(app, receiver, place):
    register(receiver)
    order = paid_and_shipped(place)
    assert send_due() == (7, 0)
    # In the order they happened: placed, confirmed, paid (the status, then the money's
    # own event), fulfilling, shipped (the status, then its own event).
    assert receiver.types() == ["order.placed", "order.status_changed", "order.status_changed", "order.paid",
                                "order.status_changed", "order.status_changed", "order.shipped"]
    changes = [(e["data"]["from_status"], e["data"]["to_status"]) for e in receiver.events()
               if e["type"] == "order.status_changed"]
    assert changes == [("placed", "confirmed"), ("confirmed", "paid"), ("paid", "fulfilling"),
                       ("fulfilling", "shipped")]
    assert all(r["problem"] is None for r in receiver.requests)
    for request in receiver.requests:
        assert request["path"] == "/hooks/oms?source=test"
        assert request["headers"]["Content-Type"].startswith("application/json")
        assert request["headers"]["User-Agent"] == hooks.USER_AGENT
    event = receiver.events()[0]
    assert event["data"]["order"]["number"] == order.number and event["data"]["order"]["total_minor"] > 0
    # Written confirmed at once (place_order's Core path), it is still heard placed first.
    assert [e["data"]["order"]["status"] for e in receiver.events()[:2]] == ["placed", "confirmed"]
    raw = b"".join(r["body"] for r in receiver.requests).decode()
    for personal in ("ann@example.com", "Ann Example", order.tracking_code):
        assert personal not in raw
    assert {d.status for d in deliveries()} == {"delivered"}
    attempt = db.session.scalars(select(WebhookAttempt)).first()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok" and attempt.duration_ms >= 0


def test_event_types_follow_the_endpoints_choice_and_nothing_is_written_without_endpoints(app, receiver, place):
    place(confirm=True)
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert db.session.scalar(select(func.count()).where(OutboxMessage.kind == hooks.DELIVER_KIND)) == 0
    register(receiver, ["order.paid"])
    paid_and_shipped(place)
    send_due()
    assert receiver.types() == ["order.paid"]


def test_a_receiver_answering_500_gets_each_event_once_when_it_recovers(app, receiver, place):
    register(receiver, ["order.placed", "order.status_changed"])
    receiver.fail_next = 3
    place(confirm=True)
    place(confirm=True)  # 4 events
    assert send_due() == (1, 3)
    assert {d.status for d in deliveries()} == {"retrying", "delivered"}
    failed = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.status_code == 500)).all()
    assert len(failed) == 3 and all(a.response_excerpt.startswith("boom") for a in failed)
    assert all(a.error == "HTTP 500" for a in failed)
    while send_due() != (0, 0):
        pass
    assert {d.status for d in deliveries()} == {"delivered"}
    assert len(receiver.accepted) == 4 and receiver.duplicates == 0
    assert sorted(d.attempts for d in deliveries()) == [1, 2, 2, 2]


def test_a_receiver_that_is_down_for_a_while_gets_everything_once_back(app, receiver, place):
    register(receiver)
    receiver.stop()
    order = place(confirm=True)
    for _ in range(2):
        assert send_due() == (0, 2)
    assert {d.status for d in deliveries()} == {"retrying"}
    attempts = db.session.scalars(select(WebhookAttempt)).all()
    assert len(attempts) == 4 and all(a.status_code is None and "refused" in a.error.lower() for a in attempts)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="T-2", actor=ACTOR)
    receiver.start()  # the same port again
    assert send_due() == (4, 0)
    assert receiver.types()[:2] == ["order.placed", "order.status_changed"]
    assert sorted(receiver.types()) == sorted(["order.placed", "order.status_changed", "order.status_changed",
                                               "order.paid"])
    assert receiver.duplicates == 0 and send_due() == (0, 0)


def test_deliveries_given_up_are_on_the_timeline_and_resent_by_staff(app, receiver, place):
    register(receiver, ["order.placed"])
    receiver.fail_next = 100
    order = place()
    for _ in range(5):
        send_due()
    (delivery,) = deliveries()
    assert delivery.status == "failed" and delivery.attempts == 5
    assert db.session.scalar(select(OutboxMessage.status).where(
        OutboxMessage.idempotency_key == delivery.outbox_key)) == "dead"
    kinds = db.session.scalars(select(TimelineEvent.kind).where(TimelineEvent.order_id == order.id)).all()
    assert "webhook_failed" in kinds
    receiver.fail_next = 0
    hooks.resend(delivery.endpoint_id, delivery.id, actor=ACTOR)
    assert send_due() == (1, 0)
    (delivery,) = deliveries()
    assert delivery.status == "delivered" and delivery.attempts == 6
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "webhook_resent")).all()
    assert len(events) == 1 and events[0].actor == ACTOR


def test_a_resend_of_a_delivered_event_keeps_its_id_and_body(app, receiver, place):
    register(receiver, ["order.placed"])
    place()
    send_due()
    (delivery,) = deliveries()
    first_key = delivery.outbox_key
    hooks.resend(delivery.endpoint_id, delivery.id, actor=ACTOR)
    assert send_due() == (1, 0)
    first, again = receiver.requests
    assert first["body"] == again["body"]
    assert first["headers"]["Oms-Event-Id"] == again["headers"]["Oms-Event-Id"] == delivery.event_id
    # Signed again for the new attempt (its own timestamp), still valid.
    assert again["problem"] is None
    assert receiver.duplicates == 1 and len(receiver.accepted) == 1
    (delivery,) = deliveries()
    assert delivery.status == "delivered" and delivery.resends == 1 and delivery.outbox_key != first_key


def test_a_receiver_with_another_secret_refuses_and_nothing_counts_as_delivered(app, receiver, place):
    register(receiver, ["order.placed"])
    receiver.secret = "whsec_not-the-one"
    place()
    assert send_due() == (0, 1)
    (request,) = receiver.requests
    assert request["problem"] == "The signature does not match."
    (delivery,) = deliveries()
    assert delivery.status == "retrying" and delivery.last_status_code == 400 and not receiver.accepted
    # Rotating the secret and giving the receiver the new one: the retry is signed with it.
    endpoint = hooks.rotate_secret(delivery.endpoint_id)
    receiver.secret = endpoint.secret
    assert send_due() == (1, 0) and len(receiver.accepted) == 1


def test_signature_verification_refuses_tampering_old_timestamps_and_garbage():
    body, secret, now = b'{"id":"evt_1"}', "whsec_x", 1_800_000_000
    header = outbound_signature(body, secret, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_outbound(body, header, secret, now=now + 299) is None
    assert verify_outbound(body + b" ", header, secret, now=now) == "The signature does not match."
    assert verify_outbound(body, header, "whsec_y", now=now) == "The signature does not match."
    assert "seconds from now" in verify_outbound(body, header, secret, now=now + 301)
    assert verify_outbound(body, f"{header},v1=00", secret, now=now) is None  # rotation: one of them
    for bad in ("", None, "v1=abc", f"t=²,v1=x", f"t={now}", "t=1,t=2,v1=x", "x" * 3000):
        assert verify_outbound(body, bad, secret, now=now) is not None


def test_refunds_and_return_requests_are_events_too(app, receiver, place):
    register(receiver, ["order.refunded", "return.requested"])
    order = paid_and_shipped(place)
    refunds.refund_order(order.id, amount_minor=100, reason="Scratched", reference="BANK-9", actor=ACTOR)
    from oms_core.db import write_transaction
    from oms_core.services.common import lock_order
    with write_transaction():
        hooks.return_requested(lock_order(order.id), return_id=7, lines={order.lines[0].id: 1},
                               reason="Too small")
    send_due()
    refunded, returned = receiver.events()
    assert refunded["type"] == "order.refunded"
    assert refunded["data"]["refund"]["amount_minor"] == 100 and refunded["data"]["order"]["refunded_minor"] == 100
    assert returned["type"] == "return.requested"
    assert returned["data"]["return"] == {"id": 7, "has_reason": True,
                                          "lines": [{"order_line_id": order.lines[0].id, "quantity": 1}]}
    assert "Too small" not in json.dumps(returned)


def test_a_failed_change_writes_no_delivery(app, receiver, place, make_product):
    register(receiver)
    product = make_product(on_hand=1)
    order = place([(product.sku, 2)])
    before = db.session.scalar(select(func.count()).select_from(WebhookDelivery))
    with pytest.raises(Exception):
        orders.confirm_order(order.id, actor=ACTOR)  # out of stock: rolled back
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == before


def test_disabling_an_endpoint_cancels_what_waits_and_stops_new_events(app, receiver, place):
    endpoint = register(receiver, ["order.placed"])
    receiver.stop()
    place()
    send_due()
    hooks.set_active(endpoint.id, False)
    (delivery,) = deliveries()
    assert delivery.status == "cancelled"
    assert db.session.scalar(select(OutboxMessage.status).where(
        OutboxMessage.idempotency_key == delivery.outbox_key)) == "cancelled"
    place()
    assert len(deliveries()) == 1
    with pytest.raises(ValidationError, match="disabled"):
        hooks.resend(endpoint.id, delivery.id, actor=ACTOR)
    receiver.start()
    hooks.set_active(endpoint.id, True)
    hooks.resend(endpoint.id, delivery.id, actor=ACTOR)
    assert send_due() == (1, 0) and receiver.types() == ["order.placed"]


@pytest.mark.parametrize("url, message", [
    ("", "required"), ("ftp://example.com/x", "https://"), ("javascript:alert(1)", "https://"),
    ("https://", "no host"), ("https://user:pw@example.com/", "user name"), ("https://example.com/#x", "fragment"),
    ("https://example.com:99999/", "port"), ("https://exa mple.com/", "spaces"), ("https://ex\x00.com", "control"),
    ("https://bücher.example/", "non-ASCII"), ("https://example.com/" + "x" * 500, "longer"),
])
def test_bad_endpoint_urls_are_refused(app, url, message):
    with pytest.raises(ValidationError, match=message):
        hooks.create_endpoint(url, ["order.placed"])
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


@pytest.mark.parametrize("events", [[], ["order.nope"], ["order.placed", "<script>"], None])
def test_bad_event_choices_are_refused(app, events):
    with pytest.raises(ValidationError):
        hooks.create_endpoint("https://erp.example.com/hooks", events)


def test_private_addresses_are_refused_unless_allowed(app, monkeypatch, place):
    app.config["OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    for url in ("http://127.0.0.1:8000/", "http://localhost/x", "http://[::1]/", "http://10.1.2.3/",
                "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"):
        with pytest.raises(ValidationError, match="private"):
            hooks.create_endpoint(url, ["order.placed"])
    # A public-looking name that resolves to a private address is refused when sending.
    endpoint = hooks.create_endpoint("https://hooks.example.com/oms", ["order.placed"])
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **kw: (
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))] if host == "hooks.example.com"
        else real(host, *a, **kw)))
    place()
    assert send_due() == (0, 1)
    attempt = db.session.scalars(select(WebhookAttempt)).one()
    assert "private address" in attempt.error and attempt.status_code is None
    assert endpoint.id


def test_endpoint_count_is_bounded(app, monkeypatch):
    monkeypatch.setattr("oms_core.limits.MAX_WEBHOOK_ENDPOINTS", 2)
    hooks.create_endpoint("https://a.example.com/", ["order.placed"])
    hooks.create_endpoint("https://b.example.com/", ["order.placed"])
    with pytest.raises(ValidationError, match="at most 2"):
        hooks.create_endpoint("https://c.example.com/", ["order.placed"])


def test_unknown_ids_are_not_found(app):
    for endpoint_id in (0, -1, 2**31, 99):
        with pytest.raises(NotFound):
            hooks.get_endpoint(endpoint_id)
        with pytest.raises(NotFound):
            hooks.resend(endpoint_id, 1, actor=ACTOR)


def test_a_slow_receiver_times_out_and_is_retried(app, place):
    """A receiver that accepts the connection and never answers: the timeout ends
    the attempt (logged with its duration), it does not hold the worker."""
    app.config["OMS_WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        hooks.create_endpoint(f"http://127.0.0.1:{silent.getsockname()[1]}/", ["order.placed"])
        place()
        started = time.monotonic()
        assert send_due() == (0, 1)
        assert time.monotonic() - started < 5
    attempt = db.session.scalars(select(WebhookAttempt)).one()
    assert "timed out" in attempt.error.lower() and attempt.duration_ms >= 400


def test_workers_sending_at_once_deliver_each_event_once(app, receiver, place):
    """Four outbox workers at once (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on
    SQLite): every event reaches the receiver exactly once, in one attempt."""
    from test_concurrency import race

    register(receiver, ["order.placed"])
    for _ in range(12):
        place()
    db.session.commit()
    results = race(app, 4, lambda i: outbox.run_once(limit=3))
    assert all(kind == "ok" for kind, _ in results), results
    while send_due() != (0, 0):
        pass
    assert len(receiver.accepted) == 12 and receiver.duplicates == 0 and len(receiver.requests) == 12
    assert {(d.status, d.attempts) for d in deliveries()} == {("delivered", 1)}
