"""STUN Binding (RFC 5389) as a sans-I/O agent: every node answers, every node asks its peers.

    agent = StunAgent()
    agent.receive_datagram(data, source, now) -> bool        # False: not STUN, left alone
    agent.request_binding(server, now) -> transaction id     # learn our reflexive address
    agent.datagrams_to_send() -> [(datagram, address), ...]
    agent.get_timer() -> deadline or None;  agent.handle_timer(now)
    agent.next_event() -> BindingSucceeded | BindingFailed | None

Rules (section numbers are RFC 5389's unless named otherwise):

- Messages (§6): a 20-byte header (two zero bits, the type, the length of what follows, the magic
  cookie 0x2112A442, a 96-bit transaction id) and attributes (§15) padded to 4 bytes. A message
  without the cookie is a classic RFC 3489 one, whose transaction id is the 128 bits after the
  length (§12).
- Decoding is strict (`StunMessage.decode` raises `DecodeError`): the size must agree with the
  length field and be a multiple of 4, every attribute must fit, FINGERPRINT (§15.5: CRC-32 of
  what precedes it XOR 0x5354554E) must be the last attribute and be right. Padding bytes are
  ignored as §15 says, and so are attributes after MESSAGE-INTEGRITY other than FINGERPRINT
  (§15.4). At most `MAX_ATTRIBUTES` attributes are read.
- Server (§7.3): a Binding request is answered with XOR-MAPPED-ADDRESS (§15.2), SOFTWARE and
  FINGERPRINT. An unknown comprehension-required attribute (type < 0x8000) gets a 420 error
  response listing it in UNKNOWN-ATTRIBUTES (§7.3.1); a request of another method gets 400.
  Indications and responses that match no transaction of ours are dropped (§7.3.2, §7.3.3).
- Classic RFC 3489 clients (§12.2): the 16-byte transaction id is echoed and the address goes
  in MAPPED-ADDRESS, without FINGERPRINT (their parsers refuse attributes they do not know).
  CHANGE-REQUEST (RFC 3489 §11.2.4, RFC 5780 §7.2) is understood: with no flag set it asks for
  nothing and the request is answered as usual; asking for another address or port, which a
  node with one address cannot give, gets the 420 error RFC 5780 §6.1 requires.
- Client (§7.2.1): requests carry a random transaction id and FINGERPRINT and are retransmitted
  after RTO, 2·RTO, 4·RTO, ... (RTO = 500 ms) until `Rc` = 7 have been sent; the transaction
  fails `Rm` = 16 RTOs after the last one. A response is accepted only from the address the
  request went to, with the transaction id of a pending request and, when it carries one, a
  valid FINGERPRINT; a response with an unknown comprehension-required attribute fails the
  transaction (§7.3.3). At most 10 transactions are outstanding per server (§7.2).
- `is_stun(datagram)` says whether a datagram of the shared UDP port is STUN, from its header
  alone (docs/p2p-udp.md §Dispatch): the two top bits zero, the length field equal to the size
  less 20 and a multiple of 4, and the magic cookie, or, without the cookie, the type of a
  Binding request (a classic client). A WireGuard message (type 1-4 then three zero bytes) has
  a zero length field and at least 32 bytes, so it is never STUN.
- Nothing a remote host sends raises out of `receive_datagram`: what fails a check is dropped
  and counted in `drops`. No clock and no global randomness: `now` comes from the caller and
  random bytes from the injected `random_bytes`.
"""

from __future__ import annotations

import binascii
import os
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from pacata.errors import DecodeError, LocalProtocolError
from pacata.p2p.udp_address import ADDRESS_SIZES, Address, pack_host, unpack_host

MAGIC_COOKIE = 0x2112A442
MAGIC_COOKIE_BYTES = struct.pack(">I", MAGIC_COOKIE)
HEADER_SIZE = 20
TRANSACTION_ID_SIZE = 12
CLASSIC_TRANSACTION_ID_SIZE = 16
FINGERPRINT_XOR = 0x5354554E
FINGERPRINT_SIZE = 8  # the attribute header and the CRC
MAX_ATTRIBUTES = 32
MAX_MESSAGE_SIZE = 1500
MAX_REASON_BYTES = 763  # §15.6: fewer than 128 characters, at most 763 bytes
SOFTWARE_DESCRIPTION = "pacata"

