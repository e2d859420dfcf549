"""The UDP port's classifier (pacata/p2p/udp_demux.py): each protocol's datagrams go to it, and
no datagram belongs to two protocols."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.p2p.dht_messages import DHT_MAGIC, DhtPacket, Ping, is_dht_datagram
from pacata.p2p.stun import MAGIC_COOKIE_BYTES, binding_request, is_stun
from pacata.p2p.udp_demux import DatagramKind, classify, is_wireguard
from pacata.vpn.wireguard.messages import classify_datagram


def test_each_protocol_is_recognised() -> None:
    stun = binding_request(bytes(12)).encode()
    dht = DhtPacket.signed(PrivateKey(sha256(b"demux")), bytes(8), Ping())
    initiation = b"\x01\x00\x00\x00" + bytes(144)
    transport = b"\x04\x00\x00\x00" + bytes(28)
    assert classify(stun) is DatagramKind.STUN
    assert classify(dht) is DatagramKind.DHT
    assert classify(initiation) is DatagramKind.WIREGUARD
    assert classify(transport) is DatagramKind.WIREGUARD
    assert classify(b"") is DatagramKind.OTHER
    assert classify(b"\x05\x00\x00\x00" + bytes(40)) is DatagramKind.OTHER


def test_a_stun_header_that_starts_like_wireguard_is_stun_only() -> None:
    # Found by benchmarks/fuzz.py: type 0x0400, a zero length and the magic cookie make a valid
    # 20-byte STUN message whose first four bytes are WireGuard's transport header; it was
    # claimed by both. WireGuard's smallest message is 32 bytes.
    datagram = bytes((4, 0, 0, 0)) + MAGIC_COOKIE_BYTES + bytes(12)
    assert is_stun(datagram)
    assert not is_wireguard(datagram)
    assert classify(datagram) is DatagramKind.STUN


@settings(max_examples=3_000)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(lambda tail: DHT_MAGIC + tail, st.binary(max_size=60)),
        st.builds(
            lambda kind, tail: bytes((kind, 0, 0, 0)) + tail,
            st.integers(0, 6),
            st.binary(max_size=160),
        ),
        st.builds(
            lambda kind, tail: bytes((kind, 0, 0, 0)) + MAGIC_COOKIE_BYTES + tail,
            st.integers(1, 4),
            st.one_of(st.binary(min_size=12, max_size=12), st.binary(max_size=40)),
        ),
        st.builds(
            lambda head, tail: head + len(tail).to_bytes(2, "big") + tail,
            st.binary(min_size=2, max_size=2),
            st.binary(max_size=60),
        ),
    )
)
def test_no_datagram_belongs_to_two_protocols(datagram: bytes) -> None:
    claims = [is_stun(datagram), is_dht_datagram(datagram), is_wireguard(datagram)]
    assert sum(claims) <= 1
    # What WireGuard itself accepts, the classifier sends its way.
    if classify_datagram(datagram) is not None:
        assert classify(datagram) is DatagramKind.WIREGUARD
