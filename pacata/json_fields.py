"""The one module of marshmallow fields shared by Pacata's JSON and TOML documents: the genesis
and config files, key files, and the HTTP API's requests and responses (`pacata.rpc.schemas`).

Rules:
- This module sits under `chain` (the import layers of docs/architecture.md), because the genesis
  schema uses it: it imports nothing of the ledger. A field of a ledger type (an `Address`, a
  `TxKind`) is one of the generic fields below given that type and its parser by the schema
  that uses it (`ParsedText(Address, …)`, `EnumName(TxKind)`).
- Loading is strict: a boolean is a JSON/TOML boolean (never 1 or "yes"), a string is a string;
  a bad value raises marshmallow's `ValidationError` with a short reason, which
  `describe_validation_errors` prefixes with the key (`params.min_fee: Not a valid integer.`),
  so every document reports errors alike.
- Dumping follows docs/api.md: bytes as lowercase hex, addresses as `pac1…`, enums by name.
  Dumping a value of the wrong type is a `TypeError` (a bug of ours, not bad input).
- Every field whose JSON form is a string or a boolean subclasses `String` or `Boolean`, so the
  OpenAPI document (apispec) gives it the right type without a mapping table.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from marshmallow import ValidationError, fields

from pacata.errors import PacataError

HEX_KEY_SIZE = 32


class StrictBoolean(fields.Boolean):
    """`true` or `false` only: marshmallow's Boolean would also take 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class HexBytes(fields.String):
    """Bytes as hexadecimal: dumped lowercase, loaded in either case; `size` bytes if given."""

    def __init__(self, *, size: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = size

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise TypeError(f"HexBytes dumps bytes, not {type(value).__name__}")
        return value.hex()

    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> bytes:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValidationError("not hexadecimal") from None
        if self.size is not None and len(raw) != self.size:
            raise ValidationError(f"must be {self.size} bytes ({2 * self.size} hex digits)")
        return raw


class HexBytes32(HexBytes):
    """A string of 64 hexadecimal digits, loaded as 32 bytes (a key, a seed)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(size=HEX_KEY_SIZE, **kwargs)


class ParsedText(fields.String):
    """A value written as text (an address, `HOST:PORT`): dumped with `str()`, loaded with
    `parse`, whose `ValueError` or `PacataError` message is the reason; `what` names the form
    for a value that is not even a string (`not HOST:PORT (must be a string)`)."""

    def __init__(
        self, kind: type[object], parse: Callable[[str], object], *, what: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.parse = parse
        self.what = what

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, self.kind):
            raise TypeError(f"this field dumps {self.kind.__name__}, not {type(value).__name__}")
        return str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError(f"not {self.what} (must be a string)")
        try:
            return self.parse(value)
        except (ValueError, PacataError) as exc:
            raise ValidationError(str(exc)) from None


class EnumName(fields.String):
    """A member of `enum` by its name (`TRANSFER`); dumps a member or its value."""

    def __init__(self, enum: type[Enum], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum = enum

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return self.enum(value).name

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or value not in self.enum.__members__:
            raise ValidationError(f"must be one of {', '.join(self.enum.__members__)}")
        return self.enum[value]


class DerivedText(fields.String):
    """Dump only: `derive(value)` of the attribute `source`, a second view of an attribute that
    another field dumps too (a header's `producer` and its address), which marshmallow's
    `attribute=` does not allow."""

    def __init__(self, source: str, derive: Callable[[Any], str], **kwargs: Any) -> None:
        super().__init__(dump_only=True, **kwargs)
        self.source = source
        self.derive = derive

    def serialize(
        self,
        attr: str,
        obj: Any,
        accessor: Callable[[Any, str, Any], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().serialize(self.source, obj, accessor, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else self.derive(value)


def describe_validation_errors(messages: Any, path: str = "") -> list[str]:
    """marshmallow's nested error messages as `key.subkey: reason` lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            # marshmallow files an error of the object itself under "_schema".
            where = path if key == "_schema" and path else f"{path}.{key}" if path else str(key)
            lines += describe_validation_errors(value, where)
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path}: {' '.join(messages)}"]
    if isinstance(messages, list):
        return [line for m in messages for line in describe_validation_errors(m, path)]
    return [f"{path}: {messages}"]
