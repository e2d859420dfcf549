"""Length-prefixed frames on the peer stream (docs/p2p.md §Framing).

A frame is a `u32` big-endian payload length followed by the payload (one message). Rules:
- A frame longer than `max_frame_bytes` (4 MiB by default: a block is at most 2 MB) is a
  protocol violation, detected from the length prefix alone, before its bytes arrive, so a
  peer can never make us buffer more than one maximal frame.
- An empty frame is a protocol violation (every message has at least its kind byte).
"""

from __future__ import annotations

import struct

from pacata.errors import LocalProtocolError, RemoteProtocolError

MAX_FRAME_BYTES = 4 * 1024 * 1024
_LENGTH = struct.Struct(">I")
HEADER_BYTES = _LENGTH.size


def encode_frame(payload: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> bytes:
    if not payload or len(payload) > max_frame_bytes:
        raise LocalProtocolError(f"a frame holds 1-{max_frame_bytes} bytes, not {len(payload)}")
    return _LENGTH.pack(len(payload)) + payload


class FrameDecoder:
    """Cuts a byte stream into frame payloads."""

    __slots__ = ("_buffer", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`; `RemoteProtocolError` for an oversize or empty one."""
        self._buffer += data
        frames: list[bytes] = []
        position = 0
        buffer = self._buffer
        while len(buffer) - position >= HEADER_BYTES:
            (size,) = _LENGTH.unpack_from(buffer, position)
            if size == 0:
                raise RemoteProtocolError("empty frame")
            if size > self.max_frame_bytes:
                raise RemoteProtocolError(
                    f"frame of {size} bytes exceeds the limit of {self.max_frame_bytes}"
                )
            end = position + HEADER_BYTES + size
            if end > len(buffer):
                break
            frames.append(bytes(buffer[position + HEADER_BYTES : end]))
            position = end
        if position:
            del buffer[:position]
        return frames
