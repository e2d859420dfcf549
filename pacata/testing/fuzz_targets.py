"""Fuzz targets: every decoder a peer's bytes reach, and the receivers that call them.

Two groups (docs/BENCHMARKS.md §Fuzzing):

- Decoders, each with the canonical-encoding property (`canonical_check`): the input is refused
  with `DecodeError` (`RemoteProtocolError` for framing), or decodes to an object whose fresh
  encoding is exactly the input. Ledger objects, node records, every peer message kind, every
  DHT packet kind, the WireGuard messages, the stream framing. Transactions cache the bytes
  they were decoded from, so they are re-encoded from their fields (`fresh_encoding`): the
  cache would hide a field read leniently. STUN is the exception the RFC makes: padding and
  attributes after MESSAGE-INTEGRITY are ignored (RFC 5389 §15, §15.4), so its property is that
  a decoded message re-encodes to bytes that decode to the same message.
- Receivers, which must never raise whatever arrives: the UDP port's classifier (no datagram
  claimed by two protocols), a peer connection (`PeerConnection`, during its handshake and
  once established), a WireGuard `Device` (both ends of a completed handshake, on the general
  and the fast path), the STUN agent (server, and client with a transaction pending) and a DHT
  node. The DHT receiver's signature check lets every packet
  through and the harness aims replies at requests the node has outstanding, so mutated packets
  reach the handlers rather than stopping at the signature or at "unmatched reply". What a
  receiver sends back must decode too (frames, STUN answers, DHT packets, WireGuard
  datagrams): an answer built from a peer's input must be one the peer can read.

Receivers keep their state from one input to the next, as they do on a real port: a crash may
then need the inputs before it, and the harness is seeded so the run is replayed exactly.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from pacata.chain.blocks import Block
from pacata.chain.codec import Reader, WireObject
from pacata.chain.headers import BlockHeader
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import Transaction, TxKind
from pacata.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from pacata.p2p import dht_messages as dht
from pacata.p2p.connection import PeerConnection
from pacata.p2p.dht import DhtConfig, DhtNode
from pacata.p2p.framing import FrameDecoder, encode_frame
from pacata.p2p.messages import (
    MESSAGE_TYPES,
    Message,
    MessageKind,
    Role,
    TlsBinding,
    decode_message,
)
from pacata.p2p.records import NodeRecord, newer_record_value, node_id_of, validate_record_value
from pacata.p2p.stun import (
    FINGERPRINT_SIZE,
    HEADER_SIZE,
    AttributeType,
    StunAgent,
    StunMessage,
    fingerprint_of,
    is_stun,
)
from pacata.p2p.udp_address import Address
from pacata.p2p.udp_demux import WIREGUARD_HEADERS, DatagramKind, classify, is_wireguard
from pacata.testing.fuzzing import (
    FuzzTarget,
    Layout,
    NonCanonical,
    Tracer,
    canonical_check,
    trace,
)
from pacata.testing.wire_corpus import (
    STUN_CLIENTS,
    STUN_SERVER,
    STUN_TRANSACTION_ID,
    WireGuardExchange,
    WireSamples,
    sample_key,
    wireguard_exchange,
)
from pacata.vpn.wireguard.cookie import mac1_key
from pacata.vpn.wireguard.messages import (
    MAC1_OFFSET,
    TRANSPORT_DATA_HEADER,
    CookieReply,
    HandshakeInitiation,
    HandshakeResponse,
    MessageType,
    TransportData,
    classify_datagram,
)
from pacata.vpn.wireguard.primitives import MAC_SIZE, blake2s_mac

MAX_BLOCK_INPUT = 16 * 1024
_U32 = struct.Struct(">I")
_HANDLER_CHECK_EVERY = 4_096


def fresh_encoding(obj: object) -> bytes:
    """The encoding of a decoded object made again from its fields, without the bytes that
    decoded transactions keep (`Transaction._encoding`)."""
    if isinstance(obj, Transaction):
        return dataclasses.replace(obj, _encoding=None).encode()
    if isinstance(obj, Block):
        fresh = tuple(dataclasses.replace(tx, _encoding=None) for tx in obj.transactions)
        return Block(obj.header, fresh).encode()
    if isinstance(obj, Message):
        return obj.encode_message()
    if isinstance(obj, WireObject | dht.DhtPacket | StunMessage):
        return obj.encode()
    if isinstance(obj, HandshakeInitiation | HandshakeResponse | CookieReply | TransportData):
        return obj.encode()
    raise TypeError(f"no encoding for {type(obj).__name__}")


def _decoder(
    name: str,
    decode: Callable[[bytes], object],
    corpus: Iterable[bytes],
    *,
    tracer: Tracer | None,
    max_size: int = 4096,
    dictionary: Sequence[bytes] = (),
) -> FuzzTarget:
    check = canonical_check(decode, fresh_encoding, (DecodeError,))
    return FuzzTarget(
        name, list(corpus), check, max_size=max_size, dictionary=dictionary, tracer=tracer
    )


def read_tracer(read: Callable[[Reader], object], offset: int = 0) -> Tracer:
    """The layout of an input as `read` (a `read_from`) decodes it, from `offset` on."""
    return lambda data: trace(data, read, offset)


def trace_message(data: bytes) -> Layout:
    return trace(data, MESSAGE_TYPES[MessageKind(data[0])].read_from, 1)


def trace_dht_packet(data: bytes) -> Layout:
    """The body's fields (after the fixed header; the signature after them is not read)."""
    body_type = type(dht.DhtPacket.decode(data).body)
    return trace(data, body_type.read_from, dht.HEADER_SIZE)


