"""The cross-platform configuration protocol (pacata/vpn/uapi.py): every key `wg` sends,
the errors it must refuse, and the `get` reply in the form `wg` parses."""

from __future__ import annotations

import errno
import ipaddress

import pytest

from pacata.vpn.config import InterfaceStatus, PeerStatus
from pacata.vpn.uapi import (
    ConfigurationError,
    errno_line,
    format_endpoint,
    format_status,
    parse_endpoint,
    parse_set,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
KEY_C = bytes(range(64, 96))


def test_parse_set_with_every_key() -> None:
    change = parse_set(
        [
            f"private_key={KEY_A.hex()}",
            "listen_port=51820",
            "fwmark=4660",
            "replace_peers=true",
            f"public_key={KEY_B.hex()}",
            f"preshared_key={KEY_C.hex()}",
            "endpoint=192.0.2.7:1234",
            "persistent_keepalive_interval=25",
            "replace_allowed_ips=true",
            "allowed_ip=10.0.0.0/24",
            "allowed_ip=fd00::1/128",
            "protocol_version=1",
            f"public_key={KEY_C.hex()}",
            "remove=true",
            f"public_key={KEY_A.hex()}",
            "update_only=true",
            "endpoint=[2001:db8::5]:51820",
        ]
    )
    assert change.private_key == KEY_A
    assert change.listen_port == 51820
    assert change.fwmark == 4660
    assert change.replace_peers
    first, second, third = change.peers
    assert first.public_key == KEY_B
    assert first.preshared_key == KEY_C
    assert first.endpoint == ("192.0.2.7", 1234)
    assert first.persistent_keepalive == 25
    assert first.replace_allowed_ips
    assert first.allowed_ips == (
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("fd00::1/128"),
    )
    assert second.public_key == KEY_C and second.remove
    assert third.update_only and third.endpoint == ("2001:db8::5", 51820)


def test_an_empty_set_changes_nothing() -> None:
    change = parse_set([])
    assert change.private_key is None and change.listen_port is None and not change.peers


@pytest.mark.parametrize(
    "lines",
    [
        ["bogus=1"],
        ["private_key=00"],
        [f"private_key={'zz' * 32}"],
        ["listen_port=65536"],
        ["listen_port=-1"],
        ["fwmark=4294967296"],
        ["replace_peers=false"],
        ["no equals sign"],
        [f"public_key={KEY_A.hex()}", "private_key=" + KEY_B.hex()],
        [f"public_key={KEY_A.hex()}", "endpoint=example.com:1"],
        [f"public_key={KEY_A.hex()}", "endpoint=192.0.2.1"],
        [f"public_key={KEY_A.hex()}", "allowed_ip=10.0.0.0"],
        [f"public_key={KEY_A.hex()}", "allowed_ip=10.0.0.0/33"],
        [f"public_key={KEY_A.hex()}", "protocol_version=2"],
        [f"public_key={KEY_A.hex()}", "persistent_keepalive_interval=70000"],
        [f"public_key={KEY_A.hex()}", "remove=yes"],
        [f"public_key={KEY_A.hex()}", "unknown_peer_key=1"],
    ],
)
def test_malformed_set_is_einval(lines: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_set(lines)
    assert caught.value.code == errno.EINVAL


def test_endpoints_round_trip() -> None:
    for text in ("192.0.2.1:51820", "[2001:db8::1]:7"):
        assert format_endpoint(parse_endpoint(text)) == text


def test_errno_line_is_negative_like_wireguard_go() -> None:
    assert errno_line(0) == "errno=0\n\n"
    assert errno_line(errno.EINVAL) == f"errno=-{errno.EINVAL}\n\n"


def test_format_status_in_wg_order() -> None:
    status = InterfaceStatus(
        private_key=KEY_A,
        public_key=KEY_B,
        listen_port=51820,
        fwmark=0,
        peers=(
            PeerStatus(
                public_key=KEY_C,
                endpoint=("2001:db8::1", 51820),
                persistent_keepalive=25,
                allowed_ips=(ipaddress.ip_network("10.0.0.0/24"),),
                last_handshake_time=1_700_000_000.25,
                rx_bytes=10,
                tx_bytes=20,
            ),
        ),
    )
    assert format_status(status).splitlines() == [
        f"private_key={KEY_A.hex()}",
        "listen_port=51820",
        f"public_key={KEY_C.hex()}",
        f"preshared_key={bytes(32).hex()}",
        "protocol_version=1",
        "endpoint=[2001:db8::1]:51820",
        "last_handshake_time_sec=1700000000",
        "last_handshake_time_nsec=250000000",
        "tx_bytes=20",
        "rx_bytes=10",
        "persistent_keepalive_interval=25",
        "allowed_ip=10.0.0.0/24",
    ]


def test_format_status_of_an_unconfigured_interface_is_empty() -> None:
    assert format_status(InterfaceStatus()) == ""
