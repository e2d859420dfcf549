"""Sub-protocols on the peer link: how a plugin (the VPN's receipts, rendezvous) talks to peers
over the authenticated TLS connection without `p2p` knowing its messages (docs/p2p.md
§Sub-protocols).

    registry = network.extensions
    registry.register(SubProtocol("vpn/receipts", Receipt.decode, on_receipt, max_payload=512))
    network.send_extension(node_id, "vpn/receipts", receipt.encode())  # False: not connected

Rules:
- A sub-protocol has a name (lower-case words separated by '/', at most 32 bytes), a codec
  (`decode`: bytes → message, `DecodeError` for a malformed payload), a handler and a payload
  bound. Its messages travel in the peer link's `Extension` message, after the handshake only.
- A message of a sub-protocol this node does not run is ignored and counted
  (`PeerNetwork.extensions_ignored`): peers may run plugins we lack.
- A payload over the bound, or one the codec refuses, costs its sender
  `Offence.MALFORMED_EXTENSION` (a fraction of a ban: a few such messages ban it). A handler
  raises `RemoteProtocolError` for a message that is well formed but breaks the sub-protocol's
  rules; that costs the same. Any other exception from a handler is a bug and propagates.
- The handler runs on the network's thread inside its event processing: it must not block; it
  answers with `peer.send(payload)`, which is queued like any other message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pacata.p2p.messages import MAX_EXTENSION_PAYLOAD, check_subprotocol_name

if TYPE_CHECKING:
    from pacata.p2p.gossip import PeerId

M = TypeVar("M")


class ExtensionPeer:
    """The peer a sub-protocol message came from, as its handler sees it."""

    __slots__ = ("_send", "node_id", "peer", "protocol")

    def __init__(
        self, protocol: str, peer: PeerId, node_id: bytes, send: Callable[[str, bytes], None]
    ) -> None:
        self.protocol = protocol
        self.peer = peer
        self.node_id = node_id
        self._send = send

    def send(self, payload: bytes) -> None:
        """Sends a message of the same sub-protocol back to this peer."""
        self._send(self.protocol, payload)


@dataclass(frozen=True, slots=True)
class SubProtocol(Generic[M]):
    name: str
    decode: Callable[[bytes], M]
    handle: Callable[[ExtensionPeer, M, float], None]
    max_payload: int = MAX_EXTENSION_PAYLOAD

    def __post_init__(self) -> None:
        check_subprotocol_name(self.name)
        if not 0 <= self.max_payload <= MAX_EXTENSION_PAYLOAD:
            raise ValueError(f"a payload bound is within 0-{MAX_EXTENSION_PAYLOAD}")


class SubProtocolRegistry:
    """The sub-protocols this node runs, by name."""

    def __init__(self) -> None:
        self._protocols: dict[str, SubProtocol[Any]] = {}

    def register(self, protocol: SubProtocol[Any]) -> None:
        if protocol.name in self._protocols:
            raise ValueError(f"sub-protocol {protocol.name} is registered already")
        self._protocols[protocol.name] = protocol

    def get(self, name: str) -> SubProtocol[Any] | None:
        return self._protocols.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._protocols
