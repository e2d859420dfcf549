"""The wallet commands of `pacata-vpn` that need no node, run in-process (`main` returns the
status): the command table's promises (every command has an example and `--json`), wallets
made, imported, shown and exported, secrets never taken without a file or a terminal, and
`config setup` writing what `pacatad` reads."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.devnet import devnet_key
from pacata.cli.commands import COMMANDS
from pacata.cli.main import build_parser, main
from pacata.node.config import read_config_file
from pacata.node.key_files import load_or_create_account_key

PASSPHRASE = "a passphrase of length"
ABANDON = " ".join(["abandon"] * 11 + ["about"])
ABANDON_ACCOUNT_0 = "pac1yjrxn6fwal03slu3psyj38y0ap6xk75d2f57l4"  # docs/wallet.md, pinned


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PACATA_WALLET_DIR", str(tmp_path / "wallets"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    (tmp_path / "words").write_text(ABANDON + "\n")
    yield tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *arguments: str) -> Any:
    status = main([*arguments, "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def fail(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    status = main(list(arguments))
    out, err = capsys.readouterr()
    assert status != 0 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return status, err


def _leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield parser
    for action in subparsers:
        for child in action.choices.values():
            yield from _leaves(child)


def test_every_command_has_an_example_and_json() -> None:
    leaves = list(_leaves(build_parser()))
    assert len(leaves) == len(COMMANDS)
    for parser in leaves:
        assert parser.epilog and parser.epilog.startswith("example"), parser.prog
        assert "pacata-vpn " in parser.epilog
        options = {o for a in parser._actions for o in a.option_strings}
        command = parser.get_default("command")
        assert ("--json" in options) == command.json, parser.prog
        assert ("--node" in options) == (command.words != ("wg-userspace",)), parser.prog
    no_json = sorted(" ".join(c.words) for c in COMMANDS if not c.json)
    assert no_json == ["shell", "wg-userspace"]


def test_create_show_export(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    created = run_json(capsys, "wallet", "create", "alice", "--words", "12", *secret)
    assert len(created["mnemonic"].split()) == 12
    assert (home / "wallets" / "alice.json").stat().st_mode & 0o777 == 0o600
    shown = run_json(capsys, "wallet", "show", "alice")
    assert shown["accounts"] == created["accounts"]
    added = run_json(capsys, "wallet", "add-account", "alice", "--label", "savings", *secret)
    assert [(a["index"], a["label"]) for a in added["accounts"]] == [(0, ""), (1, "savings")]
    exported = run_json(capsys, "wallet", "export", "alice", "--yes", *secret)
    assert exported["mnemonic"] == created["mnemonic"]
    listed = run_json(capsys, "wallet", "list")
    assert [w["name"] for w in listed["wallets"]] == ["alice"]


def test_import_a_mnemonic_and_a_devnet_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    words = ("--mnemonic-file", str(home / "words"))
    restored = run_json(capsys, "wallet", "import", "abandon", *words, "--accounts", "2", *secret)
    assert restored["accounts"][0]["address"] == ABANDON_ACCOUNT_0
    assert len(restored["accounts"]) == 2
    devnet = run_json(capsys, "wallet", "import", "dev", "--devnet-account", "3", *secret)
    assert devnet["accounts"][0]["address"] == str(devnet_key(3).address)
    assert devnet["kind"] == "key"


def test_secrets_need_a_file_or_a_terminal(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = fail(capsys, "wallet", "create", "alice")
    assert status == 2 and "--passphrase-file" in err
    status, err = fail(capsys, "wallet", "import", "alice")
    assert status == 2 and "--mnemonic-file" in err
    short = home / "short"
    short.write_text("1234\n")
    status, err = fail(capsys, "wallet", "create", "alice", "--passphrase-file", str(short))
    assert status == 2 and "at least 8 characters" in err
    assert not (home / "wallets").exists() or not list((home / "wallets").glob("*.json"))


def test_bad_input_changes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    run_json(capsys, "wallet", "create", "alice", *secret)
    before = (home / "wallets" / "alice.json").read_bytes()
    _, err = fail(capsys, "wallet", "create", "alice", *secret)
    assert "exists" in err
    _, err = fail(capsys, "wallet", "create", "../evil", *secret)
    assert "name" in err
    bad = home / "bad"
    bad.write_text("not the passphrase\n")
    _, err = fail(capsys, "wallet", "export", "alice", "--yes", "--passphrase-file", str(bad))
    assert "wrong passphrase" in err
    _, err = fail(capsys, "wallet", "export", "alice", *secret)
    assert "--yes" in err  # no terminal to confirm on
    words = home / "wrong-words"
    words.write_text(" ".join(["abandon"] * 12) + "\n")
    _, err = fail(capsys, "wallet", "import", "b", "--mnemonic-file", str(words), *secret)
    assert "checksum" in err
    _, err = fail(capsys, "contacts", "add", "bob", "pac1notanaddress")
    assert "not a pac1 address" in err
    assert (home / "wallets" / "alice.json").read_bytes() == before
    assert sorted(p.name for p in (home / "wallets").glob("*.json")) == ["alice.json"]


def test_config_setup_writes_what_pacatad_reads(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    wallet = run_json(capsys, "wallet", "import", "dev", "--devnet-account", "4", *secret)
    path = home / "etc" / "pacatad.toml"
    datadir = home / "node"
    written = run_json(
        capsys, "config", "setup", "--non-interactive", "--yes", "--config", str(path),
        "--datadir", str(datadir), "--rpc", "127.0.0.1:9750", "--relay", "--no-vpn",
        "--wallet", "dev", *secret,
    )  # fmt: skip
    assert written["config"] == str(path)
    values = read_config_file(path)
    assert values["devnet"] is True and values["datadir"] == datadir
    assert str(values["rpc"]) == "127.0.0.1:9750"
    assert values["relay"] == {"enabled": True} and values["vpn"] == {"enabled": False}
    key = load_or_create_account_key(datadir)
    assert str(key.address) == wallet["accounts"][0]["address"]
    assert (datadir / "account.key").stat().st_mode & 0o777 == 0o600
    # Again: the file is not replaced without --force.
    _, err = fail(capsys, "config", "setup", "--non-interactive", "--yes", "--config", str(path))
    assert "--force" in err


def test_config_setup_keeps_the_node_s_account(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    run_json(capsys, "wallet", "import", "dev", "--devnet-account", "4", *secret)
    datadir = home / "node"
    datadir.mkdir()
    (datadir / "account.key").write_text(devnet_key(7).secret.hex() + "\n")
    setup = (
        "config", "setup", "--non-interactive", "--yes", "--datadir", str(datadir),
        "--wallet", "dev", "--json", *secret,
    )  # fmt: skip
    # Another key holds the node's account: refused, and nothing is written.
    _, err = fail(capsys, *setup, "--config", str(home / "a.toml"))
    assert str(devnet_key(7).address) in err and "--replace-account-key" in err
    assert not (home / "a.toml").exists()
    # A config that cannot be written: nothing at all is written, the key least of all.
    _, err = fail(capsys, *setup, "--replace-account-key", "--config", "/proc/none/a.toml")
    assert "cannot write /proc/none/a.toml" in err
    assert load_or_create_account_key(datadir).address == devnet_key(7).address
    assert sorted(p.name for p in datadir.iterdir()) == ["account.key"]
    # Replaced on purpose: the old key is kept beside it.
    assert main([*setup, "--replace-account-key", "--config", str(home / "b.toml")]) == 0
    assert load_or_create_account_key(datadir).address == devnet_key(4).address
    [backup] = datadir.glob("account.key.*.bak")
    assert backup.read_text().strip() == devnet_key(7).secret.hex()
    assert backup.stat().st_mode & 0o777 == 0o600


def test_a_damaged_wallet_does_not_hide_the_others(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = ("--passphrase-file", str(home / "pass"))
    run_json(capsys, "wallet", "import", "dev", "--devnet-account", "4", *secret)
    (home / "wallets" / "zzz.json").write_text('{"version": 1}')
    (home / "wallets" / "zzz.json").chmod(0o600)
    listed = run_json(capsys, "wallet", "list")
    assert [w["name"] for w in listed["wallets"]] == ["dev"]
    assert [d["name"] for d in listed["damaged"]] == ["zzz"]
    assert "zzz" in listed["damaged"][0]["reason"]
