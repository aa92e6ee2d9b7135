"""Editing an order in a real browser (headless Chromium via Playwright), in the demo
shop: staff open a paid order, change a quantity and the address, see the preview
(new total, refund by hand, invoice corrected), save without a page load, and see
the new total and the edit on the timeline. SQLite and PostgreSQL.

Screenshots go to OMS_SHOTS_DIR when it is set (for people to look at)."""
from __future__ import annotations

import os
from pathlib import Path

from oms_core.services import orders, payments
from test_browser import OWNER, browser, csp_violations, live_shop  # noqa: F401  (fixtures)


def shot(page, name: str) -> None:
    # caret="initial": hiding the caret injects a style the pages' CSP (rightly) blocks.
    folder = os.environ.get("OMS_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, caret="initial")


def test_staff_edit_a_quantity_and_the_address(browser, live_shop, database_url):  # noqa: F811
    from oms_core.db import db
    from oms_core.testing import dispose, make_app

    # A paid bank-transfer order of two mugs (29.00 EUR), placed through the services.
    app = make_app(database_url, upgrade=False)
    with app.app_context():
        order = orders.place_order(orders.NewOrder(
            email="dan@example.com", name="Dan Buyer", lines=[("MUG-1", 2)], payment_method="bank_transfer",
            address={"line1": "1 Old Road", "postal_code": "1000", "city": "Springfield", "country": "NL"}),
            actor="test", confirm=True)
        payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                                currency="EUR", reference="TRX-9", actor="test")
        order_id = order.id
        db.session.remove()
    dispose(app)

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    blocked = csp_violations(page)
    page.goto(f"{live_shop}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')
    page.goto(f"{live_shop}/oms/admin/orders/{order_id}")
    page.wait_for_selector("#order-body h1 >> text=paid")
    documents = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)

    page.locator("#edit-panel summary").click()
    page.fill("#edit-panel input[aria-label='Quantity of MUG-1']", "1")
    page.fill("#edit-ship-line1", "22 New Street")
    page.fill("#edit-ship-city", "Utrecht")
    page.fill("#edit-reason", "Customer phoned")
    page.locator("#edit-ship-city").press("Tab")  # a change: the preview asks the server
    # Each change asks again; wait for the answer to the last one.
    page.wait_for_selector("#edit-preview >> text=address changed")
    preview = page.locator("#edit-preview").inner_text()
    assert "14.50" in preview and "29.00" in preview  # new total, and what it was
    assert "qty MUG-1 2 -> 1, address changed" in preview
    assert "INV-" in page.locator("#edit-invoice").inner_text()
    assert "by hand" in page.locator("#edit-refund").inner_text()
    page.fill("#edit-refund-reference", "BACK-42")
    shot(page, "edits-preview")

    page.locator("#edit-save").click()
    page.wait_for_selector("#order-body .flash >> text=changed")
    body = page.locator("#order-body").inner_text()
    assert "New total €14.50" in body.replace("\u00a0", " ")
    assert "22 New Street" in page.locator("#summary-panel").inner_text()
    timeline = page.locator("#timeline-panel").inner_text()
    assert "qty MUG-1 2 -> 1, address changed (Customer phoned)" in timeline
    assert "Refund of" in timeline and "BACK-42" in timeline
    assert documents == [], f"full page loads during the HTMX edit: {documents}"
    shot(page, "edits-saved")
    assert blocked == [], ("the edit form broke the Content-Security-Policy", page.url, blocked[:3])
    context.close()