def _slug(name: str) -> str:
    return name.lower()


# -- decoders -------------------------------------------------------------------------------


def ledger_targets(samples: WireSamples) -> list[FuzzTarget]:
    targets = [
        _decoder(
            "block_header",
            BlockHeader.decode,
            (h.encode() for h in samples.headers),
            tracer=read_tracer(BlockHeader.read_from),
        ),
        _decoder(
            "block",
            Block.decode,
            (b.encode() for b in samples.blocks),
            tracer=read_tracer(Block.read_from),
            max_size=MAX_BLOCK_INPUT,
            dictionary=[tx.encode() for txs in samples.transactions.values() for tx in txs],
        ),
        _decoder(
            "receipt",
            Receipt.decode,
            (r.encode() for r in samples.receipts),
            tracer=read_tracer(Receipt.read_from),
        ),
    ]
    kinds = [bytes((kind,)) for kind in TxKind]
    for kind, transactions in samples.transactions.items():
        targets.append(
            _decoder(
                f"tx_{_slug(kind.name)}",
                Transaction.decode,
                (tx.encode() for tx in transactions),
                tracer=read_tracer(Transaction.read_from),
                dictionary=kinds,
            )
        )
    return targets


def p2p_targets(samples: WireSamples) -> list[FuzzTarget]:
    kinds = [bytes((kind,)) for kind in MessageKind]
    targets = [
        _decoder(
            "node_record",
            NodeRecord.decode,
            (r.encode() for r in samples.records),
            tracer=read_tracer(NodeRecord.read_from),
        ),
        FuzzTarget(
            "p2p_framing",
            [
                b"".join(encode_frame(m.encode_message()) for m in ms)
                for ms in _message_runs(samples)
            ],
            check_framing,
            max_size=MAX_BLOCK_INPUT,
        ),
    ]
    for kind, messages in samples.messages.items():
        targets.append(
            _decoder(
                f"p2p_{_slug(kind.name)}",
                decode_message,
                (m.encode_message() for m in messages),
                tracer=trace_message,
                max_size=MAX_BLOCK_INPUT,
                dictionary=kinds,
            )
        )
    return targets


def _message_runs(samples: WireSamples) -> list[list[Message]]:
    every = [messages[0] for messages in samples.messages.values()]
    return [every[:1], every[1:4], every[4:9], every[9:]]


