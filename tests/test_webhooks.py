"""Webhooks: a gateway and a carrier that sign with HMAC-SHA256 (tests/webhook_plugins.py,
written as a plugin author would) report payments and tracking events over HTTP."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.models import Order, Payment, Shipment, ShipmentEvent, UnmatchedEvent
from oms_core.services import orders, shipments
from webhook_plugins import post, secrets_for, signed_plugins


@pytest.fixture
def app_config():
    return {"extra_plugins": [signed_plugins()], **secrets_for("hmacpay", "hmacship")}


def pay(client, events, **kw):
    return post(client, "/oms/webhooks/payments/hmacpay", {"events": events}, **kw)


def payment_event(order, event_id="evt_1", amount=None, currency="EUR"):
    return {"id": event_id, "order": order.id, "currency": currency, "charge": "ch_1",
            "amount": order.total_minor if amount is None else amount}


def payment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Payment))


def fresh(order) -> Order:
    db.session.expire_all()
    return orders.get_order(order.id)


# ------------------------------------------------------------------ payments


def test_payment_event_marks_the_order_paid_once(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    response = pay(client, [payment_event(order)])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"ok": True, "received": 1, "applied": 1, "duplicates": 0, "unmatched": 0,
                                   "flagged": 0}
    assert fresh(order).status == "paid"

    again = pay(client, [payment_event(order)])  # the gateway re-sends
    assert again.status_code == 200
    assert again.get_json()["duplicates"] == 1 and again.get_json()["applied"] == 0
    assert payment_count() == 1
    assert fresh(order).paid_minor == order.total_minor


def test_bad_signature_changes_nothing(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    response = pay(client, [payment_event(order)], secret="not-the-secret")
    assert response.status_code == 400
    assert response.get_json() == {"ok": False, "error": "Bad signature."}
    unsigned = client.post("/oms/webhooks/payments/hmacpay", json={"events": [payment_event(order)]})
    assert unsigned.status_code == 400
    assert payment_count() == 0
    assert (fresh(order).status, fresh(order).paid_minor) == ("confirmed", 0)


def test_unparseable_body_is_refused(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    assert pay(client, [], raw=b"{not json").status_code == 400
    assert pay(client, [{"id": "evt_x", "order": order.id}]).status_code == 400  # no amount
    assert payment_count() == 0


@pytest.mark.parametrize("amount_delta, currency", [(-1, "EUR"), (+1, "EUR"), (0, "USD")])
def test_mismatched_amount_or_currency_is_flagged_not_paid(client, place, amount_delta, currency):
    order = place(payment_method="hmacpay", confirm=True)
    response = pay(client, [payment_event(order, amount=order.total_minor + amount_delta, currency=currency)])
    assert response.status_code == 200
    assert response.get_json()["flagged"] == (0 if amount_delta == -1 else 1)
    payment = db.session.scalar(select(Payment))
    if amount_delta == -1:  # less than due: a partial payment, counted but not paid in full
        assert payment.status == "recorded" and fresh(order).status == "confirmed"
        assert fresh(order).payment_status == "partially_paid"
        return
    assert payment.status == "flagged" and payment.flag_reason
    assert fresh(order).status == "confirmed" and fresh(order).paid_minor == 0
    assert any(e.kind == "payment_flagged" for e in fresh(order).events)


def test_an_event_for_an_unknown_order_is_kept_unmatched(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    unknown = {"id": "evt_bad", "order": 999_999, "amount": 100, "currency": "EUR"}
    events = [payment_event(order, "evt_ok"), unknown]
    response = pay(client, events)
    assert response.status_code == 202  # accepted: the sender need not retry
    assert response.get_json() == {"ok": True, "received": 2, "applied": 1, "duplicates": 0, "unmatched": 1,
                                   "flagged": 0}
    assert payment_count() == 1 and fresh(order).status == "paid"
    [waiting] = db.session.scalars(select(UnmatchedEvent)).all()
    assert (waiting.match_key, waiting.reason) == ("999999", "No order 999999.")
    assert pay(client, events).get_json()["duplicates"] == 2  # a retry adds nothing
    assert db.session.scalar(select(func.count()).select_from(UnmatchedEvent)) == 1


def test_unknown_gateway_or_carrier_is_404(client):
    assert post(client, "/oms/webhooks/payments/nope", {"events": []}).status_code == 404
    assert post(client, "/oms/webhooks/carriers/nope", {"events": []}).status_code == 404


def test_offline_gateway_refuses_webhooks(client):
    response = post(client, "/oms/webhooks/payments/bank_transfer", {"events": []})
    assert response.status_code == 404 and "no webhooks" in response.get_json()["error"]


@pytest.mark.parametrize("app_config", [{"extra_plugins": [signed_plugins()]}])
def test_missing_secret_refuses_every_delivery(client, place):
    order = place(payment_method="hmacpay", confirm=True)
    response = pay(client, [payment_event(order)])
    assert response.status_code == 503 and "secret" in response.get_json()["error"]
    assert payment_count() == 0


# ------------------------------------------------------------------ carriers

TRACKING = "HS123456789"


def shipped_order(place):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipments.create_shipment(order.id, carrier_id="hmacship", service="standard",
                              tracking_number=TRACKING, actor="test")
    assert fresh(order).status == "shipped"
    return order


def track(client, events, **kw):
    return post(client, "/oms/webhooks/carriers/hmacship", {"events": events}, **kw)


def tracking_event(status, at, code="", where=""):
    return {"number": TRACKING, "status": status, "at": at.isoformat(), "code": code, "where": where}


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ShipmentEvent))


def test_carrier_events_are_deduplicated_and_delivery_moves_the_order(client, place):
    order = shipped_order(place)
    t0 = datetime.now(timezone.utc) - timedelta(hours=10)
    picked = tracking_event("in_transit", t0, "PU", "Hub Venlo")
    out = tracking_event("out_for_delivery", t0 + timedelta(hours=6), "OFD", "Depot Utrecht")
    response = track(client, [picked, out])
    assert response.status_code == 200
    assert response.get_json()["applied"] == 2
    # Re-sent in another order: nothing new.
    again = track(client, [out, picked])
    assert again.get_json() == {"ok": True, "received": 2, "applied": 0, "duplicates": 2, "unmatched": 0,
                                "flagged": 0}
    assert event_count() == 2
    assert db.session.scalar(select(Shipment.status)) == "out_for_delivery"
    assert fresh(order).status == "shipped"

    delivered = tracking_event("delivered", t0 + timedelta(hours=8), "DLV", "Utrecht")
    late = tracking_event("in_transit", t0 - timedelta(hours=2), "SORT", "Hub Venlo")  # older, late
    assert track(client, [delivered, late]).get_json()["applied"] == 2
    assert db.session.scalar(select(Shipment.status)) == "delivered"
    assert fresh(order).status == "delivered"


def test_carrier_bad_signature_changes_nothing(client, place):
    order = shipped_order(place)
    event = tracking_event("delivered", datetime.now(timezone.utc))
    assert track(client, [event], secret="wrong").status_code == 400
    assert event_count() == 0 and fresh(order).status == "shipped"


def test_carrier_event_for_an_unknown_number_is_kept_unmatched(client, place):
    shipped_order(place)
    event = dict(tracking_event("delivered", datetime.now(timezone.utc)), number="OTHER1")
    response = track(client, [event])
    assert response.status_code == 202 and response.get_json()["unmatched"] == 1
    assert event_count() == 0
    assert db.session.scalar(select(UnmatchedEvent.match_key)) == "OTHER1"


def test_carrier_event_that_does_not_fit_is_422(client, place):
    order = shipped_order(place)
    future = tracking_event("delivered", datetime.now(timezone.utc) + timedelta(days=3))
    unknown_status = tracking_event("teleported", datetime.now(timezone.utc))
    assert track(client, [future]).status_code == 422
    assert track(client, [unknown_status]).status_code == 422
    assert event_count() == 0 and fresh(order).status == "shipped"
