"""A seeded, deterministic mutation fuzzer for decoders and protocol receivers (docs/BENCHMARKS.md
§Fuzzing).

    target = FuzzTarget("transaction", corpus, check)
    result = run_target(target, inputs=1_000_000, seed=1)

Rules:

- A target is a corpus of valid inputs and a harness, `check(data) -> bool`: True when the code
  under test took the input, False when it refused it the documented way (`DecodeError`, a
  drop it counted, a close of the connection). Anything the harness lets escape is a crash:
  an unexpected exception of the code under test, `NonCanonical` (a decoder accepted bytes that
  are not the canonical encoding of what it returned), or `Hang` (one input ran longer than
  `hang_seconds`; a SIGALRM watchdog interrupts it, in the main thread only).
- Each input starts from an entry of the pool. Half the time, for a target with a `tracer`
  (the layout of an input as its decoder reads it: `TracingReader`), one field is given
  another value and the encoding around it kept consistent: a text or byte string of another
  length (up to its bound and one past it) with its length prefix, a sequence with an item
  duplicated, removed or repeated past its bound with its count, a boundary integer written
  minimally; a few byte mutations may follow. Otherwise one to eight byte mutations from
  `Mutator`: bit flips, bytes set to boundary values (0x00, 0xff, 0x7f, 0x80...), boundary
  integers written as LEB128 varints or big/little-endian fields (length-field inflation),
  minimal varints made non-minimal, truncation, extension, insertion and deletion of chunks,
  duplicated chunks, splices of two pool entries, tokens of the target's dictionary, and now
  and then random bytes. A target's `fixups` then repair, for half of the inputs, what would
  stop the input at the first check (checksums, MACs, length prefixes), so mutations reach
  the code behind them.
- Inputs the harness accepted join the pool mutations start from (a bounded pool: the corpus
  plus `POOL_EXTRA` of them), so a run drifts towards more varied valid inputs.
- Reproducible: the inputs depend only on the seed, the target's name and its corpus (CRC-32 of
  the name, not `hash`, which is salted per process), and on what the harness accepted.
"""

from __future__ import annotations

import random
import signal
import struct
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

from pacata.chain.codec import MAX_U64, Reader, encode_uvarint

POOL_EXTRA = 512
MAX_CRASH_RECORDS = 20
# Boundary values: of one byte, and of the integers length fields and counters hold.
INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x20, 0x40, 0xC0)
INTERESTING_INTEGERS = (
    0,
    1,
    2,
    31,
    32,
    33,
    63,
    64,
    65,
    127,
    128,
    255,
    256,
    1023,
    1024,
    1025,
    0x7FFF,
    0xFFFF,
    0x10000,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    1 << 32,
    1 << 53,
    (1 << 63) - 1,
    1 << 63,
    MAX_U64,
)


class NonCanonical(AssertionError):
    """A decoder accepted bytes that are not the canonical encoding of the object it returned."""


class Hang(BaseException):
    """One input ran longer than the watchdog allows.

    A `BaseException`, so that code under test that catches `Exception` does not swallow it."""


