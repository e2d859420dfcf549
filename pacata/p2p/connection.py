"""One peer connection as a sans-I/O state machine (docs/p2p.md §Connection).

The owner feeds it the bytes read from the (already TLS-secured) stream with `receive_data`,
sends what `data_to_send` returns, takes `next_event` until None, and calls `handle_timer` at
`get_timer`. Time is a float of seconds on any monotonic clock, always passed in.

States and transitions:

    HANDSHAKE --valid Hello--> ESTABLISHED --close/Disconnect/error/timeout--> CLOSED
    HANDSHAKE --bad Hello, wrong chain, timeout, any other message--> CLOSED

Rules:
- Each side sends its `Hello` first, at once, signed over its role and the connection's TLS
  certificate hashes (`TlsBinding`). A hello that is not the first message, of another chain
  (chain id or genesis hash), of another protocol version, or whose record or signature does
  not verify ends the connection with the reason.
- Any error of the peer — a frame over the limit, a message that does not decode, a second
  hello, going over the request rate limit — closes the connection with a `Disconnect` and a
  `ConnectionClosed(misbehaved=True)` event; nothing is raised to the caller (aioquic's rule).
- Keepalive: after `keepalive_interval` without receiving anything we ping; after
  `idle_timeout` without receiving anything we close (`TIMEOUT`). The handshake must finish
  within `handshake_timeout`.
- Requests and announcements (`RATE_LIMITED_KINDS`) draw from a token bucket per connection.
- Calling `send` before the handshake or after closing is our bug: `LocalProtocolError`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from pacata.chain.keys import PrivateKey
from pacata.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from pacata.p2p.framing import MAX_FRAME_BYTES, FrameDecoder, encode_frame
from pacata.p2p.messages import (
    PROTOCOL_VERSION,
    RATE_LIMITED_KINDS,
    Disconnect,
    DisconnectReason,
    Hello,
    Message,
    Ping,
    Pong,
    Role,
    TlsBinding,
    decode_message,
)


class ConnectionState(Enum):
    HANDSHAKE = "handshake"
    ESTABLISHED = "established"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    hello: Hello


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message: Message


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    reason: DisconnectReason
    detail: str
    by_peer: bool
    misbehaved: bool = False


ConnectionEvent = HandshakeCompleted | MessageReceived | ConnectionClosed


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    handshake_timeout: float = 10.0
    keepalive_interval: float = 15.0
    idle_timeout: float = 45.0
    max_frame_bytes: int = MAX_FRAME_BYTES
    request_rate: float = 500.0  # requests and announcements per second, sustained
    request_burst: float = 2_000.0


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take` says whether one was there."""

    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


