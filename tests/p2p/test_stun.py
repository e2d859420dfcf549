"""STUN messages and the Binding agent (RFC 5389, RFC 3489 §12 compatibility, RFC 5769 vectors)."""

from __future__ import annotations

import contextlib
import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.errors import DecodeError, LocalProtocolError
from pacata.p2p.stun import (
    MAGIC_COOKIE,
    MAGIC_COOKIE_BYTES,
    AttributeType,
    BindingFailed,
    BindingSucceeded,
    MessageClass,
    Method,
    RetransmissionPolicy,
    StunAgent,
    StunAttribute,
    StunMessage,
    answer_request,
    binding_request,
    decode_error_code,
    decode_mapped_address,
    decode_message_type,
    decode_unknown_attributes,
    decode_xor_mapped_address,
    encode_message_type,
    encode_xor_mapped_address,
    is_stun,
)
from pacata.testing.timer_rule import TimerRuleDriver, clock_events

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rfc5769_stun.json").read_text()
)
CLIENT = ("192.0.2.10", 40000)
SERVER = ("198.51.100.1", 3478)
TID = bytes(range(12))


def _vector(name: str) -> dict[str, object]:
    return next(v for v in VECTORS["vectors"] if v["name"].startswith(name))


def _fingerprint_ok(datagram: bytes) -> bool:
    """FINGERPRINT checked from RFC 5389 §15.5 with zlib, independently of the code under test."""
    kind, length = struct.unpack(">HH", datagram[-8:-4])
    (value,) = struct.unpack(">I", datagram[-4:])
    return kind == 0x8028 and length == 4 and value == zlib.crc32(datagram[:-8]) ^ 0x5354554E


# -- RFC 5769 vectors --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["2.1", "2.2", "2.3"])
def test_rfc5769_vectors_decode_with_their_fingerprint(name: str) -> None:
    vector = _vector(name)
    message = StunMessage.decode(bytes.fromhex(str(vector["message"])))
    assert message.fingerprint
    assert message.method == Method.BINDING
    assert message.transaction_id.hex() == vector["transaction_id"]
    assert [a.type for a in message.attributes] == vector["attribute_types"]
    expected_class = {
        "request": MessageClass.REQUEST,
        "success_response": MessageClass.SUCCESS_RESPONSE,
    }[str(vector["class"])]
    assert message.message_class == expected_class
    software = message.attribute(AttributeType.SOFTWARE)
    assert software is not None
    assert software.decode() == vector["software"]


@pytest.mark.parametrize("name", ["2.2", "2.3"])
def test_rfc5769_responses_give_the_mapped_address_the_rfc_states(name: str) -> None:
    vector = _vector(name)
    message = StunMessage.decode(bytes.fromhex(str(vector["message"])))
    value = message.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    assert value is not None
    assert decode_xor_mapped_address(value, message.transaction_id) == (
        vector["mapped_host"],
        vector["mapped_port"],
    )
    # And our encoder gives the RFC's bytes for the same address.
    mapped = (str(vector["mapped_host"]), int(str(vector["mapped_port"])))
    assert encode_xor_mapped_address(mapped, message.transaction_id) == value


def test_rfc5769_request_gets_420_for_its_ice_attribute() -> None:
    # PRIORITY (0x0024) is comprehension-required and not ours: §7.3.1 says 420 listing it.
    request = StunMessage.decode(bytes.fromhex(str(_vector("2.1")["message"])))
    response = answer_request(request, CLIENT)
    assert response.message_class == MessageClass.ERROR_RESPONSE
    assert response.transaction_id == request.transaction_id
    error = response.attribute(AttributeType.ERROR_CODE)
    unknown = response.attribute(AttributeType.UNKNOWN_ATTRIBUTES)
    assert error is not None
    assert unknown is not None
    assert decode_error_code(error) == (420, "Unknown Attribute")
    assert decode_unknown_attributes(unknown) == (0x0024,)
    assert _fingerprint_ok(response.encode())


@pytest.mark.parametrize("name", ["2.1", "2.2", "2.3"])
def test_a_flipped_bit_breaks_the_fingerprint(name: str) -> None:
    data = bytearray.fromhex(str(_vector(name)["message"]))
    data[30] ^= 0x01  # inside the first attribute's value
    with pytest.raises(DecodeError, match="FINGERPRINT"):
        StunMessage.decode(bytes(data))


# -- encoding ----------------------------------------------------------------------------------


