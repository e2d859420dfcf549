"""The cross-platform userspace configuration protocol of WireGuard ("UAPI"), sans-I/O.

This is what the stock `wg` tool speaks to wireguard-go over `/var/run/wireguard/<iface>.sock`
(https://www.wireguard.com/xplatform/); our userspace engine serves it too, so `wg set`,
`wg show` and `wg showconf` work on it unchanged. A request is an operation line, `get=1` or
`set=1`, then `key=value` lines, then an empty line; every reply ends with `errno=N` and an empty
line, N being 0 or a negative errno (wireguard-go's convention: `errno=-22` for EINVAL).

- `get=1` is answered with the interface's keys (`private_key`, `listen_port`, `fwmark`), then
  for each peer `public_key` followed by its keys, counters and `allowed_ip` lines
  (`format_status`).
- `set=1` carries interface keys, then peers, each starting at its `public_key` line
  (`parse_set` → `InterfaceChange`). Keys are lowercase hex; booleans are only ever `true`.

Rules: the whole request is parsed before anything is applied, so a malformed `set` changes
nothing; any unknown key, malformed value or interface key inside a peer section is EINVAL;
`protocol_version` must be 1. This module never touches a socket: `pacata/vpn/io/uapi_server.py`
does that.
"""

from __future__ import annotations

import errno
import ipaddress
import math

from pacata.errors import PacataError
from pacata.vpn.allowed_ips import IPNetwork, parse_network
from pacata.vpn.config import KEY_SIZE, InterfaceChange, InterfaceStatus, PeerChange
from pacata.vpn.wireguard.events import Address

GET = "get=1"
SET = "set=1"
PROTOCOL_VERSION = 1
MAX_LINE = 4096
MAX_LINES = 1_000_000


class ConfigurationError(PacataError):
    """A configuration request that cannot be applied; `code` is the errno for the reply."""

    def __init__(self, message: str, code: int = errno.EINVAL) -> None:
        super().__init__(message)
        self.code = code


def errno_line(code: int) -> str:
    """The closing line of every reply: `errno=0`, or the negated errno of a failure."""
    return f"errno={-abs(code)}\n\n"