class PeerConnection:
    def __init__(
        self,
        *,
        key: PrivateKey,
        hello: Hello,
        role: Role,
        binding: TlsBinding,
        now: float,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.role = role
        self.binding = binding
        self.limits = limits or ConnectionLimits()
        self.local_hello = hello.signed(key, role, binding)
        self.peer_hello: Hello | None = None
        self.state = ConnectionState.HANDSHAKE
        self.closed_event: ConnectionClosed | None = None
        self.bytes_received = 0
        self.bytes_sent = 0
        self._decoder = FrameDecoder(self.limits.max_frame_bytes)
        self._outgoing: list[bytes] = []
        self._events: deque[ConnectionEvent] = deque()
        self._created = now
        self._last_received = now
        self._ping_sent_at: float | None = None
        self._ping_nonce = 0
        self._requests = TokenBucket(self.limits.request_rate, self.limits.request_burst, now)
        self._queue(self.local_hello)

    # -- queries --------------------------------------------------------------------------

    @property
    def is_established(self) -> bool:
        return self.state is ConnectionState.ESTABLISHED

    @property
    def is_closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    # -- output ---------------------------------------------------------------------------

    def _queue(self, message: Message) -> None:
        frame = encode_frame(message.encode_message(), self.limits.max_frame_bytes)
        self.bytes_sent += len(frame)
        self._outgoing.append(frame)

    def send(self, message: Message) -> None:
        if self.state is not ConnectionState.ESTABLISHED:
            raise LocalProtocolError(f"cannot send {type(message).__name__} in {self.state.value}")
        self._queue(message)

    def data_to_send(self) -> bytes:
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    def next_event(self) -> ConnectionEvent | None:
        return self._events.popleft() if self._events else None

    def close(
        self, reason: DisconnectReason, detail: str = "", *, misbehaved: bool = False
    ) -> None:
        """Ends the connection: a `Disconnect` is queued for the peer; no-op once closed."""
        if self.state is ConnectionState.CLOSED:
            return
        self._queue(Disconnect(reason, detail))
        self._set_closed(ConnectionClosed(reason, detail, by_peer=False, misbehaved=misbehaved))

    def _set_closed(self, event: ConnectionClosed) -> None:
        self.state = ConnectionState.CLOSED
        self.closed_event = event
        self._events.append(event)

    def connection_lost(self) -> None:
        """The transport went away without a `Disconnect`."""
        if self.state is not ConnectionState.CLOSED:
            self._set_closed(
                ConnectionClosed(DisconnectReason.REQUESTED, "connection lost", by_peer=True)
            )

    # -- input ----------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is ConnectionState.CLOSED or not data:
            return
        self.bytes_received += len(data)
        self._last_received = now
        self._ping_sent_at = None
        try:
            frames = self._decoder.feed(data)
            for frame in frames:
                self._receive_message(decode_message(frame), now)
                if self.is_closed:
                    return
        except (DecodeError, RemoteProtocolError) as exc:
            self.close(DisconnectReason.PROTOCOL_VIOLATION, str(exc), misbehaved=True)

    def _receive_message(self, message: Message, now: float) -> None:
        if isinstance(message, Disconnect):
            self._set_closed(ConnectionClosed(message.reason, message.detail, by_peer=True))
            return
        if self.state is ConnectionState.HANDSHAKE:
            if not isinstance(message, Hello):
                raise RemoteProtocolError(f"{type(message).__name__} before the hello")
            self._receive_hello(message)
            return
        if isinstance(message, Hello):
            raise RemoteProtocolError("a second hello")
        if message.kind in RATE_LIMITED_KINDS and not self._requests.take(now):
            raise RemoteProtocolError("request rate limit exceeded")
        if isinstance(message, Ping):
            self._queue(Pong(message.nonce))
        elif not isinstance(message, Pong):
            self._events.append(MessageReceived(message))

    def _receive_hello(self, hello: Hello) -> None:
        local = self.local_hello
        if hello.protocol_version != PROTOCOL_VERSION:
            self.close(
                DisconnectReason.INCOMPATIBLE_VERSION,
                f"protocol version {hello.protocol_version}, we speak {PROTOCOL_VERSION}",
            )
        elif hello.chain_id != local.chain_id or hello.genesis_hash != local.genesis_hash:
            self.close(
                DisconnectReason.WRONG_CHAIN,
                f"peer is on chain {hello.chain_id!r} (genesis {hello.genesis_hash.hex()[:12]}), "
                f"we are on {local.chain_id!r} (genesis {local.genesis_hash.hex()[:12]})",
            )
        elif not hello.record.verify():
            raise RemoteProtocolError("the hello's node record is not validly signed")
        elif not hello.verify(self.role.other, self.binding):
            raise RemoteProtocolError("the hello's signature does not bind this TLS session")
        else:
            self.peer_hello = hello
            self.state = ConnectionState.ESTABLISHED
            self._events.append(HandshakeCompleted(hello))

    # -- timers ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        if self.state is ConnectionState.CLOSED:
            return None
        if self.state is ConnectionState.HANDSHAKE:
            return self._created + self.limits.handshake_timeout
        idle_deadline = self._last_received + self.limits.idle_timeout
        if self._ping_sent_at is None:
            return min(idle_deadline, self._last_received + self.limits.keepalive_interval)
        return idle_deadline

    def handle_timer(self, now: float) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.HANDSHAKE:
            if now >= self._created + self.limits.handshake_timeout:
                self.close(DisconnectReason.TIMEOUT, "no hello in time")
            return
        if now >= self._last_received + self.limits.idle_timeout:
            self.close(DisconnectReason.TIMEOUT, "peer silent")
        elif (
            self._ping_sent_at is None
            and now >= self._last_received + self.limits.keepalive_interval
        ):
            self._ping_nonce += 1
            self._ping_sent_at = now
            self._queue(Ping(self._ping_nonce))
