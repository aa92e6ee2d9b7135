"""Money is an integer count of minor units with a currency, never a float
(docs/architecture.md, invariant 2)."""
from decimal import Decimal

import pytest
from sqlalchemy import Integer

from oms_core import models, money
from oms_core.db import db
from oms_core.errors import ValidationError


@pytest.mark.parametrize("text, currency, minor", [
    ("12.50", "EUR", 1250),
    ("12,50", "EUR", 1250),
    ("12.5", "EUR", 1250),
    ("12", "EUR", 1200),
    (" 0.05 ", "EUR", 5),
    (".5", "EUR", 50),
    ("0", "EUR", 0),
    ("-3.10", "EUR", -310),
    ("1250", "JPY", 1250),
    ("1250.0", "JPY", 1250),
    ("1.234", "BHD", 1234),
    (12, "EUR", 1200),
    (Decimal("7.25"), "USD", 725),
    ("19.99", "usd", 1999),
])
def test_parse_amount(text, currency, minor):
    result = money.parse_amount(text, currency)
    assert result == minor and type(result) is int


@pytest.mark.parametrize("text, currency", [
    ("12.505", "EUR"),
    ("0.001", "EUR"),
    ("12.5", "JPY"),
    ("1.2345", "BHD"),
])
def test_more_decimals_than_the_currency_has_are_refused(text, currency):
    with pytest.raises(ValidationError, match="decimals"):
        money.parse_amount(text, currency)


@pytest.mark.parametrize("text", ["", "  ", "abc", "12.50 EUR", "1,234.56", "NaN", "Infinity",
                                  "-inf", "1e3", "1_000", "12..5", "--1", "0x10"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValidationError):
        money.parse_amount(text, "EUR")


@pytest.mark.parametrize("value", [12.5, 0.1, float("nan")])
def test_floats_are_refused(value):
    with pytest.raises(TypeError):
        money.parse_amount(value, "EUR")
    with pytest.raises(TypeError):
        money.format_amount(value, "EUR")


@pytest.mark.parametrize("minor, currency, text", [
    (1250, "EUR", "12.50 EUR"),
    (5, "EUR", "0.05 EUR"),
    (0, "EUR", "0.00 EUR"),
    (-310, "EUR", "-3.10 EUR"),
    (123456789, "EUR", "1,234,567.89 EUR"),
    (1250, "JPY", "1,250 JPY"),
    (1234, "BHD", "1.234 BHD"),
])
def test_format_amount(minor, currency, text):
    assert money.format_amount(minor, currency) == text


def test_parse_and_format_agree_without_rounding():
    for minor in (0, 1, 9, 10, 99, 100, 101, 999_999, 2**31 - 1):
        shown = money.format_amount(minor, "EUR").split()[0].replace(",", "")
        assert money.parse_amount(shown, "EUR") == minor


def test_exponents():
    assert money.exponent("EUR") == 2 and money.exponent("jpy") == 0 and money.exponent("KWD") == 3


@pytest.mark.parametrize("code, clean", [("eur", "EUR"), (" usd ", "USD"), ("JPY", "JPY")])
def test_currency_codes(code, clean):
    assert money.check_currency(code) == clean


@pytest.mark.parametrize("code", ["", "EU", "EURO", "E1R", None])
def test_bad_currency_codes(code):
    with pytest.raises(ValidationError):
        money.check_currency(code)


def test_every_money_column_is_an_integer():
    """No Float or Numeric column holds money: every *_minor column is an Integer."""
    assert models.Order is not None  # the tables are registered on import
    money_columns = [column for table in db.metadata.tables.values() for column in table.columns
                     if column.name.endswith("_minor")]
    assert len(money_columns) >= 6
    for column in money_columns:
        assert isinstance(column.type, Integer), f"{column.table.name}.{column.name}"
