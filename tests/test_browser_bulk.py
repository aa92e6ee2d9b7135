"""In headless Chromium: staff tick three orders in the list, one of which cannot be
confirmed (it is confirmed already), press Confirm, and the results panel swapped in
by htmx says 2 succeeded and 1 refused, with the reason. Then the owner adds an
outbound webhook endpoint and reveals its secret. Screenshots go to OMS_SHOTS_DIR."""
from __future__ import annotations


import pytest

from test_browser import OWNER, browser, csp_violations, serving, shots_dir  # noqa: F401  (the module's Chromium)


@pytest.fixture
def live(database_url):
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_core.services.orders import NewOrder, place_order
    from oms_core.testing import make_app

    app = make_app(database_url, OMS_SMTP_PORT=1)
    with app.app_context():
        catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450, currency="EUR", on_hand=20,
                               actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        ids = []
        for n, confirm in enumerate((False, True, False)):
            order = place_order(NewOrder(email=f"c{n}@example.com", name=f"Customer {n}", lines=[("MUG-1", 1)],
                                         payment_method="bank_transfer", channel="phone",
                                         address={"line1": "Kade 1", "postal_code": "1011AA", "city": "Amsterdam",
                                                  "country": "NL"}), actor="test", confirm=confirm)
            ids.append(order.id)
        db.session.remove()
    with serving(app) as base:
        yield app, base, ids



def test_bulk_confirm_reports_two_succeeded_and_one_refused(browser, live, tmp_path):
    app, url, (first, confirmed, third) = live
    shots = shots_dir(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    blocked = csp_violations(page)
    page.goto(f"{url}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')
    page.goto(f"{url}/oms/admin/orders")
    for order_id in (first, confirmed, third):
        page.check(f'input[name="order_id"][value="{order_id}"]')
    page.evaluate("window.__no_reload_mark = 'still here'")
    page.click("#bulk-confirm")
    page.wait_for_selector("#bulk-results h2")
    assert page.locator("#bulk-succeeded").inner_text() == "2 succeeded"
    assert page.locator("#bulk-refused").inner_text() == "1 refused"
    refused = page.locator("#bulk-table tr.refused").inner_text()
    assert "confirmed" in refused.lower()
    assert page.locator("#bulk-table tr.ok").count() == 2
    assert page.evaluate("window.__no_reload_mark") == "still here", "the action reloaded the page"
    page.screenshot(path=str(shots / "outhooks-bulk-confirm.png"), full_page=True)

    from oms_core.db import db
    from oms_core.models import Order
    with app.app_context():
        assert [db.session.get(Order, i).status for i in (first, confirmed, third)] == ["confirmed"] * 3
        db.session.remove()

    # The owner adds an outbound webhook endpoint and reveals its secret in place.
    page.goto(f"{url}/oms/admin/webhooks")
    page.fill("#ne-url", "https://erp.example.com/oms-events")
    page.fill("#ne-description", "Warehouse ERP")
    page.check('input[name="events"][value="order.placed"]')
    page.check('input[name="events"][value="order.paid"]')
    page.click("#endpoint-form button[type=submit]")
    page.wait_for_selector("#endpoint-settings")
    page.click("#reveal-secret")
    page.wait_for_selector("#secret-value")
    assert page.locator("#secret-value").inner_text().startswith("whsec_")
    page.screenshot(path=str(shots / "outhooks-webhook-endpoint.png"), full_page=True)
    page.goto(f"{url}/oms/admin/webhooks")
    page.screenshot(path=str(shots / "outhooks-webhooks-list.png"), full_page=True)
    assert blocked == [], "the OMS's pages broke their own Content-Security-Policy"
    page.close()
