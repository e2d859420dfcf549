"""A two-host network lab in Linux network namespaces, for interop tests and the tunnel benchmark.

`NamespaceLab` creates two namespaces joined by a veth pair (underlay 10.231.0.1 ↔ 10.231.0.2),
starts WireGuard daemons inside them (`wireguard-go -f` or our `pacata-vpn wg-userspace -f`),
configures them with the stock `wg` tool, and measures with `ping` and `iperf3` run through
`ip netns exec`. Both tests/integration and benchmarks/tunnel.py use it.

Rules (the workplace's, and good manners for tests):

- traffic goes only to addresses inside the namespaces the lab created;
- everything the lab creates is released by `close()` (a `with` block calls it, also on
  failure): processes it started are stopped by pid (SIGTERM, then SIGKILL after a deadline),
  their configuration sockets removed, the namespaces deleted (which deletes their interfaces);
- nothing sleeps to wait for a daemon: readiness is a condition polled until a deadline
  (`wait_until`);
- interface names carry the process id, because `/var/run/wireguard` is shared by every
  namespace on the machine.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path
from pacata.vpn.wireguard import x25519_public_key

UNDERLAY = ("10.231.0.1", "10.231.0.2")
OVERLAY = ("10.232.0.1", "10.232.0.2")
# The test's own namespace ↔ side N (`reach`): a /30 of 10.233.0.0/16 of the lab's own (by its
# tag), so that labs of two test runs at once do not route over each other's links.
MANAGEMENT_PREFIX = "10.233"
WIREGUARD_PORT = 51820
TOOLS = ("ip", "wg", "wireguard-go", "iperf3", "ping")


# The two ends of `transfer`, run with `ip netns exec` under this interpreter.
_RECEIVER = """
import hashlib, socket, sys
port = int(sys.argv[1])
listener = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
connection, _ = listener.accept()
digest, count = hashlib.sha256(), 0
while chunk := connection.recv(1 << 20):
    digest.update(chunk)
    count += len(chunk)
print(digest.hexdigest(), count, flush=True)
"""
_SENDER = """
import hashlib, os, socket, sys
address, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = os.urandom(1 << 20)
digest = hashlib.sha256()
with socket.create_connection((address, port), timeout=60) as connection:
    sent = 0
    while sent < size:
        chunk = (sent.to_bytes(8, "big") + block)[: min(1 << 20, size - sent)]
        connection.sendall(chunk)
        digest.update(chunk)
        sent += len(chunk)
print(digest.hexdigest(), flush=True)
"""


_LAB_NUMBERS = itertools.count()


class LabError(RuntimeError):
    """A lab step failed (a command exited non-zero, or a condition was not met in time)."""


def missing_requirements(tools: Sequence[str] = TOOLS) -> str | None:
    """Why the lab cannot run here (not root, a tool missing, no TUN), or None if it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN devices)"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (scripts/install.sh --test installs them)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls `condition` until it holds; raises LabError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not condition():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def socket_answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@dataclass
class WireGuardEnd:
    """One side of a tunnel: a daemon on `interface` in namespace `namespace`."""

    namespace: str
    interface: str
    private_key: bytes
    underlay: str
    overlay: str
    implementation: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def public_key(self) -> bytes:
        return x25519_public_key(self.private_key)

    @property
    def public_key_base64(self) -> str:
        return base64.b64encode(self.public_key).decode()


@dataclass(frozen=True, slots=True)
class PingResult:
    transmitted: int
    received: int
    average_ms: float
    minimum_ms: float
    median_ms: float


