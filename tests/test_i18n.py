"""The shop's own language: the catalogs are complete and compiled, a customer's
language is kept on the order and used for their emails and documents, customer
pages speak the visitor's language, money and dates are written for the locale
and in the shop's time zone (the back-office in the shop's locale)."""
from __future__ import annotations

import gettext
import io
from datetime import datetime, timezone

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings, strategies as st
from pypdf import PdfReader

from oms_core import i18n, tracking_codes
from oms_core.errors import ValidationError
from oms_core.services import documents, orders, outbox, payments
from test_notifications import BASE_URL, parts, smtp  # noqa: F401  (the smtp fixture)

REPO = i18n.TRANSLATIONS_DIR.parents[1]
SHIPPED = [code for code in i18n.LOCALES if code != "en"]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
SHOP = {"legal_name": "Kettle & Crumb B.V.", "address_lines": ["Oudegracht 12", "3511 AB Utrecht"],
        "country": "NL", "iban": "NL91 ABNA 0417 1643 00", "bic": "ABNANL2A",
        "locale": "en_GB", "time_zone": "Europe/Amsterdam"}


def nbsp(text: str) -> str:
    """Babel separates amount and symbol with no-break spaces: compare as typed."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.fixture
def app_config(smtp):
    return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": smtp.port, "OMS_PUBLIC_BASE_URL": BASE_URL,
            "OMS_SHOP_NAME": "Corner Shop", "OMS_MAIL_SENDER": "hello@shop.example", "OMS_SHOP": SHOP}


# ------------------------------------------------------------------ catalogs


def extracted_msgids() -> set[str]:
    """Every text marked for translation, found with Babel's extractors and the
    project's own babel.cfg (the same as `make translations`)."""
    with open(REPO / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {message[2] for message in extract_from_dir(str(REPO), method_map, options_map, keywords=KEYWORDS)}
    return {msgid if isinstance(msgid, str) else msgid[0] for msgid in found}


def catalog(language: str):
    with open(i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


def test_the_extraction_finds_the_customer_texts():
    msgids = extracted_msgids()
    # Subjects (Python, N_), email bodies (trans blocks), documents and public pages.
    for text in ("Order {number} confirmed", "Hello %(name)s,", "Invoice", "Track your order",
                 "Order received", "Bill to", "Out for delivery"):
        assert text in msgids
    assert len(msgids) > 100


@pytest.mark.parametrize("language", SHIPPED)
def test_every_marked_text_is_translated_in_each_catalog(language):
    entries = {message.id: message for message in catalog(language) if message.id}
    missing = sorted(extracted_msgids() - set(entries))
    assert missing == []
    untranslated = sorted(m.id for m in entries.values() if not m.string or m.fuzzy)
    assert untranslated == []


@pytest.mark.parametrize("language", SHIPPED)
def test_the_committed_mo_file_is_the_compiled_po_file(language):
    with open(i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for message in catalog(language):
        if message.id:
            assert compiled.gettext(message.id) == message.string, message.id


@pytest.mark.parametrize("language", SHIPPED)
def test_translations_keep_every_placeholder(language):
    import re

    placeholder = re.compile(r"%\(\w+\)s|\{\w+\}")
    for message in catalog(language):
        if message.id:
            assert sorted(placeholder.findall(message.id)) == sorted(placeholder.findall(message.string))


# ------------------------------------------------------------------ money and dates


def test_amounts_are_written_for_the_locale():
    assert nbsp(i18n.format_money(123450, "EUR", "de")) == "1.234,50 €"
    assert nbsp(i18n.format_money(123450, "EUR", "nl")) == "€ 1.234,50"
    assert nbsp(i18n.format_money(123450, "EUR", "fr")) == "1 234,50 €"
    assert i18n.format_money(123450, "EUR", "en_GB") == "€1,234.50"
    assert nbsp(i18n.format_money(1234, "JPY", "de")) == "1.234 ¥"  # no minor unit
    with pytest.raises(TypeError):
        i18n.format_money(12.5, "EUR", "de")


def test_times_are_shown_in_the_shops_time_zone(app):
    winter = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)  # already 1 December in Amsterdam
    assert i18n.format_datetime(winter, "en_GB", with_zone=True) == "1 Dec 2026, 00:30:00 CET"
    assert i18n.format_datetime(winter.replace(tzinfo=None), "de") == "01.12.2026, 00:30:00"  # naive = UTC
    assert i18n.format_date(winter, "nl") == "1 dec 2026"


def test_the_back_office_writes_money_and_times_the_shops_way(app, owner_client, place, make_product):
    from oms_web.admin.formatting import amount, when

    order = place([(make_product(price_minor=123450).sku, 1)], confirm=True)
    assert amount(123450, "EUR") == "€1,234.50"
    assert when(datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)) == "1 Jul 2026, 12:00:00 CEST"
    page = owner_client.get(f"/oms/admin/orders/{order.id}").get_data(as_text=True)
    assert "€1,234.50" in page and "1,234.50 EUR" not in page
    assert " UTC" not in page and ("CET" in page or "CEST" in page)


# ------------------------------------------------------------------ the order's language


@pytest.mark.parametrize("choice, kept", [(None, "en_GB"), ("", "en_GB"), ("de", "de"), ("de-AT", "de"),
                                          ("NL", "nl"), ("en", "en_GB")])
def test_the_order_keeps_a_shipped_language_or_the_shops(app, place, choice, kept):
    assert place(locale=choice).locale == kept


@pytest.mark.parametrize("choice", ["xx", "es", "de\x00", "a" * 40, 7])
def test_an_unknown_language_is_refused_and_nothing_is_placed(app, place, choice):
    from oms_core.models import Order
    from oms_core.db import db

    with pytest.raises(ValidationError):
        place(locale=choice)
    assert db.session.query(Order).count() == 0


@pytest.mark.parametrize("header, expected", [
    ("nl-NL,nl;q=0.9,en;q=0.8", "nl"), ("es;q=1.0, fr;q=0.5, de;q=0.7", "de"), ("en-US", "en_GB"),
    ("ja", "en_GB"), ("", "en_GB"), (None, "en_GB"), ("*", "en_GB"), ("de;q=0", "en_GB")])
def test_accept_language_picks_the_best_shipped_locale(app, header, expected):
    assert i18n.best_match(header) == expected


def test_a_storefront_checkout_keeps_the_browsers_language(app, make_product):
    from oms_web.storefront import place_checkout_order

    product = make_product()
    address = {"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"}
    with app.test_request_context(headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}):
        browser = place_checkout_order(email="b@example.com", name="Bea", lines=[(product.sku, 1)],
                                       payment_method="bank_transfer", address=address)
        chosen = place_checkout_order(email="c@example.com", name="Cas", lines=[(product.sku, 1)],
                                      payment_method="bank_transfer", address=address, locale="nl")
    assert (browser.locale, chosen.locale) == ("de", "nl")


