"""Downloading documents: staff from the order page (login required); customers only
after proving the order is theirs (tracking code + email, or the signed link in
their emails), with no personal data and no enumeration without it; the paid
email carries the invoice and receipt as stored. SQLite and PostgreSQL."""
from __future__ import annotations

import time

import pytest

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.models import Order
from oms_core.services import customer_proof, documents, notifications, outbox, payments
import test_notifications

smtp = test_notifications.smtp  # a real SMTP server on a free local port
SHOP = {"legal_name": "Corner Shop Ltd", "locale": "en_GB"}


@pytest.fixture
def app_config(smtp):
    return {"OMS_SHOP": SHOP, "OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port,
            "OMS_PUBLIC_BASE_URL": "https://shop.example", "OMS_TRACKING_RATE_LIMIT": "5 per minute"}


@pytest.fixture
def paid(place):
    """A paid order (so an invoice and a receipt) of ann@example.com."""
    order_id = place(confirm=True, email="ann@example.com", name="Ann Example").id
    db.session.remove()
    payments.record_payment(order_id, gateway_id="bank_transfer",
                            amount_minor=db.session.get(Order, order_id).balance_minor,
                            currency="EUR", reference="T-1", actor="staff:test")
    db.session.remove()
    order = db.session.get(Order, order_id)
    return order.id, tracking_codes.display(order.tracking_code), documents.documents_for(order.id)


def docs_url(*parts) -> str:
    return "/".join(["/track/documents", *map(str, parts)])


# ------------------------------------------------------------------ staff


