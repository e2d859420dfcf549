"""BIP-39 (pacata/wallet/mnemonics.py) against every English vector of the reference
implementation (tests/vectors/bip39.json): entropy → words, words → seed with the passphrase
"TREZOR", seed → BIP-32 master key; and the reasons given for a mnemonic that is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pacata.wallet import (
    InvalidMnemonic,
    check_mnemonic,
    master_key,
    mnemonic_from_entropy,
    mnemonic_seed,
    new_mnemonic,
)
from pacata.wallet.mnemonics import WORD_COUNTS

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "bip39.json").read_text(encoding="utf-8")
)
ABANDON = " ".join(["abandon"] * 11 + ["about"])


def test_the_vector_file_holds_every_english_vector() -> None:
    assert VECTORS["passphrase"] == "TREZOR"
    assert len(VECTORS["vectors"]) == 24
    assert {len(v["mnemonic"].split()) for v in VECTORS["vectors"]} == {12, 18, 24}


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["entropy"][:16])
def test_vector(vector: dict[str, str]) -> None:
    entropy = bytes.fromhex(vector["entropy"])
    assert mnemonic_from_entropy(entropy) == vector["mnemonic"]
    assert check_mnemonic(vector["mnemonic"]) == vector["mnemonic"]
    seed = mnemonic_seed(vector["mnemonic"], VECTORS["passphrase"])
    assert seed.hex() == vector["seed"]
    assert master_key(seed).xprv() == vector["xprv"]


def test_the_seed_depends_on_the_bip39_passphrase() -> None:
    assert mnemonic_seed(ABANDON) != mnemonic_seed(ABANDON, "TREZOR")
    assert mnemonic_seed(ABANDON, "TREZOR").hex() == VECTORS["vectors"][0]["seed"]


def test_words_are_normalised() -> None:
    messy = "  ABANDON\tabandon\n" + " Abandon" * 9 + "   about \n"
    assert check_mnemonic(messy) == ABANDON
    assert mnemonic_seed(messy) == mnemonic_seed(ABANDON)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the mnemonic is empty"),
        ("   \n", "the mnemonic is empty"),
        (ABANDON.replace("about", "abuot"), "unknown word 'abuot' at position 12"),
        ("zzz " + ABANDON, "unknown word 'zzz' at position 1"),
        # A unique prefix is not expanded: the list's words only.
        (ABANDON.replace("about", "abou"), "unknown word 'abou' at position 12"),
        (" ".join(["abandon"] * 11), "a mnemonic has 12, 15, 18, 21 or 24 words; this one has 11"),
        (ABANDON + " abandon", "this one has 13"),
        (" ".join(["abandon"] * 12), "the checksum does not match"),
        # Two words swapped: every word is valid, the order is not.
        ("about " + " ".join(["abandon"] * 11), "the checksum does not match"),
    ],
)
def test_a_wrong_mnemonic_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidMnemonic, match=reason):
        check_mnemonic(text)
    with pytest.raises(InvalidMnemonic, match=reason):
        mnemonic_seed(text)


@pytest.mark.parametrize("words", WORD_COUNTS)
def test_new_mnemonics_are_valid_and_random(words: int) -> None:
    first, second = new_mnemonic(words), new_mnemonic(words)
    assert len(first.split()) == words
    assert check_mnemonic(first) == first
    assert first != second


def test_new_mnemonic_has_24_words_by_default() -> None:
    assert len(new_mnemonic().split()) == 24


@pytest.mark.parametrize("words", [0, 11, 13, 25, 48])
def test_new_mnemonic_refuses_other_lengths(words: int) -> None:
    with pytest.raises(InvalidMnemonic, match=f"not {words}"):
        new_mnemonic(words)


@pytest.mark.parametrize("size", [0, 15, 17, 33])
def test_entropy_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="16, 20, 24, 28 or 32 bytes"):
        mnemonic_from_entropy(bytes(size))
