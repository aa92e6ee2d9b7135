"""The whole loop in a real browser (headless Chromium via Playwright): a customer
orders in the demo shop, staff log in, record the payment and create a shipment
with a tracking number, and the customer sees "Shipped" on the public page.

The back-office actions must be HTMX swaps: the test marks the page's window and
counts document requests; a full reload would lose the mark and count a request.
"""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from conftest import skip_or_fail

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
OWNER = ("owner@example.com", "owner-password")


def chromium_path() -> str | None:
    path = os.environ.get("OMS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if path and os.path.exists(path) else None


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if not path:
        skip_or_fail("browser tests need Chromium (apt-get install chromium, or set OMS_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("browser tests need the playwright package (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def serving(app):
    """`app` on a free local port, in a thread: yields its base URL; afterwards the
    server stops and the app's database connections are closed."""
    from oms_core.testing import dispose

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        dispose(app)


def shots_dir(tmp_path) -> Path:
    """Where a browser test's screenshots go: OMS_SHOTS_DIR (for people to look at),
    else the test's own tmp dir."""
    folder = Path(os.environ.get("OMS_SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def live_shop(database_url, tmp_path):
    """The demo shop on a free port, in a thread, on the test's database."""
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_demo.app import create_app

    app = create_app(database_url, data_dir=tmp_path / "demo-data", OMS_SMTP_PORT=1)
    with app.app_context():
        catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450, currency="EUR",
                               on_hand=8, actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        db.session.remove()
    with serving(app) as base:
        yield base


def csp_violations(page) -> list[str]:
    """Console reports of what the pages' Content-Security-Policy blocked."""
    found = []
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text else None)
    return found


def test_order_pay_ship_track(browser, live_shop):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    blocked = csp_violations(page)

    # --- the customer orders in the shop
    page.goto(f"{live_shop}/")
    page.click('button[data-sku="MUG-1"]')
    page.wait_for_selector("#shop-status >> text=Added")
    page.goto(f"{live_shop}/cart")
    page.click("#to-checkout")
    form = page.locator("#checkout-form")
    form.locator('[name="name"]').fill("Cara Customer")
    form.locator('[name="email"]').fill("cara@example.com")
    form.locator('[name="line1"]').fill("12 Canal Street")
    form.locator('[name="postal_code"]').fill("1011 AB")
    form.locator('[name="city"]').fill("Amsterdam")
    form.locator('[name="payment_method"]').select_option("bank_transfer")
    form.locator('button[type="submit"]').click()
    code = page.locator("#tracking-code").inner_text().strip()
    assert len(code.replace("-", "")) == 14

    # --- staff log in and find the order by its tracking code
    page.goto(f"{live_shop}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')
    page.goto(f"{live_shop}/oms/admin/orders?q={code}")
    page.locator("table a", has_text="0").first.click()
    page.wait_for_selector("#order-body")
    assert "confirmed" in page.locator("#order-body h1").inner_text().lower()

    documents = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    page.evaluate("window.__no_reload_mark = 'still here'")

    # --- record the payment (amount is prefilled with the balance)
    page.fill("#payment-reference", "TRANSFER-0042")
    page.locator("#payment-form button[type=submit]").click()
    page.wait_for_selector("#order-body h1 >> text=paid")

    # --- create the shipment with the carrier's tracking number
    page.select_option("#shipment-carrier", "manual")
    page.select_option("#shipment-service", "DHL")
    page.fill("#shipment-tracking-number", "JD014600006101")
    page.locator("#shipment-form button[type=submit]").click()
    page.wait_for_selector("#order-body h1 >> text=shipped")
    assert "JD014600006101" in page.locator("#order-body").inner_text()

    assert page.evaluate("window.__no_reload_mark") == "still here", "an action reloaded the page"
    assert documents == [], f"full page loads during HTMX actions: {documents}"

    # --- the customer follows the order on the public page
    public = context.new_page()
    public.goto(f"{live_shop}/track")
    public.fill("#oms-tracking-code", code.lower())  # case does not matter
    public.locator('form[role="search"] button[type="submit"]').click()
    text = public.locator("main").inner_text()
    assert "Shipped" in text
    assert "JD014600006101" in text
    assert "cara@example.com" not in public.content()
    assert "12 Canal Street" not in public.content()
    assert blocked == [], "the OMS's pages broke their own Content-Security-Policy"
    context.close()


def test_refusals_and_stock_adjustment_swap_in_place(browser, live_shop):
    """What staff see when the OMS refuses: the error inside the panel, values kept,
    nothing changed; and a stock count corrected on the products page by HTMX. On the
    public page a mistyped code is told apart from an unknown one."""
    from oms_core import tracking_codes

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_shop}/oms/admin/login")
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    page.click('button[type="submit"]')

    # A phone order entered by hand, confirmed at once.
    page.goto(f"{live_shop}/oms/admin/orders/new")
    page.fill("#no-email", "phone@example.com")
    page.fill('[name="name"]', "Phoebe Phone")
    page.locator('select[name="sku"]').first.select_option("MUG-1")
    page.locator('[name="quantity"]').first.fill("2")
    page.check('[name="confirm"]')
    page.click("#place-order")
    page.wait_for_selector("#order-body")
    page.evaluate("window.__no_reload_mark = 'still here'")

    # Paying more than is due is refused in place; the typed amount stays.
    page.fill("#payment-amount", "999.00")
    page.fill("#payment-reference", "TOO-MUCH")
    page.locator("#payment-form button[type=submit]").click()
    alert = page.locator("#order-body [role=alert]")
    alert.wait_for()
    assert "more than the balance" in alert.inner_text()
    assert page.input_value("#payment-amount") == "999.00"
    assert "confirmed" in page.locator("#order-body h1").inner_text().lower()
    assert page.evaluate("window.__no_reload_mark") == "still here"

    # A count correction on the products page swaps the product's row only.
    page.goto(f"{live_shop}/oms/admin/products")
    page.evaluate("window.__no_reload_mark = 'still here'")
    row = page.locator("tr", has_text="MUG-1")
    row.locator('[name="delta"]').fill("-1")
    row.locator('[name="reason"]').select_option("adjustment")
    row.locator('[name="note"]').fill("Chipped in the stock room")
    row.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr')].some(r => r.innerText.includes('MUG-1')"
        " && r.querySelectorAll('td.num')[1].innerText.trim() === '7')")
    cells = page.locator("tr", has_text="MUG-1").locator("td.num").all_inner_texts()
    assert [c.strip() for c in cells[1:4]] == ["7", "2", "5"]  # on hand, reserved, available
    assert page.evaluate("window.__no_reload_mark") == "still here"

    # The public page: a typo is called a typo, a well-formed unknown code is unknown.
    public = context.new_page()
    unknown = tracking_codes.generate()
    typo = unknown[:-1] + ("0" if unknown[-1] != "0" else "1")
    for code, expected in ((typo, "mistyped"), (unknown, "No order with this code")):
        public.goto(f"{live_shop}/track")
        public.fill("#oms-tracking-code", code)
        public.locator('form[role="search"] button[type="submit"]').click()
        assert expected in public.locator("main").inner_text()
    context.close()
