"""Bech32m (pacata/chain/bech32m.py) against the BIP-350 vectors in tests/vectors/bip350.json,
plus round-trip and error-detection properties of the byte-payload API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from pacata.chain import bech32m
from pacata.errors import DecodeError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "bip350.json").read_text(encoding="utf-8")
)
VALID: list[str] = VECTORS["valid"]
INVALID: list[dict[str, str]] = VECTORS["invalid"]

# Valid *Bech32* strings from BIP-173: BIP-350 says no string is valid in both encodings.
BIP173_VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

# Lower-case printable ASCII without the separator: an hrp that survives a round trip as is.
HRP_ALPHABET = "".join(chr(c) for c in range(33, 127) if chr(c) != "1" and not chr(c).isupper())
hrps = st.text(HRP_ALPHABET, min_size=1, max_size=10)


def max_payload(hrp: str) -> int:
    """The largest byte payload whose string fits in 90 characters under `hrp`."""
    words = bech32m.MAX_LENGTH - len(hrp) - 1 - 6
    return words * 5 // 8


@st.composite
def hrp_and_payload(draw: st.DrawFn) -> tuple[str, bytes]:
    hrp = draw(hrps)
    return hrp, draw(st.binary(max_size=max_payload(hrp)))


def test_vector_file_holds_every_bip350_string() -> None:
    assert len(VALID) == 7
    assert len(INVALID) == 14
    assert all(set(v) == {"string", "reason"} for v in INVALID)


@pytest.mark.parametrize("text", VALID)
def test_valid_vector_decodes_and_re_encodes_to_itself(text: str) -> None:
    hrp, words = bech32m.decode_words(text)
    assert hrp == text[: text.rfind("1")].lower()
    assert all(0 <= w < 32 for w in words)
    assert len(words) == len(text) - len(hrp) - 1 - 6
    assert bech32m.encode_words(hrp, words) == text.lower()


@pytest.mark.parametrize("vector", INVALID, ids=[v["reason"] for v in INVALID])
def test_invalid_vector_is_refused(vector: dict[str, str]) -> None:
    with pytest.raises(DecodeError):
        bech32m.decode_words(vector["string"])


@pytest.mark.parametrize("text", BIP173_VALID_BECH32)
def test_bech32_checksum_is_not_accepted_as_bech32m(text: str) -> None:
    with pytest.raises(DecodeError, match="checksum"):
        bech32m.decode_words(text)


@pytest.mark.parametrize(
    "text", ["A1lqfn3a", "a1LQFN3A", "Abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx"]
)
def test_mixed_case_is_refused(text: str) -> None:
    with pytest.raises(DecodeError, match="mixes upper and lower case"):
        bech32m.decode_words(text)


@given(hrp_and_payload())
@example(("a", b""))
@example(("pac", b"\xff" * 50))
def test_bytes_round_trip(case: tuple[str, bytes]) -> None:
    hrp, payload = case
    text = bech32m.encode_bytes(hrp, payload)
    assert text == text.lower()
    assert text.startswith(hrp + "1")
    assert len(text) <= bech32m.MAX_LENGTH
    assert bech32m.decode_bytes(hrp, text) == payload
    assert bech32m.decode_bytes(hrp, text.upper()) == payload


@given(hrp_and_payload(), st.data())
def test_any_one_character_substitution_is_detected(
    case: tuple[str, bytes], data: st.DataObject
) -> None:
    hrp, payload = case
    text = bech32m.encode_bytes(hrp, payload)
    position = data.draw(st.integers(0, len(text) - 1), label="position")
    assume(position != len(hrp))  # the separator itself
    # The replacement keeps the string's shape: a data character for a data character, an
    # hrp character for an hrp character, so only the checksum can catch it.
    alphabet = bech32m.CHARSET if position > len(hrp) else HRP_ALPHABET
    replacement = data.draw(
        st.sampled_from(alphabet).filter(lambda c: c != text[position]), label="replacement"
    )
    corrupted = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(DecodeError, match="checksum"):
        bech32m.decode_words(corrupted)


@given(hrp_and_payload(), hrps)
def test_wrong_hrp_is_refused(case: tuple[str, bytes], other: str) -> None:
    hrp, payload = case
    assume(other != hrp)
    with pytest.raises(DecodeError, match="expected prefix"):
        bech32m.decode_bytes(other, bech32m.encode_bytes(hrp, payload))


def test_decode_bytes_wants_the_hrp_in_lower_case() -> None:
    text = bech32m.encode_bytes("pac", b"\x01\x02")
    assert bech32m.decode_bytes("pac", text.upper()) == b"\x01\x02"
    with pytest.raises(DecodeError, match="expected prefix"):
        bech32m.decode_bytes("PAC", text)


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ([0], "5 bits of padding"),  # a whole spare word
        ([0, 0, 0], "15 bits, one byte and 7 bits of padding"),
        ([0, 1], "one byte with non-zero padding"),
        ([31] * 9 + [1], "six bytes with non-zero padding"),
    ],
)
def test_bad_padding_is_refused(words: list[int], reason: str) -> None:
    text = bech32m.encode_words("pac", words)
    bech32m.decode_words(text)  # the checksum is fine; only the padding is wrong
    with pytest.raises(DecodeError, match="padding"):
        bech32m.decode_bytes("pac", text)


def test_length_limit_is_exactly_90_characters() -> None:
    longest = bech32m.encode_words("a", [0] * 82)
    assert len(longest) == 90
    assert bech32m.decode_words(longest) == ("a", [0] * 82)
    with pytest.raises(ValueError, match="longer than 90"):
        bech32m.encode_words("a", [0] * 83)
    with pytest.raises(DecodeError, match="longer than 90"):
        bech32m.decode_words(longest[:3] + "q" + longest[3:])


@pytest.mark.parametrize("hrp", ["", "a" * 84, " ", "a b", "\x7f", "é", "\u212a"])
def test_invalid_hrp_is_refused_on_encode(hrp: str) -> None:
    with pytest.raises(ValueError, match="human-readable part"):
        bech32m.encode_words(hrp, [])


@pytest.mark.parametrize("words", [[32], [-1], [0, 40]])
def test_words_out_of_range_are_refused_on_encode(words: list[int]) -> None:
    with pytest.raises(ValueError, match="5-bit"):
        bech32m.encode_words("a", words)


def test_encode_lower_cases_the_hrp() -> None:
    assert bech32m.encode_words("A", []) == "a1lqfn3a"