Harness = Callable[[bytes], bool]
Fixup = Callable[[bytearray], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Span:
    """One field of a valid input, as its decoder read it: `kind` is the `Reader` method
    ("u8", "uvarint", "fixed", "var_bytes", "text", "count", ...), `bound` its declared maximum
    (of bytes, or of items for a count), `items` the byte ranges of a sequence's items."""

    kind: str
    start: int
    end: int
    bound: int = 0
    items: tuple[tuple[int, int], ...] = ()


Layout = tuple[Span, ...]
Tracer = Callable[[bytes], Layout]


class TracingReader(Reader):
    """A `Reader` that notes where each field it reads lies: the layout that lets mutations
    change one field and keep the encoding around it consistent (a text of another length with
    its length prefix, a sequence with one item more and its count)."""

    __slots__ = ("_offset", "spans")

    def __init__(self, data: bytes, offset: int = 0) -> None:
        super().__init__(data)
        self._offset = offset
        self.spans: list[Span] = []

    def _note(self, kind: str, start: int, bound: int = 0) -> None:
        offset = self._offset
        self.spans.append(Span(kind, start + offset, self.position + offset, bound))

    def u8(self) -> int:
        start = self.position
        value = super().u8()
        self._note("u8", start)
        return value

    def u16(self) -> int:
        start = self.position
        value = super().u16()
        self._note("u16", start)
        return value

    def u32(self) -> int:
        start = self.position
        value = super().u32()
        self._note("u32", start)
        return value

    def u64(self) -> int:
        start = self.position
        value = super().u64()
        self._note("u64", start)
        return value

    def uvarint(self) -> int:
        start = self.position
        value = super().uvarint()
        self._note("uvarint", start)
        return value

    def boolean(self) -> bool:
        start = self.position
        value = super().boolean()
        self._note("boolean", start)
        return value

    def fixed(self, size: int) -> bytes:
        start = self.position
        value = super().fixed(size)
        self._note("fixed", start, size)
        return value

    def var_bytes(self, max_size: int) -> bytes:
        start = self.position
        value = super().var_bytes(max_size)
        self._note("var_bytes", start, max_size)
        return value

    def text(self, max_size: int) -> str:
        start = self.position
        value = super().text(max_size)
        self._note("text", start, max_size)
        return value

    def sequence(self, max_count: int, read_item: Callable[[], T]) -> tuple[T, ...]:
        first = len(self.spans)  # where the count's own "uvarint" span will go
        items: list[tuple[int, int]] = []

        def read_traced() -> T:
            start = self.position
            item = read_item()
            items.append((start + self._offset, self.position + self._offset))
            return item

        value = super().sequence(max_count, read_traced)
        count = self.spans[first]
        self.spans[first] = Span("count", count.start, count.end, max_count, tuple(items))
        return value


def trace(data: bytes, read: Callable[[Reader], object], offset: int = 0) -> Layout:
    """The layout of `data[offset:]` as `read` decodes it (for a `Tracer`)."""
    reader = TracingReader(data[offset:], offset)
    read(reader)
    return tuple(reader.spans)


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """What to fuzz: a corpus of valid inputs and the harness that runs one input."""

    name: str
    corpus: Sequence[bytes]
    check: Harness
    max_size: int = 4096
    fixups: Sequence[Fixup] = ()
    dictionary: Sequence[bytes] = ()
    tracer: Tracer | None = None

    def __post_init__(self) -> None:
        if not self.corpus:
            raise ValueError(f"target {self.name} has an empty corpus")


@dataclass(frozen=True, slots=True)
class CrashRecord:
    """The first input of one kind of crash (an exception type at one place in the code)."""

    signature: str
    error: str
    data: bytes
    traceback: str


@dataclass(slots=True)
class FuzzResult:
    name: str
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: int = 0
    seconds: float = 0.0
    slowest_input_s: float = 0.0
    crash_records: list[CrashRecord] = field(default_factory=list)
    crash_counts: dict[str, int] = field(default_factory=dict)

    @property
    def inputs_per_s(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def record_crash(self, data: bytes, error: BaseException) -> None:
        self.crashes += 1
        signature = crash_signature(error)
        seen = self.crash_counts.get(signature, 0)
        self.crash_counts[signature] = seen + 1
        if not seen and len(self.crash_records) < MAX_CRASH_RECORDS:
            trace = "".join(traceback.format_exception(error))
            described = f"{type(error).__name__}: {error}"
            self.crash_records.append(CrashRecord(signature, described, data, trace))


def crash_signature(error: BaseException) -> str:
    """The exception type and the innermost place it came from: one line per distinct bug."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def target_random(seed: int, name: str) -> random.Random:
    return random.Random(seed * 0x1_0000_0000 + zlib.crc32(name.encode("utf-8")))


class Mutator:
    """Inputs derived from a pool of valid ones (see the module rules)."""

    def __init__(self, target: FuzzTarget, rng: random.Random) -> None:
        self._rng = rng
        self._target = target
        self._seeds = len(target.corpus)
        self._pool: list[bytes] = list(target.corpus)
        self._known: set[bytes] = set(target.corpus)
        self._layouts: dict[bytes, Layout] = {}
        self._operations: tuple[Callable[[bytearray], None], ...] = (
            self._flip_bits,
            self._flip_bits,
            self._set_interesting_byte,
            self._set_interesting_byte,
            self._set_random_byte,
            self._write_integer,
            self._write_integer,
            self._insert_varint,
            self._denormalize_varint,
            self._truncate,
            self._extend,
            self._insert_bytes,
            self._delete_chunk,
            self._duplicate_chunk,
            self._copy_chunk,
            self._splice,
            self._insert_token,
        )

    def next_input(self) -> bytes:
        rng = self._rng
        roll = rng.random()
        if roll < 0.002:
            return b""
        if roll < 0.01:
            return rng.randbytes(rng.randrange(1, 64))
        start = rng.choice(self._pool)
        data = bytearray(start)
        rounds = min(8, 1 + int(rng.expovariate(0.7)))
        if self._target.tracer is not None and rng.random() < 0.5:
            layout = self._layout(start)
            if layout:
                self._mutate_field(data, rng.choice(layout))
                rounds = int(rng.expovariate(1.5))
        for _ in range(rounds):
            rng.choice(self._operations)(data)
        if len(data) > self._target.max_size:
            del data[self._target.max_size :]
        if self._target.fixups and rng.random() < 0.5:
            for fixup in self._target.fixups:
                fixup(data)
        return bytes(data)

    def _layout(self, data: bytes) -> Layout:
        layout = self._layouts.get(data)
        if layout is None:
            tracer = self._target.tracer
            assert tracer is not None
            try:
                layout = tracer(data)
            except Exception:  # an input the tracer cannot read: byte mutations only
                layout = ()
            if len(self._layouts) >= 4 * (self._seeds + POOL_EXTRA):
                self._layouts.clear()
            self._layouts[data] = layout
        return layout

    def accepted(self, data: bytes) -> None:
        """An input the harness took: a new one becomes a starting point of mutations."""
        if data in self._known:
            return
        self._known.add(data)
        if len(self._pool) < self._seeds + POOL_EXTRA:
            self._pool.append(data)
        else:
            replaced = self._rng.randrange(self._seeds, len(self._pool))
            self._known.discard(self._pool[replaced])
            self._pool[replaced] = data

    # -- mutations of one field ------------------------------------------------------------

    def _mutate_field(self, data: bytearray, span: Span) -> None:
        """One field given another value, the encoding around it kept consistent."""
        rng = self._rng
        kind = span.kind
        if kind == "count" and span.items and rng.random() < 0.7:
            self._mutate_items(data, span)
        elif kind in ("uvarint", "count"):
            data[span.start : span.end] = encode_uvarint(self._integer())
        elif kind in ("var_bytes", "text"):
            self._mutate_content(data, span)
        elif kind == "fixed":
            size = span.end - span.start
            data[span.start : span.end] = rng.choice(
                (rng.randbytes(size), bytes(size), b"\xff" * size)
            )
        else:  # u8, u16, u32, u64, boolean
            size = span.end - span.start
            value = self._integer() if rng.random() < 0.7 else rng.randrange(3)
            data[span.start : span.end] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big")

    def _mutate_items(self, data: bytearray, span: Span) -> None:
        """A sequence with an item duplicated, removed, or repeated past the bound."""
        rng = self._rng
        items = span.items
        start, end = rng.choice(items)
        item = bytes(data[start:end])
        roll = rng.random()
        if roll < 0.4:
            data[end:end] = item
            count = len(items) + 1
        elif roll < 0.8:
            del data[start:end]
            count = len(items) - 1
        else:
            count = span.bound + rng.choice((0, 1))
            extra = count - len(items)
            if extra <= 0 or extra * len(item) > self._target.max_size:
                return
            data[end:end] = item * extra
        data[span.start : span.end] = encode_uvarint(count)

    def _mutate_content(self, data: bytearray, span: Span) -> None:
        """A byte string or text of another length (and its length prefix), or the same
        length with another content."""
        rng = self._rng
        old_content = data[span.start : span.end]
        # The length prefix is the varint at the start of the span.
        prefix = next(i + 1 for i, byte in enumerate(old_content) if byte < 0x80)
        size = rng.choice(
            (0, 1, span.bound - 1, span.bound, span.bound + 1, rng.randrange(span.bound + 1))
        )
        size = max(0, min(size, self._target.max_size))
        if span.kind == "text" and rng.random() < 0.7:
            alphabet = rng.choice(("a", "az09 -.:", "é", "€", "😀", "aé€😀", "\x00\x7f"))
            text = "".join(rng.choice(alphabet) for _ in range(size))
            content = text.encode("utf-8")
            if rng.random() < 0.5:  # cut to the bound in bytes, maybe inside a character
                content = content[: max(0, min(len(content), span.bound + rng.choice((0, 1))))]
        elif rng.random() < 0.3:
            content = bytes(old_content[prefix:])
            if content:
                position = rng.randrange(len(content))
                content = content[:position] + rng.randbytes(1) + content[position + 1 :]
        else:
            content = rng.randbytes(size)
        length = len(content) + (rng.choice((-1, 1)) if rng.random() < 0.1 else 0)
        data[span.start : span.end] = encode_uvarint(max(0, length)) + content

    # -- mutations of bytes ---------------------------------------------------------------

    def _position(self, data: bytearray, *, end: bool = False) -> int:
        return self._rng.randrange(len(data) + (1 if end else 0)) if data or end else 0

    def _flip_bits(self, data: bytearray) -> None:
        if not data:
            return
        for _ in range(self._rng.choice((1, 1, 2, 4))):
            position = self._position(data)
            data[position] ^= 1 << self._rng.randrange(8)

    def _set_interesting_byte(self, data: bytearray) -> None:
        if data:
            data[self._position(data)] = self._rng.choice(INTERESTING_BYTES)

    def _set_random_byte(self, data: bytearray) -> None:
        if data:
            data[self._position(data)] = self._rng.randrange(256)

    def _integer(self) -> int:
        rng = self._rng
        value = rng.choice(INTERESTING_INTEGERS)
        return max(0, value + rng.choice((-1, 0, 0, 0, 1))) if value < MAX_U64 else value

    def _write_integer(self, data: bytearray) -> None:
        """Overwrites bytes with a boundary integer: varint, or a fixed big/little-endian field."""
        rng = self._rng
        value = self._integer()
        form = rng.randrange(7)
        if form == 0:
            encoded = encode_uvarint(value)
        else:
            size, order = ((1, ">"), (2, ">"), (4, ">"), (8, ">"), (4, "<"), (8, "<"))[form - 1]
            code = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
            encoded = struct.pack(order + code, value & ((1 << (8 * size)) - 1))
        position = self._position(data, end=True)
        data[position : position + len(encoded)] = encoded

    def _insert_varint(self, data: bytearray) -> None:
        """A length or count field inflated (or shrunk): a varint inserted in place of a byte."""
        position = self._position(data, end=True)
        data[position : position + 1] = encode_uvarint(self._integer())

    def _denormalize_varint(self, data: bytearray) -> None:
        """A one-byte varint written in two bytes, the second a zero continuation."""
        if not data:
            return
        position = self._position(data)
        if data[position] < 0x80:
            data[position : position + 1] = bytes((data[position] | 0x80, 0x00))

    def _truncate(self, data: bytearray) -> None:
        if data:
            del data[self._rng.randrange(len(data)) :]

    def _extend(self, data: bytearray) -> None:
        rng = self._rng
        size = rng.choice((1, 1, 2, 4, 8, 32, 256))
        if rng.random() < 0.5:
            data += rng.randbytes(size)
        else:
            data += bytes((rng.choice(INTERESTING_BYTES),)) * size

    def _insert_bytes(self, data: bytearray) -> None:
        rng = self._rng
        position = self._position(data, end=True)
        data[position:position] = rng.randbytes(rng.choice((1, 1, 2, 3, 4, 8, 16)))

    def _chunk(self, data: bytearray) -> tuple[int, int]:
        start = self._position(data)
        return start, min(len(data), start + self._rng.choice((1, 2, 4, 8, 16, 32, 64)))

    def _delete_chunk(self, data: bytearray) -> None:
        if data:
            start, end = self._chunk(data)
            del data[start:end]

    def _duplicate_chunk(self, data: bytearray) -> None:
        if data:
            start, end = self._chunk(data)
            data[end:end] = data[start:end]

    def _copy_chunk(self, data: bytearray) -> None:
        """A chunk written over another place of the same input."""
        if data:
            start, end = self._chunk(data)
            destination = self._position(data)
            data[destination : destination + end - start] = data[start:end]

    def _splice(self, data: bytearray) -> None:
        """The start of this input joined to the end of another from the pool."""
        rng = self._rng
        other = rng.choice(self._pool)
        cut = self._position(data, end=True)
        data[cut:] = other[rng.randrange(len(other) + 1) :]

    def _insert_token(self, data: bytearray) -> None:
        dictionary = self._target.dictionary
        if dictionary:
            token = self._rng.choice(dictionary)
            position = self._position(data, end=True)
            if self._rng.random() < 0.5:
                data[position:position] = token
            else:
                data[position : position + len(token)] = token


class _Watchdog:
    """Interrupts an input that runs longer than `seconds` with `Hang` (SIGALRM, main thread).

    The timer is re-armed at most once a second, not once an input: a system call per input
    would cost more than some decoders do.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.enabled = threading.current_thread() is threading.main_thread()
        self._armed_at = 0.0
        self._previous: Callable[[int, FrameType | None], object] | int | None = None

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        raise Hang(f"an input ran longer than {self.seconds} s")

    def __enter__(self) -> _Watchdog:
        if self.enabled:
            self._previous = signal.signal(signal.SIGALRM, self._fire)
        return self

    def pet(self, now: float) -> None:
        if self.enabled and now - self._armed_at >= 1.0:
            self._armed_at = now
            signal.setitimer(signal.ITIMER_REAL, self.seconds + 1.0)

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # None: the handler was not set from Python; the default is what it was.
            previous = signal.SIG_DFL if self._previous is None else self._previous
            signal.signal(signal.SIGALRM, previous)


def run_target(
    target: FuzzTarget,
    inputs: int,
    seed: int,
    *,
    hang_seconds: float = 10.0,
) -> FuzzResult:
    """Runs the corpus, then mutated inputs, `inputs` in all; see the module rules."""
    result = FuzzResult(target.name)
    mutator = Mutator(target, target_random(seed, target.name))
    check = target.check
    clock = time.perf_counter
    slowest = 0.0
    started = clock()
    with _Watchdog(hang_seconds) as watchdog:
        for index in range(inputs):
            data = target.corpus[index] if index < len(target.corpus) else mutator.next_input()
            before = clock()
            watchdog.pet(before)
            try:
                took = check(data)
            except (Exception, Hang) as error:
                result.record_crash(data, error)
            else:
                if took:
                    result.accepted += 1
                    mutator.accepted(data)
                else:
                    result.rejected += 1
            elapsed = clock() - before
            slowest = max(slowest, elapsed)
    result.seconds = clock() - started
    result.inputs = inputs
    result.slowest_input_s = slowest
    return result


def canonical_check(
    decode: Callable[[bytes], object],
    encode: Callable[[object], bytes],
    refusals: tuple[type[BaseException], ...],
) -> Harness:
    """The harness of a strict decoder: `decode` either refuses with one of `refusals`, or
    returns an object whose encoding is exactly the input (`NonCanonical` otherwise)."""

    def check(data: bytes) -> bool:
        try:
            decoded = decode(data)
        except refusals:
            return False
        again = encode(decoded)
        if again != data:
            raise NonCanonical(
                f"decoded {len(data)} bytes re-encode to {len(again)} other bytes: {decoded!r}"
            )
        return True

    return check
