"""The packages, as users get them (docs/packaging.md, "The test"):

- the README's package route, line by line as written, as root in a booted Debian 12
  (mmdebstrap + `systemd-nspawn --boot`): `apt install ./…deb`, `pacata-vpn wallet create`,
  `pacata-vpn config setup`, `systemctl start pacata-vpn`; then the node's API answers and its
  height rises, the unit's `systemd-analyze security` score holds, an upgrade to release 2 keeps
  the wallet, the config and the chain, a wallet's account becomes the node's, `systemctl stop`
  ends the unit inactive (not failed), and remove keeps the data where purge deletes it;
- the .rpm in an rpm root (`rpm --root R --initdb`, `rpm --root R -i --nodeps`): its file
  list, its config file, its scriptlets' work, an upgrade and an erase;
- lintian and rpmlint find nothing (their deliberate exceptions are in packaging/ and
  explained in docs/packaging.md).

Slow (a build, a root file system, a boot); skipped with the reason when root or a tool is
missing. scripts/install.sh --test installs the tools.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixtures' types (tests/packaging/conftest.py)
    from conftest import BuiltPackages, Container

pytestmark = pytest.mark.slow

TREE = Path(__file__).resolve().parents[2]
UNIT = "pacata-vpn.service"
PASSPHRASE = "correct horse battery"
# `systemd-analyze security pacata-vpn.service` on Debian 12's systemd 252 (docs/packaging.md).
EXPOSURE_SCORE = 1.6
README_MARKER = "<!-- tests/packaging/test_packages.py runs the lines of this block"
HEIGHT_DEADLINE_S = 30.0


def readme_package_route() -> list[str]:
    """The commands of the README's package route, in order, without their comments."""
    text = (TREE / "README.md").read_text(encoding="utf-8")
    start = text.index("```sh\n", text.index(README_MARKER)) + len("```sh\n")
    block = text[start : text.index("```", start)]
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]


def as_root_inside(command: str, built: BuiltPackages) -> str:
    """A README line as the container's root runs it: without `sudo`, with the package file
    the build made (the README names the current one)."""
    assert command.startswith("sudo "), f"the README's route runs as root: {command!r}"
    command = command.removeprefix("sudo ")
    return re.sub(r"\./pacata-mesh-vpn_\S+_amd64\.deb", "./" + built.path("deb", "1").name, command)


def status(container: Container) -> dict[str, object]:
    return container.api("/api/status")


def height(container: Container) -> int:
    value = status(container)["height"]
    assert isinstance(value, int)
    return value


def wait_for_height(container: Container, above: int) -> int:
    deadline = time.monotonic() + HEIGHT_DEADLINE_S
    while (now := height(container)) <= above:
        assert time.monotonic() < deadline, f"the height stayed at {now}"
        time.sleep(0.5)
    return now


def exposure_score(container: Container) -> float:
    report = container.run(f"systemd-analyze security --no-pager {UNIT}").stdout
    match = re.search(rf"Overall exposure level for {re.escape(UNIT)}: ([0-9.]+)", report)
    assert match, report
    return float(match.group(1))


def test_the_readme_route_on_debian_12(booted: Container, built: BuiltPackages) -> None:
    container = booted
    try:
        _readme_route(container, built)
        _upgrade_keeps_wallet_config_and_chain(container, built)
        _the_node_takes_a_wallet_account(container)
        _stop_is_clean(container)
        _remove_keeps_data_purge_deletes_it(container)
    except Exception as failure:
        journal = container.journal(UNIT)
        raise AssertionError(f"{failure}\n-- the unit's journal --\n{journal}") from failure


