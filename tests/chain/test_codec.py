"""The canonical codec (pacata/chain/codec.py): every field kind round-trips, and every
non-canonical, truncated, oversized or trailing input is refused with `DecodeError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pacata.chain.codec import MAX_U64, Reader, WireObject, Writer, encode_uvarint
from pacata.errors import DecodeError

VARINT_BOUNDARIES = [
    0,
    1,
    127,
    128,
    255,
    256,
    16383,
    16384,
    (1 << 21) - 1,
    1 << 21,
    (1 << 32) - 1,
    1 << 32,
    (1 << 56) - 1,
    1 << 56,
    (1 << 63) - 1,
    1 << 63,
    MAX_U64,
]


def reference_leb128(value: int) -> bytes:
    """Unsigned LEB128 with no range limit, written independently of the module under test."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes) -> int:
    reader = Reader(data)
    value = reader.uvarint()
    reader.finish()
    return value


@dataclass(frozen=True, slots=True)
class Sample(WireObject):
    """One field of every kind, plus a constructor check (as real wire objects have)."""

    MAX_COUNT = 1000

    flag: bool
    count: int
    height: int
    nonce: int
    tag: bytes
    memo: str
    blob: bytes
    items: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.count > self.MAX_COUNT:
            raise ValueError(f"count {self.count} above {self.MAX_COUNT}")

    def write_to(self, writer: Writer) -> None:
        writer.boolean(self.flag)
        writer.u16(self.count)
        writer.u64(self.height)
        writer.uvarint(self.nonce)
        writer.fixed(self.tag, 4)
        writer.text(self.memo, 16)
        writer.var_bytes(self.blob, 32)
        writer.sequence(self.items, 5, writer.u32)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            flag=reader.boolean(),
            count=reader.u16(),
            height=reader.u64(),
            nonce=reader.uvarint(),
            tag=reader.fixed(4),
            memo=reader.text(16),
            blob=reader.var_bytes(32),
            items=reader.sequence(5, reader.u32),
        )


def _short_text(max_bytes: int) -> st.SearchStrategy[str]:
    return st.text(max_size=max_bytes).filter(lambda s: len(s.encode("utf-8")) <= max_bytes)


samples = st.builds(
    Sample,
    flag=st.booleans(),
    count=st.integers(0, Sample.MAX_COUNT),
    height=st.integers(0, MAX_U64),
    nonce=st.integers(0, MAX_U64),
    tag=st.binary(min_size=4, max_size=4),
    memo=_short_text(16),
    blob=st.binary(max_size=32),
    items=st.lists(st.integers(0, (1 << 32) - 1), max_size=5).map(tuple),
)


# --- fixed-width integers -------------------------------------------------------------------

FIXED_WIDTHS: list[tuple[str, int]] = [("u8", 1), ("u16", 2), ("u32", 4), ("u64", 8)]


@pytest.mark.parametrize(("kind", "width"), FIXED_WIDTHS)
@given(data=st.data())
def test_fixed_width_round_trip_is_big_endian(kind: str, width: int, data: st.DataObject) -> None:
    value = data.draw(
        st.one_of(
            st.sampled_from([0, 1, (1 << (8 * width)) - 1]), st.integers(0, (1 << (8 * width)) - 1)
        )
    )
    writer = Writer()
    getattr(writer, kind)(value)
    encoded = writer.getvalue()
    assert encoded == value.to_bytes(width, "big")
    reader = Reader(encoded)
    assert getattr(reader, kind)() == value
    assert reader.remaining == 0
    assert reader.position == width


@pytest.mark.parametrize(("kind", "width"), FIXED_WIDTHS)
@pytest.mark.parametrize("side", ["below", "above"])
def test_fixed_width_out_of_range_is_refused_on_encode(kind: str, width: int, side: str) -> None:
    value = -1 if side == "below" else 1 << (8 * width)
    with pytest.raises(ValueError, match="out of range"):
        getattr(Writer(), kind)(value)


@pytest.mark.parametrize(("kind", "width"), FIXED_WIDTHS)
def test_fixed_width_truncated_is_refused(kind: str, width: int) -> None:
    for cut in range(width):
        with pytest.raises(DecodeError, match="truncated"):
            getattr(Reader(b"\xab" * cut), kind)()


