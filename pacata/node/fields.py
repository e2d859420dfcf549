"""Marshmallow fields of the node's schemas: the config file, the API's requests and responses.

Rules:
- Loading is strict: a boolean is a JSON/TOML boolean (never 1 or "yes"), a host and port is
  `HOST:PORT` with a port in range; a bad value raises marshmallow's `ValidationError` with a
  short reason, which the caller prefixes with the key.
- Dumping follows docs/api.md: bytes as lowercase hex, addresses as `pac1…`, transaction kinds by
  name. Amounts stay integers in base units (the schemas use `Integer`).
- Every field here subclasses `String` or `Boolean` where its JSON form is one, so the OpenAPI
  document (apispec) gives it the right type without a mapping table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields

from pacata.chain.keys import Address
from pacata.chain.transactions import TxKind
from pacata.node.hostport import HostPort


class StrictBoolean(fields.Boolean):
    """`true` or `false` only: marshmallow's Boolean would also take 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class HostPortField(fields.String):
    """`HOST:PORT` (`[IPv6]:PORT` for IPv6); port 0 ("any free port") only if allowed."""

    def __init__(self, *, allow_port_zero: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_port_zero = allow_port_zero

    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> HostPort:
        if not isinstance(value, str):
            raise ValidationError("not HOST:PORT (must be a string)")
        try:
            return HostPort.parse(value, allow_port_zero=self.allow_port_zero)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class HexBytes(fields.String):
    """Bytes as lowercase hexadecimal."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise TypeError(f"HexBytes dumps bytes, not {type(value).__name__}")
        return value.hex()


class AddressText(fields.String):
    """An `Address` as its `pac1…` string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Address):
            raise TypeError(f"AddressText dumps an Address, not {type(value).__name__}")
        return str(value)


class AddressOfPublicKey(fields.String):
    """The `pac1…` address of the 33-byte public key in the attribute `key_attribute`.

    A second view of an attribute another field dumps too (a header's `producer`), which
    marshmallow's `attribute=` does not allow.
    """

    def __init__(self, key_attribute: str, **kwargs: Any) -> None:
        super().__init__(dump_only=True, **kwargs)
        self.key_attribute = key_attribute

    def serialize(
        self,
        attr: str,
        obj: Any,
        accessor: Callable[[Any, str, Any], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().serialize(self.key_attribute, obj, accessor, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return str(Address.from_public_key(value))


class KindName(fields.String):
    """A transaction kind by its name (`TRANSFER`, `CHANNEL_OPEN`, ...)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return TxKind(value).name
