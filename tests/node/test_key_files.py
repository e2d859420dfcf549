"""The node's key files (pacata/node/key_files.py): made once with mode 0600, read back the same,
a bad file named and never replaced, and `wireguard.key` in the form `wg` reads."""

from __future__ import annotations

import base64
import logging
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pacata.node.config import ConfigError
from pacata.node.key_files import (
    NODE_KEY_FILE,
    WIREGUARD_KEY_FILE,
    load_or_create_node_key,
    load_or_create_wireguard_key,
)
from pacata.vpn.wireguard import x25519_public_key


def test_keys_are_made_once_private_and_read_back(tmp_path: Path) -> None:
    node_key = load_or_create_node_key(tmp_path)
    wireguard_key = load_or_create_wireguard_key(tmp_path)
    for name in (NODE_KEY_FILE, WIREGUARD_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert load_or_create_node_key(tmp_path).secret == node_key.secret
    assert load_or_create_wireguard_key(tmp_path) == wireguard_key
    assert base64.b64decode((tmp_path / WIREGUARD_KEY_FILE).read_text()) == wireguard_key
    # Two data directories, two identities.
    other = tmp_path / "other"
    other.mkdir()
    assert load_or_create_wireguard_key(other) != wireguard_key


@pytest.mark.skipif(shutil.which("wg") is None, reason="`wg` (wireguard-tools) is not installed")
def test_wg_reads_the_wireguard_key_file(tmp_path: Path) -> None:
    secret = load_or_create_wireguard_key(tmp_path)
    public = subprocess.run(
        ["wg", "pubkey"],
        input=(tmp_path / WIREGUARD_KEY_FILE).read_bytes(),
        capture_output=True,
        check=True,
    ).stdout
    assert base64.b64decode(public) == x25519_public_key(secret)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (WIREGUARD_KEY_FILE, "not base64!\n", "not a WireGuard private key"),
        (WIREGUARD_KEY_FILE, base64.b64encode(bytes(31)).decode(), "31 bytes, not 32"),
        (WIREGUARD_KEY_FILE, "A" * 300, "too long"),
        (NODE_KEY_FILE, "zz" * 32, "not a node key"),
        (NODE_KEY_FILE, "00" * 32, "not a node key"),
        (NODE_KEY_FILE, "\u00e9t\u00e9", "not a node key"),
    ],
)
def test_a_bad_key_file_is_named_and_kept(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    before = path.read_bytes()
    load = load_or_create_node_key if name == NODE_KEY_FILE else load_or_create_wireguard_key
    with pytest.raises(ConfigError, match=message) as caught:
        load(tmp_path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_an_unreadable_place_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="cannot make"):
        load_or_create_wireguard_key(missing)


def test_a_key_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = load_or_create_wireguard_key(tmp_path)
    (tmp_path / WIREGUARD_KEY_FILE).chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert load_or_create_wireguard_key(tmp_path) == secret
    assert "readable by other users" in caplog.text
