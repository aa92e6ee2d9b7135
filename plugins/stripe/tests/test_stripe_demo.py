"""The demo's offline card payments (`oms-demo --fake-stripe`, or OMS_DEMO_FAKE_STRIPE=1):
the stand-in starts, the plugin is pointed at it, and a payment made on its hosted
page reaches the running shop as signed webhooks. On SQLite: the demo's wiring
does not depend on the database."""
from __future__ import annotations

import threading
import time
import urllib.request

from oms_demo import settings
from oms_demo.app import create_app
from werkzeug.serving import make_server

from oms_core import runtime, schema
from oms_core.db import db
from oms_core.models import Order
from oms_core.protocols import StartPaymentRequest
from oms_core.services import storefront
from oms_core.testing import dispose, place_test_order
from oms_stripe import GATEWAY_ID


def test_off_unless_asked():
    assert settings.fake_stripe("http://127.0.0.1:5000", environ={}) == (None, {})


def test_a_card_payment_in_the_demo_reaches_the_shop(tmp_path):
    server = make_server("127.0.0.1", 0, None, threaded=True)  # the port first: the stand-in needs the URL
    shop_url = f"http://127.0.0.1:{server.server_port}"
    stand_in, config = settings.fake_stripe(shop_url, environ={settings.FAKE_STRIPE_ENV: "1"})
    app = create_app(f"sqlite:///{tmp_path / 'demo.sqlite3'}", data_dir=tmp_path, **config)
    server.app = app
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app.app_context():
            schema.upgrade()
            gateway = runtime.registry().gateway(GATEWAY_ID)
            assert gateway.api_base == stand_in.api_base
            assert (GATEWAY_ID, "Card (Stripe)") in storefront.payment_methods()  # offered at checkout
            order = place_test_order(payment_method=GATEWAY_ID)
            started = gateway.start_payment(StartPaymentRequest(
                order_id=order.id, order_number=order.number, amount_minor=order.balance_minor,
                currency=order.currency, idempotency_key="demo-1", customer_email="ann@example.com",
                success_url=f"{shop_url}/hello", cancel_url=f"{shop_url}/hello"))
            paying = urllib.request.Request(started.redirect_url, data=b"card=ok", method="POST")
            with urllib.request.urlopen(paying) as page:  # back on the shop once paid
                assert page.url == f"{shop_url}/hello"
            deadline = time.time() + 20
            while any(d.status is None for d in stand_in.events) and time.time() < deadline:
                time.sleep(0.05)
            assert [d.status for d in stand_in.events] == [200, 200]
            db.session.remove()
            order = db.session.get(Order, order.id)
            assert (order.status, order.paid_minor) == ("paid", order.total_minor)
            db.session.remove()
    finally:
        server.shutdown()
        stand_in.stop()
        dispose(app)
