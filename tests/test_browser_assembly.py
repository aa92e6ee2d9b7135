"""In headless Chromium: an assembly job booked and moved. Staff schedule the job of
an order with a wardrobe (assembly required) from the week page; the customer,
through the signed link of the appointment email, sees the appointment, downloads
its calendar file and asks to move it; staff see the request on the order page and
move the appointment; the customer sees the new one and gets a second calendar
file (same UID, next SEQUENCE). Screenshots go to OMS_SHOTS_DIR (default: the
test's tmp dir)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from babel.dates import format_date

from test_browser import OWNER, browser, serving, shots_dir  # noqa: F401  (the module's Chromium)


@pytest.fixture
def shop(database_url):
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_core.services.orders import NewOrder, place_order
    from oms_core.testing import make_app

    app = make_app(database_url, OMS_SHOP={"time_zone": "Europe/Amsterdam"}, OMS_PUBLIC_BASE_URL="https://shop.example")
    with app.app_context():
        catalog.create_product(sku="WARDROBE", name="Oak wardrobe", price_minor=40000, currency="EUR", on_hand=3,
                               assembly="required", assembly_price_minor=6000, actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        users.create_user(email="fay@example.com", name="Fay Fitter", password="fitter-password")
        order = place_order(NewOrder(email="cara@example.com", name="Cara Customer", lines=[("WARDROBE", 1)],
                                     payment_method="bank_transfer",
                                     address={"line1": "Keizersgracht 1", "postal_code": "1015CJ",
                                              "city": "Amsterdam", "country": "NL"}), actor="test", confirm=True)
        order_id = order.id
        db.session.remove()
    with serving(app) as base:
        yield app, base, order_id



def calendar_event(path: str):
    event, = icalendar.Calendar.from_ical(Path(path).read_bytes()).walk("VEVENT")
    return event


def test_an_assembly_job_booked_and_moved(browser, shop, tmp_path):  # noqa: F811
    from oms_core.db import db
    from oms_core.models import AssemblyJob
    from oms_core.services import assembly, customer_proof

    app, base, order_id = shop
    with app.app_context():
        first_day, second_day = assembly.today() + timedelta(days=2), assembly.today() + timedelta(days=9)
        link = f"/track/documents/link/{customer_proof.link_token(order_id)}"
        db.session.remove()
    shots = shots_dir(tmp_path)
    staff = browser.new_context().new_page()
    staff.set_default_timeout(20_000)
    staff.goto(f"{base}/oms/admin/login")
    staff.fill("#email", OWNER[0])
    staff.fill("#password", OWNER[1])
    staff.click('button[type="submit"]')

    # Staff schedule the waiting job from the week page.
    staff.click('nav.top a:text-is("Assembly")')
    waiting = staff.locator("#assembly-waiting tbody tr").first
    waiting.locator('input[name="date"]').fill(first_day.isoformat())
    waiting.locator('input[name="start"]').fill("09:00")
    waiting.locator('input[name="end"]').fill("12:00")
    waiting.locator('select[name="assignee_id"]').select_option(label="Fay Fitter")
    waiting.locator('button:has-text("Schedule")').click()
    staff.wait_for_selector("text=Assembly scheduled for")
    staff.goto(f"{base}/oms/admin/assembly?week={assembly.week_label(first_day - timedelta(days=first_day.weekday()))}")
    assert "FAY FITTER" in staff.locator("#assembly-week").inner_text().upper()
    staff.screenshot(path=str(shots / "assembly-week.png"), full_page=True)

    # The customer follows the email's link, sees the appointment, downloads it, asks to move it.
    customer_context = browser.new_context(accept_downloads=True)
    customer = customer_context.new_page()
    customer.set_default_timeout(20_000)
    customer.goto(base + link)
    appointment = customer.locator("#oms-assembly-appointment").inner_text()
    assert f"{format_date(first_day, 'full', locale='en_GB')}, 09:00–12:00" in appointment
    with customer.expect_download() as download:
        customer.click("text=Add to my calendar")
    first = calendar_event(download.value.path())
    assert int(first["SEQUENCE"]) == 0
    customer.fill("#oms-slot-0-date", second_day.isoformat())
    customer.select_option("#oms-slot-0-part", "afternoon")
    customer.fill("#oms-assembly-note", "Away that week")
    customer.click('button:has-text("Ask to move the appointment")')
    customer.wait_for_selector("#oms-assembly-move-requested")
    customer.screenshot(path=str(shots / "assembly-customer-move-request.png"), full_page=True)

    # Staff see the request on the order page and move the appointment there (htmx).
    staff.goto(f"{base}/oms/admin/orders/{order_id}")
    assert "Away that week" in staff.locator("#assembly-move-requested").inner_text()
    panel = staff.locator("#assembly-panel")
    panel.locator('input[name="date"]').fill(second_day.isoformat())
    panel.locator('input[name="start"]').fill("13:00")
    panel.locator('input[name="end"]').fill("16:30")
    panel.locator('button:has-text("Move")').click()
    staff.wait_for_selector("text=13:00–16:30")
    assert staff.locator("#assembly-move-requested").count() == 0
    staff.screenshot(path=str(shots / "assembly-order-moved.png"), full_page=True)

    # The customer sees the new appointment; its calendar file updates the same event.
    customer.reload()
    assert f"{format_date(second_day, 'full', locale='en_GB')}, 13:00–16:30" in customer.locator("#oms-assembly-appointment").inner_text()
    assert customer.locator("#oms-assembly-move-requested").count() == 0
    with customer.expect_download() as download:
        customer.click("text=Add to my calendar")
    moved = calendar_event(download.value.path())
    assert str(moved["UID"]) == str(first["UID"]) and int(moved["SEQUENCE"]) == 1
    customer.screenshot(path=str(shots / "assembly-customer-moved.png"), full_page=True)
    with app.app_context():
        job = db.session.query(AssemblyJob).filter_by(order_id=order_id).one()
        assert (job.status, job.sequence, job.scheduled_date, job.move_requested) == ("scheduled", 1, second_day, False)
        db.session.remove()
