"""The userspace engine (pacata/vpn/io/engine.py) without root: two engines on loopback UDP,
each with a socket pair standing in for its TUN. Covers forwarding both ways, cryptokey routing
(destination lookup, inner source check), the dispatch hook for other protocols on the shared
socket, garbage from the network and from the TUN, configuration semantics, counters, the
timer thread (persistent keepalive) and the interface going away."""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pacata.testing.netns_lab import wait_until
from pacata.testing.tun import SocketPairTun, ipv4_tcp
from pacata.testing.wireguard import ipv4_packet
from pacata.vpn.config import NO_KEY, InterfaceChange, PeerChange
from pacata.vpn.io.engine import EngineOptions, UserspaceEngine
from pacata.vpn.offload import (
    EMPTY_VIRTIO_NET_HEADER,
    GSO_TCPV4,
    NEEDS_CSUM,
    VIRTIO_NET_HEADER,
    VIRTIO_NET_HEADER_SIZE,
    complete_checksum,
    split_for_sending,
)
from pacata.vpn.uapi import ConfigurationError
from pacata.vpn.wireguard import Device, DropReason, x25519_public_key

TIMEOUT = 10.0


@dataclass
class Node:
    engine: UserspaceEngine
    tun: SocketPairTun
    private_key: bytes
    address: str

    @property
    def public_key(self) -> bytes:
        return x25519_public_key(self.private_key)

    @property
    def endpoint(self) -> tuple[str, int]:
        return ("127.0.0.1", self.engine.listen_port)


def make_node(name: str, address: str, *, vnet_header: bool = False, data_threads: int = 1) -> Node:
    tun = SocketPairTun(name, vnet_header=vnet_header)
    engine = UserspaceEngine(tun.device, options=EngineOptions(data_threads=data_threads))
    node = Node(engine, tun, os.urandom(32), address)
    engine.apply(InterfaceChange(private_key=node.private_key))
    engine.start()
    return node


def peer_change(node: Node, **overrides: object) -> PeerChange:
    fields: dict[str, object] = {
        "public_key": node.public_key,
        "endpoint": node.endpoint,
        "allowed_ips": (ipaddress.ip_network(f"{node.address}/32"),),
    }
    fields.update(overrides)
    return PeerChange(**fields)  # type: ignore[arg-type]


def connected_pair(*, vnet_header: bool, data_threads: int) -> Iterator[tuple[Node, Node]]:
    alice = make_node("fake-a", "10.0.0.1", vnet_header=vnet_header, data_threads=data_threads)
    bob = make_node("fake-b", "10.0.0.2", vnet_header=vnet_header, data_threads=data_threads)
    try:
        alice.engine.apply(InterfaceChange(peers=(peer_change(bob),)))
        bob.engine.apply(InterfaceChange(peers=(peer_change(alice),)))
        yield alice, bob
    finally:
        for node in (alice, bob):
            node.engine.close()
            node.tun.close()


# Every test of a pair runs with one data thread (the default) and with one per direction.
@pytest.fixture(params=[1, 2], ids=["one-data-thread", "thread-per-direction"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Node, Node]]:
    yield from connected_pair(vnet_header=False, data_threads=request.param)


@pytest.fixture(params=[1, 2], ids=["one-data-thread", "thread-per-direction"])
def offload_pair(request: pytest.FixtureRequest) -> Iterator[tuple[Node, Node]]:
    """Engines whose TUN reads and writes carry virtio-net headers, as with offloads on."""
    yield from connected_pair(vnet_header=True, data_threads=request.param)


