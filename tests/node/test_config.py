"""pacatad's configuration: flags over file over defaults, strict file validation, data dirs,
`HOST:PORT` parsing and the producer key file (docs/operations.md §Configuration)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key, devnet_vrf_public_key, devnet_vrf_seed
from pacata.errors import InvalidGenesis
from pacata.node.config import (
    DEFAULT_LISTEN,
    DEFAULT_RPC,
    DEVNET_LISTEN,
    ConfigError,
    NodeConfig,
    default_data_dir,
    load_config,
)
from pacata.node.daemon import producer_keys_for
from pacata.node.hostport import HostPort
from pacata.node.producer_keys import PRODUCER_KEY_FILE, load_producer_keys


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config(["--devnet"])
    assert config.devnet
    assert config.rpc == DEFAULT_RPC == HostPort("127.0.0.1", 9740)
    # The devnet's keys are public: its peer port stays on this machine unless told otherwise.
    assert config.listen == DEVNET_LISTEN == HostPort("127.0.0.1", 9741)
    assert HostPort("0.0.0.0", 9741) == DEFAULT_LISTEN
    assert load_config(["--network", "devnet"]).listen == DEFAULT_LISTEN
    assert load_config(["--genesis", "g.json"]).listen == DEFAULT_LISTEN
    assert load_config(["--devnet", "--listen", "0.0.0.0:9741"]).listen == DEFAULT_LISTEN
    assert config.bootnodes == ()
    assert config.max_outbound == 8
    assert config.produce is None
    assert config.produces  # the devnet produces unless told not to
    assert config.log_level == "info"
    assert not load_config(["--network", "devnet"]).produces


def test_file_values_are_used(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
        network = "devnet"
        datadir = "/srv/pacata"
        rpc = "127.0.0.1:9000"
        listen = "[::]:9001"
        bootnodes = ["seed.example.org:9741", "10.0.0.1:9741"]
        max_outbound = 2
        produce = true
        log_level = "debug"
        """,
    )
    config = load_config(["--config", str(path)])
    assert config.max_outbound == 2
    assert config.network == "devnet" and not config.devnet
    assert config.datadir == Path("/srv/pacata")
    assert config.rpc == HostPort("127.0.0.1", 9000)
    assert config.listen == HostPort("::", 9001)
    assert str(config.listen) == "[::]:9001"
    assert config.bootnodes == (HostPort("seed.example.org", 9741), HostPort("10.0.0.1", 9741))
    assert config.produces
    assert config.log_level == "debug"
    assert config.config_file == path


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
        network = "devnet"
        datadir = "/srv/pacata"
        rpc = "127.0.0.1:9000"
        bootnodes = ["seed.example.org:9741"]
        max_outbound = 2
        produce = true
        log_level = "debug"
        """,
    )
    config = load_config(
        [
            "--max-outbound",
            "0",
            "--config",
            str(path),
            "--genesis",
            str(tmp_path / "g.json"),
            "--datadir",
            str(tmp_path / "data"),
            "--rpc",
            "0.0.0.0:9100",
            "--bootnode",
            "a.example:1",
            "--bootnode",
            "b.example:2",
            "--no-produce",
            "--log-level",
            "warning",
        ]
    )
    # The network choice is one setting: --genesis replaces the file's `network`.
    assert config.network is None and config.genesis_file == tmp_path / "g.json"
    assert config.datadir == tmp_path / "data"
    assert config.rpc == HostPort("0.0.0.0", 9100)
    assert config.bootnodes == (HostPort("a.example", 1), HostPort("b.example", 2))
    assert config.produce is False
    assert config.log_level == "warning"
    assert config.max_outbound == 0


def test_file_values_not_given_as_flags_stay(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'rpc = "127.0.0.1:9000"\nproduce = false\n')
    config = load_config(["--config", str(path), "--devnet"])
    assert config.devnet
    assert config.rpc == HostPort("127.0.0.1", 9000)
    assert not config.produces


def test_relative_paths_in_the_file_are_relative_to_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'genesis = "nets/g.json"\ndatadir = "data"\n')
    config = load_config(["--config", str(path)])
    assert config.genesis_file == tmp_path / "nets" / "g.json"
    assert config.datadir == tmp_path / "data"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('rpc = "abc"', "config.toml: rpc: not HOST:PORT"),
        ('rpc = "127.0.0.1:70000"', "config.toml: rpc: not HOST:PORT (port 70000"),
        ("rpc = 9740", "config.toml: rpc: not HOST:PORT"),
        ('listen = "::1:9741"', "config.toml: listen: not HOST:PORT"),
        ('bootnodes = ["a.example:1", "nope"]', "config.toml: bootnodes.1: not HOST:PORT"),
        ('bootnodes = ["a.example:0"]', "config.toml: bootnodes.0: not HOST:PORT"),
        ('produce = "yes"', "config.toml: produce: must be true or false"),
        ("produce = 1", "config.toml: produce: must be true or false"),
        ('log_level = "loud"', "config.toml: log_level: Must be one of"),
        ('network = "../etc"', "config.toml: network: not a network name"),
        ('datadir = ""', "config.toml: datadir: must not be empty"),
        ('rpcc = "127.0.0.1:1"', "config.toml: rpcc: Unknown field."),
        ('devnet = true\nnetwork = "devnet"', "config.toml: devnet: choose one of devnet and"),
        ("rpc = [", "config.toml: not TOML"),
        ("max_outbound = 65", "config.toml: max_outbound: Must be greater than or equal to 0"),
        ("max_outbound = true", "config.toml: max_outbound: Not a valid integer"),
        ('max_outbound = "3"', "config.toml: max_outbound: Not a valid integer"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(["--config", str(path)])
    assert message in str(excinfo.value)


def test_every_bad_key_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'rpc = "x"\nproduce = 2\nextra = 1\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(["--config", str(path)])
    for key in ("rpc:", "produce:", "extra:"):
        assert f"config.toml: {key}" in str(excinfo.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(["--config", str(tmp_path / "absent.toml")])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rpc", "localhost"], "argument --rpc: not HOST:PORT"),
        (["--listen", "1.2.3.4:x"], "argument --listen: not HOST:PORT"),
        (["--bootnode", "a.example:0"], "argument --bootnode: not HOST:PORT"),
        (["--devnet", "--network", "devnet"], "not allowed with argument"),
        (["--network", "a/b"], "not a network name"),
        (["--network", "devnet\n"], "not a network name"),
        (["--log-level", "loud"], "invalid choice"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--max-outbound", "65"], "argument --max-outbound: not a number within 0-64"),
        (["--max-outbound", "-1"], "argument --max-outbound"),
        (["--max-outbound", "\u00b2"], "argument --max-outbound"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(argv)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9740", HostPort("127.0.0.1", 9740)),
        ("localhost:1", HostPort("localhost", 1)),
        ("seed-1.pacata.example:65535", HostPort("seed-1.pacata.example", 65535)),
        ("[::1]:9740", HostPort("::1", 9740)),
        ("[fe80::1]:80", HostPort("fe80::1", 80)),
    ],
)
def test_host_port_round_trip(text: str, expected: HostPort) -> None:
    assert HostPort.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":9740",
        "host",
        "host:",
        "host:-1",
        "host:65536",
        "host:80\n",
        "host\n:80",
        "[::1]",
        "[zz]:1",
        "a b:1",
        "-host:1",
    ],
)
def test_host_port_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not HOST:PORT"):
        HostPort.parse(text)


def test_port_zero_only_where_allowed() -> None:
    assert HostPort.parse("127.0.0.1:0", allow_port_zero=True).port == 0
    with pytest.raises(ValueError, match="not within 1-65535"):
        HostPort.parse("127.0.0.1:0")


# -- data directory ---------------------------------------------------------------------------


def test_xdg_data_home() -> None:
    home = Path("/home/ada")
    assert default_data_dir("pacata-devnet-1", {"XDG_DATA_HOME": "/data"}, home) == Path(
        "/data/pacata/pacata-devnet-1"
    )


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_xdg_default_when_unset_empty_or_relative(xdg: str | None) -> None:
    environ = {} if xdg is None else {"XDG_DATA_HOME": xdg}
    assert default_data_dir("pacata-devnet-1", environ, Path("/home/ada")) == Path(
        "/home/ada/.local/share/pacata/pacata-devnet-1"
    )


def test_datadir_flag_wins_over_xdg(tmp_path: Path) -> None:
    config = load_config(["--devnet", "--datadir", str(tmp_path)])
    assert config.data_dir("pacata-devnet-1", {"XDG_DATA_HOME": "/data"}) == tmp_path


def test_data_dir_uses_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert NodeConfig(devnet=True).data_dir("c-1") == tmp_path / "pacata" / "c-1"


# -- genesis choice -------------------------------------------------------------------------


def test_genesis_choice() -> None:
    assert load_config(["--devnet"]).load_genesis().chain_id == "pacata-devnet-1"
    assert load_config(["--network", "devnet"]).load_genesis().chain_id == "pacata-devnet-1"
    with pytest.raises(ConfigError, match="no network chosen"):
        load_config([]).load_genesis()
    with pytest.raises(InvalidGenesis, match="no shipped genesis"):
        load_config(["--network", "nonet"]).load_genesis()


def test_genesis_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidGenesis, match="cannot read genesis file"):
        load_config(["--genesis", str(tmp_path / "none.json")]).load_genesis()


# -- producer keys --------------------------------------------------------------------------


def write_key_file(directory: Path, document: object, mode: int = 0o600) -> Path:
    path = directory / PRODUCER_KEY_FILE
    path.write_text(json.dumps(document), encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_producer_key_file(tmp_path: Path) -> None:
    path = write_key_file(
        tmp_path,
        {"account_secret": devnet_key(3).secret.hex(), "vrf_seed": devnet_vrf_seed(3).hex()},
    )
    keys = load_producer_keys(path)
    assert keys.account.address == devnet_key(3).address
    assert keys.vrf.public_key == devnet_vrf_public_key(3)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"account_secret": "zz", "vrf_seed": "00" * 32}, "account_secret: not hexadecimal"),
        ({"account_secret": "00" * 31, "vrf_seed": "00" * 32}, "account_secret: must be 32"),
        ({"account_secret": "00" * 32, "vrf_seed": "11" * 32}, "account_secret: private key"),
        ({"account_secret": "11" * 32}, "vrf_seed: Missing data"),
        ({"account_secret": "11" * 32, "vrf_seed": "11" * 32, "x": 1}, "x: Unknown field"),
        ([1, 2], "Invalid input type"),
    ],
)
def test_bad_producer_key_file(tmp_path: Path, document: object, message: str) -> None:
    path = write_key_file(tmp_path, document)
    with pytest.raises(ConfigError, match=message):
        load_producer_keys(path)


def test_producer_keys_for_each_kind_of_node(tmp_path: Path) -> None:
    devnet = producer_keys_for(load_config(["--devnet"]), tmp_path)
    assert devnet is not None and devnet.account.address == devnet_key(0).address
    # Another network without a key file: no keys, and --produce is an error naming the file.
    assert producer_keys_for(load_config(["--network", "devnet"]), tmp_path) is None
    with pytest.raises(ConfigError, match=r"--produce needs producer keys.*producer\.key"):
        producer_keys_for(load_config(["--network", "devnet", "--produce"]), tmp_path)
    write_key_file(
        tmp_path,
        {"account_secret": devnet_key(0).secret.hex(), "vrf_seed": devnet_vrf_seed(0).hex()},
    )
    keys = producer_keys_for(load_config(["--network", "devnet", "--produce"]), tmp_path)
    assert keys is not None and keys.account.address == devnet_key(0).address


def test_key_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_key_file(
        tmp_path,
        {"account_secret": devnet_key(0).secret.hex(), "vrf_seed": devnet_vrf_seed(0).hex()},
        mode=0o644,
    )
    load_producer_keys(path)
    assert "readable by other users" in caplog.text


def test_the_vpn_side_from_flags_and_the_file(tmp_path: Path) -> None:
    assert (load_config([]).vpn, load_config([]).vpn_interface) == (False, "pacata0")
    path = write_config(tmp_path, '[vpn]\nenabled = true\ninterface = "wg-pacata"\n')
    config = load_config(["--config", str(path)])
    assert (config.vpn, config.vpn_interface) == (True, "wg-pacata")
    config = load_config(["--config", str(path), "--no-vpn", "--vpn-interface", "p1"])
    assert (config.vpn, config.vpn_interface) == (False, "p1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[vpn]\ninterface = "a/b"\n', "config.toml: vpn.interface: invalid interface name"),
        ('[vpn]\ninterface = "sixteen-bytes-xx"\n', "vpn.interface: invalid interface name"),
        ('[vpn]\nenabled = "yes"\n', "config.toml: vpn.enabled: must be true or false"),
        ("[vpn]\nport = 1\n", "config.toml: vpn.port: Unknown field."),
        ("vpn = true\n", "config.toml: vpn: must be a table ([vpn])"),
    ],
)
def test_a_bad_vpn_table_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(["--config", str(path)])
    assert message in str(excinfo.value)


def test_a_bad_vpn_interface_flag() -> None:
    with pytest.raises(ConfigError, match="argument --vpn-interface: invalid interface name"):
        load_config(["--vpn-interface", "a b"])
