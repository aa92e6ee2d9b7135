"""Tracking codes (docs/architecture.md, invariant 5): unguessable, unambiguous, case-insensitive,
with a check symbol that catches every single typo and every swap of neighbours;
issued at confirmation and unique in the database."""
import math
import random

import pytest
from sqlalchemy.exc import IntegrityError

from oms_core import tracking_codes
from oms_core.db import db, write_transaction
from oms_core.models import Order
from oms_core.tracking_codes import ALPHABET, CODE_LENGTH, DATA_LENGTH

# A fixed sample keeps failures reproducible; the codes themselves come from generate().
SAMPLE = random.Random(20240601)


def _code_for(data: str) -> str:
    """A full code with the given data symbols (the check symbol is computed)."""
    return data + tracking_codes._check_symbol(data)


def _random_data(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(DATA_LENGTH))


# ------------------------------------------------------------------ shape


def test_alphabet_is_32_unambiguous_symbols():
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert ALPHABET == ALPHABET.upper()


def test_code_is_14_symbols_of_the_alphabet_with_a_valid_check():
    for _ in range(500):
        code = tracking_codes.generate()
        assert len(code) == CODE_LENGTH == 14
        assert set(code) <= set(ALPHABET)
        assert tracking_codes.is_well_formed(code)


def test_at_least_64_random_bits():
    bits = DATA_LENGTH * math.log2(len(ALPHABET))
    assert DATA_LENGTH == 13 and bits == 65 >= 64


def test_every_position_uses_the_whole_alphabet():
    """A weak generator (digits only, fixed prefix, a counter) shows up here."""
    codes = [tracking_codes.generate() for _ in range(3000)]
    assert len(set(codes)) == len(codes)
    for position in range(DATA_LENGTH):
        assert {code[position] for code in codes} == set(ALPHABET), position


def test_codes_do_not_come_from_the_seedable_random_module():
    random.seed(1)
    first = tracking_codes.generate()
    random.seed(1)
    assert tracking_codes.generate() != first


# ------------------------------------------------------------------ check symbol


@pytest.mark.parametrize("sample", range(40))
def test_every_single_substitution_is_detected(sample):
    code = tracking_codes.generate()
    for position in range(CODE_LENGTH):
        for symbol in ALPHABET:
            if symbol == code[position]:
                continue
            typo = code[:position] + symbol + code[position + 1:]
            assert not tracking_codes.is_well_formed(typo), (code, position, symbol)


def test_single_substitution_of_every_symbol_pair_at_every_position():
    """Exhaustive over (position, original, replacement)."""
    for position in range(DATA_LENGTH):
        for original in ALPHABET:
            data = list(_random_data(SAMPLE))
            data[position] = original
            code = _code_for("".join(data))
            for symbol in ALPHABET:
                if symbol != original:
                    typo = code[:position] + symbol + code[position + 1:]
                    assert not tracking_codes.is_well_formed(typo), (code, position, symbol)


def test_every_adjacent_transposition_within_the_data_is_detected():
    """Exhaustive over (position, first symbol, second symbol)."""
    for position in range(DATA_LENGTH - 1):
        for a in ALPHABET:
            for b in ALPHABET:
                if a == b:
                    continue
                data = list(_random_data(SAMPLE))
                data[position], data[position + 1] = a, b
                code = _code_for("".join(data))
                swapped = code[:position] + b + a + code[position + 2:]
                assert not tracking_codes.is_well_formed(swapped), (code, position)


def test_swapping_the_last_data_symbol_with_the_check_symbol_is_detected():
    """Every pair (last data symbol, check symbol) that a real code can have."""
    seen: set[tuple[str, str]] = set()
    rng = random.Random(7)
    for _ in range(40_000):
        code = _code_for(_random_data(rng))
        pair = (code[-2], code[-1])
        if pair in seen:
            continue
        seen.add(pair)
        if pair[0] != pair[1]:
            assert not tracking_codes.is_well_formed(code[:-2] + code[-1] + code[-2]), code
        if len(seen) == len(ALPHABET) ** 2:
            break
    assert len(seen) == len(ALPHABET) ** 2


def test_sampled_codes_catch_every_adjacent_transposition():
    for _ in range(300):
        code = tracking_codes.generate()
        for position in range(CODE_LENGTH - 1):
            a, b = code[position], code[position + 1]
            if a != b:
                swapped = code[:position] + b + a + code[position + 2:]
                assert not tracking_codes.is_well_formed(swapped), (code, position)


@pytest.mark.parametrize("bad", ["", "ABC", "0" * 15, "!" * 14, "abcdefghjkmnpq"])
def test_wrong_length_or_alphabet_is_not_well_formed(bad):
    assert not tracking_codes.is_well_formed(bad)


# ------------------------------------------------------------------ typing it in


def test_display_groups_of_four():
    code = "0123456789ABCD"
    assert tracking_codes.display(code) == "0123-4567-89AB-CD"


def test_normalise_ignores_case_dashes_and_spaces():
    code = tracking_codes.generate()
    typed = " " + tracking_codes.display(code).lower().replace("-", " - ") + "\t"
    assert tracking_codes.normalise(typed) == code
    assert tracking_codes.is_well_formed(tracking_codes.normalise(typed))


@pytest.mark.parametrize("typed, canonical", [
    ("o", "0"), ("O", "0"), ("i", "1"), ("I", "1"), ("l", "1"), ("L", "1"), ("u", "V"), ("U", "V"),
])
def test_normalise_reads_lookalikes(typed, canonical):
    assert tracking_codes.normalise(typed) == canonical


def test_a_code_typed_with_lookalikes_is_accepted():
    for _ in range(200):
        code = tracking_codes.generate()
        if any(c in code for c in "01V"):
            break
    typed = code.replace("0", "o").replace("1", "l").replace("V", "u")
    assert tracking_codes.normalise(typed) == code


def test_normalise_of_nothing():
    assert tracking_codes.normalise("") == "" and tracking_codes.normalise(None) == ""


# ------------------------------------------------------------------ in the database


def test_code_is_issued_at_confirmation(app, place):
    placed = place(confirm=False)
    assert placed.tracking_code is None
    confirmed = place(confirm=True)
    assert tracking_codes.is_well_formed(confirmed.tracking_code)


def test_database_refuses_a_duplicate_code(app, place):
    taken = place(confirm=True).tracking_code
    second_id = place(confirm=False).id
    with pytest.raises(IntegrityError):
        with write_transaction():
            db.session.get(Order, second_id).tracking_code = taken
    db.session.remove()
    assert db.session.get(Order, second_id).tracking_code is None