def test_message_type_interleaves_class_bits() -> None:
    # §6: a Binding request is 0x0001, success 0x0101, error 0x0111, indication 0x0011.
    assert encode_message_type(Method.BINDING, MessageClass.REQUEST) == 0x0001
    assert encode_message_type(Method.BINDING, MessageClass.SUCCESS_RESPONSE) == 0x0101
    assert encode_message_type(Method.BINDING, MessageClass.ERROR_RESPONSE) == 0x0111
    assert encode_message_type(Method.BINDING, MessageClass.INDICATION) == 0x0011
    assert decode_message_type(0x0111) == (Method.BINDING, MessageClass.ERROR_RESPONSE)


@given(
    method=st.integers(0, 0xFFF),
    message_class=st.sampled_from(list(MessageClass)),
)
def test_message_type_round_trips(method: int, message_class: MessageClass) -> None:
    message_type = encode_message_type(method, message_class)
    assert message_type < 0x4000
    assert decode_message_type(message_type) == (method, message_class)


_attribute_types = st.integers(0, 0xFFFF).filter(
    lambda t: t not in (AttributeType.FINGERPRINT, AttributeType.MESSAGE_INTEGRITY)
)


@given(
    message_class=st.sampled_from(list(MessageClass)),
    method=st.integers(0, 0xFFF),
    transaction_id=st.one_of(
        st.binary(min_size=12, max_size=12), st.binary(min_size=16, max_size=16)
    ),
    attributes=st.lists(
        st.builds(StunAttribute, _attribute_types, st.binary(max_size=40)), max_size=6
    ),
    fingerprint=st.booleans(),
)
def test_messages_round_trip(
    message_class: MessageClass,
    method: int,
    transaction_id: bytes,
    attributes: list[StunAttribute],
    fingerprint: bool,
) -> None:
    if len(transaction_id) == 16 and transaction_id[:4] == MAGIC_COOKIE_BYTES:
        transaction_id = b"\x00" + transaction_id[1:]  # would read as a 5389 message
    message = StunMessage(message_class, method, transaction_id, tuple(attributes), fingerprint)
    encoded = message.encode()
    assert len(encoded) % 4 == 0
    classic_binding_request = message_class == MessageClass.REQUEST and method == Method.BINDING
    assert is_stun(encoded) == (not message.classic or classic_binding_request)
    assert StunMessage.decode(encoded) == message
    if fingerprint:
        assert _fingerprint_ok(encoded)


@given(st.binary(max_size=200))
def test_garbage_never_raises_anything_but_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        StunMessage.decode(data)


@given(st.binary(min_size=20, max_size=120))
def test_agent_never_raises_on_garbage(data: bytes) -> None:
    agent = StunAgent()
    with_header = b"\x00\x01" + struct.pack(">H", len(data) - 20) + MAGIC_COOKIE_BYTES + data[8:]
    for datagram in (data, with_header):
        agent.receive_datagram(datagram, CLIENT, 0.0)
    for datagram, _ in agent.datagrams_to_send():
        StunMessage.decode(datagram)  # whatever it answered is well formed


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01\x00\x00" + MAGIC_COOKIE_BYTES + bytes(11), "at least 20"),
        (b"\x80\x01\x00\x00" + MAGIC_COOKIE_BYTES + TID, "top bits"),
        (b"\x00\x01\x00\x04" + MAGIC_COOKIE_BYTES + TID, "disagrees"),
        (b"\x00\x01\x00\x02" + MAGIC_COOKIE_BYTES + TID + b"\x00\x00", "multiple of 4"),
        (b"\x00\x01\x00\x04" + MAGIC_COOKIE_BYTES + TID + b"\x00\x20\x00\x08", "overruns"),
        (
            b"\x00\x01\x00\x10" + MAGIC_COOKIE_BYTES + TID + b"\x80\x28\x00\x04" + bytes(4) * 3,
            "last attribute",
        ),
        (b"\x00\x01\x00\x08" + MAGIC_COOKIE_BYTES + TID + b"\x80\x28\x00\x04" + bytes(4), "match"),
    ],
)
def test_malformed_messages_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        StunMessage.decode(data)
    agent = StunAgent()
    agent.receive_datagram(data, CLIENT, 0.0)
    assert agent.datagrams_to_send() == []


