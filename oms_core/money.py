"""Money is an integer count of minor units plus an ISO 4217 currency; never a float."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import ValidationError

# Currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "JOD": 3, "TND": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def check_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValidationError(f"'{currency}' is not a three-letter currency code.")
    return code


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' in EUR -> 1250. Refuses more decimals than the currency has."""
    exp = exponent(currency)
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"'{text}' is not an amount.") from None
    if not value.is_finite():
        raise ValidationError(f"'{text}' is not an amount.")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValidationError(f"{currency} amounts have at most {exp} decimals: '{text}'.")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """1250, EUR -> '12.50 EUR'."""
    exp = exponent(currency)
    value = Decimal(int(minor)).scaleb(-exp)
    return f"{value:,.{exp}f} {currency}"
