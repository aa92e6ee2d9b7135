"""Every back-office page renders for staff; the dashboard shows what needs
attention and retries failed outbox messages; owner-only pages refuse staff."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from oms_core.db import db
from oms_core.models import Order, OutboxMessage, Shipment
from oms_core.models._base import utcnow
from oms_core.services import outbox, payments, shipments

ADMIN = "/oms/admin"


@pytest.fixture
def some_of_everything(place, make_product):
    """A shop with an order in most states, so every page has something to show."""
    product = make_product(sku="MUG", on_hand=50)
    placed = place([(product.sku, 1)])
    paid = place([(product.sku, 1)], confirm=True)
    payments.record_payment(paid.id, gateway_id="bank_transfer", amount_minor=paid.total_minor,
                            currency="EUR", reference="R", actor="test")
    shipped = place([(product.sku, 1)], confirm=True, payment_method="cash_on_delivery")
    shipments.create_shipment(shipped.id, carrier_id="manual", service="UPS", tracking_number="1Z9",
                              actor="test")
    return {"product": product, "placed": placed, "paid": paid, "shipped": shipped}


def test_every_page_renders(staff_client, some_of_everything):
    product = some_of_everything["product"]
    pages = [f"{ADMIN}/", f"{ADMIN}/orders", f"{ADMIN}/orders?status=paid",
             f"{ADMIN}/orders?attention=unpaid",
             f"{ADMIN}/orders/new", f"{ADMIN}/products", f"{ADMIN}/products/{product.id}"]
    pages += [f"{ADMIN}/orders/{o.id}" for k, o in some_of_everything.items() if k != "product"]
    for url in pages:
        response = staff_client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<html" in page and 'class="top"' in page and "Sam Staff" in page, url


def test_owner_sees_the_plugins_page(owner_client):
    page = owner_client.get(f"{ADMIN}/plugins").get_data(as_text=True)
    assert "Plugins" in page
    for text in ("manual_payment", "Flask-OMS", "register_payment_gateways", "bank_transfer",
                 "Cash on delivery", "manual", "DHL", "seasonal_naive"):
        assert text in page, text
    assert f'href="{ADMIN}/plugins"' in page  # in the owner's menu


def test_staff_gets_403_on_owner_pages(staff_client):
    assert staff_client.get(f"{ADMIN}/plugins").status_code == 403
    assert staff_client.post(f"{ADMIN}/products/new", data={"sku": "X"}).status_code == 403
    menu = staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    assert f'href="{ADMIN}/plugins"' not in menu


def test_staff_can_do_order_and_stock_work(staff_client, some_of_everything):
    order, product = some_of_everything["placed"], some_of_everything["product"]
    assert staff_client.post(f"{ADMIN}/orders/{order.id}/confirm").status_code == 302
    assert staff_client.post(f"{ADMIN}/products/{product.id}/adjust",
                             data={"delta": "1", "reason": "receipt", "view": "row"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "confirmed"


def _count(page, key):
    return int(re.search(rf'id="count-{key}" href="[^"]*">\s*<span class="count">(\d+)', page).group(1))


def test_dashboard_counts_and_links(staff_client, some_of_everything, make_product):
    low = make_product(sku="LOW", name="Nearly gone", on_hand=2, low_stock_threshold=3)
    shipment = Shipment.query.filter_by(order_id=some_of_everything["shipped"].id).one()
    problem = shipments.TrackingUpdate("1Z9", "exception", utcnow(), message="Address unknown")
    shipments.add_tracking_update(shipment.id, problem, source="t")
    db.session.execute(update(Order).where(Order.id == some_of_everything["paid"].id)
                       .values(status_changed_at=utcnow() - timedelta(days=3)))
    db.session.commit()
    page = staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    assert (_count(page, "unconfirmed"), _count(page, "unpaid"), _count(page, "late"),
            _count(page, "shipment_problems"), _count(page, "low_stock")) == (1, 0, 1, 1, 1)
    assert f'href="{ADMIN}/orders?status=placed"' in page
    assert f'href="{ADMIN}/orders?attention=shipment_problems"' in page
    low_stock = page.split('id="low-stock"')[1].split("</section>")[0]
    assert "Nearly gone" in low_stock and f'href="{ADMIN}/products/{low.id}"' in low_stock
    problems = staff_client.get(f"{ADMIN}/orders?attention=shipment_problems").get_data(as_text=True)
    assert f'href="{ADMIN}/orders/{some_of_everything["shipped"].id}"' in problems
    assert "Shipment problems" in problems


@pytest.fixture
def failed_message(app, place):
    """An outbox message that gave up (no SMTP server listens in tests)."""
    place(confirm=True)  # queues the confirmation email
    message = OutboxMessage.query.one()
    message.max_attempts = 1
    db.session.commit()
    assert outbox.run_once() == (0, 1)
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message.id)
    assert message.status == "dead"
    return message


@pytest.mark.parametrize("htmx", [False, True])
def test_outbox_failure_listed_and_retried(staff_client, failed_message, htmx):
    page = staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    panel = page.split('id="outbox"')[1].split("</section>")[0]
    assert "email.send" in panel and "SMTP" in panel and "gave up" in panel and _count(page, "outbox") == 1
    response = staff_client.post(f"{ADMIN}/outbox/{failed_message.id}/retry", htmx=htmx)
    if htmx:
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body
        assert body.lstrip().startswith('<section class="panel" id="outbox">')
        assert "will be sent again" in body and "next try" in body
    else:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"{ADMIN}/")
        assert "will be sent again" in staff_client.get(f"{ADMIN}/").get_data(as_text=True)
    db.session.expire_all()
    message = db.session.get(OutboxMessage, failed_message.id)
    assert message.status == "pending" and message.max_attempts == 2


def test_retry_of_unknown_message(staff_client):
    response = staff_client.post(f"{ADMIN}/outbox/999/retry", htmx=True)
    assert "No outbox message 999" in response.get_data(as_text=True)


# ------------------------------------------------------------------ errors in the back-office


def in_layout(page: str) -> bool:
    return "<html" in page and 'class="top"' in page and "Sam Staff" in page


@pytest.mark.parametrize("url, status, text", [
    (f"{ADMIN}/orders/999999", 404, "No order 999999."),                  # a service's NotFound
    (f"{ADMIN}/products/999999/forecast", 404, "No product 999999."),
    (f"{ADMIN}/no/such/page", 404, "Not found"),                         # matches no view at all
    (f"{ADMIN}/orders/not-a-number", 404, "Not found"),
    (f"{ADMIN}/carrier-services?carrier_id=nope", 404, "No carrier 'nope' is installed."),
    (f"{ADMIN}/plugins", 403, "Not allowed"),                            # owners only
])
def test_errors_render_in_the_back_office_layout(staff_client, url, status, text):
    response = staff_client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert in_layout(page) and 'id="error-page"' in page and text in html.unescape(page)
    fragment = staff_client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == status
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<p class="error" role="alert">') and "<html" not in body


def test_an_unknown_post_under_the_prefix_is_a_404_in_the_layout(staff_client):
    response = staff_client.post(f"{ADMIN}/no/such/action")
    assert response.status_code == 404 and in_layout(response.get_data(as_text=True))


def test_unknown_back_office_urls_need_a_login_first(client):
    response = client.get(f"{ADMIN}/no/such/page")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_error_messages_are_escaped(staff_client):
    response = staff_client.get(f"{ADMIN}/carrier-services?carrier_id=<script>x</script>")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "<script>x</script>" not in page and "&lt;script&gt;" in page
