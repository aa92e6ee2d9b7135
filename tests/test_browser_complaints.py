"""In headless Chromium: a customer proves the order on the public page, opens a
complaint with a photo, staff reply from the back-office (HTMX), the customer
sees the reply (the photo loads under the pages' CSP) and answers with another
photo. Screenshots go to OMS_SHOTS_DIR (default: the test's tmp dir)."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from test_browser import OWNER, browser, serving, shots_dir  # noqa: F401  (the module's Chromium)


@pytest.fixture
def shop(database_url):
    from oms_core import tracking_codes
    from oms_core.db import db
    from oms_core.services import catalog, users
    from oms_core.services.orders import NewOrder, place_order
    from oms_core.testing import make_app

    app = make_app(database_url, OMS_SMTP_PORT=1)  # no mail server: emails wait in the outbox
    with app.app_context():
        catalog.create_product(sku="MUG-1", name="Stoneware mug", price_minor=1450, currency="EUR", on_hand=8,
                               actor="test")
        users.create_user(email=OWNER[0], name="Olive Owner", password=OWNER[1], role="owner")
        order = place_order(NewOrder(email="cara@example.com", name="Cara Customer", lines=[("MUG-1", 2)],
                                     payment_method="bank_transfer",
                                     address={"line1": "Keizersgracht 1", "postal_code": "1015CJ",
                                              "city": "Amsterdam", "country": "NL"}),
                            actor="test", confirm=True)
        order_id, code = order.id, tracking_codes.display(order.tracking_code)
        db.session.remove()
    with serving(app) as base:
        yield app, base, order_id, code



def photo_file(tmp_path, name: str, color) -> str:
    path = tmp_path / name
    out = io.BytesIO()
    Image.new("RGB", (320, 200), color).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return str(path)


def loaded_images(page, selector: str) -> list[int]:
    """The widths of the images once the browser is done with them (0: refused or broken)."""
    page.wait_for_function("s => [...document.querySelectorAll(s)].every(e => e.complete)", arg=selector)
    return page.eval_on_selector_all(selector, "els => els.map(e => e.naturalWidth)")


def test_customer_complaint_with_photo_staff_reply_and_answer(browser, shop, tmp_path):  # noqa: F811
    from oms_core.db import db
    from oms_core.models import Complaint

    app, base, order_id, code = shop
    shots = shots_dir(tmp_path)
    customer = browser.new_context().new_page()
    customer.set_default_timeout(20_000)
    customer.goto(f"{base}/track/documents")
    customer.fill("#oms-documents-code", code)
    customer.fill("#oms-documents-email", "cara@example.com")
    customer.click('button[type="submit"]')
    customer.wait_for_selector("#oms-complaints")
    customer.fill("#oms-complaint-form-subject", "Mug arrived <cracked>")
    customer.select_option("#oms-complaint-form-category", "Damaged item")
    customer.fill("#oms-complaint-form-body", "The handle is broken.\nSee the photo.")
    customer.set_input_files("#oms-complaint-form-photos", photo_file(tmp_path, "crack.jpg", (180, 40, 40)))
    customer.screenshot(path=str(shots / "complaints-customer-form.png"), full_page=True)
    customer.click("#oms-complaint-form button[type=submit]")
    customer.wait_for_selector("#oms-thread")
    assert customer.inner_text("h1") == "Mug arrived <cracked>"
    assert customer.get_attribute("#oms-complaint-status", "data-status") == "waiting_on_us"
    assert loaded_images(customer, ".oms-photos img") == [320]  # served, and allowed by the page's CSP
    customer.screenshot(path=str(shots / "complaints-customer-thread.png"), full_page=True)

    staff = browser.new_context().new_page()
    staff.set_default_timeout(20_000)
    staff.goto(f"{base}/oms/admin/login")
    staff.fill("#email", OWNER[0])
    staff.fill("#password", OWNER[1])
    staff.click('button[type="submit"]')
    staff.goto(f"{base}/oms/admin/")
    assert staff.inner_text("#count-complaints .count") == "1"
    assert "< 1 h" in staff.inner_text("#complaints-waiting")
    staff.screenshot(path=str(shots / "complaints-dashboard.png"), full_page=True)
    staff.click("#complaints-waiting a >> nth=0")
    staff.wait_for_selector("#complaint-body")
    assert loaded_images(staff, ".photos img") == [320]
    staff.fill("#reply-body", "Check the batch first.")
    staff.click("#note-button")
    staff.wait_for_selector("text=Internal note added.")
    staff.fill("#reply-body", "Sorry about that! A new mug is on its way.")
    staff.click("#reply-form button[type=submit]:not(#note-button)")
    staff.wait_for_selector('#complaint-status[data-status="waiting_on_customer"]')
    staff.screenshot(path=str(shots / "complaints-staff-thread.png"), full_page=True)

    customer.reload()
    body = customer.inner_text("#oms-thread")
    assert "A new mug is on its way." in body and "Check the batch" not in body
    customer.fill("#oms-reply-body", "Thank you, here is the box too.")
    customer.set_input_files("#oms-reply-photos", photo_file(tmp_path, "box.jpg", (40, 40, 180)))
    customer.click("#oms-reply-form button[type=submit]")
    customer.wait_for_selector("text=here is the box too")
    assert customer.get_attribute("#oms-complaint-status", "data-status") == "waiting_on_us"
    assert loaded_images(customer, ".oms-photos img") == [320, 320]
    customer.screenshot(path=str(shots / "complaints-customer-answer.png"), full_page=True)

    staff.goto(f"{base}/oms/admin/complaints")
    staff.wait_for_selector("#complaint-results")
    staff.screenshot(path=str(shots / "complaints-staff-list.png"), full_page=True)
    staff.goto(f"{base}/oms/admin/orders/{order_id}")
    assert "Mug arrived" in staff.inner_text("#complaints-panel")
    with app.app_context():
        complaint = db.session.query(Complaint).one()
        assert complaint.status == "waiting_on_us" and len(complaint.messages) == 4
        db.session.remove()
