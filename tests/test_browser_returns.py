"""A return in a real browser (headless Chromium via Playwright), in the demo shop:
the customer proves a delivered order, asks to return one unit on the public page;
staff approve, receive (restock) and refund it on the return page; the credit note
downloads from the order page and the product's stock ledger shows the return.

Screenshots go to OMS_SHOTS_DIR when it is set (for people to look at)."""
from __future__ import annotations

import io
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from test_browser import OWNER, browser, csp_violations, serving  # noqa: F401  (fixture)

EMAIL = "dora@example.com"


@pytest.fixture
def delivered_shop(database_url, tmp_path):
    """The demo shop on a free port with one delivered order of two mugs (paid by
    bank transfer, shipped with the manual carrier)."""
    from oms_core.db import db
    from oms_core.services import catalog, payments, shipments, users
    from oms_core.services.orders import NewOrder, place_order
    from oms_demo.app import create_app

    app = create_app(database_url, data_dir=tmp_path / "demo-data", OMS_SMTP_PORT=1)
    with app.app_context():
        mug = catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450, currency="EUR",
                                     on_hand=8, actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        order = place_order(NewOrder(email=EMAIL, name="Dora Customer", lines=[("MUG-1", 2)],
                                     payment_method="bank_transfer",
                                     address={"line1": "1 Dock St", "postal_code": "1000", "city": "Utrecht",
                                              "country": "NL"}), actor="test", confirm=True)
        payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                                currency="EUR", reference="T-1", actor="test")
        parcel = shipments.create_shipment(order.id, carrier_id="manual", service="PostNL",
                                           tracking_number="3SABC1", actor="test")
        shipments.add_staff_update(order.id, parcel.id, status="delivered",
                                   occurred_at=datetime.now(timezone.utc), actor="test")
        facts = {"order_id": order.id, "code": order.tracking_code, "product_id": mug.id}
        db.session.remove()
    with serving(app) as base:
        yield app, base, facts


def shot(page, name: str) -> None:
    folder = os.environ.get("OMS_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        # caret="initial": hiding the caret injects a style, which the pages' CSP reports.
        page.screenshot(path=str(Path(folder) / f"returns-{name}.png"), full_page=True, caret="initial")


def test_customer_returns_staff_approve_receive_refund(browser, delivered_shop):  # noqa: F811
    from oms_core import tracking_codes

    app, shop, facts = delivered_shop
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    blocked = csp_violations(page)

    # --- the customer proves the order and asks to return one mug for a refund
    page.goto(f"{shop}/track/documents?code={tracking_codes.display(facts['code'])}")
    page.fill("#oms-documents-email", EMAIL)
    page.locator("form.panel button[type=submit]").click()
    page.click("#oms-returns-link a")
    page.get_by_label("How many Stoneware mug").fill("1")
    page.select_option("#oms-return-reason", "damaged")
    page.fill("#oms-return-text", "The handle came off <b>at once</b>")
    page.check('input[name="outcome"][value="refund"]')
    shot(page, "customer-form")
    page.locator("#oms-return-form button[type=submit]").click()
    page.wait_for_selector("#oms-returns-message")
    assert "Requested" in page.inner_text("#oms-returns")
    shot(page, "customer-requested")

    # --- staff find it in the returns list and act on the return page (HTMX, no reload)
    back_office = browser.new_context(accept_downloads=True)  # the shop's own computer
    staff = back_office.new_page()
    staff.set_default_timeout(20_000)
    staff_blocked = csp_violations(staff)
    staff.goto(f"{shop}/oms/admin/login")
    staff.fill("#email", OWNER[0])
    staff.fill("#password", OWNER[1])
    staff.click('button[type="submit"]')
    staff.click("nav >> text=Returns")
    shot(staff, "staff-list")
    staff.locator("#returns-results a", has_text="#").first.click()
    staff.wait_for_selector("#return-body")
    assert "The handle came off <b>at once</b>" in staff.inner_text("#return-text")
    staff.evaluate("window.__no_reload_mark = 'still here'")
    staff.fill("#approve-note", "Photo checked")
    staff.locator("#approve-return button").click()
    staff.wait_for_selector("#receive-return")
    shot(staff, "staff-approved")
    staff.locator("#receive-return button[type=submit]").click()  # one unit, back to sellable stock
    staff.wait_for_selector("#refund-return")
    staff.fill("#refund-reference", "BANK-RET-1")
    staff.locator("#refund-return button").click()
    staff.wait_for_selector("#return-body h1 >> text=Refunded")
    assert staff.evaluate("window.__no_reload_mark") == "still here", "an action reloaded the page"
    shot(staff, "staff-refunded")

    # --- the order page shows the return and the credit note, which downloads
    staff.goto(f"{shop}/oms/admin/orders/{facts['order_id']}")
    assert "Refunded" in staff.inner_text("#returns-panel")
    row = staff.locator("#documents-panel tr", has_text="Credit note")
    with staff.expect_download() as download:
        row.locator("a").click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "14.50" in text or "14,50" in text
    shot(staff, "order-page")

    # --- the product's stock ledger shows the unit coming back
    staff.goto(f"{shop}/oms/admin/products/{facts['product_id']}")
    ledger = staff.inner_text("main")
    assert "return" in ledger.lower()
    shot(staff, "product-ledger")

    # --- the customer sees the return refunded
    page.goto(f"{shop}/track/documents/{facts['order_id']}/returns")
    assert "Refunded" in page.inner_text("#oms-returns")
    shot(page, "customer-refunded")
    assert blocked == [] and staff_blocked == [], "the OMS's pages broke their own Content-Security-Policy"
    context.close()
    back_office.close()