# --- uvarint --------------------------------------------------------------------------------


@given(st.integers(0, MAX_U64))
@example(0)
@example(127)
@example(128)
@example(16383)
@example(16384)
@example(1 << 63)
@example(MAX_U64)
def test_uvarint_round_trip_over_the_full_range(value: int) -> None:
    encoded = encode_uvarint(value)
    assert encoded == reference_leb128(value)
    assert len(encoded) == max(1, -(-value.bit_length() // 7))
    assert read_varint(encoded) == value
    writer = Writer()
    writer.uvarint(value)
    assert writer.getvalue() == encoded


@pytest.mark.parametrize("value", VARINT_BOUNDARIES)
def test_uvarint_boundaries_round_trip(value: int) -> None:
    assert read_varint(encode_uvarint(value)) == value


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (1 << 63, b"\x80" * 9 + b"\x01"),
        (MAX_U64, b"\xff" * 9 + b"\x01"),
    ],
)
def test_uvarint_known_encodings(value: int, encoded: bytes) -> None:
    assert encode_uvarint(value) == encoded
    assert read_varint(encoded) == value


@pytest.mark.parametrize("value", [-1, MAX_U64 + 1, 1 << 70])
def test_uvarint_out_of_range_is_refused_on_encode(value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_uvarint(value)
    with pytest.raises(ValueError, match="out of range"):
        Writer().uvarint(value)


@pytest.mark.parametrize(
    "encoded",
    [
        b"\x80\x00",
        b"\xff\x00",
        b"\x81\x00",
        b"\x80\x80\x00",
        b"\xff\xff\x00",
        b"\xff" * 8 + b"\x80\x00",
    ],
)
def test_non_minimal_uvarint_is_refused(encoded: bytes) -> None:
    with pytest.raises(DecodeError, match="non-minimal"):
        Reader(encoded).uvarint()


@given(st.integers(0, MAX_U64))
def test_padding_any_uvarint_with_a_zero_group_is_refused(value: int) -> None:
    encoded = bytearray(encode_uvarint(value))
    encoded[-1] |= 0x80
    encoded.append(0x00)
    with pytest.raises(DecodeError):
        Reader(bytes(encoded)).uvarint()


@given(st.integers(MAX_U64 + 1, (1 << 70) - 1))
@example(MAX_U64 + 1)
@example(1 << 64)
@example((1 << 70) - 1)
def test_uvarint_above_64_bits_is_refused(value: int) -> None:
    encoded = reference_leb128(value)
    assert len(encoded) == 10
    with pytest.raises(DecodeError, match="64 bits"):
        Reader(encoded).uvarint()


@pytest.mark.parametrize(
    "encoded",
    [
        b"\x80" * 10 + b"\x01",
        b"\xff" * 10 + b"\x01",
        b"\xff" * 11,
        b"\x80" * 10 + b"\x00",
        b"\xff" * 20 + b"\x01",
    ],
)
def test_uvarint_longer_than_ten_bytes_is_refused(encoded: bytes) -> None:
    with pytest.raises(DecodeError, match="longer than 10 bytes"):
        Reader(encoded).uvarint()


@pytest.mark.parametrize("value", VARINT_BOUNDARIES)
def test_truncated_uvarint_is_refused_at_every_cut(value: int) -> None:
    encoded = encode_uvarint(value)
    for cut in range(len(encoded)):
        with pytest.raises(DecodeError, match="truncated"):
            Reader(encoded[:cut]).uvarint()


def test_uvarint_reader_stops_at_the_end_of_the_varint() -> None:
    reader = Reader(encode_uvarint(16384) + b"\x07")
    assert reader.uvarint() == 16384
    assert reader.position == 3
    assert reader.u8() == 7
    reader.finish()


# --- booleans -------------------------------------------------------------------------------


@given(st.booleans())
def test_boolean_round_trip(value: bool) -> None:
    writer = Writer()
    writer.boolean(value)
    assert writer.getvalue() == (b"\x01" if value else b"\x00")
    assert Reader(writer.getvalue()).boolean() is value


@given(st.integers(2, 255))
@example(2)
@example(255)
def test_boolean_other_than_zero_or_one_is_refused(byte: int) -> None:
    with pytest.raises(DecodeError, match="boolean"):
        Reader(bytes((byte,))).boolean()


def test_boolean_truncated_is_refused() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        Reader(b"").boolean()


# --- fixed and variable byte strings --------------------------------------------------------


@given(st.binary(max_size=64))
def test_fixed_round_trip_has_no_length_prefix(data: bytes) -> None:
    writer = Writer()
    writer.fixed(data, len(data))
    assert writer.getvalue() == data
    reader = Reader(data)
    assert reader.fixed(len(data)) == data
    reader.finish()


@pytest.mark.parametrize("size", [0, 31, 33])
def test_fixed_of_the_wrong_size_is_refused_on_encode(size: int) -> None:
    with pytest.raises(ValueError, match="expected 32 bytes"):
        Writer().fixed(b"\x00" * size, 32)


def test_fixed_truncated_is_refused() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        Reader(b"\x00" * 31).fixed(32)


@given(st.binary(max_size=300), st.integers(0, 400))
def test_var_bytes_round_trip(data: bytes, slack: int) -> None:
    bound = len(data) + slack
    writer = Writer()
    writer.var_bytes(data, bound)
    encoded = writer.getvalue()
    assert encoded == encode_uvarint(len(data)) + data
    reader = Reader(encoded)
    assert reader.var_bytes(bound) == data
    reader.finish()


@given(st.integers(0, 64), st.integers(1, 64))
def test_var_bytes_over_the_bound_is_refused(bound: int, excess: int) -> None:
    data = b"\x5a" * (bound + excess)
    with pytest.raises(ValueError, match="exceed the bound"):
        Writer().var_bytes(data, bound)
    # The bound is checked on the declared length, before any of the data is read.
    with pytest.raises(DecodeError, match="exceeds the bound"):
        Reader(encode_uvarint(len(data)) + data).var_bytes(bound)
    with pytest.raises(DecodeError, match="exceeds the bound"):
        Reader(encode_uvarint(len(data))).var_bytes(bound)


def test_var_bytes_declaring_a_huge_length_is_refused_without_allocating() -> None:
    with pytest.raises(DecodeError, match="exceeds the bound"):
        Reader(encode_uvarint(MAX_U64)).var_bytes(1 << 20)
    with pytest.raises(DecodeError, match="truncated"):
        Reader(encode_uvarint(MAX_U64)).var_bytes(MAX_U64)


def test_var_bytes_at_exactly_the_bound_is_accepted() -> None:
    writer = Writer()
    writer.var_bytes(b"x" * 8, 8)
    assert Reader(writer.getvalue()).var_bytes(8) == b"x" * 8


# --- text -----------------------------------------------------------------------------------


@given(st.text(max_size=40))
def test_text_round_trip(value: str) -> None:
    raw = value.encode("utf-8")
    writer = Writer()
    writer.text(value, len(raw))
    assert writer.getvalue() == encode_uvarint(len(raw)) + raw
    reader = Reader(writer.getvalue())
    assert reader.text(len(raw)) == value
    reader.finish()


def test_text_bound_counts_utf8_bytes_not_characters() -> None:
    value = "é" * 9  # 9 characters, 18 bytes
    with pytest.raises(ValueError, match="exceed the bound"):
        Writer().text(value, 16)
    raw = value.encode("utf-8")
    with pytest.raises(DecodeError, match="exceeds the bound"):
        Reader(encode_uvarint(len(raw)) + raw).text(16)
    writer = Writer()
    writer.text(value, 18)
    assert Reader(writer.getvalue()).text(18) == value


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"\x80",
        b"abc\xfe",
        b"\xc0\x80",  # overlong NUL
        b"\xe0\x80\xaf",  # overlong '/'
        b"\xed\xa0\x80",  # UTF-16 surrogate
        b"\xe2\x82",  # truncated three-byte sequence
        b"\xf4\x90\x80\x80",  # above U+10FFFF
    ],
)
def test_invalid_utf8_text_is_refused(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="UTF-8"):
        Reader(encode_uvarint(len(raw)) + raw).text(16)


