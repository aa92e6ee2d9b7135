"""The order page's parcels: pick lines into parcels, download a parcel's label and
its label + packing slip PDF, and print the picked orders' parcels in one PDF."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from oms_core.db import db
from oms_core.models import Order, Shipment
from oms_core.services import documents, outbox
from oms_core.testing.carrier_server import LABEL_PDF, CarrierServer, HttpCarrier
from oms_core.testing.fakes import plugin_registering

ADMIN = "/oms/admin"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BOX = {"code": "box", "label": "Box", "outer_mm": [300, 200, 100], "weight_grams": 150}


@pytest.fixture
def server():
    with CarrierServer() as running:
        yield running


@pytest.fixture
def app_config(server):
    return {"extra_plugins": [plugin_registering(HttpCarrier(server.url))], "OMS_PACKAGING": [BOX],
            "OMS_SHIPPING_RULES": [{"countries": ["NL"], "carrier": "httppost", "service": "std"}],
            "OMS_SHIP_FROM": [{"code": "main", "name": "Shop", "line1": "Damrak 1", "city": "Amsterdam",
                               "postal_code": "1012LG", "country": "NL"}]}


@pytest.fixture
def staff(client, staff_user):
    page = client.get(f"{ADMIN}/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    client.post(f"{ADMIN}/login", data={"email": "staff@example.com", "password": "staff-password",
                                        "csrf_token": token})
    return client


def token(client, url):
    return CSRF.search(client.get(url).get_data(as_text=True)).group(1)


def test_staff_pick_lines_into_two_parcels_and_print_them(app, staff, place, make_product):
    make_product(sku="CUP", on_hand=10)
    make_product(sku="POT", on_hand=10)
    order_id = place([("CUP", 3), ("POT", 1)], payment_method="cash_on_delivery", confirm=True).id
    lines = {line.sku: line.id for line in db.session.get(Order, order_id).lines}
    page = staff.get(f"{ADMIN}/orders/{order_id}").get_data(as_text=True)
    assert f'name="line-{lines["CUP"]}"' in page and 'value="httppost" selected' in page and "Box (300×200×100" in page
    csrf = token(staff, f"{ADMIN}/orders/{order_id}")
    answer = staff.post(f"{ADMIN}/orders/{order_id}/shipments", data={
        "csrf_token": csrf, "carrier_id": "httppost", "service": "std", f"line-{lines['CUP']}": "2",
        f"line-{lines['POT']}": "0", "packaging": "box", "signature": "1", "insurance": "20.00"},
        follow_redirects=True)
    assert answer.status_code == 200
    over = staff.post(f"{ADMIN}/orders/{order_id}/shipments", data={
        "csrf_token": csrf, "carrier_id": "httppost", f"line-{lines['CUP']}": "5"}, follow_redirects=True)
    assert "Only 1 of CUP are left" in over.get_data(as_text=True)
    staff.post(f"{ADMIN}/orders/{order_id}/shipments", data={"csrf_token": csrf, "carrier_id": "httppost"})
    outbox.run_once()
    documents.render_pending()
    db.session.expire_all()
    parcels = db.session.query(Shipment).filter_by(order_id=order_id).order_by(Shipment.id).all()
    assert [[(i.order_line.sku, i.quantity) for i in p.lines] for p in parcels] == [
        [("CUP", 2)], [("CUP", 1), ("POT", 1)]]
    assert parcels[0].signature and parcels[0].insurance_minor == 2000 and parcels[0].packaging == "box"
    page = staff.get(f"{ADMIN}/orders/{order_id}").get_data(as_text=True)
    assert "Label + packing slip (PDF)" in page
    label = staff.get(f"{ADMIN}/orders/{order_id}/shipments/{parcels[0].id}/label")
    assert label.status_code == 200 and label.data == LABEL_PDF and label.mimetype == "application/pdf"
    parcel = staff.get(f"{ADMIN}/orders/{order_id}/shipments/{parcels[0].id}/parcel.pdf")
    assert parcel.status_code == 200 and len(PdfReader(io.BytesIO(parcel.data)).pages) == 2
    assert staff.get(f"{ADMIN}/orders/{order_id + 1}/shipments/{parcels[0].id}/label").status_code == 404
    csrf = token(staff, f"{ADMIN}/orders")
    batch = staff.post(f"{ADMIN}/orders/labels.pdf", data={"csrf_token": csrf, "order_id": [str(order_id)]})
    assert batch.status_code == 200 and len(PdfReader(io.BytesIO(batch.data)).pages) == 4
    refused = staff.post(f"{ADMIN}/orders/labels.pdf", data={"csrf_token": csrf, "order_id": ["x"]})
    assert refused.status_code == 302


def test_printing_needs_a_login(app, client, place):
    order_id = place(confirm=True).id
    assert client.get(f"{ADMIN}/orders/{order_id}/shipments/1/label").status_code in (302, 401)


def test_staff_get_quotes_and_void_a_label(app, staff, place, server):
    order_id = place(payment_method="cash_on_delivery", confirm=True).id
    page = staff.get(f"{ADMIN}/orders/{order_id}").get_data(as_text=True)
    assert 'id="get-rates"' in page
    quotes = staff.get(f"{ADMIN}/orders/{order_id}/rates?carrier_id=httppost&packaging=box").get_data(as_text=True)
    assert 'value="rate_std"' in quotes and 'value="rate_exp"' in quotes
    refused = staff.get(f"{ADMIN}/orders/{order_id}/rates?carrier_id=manual").get_data(as_text=True)
    assert "No quotes" in refused
    csrf = token(staff, f"{ADMIN}/orders/{order_id}")
    staff.post(f"{ADMIN}/orders/{order_id}/shipments", data={"csrf_token": csrf, "carrier_id": "httppost",
                                                             "rate_id": "rate_exp"})
    outbox.run_once()
    db.session.expire_all()
    shipment = db.session.query(Shipment).filter_by(order_id=order_id).one()
    assert shipment.rate_id == "rate_exp"
    assert "Void the label" in staff.get(f"{ADMIN}/orders/{order_id}").get_data(as_text=True)
    staff.post(f"{ADMIN}/orders/{order_id}/shipments/{shipment.id}/void", data={"csrf_token": csrf})
    outbox.run_once()
    db.session.expire_all()
    assert db.session.get(Shipment, shipment.id).status == "cancelled"
    assert db.session.get(Order, order_id).status == "fulfilling"
