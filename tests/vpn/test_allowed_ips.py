"""Cryptokey routing table (pacata/vpn/allowed_ips.py): longest-prefix match for IPv4 and IPv6,
networks moving between peers, removal, and agreement with a brute-force reference."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.vpn.allowed_ips import AllowedIPs, parse_network

ALICE = b"a" * 32
BOB = b"b" * 32
CAROL = b"c" * 32


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def test_longest_prefix_wins() -> None:
    table = AllowedIPs()
    table.insert(parse_network("0.0.0.0/0"), ALICE)
    table.insert(parse_network("10.0.0.0/8"), BOB)
    table.insert(parse_network("10.1.2.3/32"), CAROL)
    assert table.lookup(packed("192.0.2.1")) == ALICE
    assert table.lookup(packed("10.9.9.9")) == BOB
    assert table.lookup(packed("10.1.2.3")) == CAROL
    assert table.lookup(packed("10.1.2.4")) == BOB


def test_ipv6_and_ipv4_are_separate() -> None:
    table = AllowedIPs()
    table.insert(parse_network("::/0"), ALICE)
    table.insert(parse_network("fd00::/8"), BOB)
    assert table.lookup(packed("fd12::1")) == BOB
    assert table.lookup(packed("2001:db8::1")) == ALICE
    assert table.lookup(packed("10.0.0.1")) is None


def test_host_bits_are_cleared_and_a_network_moves_to_its_new_peer() -> None:
    table = AllowedIPs()
    table.insert(parse_network("10.0.0.77/24"), ALICE)
    assert table.networks_of(ALICE) == [ipaddress.ip_network("10.0.0.0/24")]
    table.insert(parse_network("10.0.0.0/24"), BOB)
    assert table.networks_of(ALICE) == []
    assert table.lookup(packed("10.0.0.1")) == BOB


def test_remove_peer_and_cache_invalidation() -> None:
    table = AllowedIPs()
    table.insert(parse_network("10.0.0.0/24"), ALICE)
    table.insert(parse_network("10.0.1.0/24"), ALICE)
    table.insert(parse_network("10.0.0.0/16"), BOB)
    assert table.lookup(packed("10.0.0.5")) == ALICE  # now cached
    table.remove_peer(ALICE)
    assert table.lookup(packed("10.0.0.5")) == BOB
    table.remove(parse_network("10.0.0.0/16"))
    table.remove(parse_network("10.0.0.0/16"))  # absent: no error
    assert table.lookup(packed("10.0.0.5")) is None
    assert len(table) == 0


def test_malformed_addresses_have_no_owner() -> None:
    table = AllowedIPs()
    table.insert(parse_network("0.0.0.0/0"), ALICE)
    assert table.lookup(b"") is None
    assert table.lookup(b"\x01\x02\x03") is None


networks = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(0, 32), st.sampled_from([ALICE, BOB, CAROL])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(networks, max_size=20), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_agrees_with_brute_force(entries: list[tuple[int, int, bytes]], probes: list[int]) -> None:
    table = AllowedIPs()
    reference: dict[ipaddress.IPv4Network, bytes] = {}
    for address, length, peer in entries:
        network = ipaddress.ip_network((address, length), strict=False)
        table.insert(network, peer)
        reference[network] = peer
    for probe in probes + [address for address, _, _ in entries]:
        address = ipaddress.IPv4Address(probe)
        matches = [network for network in reference if address in network]
        expected = reference[max(matches, key=lambda n: n.prefixlen)] if matches else None
        assert table.lookup(address.packed) == expected