def test_mapped_address_attributes_refuse_wrong_lengths() -> None:
    with pytest.raises(DecodeError):
        decode_mapped_address(b"\x00\x01\x00\x50" + bytes(16))
    with pytest.raises(DecodeError):
        decode_xor_mapped_address(b"\x00\x02\x00\x50" + bytes(4), TID)
    with pytest.raises(DecodeError):
        decode_mapped_address(b"\x00\x03\x00\x50" + bytes(4))


# -- dispatch ----------------------------------------------------------------------------------


def test_is_stun_tells_stun_from_wireguard_and_the_dht() -> None:
    assert is_stun(binding_request(TID).encode())
    classic = StunMessage(MessageClass.REQUEST, Method.BINDING, bytes(range(16))).encode()
    assert is_stun(classic)
    for kind, size in ((1, 148), (2, 92), (3, 64), (4, 32), (4, 1452)):
        wireguard = bytes((kind, 0, 0, 0)) + MAGIC_COOKIE_BYTES + bytes(size - 8)
        assert not is_stun(wireguard)
    # The smallest WireGuard-looking header that STUN's length rule would allow is 20 bytes,
    # shorter than any WireGuard message: the two can never be confused.
    assert not is_stun(b"PDH\x01" + bytes(200))
    assert not is_stun(b"")


# -- the server side ---------------------------------------------------------------------------


def test_binding_request_gets_xor_mapped_address_and_fingerprint() -> None:
    agent = StunAgent()
    assert agent.receive_datagram(binding_request(TID).encode(), CLIENT, 1.0)
    [(datagram, destination)] = agent.datagrams_to_send()
    assert destination == CLIENT
    assert _fingerprint_ok(datagram)
    assert datagram[4:8] == struct.pack(">I", MAGIC_COOKIE)
    response = StunMessage.decode(datagram)
    assert response.message_class == MessageClass.SUCCESS_RESPONSE
    assert response.transaction_id == TID
    value = response.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    assert value is not None
    assert decode_xor_mapped_address(value, TID) == CLIENT


def test_ipv6_clients_get_their_ipv6_address() -> None:
    client = ("2001:db8::77", 5000)
    response = answer_request(binding_request(TID), client)
    value = response.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    assert value is not None
    assert decode_xor_mapped_address(value, TID) == client


def test_ipv4_mapped_sources_are_answered_as_ipv4() -> None:
    response = answer_request(binding_request(TID), ("::ffff:192.0.2.10", 40000))
    value = response.attribute(AttributeType.XOR_MAPPED_ADDRESS)
    assert value is not None
    assert value[1] == 1  # family IPv4
    assert decode_xor_mapped_address(value, TID) == CLIENT


def test_classic_client_gets_its_transaction_id_and_mapped_address() -> None:
    # RFC 5389 §12.2: no cookie → echo the 128-bit id, MAPPED-ADDRESS, nothing it cannot read.
    classic_id = bytes(range(100, 116))
    change_none = StunAttribute(AttributeType.CHANGE_REQUEST, bytes(4))
    request = StunMessage(MessageClass.REQUEST, Method.BINDING, classic_id, (change_none,))
    agent = StunAgent()
    agent.receive_datagram(request.encode(), CLIENT, 0.0)
    [(datagram, _)] = agent.datagrams_to_send()
    assert datagram[4:20] == classic_id
    response = StunMessage.decode(datagram)
    assert response.classic
    assert not response.fingerprint
    assert [a.type for a in response.attributes] == [AttributeType.MAPPED_ADDRESS]
    value = response.attribute(AttributeType.MAPPED_ADDRESS)
    assert value is not None
    assert decode_mapped_address(value) == CLIENT


@pytest.mark.parametrize("flags", [0x04, 0x02, 0x06])
def test_change_request_for_another_address_gets_420(flags: int) -> None:
    # RFC 5780 §6.1: a server without an alternate address answers 420.
    change = StunAttribute(AttributeType.CHANGE_REQUEST, struct.pack(">I", flags))
    request = StunMessage(MessageClass.REQUEST, Method.BINDING, bytes(range(16)), (change,))
    response = answer_request(request, CLIENT)
    assert response.message_class == MessageClass.ERROR_RESPONSE
    error = response.attribute(AttributeType.ERROR_CODE)
    unknown = response.attribute(AttributeType.UNKNOWN_ATTRIBUTES)
    assert error is not None
    assert unknown is not None
    assert decode_error_code(error)[0] == 420
    # RFC 3489 §11.2.10: an odd list is padded by repeating an entry.
    assert decode_unknown_attributes(unknown) == (0x0003, 0x0003)


