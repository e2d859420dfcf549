"""Reading JSON and TOML documents that users and peers control: files and request bodies;
and writing a file so that a reader sees the old content or the new one, never a part.

Rules, so that any such input gives one clear error and nothing worse:
- A file is read through `read_text_file`, which refuses one larger than its limit (1 MiB by
  default) having read at most one byte more than the limit, whatever the file claims to be
  (`/dev/zero` is refused too), and refuses text that is not UTF-8.
- `parse_json` and `parse_toml` turn every way a document can be malformed into one
  `DocumentError`, including nesting deeper than the parser can follow: both parsers recurse,
  and the interpreter's recursion limit (a `RecursionError`) is the only depth bound they have.
  No file or body of ours nests more than a few levels, so nothing legitimate comes near it.
- Errors of files name the file (`load_json_file`, `load_toml_file`); the parsers' own errors
  name no source, so that a caller can say "the body".
- `write_file_atomically` replaces a file whole, with its mode set from the first byte (a
  secret is never readable by others, not even for a moment), and raises `OSError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pacata.errors import DocumentError

MAX_DOCUMENT_BYTES = 1024 * 1024


def read_text_file(path: Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The UTF-8 text of `path`, a `what` ("genesis file"); `DocumentError` if it cannot be
    read, exceeds `limit` bytes, or is not UTF-8."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise DocumentError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DocumentError(f"{what} {path}: larger than {limit} bytes")
    try:
        return decode_utf8(data)
    except DocumentError as exc:
        raise DocumentError(f"{what} {path}: {exc}") from None


def load_json_file(path: Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """The JSON document in `path` (`read_text_file`, then `parse_json`)."""
    return _parsed(parse_json, read_text_file(path, what, limit), str(path))


def load_toml_file(path: Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The TOML document in `path` (`read_text_file`, then `parse_toml`)."""
    document: dict[str, Any] = _parsed(parse_toml, read_text_file(path, what, limit), str(path))
    return document


def _parsed(parse: Callable[[str], Any], text: str, source: str) -> Any:
    try:
        return parse(text)
    except DocumentError as exc:
        raise DocumentError(f"{source}: {exc}") from None


def decode_utf8(data: bytes) -> str:
    """`data` as text; JSON and TOML are UTF-8 (RFC 8259 §8.1, TOML 1.0)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text (byte {exc.start})") from None


def parse_json(text: str) -> Any:
    """The decoded JSON document in `text`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DocumentError("not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4300 digits
        raise DocumentError(f"not JSON: {exc}") from None


def parse_toml(text: str) -> dict[str, Any]:
    """The decoded TOML document in `text`."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise DocumentError("not TOML: nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, and integers of more than 4300 digits
        raise DocumentError(f"not TOML: {exc}") from None


def write_file_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data`, atomically and durably: after a crash `path` holds its old
    content or the new, whole. The new file has exactly `mode` (the umask does not apply).
    Raises `OSError`; on failure `path` is untouched and no temporary file is left."""
    directory = path.parent
    # In the same directory, so that os.replace is a rename within one filesystem; the name
    # starts with a dot, so listings of `*.json` files never see it.
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(descriptor, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename is durable only once the directory's entry is on disk.
    directory_descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory_descriptor)
    finally:
        os.close(directory_descriptor)
