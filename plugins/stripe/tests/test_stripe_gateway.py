"""The Stripe gateway against the local stand-in: the core's contract, every SDK call
with its idempotency key, and failures told apart (retry an outage, not a refusal)."""
from __future__ import annotations

import json
import time

import pytest

from oms_core.plugin_settings import PluginSettings
from oms_core.protocols import (
    AUTHORIZED, CAPTURE_ON_SHIP, CAPTURED, INTENT_CREATED, REFUND_SUCCEEDED, VOIDED, CaptureRequest,
    RefundRequest, StartPaymentRequest, VoidRequest, supports,
)
from oms_core.testing.contracts import check_payment_gateway
from oms_stripe import StripeGateway, register_payment_gateways
from oms_stripe.events import sign
from oms_stripe.testing import FakeStripe

SECRET_KEY = "sk_test_gateway_tests"  # for the tests that start a stand-in of their own


def start_request(key="order-7-attempt-1", capture="now", amount=2500, order_id=7) -> StartPaymentRequest:
    return StartPaymentRequest(
        order_id=order_id, order_number=f"{order_id:06d}", amount_minor=amount, currency="EUR",
        idempotency_key=key, customer_email="ann@example.com", success_url="https://shop.example/paid",
        cancel_url="https://shop.example/cart", capture=capture)


def paid_intent(fake, gateway, capture="now") -> str:
    started = gateway.start_payment(start_request(capture=capture))
    return fake.pay(started.external_id)["payment_intent"]


def test_contract_with_a_delivery_signed_the_way_stripe_signs(fake, gateway):
    intent = paid_intent(fake, gateway)
    [completed] = [d for d in fake.events if d.event["type"] == "checkout.session.completed"]
    check_payment_gateway(gateway, webhook_body=completed.body, sign=lambda body, secret: sign(body, secret))
    assert intent and all(supports(gateway, name) for name in ("start_payment", "capture", "void", "refund"))
    assert not supports(gateway, "verify_payment")  # card money is never typed in by staff


def test_registered_from_the_shops_settings():
    settings = PluginSettings({"stripe": {"secret_key": SECRET_KEY, "capture": "on_ship",
                                          "api_base": "http://127.0.0.1:9/"}},
                              environ={"OMS_PLUGIN_STRIPE_WEBHOOK_SECRET": "whsec_1"})
    [gateway] = register_payment_gateways(settings)
    assert (gateway.id, gateway.label, gateway.pays_on_delivery) == ("stripe", "Card (Stripe)", False)
    assert (gateway.capture_mode, gateway.api_base) == (CAPTURE_ON_SHIP, "http://127.0.0.1:9")
    assert settings.missing(gateway) == []
    assert SECRET_KEY not in repr(gateway)


def test_not_configured_without_its_key_and_secret():
    settings = PluginSettings({}, environ={})
    [gateway] = register_payment_gateways(settings)
    assert settings.missing(gateway) == ["secret_key", "webhook_secret"]


@pytest.mark.parametrize("settings, says", [
    ({"capture": "later"}, "capture"), ({"api_base": "ftp://x"}, "api_base"),
    ({"network_retries": "many"}, "network_retries"), ({"network_retries": "9"}, "network_retries"),
])
def test_bad_settings_stop_start_up_with_the_settings_name(settings, says):
    with pytest.raises(ValueError, match=says):
        register_payment_gateways(PluginSettings({"stripe": settings}, environ={}))


def test_start_payment_makes_a_checkout_session_for_the_balance(fake, gateway):
    started = gateway.start_payment(start_request())
    assert started.ok and started.redirect_url == f"{fake.api_base}/pay/{started.external_id}"
    assert started.expires_at.timestamp() > time.time() + 23 * 3600
    session = fake.state.sessions[started.external_id]
    assert (session["mode"], session["amount_total"], session["currency"]) == ("payment", 2500, "eur")
    assert session["customer_email"] == "ann@example.com"
    assert session["metadata"] == {"oms_order_id": "7"}
    assert session["success_url"] == "https://shop.example/paid"
    plan = fake.state.plans[started.external_id]
    assert (plan["name"], plan["metadata"]) == ("Order 000007", {"oms_order_id": "7"})
    assert plan["capture_method"] == "automatic_async"  # Stripe's default: taken at once


def test_capture_on_ship_asks_for_a_manual_capture(fake, gateway):
    started = gateway.start_payment(start_request(capture=CAPTURE_ON_SHIP))
    assert fake.state.plans[started.external_id]["capture_method"] == "manual"


def test_the_same_idempotency_key_gives_one_session(fake, gateway):
    first, again = (gateway.start_payment(start_request()) for _ in range(2))
    other = gateway.start_payment(start_request(key="order-7-attempt-2"))
    assert first.external_id == again.external_id != other.external_id
    assert len(fake.state.sessions) == 2


def test_capture_takes_what_the_authorization_holds(fake, gateway):
    intent = paid_intent(fake, gateway, capture=CAPTURE_ON_SHIP)
    assert fake.state.intents[intent]["status"] == "requires_capture"
    request = CaptureRequest(intent, 2000, "EUR", idempotency_key="capture-1")
    first, again = gateway.capture(request), gateway.capture(request)
    assert first == again and (first.ok, first.state, first.external_id) == (True, CAPTURED, intent)
    assert fake.state.intents[intent]["amount_received"] == 2000
    twice = gateway.capture(CaptureRequest(intent, 2000, "EUR", idempotency_key="capture-2"))
    assert not twice.ok and not twice.retryable and "status of succeeded" in twice.error