def test_text_that_cannot_be_utf8_is_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        Writer().text("\ud800", 16)


# --- sequences ------------------------------------------------------------------------------


@given(st.lists(st.integers(0, MAX_U64), max_size=20), st.integers(0, 10))
def test_sequence_round_trip(items: list[int], slack: int) -> None:
    bound = len(items) + slack
    writer = Writer()
    writer.sequence(items, bound, writer.uvarint)
    encoded = writer.getvalue()
    assert encoded == encode_uvarint(len(items)) + b"".join(encode_uvarint(i) for i in items)
    reader = Reader(encoded)
    assert reader.sequence(bound, reader.uvarint) == tuple(items)
    reader.finish()


def _never_called() -> int:
    raise AssertionError("an item was read past the bound")


@given(st.integers(0, 20), st.integers(1, 20))
def test_sequence_over_the_bound_is_refused(bound: int, excess: int) -> None:
    items = [1] * (bound + excess)
    writer = Writer()
    with pytest.raises(ValueError, match="exceed the bound"):
        writer.sequence(items, bound, writer.u8)
    encoded = encode_uvarint(len(items)) + bytes(items)
    with pytest.raises(DecodeError, match="exceed the bound"):
        Reader(encoded).sequence(bound, _never_called)


def test_sequence_with_missing_items_is_truncated() -> None:
    reader = Reader(encode_uvarint(3) + b"\x01\x02")
    with pytest.raises(DecodeError, match="truncated"):
        reader.sequence(5, reader.u8)


