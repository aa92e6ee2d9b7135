"""The back-office pages of outbound webhooks (owner only): add, edit, disable an
endpoint, reveal and rotate its secret, see its deliveries and their attempts, re-send
one; bad input refused and nothing changed; the forms fuzzed. Both databases."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oms_core.db import db
from oms_core.models import WebhookDelivery, WebhookEndpoint
from oms_core.services import outbound_webhooks as hooks, outbox
from webhook_receiver import Receiver

ADMIN = "/oms/admin"


@pytest.fixture
def app_config():
    return {"OMS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True, "OMS_OUTBOX_BACKOFF_SECONDS": 0}


def endpoint_count() -> int:
    count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint))
    db.session.commit()
    return count


def test_owner_adds_an_endpoint_reveals_its_secret_and_sees_deliveries(owner_client, place):
    receiver = Receiver().start()
    try:
        answer = owner_client.post(f"{ADMIN}/webhooks", {"url": receiver.url, "description": "ERP <b>",
                                                          "events": ["order.placed", "order.paid"]})
        assert answer.status_code == 302
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        page = owner_client.get(answer.headers["Location"]).get_data(as_text=True)
        assert endpoint.secret not in page and "Reveal" in page  # shown only on request
        assert answer.headers["Location"].endswith(f"/webhooks/{endpoint.id}")
        revealed = owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/secret", htmx=True)
        assert endpoint.secret in revealed.get_data(as_text=True)
        assert revealed.headers["Cache-Control"] == "private, no-store"
        receiver.secret = endpoint.secret
        order = place()
        outbox.run_once()
        page = owner_client.get(f"{ADMIN}/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "order.placed" in page and "HTTP 200" in page and order.number in page
        listing = owner_client.get(f"{ADMIN}/webhooks").get_data(as_text=True)
        assert receiver.url.replace("&", "&amp;") in listing and "ERP &lt;b&gt;" in listing
        delivery = db.session.scalars(select(WebhookDelivery)).one()
        detail = owner_client.get(f"{ADMIN}/webhooks/{endpoint.id}/deliveries/{delivery.id}").get_data(as_text=True)
        assert delivery.event_id in detail and "HTTP 200" in detail and "ok" in detail
        resent = owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend",
                                   follow_redirects=True)
        assert "queued to be sent again" in resent.get_data(as_text=True)
        outbox.run_once()
        assert len(receiver.requests) == 2 and receiver.duplicates == 1
    finally:
        receiver.stop()


def test_owner_edits_disables_and_rotates(owner_client):
    endpoint = hooks.create_endpoint("https://erp.example.com/a", ["order.placed"])
    old_secret = endpoint.secret
    answer = owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}", {
        "url": "https://erp.example.com/b", "events": ["order.shipped", "order.delivered"], "active": "1"})
    assert answer.status_code == 302
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.url.endswith("/b") and endpoint.events == ["order.shipped", "order.delivered"]
    owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/active", {})
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).active is False
    owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/active", {"active": "1"})
    owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/rotate", {})
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.active is True and endpoint.secret != old_secret and endpoint.secret.startswith("whsec_")


@pytest.mark.parametrize("fields, message", [
    ({"url": "ftp://x.example.com", "events": ["order.placed"]}, "https://"),
    ({"url": "https://x.example.com", "events": []}, "at least one event"),
    ({"url": "https://x.example.com", "events": ["order.placed", "nope"]}, "from the list"),
    ({"url": "https://x.example.com/" + "a" * 600, "events": ["order.placed"]}, "longer than"),
])
def test_bad_input_comes_back_with_the_error_and_creates_nothing(owner_client, fields, message):
    answer = owner_client.post(f"{ADMIN}/webhooks", fields)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert endpoint_count() == 0


def test_staff_cannot_see_or_change_webhooks(staff_client):
    endpoint = hooks.create_endpoint("https://erp.example.com/a", ["order.placed"])
    for url in ("/webhooks", f"/webhooks/{endpoint.id}"):
        assert staff_client.get(ADMIN + url).status_code == 403
    for url in ("/webhooks", f"/webhooks/{endpoint.id}", f"/webhooks/{endpoint.id}/secret",
                f"/webhooks/{endpoint.id}/rotate", f"/webhooks/{endpoint.id}/active"):
        answer = staff_client.post(ADMIN + url, {"url": "https://evil.example.com", "events": ["order.placed"]})
        assert answer.status_code == 403 and endpoint.secret not in answer.get_data(as_text=True)
    assert "Outbound webhooks" not in staff_client.get(f"{ADMIN}/orders").get_data(as_text=True)


def test_the_secret_needs_csrf(owner_client):
    endpoint = hooks.create_endpoint("https://erp.example.com/a", ["order.placed"])
    answer = owner_client.client.post(f"{ADMIN}/webhooks/{endpoint.id}/secret")
    assert answer.status_code == 400 and endpoint.secret not in answer.get_data(as_text=True)


def test_unknown_endpoints_and_deliveries_are_404(owner_client):
    endpoint = hooks.create_endpoint("https://erp.example.com/a", ["order.placed"])
    for url in ("/webhooks/999", f"/webhooks/{endpoint.id}/deliveries/1", "/webhooks/99999999999"):
        assert owner_client.get(ADMIN + url).status_code == 404
    assert owner_client.post(f"{ADMIN}/webhooks/{endpoint.id}/deliveries/5/resend").status_code == 404
    assert owner_client.post(f"{ADMIN}/webhooks/77", {"url": "x"}).status_code == 404


FIELD_VALUES = st.one_of(st.text(max_size=60), st.sampled_from([
    "", "https://erp.example.com/x", "http://127.0.0.1:1/", "javascript:alert(1)", "https://a:b@c.example.com/",
    "https://x.example.com/" + "y" * 600, "\x00", "<script>alert(1)</script>", "order.placed", "9" * 4301]))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(url=FIELD_VALUES, description=FIELD_VALUES,
       events=st.lists(st.one_of(st.sampled_from(list(hooks.EVENTS)), FIELD_VALUES), max_size=9),
       active=st.sampled_from(["", "1", "on", "x"]))
def test_fuzzed_endpoint_forms_never_fail_and_store_only_what_is_valid(owner_client, url, description, events,
                                                                        active):
    fields = {"url": url, "description": description, "events": events, "active": active}
    before = endpoint_count()
    answer = owner_client.post(f"{ADMIN}/webhooks", fields)
    assert answer.status_code in (302, 400)
    assert endpoint_count() == before + (answer.status_code == 302)
    for endpoint in db.session.scalars(select(WebhookEndpoint)):
        assert endpoint.url.startswith(("http://", "https://")) and len(endpoint.url) <= 500
        assert endpoint.events and set(endpoint.events) <= set(hooks.EVENTS)
    first = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).first()
    db.session.commit()
    if first is not None:
        saved = (first.url, list(first.events), first.description)
        answer = owner_client.post(f"{ADMIN}/webhooks/{first.id}", fields)
        assert answer.status_code in (302, 400)
        db.session.expire_all()
        again = db.session.get(WebhookEndpoint, first.id)
        if answer.status_code == 400:
            assert (again.url, list(again.events), again.description) == saved
        assert re.match(r"https?://", again.url)
        db.session.commit()
