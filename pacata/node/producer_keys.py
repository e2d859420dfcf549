"""Where a producing node gets its keys: the devnet's well-known ones, or `producer.key`.

`producer.key` in the data directory is JSON with two 32-byte secrets in hex:

    {"account_secret": "<64 hex digits>", "vrf_seed": "<64 hex digits>"}

`account_secret` is the secp256k1 key of the bonded account (it signs headers), `vrf_seed` the
Ed25519 seed of the slot lottery key bonded with it. Nothing creates this file automatically:
an operator writes it (docs/operations.md §Producer keys), with mode 0600. Rules: unknown keys
and bad values are a `ConfigError` naming the key; a file readable by others is used, with a
warning.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from marshmallow import Schema, ValidationError

from pacata.chain.devnet import devnet_key, devnet_vrf_seed
from pacata.chain.keys import PrivateKey
from pacata.chain.production import ProducerKeys
from pacata.chain.vrf import VrfKey
from pacata.documents import load_json_file
from pacata.errors import DocumentError
from pacata.json_fields import HexBytes32, describe_validation_errors
from pacata.node.config import ConfigError

PRODUCER_KEY_FILE = "producer.key"
MAX_KEY_FILE_BYTES = 4096  # two hex secrets take 170 bytes
DEVNET_PRODUCER_INDEX = 0

log = logging.getLogger("pacata.node.producer")


class _ProducerKeyFileSchema(Schema):
    account_secret = HexBytes32(required=True)
    vrf_seed = HexBytes32(required=True)


def devnet_producer_keys() -> ProducerKeys:
    """The devnet producer's keys. DEVNET ONLY: they are public."""
    return ProducerKeys(
        devnet_key(DEVNET_PRODUCER_INDEX), VrfKey(devnet_vrf_seed(DEVNET_PRODUCER_INDEX))
    )


def load_producer_keys(path: Path) -> ProducerKeys:
    """The keys in a `producer.key` file; `ConfigError` says what is wrong with it."""
    try:
        document = load_json_file(path, "producer keys", MAX_KEY_FILE_BYTES)
        mode = path.stat().st_mode
    except DocumentError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read producer keys {path}: {exc.strerror}") from None
    try:
        values = _ProducerKeyFileSchema().load(document)
    except ValidationError as exc:
        lines = describe_validation_errors(exc.messages)
        raise ConfigError("; ".join(f"{path}: {line}" for line in lines)) from None
    try:
        account = PrivateKey(values["account_secret"])
    except ValueError as exc:
        raise ConfigError(f"{path}: account_secret: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; chmod 600 it", path)
    return ProducerKeys(account, VrfKey(values["vrf_seed"]))
