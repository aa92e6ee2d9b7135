"""In headless Chromium: an order split into two parcels, one label bought through
the karrio bridge (UPS, recorded answers on a local port) and one through EasyPost
(its local stand-in); both labels downloaded; EasyPost's signed tracker webhooks and
a poll of karrio's `track` move the parcels to delivered; the public page shows
both. Screenshots go to OMS_SHOTS_DIR (default: the test's tmp dir)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from test_browser import OWNER, browser, serving, shots_dir  # noqa: F401  (the module's Chromium)

pytest.importorskip("karrio.mappers.ups")
pytest.importorskip("oms_easypost")
sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "karrio" / "tests"))
from karrio_recorded_server import UPS_NUMBER, UPS_ROUTES, CarrierServer  # noqa: E402
from oms_easypost.testing import EasyPostStandIn, sign  # noqa: E402

EASYPOST_KEY, EASYPOST_SECRET = "EZTK_browser", "whsec_browser"
SHIP_FROM = {"code": "main", "name": "Harbour Shop", "line1": "Kade 1", "city": "Rotterdam",
             "postal_code": "3011AA", "country": "NL", "phone": "+31101234567"}
BOX = {"code": "box-s", "label": "Small box", "outer_mm": [300, 200, 100], "weight_grams": 150}


@pytest.fixture
def carriers():
    with CarrierServer() as ups, EasyPostStandIn(api_key=EASYPOST_KEY) as easypost:
        ups.routes = dict(UPS_ROUTES)
        yield ups, easypost


@pytest.fixture
def shop(database_url, carriers, tmp_path):
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_core.services.orders import NewOrder, place_order
    from oms_core.testing import make_app

    ups, easypost = carriers
    app = make_app(database_url, OMS_SHIP_FROM=[SHIP_FROM], OMS_PACKAGING=[BOX], OMS_PLUGINS={
        "karrio": {"carriers": {"karrio_ups": {
            "carrier_name": "ups", "label": "UPS", "client_id": "c", "client_secret": "s", "account_number": "A1B2C3",
            "api_host": ups.url}}},
        "easypost": {"api_key": EASYPOST_KEY, "webhook_secret": EASYPOST_SECRET, "api_base": easypost.api_base}})
    with app.app_context():
        for sku, name, grams in (("MUG-1", "Stoneware mug", 420), ("POT-1", "Tea pot", 900)):
            catalog.create_product(sku=sku, name=name, price_minor=1450, currency="EUR", on_hand=8,
                                   weight_grams=grams, actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        order = place_order(NewOrder(email="cara@example.com", name="Cara Customer",
                                     lines=[("MUG-1", 2), ("POT-1", 1)], payment_method="cash_on_delivery",
                                     address={"line1": "Keizersgracht 1", "postal_code": "1015CJ",
                                              "city": "Amsterdam", "country": "NL"}), actor="test", confirm=True)
        order_id, code = order.id, order.tracking_code
        db.session.remove()
    with serving(app) as base:
        yield app, base, order_id, code



def add_parcel(page, carrier_id: str, service: str, quantities: dict[str, str]) -> None:
    page.select_option("#shipment-carrier", carrier_id)
    page.wait_for_selector(f'#shipment-service option[value="{service}"]', state="attached")
    page.select_option("#shipment-service", service)
    for field, value in quantities.items():
        page.fill(f'[name="{field}"]', value)
    page.select_option("#shipment-packaging", "box-s")
    page.locator("#shipment-form button[type=submit]").click()


def test_two_parcels_two_carriers_labels_webhooks_and_a_poll(browser, shop, carriers, tmp_path):  # noqa: F811
    from oms_core.db import db
    from oms_core.models import Order, Shipment
    from oms_core.services import tracking_poll
    from oms_core.testing import post_signed_webhook, run_worker_once

    app, base, order_id, code = shop
    ups, easypost = carriers
    with app.app_context():
        lines = {line.sku: line.id for line in db.session.get(Order, order_id).lines}
        db.session.remove()
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')
    page.goto(f"{base}/oms/admin/orders/{order_id}")

    # Parcel 1: the mugs with UPS through karrio; parcel 2: the rest with EasyPost.
    add_parcel(page, "karrio_ups", "ups_standard_eu", {f"line-{lines['MUG-1']}": "2", f"line-{lines['POT-1']}": "0"})
    page.locator(".shipment").first.wait_for()
    add_parcel(page, "easypost", "USPS:Priority", {})
    page.locator(".shipment").nth(1).wait_for()
    run_worker_once(app)  # the outbox buys both labels
    with app.app_context():
        parcels = db.session.query(Shipment).filter_by(order_id=order_id).order_by(Shipment.id).all()
        numbers = [p.tracking_number for p in parcels]
        assert numbers[0] == UPS_NUMBER and numbers[1], [p.booking_error for p in parcels]
        assert all(p.label_data for p in parcels)
        ids = [p.id for p in parcels]
        db.session.remove()

    page.goto(f"{base}/oms/admin/orders/{order_id}")
    assert "partially" not in page.locator("#order-body h1").inner_text().lower()
    for shipment_id in ids:
        with page.expect_download() as download:
            page.click(f'#shipment-{shipment_id} a:has-text("Label (")')
        assert Path(download.value.path()).stat().st_size > 100
    shots = shots_dir(tmp_path)
    page.screenshot(path=str(shots / "order-two-parcels.png"), full_page=True)

    # EasyPost's tracker webhooks move its parcel; a poll of karrio's track moves UPS's.
    client = app.test_client()
    with app.app_context():
        for status, message in (("in_transit", "Arrived at facility"), ("delivered", "Delivered")):
            easypost.advance(numbers[1], status, message, city="Amsterdam", country="NL")
            answer = post_signed_webhook(client, "carrier", "easypost",
                                         json.dumps(easypost.event(numbers[1])).encode(), sign=sign)
            assert answer.status_code == 200, answer.get_json()
        outcomes = tracking_poll.Poller()()
        assert outcomes["karrio_ups"].asked == 1 and not outcomes["karrio_ups"].errors, outcomes
        db.session.expire_all()
        statuses = [db.session.get(Shipment, i).status for i in ids]
        assert statuses == ["delivered", "delivered"], statuses
        assert db.session.get(Order, order_id).status == "delivered"
        db.session.remove()

    page.goto(f"{base}/track?code={code}")
    text = page.locator("#oms-track-result").inner_text()
    assert "2 parcels" in text and all(n in text for n in numbers) and "Delivered" in text
    assert "Keizersgracht" not in page.content()  # no address on the public page
    page.screenshot(path=str(shots / "public-two-parcels.png"), full_page=True)
    page.goto(f"{base}/oms/admin/orders/{order_id}")
    page.screenshot(path=str(shots / "order-two-parcels-delivered.png"), full_page=True)
