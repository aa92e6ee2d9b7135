"""Card money in a real browser (headless Chromium via Playwright), in the demo shop
with the local Stripe stand-in (oms_stripe.testing.FakeStripe, as `oms-demo
--fake-stripe`): a customer checks out by card, pays on the hosted page and comes
back; the stand-in sends its signed webhooks and the order is paid; staff refund
one line from the order page; the credit note downloads as a PDF with its number
and amount; the customer proves the order and downloads the invoice.

Screenshots go to OMS_SHOTS_DIR when it is set (for people to look at)."""
from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from werkzeug.serving import make_server

from oms_core.testing import run_worker_once
from test_browser import OWNER, browser, csp_violations  # noqa: F401  (fixture)

pytest.importorskip("oms_stripe")
EMAIL = "cara@example.com"


@pytest.fixture
def card_shop(database_url, tmp_path):
    """The demo shop with the Stripe stand-in, on a free port, in a thread."""
    from oms_demo import settings
    from oms_demo.app import create_app

    from oms_core.db import db
    from oms_core.services import catalog, users

    server = make_server("127.0.0.1", 0, None, threaded=True)  # the port first: the stand-in needs the URL
    shop_url = f"http://127.0.0.1:{server.server_port}"
    stand_in, config = settings.fake_stripe(shop_url, environ={settings.FAKE_STRIPE_ENV: "1"})
    app = create_app(database_url, data_dir=tmp_path / "demo-data", OMS_SMTP_PORT=1, **config)
    server.app = app
    with app.app_context():
        catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450, currency="EUR",
                               on_hand=8, actor="test")
        catalog.create_product(sku="PLATE-1", name="Dinner plate <b>", price_minor=2200, currency="EUR",
                               on_hand=8, actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        db.session.remove()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, shop_url, stand_in
    server.shutdown()
    stand_in.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def shot(page, name: str) -> None:
    folder = os.environ.get("OMS_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def save_pdf(name: str, body: bytes) -> None:
    folder = os.environ.get("OMS_SHOTS_DIR")
    if folder:
        (Path(folder) / f"{name}.pdf").write_bytes(body)


def pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    assert body.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def wait_until(check, what: str, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while not check():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_card_checkout_refund_credit_note_and_customer_invoice(browser, card_shop):  # noqa: F811
    app, shop, stand_in = card_shop
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    blocked = csp_violations(page)

    # --- the customer orders two things and pays by card on the hosted page
    page.goto(f"{shop}/")
    for sku in ("MUG-1", "PLATE-1"):
        page.click(f'button[data-sku="{sku}"]')
        page.wait_for_selector("#shop-status >> text=Added")
    page.goto(f"{shop}/cart")
    page.click("#to-checkout")
    form = page.locator("#checkout-form")
    form.locator('[name="name"]').fill("Cara Customer")
    form.locator('[name="email"]').fill(EMAIL)
    form.locator('[name="line1"]').fill("12 Canal Street")
    form.locator('[name="postal_code"]').fill("1011 AB")
    form.locator('[name="city"]').fill("Amsterdam")
    form.locator('[name="payment_method"]').select_option("stripe")
    form.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(re.escape(stand_in.api_base.rstrip("/")) + ".*"))
    total = re.search(r"Pay (\d+\.\d\d) EUR", page.inner_text("body")).group(1)  # items and shipping
    assert float(total) > 14.50 + 22.00
    page.click('button[value="ok"]')
    page.wait_for_url(re.compile(re.escape(shop) + ".*"))
    wait_until(lambda: stand_in.events and all(d.status is not None for d in stand_in.events), "the webhooks")
    assert {d.status for d in stand_in.events} == {200}
    # back on the shop's tracking page for this order, which says it is paid
    code = parse_qs(urlparse(page.url).query)["code"][0]
    assert urlparse(page.url).path == "/track"
    page.reload()
    assert "Payment received" in page.inner_text("main")

    # --- staff log in and open the order: paid by card
    staff = context.new_page()
    staff.goto(f"{shop}/oms/admin/login")
    staff.fill("#email", OWNER[0])
    staff.fill("#password", OWNER[1])
    staff.click('button[type="submit"]')
    staff.goto(f"{shop}/oms/admin/orders?q={code}")
    staff.locator("table a", has_text="0").first.click()
    staff.wait_for_selector("#order-body h1 >> text=paid")
    # one payment: the started Checkout Session and its PaymentIntent's events are the same money
    assert staff.locator("#payments-panel table").first.locator("tbody tr").count() == 1
    assert "Invoice" in staff.locator("#documents-panel").inner_text()

    # --- refund the plate (one line) from the order page; the worker asks the gateway
    staff.locator("#refund-form").get_by_label(re.compile("PLATE-1")).fill("1")
    staff.fill("#refund-reason", "Arrived chipped")
    staff.locator("#refund-form button[type=submit]").click()
    staff.wait_for_selector("#refunds")
    run_worker_once(app)
    wait_until(lambda: len(stand_in.events) >= 3 and all(d.status is not None for d in stand_in.events),
               "the refund's webhook")
    staff.reload()
    staff.wait_for_selector("#documents-panel >> text=Credit note")
    refunds = staff.locator("#refunds").inner_text()
    assert "succeeded" in refunds and "22.00" in refunds
    shot(staff, "order-page-card-refund")

    # --- the credit note downloads as a PDF with its number and the refunded amount
    row = staff.locator("#documents-panel tr", has_text="Credit note")
    number = row.locator("td.mono").inner_text().strip()
    with staff.expect_download() as download:
        row.locator("a").click()
    body = Path(download.value.path()).read_bytes()
    save_pdf("credit-note", body)
    text = pdf_text(body)
    assert number in text
    assert "22.00" in text or "22,00" in text

    # --- reconciliation: the cardholder's bank disputes the charge; staff see it and deal with it in place
    staff.goto(f"{shop}/oms/admin/reconciliation")
    assert "Everything adds up." in staff.inner_text("#reconciliation")
    intent_id = next(iter(stand_in.state.intents))
    stand_in.dispute(intent_id)
    wait_until(lambda: all(d.status is not None for d in stand_in.events), "the dispute's webhook")
    staff.reload()
    row = staff.locator("#reconciliation tr", has_text="Disputed")
    assert "Payments staff must look at" in row.inner_text()
    shot(staff, "reconciliation")
    staff.evaluate("window.__no_reload_mark = 'still here'")
    row.locator("button", has_text="Mark dealt with").click()
    staff.wait_for_selector("#reconciliation >> text=Everything adds up.")
    assert "Marked as dealt with." in staff.inner_text("#reconciliation")
    assert staff.evaluate("window.__no_reload_mark") == "still here", "the action reloaded the page"

    # --- the customer proves the order on the tracking page and downloads the invoice
    public = page
    public.goto(f"{shop}/track?code={code}")
    shot(public, "customer-tracking")
    public.click("#oms-documents-link")
    public.fill("#oms-documents-email", EMAIL)
    public.locator("form.panel button[type=submit]").click()
    listing = public.inner_text("main")
    assert "Invoice" in listing and "Credit note" in listing
    shot(public, "customer-documents")
    with public.expect_download() as download:
        public.locator("#oms-documents tr", has_text="Invoice").locator("a").click()
    invoice = Path(download.value.path()).read_bytes()
    save_pdf("invoice", invoice)
    invoice_text = pdf_text(invoice)
    assert total in invoice_text or total.replace(".", ",") in invoice_text
    assert "<b>" not in invoice_text or "Dinner plate <b>" in invoice_text  # escaped, printed as typed
    assert blocked == [], "the OMS's pages broke their own Content-Security-Policy"
    context.close()
