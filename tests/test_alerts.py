"""Staff alerts (docs/architecture.md, "Staff alerts"): each kind raised once where
its event happens or by the worker's sweep (run twice), immediate emails vs a daily
digest vs none, the digest once per shop day with a frozen clock, the back-office
list, count and settings, the CLI, and fuzzed forms. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from oms_core.db import db, write_transaction
from oms_core.errors import ValidationError
from oms_core.models import Alert, AlertDigest, Order, OutboxMessage, StaffUser
from oms_core.models._base import utcnow
from oms_core.protocols import CAPTURED, DISPUTED, GatewayEvent, TrackingUpdate
from oms_core.services import alerts, forecast_runs, outbox, payments, shipments, users
from oms_core.testing import run_worker_once
from oms_core.testing.fakes import FakeCardGateway, plugin_registering
from forecast_history import FORECAST_CONFIG, seasonal, sell_weekly
from test_notifications import smtp  # noqa: F401  (the smtp fixture)

card = FakeCardGateway()
BASE_URL = "https://shop.example"
AMSTERDAM = "Europe/Amsterdam"


@pytest.fixture
def app_config(smtp):
    return {"extra_plugins": [plugin_registering(card)], **FORECAST_CONFIG,
            "OMS_PLUGINS": {"fakecard": {"webhook_secret": "whsec", "capture": "now"}},
            "OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_PUBLIC_BASE_URL": BASE_URL,
            "OMS_SHOP_NAME": "Corner Shop", "OMS_SHOP": {"time_zone": AMSTERDAM}, "OMS_DIGEST_HOUR": 8,
            "OMS_UNSHIPPED_AFTER_DAYS": 3}


@pytest.fixture(autouse=True)
def fresh_card():
    card.__init__()


@pytest.fixture
def team(app):
    """One staff member per choice: immediate, digest, none; and one deactivated."""
    people = {}
    for delivery in ("immediate", "digest", "none", "gone"):
        user = users.create_user(email=f"{delivery}@example.com", name=f"{delivery.title()} Person",
                                 password="long-enough-password")
        alerts.set_delivery(user.id, "immediate" if delivery == "gone" else delivery)
        people[delivery] = user.id
    users.set_active("gone@example.com", False)
    return people


def count(model, *where) -> int:
    db.session.commit()  # end the read: see what the services committed
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def alert_kinds() -> list[tuple[str, str]]:
    db.session.commit()
    return [(a.kind, a.subject) for a in db.session.scalars(select(Alert).order_by(Alert.id))]


def card_order(make_product, place, *, price=2500):
    product = make_product(price_minor=price)
    return place([(product.sku, 1)], payment_method="fakecard", confirm=True)


def event(order_id, tag, state=CAPTURED, amount=2500):
    return GatewayEvent(event_id=f"evt-{tag}", order_id=order_id, amount_minor=amount, currency="EUR",
                        external_id=f"pi-{order_id}", state=state)


# ------------------------------------------------------------------ raise_alert, the public entry


def test_raise_alert_raises_once_per_kind_and_key(app, team):
    first = alerts.raise_alert(alerts.COMPLAINT_MESSAGE, "complaint:7", "New message on complaint 7", "/orders/1")
    assert first is not None and first.kind == alerts.COMPLAINT_MESSAGE
    assert alerts.raise_alert(alerts.COMPLAINT_MESSAGE, "complaint:7", "Again", "/orders/1") is None
    # Another kind with the same key is another alert.
    assert alerts.raise_alert(alerts.OUTBOX_DEAD, "complaint:7", "Other", "/") is not None
    assert count(Alert) == 2


@pytest.mark.parametrize("kind, key, title, url, says", [
    ("nonsense", "k", "t", "/", "Unknown kind"),
    (alerts.COMPLAINT_MESSAGE, "", "t", "/", "key is required"),
    (alerts.COMPLAINT_MESSAGE, "k" * 201, "t", "/", "longer than 200"),
    (alerts.COMPLAINT_MESSAGE, "k", " ", "/", "title is required"),
    (alerts.COMPLAINT_MESSAGE, "k", "t", "https://evil.example/", "back-office path"),
    (alerts.COMPLAINT_MESSAGE, "k", "t", "//evil.example/", "back-office path"),
    (alerts.COMPLAINT_MESSAGE, "k", "t", "javascript:alert(1)", "back-office path"),
    (alerts.COMPLAINT_MESSAGE, "k\x00", "t", "/", "NUL"),
])
def test_a_bad_alert_is_refused_and_changes_nothing(app, kind, key, title, url, says):
    with pytest.raises(ValidationError, match=says):
        alerts.raise_alert(kind, key, title, url)
    assert count(Alert) == 0 and count(OutboxMessage) == 0


def test_a_long_title_is_shortened_not_refused(app):
    alert = alerts.raise_alert(alerts.COMPLAINT_MESSAGE, "k", "x" * 5000, "/")
    assert len(alert.title) == alerts.TITLE_LENGTH and alert.title.endswith("…")


def test_two_workers_raising_one_alert_at_once_make_one(app, team):
    from test_concurrency import race

    results = race(app, 8, lambda i: alerts.raise_alert(alerts.UNSHIPPED, "order:9", f"t{i}", "/")
                   is not None)
    assert sorted(value for _, value in results) == [False] * 7 + [True], results
    assert count(Alert) == 1 and count(OutboxMessage) == 1


# ------------------------------------------------------------------ each kind where it happens


def test_a_flagged_payment_alerts_once(app, team, make_product, place):
    order = card_order(make_product, place)
    payments.apply_gateway_event("fakecard", event(order.id, "a", amount=9999))  # more than the balance
    payments.apply_gateway_event("fakecard", event(order.id, "b", amount=9999))
    assert alert_kinds() == [(alerts.PAYMENT_FLAGGED, alert_kinds()[0][1])]
    assert db.session.scalar(select(Alert.url)) == f"/orders/{order.id}"


def test_a_disputed_payment_alerts_once(app, team, make_product, place):
    order = card_order(make_product, place)
    payments.apply_gateway_event("fakecard", event(order.id, "a"))
    assert alert_kinds() == []
    payments.apply_gateway_event("fakecard", event(order.id, "b", state=DISPUTED))
    payments.apply_gateway_event("fakecard", event(order.id, "c", state=DISPUTED))
    assert [kind for kind, _ in alert_kinds()] == [alerts.PAYMENT_DISPUTED]


def test_a_delivery_problem_alerts_once_per_parcel_and_status(app, team, place):
    order = place(payment_method="cash_on_delivery", confirm=True)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL", tracking_number="JD1",
                                         actor="staff:a@example.com")
    start = utcnow() - timedelta(hours=5)
    for minutes, status in ((0, "in_transit"), (10, "exception"), (20, "exception"), (30, "in_transit"),
                            (40, "delivery_attempted")):
        shipments.add_tracking_update(shipment.id, TrackingUpdate(
            "JD1", status, start + timedelta(minutes=minutes), event_id=f"e{minutes}"), source="carrier:manual")
    assert alert_kinds() == [(alerts.DELIVERY_PROBLEM, f"shipment:{shipment.id}:exception"),
                             (alerts.DELIVERY_PROBLEM, f"shipment:{shipment.id}:delivery_attempted")]


@outbox.handler("test.always_fails")
def _always_fails(message):
    raise outbox.SendError("the other side is down")


def test_a_message_that_failed_for_good_alerts_once_but_alert_emails_do_not(app, team, smtp):
    with write_transaction():
        message = outbox.enqueue("test.always_fails", {}, key="test-dead-1")
        message.max_attempts = 1
    run_worker_once(app)
    assert [kind for kind, _ in alert_kinds()] == [alerts.OUTBOX_DEAD]
    assert "the other side is down" in db.session.scalar(select(Alert.title))
    # The immediate alert email itself dies (the mail server is gone for good): no alert about it.
    smtp.stop()
    with write_transaction():
        db.session.execute(update(OutboxMessage).where(OutboxMessage.kind == alerts.EMAIL_KIND)
                           .values(max_attempts=1))
    run_worker_once(app)
    assert count(OutboxMessage, OutboxMessage.kind == alerts.EMAIL_KIND, OutboxMessage.status == "dead") == 1
    assert count(Alert) == 1


def test_an_order_not_shipped_in_time_alerts_once_by_the_sweep(app, team, make_product, place):
    order = card_order(make_product, place)
    payments.apply_gateway_event("fakecard", event(order.id, "a"))
    assert alerts.sweep().raised == []
    with write_transaction():
        db.session.execute(update(Order).values(status_changed_at=utcnow() - timedelta(days=4)))
    assert alerts.sweep().raised == [f"Order {order.number} not shipped after 3 days"]
    assert alerts.sweep().raised == []
    assert alert_kinds() == [(alerts.UNSHIPPED, f"order:{order.id}")]


def test_stock_running_out_within_its_lead_time_alerts_once_by_the_sweep(app, team, make_product, place):
    history = {"URGENT": seasonal(60), "PLENTY": seasonal(60)}
    left = {"URGENT": 1, "PLENTY": 500}
    products = {sku: make_product(sku=sku, on_hand=sum(units) + left[sku]) for sku, units in history.items()}
    sell_weekly(place, history)
    forecast_runs.run_forecast()
    raised = alerts.sweep().raised
    assert len(raised) == 1 and raised[0].startswith("URGENT") and alerts.sweep().raised == []
    assert alert_kinds() == [(alerts.STOCK_RUNOUT, alert_kinds()[0][1])]
    assert alert_kinds()[0][1].startswith(f"product:{products['URGENT'].id}:received:")


# ------------------------------------------------------------------ immediate, digest, none


def test_immediate_alerts_email_only_those_who_chose_it_once(app, team, smtp):
    alerts.raise_alert(alerts.UNSHIPPED, "order:1", "Ann <b>wrote</b> again", "/orders/1")
    alerts.raise_alert(alerts.UNSHIPPED, "order:1", "Ann wrote again", "/orders/1")
    run_worker_once(app)
    run_worker_once(app)
    assert [rcpt for _, rcpt, _ in smtp.inbox.received] == [["immediate@example.com"]]
    message = smtp.inbox.received[0][2]
    assert message["Subject"] == "[Corner Shop] Not shipped in time: Ann <b>wrote</b> again"
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Ann &lt;b&gt;wrote&lt;/b&gt; again" in html and "<b>wrote" not in html
    assert f"{BASE_URL}/oms/admin/orders/1" in text and f"{BASE_URL}/oms/admin/alerts/settings" in text


def test_each_customer_complaint_message_alerts_once_without_a_second_email(app, team, smtp, place):
    from oms_core.services import complaints

    order = place(confirm=True)
    complaint = complaints.open_complaint(order.id, subject="Chipped", category=complaints.categories()[0],
                                          body="The mug arrived chipped.")
    message = complaints.customer_reply(order.id, complaint.id, body="Any news?")
    assert [kind for kind, _ in alert_kinds()] == [alerts.COMPLAINT_MESSAGE, alerts.COMPLAINT_MESSAGE]
    assert alert_kinds()[1][1] == f"complaint-message:{message.id}"
    alert = db.session.scalars(select(Alert).order_by(Alert.id.desc())).first()
    assert alert.url == f"/complaints/{complaint.id}" and alert.order_id == order.id
    # The complaint's own email told staff at once: no alert email on top, even for "immediate".
    assert count(OutboxMessage, OutboxMessage.kind == alerts.EMAIL_KIND) == 0


def test_the_digest_goes_once_a_shop_day_listing_what_is_new(app, team, smtp):
    alerts.raise_alert(alerts.UNSHIPPED, "order:1", "First", "/orders/1")
    alerts.raise_alert(alerts.OUTBOX_DEAD, "outbox:1", "Second", "/")
    # 07:59 in Amsterdam (CET, UTC+1): not yet.
    day_one = datetime(2026, 12, 1, 6, 59, tzinfo=timezone.utc)
    assert alerts.send_digests(day_one) == 0
    assert alerts.send_digests(day_one + timedelta(minutes=1)) == 1
    assert alerts.send_digests(day_one + timedelta(hours=10)) == 0  # once that day
    alerts.raise_alert(alerts.UNSHIPPED, "order:2", "Third", "/orders/2")
    assert alerts.send_digests(day_one + timedelta(hours=16)) == 0  # 23:59 local: still the same day
    day_two = day_one + timedelta(days=1, minutes=1)
    assert alerts.send_digests(day_two) == 1
    day_three = day_two + timedelta(days=1)
    assert alerts.send_digests(day_three) == 0  # nothing new: no email, but that day's digest is done
    assert count(AlertDigest) == 3
    run_worker_once(app)
    received = [(rcpt, message) for _, rcpt, message in smtp.inbox.received if rcpt == ["digest@example.com"]]
    assert len(received) == 2
    first, second = (message.get_body(preferencelist=("plain",)).get_content() for _, message in received)
    assert "First" in first and "Second" in first and "Third" not in first
    assert "Third" in second and "First" not in second
    assert received[0][1]["Subject"] == "[Corner Shop] Alerts of 2026-12-01: 2"


def test_no_email_for_none_and_for_deactivated_staff(app, team, smtp):
    alerts.raise_alert(alerts.UNSHIPPED, "order:1", "First", "/orders/1")
    alerts.send_digests(datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
    run_worker_once(app)
    recipients = sorted(rcpt[0] for _, rcpt, _ in smtp.inbox.received)
    assert recipients == ["digest@example.com", "immediate@example.com"]


def test_set_delivery_refuses_what_is_not_a_choice(app, team):
    for value in ("", "weekly", "IMMEDIATE", None):
        with pytest.raises(ValidationError):
            alerts.set_delivery(team["none"], value)
    assert db.session.get(StaffUser, team["none"]).alert_delivery == "none"


# ------------------------------------------------------------------ the back-office


def test_alert_pages_need_login(client):
    for url in ("/oms/admin/alerts", "/oms/admin/alerts/settings"):
        assert client.get(url).status_code == 302
    assert client.post("/oms/admin/alerts/1/resolve").status_code in (302, 400)


def test_the_list_the_count_and_resolving(app, staff_client):
    alerts.raise_alert(alerts.UNSHIPPED, "order:1", "<script>alert(1)</script>", "/orders/1")
    alert = alerts.raise_alert(alerts.OUTBOX_DEAD, "outbox:1", "Email failed", "/")
    page = staff_client.get("/oms/admin/alerts").get_data(as_text=True)
    assert 'aria-label="2 open"' in page and "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert 'href="/oms/admin/orders/1"' in page
    response = staff_client.post(f"/oms/admin/alerts/{alert.id}/resolve")
    assert response.status_code == 302
    page = staff_client.get("/oms/admin/alerts").get_data(as_text=True)
    assert 'aria-label="1 open"' in page and f'id="alert-{alert.id}"' not in page
    resolved = staff_client.get("/oms/admin/alerts?list=resolved").get_data(as_text=True)
    assert "Email failed" in resolved and "staff:staff@example.com" in resolved
    assert staff_client.post("/oms/admin/alerts/999999/resolve").status_code == 302  # flashed "No alert"
    assert staff_client.client.post(f"/oms/admin/alerts/{alert.id}/resolve").status_code == 400  # no CSRF


def test_each_user_chooses_for_themselves(app, staff_client, staff_user):
    page = staff_client.get("/oms/admin/alerts/settings").get_data(as_text=True)
    assert 'value="digest" checked' in page
    assert staff_client.post("/oms/admin/alerts/settings", data={"alert_delivery": "immediate"}).status_code == 302
    assert count(StaffUser, StaffUser.alert_delivery == "immediate") == 1
    staff_client.post("/oms/admin/alerts/settings", data={"alert_delivery": "hourly"})
    assert count(StaffUser, StaffUser.alert_delivery == "immediate") == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=st.one_of(st.text(max_size=20), st.sampled_from(["immediate", "digest", "none"])),
       list_name=st.text(max_size=20), before=st.text(max_size=12))
def test_fuzz_alert_forms(staff_client, choice, list_name, before):
    response = staff_client.post("/oms/admin/alerts/settings", data={"alert_delivery": choice})
    assert response.status_code in (302, 400)
    stored = db.session.scalar(select(StaffUser.alert_delivery).where(StaffUser.email == "staff@example.com"))
    assert stored in ("immediate", "digest", "none")
    response = staff_client.get("/oms/admin/alerts", query_string={"list": list_name, "before": before})
    assert response.status_code in (200, 400)


# ------------------------------------------------------------------ CLI


def test_cli_sweep_alerts(app, runner, team, make_product, place):
    order = card_order(make_product, place)
    payments.apply_gateway_event("fakecard", event(order.id, "a"))
    with write_transaction():
        db.session.execute(update(Order).values(status_changed_at=utcnow() - timedelta(days=4)))
    result = runner.invoke(args=["oms", "sweep-alerts"])
    assert result.exit_code == 0, result.output
    assert f"raised\tOrder {order.number} not shipped after 3 days" in result.output
    assert runner.invoke(args=["oms", "sweep-alerts"]).output.startswith("0 alerts raised")
