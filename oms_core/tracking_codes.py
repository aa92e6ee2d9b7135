"""Tracking codes (docs/architecture.md, invariant 5).

13 symbols of Crockford's base-32 alphabet (65 random bits from `secrets`) plus one
check symbol. No I, L, O or U: on input they are read as 1, 1, 0 and V, and case,
spaces and dashes do not matter.

The check symbol treats the 32 symbols as elements of the field GF(32) and makes
sum(symbol_i * a^i) zero, with a distinct non-zero weight a^i per position (a
generates the field's multiplicative group, so the 14 weights are all different).
That catches every single mistyped symbol (weight * difference is never zero) and
every swap of two different symbols, neighbours or not ((w_i + w_j)(x + y) is never
zero). Luhn mod 32, used before, misses the swap of 0 and Z, as decimal Luhn misses
09 <-> 90: no check over the integers mod 32 can catch all neighbour swaps.
"""
from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})
DATA_LENGTH = 13
CODE_LENGTH = DATA_LENGTH + 1


# GF(32) as polynomials over GF(2) modulo x^5 + x^2 + 1 (primitive, so x generates).
_FIELD_MODULUS = 0b100101


def _times_generator(value: int) -> int:
    value <<= 1
    return value ^ _FIELD_MODULUS if value & 0b100000 else value


def _check_symbol(data: str) -> str:
    """Horner's rule: data symbol i gets weight a^(len - i), the check symbol a^0;
    in characteristic 2 the check symbol equals the weighted sum of the data."""
    total = 0
    for char in data:
        total = _times_generator(total ^ _INDEX[char])
    return ALPHABET[total]


def generate() -> str:
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LENGTH))
    return data + _check_symbol(data)


def normalise(text: str) -> str:
    """What the customer typed -> canonical form (may still be invalid)."""
    return "".join(ch for ch in (text or "").upper() if ch not in " -_.\t").translate(_LOOKALIKES)


def is_well_formed(code: str) -> bool:
    """Right length, right alphabet and a matching check symbol."""
    if len(code) != CODE_LENGTH or any(c not in _INDEX for c in code):
        return False
    return _check_symbol(code[:-1]) == code[-1]


def display(code: str) -> str:
    """Groups of four for print and screen: ABCD-EFGH-JKMN-PQ."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
