"""WireGuard's handshake: Noise IKpsk2 framed as messages 1 and 2 (whitepaper §5.4.1–§5.4.5).

The Noise machine is `pacata/vpn/wireguard/noise.py`; this module fixes its parameters the way
WireGuard does and keeps one peer's handshake state, as the Linux module's `noise_handshake`:

- CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s" is the Noise protocol name and
  IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com" the prologue.
- The initiation's payload is the 12-byte TAI64N of the initiator's wall clock; the response's
  payload is empty. The preshared key (32 zero bytes when none is configured) enters at `psk2`.
- Split() gives (initiator→responder, responder→initiator), the transport keys of §5.4.5.

States and transitions (a table, as the rules of the module):

    state                 event                              next state
    ZEROED/any            we create an initiation            CREATED_INITIATION
    CREATED_INITIATION    a response to our index opens      CONSUMED_RESPONSE
    ZEROED/any            an initiation from the peer opens  CONSUMED_INITIATION
    CONSUMED_INITIATION   we create the response             CREATED_RESPONSE
    CONSUMED_RESPONSE     begin_session (we are initiator)   ZEROED, keys out
    CREATED_RESPONSE      begin_session (we are responder)   ZEROED, keys out

An initiation from the peer is accepted only if its timestamp is strictly greater than the
greatest one accepted from that peer (replay protection, §5.1) and it comes at least
1/INITIATIONS_PER_SECOND after the previous accepted one (flood protection, as in Linux).
Refusals raise `HandshakeRefused`, which names the `DropReason`; other `HandshakeError`s mean the
message did not authenticate.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from pacata.errors import HandshakeError, LocalProtocolError
from pacata.vpn.wireguard.events import DropReason
from pacata.vpn.wireguard.messages import HandshakeInitiation, HandshakeResponse
from pacata.vpn.wireguard.noise import (
    NO_PRESHARED_KEY,
    PROTOCOL_NAME,
    IKpsk2Initiator,
    IKpsk2Responder,
)
from pacata.vpn.wireguard.primitives import (
    KEY_SIZE,
    TAG_SIZE,
    tai64n,
    x25519,
    x25519_public_key,
)

CONSTRUCTION = PROTOCOL_NAME
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"

_STATIC_END = KEY_SIZE + KEY_SIZE + TAG_SIZE


class HandshakeRefused(HandshakeError):
    """A handshake message that authenticated but breaks a rule (replay, flood, wrong state)."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class StaticIdentity:
    """The device's static key pair."""

    __slots__ = ("private_key", "public_key")

    def __init__(self, private_key: bytes) -> None:
        self.private_key = private_key
        self.public_key = x25519_public_key(private_key)


class HandshakeState(Enum):
    ZEROED = "zeroed"
    CREATED_INITIATION = "created initiation"
    CONSUMED_INITIATION = "consumed initiation"
    CREATED_RESPONSE = "created response"
    CONSUMED_RESPONSE = "consumed response"


class SessionKeys(NamedTuple):
    """What a completed handshake hands to a new keypair."""

    sending_key: bytes
    receiving_key: bytes
    is_initiator: bool
    local_index: int
    remote_index: int


def open_initiation(identity: StaticIdentity, message: HandshakeInitiation) -> IKpsk2Responder:
    """Runs `e, es, s` of an initiation addressed to `identity`; the returned responder names the
    initiator's static key (`remote_static`). Raises `HandshakeError` if `s` does not open."""
    responder = IKpsk2Responder(
        static_private=identity.private_key,
        static_public=identity.public_key,
        prologue=IDENTIFIER,
    )
    responder.read_initiation_identity(message.noise_message)
    return responder


