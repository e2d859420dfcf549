"""mac1, mac2 and cookie replies: WireGuard's DoS mitigation (whitepaper §5.3, §5.4.4, §5.4.7).

Two sides:

- `CookieChecker` is the receiver of handshake messages (one per device). It checks mac1, always,
  with key HASH(LABEL_MAC1 ‖ our static public key). Under load it also checks mac2 against the
  cookie of the sender's address, MAC(secret, address), and answers a message without a valid
  mac2 by a `CookieReply` that seals the cookie with XAEAD under HASH(LABEL_COOKIE ‖ our static
  public key), using the triggering message's mac1 as associated data. The secret is random and
  replaced once it is `cookie_refresh_time` old.
- `PeerCookie` is the sender's state for one peer. It stamps mac1 (key from the peer's public key)
  and, while it holds a cookie younger than `cookie_refresh_time - cookie_latency`, mac2 on every
  handshake message it sends; it accepts a cookie reply only if it opens under the last mac1 sent,
  and only once per mac1 sent.

Rules: comparisons of MACs are constant-time; nothing here reads a clock (`now` is passed in)
or draws randomness except through the injected `random_bytes`.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from enum import Enum

from pacata.errors import HandshakeError
from pacata.vpn.wireguard.events import Address
from pacata.vpn.wireguard.messages import CookieReply
from pacata.vpn.wireguard.parameters import ProtocolParameters
from pacata.vpn.wireguard.primitives import (
    KEY_SIZE,
    MAC_SIZE,
    XNONCE_SIZE,
    blake2s_hash,
    blake2s_mac,
    xaead_open,
    xaead_seal,
)

LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"
_ZERO_MAC = bytes(MAC_SIZE)


def address_bytes(address: Address) -> bytes:
    """The bytes a cookie is computed over: packed IP address then big-endian port.

    Only the responder ever computes a cookie over these bytes, so their layout is ours to choose;
    it is the one the Linux module uses. A host that is not an IP literal is taken as text.
    """
    host, port = address[0], address[1]
    try:
        packed = ipaddress.ip_address(host).packed
    except ValueError:
        packed = host.encode("utf-8", "surrogateescape")
    return packed + (port & 0xFFFF).to_bytes(2, "big")


def mac1_key(static_public: bytes) -> bytes:
    """The mac1 key of messages sent to the holder of `static_public`."""
    return blake2s_hash(LABEL_MAC1 + static_public)


def cookie_key(static_public: bytes) -> bytes:
    """The key of cookie replies sent by the holder of `static_public`."""
    return blake2s_hash(LABEL_COOKIE + static_public)


class MacCheck(Enum):
    """What `CookieChecker.check` found on a handshake message."""

    INVALID_MAC1 = "invalid mac1"
    VALID_MAC1_WITHOUT_COOKIE = "valid mac1, no valid mac2"
    VALID_MAC1_WITH_COOKIE = "valid mac1 and mac2"


class CookieChecker:
    """The receiving side of mac1/mac2 for one device (static key)."""

    __slots__ = (
        "_cookie_key",
        "_mac1_key",
        "_parameters",
        "_random_bytes",
        "_secret",
        "_secret_born",
    )

    def __init__(
        self,
        static_public: bytes,
        *,
        parameters: ProtocolParameters,
        random_bytes: Callable[[int], bytes],
    ) -> None:
        self._mac1_key = mac1_key(static_public)
        self._cookie_key = cookie_key(static_public)
        self._parameters = parameters
        self._random_bytes = random_bytes
        self._secret = b""
        self._secret_born: float | None = None

    def check(
        self, message: bytes, mac1_offset: int, source: Address, now: float, *, check_mac2: bool
    ) -> MacCheck:
        """Checks mac1 and, if `check_mac2` (the device is under load), mac2 of `message`."""
        mac1 = message[mac1_offset : mac1_offset + MAC_SIZE]
        if not hmac.compare_digest(blake2s_mac(self._mac1_key, message[:mac1_offset]), mac1):
            return MacCheck.INVALID_MAC1
        if not check_mac2:
            return MacCheck.VALID_MAC1_WITHOUT_COOKIE
        mac2_offset = mac1_offset + MAC_SIZE
        expected = blake2s_mac(self._cookie_for(source, now), message[:mac2_offset])
        if not hmac.compare_digest(expected, message[mac2_offset : mac2_offset + MAC_SIZE]):
            return MacCheck.VALID_MAC1_WITHOUT_COOKIE
        return MacCheck.VALID_MAC1_WITH_COOKIE

    def create_reply(
        self, message: bytes, mac1_offset: int, sender_index: int, source: Address, now: float
    ) -> CookieReply:
        """The cookie reply to a handshake message from `source` whose mac1 was valid."""
        nonce = self._random_bytes(XNONCE_SIZE)
        mac1 = message[mac1_offset : mac1_offset + MAC_SIZE]
        sealed = xaead_seal(self._cookie_key, nonce, self._cookie_for(source, now), mac1)
        return CookieReply(sender_index, nonce, sealed)

    def _cookie_for(self, source: Address, now: float) -> bytes:
        born = self._secret_born
        if born is None or now - born >= self._parameters.cookie_refresh_time:
            self._secret = self._random_bytes(KEY_SIZE)
            self._secret_born = now
        return blake2s_mac(self._secret, address_bytes(source))


class PeerCookie:
    """The sending side of mac1/mac2 towards one peer, and the cookie it last gave us."""

    __slots__ = (
        "_cookie",
        "_cookie_born",
        "_decryption_key",
        "_last_mac1",
        "_mac1_key",
        "_parameters",
    )

    def __init__(self, remote_static: bytes, *, parameters: ProtocolParameters) -> None:
        self._mac1_key = mac1_key(remote_static)
        self._decryption_key = cookie_key(remote_static)
        self._parameters = parameters
        self._cookie: bytes | None = None
        self._cookie_born = 0.0
        self._last_mac1: bytes | None = None

    @property
    def has_cookie(self) -> bool:
        return self._cookie is not None

    def stamp(self, message: bytes, mac1_offset: int, now: float) -> bytes:
        """`message` with mac1 and mac2 filled in (mac2 zero unless a fresh cookie is held)."""
        mac1 = blake2s_mac(self._mac1_key, message[:mac1_offset])
        self._last_mac1 = mac1
        stamped = message[:mac1_offset] + mac1
        cookie = self._cookie
        parameters = self._parameters
        max_age = parameters.cookie_refresh_time - parameters.cookie_latency
        if cookie is not None and now - self._cookie_born < max_age:
            return stamped + blake2s_mac(cookie, stamped)
        return stamped + _ZERO_MAC

    def consume_reply(self, reply: CookieReply, now: float) -> None:
        """Stores the cookie of `reply`; raises `HandshakeError` if it does not answer our mac1."""
        last_mac1 = self._last_mac1
        if last_mac1 is None:
            raise HandshakeError("cookie reply without a handshake message awaiting one")
        cookie = xaead_open(self._decryption_key, reply.nonce, reply.encrypted_cookie, last_mac1)
        self._cookie = cookie
        self._cookie_born = now
        self._last_mac1 = None