def test_a_german_customer_gets_german_emails_and_documents(app, place, smtp):
    order = place(confirm=True, locale="de", name="Anna Beispiel")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency="EUR", reference="T-1", actor="staff:test")
    english = place(confirm=True, email="eve@example.com", name="Eve Example")
    assert outbox.run_once()[1] == 0
    mails = {message["Subject"]: message for _, _, message in smtp.inbox.received}
    number = orders.get_order(order.id).number
    text, html = parts(mails[f"Bestellung {number} bestätigt"])
    assert text.startswith("Hallo Anna Beispiel,")
    assert f"Vielen Dank für Ihre Bestellung {number} bei Corner Shop." in text
    assert "Ihr Tracking-Code:" in text and 'lang="de"' in html and "Ihre Bestellung verfolgen" in html
    paid_text, _ = parts(mails[f"Zahlung für Bestellung {number} erhalten"])
    assert "Im Anhang: Ihre Rechnung und Ihre Quittung." in paid_text
    assert f"Order {orders.get_order(english.id).number} confirmed" in mails  # the shop's own language

    invoice = next(d for d in documents.documents_for(order.id) if d.kind == "invoice")
    assert invoice.data["locale"] == "de"
    pdf = PdfReader(io.BytesIO(documents.pdf_bytes(invoice.id)))
    words = nbsp("\n".join(page.extract_text() for page in pdf.pages))
    assert "Rechnung" in words and "RECHNUNGSADRESSE" in words.upper() and "Gesamt (inkl. MwSt.)" in words
    total = nbsp(i18n.format_money(invoice.data["totals"]["gross"], "EUR", "de"))
    assert total in words and "," in total


