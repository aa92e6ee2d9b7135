"""The test kit plugin authors use (oms_core.testing): the webhook contract checks,
the HMAC-SHA256 signing helpers, posting a signed webhook, running the worker once,
placing a test order, and the `oms_app` fixture configured by `oms_config`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest
from werkzeug.datastructures import Headers

from oms_core.db import db
from oms_core.default_plugins.manual_payment import CASH_ON_DELIVERY
from oms_core.models import PaymentEvent, Shipment
from oms_core.protocols import (
    WEBHOOK_AUTH_CUSTOM, CarrierResult, CarrierService, GatewayEvent, TrackingUpdate, WebhookResult,
)
from oms_core.services import shipments
from oms_core.testing import place_test_order, post_signed_webhook, run_worker_once, sign_hmac_sha256
from oms_core.testing.contracts import check_carrier, check_payment_gateway
from oms_core.testing.fakes import BookingCarrier, plugin_registering
from oms_core.webhook_signing import verify_hmac_sha256

SECRET = "whsec_kit_test"


def _signed_json(body, headers, secret):
    """(data, None) or (None, error): the signature first, then the JSON."""
    error = verify_hmac_sha256(body, headers, secret)
    if error:
        return None, error
    try:
        return json.loads(body), None
    except ValueError:
        return None, "The body is not JSON."


class SignedGateway:
    id = "signedpay"
    label = "Signed Pay"
    pays_on_delivery = False
    required_settings = ("webhook_secret",)

    def verify_payment(self, request):
        return CASH_ON_DELIVERY.verify_payment(request)

    def parse_webhook(self, body, headers, secret):
        data, error = _signed_json(body, headers, secret)
        if error:
            return WebhookResult(ok=False, error=error)
        try:
            return WebhookResult(ok=True, events=[GatewayEvent(
                event_id=data["id"], order_id=int(data["order"]), amount_minor=int(data["amount"]),
                currency=data["currency"])])
        except (KeyError, TypeError, ValueError) as exc:
            return WebhookResult(ok=False, error=f"Unreadable event: {exc!r}")


class SignedCarrier:
    id = "signedpost"
    label = "Signed Post"
    manual = True

    def services(self):
        return [CarrierService("std", "Standard")]

    def create_shipment(self, request):
        return CarrierResult(ok=True, tracking_number=request.tracking_number)

    def tracking_url(self, tracking_number, service=""):
        return None

    def parse_webhook(self, body, headers, secret):
        data, error = _signed_json(body, headers, secret)
        if error:
            return WebhookResult(ok=False, error=error)
        return WebhookResult(ok=True, events=[TrackingUpdate(
            tracking_number=data["number"], status=data["status"],
            occurred_at=datetime.fromisoformat(data["at"]))])


PAYMENT_BODY = json.dumps({"id": "evt_1", "order": 1, "amount": 500, "currency": "EUR"}).encode()
TRACKING_BODY = json.dumps({"number": "SP1", "status": "in_transit",
                            "at": "2026-03-01T10:00:00+00:00"}).encode()


# ------------------------------------------------------------------ contracts


def test_signed_plugins_pass_their_contracts():
    check_payment_gateway(SignedGateway(), webhook_body=PAYMENT_BODY, sign=sign_hmac_sha256)
    check_carrier(SignedCarrier(), webhook_body=TRACKING_BODY, sign=sign_hmac_sha256)


def test_a_signed_plugin_must_give_the_contract_a_delivery_to_check():
    with pytest.raises(AssertionError, match="pass webhook_body= .* and sign="):
        check_payment_gateway(SignedGateway())


def test_a_custom_authenticated_plugin_needs_no_signature_but_still_refuses_garbage():
    carrier = SignedCarrier()
    carrier.webhook_auth = WEBHOOK_AUTH_CUSTOM
    check_carrier(carrier)
    carrier.parse_webhook = lambda body, headers, secret: WebhookResult(ok=True)
    with pytest.raises(AssertionError, match="a webhook of garbage without a signature was accepted"):
        check_carrier(carrier)


def _trusting(verify):
    """A gateway whose parse_webhook authenticates with `verify` instead of the real check."""
    gateway = SignedGateway()

    def parse_webhook(body, headers, secret):
        if not verify(body, headers, secret):
            return WebhookResult(ok=False, error="refused")
        try:
            data = json.loads(body)
        except ValueError:
            return WebhookResult(ok=False, error="not JSON")
        return WebhookResult(ok=True, events=[GatewayEvent(data["id"], data["order"], data["amount"],
                                                           data["currency"])])
    gateway.parse_webhook = parse_webhook
    return gateway


@pytest.mark.parametrize("verify, complaint", [
    (lambda body, headers, secret: True, "without its signature headers was accepted"),
    (lambda body, headers, secret: "X-Signature" not in headers
     or not verify_hmac_sha256(body, headers, secret), "without its signature headers was accepted"),
    (lambda body, headers, secret: bool(headers.get("X-Signature")),
     "signed with another secret was accepted"),
    (lambda body, headers, secret: verify_hmac_sha256(PAYMENT_BODY, headers, secret) is None,
     "whose body changed after signing was accepted"),
    (lambda body, headers, secret: not secret or verify_hmac_sha256(body, headers, secret) is None,
     "while no secret is configured was accepted"),
    (lambda body, headers, secret: verify_hmac_sha256(body, dict(headers), secret) is None and
     "X-Signature" in dict(headers), "lower-case header names was refused"),
])
def test_the_contract_catches_webhook_authentication_mistakes(verify, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_payment_gateway(_trusting(verify), webhook_body=PAYMENT_BODY, sign=sign_hmac_sha256)


@pytest.mark.parametrize("parse, complaint", [
    (lambda body, headers, secret: None, "must return a WebhookResult"),
    (lambda body, headers, secret: json.loads(body) and WebhookResult(ok=False, error="x"),
     "parse_webhook raised JSONDecodeError"),
    (lambda body, headers, secret: WebhookResult(ok=False), "must say why"),
])
def test_the_contract_wants_result_objects_with_reasons(parse, complaint):
    gateway = SignedGateway()
    gateway.parse_webhook = parse
    with pytest.raises(AssertionError, match=complaint):
        check_payment_gateway(gateway, webhook_body=PAYMENT_BODY, sign=sign_hmac_sha256)


@pytest.mark.parametrize("event, complaint", [
    ({"status": "moving"}, "'moving' is not one of oms_core.protocols.TRACKING_STATUSES"),
    ({"at": "2026-03-01T10:00:00"}, "needs a timezone"),
])
def test_the_carrier_contract_checks_the_tracking_updates(event, complaint):
    body = json.dumps({**json.loads(TRACKING_BODY), **event}).encode()
    with pytest.raises(AssertionError, match=complaint):
        check_carrier(SignedCarrier(), webhook_body=body, sign=sign_hmac_sha256)


def test_the_contract_passes_headers_as_production_does():
    seen = []
    gateway = SignedGateway()
    real = gateway.parse_webhook
    gateway.parse_webhook = lambda body, headers, secret: seen.append(headers) or real(body, headers, secret)
    check_payment_gateway(gateway, webhook_body=PAYMENT_BODY, sign=sign_hmac_sha256)
    assert all(isinstance(h, Headers) for h in seen)  # case-insensitive, like Flask's request.headers
    assert any("x-signature" in dict(h) for h in seen) and any("X-SIGNATURE" in dict(h) for h in seen)


# ------------------------------------------------------------------ signing


def test_hmac_sha256_signs_the_timestamp_and_the_body():
    headers = sign_hmac_sha256(b'{"a": 1}', SECRET, timestamp=1_700_000_000)
    assert headers["X-Signature-Timestamp"] == "1700000000"
    assert verify_hmac_sha256(b'{"a": 1}', headers, SECRET, now=1_700_000_100) is None
    assert verify_hmac_sha256(b'{"a": 1}', {k.lower(): v for k, v in headers.items()}, SECRET,
                              now=1_700_000_100) is None


@pytest.mark.parametrize("change, error", [
    (dict(secret=None), "No webhook secret is configured"),
    (dict(headers={"X-Signature-Timestamp": "1700000000"}), "X-Signature header is missing"),
    (dict(headers={"X-Signature": "ab"}), "X-Signature-Timestamp header is missing"),
    (dict(stamp="17e8"), "not a time in Unix seconds"),
    (dict(stamp="1" * 40), "not a time in Unix seconds"),
    (dict(now=1_700_000_301), "more than 300 seconds from now"),
    (dict(now=1_699_999_699), "more than 300 seconds from now"),
    (dict(body=b'{"a": 2}'), "does not match"),
    (dict(stamp="1700000001"), "does not match"),  # the timestamp is signed too
])
def test_hmac_sha256_refusals_say_what_is_wrong(change, error):
    headers = sign_hmac_sha256(b'{"a": 1}', SECRET, timestamp=1_700_000_000)
    if "stamp" in change:
        headers["X-Signature-Timestamp"] = change["stamp"]
    answer = verify_hmac_sha256(change.get("body", b'{"a": 1}'), change.get("headers", headers),
                                change.get("secret", SECRET), now=change.get("now", 1_700_000_000))
    assert answer is not None and error in answer


def test_signing_defaults_to_now():
    headers = sign_hmac_sha256(b"x", SECRET)
    assert abs(int(headers["X-Signature-Timestamp"]) - time.time()) < 5
    assert verify_hmac_sha256(b"x", headers, SECRET) is None


# ------------------------------------------------------------------ helpers, on both databases


@pytest.fixture
def app_config():
    return {"extra_plugins": [plugin_registering(SignedGateway(), BookingCarrier("kitpost", prefix="KT"))],
            "OMS_PLUGINS": {"signedpay": {"webhook_secret": SECRET}},
            "OMS_WEBHOOK_PREFIX": "/hooks"}


def test_post_signed_webhook_signs_with_the_apps_secret(app, client):
    order = place_test_order(payment_method="signedpay")
    event = {"id": "evt_9", "order": order.id, "amount": order.total_minor, "currency": "EUR"}

    refused = post_signed_webhook(client, "payment", "signedpay", event, sign=sign_hmac_sha256,
                                  secret="not-the-apps")
    assert refused.status_code == 400 and "does not match" in refused.get_json()["error"]
    assert order.payment_status == "unpaid"

    response = post_signed_webhook(client, "payment", "signedpay", event, sign=sign_hmac_sha256)
    assert response.status_code == 200, response.get_json()
    assert order.payment_status == "paid"  # what the test holds shows the change, no reload needed
    assert db.session.query(PaymentEvent).filter_by(event_id="evt_9").count() == 1


def test_post_signed_webhook_sends_hand_made_headers_and_refuses_mistakes(app, client):
    body = b'{"id": "evt_1"}'
    response = post_signed_webhook(client, "payment", "signedpay", body,
                                   headers=sign_hmac_sha256(body, SECRET, timestamp=1))
    assert response.status_code == 400 and "seconds from now" in response.get_json()["error"]
    with pytest.raises(ValueError, match="kind must be one of payment, carrier"):
        post_signed_webhook(client, "payments", "signedpay", body)
    with pytest.raises(ValueError, match=r"No webhook_secret is set for 'kitpost'.*OMS_PLUGINS\['kitpost'\]"):
        post_signed_webhook(client, "carrier", "kitpost", body, sign=sign_hmac_sha256)


def test_run_worker_once_books_a_shipment_like_the_worker(app):
    order = place_test_order(paid=True)
    assert order.status == "paid" and order.payment_method == "bank_transfer"
    shipment = shipments.create_shipment(order.id, carrier_id="kitpost", service="std", actor="test")
    assert shipment.tracking_number is None

    sent, failed = run_worker_once(app)
    assert sent == 1  # the booking; the emails fail: nothing listens on the kit's SMTP port
    assert failed >= 1
    assert shipment.tracking_number == "KT0001" and order.status == "shipped"
    assert run_worker_once(app)[0] == 0  # booked once; the failed emails wait for their back-off


def test_place_test_order_reuses_the_test_product(app):
    first, second = place_test_order(quantity=2), place_test_order(quantity=3)
    assert first.lines[0].product_id == second.lines[0].product_id
    assert [line.sku for line in second.lines] == ["TEST-1"]
    assert first.status == second.status == "confirmed"
    assert db.session.query(Shipment).count() == 0


# ------------------------------------------------------------------ the pytest plugin

INNER_TESTS = textwrap.dedent('''
    import os

    import pytest

    from oms_core import runtime
    from oms_core.db import db
    from oms_core.models import Order
    from oms_core.testing import place_test_order


    @pytest.fixture
    def oms_config():
        return {"OMS_SHOP_NAME": "Kit Shop", "OMS_PLUGINS": {"bank_transfer": {"note": "from oms_config"}}}


    def test_the_config_reaches_the_app(oms_app, oms_client):
        assert oms_app.config["OMS_SHOP_NAME"] == "Kit Shop"
        assert runtime.registry().settings.get("bank_transfer", "note") == "from oms_config"
        assert db.engine.dialect.name == os.environ["EXPECTED_DIALECT"]
        assert oms_client.get("/hello").status_code == 200


    class TestAClassOverridesIt:
        @pytest.fixture
        def oms_config(self):
            return {"OMS_DISABLED_PLUGINS": ["manual_carrier"]}

        def test_its_own_config(self, oms_app):
            assert "manual" not in runtime.registry().carriers
            assert oms_app.config["OMS_SHOP_NAME"] != "Kit Shop"


    @pytest.mark.parametrize("run", [1, 2])
    def test_each_test_starts_empty(oms_app, oms_product, run):
        assert db.session.query(Order).count() == 0
        place_test_order()
        assert db.session.query(Order).count() == 1
''')


def test_oms_app_is_configured_by_the_oms_config_fixture(database_url, backend, tmp_path):
    """As a plugin's own test module uses it: SQLite by default, the database of
    OMS_TEST_DATABASE_URL when set."""
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {k: v for k, v in os.environ.items() if k != "OMS_TEST_DATABASE_URL"}
    env["EXPECTED_DIALECT"] = backend
    if backend == "postgresql":
        db.session.remove()  # the inner run empties the tables this session may be reading
        env["OMS_TEST_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "test_inner.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_importing_the_kit_loads_neither_the_web_layer_nor_the_database():
    code = ("import sys, oms_core.testing, oms_core.testing.contracts, oms_core.testing.fakes; "
            "print(sorted(m for m in ('oms_web', 'oms_core.db', 'flask_sqlalchemy', 'sqlalchemy') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
