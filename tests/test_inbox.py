"""The inbound inbox (docs/architecture.md, invariant 3): every webhook delivery is
kept raw with its verification result and outcome; the core trusts no plugin's
answer blindly; events that fit nothing yet wait and are applied when their
shipment or order turns up; the events of a delivery apply all or none."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from oms_core.db import db
from oms_core.models import InboundEvent, Order, Payment, Shipment, ShipmentEvent, UnmatchedEvent
from oms_core.protocols import WebhookHeaders
from oms_core.services import inbox, orders, outbox, shipments, webhooks
from webhook_plugins import (
    SECRET, SIGNATURE_HEADER, LaxGateway, RaisingCarrier, TokenCarrier, post, secrets_for, signed_headers,
    signed_plugins,
)


def config(**extra) -> dict:
    """Fresh plugins (the booking carrier numbers its parcels) with their secrets."""
    plugins = signed_plugins(LaxGateway("laxpay"), RaisingCarrier("brokenship"), TokenCarrier("tokenship"))
    return {"extra_plugins": [plugins], **secrets_for("hmacpay", "hmacship", "hmacbook", "brokenship"),
            **extra}


@pytest.fixture
def app_config():
    return config()


def rows() -> list[InboundEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(order_id: int) -> Order:
    db.session.expire_all()
    return orders.get_order(order_id)


def carrier_event(number, status="in_transit", at=None, event_id=None, **extra):
    at = at or datetime.now(timezone.utc) - timedelta(minutes=5)
    return {"number": number, "status": status, "at": at.isoformat(), "id": event_id, **extra}


def track(client, carrier_id, events, **kw):
    return post(client, f"/oms/webhooks/carriers/{carrier_id}", {"events": events}, **kw)


def pay(client, gateway_id, events, **kw):
    return post(client, f"/oms/webhooks/payments/{gateway_id}", {"events": events}, **kw)


def payment_event(order, event_id="evt_1"):
    return {"id": event_id, "order": order.id, "amount": order.total_minor, "currency": order.currency}


# ------------------------------------------------------------------ kept raw, whatever happens


def test_an_applied_delivery_is_kept_raw_with_its_headers_minus_credentials(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    body = json.dumps({"events": [payment_event(order)]}).encode()
    response = client.post("/oms/webhooks/payments/hmacpay", data=body, content_type="application/json",
                           headers={**signed_headers(body), "Authorization": "Basic c2VjcmV0",
                                    "X-Api-Key": "key-abc", "X-Request-Id": "req-1"})
    assert response.status_code == 200
    [row] = rows()
    assert (row.source, row.plugin_id, row.body) == ("payment", "hmacpay", body)
    assert (row.verification, row.outcome, row.reason) == ("verified", "applied", "")
    assert (row.events_received, row.events_applied, row.events_unmatched) == (1, 1, 0)
    assert row.headers[SIGNATURE_HEADER] and row.headers["X-Request-Id"] == "req-1"
    assert row.headers["Authorization"] == row.headers["X-Api-Key"] == "(not kept)"
    assert row.settled_at is not None and fresh(order.id).status == "paid"


def test_a_redelivery_is_kept_and_settled_as_a_duplicate(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    assert pay(client, "hmacpay", [payment_event(order)]).status_code == 200
    assert pay(client, "hmacpay", [payment_event(order)]).status_code == 200
    assert [(r.outcome, r.events_duplicate) for r in rows()] == [("applied", 0), ("duplicate", 1)]
    assert count(Payment) == 1


@pytest.mark.parametrize("secret, status", [("wrong-secret", 400), (None, 400)])
def test_a_bad_or_missing_signature_is_kept_refused_and_changes_nothing(client, place, secret, status):
    order = place(payment_method="hmacpay", confirm=True)
    body = json.dumps({"events": [payment_event(order)]}).encode()
    headers = signed_headers(body, secret) if secret else {}
    response = client.post("/oms/webhooks/payments/hmacpay", data=body, headers=headers)
    assert response.status_code == status
    [row] = rows()
    assert (row.verification, row.outcome, row.body) == ("refused", "refused", body)
    assert "signature" in row.reason.lower()
    assert count(Payment) == 0 and fresh(order.id).status == "confirmed"


def test_a_plugin_that_raises_loses_nothing_and_the_sender_retries(client):
    body = json.dumps({"events": [carrier_event("BR1")]}).encode()
    response = client.post("/oms/webhooks/carriers/brokenship", data=body, headers=signed_headers(body))
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert "kept" in error and "again later" in error and "plugin bug" not in error  # details stay here
    [row] = rows()
    assert (row.outcome, row.body) == ("error", body)
    assert "RuntimeError: plugin bug" in row.reason


def test_an_unknown_plugin_is_404_and_nothing_is_kept(client):
    assert post(client, "/oms/webhooks/payments/nope", {"events": []}).status_code == 404
    assert post(client, "/oms/webhooks/carriers/nope", {"events": []}).status_code == 404
    assert rows() == []


def test_a_body_over_one_mebibyte_is_refused_unread(client):
    response = client.post("/oms/webhooks/carriers/hmacship", data=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413 and rows() == []
    with pytest.raises(webhooks.WebhookTooLarge):  # the Python API too
        webhooks.receive_carrier_webhook("hmacship", b"x" * (1024 * 1024 + 1), {})
    assert rows() == []


# ------------------------------------------------------------------ trust


def test_the_lax_plugin_is_never_asked_without_a_secret(client, place):
    """The bug this guards: a plugin that checks signatures only 'if a secret is
    set' would let an unsigned POST pay any order. The core refuses first."""
    order = place(payment_method="laxpay", confirm=True)
    response = client.post("/oms/webhooks/payments/laxpay", json={"events": [payment_event(order)]})
    assert response.status_code == 503
    assert "secret" in response.get_json()["error"]
    [row] = rows()
    assert (row.verification, row.outcome) == ("not_checked", "refused")
    assert "OMS_PLUGIN_LAXPAY_WEBHOOK_SECRET" in row.reason  # tells staff where to set it
    assert count(Payment) == 0 and fresh(order.id).status == "confirmed"