# --- the reader -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["text", 42, None, [1, 2]])
def test_reader_refuses_non_bytes(data: object) -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        Reader(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_reader_accepts_bytes_like(wrap: Callable[[bytes], object]) -> None:
    reader = Reader(wrap(b"\x01\x02\x03"))  # type: ignore[arg-type]
    assert reader.u8() == 1
    assert reader.remaining == 2
    assert reader.u16() == 0x0203
    reader.finish()


def test_finish_refuses_unread_bytes() -> None:
    reader = Reader(b"\x01\x02")
    reader.u8()
    with pytest.raises(DecodeError, match="1 trailing bytes"):
        reader.finish()


# --- a whole wire object --------------------------------------------------------------------


@given(samples)
def test_wire_object_round_trip(sample: Sample) -> None:
    encoded = sample.encode()
    decoded = Sample.decode(encoded)
    assert decoded == sample
    assert decoded.encode() == encoded


@given(samples)
def test_wire_object_truncated_at_every_cut_is_refused(sample: Sample) -> None:
    encoded = sample.encode()
    for cut in range(len(encoded)):
        with pytest.raises(DecodeError):
            Sample.decode(encoded[:cut])


@given(samples, st.binary(min_size=1, max_size=16))
def test_wire_object_with_trailing_bytes_is_refused(sample: Sample, extra: bytes) -> None:
    with pytest.raises(DecodeError, match="trailing"):
        Sample.decode(sample.encode() + extra)


@given(st.binary(max_size=120))
def test_any_accepted_input_is_the_canonical_encoding(data: bytes) -> None:
    """Decoding is injective: whatever bytes are accepted re-encode to exactly themselves."""
    try:
        decoded = Sample.decode(data)
    except DecodeError:
        return
    assert decoded.encode() == data


def test_constructor_errors_become_decode_errors() -> None:
    good = Sample(False, 1, 2, 3, b"abcd", "", b"", ())
    encoded = bytearray(good.encode())
    encoded[1:3] = (Sample.MAX_COUNT + 1).to_bytes(2, "big")
    with pytest.raises(DecodeError, match="invalid Sample: count 1001"):
        Sample.decode(bytes(encoded))


def test_sample_encoding_layout() -> None:
    sample = Sample(True, 0x0102, 3, 300, b"WXYZ", "hé", b"\x09", (7, 8))
    assert sample.encode() == (
        b"\x01"
        + b"\x01\x02"
        + b"\x00" * 7
        + b"\x03"
        + b"\xac\x02"
        + b"WXYZ"
        + b"\x03h\xc3\xa9"
        + b"\x01\x09"
        + b"\x02"
        + b"\x00\x00\x00\x07"
        + b"\x00\x00\x00\x08"
    )