def check_framing(data: bytes) -> bool:
    """The stream in three pieces: the frames cut from it, framed again, are the start of the
    stream, and what is left is what the decoder holds."""
    decoder = FrameDecoder()
    third = len(data) // 3
    payloads: list[bytes] = []
    try:
        for piece in (data[:third], data[third : 2 * third], data[2 * third :]):
            payloads += decoder.feed(piece)
    except RemoteProtocolError:
        return False
    framed = b"".join(encode_frame(payload) for payload in payloads)
    if not data.startswith(framed) or len(data) - len(framed) != decoder.buffered:
        raise NonCanonical(f"{len(payloads)} frames of {len(data)} bytes, {decoder.buffered} held")
    return True


def dht_targets(samples: WireSamples) -> list[FuzzTarget]:
    kinds = [bytes((kind,)) for kind in dht.MessageKind]
    return [
        _decoder(
            f"dht_{_slug(kind.name)}",
            dht.DhtPacket.decode,
            packets,
            tracer=trace_dht_packet,
            max_size=dht.MAX_DATAGRAM_SIZE + 64,
            dictionary=[dht.DHT_MAGIC, *kinds],
        )
        for kind, packets in samples.dht_packets.items()
    ]


def check_stun(data: bytes) -> bool:
    """STUN's property (see the module docstring): the re-encoding decodes to the same message."""
    try:
        message = StunMessage.decode(data)
    except DecodeError:
        return False
    again = message.encode()
    if StunMessage.decode(again) != message:
        raise NonCanonical(f"a STUN message changes when re-encoded: {message!r}")
    return True


def fix_stun_checks(data: bytearray) -> None:
    """Length field and FINGERPRINT made right again after a mutation."""
    if len(data) < HEADER_SIZE:
        return
    data[2:4] = (len(data) - HEADER_SIZE).to_bytes(2, "big")
    if len(data) >= HEADER_SIZE + FINGERPRINT_SIZE and data[-8:-4] == b"\x80\x28\x00\x04":
        data[-4:] = _U32.pack(fingerprint_of(bytes(data[:-FINGERPRINT_SIZE])))


def stun_targets(samples: WireSamples) -> list[FuzzTarget]:
    attribute_types = [struct.pack(">H", kind) for kind in AttributeType]
    return [
        FuzzTarget(
            "stun_message",
            [message.encode() for message in samples.stun_messages],
            check_stun,
            max_size=1600,
            fixups=(fix_stun_checks,),
            dictionary=[b"\x21\x12\xa4\x42", *attribute_types],
        )
    ]


def wireguard_targets(exchange: WireGuardExchange) -> list[FuzzTarget]:
    decoders: dict[MessageType, Callable[[bytes], object]] = {
        MessageType.HANDSHAKE_INITIATION: HandshakeInitiation.decode,
        MessageType.HANDSHAKE_RESPONSE: HandshakeResponse.decode,
        MessageType.COOKIE_REPLY: CookieReply.decode,
        MessageType.TRANSPORT_DATA: TransportData.decode,
    }
    return [
        _decoder(
            f"wg_{_slug(kind.name)}", decode, exchange.datagrams[kind], tracer=None, max_size=2048
        )
        for kind, decode in decoders.items()
    ]


# -- receivers ------------------------------------------------------------------------------