@dataclass
class NamespaceLab:
    """Two namespaces joined by a veth; see the module docstring."""

    # Unique among the labs of this machine's processes: the pid, and which lab of this process.
    tag: str = field(default_factory=lambda: f"{os.getpid() % 100000}{next(_LAB_NUMBERS)}")
    namespaces: tuple[str, str] = ("", "")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sockets: list[Path] = field(default_factory=list)
    key_directory: Path | None = None
    created: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.namespaces = (f"plab{self.tag}a", f"plab{self.tag}b")

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> NamespaceLab:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        self.key_directory = Path(tempfile.mkdtemp(prefix="pacata-lab-"))
        first, second = self.namespaces
        for namespace in self.namespaces:
            self.host("ip", "netns", "add", namespace)
            self.created.append(namespace)
            self.run(namespace, "ip", "link", "set", "lo", "up")
        veth = f"pv{self.tag}"
        self.host(
            "ip", "link", "add", f"{veth}a", "netns", first,
            "type", "veth", "peer", "name", f"{veth}b", "netns", second,
        )  # fmt: skip
        for namespace, end, address in ((first, "a", UNDERLAY[0]), (second, "b", UNDERLAY[1])):
            self.run(namespace, "ip", "addr", "add", f"{address}/24", "dev", f"{veth}{end}")
            self.run(namespace, "ip", "link", "set", f"{veth}{end}", "up")

    def reach(self, side: int) -> str:
        """Joins the test's own namespace to side `side` by a veth of its own, so that the
        test reaches a daemon's API there; returns that side's address on it."""
        namespace = self.namespaces[side]
        here, there = f"pm{self.tag}{'ab'[side]}", f"pn{self.tag}{'ab'[side]}"
        self.host("ip", "link", "add", here, "type", "veth", "peer", "name", there,
                  "netns", namespace)  # fmt: skip
        self.links.append(here)
        subnet = f"{MANAGEMENT_PREFIX}.{int(self.tag) % 128 * 2 + side}"
        self.host("ip", "addr", "add", f"{subnet}.1/30", "dev", here)
        self.host("ip", "link", "set", here, "up")
        self.run(namespace, "ip", "addr", "add", f"{subnet}.2/30", "dev", there)
        self.run(namespace, "ip", "link", "set", there, "up")
        return f"{subnet}.2"

    def close(self) -> None:
        for process in self.processes:
            self.stop(process)
        self.processes.clear()
        for path in self.sockets:
            with contextlib.suppress(OSError):
                path.unlink()
        for namespace in reversed(self.created):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        self.created.clear()
        for link in self.links:  # gone with its namespace's end; in case that failed
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        self.links.clear()
        if self.key_directory is not None:
            shutil.rmtree(self.key_directory, ignore_errors=True)
            self.key_directory = None

    @staticmethod
    def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
        """SIGTERM to `process` (by pid), SIGKILL if it has not exited by `timeout`."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    # -- commands -----------------------------------------------------------------------------

    @staticmethod
    def host(*command: str, timeout: float = 30) -> str:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise LabError(f"{' '.join(command)}: {result.stderr.decode().strip()}")
        return result.stdout.decode()

    def run(self, namespace: str, *command: str, timeout: float = 60) -> str:
        return self.host("ip", "netns", "exec", namespace, *command, timeout=timeout)

    def spawn(
        self, namespace: str, *command: str, log: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Starts `command` in `namespace`; its output goes to the log file `log` (kept until
        `close`, read with `log_text`) or nowhere."""
        output: int | IO[bytes] = subprocess.DEVNULL
        if log is not None:
            assert self.key_directory is not None
            output = open(self.key_directory / f"{log}.log", "wb")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *command],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        finally:
            if not isinstance(output, int):
                output.close()
        self.processes.append(process)
        return process

    def log_text(self, log: str) -> str:
        assert self.key_directory is not None
        path = self.key_directory / f"{log}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- WireGuard daemons --------------------------------------------------------------------

    def start(self, side: int, implementation: str, *extra: str) -> WireGuardEnd:
        """Starts `wireguard-go` or `pacata` in the foreground on side 0 or 1, waits for its
        configuration socket, brings the interface up with its overlay address."""
        namespace = self.namespaces[side]
        interface = f"{'pg' if implementation == 'wireguard-go' else 'pp'}{self.tag}{'ab'[side]}"
        if implementation == "wireguard-go":
            command: tuple[str, ...] = ("wireguard-go", "-f", interface)
        else:
            command = (
                sys.executable, "-m", "pacata.cli", "-v",
                "wg-userspace", "-f", *extra, interface,
            )  # fmt: skip
        path = socket_path(interface, SOCKET_DIRECTORY)
        self.sockets.append(path)
        process = self.spawn(namespace, *command, log=interface)
        wait_until(
            lambda: socket_answers(path) or process.poll() is not None,
            20,
            f"{implementation} to open {path}",
        )
        if process.poll() is not None:
            output = self.log_text(interface)
            raise LabError(f"{implementation} exited with {process.returncode}: {output}")
        end = WireGuardEnd(
            namespace=namespace,
            interface=interface,
            private_key=os.urandom(32),
            underlay=UNDERLAY[side],
            overlay=OVERLAY[side],
            implementation=implementation,
            process=process,
        )
        self.run(namespace, "ip", "addr", "add", f"{end.overlay}/24", "dev", interface)
        self.run(namespace, "ip", "link", "set", interface, "mtu", "1420", "up")
        return end

    def key_file(self, end: WireGuardEnd) -> str:
        assert self.key_directory is not None
        path = self.key_directory / f"{end.interface}.key"
        path.write_text(base64.b64encode(end.private_key).decode() + "\n")
        path.chmod(0o600)
        return str(path)

    def wg(self, end: WireGuardEnd, *arguments: str) -> str:
        return self.run(end.namespace, "wg", *arguments)

    def connect(self, first: WireGuardEnd, second: WireGuardEnd, *, keepalive: int = 0) -> None:
        """Configures each end with `wg set` as the other's peer (keys, port, endpoint, allowed
        IPs = the peer's overlay address)."""
        for end, peer in ((first, second), (second, first)):
            arguments = [
                "set", end.interface,
                "private-key", self.key_file(end),
                "listen-port", str(WIREGUARD_PORT),
                "peer", peer.public_key_base64,
                "endpoint", f"{peer.underlay}:{WIREGUARD_PORT}",
                "allowed-ips", f"{peer.overlay}/32",
            ]  # fmt: skip
            if keepalive:
                arguments += ["persistent-keepalive", str(keepalive)]
            self.wg(end, *arguments)

    def tunnel(
        self, first: str, second: str, *, extra: Sequence[str] = ()
    ) -> tuple[WireGuardEnd, WireGuardEnd]:
        """A configured tunnel: implementation `first` on side 0, `second` on side 1."""
        a = self.start(0, first, *(extra if first == "pacata" else ()))
        b = self.start(1, second, *(extra if second == "pacata" else ()))
        self.connect(a, b)
        return a, b

    def stop_end(self, end: WireGuardEnd) -> int | None:
        if end.process is None:
            return None
        status = self.stop(end.process)
        self.processes.remove(end.process)
        return status

    # -- measurements -------------------------------------------------------------------------

    def ping(
        self, side: int, address: str, *, count: int = 5, interval: float = 0.2,
        timeout: float = 30,
    ) -> PingResult:  # fmt: skip
        result = subprocess.run(
            ["ip", "netns", "exec", self.namespaces[side], "ping", "-n",
             "-c", str(count), "-i", f"{interval:g}", "-W", "2", address],
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        text = result.stdout.decode()
        counts = re.search(r"(\d+) packets transmitted, (\d+) received", text)
        if counts is None:
            raise LabError(f"unexpected ping output: {text!r} {result.stderr.decode()!r}")
        rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", text)
        times = [float(value) for value in re.findall(r"time=([\d.]+) ms", text)]
        return PingResult(
            transmitted=int(counts.group(1)),
            received=int(counts.group(2)),
            average_ms=float(rtt.group(2)) if rtt else float("nan"),
            minimum_ms=float(rtt.group(1)) if rtt else float("nan"),
            median_ms=statistics.median(times) if times else float("nan"),
        )

    def transfer(
        self, sender_side: int, address: str, size: int, *, port: int = 5301
    ) -> tuple[str, str, int]:
        """Sends `size` pseudo-random bytes over TCP from `sender_side` to a listener at
        `address` on the other side; returns (sha256 sent, sha256 received, bytes received)."""
        receiver_side = 1 - sender_side
        log = f"receiver{port}"
        receiver = self.spawn(
            self.namespaces[receiver_side], sys.executable, "-c", _RECEIVER, str(port), log=log
        )
        try:

            def listening() -> bool:
                listing = self.run(
                    self.namespaces[receiver_side], "ss", "-ltnH", f"sport = :{port}"
                )
                return bool(listing.strip()) or receiver.poll() is not None

            wait_until(listening, 10, "the receiver to listen")
            sent = self.run(
                self.namespaces[sender_side],
                sys.executable, "-c", _SENDER, address, str(port), str(size),
                timeout=120,
            ).split()[0]  # fmt: skip
            receiver.wait(60)
        finally:
            self.stop(receiver)
            self.processes.remove(receiver)
        digest, count = self.log_text(log).split()
        return sent, digest, int(count)

    def iperf3(self, server_side: int, address: str, *, seconds: float, port: int = 5201) -> float:
        """TCP throughput in Mbit/s from the other side to `address` on `server_side`."""
        server = self.spawn(self.namespaces[server_side], "iperf3", "-s", "-1", "-p", str(port))
        try:
            # -1: the server exits after one test, so it is done when the client is.
            def listening() -> bool:
                listing = self.run(self.namespaces[server_side], "ss", "-ltnH", f"sport = :{port}")
                return bool(listing.strip()) or server.poll() is not None

            wait_until(listening, 10, "iperf3 to listen")
            client = self.run(
                self.namespaces[1 - server_side],
                "iperf3", "-c", address, "-p", str(port), "-t", f"{seconds:g}", "-J",
                timeout=seconds + 30,
            )  # fmt: skip
        finally:
            self.stop(server)
            self.processes.remove(server)
        report = json.loads(client)
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e6
