"""marshmallow pieces shared by every schema of Pacata's JSON and TOML files.

One field type for hex-encoded 32-byte values (keys, seeds) and one way to turn marshmallow's
nested error messages into lines that name the offending key (`params.min_fee: Not a valid
integer.`), so a genesis file, a config file, a key file and an API request report errors alike.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

HEX_KEY_SIZE = 32


class HexBytes32(fields.Field[bytes]):
    """A string of 64 hexadecimal digits, loaded as 32 bytes."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValidationError("not hexadecimal") from None
        if len(raw) != HEX_KEY_SIZE:
            raise ValidationError("must be 32 bytes (64 hex digits)")
        return raw


def describe_validation_errors(messages: Any, path: str = "") -> list[str]:
    """marshmallow's nested error messages as `key.subkey: reason` lines."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            lines += describe_validation_errors(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path}: {' '.join(messages)}"]
    if isinstance(messages, list):
        return [line for m in messages for line in describe_validation_errors(m, path)]
    return [f"{path}: {messages}"]