CHANGE_IP_FLAG = 0x04
CHANGE_PORT_FLAG = 0x02

_HEADER = struct.Struct(">HHI")
_ATTRIBUTE_HEADER = struct.Struct(">HH")
_U32 = struct.Struct(">I")


class MessageClass(IntEnum):
    """The two class bits C1 C0 of the message type (§6)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS_RESPONSE = 0b10
    ERROR_RESPONSE = 0b11


class Method(IntEnum):
    BINDING = 0x001


class AttributeType(IntEnum):
    """Attribute types this agent knows (§18.2, RFC 3489 §11.2, RFC 5780 §7)."""

    MAPPED_ADDRESS = 0x0001
    CHANGE_REQUEST = 0x0003
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    XOR_MAPPED_ADDRESS = 0x0020
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028


# Comprehension-required attributes this agent understands in a request (§7.3.1). It does not
# authenticate, so USERNAME and MESSAGE-INTEGRITY are understood and ignored (§10: a usage
# without credentials).
_UNDERSTOOD_REQUIRED = frozenset(
    {
        AttributeType.MAPPED_ADDRESS,
        AttributeType.CHANGE_REQUEST,
        AttributeType.USERNAME,
        AttributeType.MESSAGE_INTEGRITY,
        AttributeType.ERROR_CODE,
        AttributeType.UNKNOWN_ATTRIBUTES,
        AttributeType.REALM,
        AttributeType.NONCE,
        AttributeType.XOR_MAPPED_ADDRESS,
    }
)


class ErrorCode(IntEnum):
    BAD_REQUEST = 400
    UNKNOWN_ATTRIBUTE = 420


_REASONS = {ErrorCode.BAD_REQUEST: "Bad Request", ErrorCode.UNKNOWN_ATTRIBUTE: "Unknown Attribute"}


def encode_message_type(method: int, message_class: MessageClass) -> int:
    """The 14-bit type: method bits M11-M0 with the class bits C1 C0 between them (§6)."""
    if not 0 <= method <= 0xFFF:
        raise ValueError(f"method {method} does not fit in 12 bits")
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0b01) << 4)
        | ((message_class & 0b10) << 7)
    )


def decode_message_type(message_type: int) -> tuple[int, MessageClass]:
    """(method, class) of a 14-bit message type."""
    method = (
        (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)
    )
    message_class = MessageClass(((message_type >> 4) & 0b01) | ((message_type >> 7) & 0b10))
    return method, message_class


_BINDING_REQUEST_TYPE = encode_message_type(Method.BINDING, MessageClass.REQUEST)


def is_stun(datagram: bytes) -> bool:
    """Whether a datagram of the shared UDP port is a STUN message, from its header alone.

    RFC 5389 §6 and §7.3: the two top bits zero, a length field that is the size less the
    header and a multiple of 4, and the magic cookie; without the cookie only a Binding request
    (an RFC 3489 client, §12.2) is STUN. The full checks are `StunMessage.decode`'s.
    """
    if len(datagram) < HEADER_SIZE or len(datagram) > MAX_MESSAGE_SIZE or datagram[0] & 0xC0:
        return False
    message_type: int
    length: int
    cookie: int
    message_type, length, cookie = _HEADER.unpack_from(datagram)
    if length != len(datagram) - HEADER_SIZE or length % 4:
        return False
    return cookie == MAGIC_COOKIE or message_type == _BINDING_REQUEST_TYPE


def fingerprint_of(data: bytes) -> int:
    """The FINGERPRINT value of the message bytes that precede it (§15.5)."""
    return (binascii.crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def is_comprehension_required(attribute_type: int) -> bool:
    return attribute_type < 0x8000


@dataclass(frozen=True, slots=True)
class StunAttribute:
    """One attribute: its type and its value, unpadded."""

    type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFFFF:
            raise ValueError(f"attribute type {self.type} does not fit in 16 bits")
        if len(self.value) > MAX_MESSAGE_SIZE:
            raise ValueError(f"attribute value of {len(self.value)} bytes is too long")


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message (§6). A 12-byte `transaction_id` makes an RFC 5389 message with the magic
    cookie; a 16-byte one makes a classic RFC 3489 message (§12), whose id fills the cookie too.

    `fingerprint` says whether the encoding ends with FINGERPRINT; the attribute itself is not
    in `attributes`, since its value is a function of the rest.
    """

    message_class: MessageClass
    method: int
    transaction_id: bytes
    attributes: tuple[StunAttribute, ...] = ()
    fingerprint: bool = False

    def __post_init__(self) -> None:
        if len(self.transaction_id) not in (TRANSACTION_ID_SIZE, CLASSIC_TRANSACTION_ID_SIZE):
            raise ValueError("a transaction id is 12 bytes (RFC 5389) or 16 bytes (RFC 3489)")
        if not 0 <= self.method <= 0xFFF:
            raise ValueError(f"method {self.method} does not fit in 12 bits")
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        if any(a.type == AttributeType.FINGERPRINT for a in self.attributes):
            raise ValueError("FINGERPRINT is added by encode(), not listed")

    @property
    def classic(self) -> bool:
        """True for an RFC 3489 message (no magic cookie)."""
        return len(self.transaction_id) == CLASSIC_TRANSACTION_ID_SIZE

    def attribute(self, attribute_type: int) -> bytes | None:
        """The value of the first attribute of `attribute_type`, or None."""
        for attribute in self.attributes:
            if attribute.type == attribute_type:
                return attribute.value
        return None

    def unknown_required_attributes(self) -> tuple[int, ...]:
        """The comprehension-required attribute types this agent does not understand, in order
        of first appearance (for UNKNOWN-ATTRIBUTES, §7.3.1)."""
        unknown: dict[int, None] = {}
        for attribute in self.attributes:
            kind = attribute.type
            if is_comprehension_required(kind) and kind not in _UNDERSTOOD_REQUIRED:
                unknown[kind] = None
        return tuple(unknown)

    def encode(self) -> bytes:
        parts: list[bytes] = []
        for attribute in self.attributes:
            value = attribute.value
            parts.append(_ATTRIBUTE_HEADER.pack(attribute.type, len(value)))
            parts.append(value)
            parts.append(bytes(-len(value) % 4))
        body = b"".join(parts)
        length = len(body) + (FINGERPRINT_SIZE if self.fingerprint else 0)
        message_type = encode_message_type(self.method, self.message_class)
        if self.classic:
            header = struct.pack(">HH", message_type, length) + self.transaction_id
        else:
            header = _HEADER.pack(message_type, length, MAGIC_COOKIE) + self.transaction_id
        message = header + body
        if len(message) + (FINGERPRINT_SIZE if self.fingerprint else 0) > MAX_MESSAGE_SIZE:
            raise ValueError(f"a STUN message is at most {MAX_MESSAGE_SIZE} bytes")
        if self.fingerprint:
            crc = fingerprint_of(message)
            message += _ATTRIBUTE_HEADER.pack(AttributeType.FINGERPRINT, 4) + _U32.pack(crc)
        return message

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """The message in `data`; `DecodeError` for anything that is not a valid STUN message."""
        data = bytes(data)
        size = len(data)
        if size < HEADER_SIZE:
            raise DecodeError(f"a STUN message is at least {HEADER_SIZE} bytes, got {size}")
        if size > MAX_MESSAGE_SIZE:
            raise DecodeError(f"a STUN message is at most {MAX_MESSAGE_SIZE} bytes, got {size}")
        if data[0] & 0xC0:
            raise DecodeError("the two top bits of a STUN message are zero")
        message_type, length, cookie = _HEADER.unpack_from(data)
        if length != size - HEADER_SIZE:
            raise DecodeError(f"length field {length} disagrees with {size - HEADER_SIZE} bytes")
        if length % 4:
            raise DecodeError(f"length {length} is not a multiple of 4")
        # Without the cookie, a classic RFC 3489 message: its id is all 128 bits (§12).
        transaction_id = data[8 if cookie == MAGIC_COOKIE else 4 : HEADER_SIZE]
        method, message_class = decode_message_type(message_type)
        attributes: list[StunAttribute] = []
        has_fingerprint = False
        after_integrity = False
        position = HEADER_SIZE
        while position < size:
            if position + 4 > size:
                raise DecodeError(f"truncated attribute header at offset {position}")
            kind, value_length = _ATTRIBUTE_HEADER.unpack_from(data, position)
            start = position + 4
            end = start + value_length
            padded_end = end + (-value_length % 4)
            if padded_end > size:
                raise DecodeError(f"attribute {kind:#06x} of {value_length} bytes overruns")
            value = data[start:end]
            if kind == AttributeType.FINGERPRINT:
                if padded_end != size:
                    raise DecodeError("FINGERPRINT must be the last attribute")
                if value_length != 4:
                    raise DecodeError(f"FINGERPRINT is 4 bytes, got {value_length}")
                if _U32.unpack(value)[0] != fingerprint_of(data[:position]):
                    raise DecodeError("FINGERPRINT does not match the message")
                has_fingerprint = True
            elif not after_integrity:  # §15.4: what follows MESSAGE-INTEGRITY is ignored
                if len(attributes) >= MAX_ATTRIBUTES:
                    raise DecodeError(f"more than {MAX_ATTRIBUTES} attributes")
                attributes.append(StunAttribute(kind, value))
                after_integrity = kind == AttributeType.MESSAGE_INTEGRITY
            position = padded_end
        return cls(message_class, method, transaction_id, tuple(attributes), has_fingerprint)