def test_staff_download_needs_login(client, paid):
    order_id, _code, (receipt, invoice) = paid
    anonymous = client.get(f"/oms/admin/orders/{order_id}/documents/{invoice.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert b"%PDF" not in anonymous.data


def test_staff_download_serves_the_stored_bytes(paid, staff_client):
    order_id, _code, (receipt, invoice) = paid
    response = staff_client.get(f"/oms/admin/orders/{order_id}/documents/{invoice.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    stored = documents.pdf_bytes(invoice.id)
    assert response.data == stored and response.data.startswith(b"%PDF")
    assert response.headers["ETag"] == f'"{documents.get_document(invoice.id).sha256}"'
    assert f'filename="{invoice.number}.pdf"' in response.headers["Content-Disposition"]
    again = staff_client.get(f"/oms/admin/orders/{order_id}/documents/{invoice.id}",
                             headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert staff_client.get(f"/oms/admin/orders/{order_id + 1}/documents/{invoice.id}").status_code == 404
    assert staff_client.get(f"/oms/admin/orders/{order_id}/documents/99999999999").status_code == 404


def test_order_page_lists_documents_and_a_separate_billing_address(paid, staff_client, place):
    order_id, _code, (receipt, invoice) = paid
    page = staff_client.get(f"/oms/admin/orders/{order_id}").get_data(as_text=True)
    assert 'id="documents-panel"' in page and invoice.number in page and receipt.number in page
    assert f"/oms/admin/orders/{order_id}/documents/{invoice.id}" in page
    assert 'id="bill-to"' not in page and "Ship to and bill to" in page
    other = place(billing={"name": "Acme <B.V.>", "line1": "Dam 1", "city": "Amsterdam", "country": "NL"})
    page = staff_client.get(f"/oms/admin/orders/{other.id}").get_data(as_text=True)
    assert 'id="bill-to"' in page and "Acme &lt;B.V.&gt;" in page


# ------------------------------------------------------------------ customers


def proof_form(client, code: str = "") -> str:
    page = client.get(docs_url() + (f"?code={code}" if code else "")).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def prove(client, code: str, email: str):
    return client.post(docs_url(), data={"code": code, "email": email, "csrf_token": proof_form(client, code)})


def test_without_proof_no_documents_and_nothing_personal(client, paid):
    order_id, code, (receipt, invoice) = paid
    for url in (docs_url(order_id), docs_url(order_id, invoice.id), docs_url(order_id + 1),
                docs_url(order_id + 1, invoice.id)):
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 404, url
        assert invoice.number not in body and "Ann" not in body and "%PDF" not in body
    # The tracking page links to the proof, and lists nothing itself.
    track = client.get(f"/track?code={code}").get_data(as_text=True)
    assert "oms-documents-link" in track and invoice.number not in track and "Ann" not in track


def test_wrong_email_and_unknown_code_get_the_same_answer(client, paid, place):
    order_id, code, (receipt, invoice) = paid
    other = place(confirm=True, email="bob@example.com")
    answers = [prove(client, code, "bob@example.com"), prove(client, "ABCD-EFGH-JKMN-PQ", "ann@example.com"),
               prove(client, tracking_codes.display(other.tracking_code), "ann@example.com"),
               prove(client, code, "")]
    bodies = {response.status_code: response.get_data(as_text=True) for response in answers}
    assert list(bodies) == [400]
    assert customer_proof.NOT_PROVEN.replace("'", "&#39;") in bodies[400]
    assert client.get(docs_url(order_id)).status_code == 404  # nothing was granted


def test_code_and_email_prove_the_order_for_a_while(app, client, paid, place):
    order_id, code, (receipt, invoice) = paid
    other = place(confirm=True, email="ann@example.com")
    response = prove(client, code.lower().replace("-", " "), "  ANN@Example.COM ")
    assert response.status_code == 303 and response.headers["Location"].endswith(docs_url(order_id))
    listing = client.get(docs_url(order_id)).get_data(as_text=True)
    assert invoice.number in listing and receipt.number in listing
    download = client.get(docs_url(order_id, invoice.id))
    assert download.status_code == 200 and download.data == documents.pdf_bytes(invoice.id)
    # This order only: not another one of the same customer, nor its documents by id.
    assert client.get(docs_url(other.id)).status_code == 404
    assert client.get(docs_url(other.id, invoice.id)).status_code == 404
    # The grant runs out.
    with client.session_transaction() as session:
        session[customer_proof.SESSION_KEY] = {str(order_id): int(time.time()) - 1}
    assert client.get(docs_url(order_id, invoice.id)).status_code == 404


def test_signed_link_proves_the_order_and_a_forged_one_does_not(app, client, paid):
    order_id, _code, (receipt, invoice) = paid
    token = customer_proof.link_token(order_id)
    response = client.get(docs_url("link", token))
    assert response.status_code == 303
    assert client.get(docs_url(order_id, receipt.id)).status_code == 200
    stranger = app.test_client()
    forged = customer_proof.link_token(order_id)[:-2] + "xx"
    assert stranger.get(docs_url("link", forged)).status_code == 400
    other_key = customer_proof.URLSafeTimedSerializer("another-secret", salt="oms-customer-documents")
    assert stranger.get(docs_url("link", other_key.dumps({"order": order_id}))).status_code == 400
    assert stranger.get(docs_url(order_id)).status_code == 404


@pytest.mark.parametrize("app_config", [{"OMS_DOCUMENT_LINK_DAYS": 0}])
def test_an_expired_link_is_refused(client, paid, monkeypatch):
    order_id = paid[0]
    token = customer_proof.link_token(order_id)
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get(docs_url("link", token)).status_code == 400


def test_proofs_are_rate_limited(client, paid):
    _order_id, code, _docs = paid
    statuses = [prove(client, code, f"guess{i}@example.com").status_code for i in range(7)]
    assert statuses[:5] == [400] * 5 and statuses[5:] == [429, 429]


def test_proof_form_needs_its_csrf_token(client, paid):
    _order_id, code, _docs = paid
    assert client.post(docs_url(), data={"code": code, "email": "ann@example.com"}).status_code == 400


# ------------------------------------------------------------------ emails


def test_paid_email_carries_invoice_and_receipt_as_stored(app, paid, smtp):
    order_id, _code, (receipt, invoice) = paid
    assert outbox.run_once() == (2, 0)
    confirmed, paid_mail = [message for _, _, message in smtp.inbox.received]
    assert list(confirmed.iter_attachments()) == []
    attached = {part.get_filename(): part.get_content() for part in paid_mail.iter_attachments()}
    assert attached == {receipt.filename: documents.pdf_bytes(receipt.id),
                        invoice.filename: documents.pdf_bytes(invoice.id)}
    assert all(part.get_content_type() == "application/pdf" for part in paid_mail.iter_attachments())
    text = paid_mail.get_body(preferencelist=("plain",)).get_content()
    link = text.split("Download them again: ")[1].split()[0]
    assert link.startswith("https://shop.example/track/documents/link/")
    client = app.test_client()
    assert client.get(link.removeprefix("https://shop.example")).status_code == 303
    assert client.get(docs_url(order_id, invoice.id)).status_code == 200
    assert notifications.documents_url(order_id).startswith("https://shop.example/track/documents/link/")
