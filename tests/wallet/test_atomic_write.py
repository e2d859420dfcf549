"""`write_file_atomically` (pacata/documents.py), which the wallet files and the address book
are written with: the whole new content or the old, the exact mode, no temporary file left.
(Here rather than under tests/ beside a documents test: the wallet is its first user.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pacata.documents import write_file_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_a_new_file_with_exactly_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    previous = os.umask(0o077)  # would narrow 0644 to 0600 if the mode went through it
    try:
        write_file_atomically(path, b"first", 0o644)
        write_file_atomically(tmp_path / "b.json", b"secret")
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"first"
    assert mode_of(path) == 0o644
    assert mode_of(tmp_path / "b.json") == 0o600
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_replaces_a_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"old content, longer than the new")
    os.chmod(path, 0o644)
    data = os.urandom(3 * 1024 * 1024)
    write_file_atomically(path, data)
    assert path.read_bytes() == data
    assert mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failure_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"old")

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        write_file_atomically(path, b"new")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.json"]


def test_an_interrupted_write_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_file_atomically(tmp_path / "a.json", b"new")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_file_atomically(tmp_path / "missing" / "a.json", b"x")
