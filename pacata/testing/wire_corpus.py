"""Valid samples of every wire object a peer can send us, built with real keys and signatures.

They are what `benchmarks/fuzz.py` mutates, and what tests use when they need one object of
each kind: ledger objects (every transaction kind, receipts, headers, blocks), node records,
every peer message, every DHT packet, STUN messages of both RFCs, and the four WireGuard
messages as two real devices exchange them. Each sample is chosen to reach a different branch of
its decoder: empty and full sequences, bounds reached, boundary integers, IPv4 and IPv6, text
that is not ASCII. Everything is deterministic: the same samples in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pacata.chain.blocks import Block
from pacata.chain.codec import MAX_U64
from pacata.chain.hashing import sha256
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import MAX_CHAIN_ID_SIZE, Receipt
from pacata.chain.transactions import (
    MAX_ENDPOINT_SIZE,
    MAX_TIERS,
    UNLIMITED_RATE,
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    Payload,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    TxKind,
    Unbond,
    make_transaction,
)
from pacata.p2p import dht_messages as dht
from pacata.p2p.messages import (
    MAX_LOCATOR,
    PROTOCOL_VERSION,
    BlockAnnouncement,
    BlockData,
    Disconnect,
    DisconnectReason,
    Extension,
    GetBlocks,
    GetHeaders,
    GetPeers,
    GetTransactions,
    Headers,
    Hello,
    InvBlocks,
    InvTransactions,
    ItemKind,
    Message,
    MessageKind,
    NotFound,
    Peers,
    Ping,
    Pong,
    Role,
    TlsBinding,
    Transactions,
)
from pacata.p2p.records import MAX_ENDPOINTS, MAX_HOST_BYTES, Endpoint, NodeRecord, Transport
from pacata.p2p.stun import (
    AttributeType,
    ErrorCode,
    MessageClass,
    Method,
    StunAttribute,
    StunMessage,
    answer_request,
    binding_request,
    encode_error_code,
    encode_mapped_address,
    encode_xor_mapped_address,
)
from pacata.testing.ledger import ChainFactory
from pacata.testing.wireguard import Node, Testbed, ipv4_packet
from pacata.vpn.wireguard.messages import MessageType, classify_datagram

CHAIN_ID = "pacata-devnet-1"
STUN_TRANSACTION_ID = bytes(range(1, 13))
STUN_SERVER = ("198.51.100.1", 3478)
STUN_CLIENTS = (("192.0.2.10", 40000), ("2001:db8::10", 40001))


def sample_key(index: int) -> PrivateKey:
    return PrivateKey(sha256(f"pacata wire corpus key {index}".encode()))


def _hash(index: int) -> bytes:
    return sha256(f"pacata wire corpus hash {index}".encode())


class WireSamples:
    """One or a few valid samples of every wire object, by kind (see the module docstring)."""

    def __init__(self) -> None:
        self.keys = [sample_key(i) for i in range(4)]
        self.binding = TlsBinding(_hash(100), _hash(101))

    # -- the ledger -----------------------------------------------------------------------

    @cached_property
    def factory(self) -> ChainFactory:
        """A devnet chain of real blocks: empty ones and ones with transfers."""
        factory = ChainFactory(seed=11)
        factory.next_block()
        factory.next_block(factory.random_transfers(3))
        factory.next_block(factory.random_transfers(1), slot_gap=5)
        return factory

    @cached_property
    def headers(self) -> list[BlockHeader]:
        chain = self.factory.chain
        real = [chain.block_at(height).header for height in range(chain.height + 1)]
        largest = BlockHeader(
            height=MAX_U64,
            prev_hash=_hash(1),
            slot=MAX_U64,
            timestamp_ms=MAX_U64,
            producer=self.keys[1].public_key,
            tx_root=_hash(2),
            state_root=_hash(3),
            vrf_output=bytes(range(64)),
            vrf_proof=bytes(range(80)),
        ).signed(self.keys[1])
        return [*real, largest]

    @cached_property
    def receipts(self) -> list[Receipt]:
        key = self.keys[2]
        return [
            Receipt(CHAIN_ID, _hash(10), 1_500_000, 2_000).signed(key),
            Receipt("", _hash(11), 0, 0),
            Receipt("ü" * (MAX_CHAIN_ID_SIZE // 2), _hash(12), MAX_U64, MAX_U64).signed(key),
        ]

    @cached_property
    def payloads(self) -> dict[TxKind, list[Payload]]:
        relay = self.keys[3].address
        wireguard_key = _hash(20)
        wide_offer = RelayOffer(
            wireguard_key,
            (
                "198.51.100.7:51820",
                "[2001:db8::1]:51820",
                "relay.example.org:51820",
                "é" * (MAX_ENDPOINT_SIZE // 2),
                *(f"10.0.0.{i}:1" for i in range(4)),
            ),
            (*(10**i for i in range(MAX_TIERS - 1)), MAX_U64),
            (UNLIMITED_RATE, *(125_000 * 10**i for i in range(MAX_TIERS - 2)), MAX_U64),
        )
        narrow_offer = RelayOffer(wireguard_key, ("203.0.113.9:51820",), (0,), (UNLIMITED_RATE,))
        first, second = self.headers[1], self.headers[2]
        payloads: list[Payload] = [
            Transfer(relay, 1),
            Transfer(self.keys[0].address, MAX_U64),
            Bond(10**12, _hash(21)),
            Unbond(1),
            Unbond(MAX_U64),
            RelayRegister(wide_offer),
            RelayRegister(narrow_offer),
            RelayUpdate(narrow_offer),
            RelayRetire(),
            ChannelOpen(relay, 10**9, 0, _hash(22), 1_000),
            ChannelOpen(relay, MAX_U64, MAX_TIERS - 1, _hash(23), MAX_U64),
            ChannelTopup(_hash(24), 128),
            ChannelSettle(self.receipts[0]),
            ChannelSettle(self.receipts[2]),
            ChannelClose(_hash(25)),
            Evidence(first, second),
        ]
        by_kind: dict[TxKind, list[Payload]] = {kind: [] for kind in TxKind}
        for payload in payloads:
            by_kind[payload.KIND].append(payload)
        return by_kind

    @cached_property
    def transactions(self) -> dict[TxKind, list[Transaction]]:
        """Each kind signed by a real key; nonces and fees small, large and at the bound."""
        by_kind: dict[TxKind, list[Transaction]] = {}
        for kind, payloads in self.payloads.items():
            signed = []
            for index, payload in enumerate(payloads):
                key = self.keys[index % len(self.keys)]
                nonce, fee = ((0, 1_000), (MAX_U64, MAX_U64), (127, 128))[index % 3]
                chain_id = (CHAIN_ID, "x" * MAX_CHAIN_ID_SIZE, "")[index % 3]
                signed.append(make_transaction(key, chain_id, nonce, fee, payload))
            by_kind[kind] = signed
        return by_kind

    @cached_property
    def blocks(self) -> list[Block]:
        """The chain's real blocks, and a block holding one transaction of every kind."""
        chain = self.factory.chain
        real = [chain.block_at(height) for height in range(chain.height + 1)]
        everything = tuple(txs[0] for txs in self.transactions.values())
        return [*real, Block(self.headers[-1], everything)]

    # -- peer to peer ---------------------------------------------------------------------

    @cached_property
    def records(self) -> list[NodeRecord]:
        full = tuple(
            Endpoint(Transport.TCP if i % 2 else Transport.UDP, f"{i:x}" * MAX_HOST_BYTES, i + 1)
            for i in range(MAX_ENDPOINTS)
        )
        return [
            NodeRecord.create(self.keys[0], 0, (), _hash(30)),
            NodeRecord.create(
                self.keys[1],
                7,
                (
                    Endpoint(Transport.TCP, "198.51.100.4", 9735),
                    Endpoint(Transport.UDP, "2001:db8::4", 9735),
                ),
                _hash(31),
                relay=True,
            ),
            NodeRecord.create(
                self.keys[2],
                MAX_U64,
                (Endpoint(Transport.TCP, "nœud.example", 65535),),
                _hash(32),
            ),
            NodeRecord.create(self.keys[3], 1 << 40, full, _hash(33), relay=True),
        ]

    def hello(self, key: PrivateKey, record: NodeRecord, role: Role) -> Hello:
        """A hello of `record`'s node on the devnet, signed for `self.binding` as seen by the
        sender."""
        genesis = self.factory.chain.block_at(0)
        tip = self.factory.chain.tip
        hello = Hello(PROTOCOL_VERSION, CHAIN_ID, genesis.hash, tip.height, tip.hash, record)
        return hello.signed(key, role, self.binding)

    @cached_property
    def messages(self) -> dict[MessageKind, list[Message]]:
        records = self.records
        block = self.factory.chain.tip
        transactions = [txs[0].encode() for txs in self.transactions.values()]
        messages: list[Message] = [
            self.hello(self.keys[1], records[1], Role.INITIATOR),
            self.hello(self.keys[3], records[3], Role.RESPONDER),
            Disconnect(DisconnectReason.REQUESTED),
            Disconnect(DisconnectReason.WRONG_CHAIN, "peer is on chain 'x', we are on 'y'"),
            Disconnect(DisconnectReason.INCOMPATIBLE_VERSION, "versión ≠ 1"),
            Ping(0),
            Ping(MAX_U64),
            Pong(1),
            Pong(MAX_U64),
            InvBlocks((BlockAnnouncement(block.hash, block.height),)),
            InvBlocks(tuple(BlockAnnouncement(_hash(i), i * 1000) for i in range(40, 48))),
            InvTransactions(()),
            InvTransactions(tuple(_hash(i) for i in range(50, 58))),
            GetBlocks((block.hash,)),
            GetBlocks(tuple(_hash(i) for i in range(60, 64))),
            BlockData(block.encode()),
            BlockData(self.blocks[-1].encode()),
            GetTransactions(tuple(_hash(i) for i in range(70, 73))),
            Transactions(tuple(transactions[:1])),
            Transactions(tuple(transactions)),
            NotFound(ItemKind.BLOCK, (_hash(80),)),
            NotFound(ItemKind.TRANSACTION, tuple(_hash(i) for i in range(81, 85))),
            GetHeaders((block.hash,), 1),
            GetHeaders(tuple(_hash(i) for i in range(MAX_LOCATOR)), 2_000),
            Headers(()),
            Headers(tuple(self.headers)),
            GetPeers(),
            Peers(()),
            Peers(tuple(records)),
            Extension("vpn/receipts", bytes(range(24))),
            Extension("test/empty", b""),
        ]
        by_kind: dict[MessageKind, list[Message]] = {kind: [] for kind in MessageKind}
        for message in messages:
            by_kind[message.kind].append(message)
        return by_kind

    @cached_property
    def dht_packets(self) -> dict[dht.MessageKind, list[bytes]]:
        """Signed DHT datagrams of every kind, from the sample keys."""
        contacts = (
            dht.Contact(records_id, address)
            for records_id, address in (
                (self.records[0].node_id, ("192.0.2.20", 9000)),
                (self.records[1].node_id, ("2001:db8::20", 9001)),
                (self.records[2].node_id, ("198.51.100.20", 65535)),
            )
        )
        value = self.records[1].encode()
        bodies: list[dht.Body] = [
            dht.Ping(),
            dht.Pong(("192.0.2.30", 5000)),
            dht.Pong(("2001:db8::30", 5001)),
            dht.FindNode(_hash(90)),
            dht.Nodes(0, 1, ()),
            dht.Nodes(1, 3, tuple(contacts)),
            dht.FindValue(self.records[1].node_id),
            dht.Value(self.records[1].node_id, value),
            dht.Value(_hash(91), b""),
            dht.Store(self.records[1].node_id, value),
            dht.Store(self.records[3].node_id, self.records[3].encode()),
            dht.Stored(_hash(92), True),
            dht.Stored(_hash(93), False),
        ]
        by_kind: dict[dht.MessageKind, list[bytes]] = {kind: [] for kind in dht.MessageKind}
        for index, body in enumerate(bodies):
            key = self.keys[index % len(self.keys)]
            request_id = index.to_bytes(dht.REQUEST_ID_SIZE, "big")
            by_kind[body.KIND].append(dht.DhtPacket.signed(key, request_id, body))
        return by_kind

    @cached_property
    def stun_messages(self) -> list[StunMessage]:
        """Requests and responses of RFC 5389 and of classic RFC 3489 clients and servers."""
        classic_id = bytes(range(16))
        request = binding_request(STUN_TRANSACTION_ID)
        classic_request = StunMessage(MessageClass.REQUEST, Method.BINDING, classic_id)
        odd = StunAttribute(0x7F01, b"abc")  # an unknown comprehension-required attribute
        error = encode_error_code(ErrorCode.UNKNOWN_ATTRIBUTE, "Unknown Attribute")
        with_everything = StunMessage(
            MessageClass.REQUEST,
            Method.BINDING,
            STUN_TRANSACTION_ID,
            (
                StunAttribute(AttributeType.USERNAME, b"user:name"),
                StunAttribute(AttributeType.CHANGE_REQUEST, bytes(4)),
                StunAttribute(AttributeType.SOFTWARE, "pacata ü".encode()),
                StunAttribute(AttributeType.MESSAGE_INTEGRITY, bytes(20)),
            ),
            fingerprint=True,
        )
        return [
            request,
            classic_request,
            with_everything,
            StunMessage(MessageClass.REQUEST, Method.BINDING, STUN_TRANSACTION_ID, (odd,)),
            StunMessage(
                MessageClass.REQUEST,
                Method.BINDING,
                STUN_TRANSACTION_ID,
                (StunAttribute(AttributeType.CHANGE_REQUEST, bytes((0, 0, 0, 6))),),
            ),
            StunMessage(MessageClass.INDICATION, Method.BINDING, STUN_TRANSACTION_ID),
            StunMessage(MessageClass.REQUEST, 0x002, STUN_TRANSACTION_ID, fingerprint=True),
            *(answer_request(request, client) for client in (STUN_SERVER, *STUN_CLIENTS)),
            answer_request(classic_request, STUN_CLIENTS[0]),
            answer_request(with_everything, STUN_CLIENTS[0]),
            StunMessage(
                MessageClass.SUCCESS_RESPONSE,
                Method.BINDING,
                STUN_TRANSACTION_ID,
                (
                    StunAttribute(
                        AttributeType.MAPPED_ADDRESS, encode_mapped_address(STUN_CLIENTS[1])
                    ),
                ),
            ),
            StunMessage(
                MessageClass.ERROR_RESPONSE,
                Method.BINDING,
                STUN_TRANSACTION_ID,
                (
                    StunAttribute(AttributeType.ERROR_CODE, error),
                    StunAttribute(AttributeType.UNKNOWN_ATTRIBUTES, b"\x7f\x01"),
                ),
                fingerprint=True,
            ),
            StunMessage(
                MessageClass.SUCCESS_RESPONSE,
                Method.BINDING,
                STUN_TRANSACTION_ID,
                (
                    StunAttribute(
                        AttributeType.XOR_MAPPED_ADDRESS,
                        encode_xor_mapped_address(STUN_CLIENTS[1], STUN_TRANSACTION_ID),
                    ),
                    odd,
                ),
            ),
        ]


