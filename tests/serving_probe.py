"""Run in a fresh interpreter by test_serving_imports: serve the demo shop, its
checkout, the back-office and the tracking page through the test client, then
print (as JSON) the status of every page and which heavy libraries got imported.

    python serving_probe.py DATABASE_URL DATA_DIR [--run-forecast]

`--run-forecast` then runs a forecast from the back-office and reports the heavy
libraries again: the proof that the probe sees an import when one happens.
"""
from __future__ import annotations

import json
import re
import sys
import time

HEAVY = ("sklearn", "numpy", "scipy", "weasyprint", "pandas", "threadpoolctl", "stripe", "easypost", "icalendar",
         "karrio", "PIL")
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TRACKING_CODE = re.compile(r'id="tracking-code">([^<]+)<')
ADDRESS = {"name": "Ann Example", "email": "ann@example.com", "line1": "1 Main St",
           "postal_code": "1000 AA", "city": "Utrecht", "country": "NL", "payment_method": "bank_transfer"}
OWNER = {"email": "owner@demo.shop", "password": "demo-password"}


def heavy_imported() -> list[str]:
    return sorted(name for name in HEAVY if name in sys.modules)


def serve(database_url: str, data_dir: str, run_forecast: bool) -> dict:
    started = time.perf_counter()
    from oms_demo.app import create_app
    from sqlalchemy import select

    from oms_core.db import db
    from oms_core.models import Order, Product

    app = create_app(database_url, data_dir=data_dir)
    report = {"create_app_seconds": round(time.perf_counter() - started, 2), "status": {}}
    shop, staff = app.test_client(), app.test_client()

    def get(client, url):
        response = client.get(url)
        report["status"][f"GET {url}"] = response.status_code
        return response.get_data(as_text=True)

    def post(client, url, data):
        report["status"][f"POST {url}"] = client.post(url, data=data).status_code

    with app.app_context():
        sku = db.session.scalar(select(Product.sku).where(Product.active.is_(True), Product.on_hand > 0)
                                .order_by(Product.id).limit(1))
        product_id = db.session.scalar(select(Product.id).where(Product.sku == sku))
        db.session.remove()
    token = CSRF_FIELD.search(get(shop, "/")).group(1)
    post(shop, "/cart/add", {"sku": sku, "csrf_token": token})
    get(shop, "/checkout")
    post(shop, "/checkout", {**ADDRESS, "csrf_token": token})
    code = TRACKING_CODE.search(get(shop, "/checkout/done")).group(1)
    get(shop, f"/track?code={code}")
    get(shop, f"/oms/storefront/stock/{sku}")

    token = CSRF_META.search(get(staff, "/oms/admin/login")).group(1)
    post(staff, "/oms/admin/login", {**OWNER, "csrf_token": token})
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).order_by(Order.id.desc()).limit(1))
        db.session.remove()
    token = CSRF_META.search(get(staff, "/oms/admin/")).group(1)  # log-in renews the session
    for url in ("/oms/admin/orders", f"/oms/admin/orders/{order_id}", "/oms/admin/products",
                f"/oms/admin/products/{product_id}", f"/oms/admin/products/{product_id}/forecast",
                "/oms/admin/replenishment", "/oms/admin/replenishment.csv", "/oms/admin/plugins",
                "/oms/admin/complaints"):
        get(staff, url)
    report["heavy_after_serving"] = heavy_imported()
    if run_forecast:
        post(staff, "/oms/admin/replenishment/forecast", {"csrf_token": token})
        report["heavy_after_forecast"] = heavy_imported()
    return report


if __name__ == "__main__":
    print(json.dumps(serve(sys.argv[1], sys.argv[2], "--run-forecast" in sys.argv[3:])))
