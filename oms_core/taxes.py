"""Tax arithmetic: one rounding rule for orders, invoices and credit notes
(docs/architecture.md, invariant 2).

Rates are integer basis points (2100 = 21%). Tax is computed per line, on the
line's whole amount (unit price times quantity), and rounded half away from zero
to the currency's minor unit: `round_half_up`. Every document adds up its lines,
so the invoice shows exactly what the order stored and a credit note for every
line gives back exactly what was charged. No floats: integer maths only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ValidationError

MAX_RATE_BP = 10_000  # 100%
STANDARD = "standard"


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero
    (-2.5 -> -3, as for 2.5 -> 3, so a credit note mirrors its invoice)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


@dataclass(frozen=True)
class Split:
    """An amount split into net + tax = gross, in minor units, at one rate."""

    net: int
    tax: int
    gross: int
    rate_bp: int


def split(amount_minor: int, rate_bp: int, *, includes_tax: bool) -> Split:
    """The line rule. `amount_minor` is gross (tax included) or net (tax on top)."""
    check_rate(rate_bp)
    if includes_tax:
        tax = round_half_up(amount_minor * rate_bp, 10_000 + rate_bp)
        return Split(net=amount_minor - tax, tax=tax, gross=amount_minor, rate_bp=rate_bp)
    tax = round_half_up(amount_minor * rate_bp, 10_000)
    return Split(net=amount_minor, tax=tax, gross=amount_minor + tax, rate_bp=rate_bp)


def part_of(whole: Split, quantity: int, of: int) -> Split:
    """`quantity` of `of` units of a line (a refund of some of its units): its gross
    and tax scaled and rounded by the same rule, net the difference, so one of two
    14.50 mugs is 14.50 again; all units give the line exactly."""
    if not 0 < quantity <= of:
        raise ValidationError(f"Between 1 and {of} units can be taken from this line.")
    gross = round_half_up(whole.gross * quantity, of)
    tax = round_half_up(whole.tax * quantity, of)
    return Split(net=gross - tax, tax=tax, gross=gross, rate_bp=whole.rate_bp)


def spread(amount_minor: int, gross_by_rate: dict[int, int]) -> list[Split]:
    """An amount taken off a whole order (a refund of an amount, not of lines): shared
    over its rates in proportion to their gross, the last rate taking what rounding
    left, each share split as a gross amount. Sorted by rate."""
    total = sum(gross_by_rate.values())
    rates = sorted(rate for rate, gross in gross_by_rate.items() if gross)
    if not rates or total <= 0:
        return [split(amount_minor, 0, includes_tax=True)]
    shares, left = [], amount_minor
    for rate in rates[:-1]:
        share = round_half_up(amount_minor * gross_by_rate[rate], total)
        shares.append(split(share, rate, includes_tax=True))
        left -= share
    shares.append(split(left, rates[-1], includes_tax=True))
    return shares


def breakdown(splits) -> list[Split]:
    """Net, tax and gross added up per rate (the table under an invoice), by rate."""
    sums: dict[int, list[int]] = {}
    for part in splits:
        row = sums.setdefault(part.rate_bp, [0, 0, 0])
        row[0] += part.net
        row[1] += part.tax
        row[2] += part.gross
    return [Split(net=n, tax=t, gross=g, rate_bp=rate) for rate, (n, t, g) in sorted(sums.items())]


def check_rate(rate_bp) -> int:
    if isinstance(rate_bp, bool) or not isinstance(rate_bp, int) or not 0 <= rate_bp <= MAX_RATE_BP:
        raise ValidationError(f"A tax rate is a whole number of basis points from 0 to {MAX_RATE_BP}.")
    return rate_bp


_PERCENT = re.compile(r"([0-9]{1,3})(?:[.,]([0-9]{1,2}))?")


def parse_percent(text: str) -> int:
    """'21' -> 2100, '5.5' -> 550, '0' -> 0: a rate as people type it, in basis points."""
    match = _PERCENT.fullmatch((text or "").strip().rstrip("%").strip())
    if not match:
        raise ValidationError(f"'{(text or '')[:20]}' is not a tax rate: type a percentage like 21 or 5.5.")
    return check_rate(int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0")))


def rate_for(tax_classes: dict, tax_class: str, country: str) -> int:
    """The rate of a tax class in a country, from the shop's OMS_TAX_CLASSES:
    {"standard": {"NL": 2100, "DE": 1900, "*": 2100}, "reduced": {...}}; "*" is any
    other country (and an order without an address). A class the shop has not
    configured taxes nothing."""
    rates = tax_classes.get(tax_class) or {}
    rate = rates.get((country or "").upper(), rates.get("*", 0))
    return check_rate(rate)


def format_rate(rate_bp: int) -> str:
    """2100 -> '21%', 550 -> '5.5%'."""
    whole, rest = divmod(rate_bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"