def test_other_methods_get_400_and_indications_are_ignored() -> None:
    allocate = StunMessage(MessageClass.REQUEST, 0x003, TID, fingerprint=True)
    response = answer_request(allocate, CLIENT)
    error = response.attribute(AttributeType.ERROR_CODE)
    assert error is not None
    assert decode_error_code(error)[0] == 400
    agent = StunAgent()
    indication = StunMessage(MessageClass.INDICATION, Method.BINDING, TID, fingerprint=True)
    assert agent.receive_datagram(indication.encode(), CLIENT, 0.0)
    assert agent.datagrams_to_send() == []


def test_comprehension_optional_unknown_attributes_are_ignored() -> None:
    extra = StunAttribute(0x8FFF, b"whatever")
    request = StunMessage(MessageClass.REQUEST, Method.BINDING, TID, (extra,), fingerprint=True)
    assert answer_request(request, CLIENT).message_class == MessageClass.SUCCESS_RESPONSE


# -- the client side ---------------------------------------------------------------------------


def _ids(*ids: bytes) -> object:
    queue = list(ids)
    return lambda size: queue.pop(0)


def _client_and_server() -> tuple[StunAgent, StunAgent]:
    return StunAgent(random_bytes=_ids(TID, bytes(range(1, 13)))), StunAgent()  # type: ignore[arg-type]


def test_a_node_learns_its_reflexive_address_from_a_peer() -> None:
    client, server = _client_and_server()
    transaction_id = client.request_binding(SERVER, 0.0)
    [(request, destination)] = client.datagrams_to_send()
    assert destination == SERVER
    assert _fingerprint_ok(request)
    server.receive_datagram(request, CLIENT, 0.1)
    [(response, back)] = server.datagrams_to_send()
    assert back == CLIENT
    client.receive_datagram(response, SERVER, 0.2)
    assert client.next_event() == BindingSucceeded(SERVER, transaction_id, CLIENT)
    assert client.reflexive_address() == CLIENT
    assert client.pending() == 0
    assert client.get_timer() is None


def test_retransmissions_follow_rfc5389_timers() -> None:
    # §7.2.1: RTO 500 ms doubling, Rc = 7 sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s, and
    # failure at 39.5 s (Rm = 16 RTOs after the last).
    client = StunAgent(random_bytes=lambda size: TID)
    client.request_binding(SERVER, 100.0)
    sends = [100.0]
    client.datagrams_to_send()
    while (deadline := client.get_timer()) is not None:
        client.handle_timer(deadline)
        if client.datagrams_to_send():
            sends.append(deadline)
    assert [round(t - 100.0, 6) for t in sends] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    event = client.next_event()
    assert isinstance(event, BindingFailed)
    assert event.reason == "timeout"
    assert RetransmissionPolicy().timeout_offset() == 39.5


def test_a_timer_that_fires_late_does_not_lose_the_schedule() -> None:
    client = StunAgent(random_bytes=lambda size: TID)
    client.request_binding(SERVER, 0.0)
    client.handle_timer(0.7)  # late: retransmit once, next at 1.5 as scheduled
    assert len(client.datagrams_to_send()) == 2
    assert client.get_timer() == 1.5


def test_responses_are_matched_by_transaction_and_source() -> None:
    client, server = _client_and_server()
    client.request_binding(SERVER, 0.0)
    [(request, _)] = client.datagrams_to_send()
    server.receive_datagram(request, CLIENT, 0.0)
    [(response, _)] = server.datagrams_to_send()
    client.receive_datagram(response, ("203.0.113.9", 3478), 0.1)  # from someone else
    assert client.next_event() is None
    assert client.drops["unmatched response"] == 1
    other = bytearray(response)
    other[8] ^= 0xFF  # another transaction id (and so another fingerprint: recompute)
    other = other[:-4] + struct.pack(">I", zlib.crc32(bytes(other[:-8])) ^ 0x5354554E)
    client.receive_datagram(bytes(other), SERVER, 0.1)
    assert client.next_event() is None
    client.receive_datagram(response, SERVER, 0.2)
    assert isinstance(client.next_event(), BindingSucceeded)