def test_an_issued_document_keeps_its_language(app, place):
    """The locale is in the snapshot: a later change of the order or the shop's
    locale does not change the words of a document already issued."""
    from oms_core.db import db

    order = place(confirm=True, locale="fr")
    payments.record_payment(order.id, gateway_id="bank_transfer", amount_minor=order.balance_minor,
                            currency="EUR", reference="T-1", actor="staff:test")
    invoice = next(d for d in documents.documents_for(order.id) if d.kind == "invoice")
    order = orders.get_order(order.id)
    order.locale = "nl"
    db.session.commit()
    from oms_core.documents import html

    markup = html(documents.get_document(invoice.id).data)
    assert "<h1>Facture</h1>" in markup and 'lang="fr"' in markup


# ------------------------------------------------------------------ the tracking page


def track(client, order, **kw):
    code = tracking_codes.display(orders.get_order(order.id).tracking_code)
    return client.get("/track", query_string={"code": code, **kw.pop("query", {})}, **kw)


def test_a_dutch_visitor_sees_the_tracking_page_in_dutch(client, place):
    order = place(confirm=True)
    page = track(client, order, headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert "<h1>Volg uw bestelling</h1>" in page and "Bestelling bevestigd" in page and "Geschiedenis" in page
    assert "UTC" not in page  # times in the shop's zone
    assert "CET" in page or "CEST" in page


@pytest.mark.parametrize("lang, heading", [("fr", "Suivre votre commande"), ("de", "Bestellung verfolgen"),
                                           ("en", "Track your order"), ("xx", "Track your order")])
def test_lang_parameter_chooses_the_tracking_pages_language(client, place, lang, heading):
    order = place(confirm=True)
    page = track(client, order, query={"lang": lang}, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in page


def test_the_back_office_speaks_the_shops_language_whatever_the_browser(owner_client):
    page = owner_client.get("/oms/admin/", headers={"Accept-Language": "de"})
    assert page.status_code == 200 and 'lang="de"' not in page.get_data(as_text=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(max_size=600), lang=st.text(max_size=60))
def test_any_language_header_or_parameter_gets_a_page(client, header, lang):
    safe_header = header.encode("latin-1", "ignore").decode("latin-1").replace("\r", "").replace("\n", "")
    response = client.get("/track", query_string={"lang": lang}, headers={"Accept-Language": safe_header})
    assert response.status_code in (200, 400, 429)  # 400: the input guard's answer to a NUL


@pytest.mark.parametrize("language, in_stock, few_left", [("de", "Auf Lager", "Nur noch 2"),
                                                          ("nl", "Op voorraad", "Nog 2"),
                                                          ("en", "In stock", "2 left")])
def test_the_stock_badge_speaks_the_shoppers_language(client, make_product, language, in_stock, few_left):
    plenty, few = make_product(on_hand=50), make_product(on_hand=2, low_stock_threshold=5)
    headers = {"Accept-Language": language}
    assert in_stock in client.get(f"/oms/storefront/stock/{plenty.sku}", headers=headers).get_data(as_text=True)
    assert few_left in client.get(f"/oms/storefront/stock/{few.sku}", headers=headers).get_data(as_text=True)