def parse_key(text: str) -> bytes:
    """A 32-byte key from 64 hex digits (the protocol's only key form)."""
    if len(text) != 2 * KEY_SIZE:
        raise ConfigurationError(f"a key is {2 * KEY_SIZE} hex digits, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError("a key must be hex") from None


def parse_endpoint(text: str) -> Address:
    """`198.51.100.1:51820` or `[2001:db8::1]:51820` → (host, port); numeric hosts only."""
    if text.startswith("["):
        host, separator, port_text = text[1:].partition("]:")
    else:
        host, separator, port_text = text.rpartition(":")
    if not separator:
        raise ConfigurationError(f"endpoint {text!r} is not host:port")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(f"endpoint host {host!r} is not an IP address") from None
    return str(address), _parse_int(port_text, 0xFFFF, "endpoint port")


def format_endpoint(endpoint: Address) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_int(text: str, maximum: int, what: str) -> int:
    if not text.isdigit():
        raise ConfigurationError(f"{what} must be a decimal number, got {text!r}")
    value = int(text)
    if value > maximum:
        raise ConfigurationError(f"{what} must be at most {maximum}, got {value}")
    return value


def _parse_true(text: str, what: str) -> bool:
    if text != "true":
        raise ConfigurationError(f"{what} only takes 'true', got {text!r}")
    return True


def _parse_allowed_ip(text: str) -> IPNetwork:
    if "/" not in text:
        raise ConfigurationError(f"allowed_ip {text!r} has no prefix length")
    try:
        return parse_network(text)
    except ValueError as error:
        raise ConfigurationError(f"allowed_ip {text!r}: {error}") from None


class _PeerBuilder:
    """Collects one peer section of a `set` request."""

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key
        self.remove = False
        self.update_only = False
        self.preshared_key: bytes | None = None
        self.endpoint: Address | None = None
        self.persistent_keepalive: int | None = None
        self.replace_allowed_ips = False
        self.allowed_ips: list[IPNetwork] = []

    def take(self, key: str, value: str) -> None:
        if key == "remove":
            self.remove = _parse_true(value, key)
        elif key == "update_only":
            self.update_only = _parse_true(value, key)
        elif key == "preshared_key":
            self.preshared_key = parse_key(value)
        elif key == "endpoint":
            self.endpoint = parse_endpoint(value)
        elif key == "persistent_keepalive_interval":
            self.persistent_keepalive = _parse_int(value, 0xFFFF, key)
        elif key == "replace_allowed_ips":
            self.replace_allowed_ips = _parse_true(value, key)
        elif key == "allowed_ip":
            self.allowed_ips.append(_parse_allowed_ip(value))
        elif key == "protocol_version":
            if value != str(PROTOCOL_VERSION):
                raise ConfigurationError(f"protocol_version {value!r} is not supported")
        else:
            raise ConfigurationError(f"unknown peer key {key!r}")

    def build(self) -> PeerChange:
        return PeerChange(
            public_key=self.public_key,
            remove=self.remove,
            update_only=self.update_only,
            preshared_key=self.preshared_key,
            endpoint=self.endpoint,
            persistent_keepalive=self.persistent_keepalive,
            replace_allowed_ips=self.replace_allowed_ips,
            allowed_ips=tuple(self.allowed_ips),
        )


def parse_set(lines: list[str]) -> InterfaceChange:
    """The change carried by the `key=value` lines of a `set=1` request (without the operation
    line and the closing empty line). Raises `ConfigurationError`."""
    private_key: bytes | None = None
    listen_port: int | None = None
    fwmark: int | None = None
    replace_peers = False
    peers: list[_PeerBuilder] = []
    for line in lines:
        key, separator, value = line.partition("=")
        if not separator:
            raise ConfigurationError(f"line {line!r} is not key=value")
        if key == "public_key":
            peers.append(_PeerBuilder(parse_key(value)))
        elif peers:
            peers[-1].take(key, value)
        elif key == "private_key":
            private_key = parse_key(value)
        elif key == "listen_port":
            listen_port = _parse_int(value, 0xFFFF, key)
        elif key == "fwmark":
            fwmark = _parse_int(value, 0xFFFFFFFF, key)
        elif key == "replace_peers":
            replace_peers = _parse_true(value, key)
        else:
            raise ConfigurationError(f"unknown interface key {key!r}")
    return InterfaceChange(
        private_key=private_key,
        listen_port=listen_port,
        fwmark=fwmark,
        replace_peers=replace_peers,
        peers=tuple(peer.build() for peer in peers),
    )


def format_status(status: InterfaceStatus) -> str:
    """The body of the reply to `get=1`, without the closing `errno=0` line."""
    lines: list[str] = []
    if status.private_key is not None:
        lines.append(f"private_key={status.private_key.hex()}")
    if status.listen_port:
        lines.append(f"listen_port={status.listen_port}")
    if status.fwmark:
        lines.append(f"fwmark={status.fwmark}")
    for peer in status.peers:
        lines.append(f"public_key={peer.public_key.hex()}")
        lines.append(f"preshared_key={peer.preshared_key.hex()}")
        lines.append(f"protocol_version={PROTOCOL_VERSION}")
        if peer.endpoint is not None:
            lines.append(f"endpoint={format_endpoint(peer.endpoint)}")
        handshake = peer.last_handshake_time
        seconds, nanoseconds = 0, 0
        if handshake is not None:
            seconds = math.floor(handshake)
            nanoseconds = min(int((handshake - seconds) * 1e9), 999_999_999)
        lines.append(f"last_handshake_time_sec={seconds}")
        lines.append(f"last_handshake_time_nsec={nanoseconds}")
        lines.append(f"tx_bytes={peer.tx_bytes}")
        lines.append(f"rx_bytes={peer.rx_bytes}")
        lines.append(f"persistent_keepalive_interval={peer.persistent_keepalive}")
        lines.extend(f"allowed_ip={network}" for network in peer.allowed_ips)
    return "".join(line + "\n" for line in lines)
