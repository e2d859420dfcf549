"""The node's secret key files in its data directory, made at the first start.

- `node.key`: the secp256k1 identity key (the node id, the TLS binding, the record's
  signature), 32 secret bytes in hex.
- `account.key`: the secp256k1 key of the account that pays for this node's tunnels and, on a
  relay, earns for the ones it carries (until the wallet lets the user choose one), in the
  same form as `node.key`. Made at the first start of a node that runs its VPN side; fund its
  address before opening a channel.
- `wireguard.key`: the X25519 key of the node's WireGuard interface, in the base64 form of
  `wg genkey`, so that `wg pubkey < wireguard.key` prints what the node record advertises. It is
  a key of its own (not derived from the identity), so an operator can replace it without
  changing the node's identity: a new key goes into the next record the node signs.

Rules: a missing file is made with mode 0600 (O_EXCL: two nodes starting on one directory do
not both write it); a file that is not a key is a `ConfigError` naming it, never replaced; a
file readable by other users is used, with a warning.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from pacata.chain.keys import PrivateKey
from pacata.node.config import ConfigError

NODE_KEY_FILE = "node.key"
ACCOUNT_KEY_FILE = "account.key"
WIREGUARD_KEY_FILE = "wireguard.key"
MAX_KEY_FILE_BYTES = 256

log = logging.getLogger("pacata.node.keys")

K = TypeVar("K")


def load_or_create_node_key(datadir: Path) -> PrivateKey:
    """The node's identity key from `node.key`, made at the first start."""
    return _load_or_create_secp256k1(datadir / NODE_KEY_FILE, "a node key (64 hex digits)")


def load_or_create_account_key(datadir: Path) -> PrivateKey:
    """The paying and earning account's key from `account.key`, made at the first start."""
    return _load_or_create_secp256k1(datadir / ACCOUNT_KEY_FILE, "an account key (64 hex digits)")


def _load_or_create_secp256k1(path: Path, what: str) -> PrivateKey:
    return _load_or_create(
        path,
        what,
        generate=lambda: PrivateKey.generate().secret,
        render=bytes.hex,
        parse=bytes.fromhex,
        build=PrivateKey,
    )


def load_or_create_wireguard_key(datadir: Path) -> bytes:
    """The 32-byte X25519 private key of the node's WireGuard interface, from `wireguard.key`."""
    return _load_or_create(
        datadir / WIREGUARD_KEY_FILE,
        "a WireGuard private key (base64, as `wg genkey` writes)",
        generate=_new_x25519_secret,
        render=lambda secret: base64.b64encode(secret).decode("ascii"),
        parse=lambda text: base64.b64decode(text, validate=True),
        build=_x25519_secret,
    )


def _new_x25519_secret() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )


def _x25519_secret(secret: bytes) -> bytes:
    if len(secret) != 32:
        raise ValueError(f"{len(secret)} bytes, not 32")
    return secret


def _load_or_create(
    path: Path,
    what: str,
    *,
    generate: Callable[[], bytes],
    render: Callable[[bytes], str],
    parse: Callable[[str], bytes],
    build: Callable[[bytes], K],
) -> K:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path, what, parse, build)
    except OSError as exc:
        raise ConfigError(f"cannot make {path}: {exc.strerror}") from None
    secret = generate()
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(render(secret) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    log.info("made a new key in %s", path)
    return build(secret)


def _read(path: Path, what: str, parse: Callable[[str], bytes], build: Callable[[bytes], K]) -> K:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_KEY_FILE_BYTES + 1)
            mode = os.fstat(stream.fileno()).st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if len(data) > MAX_KEY_FILE_BYTES:
            raise ValueError("too long")
        key = build(parse(data.decode("ascii").strip()))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ConfigError(f"{path}: not {what}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; chmod 600 it", path)
    return key