class ConnectionHarness:
    """A fresh `PeerConnection` (the side that accepted the TCP connection) per input; when
    `established`, the peer's valid hello arrives first and the input follows it."""

    def __init__(self, samples: WireSamples, *, established: bool) -> None:
        self._key = samples.keys[0]
        self._hello = samples.hello(self._key, samples.records[0], Role.RESPONDER)
        # The corpus hellos are signed as their senders see the TLS session; we see it mirrored.
        sender_view = samples.binding
        self._binding = TlsBinding(sender_view.peer_certificate, sender_view.local_certificate)
        peer_hello = samples.messages[MessageKind.HELLO][0]
        self._prefix = encode_frame(peer_hello.encode_message()) if established else b""

    def check(self, data: bytes) -> bool:
        connection = PeerConnection(
            key=self._key, hello=self._hello, role=Role.RESPONDER, binding=self._binding, now=0.0
        )
        if self._prefix:
            connection.receive_data(self._prefix, 0.5)
            if not connection.is_established:
                raise AssertionError("the harness's own hello did not establish the connection")
        connection.receive_data(data, 1.0)
        connection.handle_timer(100.0)
        for frame in FrameDecoder().feed(connection.data_to_send()):
            decode_message(frame)  # what we answer, a peer must be able to read
        while connection.next_event() is not None:
            pass
        return not (connection.closed_event is not None and connection.closed_event.misbehaved)


def fix_first_frame_length(data: bytearray) -> None:
    """The first length prefix made to cover the whole input (most corpus entries are one
    frame)."""
    if len(data) > 4:
        data[:4] = _U32.pack(len(data) - 4)


def connection_targets(samples: WireSamples) -> list[FuzzTarget]:
    hello_frame = encode_frame(samples.messages[MessageKind.HELLO][0].encode_message())
    frames = [
        encode_frame(message.encode_message())
        for messages in samples.messages.values()
        for message in messages
        if message.kind is not MessageKind.HELLO
    ]
    return [
        FuzzTarget(
            "p2p_connection_handshake",
            [hello_frame, hello_frame + frames[0], hello_frame + b"".join(frames[2:8])],
            ConnectionHarness(samples, established=False).check,
            max_size=MAX_BLOCK_INPUT,
            fixups=(fix_first_frame_length,),
        ),
        FuzzTarget(
            "p2p_connection_established",
            [*frames, hello_frame, b"".join(frames)],
            ConnectionHarness(samples, established=True).check,
            max_size=MAX_BLOCK_INPUT,
            fixups=(fix_first_frame_length,),
        ),
    ]


class DeviceHarness:
    """Every input goes to both devices of a completed handshake, each from the other's
    address: every other time to the fast path first for transport data, as the userspace
    engine does. Taken: one of them processed it without counting a drop."""

    def __init__(self, exchange: WireGuardExchange) -> None:
        self._exchange = exchange
        initiator, responder = exchange.initiator, exchange.responder
        self._ends = ((responder, initiator.address), (initiator, responder.address))
        self._clock = exchange.testbed.clock
        self._count = 0

    def check(self, data: bytes) -> bool:
        clock = self._clock
        clock.now += 0.001
        self._count += 1
        took = False
        for node, source in self._ends:
            device = node.device
            device.under_load = bool(self._count & 4)
            drops = sum(device.drops.values())
            opened = None
            if data[:4] == TRANSPORT_DATA_HEADER and (self._count & 1):
                opened = device.open_packet(data, source, clock.now)
            ours = opened is not None or device.receive_datagram(
                data, source, clock.now, clock.wall
            )
            if not self._count % _HANDLER_CHECK_EVERY:
                device.handle_timer(clock.now, clock.wall)
            for datagram, _ in device.datagrams_to_send():
                if classify_datagram(datagram) is None:
                    raise AssertionError("the device sent a datagram that is not WireGuard's")
            while device.next_event() is not None:
                pass
            took = took or (ours and sum(device.drops.values()) == drops)
        return took


def mac1_fixup(exchange: WireGuardExchange) -> Callable[[bytearray], None]:
    """mac1 made valid again after a mutation, for the device the message type goes to."""
    keys = {
        MessageType.HANDSHAKE_INITIATION: mac1_key(exchange.responder.public_key),
        MessageType.HANDSHAKE_RESPONSE: mac1_key(exchange.initiator.public_key),
    }
    sizes = {MessageType.HANDSHAKE_INITIATION: 148, MessageType.HANDSHAKE_RESPONSE: 92}

    def fix(data: bytearray) -> None:
        for kind, size in sizes.items():
            if len(data) == size and data[:4] == struct.pack("<I", kind):
                offset = MAC1_OFFSET[kind]
                data[offset : offset + MAC_SIZE] = blake2s_mac(keys[kind], bytes(data[:offset]))

    return fix


