"""The canonical binary codec of every Pacata wire object (docs/wire-format.md).

Rules, so that every value has exactly one encoding and hashes agree between nodes:

- Fixed-width unsigned integers are big-endian (`u8`, `u16`, `u32`, `u64`).
- Variable integers (`uvarint`) are unsigned LEB128, at most 64 bits, minimal: a trailing
  `0x00` continuation byte is refused.
- Byte strings carry a `uvarint` length and are bounded by a maximum each field declares;
  fixed-size byte fields carry no length.
- Text is UTF-8 with a byte-length bound; booleans are one byte, 0 or 1.
- Sequences carry a `uvarint` count, bounded by the field.
- Decoding an object consumes the whole input: trailing bytes are refused. An object that
  declares `MAX_ENCODED_SIZE` refuses a longer input before reading a byte of it.

Every failure raises `DecodeError`; a reader never reads past its buffer and never allocates
more than the declared bound of a field.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, Self, TypeVar

from pacata.errors import DecodeError

T = TypeVar("T")

MAX_U64 = (1 << 64) - 1
_MAX_VARINT_BYTES = 10

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def encode_uvarint(value: int) -> bytes:
    """The minimal unsigned LEB128 encoding of `value` (0 ≤ value < 2**64)."""
    if value < 0 or value > MAX_U64:
        raise ValueError(f"uvarint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Writer:
    """Accumulates the canonical encoding of fields, in order."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"u8 out of range: {value}")
        self._parts.append(bytes((value,)))

    def u16(self, value: int) -> None:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"u16 out of range: {value}")
        self._parts.append(_U16.pack(value))

    def u32(self, value: int) -> None:
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"u32 out of range: {value}")
        self._parts.append(_U32.pack(value))

    def u64(self, value: int) -> None:
        if not 0 <= value <= MAX_U64:
            raise ValueError(f"u64 out of range: {value}")
        self._parts.append(_U64.pack(value))

    def uvarint(self, value: int) -> None:
        self._parts.append(encode_uvarint(value))

    def boolean(self, value: bool) -> None:
        self._parts.append(b"\x01" if value else b"\x00")

    def fixed(self, data: bytes, size: int) -> None:
        if len(data) != size:
            raise ValueError(f"expected {size} bytes, got {len(data)}")
        self._parts.append(data)

    def var_bytes(self, data: bytes, max_size: int) -> None:
        if len(data) > max_size:
            raise ValueError(f"{len(data)} bytes exceed the bound of {max_size}")
        self._parts.append(encode_uvarint(len(data)))
        self._parts.append(data)

    def text(self, value: str, max_size: int) -> None:
        self.var_bytes(value.encode("utf-8"), max_size)

    def sequence(self, items: Sequence[T], max_count: int, write_item: Callable[[T], None]) -> None:
        if len(items) > max_count:
            raise ValueError(f"{len(items)} items exceed the bound of {max_count}")
        self.uvarint(len(items))
        for item in items:
            write_item(item)

    def raw(self, data: bytes) -> None:
        """Appends bytes that are already a canonical encoding (a nested object)."""
        self._parts.append(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads canonical fields from a buffer, refusing anything non-canonical or out of bounds."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}")
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    @property
    def position(self) -> int:
        return self._pos

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise DecodeError(f"truncated: need {size} bytes at offset {self._pos}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        if self._pos >= len(self._data):
            raise DecodeError(f"truncated: need 1 byte at offset {self._pos}")
        value = self._data[self._pos]
        self._pos += 1
        return value

    def u16(self) -> int:
        value: int = _U16.unpack(self._take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self._take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self._take(8))[0]
        return value

    def uvarint(self) -> int:
        data, pos = self._data, self._pos
        if pos < len(data) and data[pos] < 0x80:
            self._pos = pos + 1
            return data[pos]
        if pos + 1 < len(data) and 0 < data[pos + 1] < 0x80:
            # Two bytes, the next most common (fees, small amounts): no loop.
            self._pos = pos + 2
            return (data[pos] & 0x7F) | (data[pos + 1] << 7)
        value = 0
        shift = 0
        for count in range(_MAX_VARINT_BYTES):
            if pos >= len(data):
                raise DecodeError(f"truncated varint at offset {self._pos}")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and count > 0:
                    raise DecodeError(f"non-minimal varint at offset {self._pos}")
                if value > MAX_U64:
                    raise DecodeError(f"varint exceeds 64 bits at offset {self._pos}")
                self._pos = pos
                return value
            shift += 7
        raise DecodeError(f"varint longer than {_MAX_VARINT_BYTES} bytes at offset {self._pos}")

    def boolean(self) -> bool:
        value = self.u8()
        if value > 1:
            raise DecodeError(f"boolean must be 0 or 1, got {value}")
        return value == 1

    def fixed(self, size: int) -> bytes:
        return self._take(size)

    def var_bytes(self, max_size: int) -> bytes:
        size = self.uvarint()
        if size > max_size:
            raise DecodeError(f"field of {size} bytes exceeds the bound of {max_size}")
        return self._take(size)

    def text(self, max_size: int) -> str:
        raw = self.var_bytes(max_size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid UTF-8 text: {exc}") from None

    def sequence(self, max_count: int, read_item: Callable[[], T]) -> tuple[T, ...]:
        count = self.uvarint()
        if count > max_count:
            raise DecodeError(f"{count} items exceed the bound of {max_count}")
        if not count:  # as an account's unbondings mostly are: no generator to set up
            return ()
        return tuple(read_item() for _ in range(count))

    def slice(self, start: int, end: int) -> bytes:
        """Bytes already read between two positions (the encoding of a nested object)."""
        if not 0 <= start <= end <= self._pos:
            raise ValueError("slice outside what has been read")
        return self._data[start:end]

    def finish(self) -> None:
        """Refuses trailing bytes."""
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} trailing bytes")


class WireObject(ABC):
    """A value with one canonical encoding: `encode()` and the strict `decode()`.

    Subclasses implement `write_to` and `read_from`; `decode` adds the trailing-bytes check,
    and the size check when the class declares `MAX_ENCODED_SIZE` (the length of its largest
    valid encoding). Equality of wire objects is equality of their fields, hence of their
    encodings.
    """

    __slots__ = ()
    MAX_ENCODED_SIZE: ClassVar[int | None] = None

    @abstractmethod
    def write_to(self, writer: Writer) -> None:
        """Appends this object's canonical encoding."""

    @classmethod
    @abstractmethod
    def read_from(cls, reader: Reader) -> Self:
        """Reads one object, raising `DecodeError` on anything non-canonical."""

    def encode(self) -> bytes:
        writer = Writer()
        self.write_to(writer)
        return writer.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        reader = Reader(data)
        limit = cls.MAX_ENCODED_SIZE
        if limit is not None and len(data) > limit:
            raise DecodeError(f"a {cls.__name__} is at most {limit} bytes, got {len(data)}")
        try:
            obj = cls.read_from(reader)
        except (ValueError, TypeError) as exc:
            # A constructor's own checks (ranges, sizes) are decode errors for wire input.
            raise DecodeError(f"invalid {cls.__name__}: {exc}") from None
        reader.finish()
        return obj
