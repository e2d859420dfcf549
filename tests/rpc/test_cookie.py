"""The reading side of the admin cookie (pacata/rpc/cookie.py) agrees with the node's writing
side (pacata/node/cookie.py, pacata/node/config.py): the same file, the same default data
directory, the token the node wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacata.node import config as node_config
from pacata.node import cookie as node_cookie
from pacata.rpc import cookie


def test_the_node_uses_the_same_names() -> None:
    assert node_config.default_data_dir is cookie.default_data_dir
    assert node_cookie.COOKIE_FILE is cookie.COOKIE_FILE


def test_the_token_is_the_one_the_node_wrote(tmp_path: Path) -> None:
    written = node_cookie.AdminCookie.create(tmp_path)
    assert cookie.read_cookie(tmp_path) == written.token


@pytest.mark.parametrize("content", [b"", b"\n", b"two words\n", b"\xff" * 64, b"a" * 2000])
def test_a_file_that_holds_no_token(tmp_path: Path, content: bytes) -> None:
    (tmp_path / ".cookie").write_bytes(content)
    with pytest.raises(ValueError, match="it holds no token"):
        cookie.read_cookie(tmp_path)


def test_no_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cookie.read_cookie(tmp_path)
