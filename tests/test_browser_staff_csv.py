"""Staff management and the CSV import in a real browser (headless Chromium): an
owner invites someone from the Staff page, the invited person opens the emailed link,
chooses a password and logs in; the owner disables them and their open page is sent
to the log-in at the next click; staff upload an orders file and read the report."""
from __future__ import annotations

import os

import pytest

from test_browser import browser, csp_violations, serving  # noqa: F401  (the module's Chromium fixture)

OWNER = ("owner@example.com", "owner-password")
SHOTS = os.environ.get("OMS_SHOTS_DIR", "")


def shot(page, name: str) -> None:
    """A screenshot to look at, when OMS_SHOTS_DIR is set."""
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"staffcsv-{name}.png"), full_page=True)


@pytest.fixture
def live_app(database_url):
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_core.testing import make_app

    app = make_app(database_url, upgrade=False, OMS_SMTP_PORT=1)
    with app.app_context():
        catalog.create_product(sku="MUG", name="Stoneware mug", price_minor=1450, currency="EUR", on_hand=3,
                               actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        db.session.remove()
    with serving(app) as base:
        yield app, base


def log_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/oms/admin/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/oms/admin/")


def test_invite_accept_log_in_and_disable(browser, live_app):  # noqa: F811
    from oms_core.db import db
    from oms_core.models import StaffToken
    from oms_core.services import staff

    app, base = live_app
    owner = browser.new_context().new_page()
    owner.set_default_timeout(15_000)
    blocked = csp_violations(owner)
    log_in(owner, base, *OWNER)
    owner.click("nav.top summary >> text=More")  # set-up pages are under "More"
    owner.click("nav.top >> text=Staff")
    owner.fill("#invite-email", "nia@example.com")
    owner.select_option("#invite-role", "staff")
    owner.click("#staff-invite button[type=submit]")
    owner.wait_for_selector("text=Invitation emailed to nia@example.com")
    with app.app_context():  # the link the email carries (the worker signs it when it sends)
        link = staff.link_url(db.session.query(StaffToken).one()).replace(app.config["OMS_PUBLIC_BASE_URL"], base)
        db.session.remove()

    nia = browser.new_context().new_page()
    nia.set_default_timeout(15_000)
    nia.goto(link)
    nia.fill("#name", "Nia New")
    nia.fill("#password", "nias-password")
    nia.click("button[type=submit]")
    nia.wait_for_selector("text=Welcome: log in")
    log_in(nia, base, "nia@example.com", "nias-password")
    nia.goto(f"{base}/oms/admin/orders")
    assert "Staff" not in nia.locator("nav.top").inner_text()  # owners only

    owner.reload()
    shot(owner, "staff-page")
    owner.locator("tr", has_text="nia@example.com").locator("text=Disable").click()
    owner.wait_for_selector("text=nia@example.com is disabled")
    assert "Disabled" in owner.locator("#staff-audit").inner_text()

    nia.click("nav.top >> text=Products & stock")
    nia.wait_for_url(f"{base}/oms/admin/login*")
    nia.goto(link)  # the invitation was used
    assert "has been used already" in nia.content()
    assert blocked == []


def test_upload_an_orders_file_and_read_the_report(browser, live_app, tmp_path):  # noqa: F811
    _app, base = live_app
    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)
    log_in(page, base, *OWNER)
    page.click("nav.top summary >> text=More")  # set-up pages are under "More"
    page.click("nav.top >> text=Import & export")
    path = tmp_path / "orders.csv"
    path.write_text("channel,external_order_id,email,name,country,sku,quantity,paid\n"
                    "etsy,E-1,ann@example.com,Ann,NL,MUG,2,yes\n"
                    "etsy,E-2,bob@example.com,Bob,NL,MUG,2,no\n"
                    "etsy,E-3,cy@example.com,Cy,Netherlands,MUG,1,no\n")
    page.set_input_files("#orders-file", str(path))
    page.click("#import-orders button[type=submit]")
    page.wait_for_selector("#import-report")
    shot(page, "import-report")
    report = page.locator("#import-report").inner_text()
    assert "Orders created: 1," in report
    assert "Not enough stock for MUG: 2 requested, 1 available" in report
    assert "Country must be a two-letter code" in report
    page.click("#import-report >> text=etsy E-1")
    page.wait_for_selector("text=order E-1")
    shot(page, "imported-order")
