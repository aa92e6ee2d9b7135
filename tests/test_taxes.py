"""Taxes (docs/architecture.md, invariant 2): one half-up rule per line, used by
the order, the invoice and credit notes; awkward amounts and rates; orders store
their lines' rate and net/tax/gross at placing time, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from oms_core import taxes
from oms_core.errors import ValidationError
from oms_core.taxes import Split, part_of, round_half_up, split, spread

# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize("numerator, denominator, expected", [
    (5, 2, 3), (-5, 2, -3), (4, 2, 2), (7, 3, 2), (-7, 3, -2), (1, 3, 0), (3, 2, 2), (0, 7, 0)])
def test_round_half_up_rounds_halves_away_from_zero(numerator, denominator, expected):
    assert round_half_up(numerator, denominator) == expected


@pytest.mark.parametrize("gross, rate, tax", [
    (1, 2100, 0),        # a 1 cent line: 0.17 cents of tax
    (3, 2100, 1),        # 0.52 -> 1
    (121, 2100, 21),     # exact
    (99, 2100, 17),      # 17.18
    (1000, 0, 0),        # 0% rate
    (1000, 900, 83),     # 82.57
    (1210, 2100, 210),
])
def test_split_of_a_price_including_tax(gross, rate, tax):
    part = split(gross, rate, includes_tax=True)
    assert (part.net, part.tax, part.gross) == (gross - tax, tax, gross)


def test_three_times_33_cents_is_taxed_once_on_the_line_not_per_unit():
    line = split(3 * 33, 2100, includes_tax=True)  # 99 * 21/121 = 17.18
    per_unit = 3 * split(33, 2100, includes_tax=True).tax  # 3 * round(5.73) = 18
    assert (line.net, line.tax, line.gross) == (82, 17, 99)
    assert per_unit == 18 != line.tax


@pytest.mark.parametrize("net, rate, tax", [(1, 2100, 0), (3, 2100, 1), (250, 2100, 53), (1000, 550, 55),
                                            (5, 1000, 1), (15, 1000, 2), (0, 2100, 0)])
def test_split_of_a_price_excluding_tax(net, rate, tax):
    part = split(net, rate, includes_tax=False)
    assert (part.net, part.tax, part.gross) == (net, tax, net + tax)


def test_part_of_a_line_scales_by_the_same_rule_and_all_units_give_the_line_back():
    line = split(3 * 33, 2100, includes_tax=True)
    assert part_of(line, 3, 3) == line
    one = part_of(line, 1, 3)
    assert (one.net, one.tax, one.gross) == (27, 6, 33)  # 99/3 = 33, 17/3 = 5.67
    mugs = split(2 * 1450, 2100, includes_tax=True)  # net 2397, tax 503
    assert part_of(mugs, 1, 2) == Split(net=1198, tax=252, gross=1450, rate_bp=2100)  # not 14.51
    with pytest.raises(ValidationError):
        part_of(line, 4, 3)


def test_an_amount_is_spread_over_mixed_rates_in_proportion_and_adds_up():
    shares = spread(1000, {2100: 3000, 900: 1000, 0: 1000})
    assert sum(s.gross for s in shares) == 1000
    assert [(s.rate_bp, s.gross) for s in shares] == [(0, 200), (900, 200), (2100, 600)]
    assert all(s.net + s.tax == s.gross for s in shares)
    assert shares[2].tax == 104  # 600 * 21/121 = 104.13


def test_breakdown_adds_up_per_rate():
    parts = [split(99, 2100, includes_tax=True), split(121, 2100, includes_tax=True),
             split(500, 900, includes_tax=True), split(1, 0, includes_tax=True)]
    rows = taxes.breakdown(parts)
    assert [(r.rate_bp, r.net, r.tax, r.gross) for r in rows] == [
        (0, 1, 0, 1), (900, 459, 41, 500), (2100, 182, 38, 220)]


@pytest.mark.parametrize("rate", [-1, 10_001, 21.0, True, "2100"])
def test_a_rate_out_of_range_is_refused(rate):
    with pytest.raises(ValidationError):
        split(100, rate, includes_tax=True)


def test_rates_come_from_the_tax_class_per_country():
    classes = {"standard": {"NL": 2100, "DE": 1900, "*": 2000}, "reduced": {"NL": 900}}
    assert taxes.rate_for(classes, "standard", "de") == 1900
    assert taxes.rate_for(classes, "standard", "FR") == 2000
    assert taxes.rate_for(classes, "reduced", "FR") == 0
    assert taxes.rate_for(classes, "zero", "NL") == 0
    assert [taxes.format_rate(r) for r in (2100, 550, 0, 1005)] == ["21%", "5.5%", "0%", "10.05%"]


# ------------------------------------------------------------------ orders


@pytest.fixture
def app_config():
    return {"OMS_TAX_CLASSES": {"standard": {"NL": 2100, "*": 2000}, "reduced": {"NL": 900, "*": 1000}}}


def test_order_lines_store_their_rate_and_split_and_totals_stay_gross(app, make_product, place):
    mug = make_product(price_minor=33)
    book = make_product(price_minor=1999, tax_class="reduced")
    free = make_product(price_minor=1, tax_rate_bp=0)
    order = place([(mug.sku, 3), (book.sku, 1), (free.sku, 1)], shipping_minor=495)
    rows = [(line.tax_rate_bp, line.net_minor, line.tax_minor, line.gross_minor) for line in order.lines]
    assert rows == [(2100, 82, 17, 99), (900, 1834, 165, 1999), (0, 1, 0, 1)]
    assert order.subtotal_minor == 99 + 1999 + 1
    assert (order.shipping_minor, order.shipping_tax_rate_bp, order.shipping_tax_minor) == (495, 2100, 86)
    assert order.total_minor == 99 + 1999 + 1 + 495
    assert order.tax_minor == 17 + 165 + 0 + 86
    assert order.prices_include_tax is True


def test_the_rate_follows_the_shipping_country(app, make_product):
    from oms_core.services.orders import NewOrder, place_order

    mug = make_product(price_minor=1200)
    order = place_order(NewOrder(email="a@example.com", name="A", lines=[(mug.sku, 1)],
                                 payment_method="bank_transfer", address={"country": "BE"}), actor="test")
    assert (order.lines[0].tax_rate_bp, order.lines[0].tax_minor) == (2000, 200)


EXCLUSIVE = {"OMS_PRICES_INCLUDE_TAX": False, "OMS_TAX_CLASSES": {"standard": {"*": 2100}}}


@pytest.mark.parametrize("app_config", [EXCLUSIVE])
def test_exclusive_prices_add_tax_on_top(app, make_product, place):
    mug = make_product(price_minor=250)
    order = place([(mug.sku, 1)], shipping_minor=100)
    line = order.lines[0]
    assert (line.unit_price_minor, line.net_minor, line.tax_minor, line.gross_minor) == (250, 250, 53, 303)
    assert (order.subtotal_minor, order.shipping_minor, order.total_minor, order.tax_minor) == (
        303, 121, 424, 53 + 21)
    assert order.prices_include_tax is False


def test_billing_address_defaults_to_shipping_and_can_differ(app, make_product, place):
    order = place()
    assert order.billing_address == {"name": "Ann Example", "line1": "1 Main St", "line2": "",
                                     "postal_code": "1000", "city": "Springfield", "country": "NL"}
    other = place(billing={"name": "Acme B.V.", "line1": "Dam 1", "city": "Amsterdam", "country": "nl"})
    assert (other.bill_name, other.bill_line1, other.bill_city, other.bill_country) == (
        "Acme B.V.", "Dam 1", "Amsterdam", "NL")
    assert other.ship_line1 == "1 Main St"
    with pytest.raises(ValidationError, match="two-letter"):
        place(billing={"line1": "x", "country": "Germany"})


@pytest.mark.parametrize("typed, rate", [("21", 2100), ("5.5", 550), ("5,55", 555), ("0", 0), ("100", 10_000),
                                         (" 9 %", 900)])
def test_a_typed_percentage_becomes_basis_points(typed, rate):
    assert taxes.parse_percent(typed) == rate


@pytest.mark.parametrize("typed", ["", "abc", "101", "5.555", "-1", "1e2", "٣"])
def test_a_typed_percentage_that_is_not_a_rate_is_refused(typed):
    with pytest.raises(ValidationError):
        taxes.parse_percent(typed)


def test_owners_give_a_product_a_tax_class_or_its_own_rate(app, client, owner_user):
    from conftest import LoggedInClient
    from oms_core.db import db
    from oms_core.models import Product

    owner = LoggedInClient(client, "owner@example.com", "owner-password")
    form = {"sku": "BOOK", "name": "Book", "price": "19.99", "currency": "EUR", "tax_class": "reduced"}
    assert owner.post("/oms/admin/products/new", data=form).status_code == 302
    assert owner.post("/oms/admin/products/new", data=dict(form, sku="PIN", tax_rate="5.5")).status_code == 302
    page = owner.post("/oms/admin/products/new", data=dict(form, sku="BAD", tax_rate="200"))
    assert page.status_code == 400 and "tax rate" in page.get_data(as_text=True)
    products = {p.sku: p for p in db.session.query(Product)}
    assert {sku: (p.tax_class, p.tax_rate_bp) for sku, p in products.items()} == {
        "BOOK": ("reduced", None), "PIN": ("reduced", 550)}
    assert "class reduced" in owner.get(f"/oms/admin/products/{products['BOOK'].id}").get_data(as_text=True)
    assert "5.5% (its own rate)" in owner.get(f"/oms/admin/products/{products['PIN'].id}").get_data(as_text=True)
