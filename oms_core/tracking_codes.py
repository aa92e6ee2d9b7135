"""Tracking codes (DESIGN invariant 5).

13 symbols of Crockford's base-32 alphabet (65 random bits from `secrets`) plus one
check symbol computed with the Luhn mod-32 algorithm, which catches every single
mistyped symbol and every swap of two neighbours. No I, L, O or U: on input they
are read as 1, 1, 0 and V, and case, spaces and dashes do not matter.
"""
from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})
DATA_LENGTH = 13
CODE_LENGTH = DATA_LENGTH + 1


def _check_symbol(data: str) -> str:
    """Luhn mod N over the data symbols, N = 32."""
    n = len(ALPHABET)
    factor, total = 2, 0
    for char in reversed(data):
        addend = factor * _INDEX[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


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