# -- attribute values --------------------------------------------------------------------------


def encode_mapped_address(address: Address) -> bytes:
    """MAPPED-ADDRESS (§15.1): zero, family, port, address."""
    family, packed = pack_host(address[0])
    return struct.pack(">BBH", 0, family, address[1]) + packed


def decode_mapped_address(value: bytes) -> Address:
    if len(value) < 4:
        raise DecodeError(f"an address attribute is at least 4 bytes, got {len(value)}")
    _, family, port = struct.unpack_from(">BBH", value)
    if len(value) != 4 + ADDRESS_SIZES.get(family, -4):
        raise DecodeError(f"address attribute of family {family} has {len(value)} bytes")
    return unpack_host(family, value[4:]), port


def _xor_mask(family: int, transaction_id: bytes) -> bytes:
    # §15.2: the address is XORed with the cookie, then (IPv6) with the transaction id.
    return MAGIC_COOKIE_BYTES if family == 1 else MAGIC_COOKIE_BYTES + transaction_id


def encode_xor_mapped_address(address: Address, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS (§15.2) of `address` for a message with `transaction_id`."""
    family, packed = pack_host(address[0])
    mask = _xor_mask(family, transaction_id)
    xored = bytes(a ^ b for a, b in zip(packed, mask, strict=True))
    return struct.pack(">BBH", 0, family, address[1] ^ (MAGIC_COOKIE >> 16)) + xored


def decode_xor_mapped_address(value: bytes, transaction_id: bytes) -> Address:
    if len(transaction_id) != TRANSACTION_ID_SIZE:
        raise DecodeError("XOR-MAPPED-ADDRESS belongs to RFC 5389 messages only")
    if len(value) < 4:
        raise DecodeError(f"an address attribute is at least 4 bytes, got {len(value)}")
    _, family, xport = struct.unpack_from(">BBH", value)
    if len(value) != 4 + ADDRESS_SIZES.get(family, -4):
        raise DecodeError(f"address attribute of family {family} has {len(value)} bytes")
    mask = _xor_mask(family, transaction_id)
    packed = bytes(a ^ b for a, b in zip(value[4:], mask, strict=True))
    return unpack_host(family, packed), xport ^ (MAGIC_COOKIE >> 16)


def encode_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE (§15.6): 21 zero bits, the hundreds (3-6), the rest (0-99), a reason."""
    if not 300 <= code <= 699:
        raise ValueError(f"error code {code} is outside 300-699")
    raw_reason = reason.encode("utf-8")
    if len(raw_reason) > MAX_REASON_BYTES:
        raise ValueError("reason phrase too long")
    return struct.pack(">HBB", 0, code // 100, code % 100) + raw_reason


def decode_error_code(value: bytes) -> tuple[int, str]:
    if len(value) < 4 or len(value) > 4 + MAX_REASON_BYTES:
        raise DecodeError(f"ERROR-CODE of {len(value)} bytes")
    _, hundreds, number = struct.unpack_from(">HBB", value)
    hundreds &= 0x07
    if not 3 <= hundreds <= 6 or number > 99:
        raise DecodeError(f"error code {hundreds}{number:02d} out of range")
    try:
        reason = value[4:].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("ERROR-CODE reason is not UTF-8") from None
    return hundreds * 100 + number, reason


def encode_unknown_attributes(types: Iterable[int]) -> bytes:
    return b"".join(struct.pack(">H", kind) for kind in types)


def decode_unknown_attributes(value: bytes) -> tuple[int, ...]:
    if len(value) % 2:
        raise DecodeError("UNKNOWN-ATTRIBUTES has an odd length")
    return tuple(struct.unpack(f">{len(value) // 2}H", value))


def decode_change_request(value: bytes) -> int:
    """The flags of CHANGE-REQUEST (RFC 5780 §7.2): change IP 0x4, change port 0x2."""
    if len(value) != 4:
        raise DecodeError(f"CHANGE-REQUEST is 4 bytes, got {len(value)}")
    flags: int = _U32.unpack(value)[0]
    return flags


# -- the server side ---------------------------------------------------------------------------


def _error_response(request: StunMessage, code: ErrorCode, unknown: tuple[int, ...]) -> StunMessage:
    attributes = [StunAttribute(AttributeType.ERROR_CODE, encode_error_code(code, _REASONS[code]))]
    if unknown:
        if request.classic and len(unknown) % 2:
            unknown += unknown[-1:]  # RFC 3489 §11.2.10: an odd list repeats one entry
        value = encode_unknown_attributes(unknown)
        attributes.append(StunAttribute(AttributeType.UNKNOWN_ATTRIBUTES, value))
    if not request.classic:
        attributes.append(StunAttribute(AttributeType.SOFTWARE, SOFTWARE_DESCRIPTION.encode()))
    return StunMessage(
        MessageClass.ERROR_RESPONSE,
        request.method,
        request.transaction_id,
        tuple(attributes),
        fingerprint=not request.classic,
    )


def answer_request(request: StunMessage, source: Address) -> StunMessage:
    """The response of a server with one address to `request` (a request) from `source`."""
    if request.method != Method.BINDING:
        return _error_response(request, ErrorCode.BAD_REQUEST, ())
    unknown = request.unknown_required_attributes()
    if unknown:
        return _error_response(request, ErrorCode.UNKNOWN_ATTRIBUTE, unknown)
    change = request.attribute(AttributeType.CHANGE_REQUEST)
    if change is not None:
        try:
            flags = decode_change_request(change)
        except DecodeError:
            return _error_response(request, ErrorCode.BAD_REQUEST, ())
        if flags & (CHANGE_IP_FLAG | CHANGE_PORT_FLAG):
            # RFC 5780 §6.1: no alternate address, so 420.
            return _error_response(
                request, ErrorCode.UNKNOWN_ATTRIBUTE, (AttributeType.CHANGE_REQUEST,)
            )
    if request.classic:
        mapped = StunAttribute(AttributeType.MAPPED_ADDRESS, encode_mapped_address(source))
        return StunMessage(
            MessageClass.SUCCESS_RESPONSE, Method.BINDING, request.transaction_id, (mapped,)
        )
    attributes = (
        StunAttribute(
            AttributeType.XOR_MAPPED_ADDRESS,
            encode_xor_mapped_address(source, request.transaction_id),
        ),
        StunAttribute(AttributeType.SOFTWARE, SOFTWARE_DESCRIPTION.encode()),
    )
    return StunMessage(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        request.transaction_id,
        attributes,
        fingerprint=True,
    )


def binding_request(transaction_id: bytes) -> StunMessage:
    """An RFC 5389 Binding request with FINGERPRINT and no other attribute."""
    return StunMessage(MessageClass.REQUEST, Method.BINDING, transaction_id, fingerprint=True)


# -- the client side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetransmissionPolicy:
    """§7.2.1: initial RTO, requests sent in all (Rc), the last wait in RTOs (Rm)."""

    rto: float = 0.5
    max_requests: int = 7
    last_wait_rtos: int = 16
    max_outstanding_per_server: int = 10  # §7.2

    def __post_init__(self) -> None:
        if self.rto <= 0 or self.max_requests < 1 or self.last_wait_rtos < 1:
            raise ValueError("RTO, Rc and Rm must be positive")

    def send_offsets(self) -> tuple[float, ...]:
        """When each (re)transmission goes, from the first: 0, RTO, 3·RTO, 7·RTO, ..."""
        offsets = [0.0]
        interval = self.rto
        for _ in range(self.max_requests - 1):
            offsets.append(offsets[-1] + interval)
            interval *= 2
        return tuple(offsets)

    def timeout_offset(self) -> float:
        """When the transaction fails, from the first transmission (39.5 s by default)."""
        return self.send_offsets()[-1] + self.last_wait_rtos * self.rto


DEFAULT_RETRANSMISSION = RetransmissionPolicy()


@dataclass(frozen=True, slots=True)
class BindingSucceeded:
    """`server` saw our requests come from `mapped_address` (our server-reflexive address)."""

    server: Address
    transaction_id: bytes
    mapped_address: Address


@dataclass(frozen=True, slots=True)
class BindingFailed:
    """The transaction with `server` failed: `reason` is "timeout", "error NNN ..." or the
    refusal of a malformed answer."""

    server: Address
    transaction_id: bytes
    reason: str


StunEvent = BindingSucceeded | BindingFailed


@dataclass(slots=True)
class _Transaction:
    server: Address
    request: bytes
    first_sent: float
    sent: int = 1
    deadline: float = 0.0


class StunAgent:
    """The server and client sides of STUN Binding on one UDP port (see the module rules)."""

    def __init__(
        self,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        retransmission: RetransmissionPolicy = DEFAULT_RETRANSMISSION,
        require_fingerprint: bool = False,
    ) -> None:
        self.random_bytes = random_bytes
        self.retransmission = retransmission
        self.require_fingerprint = require_fingerprint
        self.drops: Counter[str] = Counter()
        self.answered = 0
        self._transactions: dict[bytes, _Transaction] = {}
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[StunEvent] = deque()
        self._offsets = retransmission.send_offsets()
        self._reflexive: dict[Address, Address] = {}

    # -- the owner's calls ------------------------------------------------------------------

    def receive_datagram(self, data: bytes, source: Address, now: float) -> bool:
        """Handles one datagram; False if it is not STUN (`is_stun`) and was left alone."""
        if not is_stun(data):
            return False
        try:
            message = StunMessage.decode(data)
        except DecodeError:
            self.drops["malformed"] += 1
            return True
        if message.message_class == MessageClass.REQUEST:
            self._answer(message, source)
        elif message.message_class == MessageClass.INDICATION:
            self.drops["indication"] += 1  # §7.3.2: nothing to do for a Binding indication
        else:
            self._receive_response(message, source)
        return True

    def request_binding(self, server: Address, now: float) -> bytes:
        """Starts a Binding transaction with `server`; returns its transaction id."""
        limit = self.retransmission.max_outstanding_per_server
        if sum(t.server == server for t in self._transactions.values()) >= limit:
            raise LocalProtocolError(f"{limit} transactions are already outstanding to {server}")
        transaction_id = self.random_bytes(TRANSACTION_ID_SIZE)
        if len(transaction_id) != TRANSACTION_ID_SIZE or transaction_id in self._transactions:
            raise LocalProtocolError("random_bytes gave an unusable transaction id")
        request = binding_request(transaction_id).encode()
        transaction = _Transaction(server, request, now)
        self._schedule(transaction, now)
        self._transactions[transaction_id] = transaction
        self._outgoing.append((request, server))
        return transaction_id

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        outgoing = self._outgoing
        self._outgoing = []
        return outgoing

    def next_event(self) -> StunEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if not self._transactions:
            return None
        return min(t.deadline for t in self._transactions.values())

    def handle_timer(self, now: float) -> None:
        """Retransmits the requests that are due and fails the transactions that timed out."""
        for transaction_id, transaction in list(self._transactions.items()):
            if transaction.deadline > now:
                continue
            if transaction.sent >= self.retransmission.max_requests:
                del self._transactions[transaction_id]
                self._events.append(BindingFailed(transaction.server, transaction_id, "timeout"))
                continue
            transaction.sent += 1
            self._schedule(transaction, now)
            self._outgoing.append((transaction.request, transaction.server))

    def pending(self) -> int:
        """How many client transactions are outstanding."""
        return len(self._transactions)

    def reflexive_address(self) -> Address | None:
        """Our address as most servers last reported it (ties: the newest report), or None."""
        if not self._reflexive:
            return None
        votes = Counter(self._reflexive.values())
        best = max(votes.values())
        for address in reversed(self._reflexive.values()):
            if votes[address] == best:
                return address
        return None  # pragma: no cover - the loop always finds the best

    # -- inside -----------------------------------------------------------------------------

    def _schedule(self, transaction: _Transaction, now: float) -> None:
        """The deadline after the transmission just made: on the schedule from the first one
        while that is still ahead; when it has passed already (the event loop was busy for
        long), as long after `now` as the schedule leaves between the two sends. Never at or
        before `now`, which would send the remaining retransmissions in a burst."""
        offset = self._next_offset(transaction)
        scheduled = transaction.first_sent + offset
        if scheduled <= now:
            scheduled = now + offset - self._offsets[transaction.sent - 1]
        transaction.deadline = scheduled

    def _next_offset(self, transaction: _Transaction) -> float:
        if transaction.sent < len(self._offsets):
            return self._offsets[transaction.sent]
        return self.retransmission.timeout_offset()

    def _answer(self, request: StunMessage, source: Address) -> None:
        try:
            response = answer_request(request, source).encode()
        except ValueError:  # a source we cannot put in an address attribute
            self.drops["unanswerable source"] += 1
            return
        self.answered += 1
        self._outgoing.append((response, source))

    def _receive_response(self, message: StunMessage, source: Address) -> None:
        transaction = self._transactions.get(message.transaction_id)
        if transaction is None or transaction.server != source:
            self.drops["unmatched response"] += 1  # §7.3.3: no transaction of ours
            return
        if message.method != Method.BINDING:
            self.drops["unmatched response"] += 1
            return
        transaction_id = message.transaction_id
        if self.require_fingerprint and not message.fingerprint:
            self._fail(transaction_id, "response without FINGERPRINT")
            return
        if message.message_class == MessageClass.ERROR_RESPONSE:
            self._fail(transaction_id, _describe_error(message))
            return
        unknown = message.unknown_required_attributes()
        if unknown:
            names = ", ".join(f"{kind:#06x}" for kind in unknown)
            self._fail(transaction_id, f"unknown comprehension-required attributes {names}")
            return
        try:
            mapped = _mapped_address_of(message)
        except DecodeError as error:
            self._fail(transaction_id, f"bad mapped address: {error}")
            return
        del self._transactions[transaction_id]
        self._reflexive.pop(source, None)
        if len(self._reflexive) >= 64:  # bounded: the oldest report goes
            del self._reflexive[next(iter(self._reflexive))]
        self._reflexive[source] = mapped
        self._events.append(BindingSucceeded(source, transaction_id, mapped))

    def _fail(self, transaction_id: bytes, reason: str) -> None:
        transaction = self._transactions.pop(transaction_id)
        self._events.append(BindingFailed(transaction.server, transaction_id, reason))


def _mapped_address_of(message: StunMessage) -> Address:
    xor_mapped = message.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    if xor_mapped is not None:
        return decode_xor_mapped_address(xor_mapped, message.transaction_id)
    mapped = message.attribute(AttributeType.MAPPED_ADDRESS)
    if mapped is not None:  # an RFC 3489 server (§12.1.2)
        return decode_mapped_address(mapped)
    raise DecodeError("a Binding success response without a mapped address")


def _describe_error(message: StunMessage) -> str:
    value = message.attribute(AttributeType.ERROR_CODE)
    if value is None:
        return "error response without ERROR-CODE"
    try:
        code, reason = decode_error_code(value)
    except DecodeError as error:
        return f"error response with a bad ERROR-CODE: {error}"
    return f"error {code} {reason}"