def test_a_response_with_a_wrong_fingerprint_is_dropped() -> None:
    client, server = _client_and_server()
    client.request_binding(SERVER, 0.0)
    [(request, _)] = client.datagrams_to_send()
    server.receive_datagram(request, CLIENT, 0.0)
    [(response, _)] = server.datagrams_to_send()
    client.receive_datagram(response[:-1] + bytes((response[-1] ^ 1,)), SERVER, 0.1)
    assert client.next_event() is None
    assert client.drops["malformed"] == 1
    assert client.pending() == 1


def test_error_and_unknown_attribute_responses_fail_the_transaction() -> None:
    client = StunAgent(random_bytes=_ids(TID, bytes(range(1, 13))))  # type: ignore[arg-type]
    client.request_binding(SERVER, 0.0)
    priority = StunAttribute(0x0024, bytes(4))
    request = StunMessage(MessageClass.REQUEST, Method.BINDING, TID, (priority,))
    client.receive_datagram(answer_request(request, CLIENT).encode(), SERVER, 0.1)
    failed = client.next_event()
    assert isinstance(failed, BindingFailed)
    assert failed.reason == "error 420 Unknown Attribute"
    second = client.request_binding(SERVER, 1.0)
    strange = StunMessage(
        MessageClass.SUCCESS_RESPONSE,
        Method.BINDING,
        second,
        (StunAttribute(0x7777, b"????"),),
        fingerprint=True,
    )
    client.receive_datagram(strange.encode(), SERVER, 1.1)
    failed = client.next_event()
    assert isinstance(failed, BindingFailed)
    assert "0x7777" in failed.reason


def test_a_classic_server_answer_is_understood() -> None:
    client = StunAgent(random_bytes=lambda size: TID)
    client.request_binding(SERVER, 0.0)
    mapped = StunAttribute(
        AttributeType.MAPPED_ADDRESS, b"\x00\x01" + struct.pack(">H", 9) + bytes(4)
    )
    response = StunMessage(MessageClass.SUCCESS_RESPONSE, Method.BINDING, TID, (mapped,))
    client.receive_datagram(response.encode(), SERVER, 0.1)
    assert client.next_event() == BindingSucceeded(SERVER, TID, ("0.0.0.0", 9))


def test_outstanding_transactions_per_server_are_capped() -> None:
    counter = iter(range(100))
    client = StunAgent(random_bytes=lambda size: bytes([next(counter)]) * size)
    for _ in range(10):
        client.request_binding(SERVER, 0.0)
    with pytest.raises(LocalProtocolError):
        client.request_binding(SERVER, 0.0)
    client.request_binding(("198.51.100.2", 3478), 0.0)  # another server is fine


def test_reflexive_address_is_the_majority_view() -> None:
    ids = iter(range(1, 100))
    client = StunAgent(random_bytes=lambda size: bytes([next(ids)]) * size)
    seen = {
        ("198.51.100.1", 1): CLIENT,
        ("198.51.100.2", 1): CLIENT,
        ("198.51.100.3", 1): ("203.0.113.5", 7),
    }
    for server, mapped in seen.items():
        transaction_id = client.request_binding(server, 0.0)
        reply = answer_request(binding_request(transaction_id), mapped)
        client.receive_datagram(reply.encode(), server, 0.1)
    assert client.reflexive_address() == CLIENT


# -- timers that sleep -------------------------------------------------------------------------
#
# The rule of `pacata.testing.timer_rule` for a STUN client: a deadline left in the past makes the
# node's event loop fire the timer back to back, sending the remaining retransmissions in a burst
# and burning a core. Hypothesis drives a client through transactions with two servers, answered,
# lost, refused (420), answered from another address or met with garbage, while the clock moves by
# small and large steps and the timer fires at its deadline and late, as a busy event loop would.

STUN_SERVERS = (SERVER, ("198.51.100.2", 3478))
stun_server = st.integers(0, len(STUN_SERVERS) - 1)
seconds = st.one_of(st.floats(0.0, 5.0), st.floats(5.0, 100_000.0))
stun_events = st.one_of(
    clock_events(seconds),
    st.tuples(st.just("request"), stun_server),
    st.tuples(st.just("answer"), st.integers(0, 30)),
    st.tuples(st.just("refuse"), st.integers(0, 30)),
    st.tuples(st.just("answer from elsewhere"), st.integers(0, 30)),
    st.tuples(st.just("lose"), st.integers(0, 30)),
    st.tuples(st.just("garbage"), stun_server, st.binary(max_size=40)),
)
retransmission_policies = st.builds(
    RetransmissionPolicy,
    rto=st.floats(0.01, 3.0),
    max_requests=st.integers(1, 8),
    last_wait_rtos=st.integers(1, 16),
)