def _readme_route(container: Container, built: BuiltPackages) -> None:
    said: dict[str, str] = {}  # each step's output, by its command's first words
    for line in readme_package_route():
        command = as_root_inside(line, built)
        if command.startswith("pacata-vpn wallet create "):
            # The passphrase is asked twice on the terminal, as a person would type it.
            output = container.run_on_terminal(
                command,
                [("passphrase of wallet", PASSPHRASE), ("the same passphrase", PASSPHRASE)],
            )
        else:
            result = container.run(command)
            output = result.stdout + result.stderr
        said[" ".join(command.split()[:3])] = output
    assert "Write these words down" in said["pacata-vpn wallet create"]
    assert "wrote /etc/pacata/pacatad.toml" in said["pacata-vpn config setup"]
    assert re.search(r"pacata-devnet-1 at height \d+", said["pacata-vpn status"])
    assert "alice/0" in said["pacata-vpn status"]
    # The unit is Type=notify: `systemctl start` returned once the node said READY=1.
    assert container.unit_property(UNIT, "ActiveState") == "active"
    assert container.unit_property(UNIT, "StatusText").startswith("serving the API on http://")
    # The node runs as its own user, with the VPN interface config setup turned on.
    main_pid = container.unit_property(UNIT, "MainPID")
    assert container.run(f"stat -c %U /proc/{main_pid}").stdout == "pacata\n"
    assert status(container)["vpn"] is not None
    wait_for_height(container, height(container))
    # The explorer's pages render inside the sandbox too (templates, no W+X memory).
    assert "<html" in container.http("/")
    assert exposure_score(container) <= EXPOSURE_SCORE


def _wallets(container: Container) -> str:
    return container.run("pacata-vpn wallet list --json").stdout


def _upgrade_keeps_wallet_config_and_chain(container: Container, built: BuiltPackages) -> None:
    wallets = _wallets(container)
    config = container.run("sha256sum /etc/pacata/pacatad.toml").stdout
    main_pid = container.unit_property(UNIT, "MainPID")
    before = height(container)
    block = container.api(f"/api/blocks/{before}")["hash"]
    container.run(f"apt install ./{built.path('deb', '2').name}")
    assert container.run("dpkg-query -W -f '${Version}' pacata-mesh-vpn").stdout == (
        f"{built.version}-2"
    )
    # prerm stopped the node before its files changed; postinst started the new one.
    assert container.unit_property(UNIT, "ActiveState") == "active"
    assert container.unit_property(UNIT, "MainPID") != main_pid
    assert container.run("sha256sum /etc/pacata/pacatad.toml").stdout == config
    assert _wallets(container) == wallets
    assert container.api(f"/api/blocks/{before}")["hash"] == block
    wait_for_height(container, before)


def _the_node_takes_a_wallet_account(container: Container) -> None:
    """`config setup --wallet` as root, with the service's data directory (docs/packaging.md,
    "A wallet's account as the node's")."""
    container.run_on_terminal(
        "pacata-vpn config setup --non-interactive --network devnet --datadir /var/lib/pacata "
        "--wallet alice --replace-account-key --yes --force",
        [("passphrase of wallet", PASSPHRASE)],
    )
    container.run("chown pacata:pacata /var/lib/pacata/account.key")
    container.run(f"systemctl restart {UNIT}")
    alice = json.loads(container.run("pacata-vpn wallet show alice --json").stdout)
    node = json.loads(container.run("pacata-vpn status --json").stdout)
    assert node["vpn"]["account"] == alice["accounts"][0]["address"]
    # What the node signs needs its admin cookie: root's commands find it with --datadir (here
    # the node then refuses the retirement for its own reason: it has no PAC for the fee).
    elsewhere = container.run("pacata-vpn relay retire --yes", check=False)
    assert "no admin cookie at /root/" in elsewhere.stderr
    signed = container.run("pacata-vpn relay retire --yes --datadir /var/lib/pacata", check=False)
    assert signed.returncode == 1 and "balance" in signed.stderr, signed.stderr


def _stop_is_clean(container: Container) -> None:
    container.run(f"systemctl stop {UNIT}")
    assert container.unit_property(UNIT, "ActiveState") == "inactive"
    assert container.unit_property(UNIT, "Result") == "success"
    assert container.unit_property(UNIT, "ExecMainStatus") == "0"
    assert "stopped cleanly at height" in container.journal(UNIT)


def _remove_keeps_data_purge_deletes_it(container: Container) -> None:
    container.run("apt remove -y pacata-mesh-vpn")
    container.run("test -d /var/lib/pacata/chain && test -f /etc/pacata/pacatad.toml")
    container.run("test ! -e /opt/pacata-mesh-vpn && test ! -e /usr/bin/pacatad")
    container.run("apt purge -y pacata-mesh-vpn")
    container.run("test ! -e /var/lib/pacata && test ! -e /etc/pacata")


# -- the .rpm --------------------------------------------------------------------------------