@dataclass(frozen=True, slots=True)
class WireGuardExchange:
    """Two devices that completed a handshake, and what they sent each other, by type.

    `initiator` started the handshake and sent data; `responder` answered, and also sent a
    cookie reply while under load.
    """

    testbed: Testbed
    initiator: Node
    responder: Node
    datagrams: dict[MessageType, list[bytes]]


def wireguard_exchange(seed: int = 7) -> WireGuardExchange:
    testbed = Testbed(seed=seed)
    initiator, responder = testbed.pair()
    datagrams: dict[MessageType, list[bytes]] = {kind: [] for kind in MessageType}

    def run() -> None:
        for transmission in testbed.flush():
            kind = classify_datagram(transmission.datagram)
            if kind is not None:
                datagrams[kind].append(transmission.datagram)

    # Under load, the responder answers the first initiation with a cookie reply; the
    # initiator retries with mac2 after its retransmission timer.
    responder.device.under_load = True
    testbed.send(initiator, responder, ipv4_packet(b"first"))
    run()
    testbed.advance(6.0, deliver=False)
    for transmission in testbed.take(initiator):
        kind = classify_datagram(transmission.datagram)
        if kind is not None:
            datagrams[kind].append(transmission.datagram)
        testbed.deliver(transmission)
    run()
    responder.device.under_load = False
    for payload in (b"", b"x", bytes(1400)):
        testbed.send(initiator, responder, ipv4_packet(payload))
        testbed.send(responder, initiator, ipv4_packet(payload))
        run()
    return WireGuardExchange(testbed, initiator, responder, datagrams)
