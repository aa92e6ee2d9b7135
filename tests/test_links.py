"""One rule for which URLs become links (oms_core.links): absolute web addresses
with a host. A carrier's tracking URL that is anything else is shown as text on the
tracking page and in the back-office alike."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from oms_core.db import db
from oms_core.links import is_web_url, web_link
from oms_core.models import Shipment
from oms_core.services import orders, payments, shipments

STAFF = "staff:ops@example.com"


@pytest.mark.parametrize("url, web, https_only", [
    ("https://track.example/1Z9", True, True),
    ("HTTPS://track.example/1Z9", True, True),
    ("http://track.example/1Z9", True, False),
    ("javascript:alert(1)", False, False),
    (" javascript:alert(1)", False, False),
    ("data:text/html,<script>alert(1)</script>", False, False),
    ("//track.example/1Z9", False, False),
    ("/track?code=1", False, False),
    ("https://", False, False),
    ("https://[::1", False, False),
    ("", False, False),
    (None, False, False),
])
def test_which_urls_are_web_links(url, web, https_only):
    assert is_web_url(url) is web
    assert is_web_url(url, schemes=("https",)) is https_only
    assert web_link(url) == (url if web else None)


@pytest.fixture
def shipped_with_a_script_url(place):
    order = place(confirm=True)
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.total_minor,
                            currency="EUR", reference="R-1", actor=STAFF)
    shipment = shipments.create_shipment(order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JD0146", actor=STAFF)
    db.session.execute(update(Shipment).where(Shipment.id == shipment.id)
                       .values(tracking_url="javascript:alert(1)"))
    db.session.commit()
    return orders.get_order(order.id)


def test_a_script_url_is_text_on_the_tracking_page(client, shipped_with_a_script_url):
    html = client.get("/track", query_string={"code": shipped_with_a_script_url.tracking_code}).get_data(
        as_text=True)
    assert "JD0146" in html and "javascript:" not in html


def test_a_script_url_is_text_on_the_order_page(staff_client, shipped_with_a_script_url):
    html = staff_client.get(f"/oms/admin/orders/{shipped_with_a_script_url.id}").get_data(as_text=True)
    assert '<span class="mono">JD0146</span>' in html and "javascript:" not in html