def device_targets(exchange: WireGuardExchange) -> list[FuzzTarget]:
    return [
        FuzzTarget(
            "wg_device",
            [datagram for datagrams in exchange.datagrams.values() for datagram in datagrams],
            DeviceHarness(exchange).check,
            max_size=2048,
            fixups=(mac1_fixup(exchange),),
            dictionary=[struct.pack("<I", kind) for kind in MessageType],
        )
    ]


class StunAgentHarness:
    """The agent answers requests and, with a Binding transaction to `STUN_SERVER` always
    pending under `STUN_TRANSACTION_ID`, matches responses."""

    def __init__(self) -> None:
        self.agent = StunAgent(random_bytes=lambda size: STUN_TRANSACTION_ID[:size])
        self._now = 0.0
        self._sources: tuple[Address, ...] = (STUN_SERVER, STUN_SERVER, *STUN_CLIENTS)

    def check(self, data: bytes) -> bool:
        agent = self.agent
        self._now += 0.01
        agent.handle_timer(self._now)
        if not agent.pending():
            agent.request_binding(STUN_SERVER, self._now)
        drops = sum(agent.drops.values())
        source = self._sources[len(data) % len(self._sources)]
        took = agent.receive_datagram(data, source, self._now)
        for datagram, _ in agent.datagrams_to_send():
            StunMessage.decode(datagram)  # what we answer, a client must be able to read
        while agent.next_event() is not None:
            pass
        return took and sum(agent.drops.values()) == drops


def stun_agent_targets(samples: WireSamples) -> list[FuzzTarget]:
    (decoder,) = stun_targets(samples)
    return [dataclasses.replace(decoder, name="stun_agent", check=StunAgentHarness().check)]


