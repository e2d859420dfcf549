"""Bech32m strings (BIP-350) for Pacata addresses (`pac1…`).

The checksum algorithm is BIP-173's with BIP-350's constant. Rules enforced on decode: the
whole string in one case, length ≤ 90, a human-readable part of 1–83 printable ASCII characters,
data only from the bech32 alphabet, a valid bech32m checksum, and (for byte payloads) zero
padding of fewer than 5 bits. Errors raise `DecodeError` naming the fault.
"""

from __future__ import annotations

from pacata.errors import DecodeError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
BECH32M_CONST = 0x2BC830A3
MAX_LENGTH = 90
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, data: list[int]) -> list[int]:
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ BECH32M_CONST
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def encode_words(hrp: str, words: list[int]) -> str:
    """Bech32m string of 5-bit `words` under `hrp` (lower case)."""
    # Checked before lower-casing: str.lower() maps some non-ASCII letters to ASCII
    # (U+212A KELVIN SIGN -> 'k'), which would let a non-ASCII hrp through.
    if not 1 <= len(hrp) <= 83 or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError(f"invalid human-readable part: {hrp!r}")
    hrp = hrp.lower()
    if any(not 0 <= w < 32 for w in words):
        raise ValueError("bech32 words must be 5-bit values")
    result = hrp + "1" + "".join(CHARSET[w] for w in [*words, *_checksum(hrp, words)])
    if len(result) > MAX_LENGTH:
        raise ValueError(f"bech32m string longer than {MAX_LENGTH} characters")
    return result


def decode_words(text: str) -> tuple[str, list[int]]:
    """(hrp, 5-bit words) of a bech32m string; `DecodeError` unless it is valid bech32m."""
    if len(text) > MAX_LENGTH:
        raise DecodeError(f"bech32m string longer than {MAX_LENGTH} characters")
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise DecodeError("bech32m string has a character outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise DecodeError("bech32m string mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise DecodeError("bech32m string has no human-readable part")
    if sep + 7 > len(text):
        raise DecodeError("bech32m string is too short for its checksum")
    hrp = text[:sep]
    try:
        words = [_CHARSET_INDEX[c] for c in text[sep + 1 :]]
    except KeyError as exc:
        raise DecodeError(f"invalid bech32 character {exc.args[0]!r}") from None
    if _polymod([*_hrp_expand(hrp), *words]) != BECH32M_CONST:
        raise DecodeError("invalid bech32m checksum")
    return hrp, words[:-6]


def convert_bits(data: list[int] | bytes, from_bits: int, to_bits: int, pad: bool) -> list[int]:
    """Regroups a sequence of `from_bits`-bit values into `to_bits`-bit values."""
    acc = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise DecodeError("value out of range for its bit width")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & max_value):
        raise DecodeError("invalid padding in bech32m data")
    return out


def encode_bytes(hrp: str, payload: bytes) -> str:
    return encode_words(hrp, convert_bits(payload, 8, 5, pad=True))


def decode_bytes(expected_hrp: str, text: str) -> bytes:
    """The byte payload of a bech32m string whose hrp must be `expected_hrp`."""
    hrp, words = decode_words(text)
    if hrp != expected_hrp:
        raise DecodeError(f"expected prefix {expected_hrp!r}, got {hrp!r}")
    return bytes(convert_bits(words, 5, 8, pad=False))
