"""The one exception hierarchy of Pacata.

Every error that Pacata raises on purpose derives from `PacataError`, in narrow families:

- `DecodeError`: bytes that are not a canonical encoding of the object asked for
  (`DocumentError`: a JSON or TOML document that cannot be read).
- `ValidationError`: a well-formed object that breaks a rule (`InvalidTransaction`,
  `InvalidBlock`, `InvalidGenesis`, `ConsensusError`).
- `NotFound`: something asked for by id that is not there (`BlockNotFound`, ...).
- `ProtocolError`: a protocol broken by us (`LocalProtocolError`) or by the peer
  (`RemoteProtocolError`); a remote error closes or bans the peer, it never kills the node.
- `StoreError`: the store is unusable (corrupt, locked by another process).
"""

from __future__ import annotations


class PacataError(Exception):
    """Root of every error Pacata raises on purpose."""


class DecodeError(PacataError):
    """Bytes are not the canonical encoding of the expected object."""


class DocumentError(DecodeError):
    """A JSON or TOML document (a file, a request body) is too large, not UTF-8, malformed or
    nested too deeply; the message says which."""


class ValidationError(PacataError):
    """A well-formed object breaks a rule."""


class InvalidTransaction(ValidationError):
    """A transaction cannot be applied to the state it was offered to."""


class InvalidBlock(ValidationError):
    """A block is not a valid child of its parent."""


class InvalidGenesis(ValidationError):
    """A genesis file is missing, malformed or inconsistent."""


class ConsensusError(ValidationError):
    """A header breaks the consensus rules (producer, slot, lottery)."""


class MempoolRejected(ValidationError):
    """The mempool refuses a transaction (full, duplicate, fee too low, nonce too far ahead)."""


class NotFound(PacataError):
    """Something asked for by id is not there."""


class BlockNotFound(NotFound):
    """No block with that hash or height."""


class TransactionNotFound(NotFound):
    """No transaction with that id."""


class AccountNotFound(NotFound):
    """No account at that address."""


class RecordNotFound(NotFound):
    """No node record of that node id (in the DHT)."""


class ProtocolError(PacataError):
    """A protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """We were asked to do something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class HandshakeError(RemoteProtocolError):
    """A handshake message is invalid."""


class StoreError(PacataError):
    """The store cannot be used (locked, corrupt, wrong schema version)."""