def _accept_any_signature(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    return True


_REPLY_KINDS = frozenset(dht.MessageKind) - dht.REQUEST_KINDS
_KEY_END = dht.HEADER_SIZE
_ID_START = len(dht.DHT_MAGIC) + 1
_KEY_START = _ID_START + dht.REQUEST_ID_SIZE


class DhtHarness:
    """A DHT node that knows the sample keys' nodes (each at an address of its own) and keeps
    lookups running; a reply-kind input is, every other time, aimed at one of the requests it
    has outstanding: that request's id, the public key of the node it went to, from its
    address. Signatures are not checked (see the module docstring)."""

    def __init__(self, samples: WireSamples) -> None:
        self.node = DhtNode(
            sample_key(9),
            validate=validate_record_value,
            newer=newer_record_value,
            config=DhtConfig(
                request_rate=1e12, request_burst=1e12, store_rate=1e12, store_burst=1e12
            ),
            check_signature=_accept_any_signature,
            random_bytes=random.Random(5).randbytes,
        )
        self._addresses: dict[bytes, Address] = {
            key.public_key: (f"192.0.2.{100 + index}", 7000 + index)
            for index, key in enumerate(samples.keys)
        }
        self._keys_at = {address: key for key, address in self._addresses.items()}
        self._value = samples.records[1].encode()
        self._value_key = samples.records[1].node_id
        self._outstanding: deque[tuple[bytes, Address]] = deque(maxlen=64)
        self._now = 0.0
        self._count = 0
        for key in samples.keys:  # every sample node pings us: they are our contacts
            ping = dht.DhtPacket.signed(key, bytes(8), dht.Ping())
            self.node.receive_datagram(ping, self._addresses[key.public_key], self._now)
        self._collect()

    def _collect(self) -> None:
        node = self.node
        for datagram, address in node.datagrams_to_send():
            packet = dht.DhtPacket.decode(datagram)
            if packet.kind in dht.REQUEST_KINDS and address in self._keys_at:
                self._outstanding.append((packet.request_id, address))
        while node.next_event() is not None:
            pass

    def _start_lookup(self, data: bytes) -> None:
        node, now = self.node, self._now
        try:
            if self._count % 3 == 0:
                node.put(self._value_key, self._value, now)
            else:
                node.find_node(node_id_of(data), now)
        except LocalProtocolError:  # as many lookups as allowed already run
            pass

    def check(self, data: bytes) -> bool:
        node = self.node
        self._now += 0.05
        self._count += 1
        if not self._outstanding:
            self._start_lookup(data)
            self._collect()
        source: Address = ("203.0.113.1", 9999)
        if len(data) >= _KEY_END and dht.is_dht_datagram(data):
            source = self._addresses.get(data[_KEY_START:_KEY_END], source)
            if data[4] in _REPLY_KINDS and self._count & 1 and self._outstanding:
                request_id, source = self._outstanding[data[5] % len(self._outstanding)]
                public_key = self._keys_at[source]
                data = data[:_ID_START] + request_id + public_key + data[_KEY_END:]
        drops = sum(node.drops.values())
        took = node.receive_datagram(data, source, self._now)
        if (timer := node.get_timer()) is not None and timer <= self._now:
            node.handle_timer(self._now)
        self._collect()
        return took and sum(node.drops.values()) == drops


def dht_node_targets(samples: WireSamples) -> list[FuzzTarget]:
    corpus = [packet for packets in samples.dht_packets.values() for packet in packets]
    kinds = [bytes((kind,)) for kind in dht.MessageKind]
    return [
        FuzzTarget(
            "dht_node",
            corpus,
            DhtHarness(samples).check,
            max_size=dht.MAX_DATAGRAM_SIZE + 64,
            dictionary=[dht.DHT_MAGIC, *kinds],
        )
    ]


def check_demultiplexer(data: bytes) -> bool:
    """The UDP port's classifier never raises and no two protocols claim one datagram."""
    kind = classify(data)
    claims = (is_stun(data), dht.is_dht_datagram(data), is_wireguard(data))
    if sum(claims) > 1:
        raise AssertionError(f"a datagram claimed by {sum(claims)} protocols, classified {kind}")
    return kind is not DatagramKind.OTHER


def demultiplexer_targets(samples: WireSamples, exchange: WireGuardExchange) -> list[FuzzTarget]:
    corpus = [
        *(message.encode() for message in samples.stun_messages),
        *(packet for packets in samples.dht_packets.values() for packet in packets),
        *(datagram for datagrams in exchange.datagrams.values() for datagram in datagrams),
    ]
    return [
        FuzzTarget(
            "udp_demux",
            corpus,
            check_demultiplexer,
            max_size=2048,
            fixups=(fix_stun_checks,),
            dictionary=[dht.DHT_MAGIC, b"\x21\x12\xa4\x42", *WIREGUARD_HEADERS],
        )
    ]


# -- all of them ----------------------------------------------------------------------------


def decoder_targets(samples: WireSamples, exchange: WireGuardExchange) -> list[FuzzTarget]:
    return [
        *ledger_targets(samples),
        *p2p_targets(samples),
        *dht_targets(samples),
        *stun_targets(samples),
        *wireguard_targets(exchange),
    ]


def receiver_targets(samples: WireSamples, exchange: WireGuardExchange) -> list[FuzzTarget]:
    return [
        *demultiplexer_targets(samples, exchange),
        *connection_targets(samples),
        *device_targets(exchange),
        *stun_agent_targets(samples),
        *dht_node_targets(samples),
    ]


def all_targets() -> list[FuzzTarget]:
    """Every target, built with fresh samples and devices (receivers keep state)."""
    samples = WireSamples()
    return [
        *decoder_targets(samples, wireguard_exchange()),
        *receiver_targets(samples, wireguard_exchange()),
    ]