def _rpm(root: Path, *arguments: str | Path) -> str:
    result = subprocess.run(
        ["rpm", "--root", root, *arguments], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"rpm {arguments} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def test_the_rpm_in_an_rpm_root(built: BuiltPackages, rpm_root: Path) -> None:
    """The rpm root is a Debian root file system, so that the scriptlets find a shell and
    systemd-sysusers and do their work, and the installed commands find python3.11."""
    root = rpm_root
    _rpm(root, "--initdb")
    _rpm(root, "-i", "--nodeps", built.path("rpm", "1"))
    files = _rpm(root, "-ql", "pacata-mesh-vpn").split()
    for path in (
        "/usr/bin/pacatad",
        "/usr/bin/pacata-vpn",
        "/usr/lib/systemd/system/pacata-vpn.service",
        "/usr/lib/sysusers.d/pacata-vpn.conf",
        "/etc/pacata/pacatad.toml",
        "/usr/share/man/man8/pacatad.8.gz",
        "/usr/share/licenses/pacata-mesh-vpn/COPYRIGHT",
        "/opt/pacata-mesh-vpn/pyvenv.cfg",
        "/opt/pacata-mesh-vpn/bin/python3.11",
        "/opt/pacata-mesh-vpn/lib/python3.11/site-packages/pacata/node/daemon.py",
        "/opt/pacata-mesh-vpn/lib/python3.11/site-packages/pacata/node/__pycache__/"
        "daemon.cpython-311.pyc",
    ):
        assert path in files, path
    assert not [path for path in files if path.startswith(("/var/", "/home/", "/root/"))]
    assert _rpm(root, "-qc", "pacata-mesh-vpn").split() == ["/etc/pacata/pacatad.toml"]
    _rpm(root, "-V", "--nodeps", "pacata-mesh-vpn")  # every file as packaged
    scripts = _rpm(root, "-q", "--scripts", "pacata-mesh-vpn")
    for scriptlet in ("preinstall", "postinstall", "preuninstall", "postuninstall"):
        assert f"{scriptlet} scriptlet" in scripts, scriptlet
    assert "posttrans scriptlet" in scripts
    # What %pre and %post made: the user (no systemd runs here: nothing was started).
    passwd = (root / "etc/passwd").read_text()
    user = next(line for line in passwd.splitlines() if line.startswith("pacata:"))
    assert user.endswith(":/var/lib/pacata:/usr/sbin/nologin")
    state = (root / "var/lib/pacata").stat()
    assert state.st_uid == int(user.split(":")[2])
    assert oct(state.st_mode & 0o777) == "0o700"
    # The environment runs on the root's python3.11.
    version = subprocess.run(
        ["chroot", root, "/usr/bin/pacatad", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.strip() == f"pacatad {built.version}"

    # An upgrade keeps a changed config (%config(noreplace)) and the data.
    config = root / "etc/pacata/pacatad.toml"
    config.write_text(config.read_text() + "devnet = true\n")
    changed = hashlib.sha256(config.read_bytes()).hexdigest()
    (root / "var/lib/pacata/chain").mkdir()
    _rpm(root, "-U", "--nodeps", built.path("rpm", "2"))
    assert _rpm(root, "-q", "pacata-mesh-vpn").strip() == (
        f"pacata-mesh-vpn-{built.version}-2.x86_64"
    )
    assert hashlib.sha256(config.read_bytes()).hexdigest() == changed
    assert (root / "var/lib/pacata/chain").is_dir()

    # Erase keeps the data; rpm keeps the changed config as .rpmsave (it has no purge).
    _rpm(root, "-e", "--nodeps", "pacata-mesh-vpn")
    assert not (root / "opt/pacata-mesh-vpn").exists()
    assert not (root / "usr/bin/pacatad").exists()
    assert (root / "var/lib/pacata/chain").is_dir()
    assert (root / "etc/pacata/pacatad.toml.rpmsave").read_text().endswith("devnet = true\n")


# -- lint ------------------------------------------------------------------------------------


def test_lintian_finds_nothing(built: BuiltPackages, lintian: str) -> None:
    result = subprocess.run(
        [
            lintian,
            "--fail-on=error,warning",
            "--display-info",
            "--pedantic",
            built.path("deb", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_rpmlint_finds_nothing(built: BuiltPackages, rpmlint: str) -> None:
    result = subprocess.run(
        [rpmlint, "-c", TREE / "packaging" / "rpmlint.toml", built.path("rpm", "1")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout, result.stdout