def test_packets_cross_both_ways(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    first = ipv4_packet(b"ping", "10.0.0.1", "10.0.0.2")
    alice.tun.inject(first)
    assert bob.tun.delivered() == first
    reply = ipv4_packet(b"pong" * 300, "10.0.0.2", "10.0.0.1")
    bob.tun.inject(reply)
    assert alice.tun.delivered() == reply
    for index in range(50):
        alice.tun.inject(ipv4_packet(index.to_bytes(2, "big") * 500, "10.0.0.1", "10.0.0.2"))
    received = [bob.tun.delivered() for _ in range(50)]
    assert [packet[20:22] for packet in received] == [i.to_bytes(2, "big") for i in range(50)]
    status = alice.engine.status()
    (peer,) = status.peers
    assert peer.public_key == bob.public_key
    assert peer.tx_bytes > 50 * 1000 and peer.rx_bytes > 0
    assert peer.last_handshake_time is not None
    assert status.listen_port == alice.engine.listen_port
    assert alice.engine.counters.handshakes == 1


def test_inner_source_must_belong_to_the_peer(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    alice.tun.inject(ipv4_packet(b"hello", "10.0.0.1", "10.0.0.2"))
    bob.tun.delivered()
    spoofed = ipv4_packet(b"spoofed", "10.0.0.99", "10.0.0.2")
    alice.tun.inject(spoofed)
    wait_until(
        lambda: bob.engine.counters.drops["source address not allowed for the peer"] == 1,
        TIMEOUT,
        "the spoofed packet to be dropped",
    )
    assert bob.tun.nothing_delivered()


def test_a_destination_without_peer_is_dropped(pair: tuple[Node, Node]) -> None:
    alice, _ = pair
    alice.tun.inject(ipv4_packet(b"lost", "10.0.0.1", "192.0.2.55"))
    alice.tun.inject(b"\x00not an IP packet")
    wait_until(
        lambda: (
            alice.engine.counters.drops["no peer for the destination"] == 1
            and alice.engine.counters.drops["not an IP packet"] == 1
        ),
        TIMEOUT,
        "both drops",
    )


def test_other_protocols_share_the_socket_through_the_dispatch_hook(
    pair: tuple[Node, Node],
) -> None:
    alice, bob = pair
    received: list[tuple[bytes, tuple[str, int]]] = []
    arrived = threading.Event()

    def on_datagram(data: bytes, source: tuple[str, int]) -> None:
        received.append((data, source))
        arrived.set()

    alice.engine.set_datagram_handler(on_datagram)
    stun = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stun.settimeout(TIMEOUT)
    try:
        stun.bind(("127.0.0.1", 0))
        # Looks like WireGuard but fails its MAC: the device's, not the hook's.
        stun.sendto(b"\x01\x00\x00\x00" + bytes(144), alice.endpoint)
        stun.sendto(b"\x00\x01\x00\x00binding request", alice.endpoint)
        assert arrived.wait(TIMEOUT)
        assert received == [(b"\x00\x01\x00\x00binding request", stun.getsockname())]
        alice.engine.send_datagram(b"binding response", stun.getsockname())
        assert stun.recvfrom(100) == (b"binding response", alice.endpoint)
    finally:
        stun.close()
    # WireGuard still flows after all that.
    alice.tun.inject(ipv4_packet(b"after", "10.0.0.1", "10.0.0.2"))
    assert bob.tun.delivered()[20:] == b"after"


def test_a_failing_dispatch_hook_does_not_stop_the_engine(pair: tuple[Node, Node]) -> None:
    alice, bob = pair

    def broken(data: bytes, source: tuple[str, int]) -> None:
        raise RuntimeError("a bug in another protocol")

    alice.engine.set_datagram_handler(broken)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.sendto(b"something else", alice.endpoint)
    alice.tun.inject(ipv4_packet(b"still here", "10.0.0.1", "10.0.0.2"))
    assert bob.tun.delivered()[20:] == b"still here"


def test_garbage_from_the_network_and_the_tun_never_stops_it(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    alice.tun.inject(ipv4_packet(b"hello", "10.0.0.1", "10.0.0.2"))
    bob.tun.delivered()
    chaos = random.Random(1234)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        for _ in range(2000):
            kind = chaos.choice([b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"])
            size = chaos.choice([148, 92, 64, 32, 33, 200, 1500, chaos.randrange(0, 1600)])
            body = kind + b"\x00\x00\x00" + chaos.randbytes(max(0, size - 4))
            attacker.sendto(body[:size], bob.endpoint)
    for _ in range(200):
        alice.tun.inject(chaos.randbytes(chaos.randrange(1, 200)))
    alice.tun.inject(ipv4_packet(b"survived", "10.0.0.1", "10.0.0.2"))
    while bob.tun.delivered()[20:] != b"survived":
        pass  # random bytes that happened to look like IPv4 to 10.0.0.2 may arrive first
    device = bob.engine.device
    assert device is not None and sum(device.drops.values()) > 0
    assert not bob.engine.stopped and not alice.engine.stopped


def test_virtio_net_headers_on_the_tun(offload_pair: tuple[Node, Node]) -> None:
    alice, bob = offload_pair
    # A lone packet read as it is: sealed on the fast path, written with an empty header.
    plain = ipv4_packet(b"ping", "10.0.0.1", "10.0.0.2")
    alice.tun.inject(EMPTY_VIRTIO_NET_HEADER + plain)
    assert bob.tun.delivered() == EMPTY_VIRTIO_NET_HEADER + plain
    # A lone packet whose checksum the kernel left to finish: finished before sealing.
    payload = b"finish my checksum"
    udp = struct.pack("!HHHH", 1000, 53, 8 + len(payload), 0) + payload
    ip = ipv4_packet(udp, "10.0.0.1", "10.0.0.2")[:20]
    ip = ip[:9] + b"\x11" + ip[10:]
    pseudo = (0x0A00 + 0x0001 + 0x0A00 + 0x0002 + 17 + len(udp)) % 0xFFFF
    partial = ip + udp[:6] + struct.pack("!H", pseudo) + udp[8:]
    alice.tun.inject(VIRTIO_NET_HEADER.pack(NEEDS_CSUM, 0, 0, 0, 20, 6) + partial)
    arrived = bob.tun.delivered()
    assert arrived[:VIRTIO_NET_HEADER_SIZE] == EMPTY_VIRTIO_NET_HEADER
    assert arrived[VIRTIO_NET_HEADER_SIZE:] == complete_checksum(partial, 20, 6)
    assert arrived[-len(payload) :] == payload and arrived[-len(payload) - 2 :][:2] != b"\0\0"
    # A TCP super-packet: cut into segments, sent, coalesced again into one write.
    stream = os.urandom(5000)
    gso = VIRTIO_NET_HEADER.pack(NEEDS_CSUM, GSO_TCPV4, 52, 1400, 20, 16)
    alice.tun.inject(gso + ipv4_tcp(stream))
    segments = split_for_sending(bob.tun.delivered())
    assert len(segments) == 4
    assert b"".join(segment[52:] for segment in segments) == stream
    # Malformed reads are counted and dropped; the next packet still goes through.
    for malformed in (b"\0\0\0", bytes(VIRTIO_NET_HEADER_SIZE),
                      VIRTIO_NET_HEADER.pack(0, 3, 0, 1000, 20, 6) + plain):  # fmt: skip
        alice.tun.inject(malformed)
    wait_until(
        lambda: alice.engine.counters.drops["malformed packet from the TUN"] == 3,
        TIMEOUT,
        "three malformed reads to be counted",
    )
    alice.tun.inject(EMPTY_VIRTIO_NET_HEADER + plain)
    assert bob.tun.delivered() == EMPTY_VIRTIO_NET_HEADER + plain
    assert not alice.engine.stopped and not bob.engine.stopped


def test_configuration_semantics(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    engine = alice.engine
    carol = x25519_public_key(os.urandom(32))
    net = ipaddress.ip_network
    engine.apply(
        InterfaceChange(
            peers=(
                PeerChange(carol, allowed_ips=(net("10.1.0.0/16"),), persistent_keepalive=0),
                PeerChange(x25519_public_key(os.urandom(32)), update_only=True),
                PeerChange(alice.public_key, allowed_ips=(net("10.9.0.0/16"),)),  # ourselves
            )
        )
    )
    status = engine.status()
    assert [peer.public_key for peer in status.peers] == [bob.public_key, carol]
    engine.apply(
        InterfaceChange(
            peers=(
                PeerChange(carol, replace_allowed_ips=True, allowed_ips=(net("10.2.0.0/16"),)),
                PeerChange(bob.public_key, allowed_ips=(net("10.1.0.0/16"),)),
            )
        )
    )
    status = engine.status()
    bob_status, carol_status = status.peers
    assert carol_status.allowed_ips == (net("10.2.0.0/16"),)
    assert bob_status.allowed_ips == (net("10.0.0.2/32"), net("10.1.0.0/16"))
    engine.apply(InterfaceChange(peers=(PeerChange(carol, remove=True),)))
    assert len(engine.status().peers) == 1
    engine.apply(InterfaceChange(replace_peers=True, peers=(PeerChange(carol),)))
    assert [peer.public_key for peer in engine.status().peers] == [carol]
    engine.apply(InterfaceChange(fwmark=0))
    engine.apply(InterfaceChange(private_key=NO_KEY))
    status = engine.status()
    assert status.private_key is None and status.public_key is None and len(status.peers) == 1


def test_a_new_private_key_keeps_peers_and_counters(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    alice.tun.inject(ipv4_packet(b"count me", "10.0.0.1", "10.0.0.2"))
    bob.tun.delivered()
    before = alice.engine.status().peers[0]
    new_key = os.urandom(32)
    alice.engine.apply(InterfaceChange(private_key=new_key))
    after = alice.engine.status()
    assert after.public_key == x25519_public_key(new_key)
    assert after.peers[0].tx_bytes == before.tx_bytes
    # Bob learns the new key; traffic resumes with a new handshake.
    bob.engine.apply(
        InterfaceChange(
            replace_peers=True,
            peers=(
                PeerChange(
                    x25519_public_key(new_key),
                    endpoint=alice.endpoint,
                    allowed_ips=(ipaddress.ip_network("10.0.0.1/32"),),
                ),
            ),
        )
    )
    alice.tun.inject(ipv4_packet(b"new key", "10.0.0.1", "10.0.0.2"))
    assert bob.tun.delivered()[20:] == b"new key"


def test_listen_port_rebinds_and_refuses_a_taken_port(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as taken:
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        taken.bind(("::", 0))
        with pytest.raises(ConfigurationError) as caught:
            alice.engine.apply(InterfaceChange(listen_port=taken.getsockname()[1]))
        assert caught.value.code == errno.EADDRINUSE
    old_port = alice.engine.listen_port
    alice.engine.apply(InterfaceChange(listen_port=0 if old_port != 0 else 1))
    new_port = alice.engine.listen_port
    assert new_port != old_port
    alice.tun.inject(ipv4_packet(b"from the new port", "10.0.0.1", "10.0.0.2"))
    assert bob.tun.delivered()[20:] == b"from the new port"
    # Bob roamed to the new source port; his replies reach the rebound socket.
    bob.tun.inject(ipv4_packet(b"back", "10.0.0.2", "10.0.0.1"))
    assert alice.tun.delivered()[20:] == b"back"
    assert bob.engine.status().peers[0].endpoint == ("127.0.0.1", new_port)
    # Idle after the rebind, the data threads sleep: the closed socket must not stay in a
    # poll set (a regression: POLLNVAL on the old descriptor made it spin).
    data_threads = [t for t in alice.engine._threads if not t.name.endswith("-timers")]
    assert len(data_threads) == alice.engine.options.data_threads
    before = [thread_cpu_seconds(thread.native_id) for thread in data_threads]
    threading.Event().wait(0.5)  # a measurement window, not a wait for anything
    for thread, spent in zip(data_threads, before, strict=True):
        assert thread_cpu_seconds(thread.native_id) - spent < 0.2, thread.name


def thread_cpu_seconds(native_id: int | None) -> float:
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_persistent_keepalive_runs_on_the_timer_thread(pair: tuple[Node, Node]) -> None:
    alice, bob = pair
    alice.engine.apply(InterfaceChange(peers=(PeerChange(bob.public_key, persistent_keepalive=1),)))
    # Configuring it sends a first keepalive (which needs a handshake) at once, then one a second.
    wait_until(lambda: bob.engine.counters.handshakes == 1, TIMEOUT, "the handshake")
    received = bob.engine.status().peers[0].rx_bytes
    wait_until(
        lambda: bob.engine.status().peers[0].rx_bytes >= received + 32,
        TIMEOUT,
        "a persistent keepalive",
    )
    assert bob.tun.nothing_delivered(0.05)  # keepalives are not packets


@pytest.mark.parametrize("data_threads", [1, 2])
def test_the_interface_going_away_stops_the_engine(data_threads: int) -> None:
    tun = SocketPairTun("fake-gone")
    gone = threading.Event()
    engine = UserspaceEngine(
        tun.device, options=EngineOptions(data_threads=data_threads), on_closed=gone.set
    )
    engine.start()
    try:
        tun.host_end.close()
        assert gone.wait(TIMEOUT)
        assert engine.stopped
    finally:
        engine.close()
        tun.device.close()


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_ipv6_endpoints_and_inner_ipv6_packets() -> None:
    alice = make_node("fake6-a", "fd00::1")
    bob = make_node("fake6-b", "fd00::2")
    net = ipaddress.ip_network
    try:
        for node, peer in ((alice, bob), (bob, alice)):
            node.engine.apply(
                InterfaceChange(
                    peers=(
                        PeerChange(
                            peer.public_key,
                            endpoint=("::1", peer.engine.listen_port),
                            allowed_ips=(net(f"{peer.address}/128"),),
                        ),
                    )
                )
            )
        header = struct.pack(
            "!IHBB16s16s",
            6 << 28,
            5,
            17,
            64,
            ipaddress.ip_address("fd00::1").packed,
            ipaddress.ip_address("fd00::2").packed,
        )
        alice.tun.inject(header + b"hello")
        assert bob.tun.delivered() == header + b"hello"
        assert bob.engine.status().peers[0].endpoint == ("::1", alice.engine.listen_port)
    finally:
        for node in (alice, bob):
            node.engine.close()
            node.tun.close()


def test_a_handshake_flood_is_answered_with_cookies() -> None:
    tun = SocketPairTun("fake-flood")
    engine = UserspaceEngine(tun.device, options=EngineOptions(under_load_handshakes_per_second=5))
    engine.apply(InterfaceChange(private_key=os.urandom(32)))
    engine.start()
    status = engine.status()
    assert status.public_key is not None
    target = ("127.0.0.1", engine.listen_port)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flooder:
            flooder.bind(("127.0.0.1", 0))
            flooder.settimeout(TIMEOUT)
            # Initiations with a valid mac1 (the flooder knows our public key), each from a
            # fresh identity: every one would cost us a Diffie-Hellman.
            for _ in range(40):
                attacker = Device(os.urandom(32))
                attacker.add_peer(status.public_key, endpoint=target)
                attacker.send_packet(status.public_key, ipv4_packet(b"x"), 1.0, 1_700_000_000.0)
                ((initiation, _),) = attacker.datagrams_to_send()
                flooder.sendto(initiation, target)
            reply, _ = flooder.recvfrom(2048)
            assert reply[:4] == b"\x03\x00\x00\x00" and len(reply) == 64  # a cookie reply
        device = engine.device
        assert device is not None
        wait_until(
            lambda: device.drops[DropReason.COOKIE_REQUIRED] > 0,
            TIMEOUT,
            "handshakes to be refused without a cookie",
        )
    finally:
        engine.close()
        tun.close()


def test_a_pinned_key_and_port_refuse_changes_but_peers_still_apply(
    pair: tuple[Node, Node],
) -> None:
    # As pacatad pins them: its record advertises both, and its other protocols share the port.
    alice, bob = pair
    port = alice.engine.listen_port
    alice.engine.pin_identity("pacatad")
    for change in (
        InterfaceChange(listen_port=port + 1 if port < 65535 else port - 1),
        InterfaceChange(private_key=os.urandom(32)),
        InterfaceChange(private_key=NO_KEY),
    ):
        with pytest.raises(ConfigurationError, match="are pacatad's") as caught:
            alice.engine.apply(change)
        assert caught.value.code == errno.EPERM
    assert alice.engine.listen_port == port
    assert alice.engine.status().private_key == alice.private_key
    # The same values, and everything else, still apply.
    alice.engine.apply(InterfaceChange(private_key=alice.private_key, listen_port=port))
    alice.engine.apply(InterfaceChange(peers=(peer_change(bob, persistent_keepalive=25),)))
    alice.tun.inject(ipv4_packet(b"still up", "10.0.0.1", "10.0.0.2"))
    assert bob.tun.delivered()[20:] == b"still up"


def test_an_engine_made_on_a_port_listens_there() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tun, second = SocketPairTun("fake-port"), SocketPairTun("fake-taken")
    engine = UserspaceEngine(tun.device, port=port)
    try:
        assert engine.listen_port == port
        with pytest.raises(OSError) as caught:
            UserspaceEngine(second.device, port=port)
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        engine.close()
        tun.close()
        second.close()
