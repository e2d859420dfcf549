"""The sans-I/O peer connection, two of them wired to each other with no sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.p2p.connection import (
    ConnectionClosed,
    ConnectionEvent,
    ConnectionLimits,
    ConnectionState,
    HandshakeCompleted,
    MessageReceived,
    PeerConnection,
)
from pacata.p2p.framing import encode_frame
from pacata.p2p.messages import (
    DisconnectReason,
    GetPeers,
    Hello,
    InvTransactions,
    Ping,
    Role,
    TlsBinding,
)
from pacata.p2p.records import NodeRecord
from pacata.testing.timer_rule import TimerRuleDriver, clock_events

GENESIS = sha256(b"genesis")
CERT_A, CERT_B = sha256(b"cert a"), sha256(b"cert b")


def hello_of(key: PrivateKey, chain_id: str = "test-1", genesis: bytes = GENESIS) -> Hello:
    return Hello(1, chain_id, genesis, 0, genesis, NodeRecord.create(key, 1, (), bytes(32)))


def pair(
    *,
    hello_b: Hello | None = None,
    limits: ConnectionLimits | None = None,
    binding_b: TlsBinding | None = None,
) -> tuple[PeerConnection, PeerConnection]:
    key_a, key_b = PrivateKey(sha256(b"a")), PrivateKey(sha256(b"b"))
    a = PeerConnection(
        key=key_a,
        hello=hello_of(key_a),
        role=Role.INITIATOR,
        binding=TlsBinding(CERT_A, CERT_B),
        now=0.0,
        limits=limits,
    )
    b = PeerConnection(
        key=key_b,
        hello=hello_b or hello_of(key_b),
        role=Role.RESPONDER,
        binding=binding_b or TlsBinding(CERT_B, CERT_A),
        now=0.0,
        limits=limits,
    )
    return a, b


def exchange(a: PeerConnection, b: PeerConnection, now: float = 0.0) -> None:
    for _ in range(4):
        b.receive_data(a.data_to_send(), now)
        a.receive_data(b.data_to_send(), now)


def events(conn: PeerConnection) -> list[ConnectionEvent]:
    out = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


def test_handshake_then_messages_flow() -> None:
    a, b = pair()
    exchange(a, b)
    assert a.is_established and b.is_established
    [done] = events(a)
    assert isinstance(done, HandshakeCompleted) and done.hello == b.local_hello
    assert isinstance(events(b)[0], HandshakeCompleted)
    a.send(InvTransactions((GENESIS,)))
    exchange(a, b)
    assert events(b) == [MessageReceived(InvTransactions((GENESIS,)))]


def test_wrong_chain_is_refused_with_the_reason() -> None:
    a, b = pair(hello_b=hello_of(PrivateKey(sha256(b"b")), chain_id="other-1"))
    exchange(a, b)
    assert a.is_closed and b.is_closed
    [closed_a] = events(a)
    assert (
        isinstance(closed_a, ConnectionClosed) and closed_a.reason == DisconnectReason.WRONG_CHAIN
    )
    assert "other-1" in closed_a.detail and not closed_a.misbehaved


def test_relayed_session_fails_the_binding() -> None:
    # B sees other certificates than A does: a man in the middle terminating TLS.
    a, b = pair(binding_b=TlsBinding(CERT_B, sha256(b"middle")))
    exchange(a, b)
    closed = [e for e in events(b) if isinstance(e, ConnectionClosed)]
    assert closed and closed[0].misbehaved and "bind" in closed[0].detail


def test_garbage_and_second_hello_are_violations() -> None:
    a, b = pair()
    exchange(a, b)
    events(b)
    b.receive_data(encode_frame(b"\xfe\x00"), 1.0)
    [closed] = events(b)
    assert isinstance(closed, ConnectionClosed) and closed.misbehaved
    assert closed.reason == DisconnectReason.PROTOCOL_VIOLATION
    assert b.data_to_send()  # the Disconnect goes out
    a2, b2 = pair()
    exchange(a2, b2)
    events(b2)
    b2.receive_data(encode_frame(a2.local_hello.encode_message()), 1.0)
    assert b2.is_closed and "second hello" in (b2.closed_event.detail if b2.closed_event else "")


def test_message_before_hello_and_oversize_frame_are_violations() -> None:
    _, b = pair()
    b.receive_data(encode_frame(GetPeers().encode_message()), 0.0)
    assert b.is_closed and b.closed_event is not None and b.closed_event.misbehaved
    _, b2 = pair()
    b2.receive_data((5 * 1024 * 1024).to_bytes(4, "big"), 0.0)
    assert b2.is_closed and b2.closed_event is not None and "exceeds" in b2.closed_event.detail


def test_rate_limit_closes_a_flooding_peer() -> None:
    limits = ConnectionLimits(request_rate=1.0, request_burst=5.0)
    a, b = pair(limits=limits)
    exchange(a, b)
    for _ in range(6):
        a.send(GetPeers())
    b.receive_data(a.data_to_send(), 0.5)
    assert b.is_closed and b.closed_event is not None and "rate" in b.closed_event.detail


def test_keepalive_ping_then_idle_timeout() -> None:
    limits = ConnectionLimits(keepalive_interval=10.0, idle_timeout=30.0)
    a, b = pair(limits=limits)
    exchange(a, b)
    assert a.get_timer() == 10.0
    a.handle_timer(10.0)
    sent = a.data_to_send()
    assert sent  # a ping
    b.receive_data(sent, 10.0)
    a.receive_data(b.data_to_send(), 10.5)  # the pong resets the idle clock
    assert a.get_timer() == 20.5
    a.handle_timer(20.5)
    a.data_to_send()  # ping unanswered
    assert a.get_timer() == 40.5
    a.handle_timer(40.5)
    assert a.is_closed and a.closed_event is not None
    assert a.closed_event.reason == DisconnectReason.TIMEOUT


def test_handshake_timeout_and_disconnect_from_peer() -> None:
    a, _ = pair()
    assert a.get_timer() == 10.0
    a.handle_timer(10.0)
    assert a.is_closed and a.state is ConnectionState.CLOSED
    a2, b2 = pair()
    exchange(a2, b2)
    a2.close(DisconnectReason.SHUTDOWN, "bye")
    b2.receive_data(a2.data_to_send(), 1.0)
    closed = [e for e in events(b2) if isinstance(e, ConnectionClosed)]
    assert closed == [ConnectionClosed(DisconnectReason.SHUTDOWN, "bye", by_peer=True)]


def test_ping_is_answered_not_reported() -> None:
    a, b = pair()
    exchange(a, b)
    events(b)
    a.send(Ping(7))
    exchange(a, b)
    assert events(b) == []


# -- timers that sleep -------------------------------------------------------------------------
#
# The rule of `pacata.testing.timer_rule` for a connection: a deadline left in the past makes the
# asyncio adapter fire the timer back to back, a connection burning a core while idle. Hypothesis
# drives two wired connections through random deliveries, losses, garbage, messages and closes while
# the clock moves by small and large steps, and fires the timers at their deadlines and late, as a
# busy event loop would.

seconds = st.one_of(st.floats(0.0, 30.0), st.floats(30.0, 100_000.0))
side = st.integers(0, 1)
connection_events = st.one_of(
    clock_events(seconds, cores=2),
    st.tuples(st.just("deliver"), side, st.one_of(st.just(1 << 20), st.integers(0, 600))),
    st.tuples(st.just("lose"), side),
    st.tuples(st.just("garbage"), side, st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("send"), side, st.sampled_from(["get peers", "inventory", "ping"])),
    st.tuples(st.just("close"), side),
    st.tuples(st.just("connection lost"), side),
)
connection_limits = st.builds(
    ConnectionLimits,
    handshake_timeout=st.floats(0.5, 60.0),
    keepalive_interval=st.floats(0.5, 60.0),
    idle_timeout=st.floats(0.5, 120.0),
)


class _Link(TimerRuleDriver):
    """Two connections, what each has sent and not yet delivered, and a manual clock."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.conns = pair(limits=limits)
        self.wire = [b"", b""]

    def collect(self, index: int) -> None:
        self.wire[index] += self.conns[index].data_to_send()
        events(self.conns[index])

    def deadline(self, core: int) -> float | None:
        return self.conns[core].get_timer()

    def run_timer(self, core: int) -> None:
        """Runs a connection's timer and takes what it sends, delivering nothing."""
        self.conns[core].handle_timer(self.now)
        self.collect(core)

    def core_name(self, core: int) -> str:
        return f"connection {core} ({self.conns[core].state.value})"

    def run(self, event: tuple[object, ...]) -> None:
        if self.run_clock_event(event):
            return
        match event:
            case ("deliver", int(i), int(cut)):
                # A prefix of what is in flight: frames may arrive cut anywhere.
                data, self.wire[i] = self.wire[i][:cut], self.wire[i][cut:]
                self.conns[1 - i].receive_data(data, self.now)
                self.collect(1 - i)
            case ("lose", int(i)):
                self.wire[i] = b""
            case ("garbage", int(i), bytes(data)):
                self.conns[i].receive_data(data, self.now)
                self.collect(i)
            case ("send", int(i), str(kind)) if self.conns[i].is_established:
                message = {
                    "get peers": GetPeers(),
                    "inventory": InvTransactions((GENESIS,)),
                    "ping": Ping(9),
                }[kind]
                self.conns[i].send(message)
                self.collect(i)
            case ("close", int(i)):
                self.conns[i].close(DisconnectReason.SHUTDOWN, "bye")
                self.collect(i)
            case ("connection lost", int(i)):
                self.conns[i].connection_lost()
                self.collect(i)


@settings(max_examples=150, deadline=None)
@given(connection_limits, st.lists(connection_events, min_size=5, max_size=30))
def test_a_connection_timer_sleeps_once_it_ran(
    limits: ConnectionLimits, script: list[tuple[object, ...]]
) -> None:
    link = _Link(limits)
    for side_index in (0, 1):
        link.collect(side_index)
    for event in script:
        link.run(event)
    # Then silence: each side pings, times out and closes, in a bounded number of wake-ups.
    for _ in range(3):
        for side_index in (0, 1):
            link.run(("timer at deadline", side_index))
    assert all(conn.is_closed for conn in link.conns)