def test_void_releases_an_authorization(fake, gateway):
    intent = paid_intent(fake, gateway, capture=CAPTURE_ON_SHIP)
    voided = gateway.void(VoidRequest(intent, idempotency_key="void-1"))
    assert (voided.ok, voided.state) == (True, VOIDED)
    assert fake.state.intents[intent]["status"] == "canceled"
    assert fake.events[-1].event["type"] == "payment_intent.canceled"


def test_the_same_refund_key_is_one_refund(fake, gateway):
    intent = paid_intent(fake, gateway)
    request = RefundRequest(intent, 700, "EUR", idempotency_key="refund-1", reason="Damaged mug")
    first, again = gateway.refund(request), gateway.refund(request)
    assert first == again and (first.ok, first.state) == (True, REFUND_SUCCEEDED)
    [refund] = fake.state.refunds.values()
    assert (refund["id"], refund["amount"], refund["payment_intent"]) == (first.external_id, 700, intent)
    assert refund["metadata"] == {"oms_idempotency_key": "refund-1", "oms_reason": "Damaged mug"}
    too_much = gateway.refund(RefundRequest(intent, 1801, "EUR", idempotency_key="refund-2"))
    assert not too_much.ok and not too_much.retryable and "greater than unrefunded" in too_much.error


@pytest.mark.parametrize("status", [500, 429])
def test_an_outage_or_a_rate_limit_is_a_retryable_failure(fake, gateway, status):
    fake.fail_next(1, status=status)
    failed = gateway.start_payment(start_request())
    assert not failed.ok and failed.retryable and failed.error
    retried = gateway.start_payment(start_request())  # the caller's retry, same key
    assert retried.ok and len(fake.state.sessions) == 1


def test_a_decline_is_refused_with_stripes_words_and_not_retried(fake, gateway):
    intent = paid_intent(fake, gateway)
    fake.decline_next(1)
    refused = gateway.refund(RefundRequest(intent, 100, "EUR", idempotency_key="refund-1"))
    assert not refused.ok and not refused.retryable
    assert refused.error == "Stripe refused: Your card was declined."


def test_an_unreachable_stripe_is_retryable_and_a_wrong_key_is_not(fake):
    unreachable = StripeGateway(fake.secret_key, api_base="http://127.0.0.1:1", network_retries=0)
    down = unreachable.start_payment(start_request())
    assert not down.ok and down.retryable and "could not be reached" in down.error
    assert "\n" not in down.error and len(down.error) < 400
    wrong_key = StripeGateway("sk_test_wrong", api_base=fake.api_base, network_retries=0)
    refused = wrong_key.start_payment(start_request())
    assert not refused.ok and not refused.retryable and "Invalid API Key" in refused.error


def test_the_sdk_retries_an_outage_with_the_same_key(fake):
    gateway = StripeGateway(fake.secret_key, api_base=fake.api_base, network_retries=1)
    fake.fail_next(1)
    assert gateway.start_payment(start_request()).ok
    assert len(fake.state.sessions) == 1 and len(fake.api_calls) == 2


def test_unpaid_checkout_completion_asks_stripe_whether_it_is_authorized(fake, gateway):
    started = gateway.start_payment(start_request(capture=CAPTURE_ON_SHIP))
    fake.pay(started.external_id)
    [completed] = [d for d in fake.events if d.event["type"] == "checkout.session.completed"]
    assert completed.event["data"]["object"]["payment_status"] == "unpaid"
    [event] = gateway.parse_webhook(completed.body, completed.headers, fake.webhook_secret).events
    assert (event.state, event.order_id, event.checkout_id) == (AUTHORIZED, 7, started.external_id)
    assert ("GET", f"/v1/payment_intents/{event.external_id}") in fake.api_calls
    fake.fail_next(1)  # Stripe cannot say now: not authorized yet; the intent's own event says it
    [event] = gateway.parse_webhook(completed.body, completed.headers, fake.webhook_secret).events
    assert event.state == INTENT_CREATED


def test_the_hosted_page_pays_or_declines(fake, gateway):
    import urllib.request

    started = gateway.start_payment(start_request())
    with urllib.request.urlopen(started.redirect_url) as page:
        assert "Pay 25.00 EUR" in page.read().decode()
    declined = urllib.request.Request(started.redirect_url, data=b"card=declined", method="POST")
    with urllib.request.urlopen(declined) as page:
        assert "declined" in page.read().decode()
    assert fake.events[-1].event["type"] == "payment_intent.payment_failed"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    paying = urllib.request.Request(started.redirect_url, data=b"card=ok", method="POST")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(NoRedirect).open(paying)
    assert answer.value.code == 303 and answer.value.headers["Location"] == "https://shop.example/paid"
    assert [d.event["type"] for d in fake.events[-2:]] == ["payment_intent.succeeded",
                                                           "checkout.session.completed"]


def test_the_fake_posts_its_events_to_the_webhook_url_in_order():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    received = []

    class Shop(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((json.loads(body)["type"], self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    shop = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    try:
        with FakeStripe(secret_key=SECRET_KEY, webhook_url=f"http://127.0.0.1:{shop.server_port}/hook") as fake:
            gateway = StripeGateway(SECRET_KEY, api_base=fake.api_base, network_retries=0)
            paid_intent(fake, gateway)
            deadline = time.time() + 10
            while len(received) < 2 and time.time() < deadline:
                time.sleep(0.05)
            assert [kind for kind, _ in received] == ["payment_intent.succeeded", "checkout.session.completed"]
            assert all(header.startswith("t=") and ",v1=" in header for _, header in received)
            assert [d.status for d in fake.events] == [200, 200]
    finally:
        shop.shutdown()
        shop.server_close()