class Handshake:
    """One peer's handshake state."""

    __slots__ = (
        "_initiator",
        "_responder",
        "_static_static",
        "last_initiation_consumed",
        "latest_timestamp",
        "local_index",
        "preshared_key",
        "remote_index",
        "remote_static",
        "state",
    )

    def __init__(
        self, identity: StaticIdentity, remote_static: bytes, preshared_key: bytes | None = None
    ) -> None:
        if len(remote_static) != KEY_SIZE:
            raise ValueError(f"peer public key must be {KEY_SIZE} bytes")
        self.remote_static = remote_static
        self.preshared_key = NO_PRESHARED_KEY if preshared_key is None else preshared_key
        if len(self.preshared_key) != KEY_SIZE:
            raise ValueError(f"preshared key must be {KEY_SIZE} bytes")
        try:
            # DH(S_priv, S_pub) is the same for every handshake with this peer.
            self._static_static = x25519(identity.private_key, remote_static)
        except HandshakeError:
            raise ValueError("peer public key is a low-order point") from None
        self.state = HandshakeState.ZEROED
        self.local_index: int | None = None
        self.remote_index = 0
        self.latest_timestamp = bytes(12)
        self.last_initiation_consumed: float | None = None
        self._initiator: IKpsk2Initiator | None = None
        self._responder: IKpsk2Responder | None = None

    def create_initiation(
        self,
        identity: StaticIdentity,
        *,
        local_index: int,
        ephemeral_private: bytes,
        wall_time: float,
    ) -> HandshakeInitiation:
        """Message 1 (without its MACs), timestamped with `wall_time`."""
        initiator = IKpsk2Initiator(
            static_private=identity.private_key,
            remote_static=self.remote_static,
            ephemeral_private=ephemeral_private,
            prologue=IDENTIFIER,
            preshared_key=self.preshared_key,
            static_static=self._static_static,
        )
        noise_message = initiator.write_initiation(tai64n(wall_time))
        self._initiator = initiator
        self._responder = None
        self.local_index = local_index
        self.state = HandshakeState.CREATED_INITIATION
        return HandshakeInitiation(
            sender_index=local_index,
            unencrypted_ephemeral=noise_message[:KEY_SIZE],
            encrypted_static=noise_message[KEY_SIZE:_STATIC_END],
            encrypted_timestamp=noise_message[_STATIC_END:],
        )

    def consume_response(self, message: HandshakeResponse) -> None:
        """Opens message 2; raises `HandshakeError` (or `HandshakeRefused`) if it is not the
        answer to our outstanding initiation."""
        initiator = self._initiator
        if (
            self.state is not HandshakeState.CREATED_INITIATION
            or initiator is None
            or message.receiver_index != self.local_index
        ):
            raise HandshakeRefused(DropReason.UNEXPECTED_RESPONSE)
        initiator.read_response(message.noise_message)
        self.remote_index = message.sender_index
        self.state = HandshakeState.CONSUMED_RESPONSE

    def accept_initiation(
        self, responder: IKpsk2Responder, message: HandshakeInitiation, now: float, interval: float
    ) -> None:
        """Finishes reading message 1 (`ss`, timestamp) for this peer and adopts it, unless it is
        a replay or comes sooner than `interval` after the previous accepted initiation."""
        timestamp = responder.read_initiation_payload(
            message.noise_message, static_static=self._static_static
        )
        if timestamp <= self.latest_timestamp:
            raise HandshakeRefused(DropReason.REPLAYED_INITIATION)
        last = self.last_initiation_consumed
        if last is not None and last + interval > now:
            raise HandshakeRefused(DropReason.INITIATION_FLOOD)
        self.latest_timestamp = timestamp
        self.last_initiation_consumed = now
        self.remote_index = message.sender_index
        self._responder = responder
        self._initiator = None
        self.state = HandshakeState.CONSUMED_INITIATION

    def create_response(self, *, local_index: int, ephemeral_private: bytes) -> HandshakeResponse:
        """Message 2 (without its MACs) answering the initiation just accepted."""
        responder = self._responder
        if self.state is not HandshakeState.CONSUMED_INITIATION or responder is None:
            raise LocalProtocolError("no consumed initiation to respond to")
        noise_message = responder.write_response(
            b"", ephemeral_private=ephemeral_private, preshared_key=self.preshared_key
        )
        self.local_index = local_index
        self.state = HandshakeState.CREATED_RESPONSE
        return HandshakeResponse(
            sender_index=local_index,
            receiver_index=self.remote_index,
            unencrypted_ephemeral=noise_message[:KEY_SIZE],
            encrypted_nothing=noise_message[KEY_SIZE:],
        )

    def begin_session(self) -> SessionKeys:
        """Splits the finished handshake into transport keys and zeroes the handshake state."""
        local_index = self.local_index
        if local_index is None:
            raise LocalProtocolError("handshake has no local index")
        if self.state is HandshakeState.CONSUMED_RESPONSE and self._initiator is not None:
            keys = self._initiator.split()
            session = SessionKeys(
                keys.initiator_to_responder,
                keys.responder_to_initiator,
                True,
                local_index,
                self.remote_index,
            )
        elif self.state is HandshakeState.CREATED_RESPONSE and self._responder is not None:
            keys = self._responder.split()
            session = SessionKeys(
                keys.responder_to_initiator,
                keys.initiator_to_responder,
                False,
                local_index,
                self.remote_index,
            )
        else:
            raise LocalProtocolError(f"cannot begin a session from state {self.state.value}")
        self.clear()
        return session

    def clear(self) -> None:
        """Forgets the ephemeral state (Linux `handshake_zero`); the replay and flood marks, the
        preshared key and the precomputed static DH stay."""
        self.state = HandshakeState.ZEROED
        self.local_index = None
        self.remote_index = 0
        self._initiator = None
        self._responder = None
