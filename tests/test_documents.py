"""Documents (docs/architecture.md, invariant 4): invoices, receipts, credit notes
and packing slips are issued where orders are paid and shipped, numbered without
gaps per series and year (also under concurrency, threads and processes), and
never change once issued; their PDF holds the numbers, totals, tax breakdown and
escaped text. SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from oms_core.db import db, write_transaction
from oms_core.errors import ValidationError
from oms_core.models import Document, DocumentCounter, Order
from oms_core.services import documents, payments, shipments
from oms_core.services.common import lock_order
from test_concurrency import race, race_processes

SHOP = {"legal_name": "Kettle & Crumb B.V.", "address_lines": ["Oudegracht 12", "3511 AB Utrecht"],
        "country": "NL", "vat_number": "NL123456789B01", "registration_number": "KvK 12345678",
        "iban": "NL91 ABNA 0417 1643 00", "bic": "ABNANL2A", "footer": "Thank you for shopping local",
        "locale": "en_GB", "time_zone": "Europe/Amsterdam"}
CLASSES = {"standard": {"*": 2100}, "reduced": {"*": 900}}
ISSUERS = 20


@pytest.fixture
def app_config():
    return {"OMS_SHOP": SHOP, "OMS_TAX_CLASSES": CLASSES,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": ISSUERS + 5, "max_overflow": 10}}


def pdf_text(document_id: int) -> str:
    reader = PdfReader(io.BytesIO(documents.pdf_bytes(document_id)))
    return "\n".join(page.extract_text() for page in reader.pages)


def fresh(order_id: int) -> Order:
    db.session.remove()
    return db.session.get(Order, order_id)


def pay_in_full(order_id: int, method: str = "bank_transfer"):
    order = fresh(order_id)
    return payments.record_payment(order_id, gateway_id=method, amount_minor=order.balance_minor,
                                   currency=order.currency, reference="TRX-42", actor="staff:test")


def kinds(order_id: int) -> list[str]:
    return [d.kind for d in documents.documents_for(order_id)]


@pytest.fixture
def mixed_order(make_product, place):
    """Two mugs at 21%, a tea at 9%, three 33 cent pins, shipping: 4,389 in all."""
    mug = make_product(price_minor=1450, name="Mug <script>alert(1)</script> & co")
    tea = make_product(price_minor=895, name="Earl Grey", tax_class="reduced")
    pin = make_product(price_minor=33, name="Pin")
    return place([(mug.sku, 2), (tea.sku, 1), (pin.sku, 3)], confirm=True, shipping_minor=495)


# ------------------------------------------------------------------ issuing


def test_paying_in_full_issues_a_receipt_per_payment_and_one_invoice(mixed_order):
    order_id = mixed_order.id
    assert kinds(order_id) == []
    payments.record_payment(order_id, gateway_id="bank_transfer", amount_minor=1000, currency="EUR",
                            reference="part", actor="staff:test")
    assert kinds(order_id) == ["receipt"]
    pay_in_full(order_id)
    assert kinds(order_id) == ["receipt", "receipt", "invoice"]
    with write_transaction():
        again = documents.issue_invoice(lock_order(order_id))
    assert kinds(order_id) == ["receipt", "receipt", "invoice"]
    invoice = documents.documents_for(order_id)[2]
    assert (again.id, invoice.number, invoice.filename) == (invoice.id, f"INV-{invoice.year}-000001",
                                                            f"INV-{invoice.year}-000001.pdf")
    events = [e.message for e in fresh(order_id).events if e.kind == "document_issued"]
    assert events == [f"Receipt RCT-{invoice.year}-000001 issued.", f"Receipt RCT-{invoice.year}-000002 issued.",
                      f"Invoice INV-{invoice.year}-000001 issued."]


@pytest.mark.parametrize("app_config", [{"OMS_SHOP": SHOP, "OMS_INVOICE_ON": "confirmed"}])
def test_invoice_on_confirmation_for_orders_paid_later(place):
    transfer = place(confirm=True, payment_method="bank_transfer")
    at_door = place(confirm=True, payment_method="cash_on_delivery")
    assert kinds(transfer.id) == kinds(at_door.id) == ["invoice"]
    invoice = documents.documents_for(transfer.id)[0]
    text = pdf_text(invoice.id)
    assert "Amount due" in text and "NL91 ABNA 0417 1643 00" in text and invoice.number in text
    assert "Amount due" not in pdf_text(documents.documents_for(at_door.id)[0].id)  # paid at the door


def test_invoice_pdf_holds_numbers_totals_breakdown_and_escaped_text(mixed_order):
    pay_in_full(mixed_order.id)
    invoice = next(d for d in documents.documents_for(mixed_order.id) if d.kind == "invoice")
    text = pdf_text(invoice.id)
    for expected in (invoice.number, "Kettle & Crumb B.V.", "NL123456789B01", "Ann Example", "1 Main St",
                     "Mug <script>alert(1)</script> & co", "€29.00", "€8.95", "€0.99", "€4.95",
                     "VAT 9% on €8.21", "€0.74", "VAT 21% on €28.88", "€6.06", "€43.89", "€37.09",
                     "Thank you for shopping local"):
        assert expected in text, expected
    assert "Amount due" not in text  # paid


def test_packing_slip_has_items_and_address_but_no_prices(mixed_order):
    pay_in_full(mixed_order.id)
    shipment = shipments.create_shipment(mixed_order.id, carrier_id="manual", service="DHL",
                                         tracking_number="JVGL1", actor="staff:test")
    slip = next(d for d in documents.documents_for(mixed_order.id) if d.kind == "packing_slip")
    assert (slip.source_kind, slip.source_id) == ("shipment", shipment.id)
    text = pdf_text(slip.id)
    assert "Packing slip" in text and slip.number in text and "Earl Grey" in text and "1 Main St" in text
    assert "€" not in text and "EUR" not in text and not re.search(r"\d[.,]\d\d\b", text), text


def test_credit_note_for_lines_and_an_amount_splits_tax_by_the_same_rule(mixed_order):
    pay_in_full(mixed_order.id)
    order = fresh(mixed_order.id)
    mug, tea, pin = order.lines
    with write_transaction():
        note = documents.issue_credit_note(lock_order(order.id), refund_id=7, amount_minor=33 + 500,
                                           lines=[(pin.id, 1)], reason="Pin <b>bent</b>")
    data = note.data
    assert data["lines"][0] | {} == {**data["lines"][0], "net": 27, "tax": 6, "gross": 33, "rate_bp": 2100}
    assert data["totals"]["gross"] == 533
    assert sum(row["gross"] for row in data["breakdown"]) == 533
    text = pdf_text(note.id)
    assert "Credit note" in text and note.number in text and "Pin <b>bent</b>" in text
    assert next(d for d in documents.documents_for(order.id) if d.kind == "invoice").number in text


def test_credit_note_for_every_line_gives_back_exactly_what_the_invoice_charged(mixed_order):
    pay_in_full(mixed_order.id)
    order = fresh(mixed_order.id)
    invoice = next(d for d in documents.documents_for(order.id) if d.kind == "invoice")
    with write_transaction():
        note = documents.issue_credit_note(
            lock_order(order.id), refund_id=8, amount_minor=order.total_minor,
            lines=[(line.id, line.quantity) for line in order.lines], reason="",
            shipping_minor=order.shipping_minor)
    assert note.data["totals"] == invoice.data["totals"]
    assert note.data["breakdown"] == invoice.data["breakdown"]


def test_credit_note_refuses_bad_input_and_changes_nothing(mixed_order):
    order = fresh(mixed_order.id)
    mug = order.lines[0].id  # two of them
    for amount, lines in ((0, None), (10, [(mug, 1)]), (5000, [(mug, 3)]), (5000, [(mug, 2), (mug, 1)]),
                          (100, [(999_999, 1)]), (100, [(mug, "1")]), (100, [(mug, True)]), (100, [(mug, 0)])):
        with pytest.raises(ValidationError), write_transaction():
            documents.issue_credit_note(lock_order(order.id), refund_id=1, amount_minor=amount, lines=lines,
                                        reason="")
    assert kinds(order.id) == []
    assert db.session.scalar(select(func.count()).select_from(DocumentCounter)) == 0


# ------------------------------------------------------------------ immutability


def test_an_issued_document_never_changes(app, mixed_order):
    pay_in_full(mixed_order.id)
    invoice_id = next(d.id for d in documents.documents_for(mixed_order.id) if d.kind == "invoice")
    receipt_id = next(d.id for d in documents.documents_for(mixed_order.id) if d.kind == "receipt")
    first = documents.pdf_bytes(invoice_id)  # rendered before the change
    app.config["OMS_SHOP"] = {**SHOP, "legal_name": "New Owner Ltd", "iban": "GB00 0000"}
    with write_transaction():  # the order changes too
        fresh(mixed_order.id).bill_name = "Someone Else"
    assert documents.pdf_bytes(invoice_id) == first
    stored = documents.get_document(invoice_id)
    assert stored.sha256 == hashlib.sha256(first).hexdigest() and stored.size == len(first)
    # Rendered only after the change, from its snapshot: still the old seller and buyer.
    text = pdf_text(receipt_id)
    assert "Kettle & Crumb B.V." in text and "New Owner" not in text and "Someone Else" not in text


def test_bytes_are_written_once_by_whoever_renders_first(app, mixed_order):
    pay_in_full(mixed_order.id)
    invoice_id = next(d.id for d in documents.documents_for(mixed_order.id) if d.kind == "invoice")
    results = race(app, 4, lambda _i: documents.pdf_bytes(invoice_id))
    assert len({value for kind, value in results}) == 1 and all(kind == "ok" for kind, _ in results)


def test_the_worker_pass_renders_what_nobody_asked_for_yet(mixed_order, monkeypatch):
    import oms_core.documents

    pay_in_full(mixed_order.id)
    real_render = oms_core.documents.render
    calls = []

    def first_one_fails(data):
        calls.append(data["number"])
        if len(calls) == 1:
            raise OSError("font cache unreadable")
        return real_render(data)

    monkeypatch.setattr(oms_core.documents, "render", first_one_fails)
    assert documents.render_pending() == 1  # the receipt failed, the invoice did not wait for it
    assert documents.render_pending() == 1
    assert documents.render_pending() == 0
    assert all(d.rendered for d in documents.documents_for(mixed_order.id))


# ------------------------------------------------------------------ numbering


def issue_invoice(order_id: int) -> str:
    with write_transaction():
        return documents.issue_invoice(lock_order(order_id)).number


def assert_numbered_one_to(count: int, numbers) -> None:
    year = db.session.scalar(select(DocumentCounter.year))
    assert sorted(numbers) == [f"INV-{year}-{n:06d}" for n in range(1, count + 1)]
    sequences = sorted(db.session.scalars(select(Document.sequence).where(Document.kind == "invoice")))
    assert sequences == list(range(1, count + 1))
    assert db.session.scalar(select(DocumentCounter.last_value).where(DocumentCounter.series == "invoice")) == count


def test_twenty_threads_issue_numbers_one_to_twenty(app, place):
    order_ids = [place(confirm=True).id for _ in range(ISSUERS)]
    results = race(app, ISSUERS, lambda i: issue_invoice(order_ids[i]))
    assert all(kind == "ok" for kind, _ in results), results
    assert_numbered_one_to(ISSUERS, [number for _, number in results])


def test_twenty_payments_at_once_give_invoices_and_receipts_one_to_twenty(app, place):
    """The issue's case: 20 orders paid in full at the same moment, each payment in its
    own transaction and connection; both series come out 1..20, no gap, no duplicate."""
    order_ids = [place(confirm=True).id for _ in range(ISSUERS)]
    results = race(app, ISSUERS, lambda i: pay_in_full(order_ids[i]).id)
    assert all(kind == "ok" for kind, _ in results), results
    assert_numbered_one_to(ISSUERS, db.session.scalars(select(Document.number).where(Document.kind == "invoice")))
    receipts = sorted(db.session.scalars(select(Document.sequence).where(Document.kind == "receipt")))
    assert receipts == list(range(1, ISSUERS + 1))
    assert all(kinds(order_id) == ["receipt", "invoice"] for order_id in order_ids)


def _issuer_process(database_url: str, order_id: int, barrier, answers) -> None:
    from oms_core.testing import dispose, make_app

    app = make_app(database_url, upgrade=False, OMS_SHOP=SHOP)
    try:
        with app.app_context():
            barrier.wait(timeout=120)
            try:
                answers.put(("ok", issue_invoice(order_id)))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                answers.put(("error", repr(exc)))
    finally:
        dispose(app)


def test_twenty_processes_issue_numbers_one_to_twenty(app, database_url, place):
    order_ids = [place(confirm=True).id for _ in range(ISSUERS)]
    db.session.remove()
    results, _ = race_processes(_issuer_process, [(database_url, order_id) for order_id in order_ids])
    assert all(kind == "ok" for kind, _ in results), results
    assert_numbered_one_to(ISSUERS, [number for _, number in results])


def test_a_rolled_back_issue_gives_its_number_back(place):
    first, second = place(confirm=True).id, place(confirm=True).id
    with pytest.raises(RuntimeError), write_transaction():
        documents.issue_invoice(lock_order(first))
        raise RuntimeError("the payment failed after all")
    assert kinds(first) == []
    assert_numbered_one_to(1, [issue_invoice(second)])


@pytest.mark.parametrize("app_config", [{"OMS_SHOP": SHOP, "OMS_DOCUMENT_PREFIXES": {"invoice": "F"}}])
def test_series_have_their_own_prefix_and_counter(place):
    order = place(confirm=True)
    number = issue_invoice(order.id)
    with write_transaction():
        documents.issue_credit_note(lock_order(order.id), refund_id=1, amount_minor=100, lines=None, reason="")
    year = db.session.scalar(select(DocumentCounter.year))
    assert number == f"F-{year}-000001"
    assert [d.number for d in documents.documents_for(order.id)] == [number, f"CREDIT_NOTE-{year}-000001"]


@pytest.mark.parametrize("bad", [{"OMS_SHOP": {"locale": "xx_YY"}}, {"OMS_SHOP": {"time_zone": "Mars/Base"}},
                                 {"OMS_SHOP": {"legal_nmae": "typo"}}, {"OMS_TAX_CLASSES": {"standard": {"NL": 21.0}}},
                                 {"OMS_INVOICE_ON": "shipped"}])
def test_settings_documents_cannot_be_issued_with_are_refused_at_start(database_url, bad):
    from oms_core.testing import make_app

    with pytest.raises(ValidationError):
        make_app(database_url, upgrade=False, **bad)
