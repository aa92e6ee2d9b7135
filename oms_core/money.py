"""Money is an integer count of minor units plus an ISO 4217 currency; never a float."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import ValidationError
from .limits import MAX_AMOUNT_MINOR

# Currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def check_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValidationError(f"'{currency}' is not a three-letter currency code.")
    return code


# What a person types: ASCII digits with at most one decimal point or comma. No
# exponents, underscores, thousands separators or other scripts' digits, which
# Decimal() would silently accept.
_AMOUNT = re.compile(r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)")


def _refuse_float(value) -> None:
    # A float has already lost the exact amount (0.1 + 0.2): a programming error.
    if isinstance(value, float):
        raise TypeError("Money is never a float: pass a string, int or Decimal.")


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' in EUR -> 1250. Refuses more decimals than the currency has, and
    amounts beyond MAX_AMOUNT_MINOR."""
    _refuse_float(text)
    exp = exponent(currency)
    too_large = f"An amount can be at most {format_amount(MAX_AMOUNT_MINOR, currency)}."
    if isinstance(text, int) and not isinstance(text, bool) and abs(text) > 10**15:
        raise ValidationError(too_large)  # before str(), which refuses 4,300+ digits
    raw = str(text).strip()
    if not isinstance(text, Decimal) and not _AMOUNT.fullmatch(raw):
        raise ValidationError(f"'{raw[:40]}' is not an amount.")
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"'{raw[:40]}' is not an amount.") from None
    if not value.is_finite():
        raise ValidationError(f"'{raw[:40]}' is not an amount.")
    if value and value.adjusted() > 15:
        raise ValidationError(too_large)  # before scaleb(), which would overflow on 1E+999999
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value() or (value and not minor):  # 1E-999999 underflows to 0
        raise ValidationError(f"{currency} amounts have at most {exp} decimals: '{raw[:40]}'.")
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise ValidationError(too_large)
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """1250, EUR -> '12.50 EUR'."""
    _refuse_float(minor)
    exp = exponent(currency)
    value = Decimal(int(minor)).scaleb(-exp)
    return f"{value:,.{exp}f} {currency}"