class _StunDriver(TimerRuleDriver):
    """A client, the servers, the requests in flight and a manual clock."""

    def __init__(self, policy: RetransmissionPolicy, seed: int) -> None:
        self.client = StunAgent(random_bytes=random.Random(seed).randbytes, retransmission=policy)
        self.server = StunAgent()
        self.requests: list[tuple[bytes, tuple[str, int]]] = []

    def collect(self) -> list[tuple[bytes, tuple[str, int]]]:
        sent = self.client.datagrams_to_send()
        self.requests += sent
        while self.client.next_event() is not None:
            pass
        return sent

    def deadline(self, core: int) -> float | None:
        return self.client.get_timer()

    def run_timer(self, core: int) -> None:
        """Runs the client's timer and takes what it sends (delivering nothing), checking that
        it sent no burst: one datagram per transaction at most."""
        pending = self.client.pending()
        self.client.handle_timer(self.now)
        assert len(self.collect()) <= pending

    def core_name(self, core: int) -> str:
        return "the client"

    def answer(self, k: int, source: tuple[str, int] | None = None) -> None:
        request, server = self.requests.pop(k % len(self.requests))
        self.server.receive_datagram(request, CLIENT, self.now)
        for response, _ in self.server.datagrams_to_send():
            self.client.receive_datagram(response, source or server, self.now)

    def run(self, event: tuple[object, ...]) -> None:
        client = self.client
        if not self.run_clock_event(event):
            match event:
                case ("request", int(s)):
                    with contextlib.suppress(LocalProtocolError):  # ten outstanding already
                        client.request_binding(STUN_SERVERS[s], self.now)
                case ("answer", int(k)) if self.requests:
                    self.answer(k)
                case ("answer from elsewhere", int(k)) if self.requests:
                    self.answer(k, source=("203.0.113.9", 3478))
                case ("refuse", int(k)) if self.requests:
                    request, server = self.requests.pop(k % len(self.requests))
                    priority = StunAttribute(0x0024, bytes(4))  # unknown to the server: 420
                    message = StunMessage.decode(request)
                    refused = StunMessage(
                        MessageClass.REQUEST, Method.BINDING, message.transaction_id, (priority,)
                    )
                    answer = answer_request(refused, CLIENT).encode()
                    client.receive_datagram(answer, server, self.now)
                case ("lose", int(k)) if self.requests:
                    self.requests.pop(k % len(self.requests))
                case ("garbage", int(s), bytes(data)):
                    client.receive_datagram(data, STUN_SERVERS[s], self.now)
        self.collect()


@settings(max_examples=200, deadline=None)
@given(
    retransmission_policies, st.integers(0, 1000), st.lists(stun_events, min_size=5, max_size=40)
)
def test_the_stun_client_timer_sleeps_once_it_ran(
    policy: RetransmissionPolicy, seed: int, script: list[tuple[object, ...]]
) -> None:
    driver = _StunDriver(policy, seed)
    for event in script:
        driver.run(event)
    # Then silence: every transaction retransmits and fails, Rc wake-ups each at most.
    for _ in range(policy.max_requests * 10 * len(STUN_SERVERS)):
        driver.run(("timer at deadline",))
    assert driver.client.pending() == 0 and driver.client.get_timer() is None


@pytest.mark.parametrize(
    ("late", "deadline"),
    [
        (0.7, 1.5),  # before the next send on the schedule: the schedule holds
        (1.5, 2.5),  # at the next one: that is no longer ahead, so the gap from now
        (5.0, 6.0),  # past it: the gap between the two sends (1.5 - 0.5), from now
        (100.0, 101.0),  # past every send and the timeout: one send, then the same gap
    ],
)
def test_a_late_timer_sends_once_and_waits_the_schedule_gap(late: float, deadline: float) -> None:
    client = StunAgent(random_bytes=lambda size: TID)
    client.request_binding(SERVER, 0.0)
    client.datagrams_to_send()
    client.handle_timer(late)
    assert len(client.datagrams_to_send()) == 1
    assert client.get_timer() == deadline
    # The next late wake-up keeps the doubling: sends 3 and 4 are 2 and 4 RTOs apart.
    client.handle_timer(deadline + 0.25)
    assert len(client.datagrams_to_send()) == 1
    timer = client.get_timer()
    assert timer is not None and timer > deadline + 0.25