def test_a_gateway_cannot_pay_an_order_of_another_payment_method(client, place):
    """Even a correctly signed event of one gateway never pays a bank-transfer order."""
    order = place(payment_method="bank_transfer", confirm=True)
    response = pay(client, "hmacpay", [payment_event(order)])
    assert response.status_code == 202
    assert response.get_json()["unmatched"] == 1 and response.get_json()["applied"] == 0
    assert count(Payment) == 0 and fresh(order.id).status == "confirmed"
    waiting = db.session.scalar(select(UnmatchedEvent))
    assert waiting.reason == f"Order {order.number} is paid by bank_transfer, not hmacpay."
    assert webhooks.rematch_waiting() == 0  # and a re-match does not change that
    assert count(Payment) == 0


def test_a_plugin_with_custom_authentication_is_asked_without_a_secret(client, place):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipments.create_shipment(order.id, carrier_id="tokenship", service="standard", tracking_number="TK1",
                              actor="test")
    event = carrier_event("TK1", "delivered")
    refused = track(client, "tokenship", [event], headers={"X-Carrier-Token": "guess"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "Bad token."
    accepted = track(client, "tokenship", [event], headers={"X-Carrier-Token": "token-123"})
    assert accepted.status_code == 200 and fresh(order.id).status == "delivered"
    assert [(r.verification, r.outcome) for r in rows()] == [("refused", "refused"), ("verified", "applied")]
    assert {r.headers["X-Carrier-Token"] for r in rows()} == {"(not kept)"}  # its credential


def test_a_plugin_without_webhooks_is_refused_unread(client):
    response = post(client, "/oms/webhooks/carriers/manual", {"events": []})
    assert response.status_code == 404 and "no webhooks" in response.get_json()["error"]
    [row] = rows()
    assert (row.verification, row.outcome) == ("not_checked", "refused")


def test_plugins_read_headers_in_any_case(app, place):
    """The plugins under test read the signature header in lower case: through the
    endpoint (werkzeug headers) and through the Python API with a plain dict."""
    order = place(payment_method="hmacpay", confirm=True)
    body = json.dumps({"events": [payment_event(order)]}).encode()
    shouted = {name.upper(): value for name, value in signed_headers(body).items()}
    assert webhooks.receive_payment_webhook("hmacpay", body, shouted).applied == 1
    headers = WebhookHeaders([("X-Test-Signature", "a"), ("Content-Type", "b")])
    assert headers["x-test-signature"] == headers.get("X-TEST-SIGNATURE") == "a"
    assert "content-TYPE" in headers and headers.get(1) is None
    assert dict(headers) == {"X-Test-Signature": "a", "Content-Type": "b"}


# ------------------------------------------------------------------ all or nothing


def test_a_delivery_with_one_bad_event_applies_none(client, place):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipments.create_shipment(order.id, carrier_id="hmacship", service="standard", tracking_number="HS1",
                              actor="test")
    good = carrier_event("HS1", "delivered")
    future = carrier_event("HS1", "in_transit", at=datetime.now(timezone.utc) + timedelta(days=3))
    response = track(client, "hmacship", [good, future])
    assert response.status_code == 422 and "future" in response.get_json()["error"]
    assert count(ShipmentEvent) == 0 and fresh(order.id).status == "shipped"
    [row] = rows()
    assert (row.verification, row.outcome) == ("verified", "refused") and "future" in row.reason
    too_long = carrier_event("HS1", code="X" * 101)
    assert track(client, "hmacship", [good, too_long]).status_code == 422
    assert count(ShipmentEvent) == 0


def test_a_failure_while_applying_rolls_back_every_event(client, place, monkeypatch):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipments.create_shipment(order.id, carrier_id="hmacship", service="standard", tracking_number="HS1",
                              actor="test")
    real = shipments.add_tracking_update
    calls = []

    def second_call_fails(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kw)

    monkeypatch.setattr(shipments, "add_tracking_update", second_call_fails)
    events = [carrier_event("HS1", "in_transit"), carrier_event("HS1", "delivered")]
    assert track(client, "hmacship", events).status_code == 500
    assert count(ShipmentEvent) == 0 and fresh(order.id).status == "shipped"
    [row] = rows()
    assert row.outcome == "error" and "database went away" in row.reason
    monkeypatch.setattr(shipments, "add_tracking_update", real)
    assert track(client, "hmacship", events).status_code == 200  # the sender's retry
    assert count(ShipmentEvent) == 2 and fresh(order.id).status == "delivered"


# ------------------------------------------------------------------ unmatched, then matched


def booked_order(place):
    """An order whose parcel waits for its booking with hmacbook (it will be HB0001)."""
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipment = shipments.create_shipment(order.id, carrier_id="hmacbook", service="std", actor="test")
    return order, shipment


def test_an_event_before_its_booking_waits_and_is_applied_when_the_booking_lands(client, place):
    order, shipment = booked_order(place)
    accepted = carrier_event("HB0001", "pre_transit", event_id="c-1")
    response = track(client, "hmacbook", [accepted])
    assert response.status_code == 202
    assert response.get_json() == {"ok": True, "received": 1, "applied": 0, "duplicates": 0, "unmatched": 1,
                                   "flagged": 0}
    assert track(client, "hmacbook", [accepted]).get_json()["duplicates"] == 1  # the carrier retries
    assert count(UnmatchedEvent) == 1 and count(ShipmentEvent) == 0

    outbox.run_once()  # books HB0001: the waiting event is applied in the same transaction
    db.session.expire_all()
    booked = db.session.get(Shipment, shipment.id)
    assert booked.tracking_number == "HB0001" and fresh(order.id).status == "shipped"
    [event] = booked.events
    assert (event.status, event.event_id, event.source) == ("pre_transit", "c-1", "carrier:hmacbook")
    assert count(UnmatchedEvent) == 0
    first, second = rows()
    assert (first.outcome, first.events_applied, first.events_unmatched) == ("applied", 1, 0)
    assert (second.outcome, second.events_duplicate) == ("duplicate", 1)
    # The carrier sends it again now that the number is known: nothing new.
    assert track(client, "hmacbook", [accepted]).get_json()["duplicates"] == 1


def test_a_manual_parcel_picks_up_the_events_that_came_first(client, place):
    track(client, "hmacship", [carrier_event("HS9", "in_transit")])
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipment = shipments.create_shipment(order.id, carrier_id="hmacship", service="standard",
                                         tracking_number="HS9", actor="test")
    db.session.expire_all()
    assert db.session.get(Shipment, shipment.id).status == "in_transit" and count(UnmatchedEvent) == 0


def test_the_periodic_rematch_applies_what_a_booking_missed(client, place):
    """Say the booking's own re-match ran before the event was committed (what the
    advisory lock prevents on PostgreSQL): the worker's round applies it."""
    order, shipment = booked_order(place)
    track(client, "hmacbook", [carrier_event("HB0001", "in_transit")])
    db.session.execute(update(Shipment).where(Shipment.id == shipment.id).values(tracking_number="HB0001"))
    db.session.commit()
    assert webhooks.rematch_waiting() == 1
    assert count(UnmatchedEvent) == 0 and count(ShipmentEvent) == 1
    assert rows()[0].outcome == "applied"
    assert webhooks.rematch_waiting() == 0


def test_a_payment_for_an_order_not_committed_yet_is_applied_by_the_rematch(client, place, make_product):
    first = place(payment_method="hmacpay", confirm=True)
    product = make_product(price_minor=first.total_minor // 2)
    next_id = first.id + 1
    early = {"id": "evt_early", "order": next_id, "amount": first.total_minor, "currency": "EUR"}
    assert pay(client, "hmacpay", [early]).status_code == 202
    assert webhooks.rematch_waiting() == 0  # still no such order
    second = place([(product.sku, 2)], payment_method="hmacpay", confirm=True)
    assert second.id == next_id  # the precondition of this test
    assert webhooks.rematch_waiting() == 1
    assert fresh(second.id).status == "paid" and count(UnmatchedEvent) == 0
    assert rows()[-1].outcome == "applied"


def test_the_rematch_schedule_runs_once_a_minute_and_never_raises(app, monkeypatch):
    now = [0.0]
    calls = []
    monkeypatch.setattr(webhooks, "rematch_waiting", lambda: calls.append(now[0]) or 1 / 0)
    schedule = webhooks.rematch_schedule(every_seconds=60, clock=lambda: now[0])
    for now[0] in (0.0, 30.0, 59.0, 60.0, 61.0, 125.0):
        schedule()
    assert calls == [0.0, 60.0, 125.0]


# ------------------------------------------------------------------ for staff


@pytest.mark.parametrize("app_config", [config(OMS_INBOX_UNMATCHED_AFTER_MINUTES=30)])
def test_staff_see_what_stayed_unmatched_too_long(staff_client, client, place):
    body = {"events": [carrier_event("HB7777", "pre_transit")], "note": "<script>x</script>"}
    track(client, "hmacbook", [], raw=json.dumps(body).encode())
    [row] = rows()
    dashboard = staff_client.get("/oms/admin/").get_data(as_text=True)
    assert 'id="count-inbox"' in dashboard
    assert '<span class="count">0</span><span class="label">Unmatched webhooks' in dashboard
    listed = staff_client.get("/oms/admin/inbox").get_data(as_text=True)
    assert f'id="inbound-{row.id}"' not in listed and "30 minutes" in listed
    all_unmatched = staff_client.get("/oms/admin/inbox?list=unmatched").get_data(as_text=True)
    assert f'id="inbound-{row.id}"' in all_unmatched

    an_hour_ago = datetime.now(timezone.utc) - timedelta(minutes=31)
    db.session.execute(update(InboundEvent).values(received_at=an_hour_ago))
    db.session.commit()
    assert inbox.waiting_count() == 1
    dashboard = staff_client.get("/oms/admin/").get_data(as_text=True)
    assert '<span class="count">1</span><span class="label">Unmatched webhooks' in dashboard
    listed = staff_client.get("/oms/admin/inbox").get_data(as_text=True)
    assert f'id="inbound-{row.id}"' in listed and "No shipment with tracking number HB7777 yet." in listed
    page = staff_client.get(f"/oms/admin/inbox/{row.id}").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "HB7777" in page and SIGNATURE_HEADER in page
    assert staff_client.get("/oms/admin/inbox/999999").status_code == 404


def test_the_inbox_needs_a_login(client):
    for url in ("/oms/admin/inbox", "/oms/admin/inbox/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("app_config", [config(OMS_INBOX_UNMATCHED_AFTER_MINUTES=-5)])
def test_a_bad_waiting_time_is_a_clear_error(app):
    with pytest.raises(ValueError, match="OMS_INBOX_UNMATCHED_AFTER_MINUTES"):
        inbox.waiting_count()


def test_the_secret_itself_is_never_stored(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    pay(client, "hmacpay", [payment_event(order)])
    pay(client, "hmacpay", [payment_event(order)], secret="wrong")
    for row in rows():
        assert SECRET not in json.dumps(row.headers) and SECRET.encode() not in row.body
        assert SECRET not in row.reason
