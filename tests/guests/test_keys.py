"""Guest keys: what they are made of, how what a guest types is read, and how they are stored."""

from __future__ import annotations

import math
import re

import pytest

from guests.keys import (
    ALPHABET,
    ENTROPY_BITS,
    GROUP,
    LENGTH,
    generate_key,
    hash_key,
    normalize_key,
)
from guests.models import GuestKey, Sponsorship

KEY_SHAPE = re.compile(
    rf"^[{ALPHABET}]{{{GROUP}}}(-[{ALPHABET}]{{{GROUP}}}){{{LENGTH // GROUP - 1}}}$"
)


def test_alphabet_has_no_look_alikes():
    assert not set("0O1IL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 30
    assert ALPHABET.isupper()


def test_entropy_is_at_least_80_bits_from_alphabet_and_length():
    assert math.isclose(ENTROPY_BITS, LENGTH * math.log2(len(ALPHABET)))
    assert LENGTH * math.log2(len(ALPHABET)) >= 80
    assert ENTROPY_BITS >= 80


def test_a_key_is_five_groups_of_four_symbols_of_the_alphabet():
    for _ in range(200):
        key = generate_key()
        assert KEY_SHAPE.match(key), key
        groups = key.split("-")
        assert len(groups) == 5 and all(len(group) == GROUP for group in groups)
        assert len(key.replace("-", "")) == LENGTH == 20


def test_every_symbol_of_the_alphabet_is_drawn_and_nothing_else():
    seen = set("".join(generate_key().replace("-", "") for _ in range(500)))
    # 10,000 symbols from 30: a symbol never drawn is a chance of about 30 * (29/30)**10000.
    assert seen == set(ALPHABET)


def test_many_keys_are_all_different():
    keys = [generate_key() for _ in range(5000)]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    "typed",
    [
        "K7QM-3XTP-9WHC-A4ND-RF2E",
        "k7qm-3xtp-9whc-a4nd-rf2e",
        "K7QM 3XTP 9WHC A4ND RF2E",
        "  k7qm3xtp9whca4ndrf2e  ",
        "K7QM--3XTP-9WHC-A4ND-RF2E-",
        "Ｋ７ＱＭ－３ＸＴＰ－９ＷＨＣ－Ａ４ＮＤ－ＲＦ２Ｅ",  # full-width, as some keyboards type it
        "K7QM\u20133XTP\u20139WHC\u2013A4ND\u2013RF2E",  # en dashes from a word processor
        "K7QM\u00a03XTP 9WHC\tA4ND\nRF2E",
    ],
)
def test_what_a_guest_types_is_read_as_the_key(typed):
    assert normalize_key(typed) == "K7QM3XTP9WHCA4NDRF2E"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        None,
        "K7QM-3XTP-9WHC-A4ND",  # a group short
        "K7QM-3XTP-9WHC-A4ND-RF2E-X",  # a symbol too many
        "K7QM-3XTP-9WHC-A4ND-RF2O",  # O is not a symbol
        "K7QM-3XTP-9WHC-A4ND-RF20",  # nor is 0
        "K7QM-3XTP-9WHC-A4ND-RF21",  # nor 1
        "K7QM-3XTP-9WHC-A4ND-RF2I",  # nor I
        "k7qm-3xtp-9whc-a4nd-rf2l",  # nor L
        "K7QM-3XTP-9WHC-A4ND-RF2É",
        "K7QM_3XTP_9WHC_A4ND_RF2E",
        "'; DROP TABLE guests_guestkey; --",
    ],
)
def test_what_cannot_be_a_key_is_none(typed):
    assert normalize_key(typed) is None


def test_the_hash_is_of_the_key_and_keyed():
    symbols = normalize_key(generate_key())
    assert hash_key(symbols) == hash_key(symbols)
    assert hash_key(symbols) != hash_key(normalize_key(generate_key()))
    assert symbols not in hash_key(symbols)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(symbols))


def test_the_hash_depends_on_the_secret_key(settings):
    symbols = normalize_key(generate_key())
    before = hash_key(symbols)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    assert hash_key(symbols) != before


@pytest.mark.django_db
def test_only_the_keyed_hash_is_stored(issue):
    sponsorship, key = issue()
    record = GuestKey.objects.get(sponsorship=sponsorship)
    assert record.key_hash == hash_key(normalize_key(key))
    symbols = key.replace("-", "")
    for model in (GuestKey, Sponsorship):
        for row in model.objects.values():
            stored = " ".join(str(value) for value in row.values())
            assert key not in stored and symbols not in stored
            assert key.lower() not in stored.lower() and symbols.lower() not in stored.lower()
