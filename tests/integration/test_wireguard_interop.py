"""Our userspace engine against stock WireGuard, in network namespaces (needs root).

Two namespaces joined by a veth (pacata/testing/netns_lab.py): our `pacata-vpn wg-userspace` on one
side, `wireguard-go` on the other, both configured with the stock `wg`. Shown here:

- handshake and ping, initiated from either side;
- 100 MB over TCP each way, sha256 compared;
- a rekey that our side initiates (its REKEY_AFTER_TIME shortened to 2 s; wireguard-go's cannot
  be), after which wireguard-go reports a newer handshake and traffic goes on without loss;
- `wg set`, `wg show` (every field), `wg showconf`, `wg setconf`, peer removal and errors, on
  our engine;
- the daemon as `wireguard-go` behaves: it detaches, and removes its socket and interface on
  SIGTERM and when the interface is deleted;
- addresses, MTU, state and routes set through pyroute2 (`pacata/vpn/io/links.py`);
- the tunnel benchmark runs and reports its figures.

Everything runs inside namespaces the tests create and delete; processes are stopped by pid.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.testing.netns_lab import (
    OVERLAY,
    NamespaceLab,
    WireGuardEnd,
    missing_requirements,
    socket_answers,
    wait_until,
)
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path
from pacata.vpn.wireguard import x25519_public_key

pytestmark = pytest.mark.root

TRANSFER_BYTES = 100_000_000


@pytest.fixture
def tools() -> None:
    """Skips the test, with the reason, where root or a tool is missing."""
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def lab(tools: None) -> Iterator[NamespaceLab]:
    with NamespaceLab() as lab:
        yield lab


def latest_handshake(lab: NamespaceLab, end: WireGuardEnd) -> int:
    """Seconds since the epoch of the latest handshake `end` reports for its only peer."""
    (line,) = lab.wg(end, "show", end.interface, "latest-handshakes").splitlines()
    return int(line.split()[1])


@pytest.mark.parametrize("initiator", ["pacata", "wireguard-go"])
def test_handshake_and_ping(lab: NamespaceLab, initiator: str) -> None:
    ours, theirs = lab.tunnel("pacata", "wireguard-go")
    side = 0 if initiator == "pacata" else 1
    result = lab.ping(side, OVERLAY[1 - side], count=5, interval=0.05)
    assert result.received == result.transmitted == 5
    assert latest_handshake(lab, ours) > 0 and latest_handshake(lab, theirs) > 0
    # And the other way round over the same session.
    assert lab.ping(1 - side, OVERLAY[side], count=3, interval=0.05).received == 3


@pytest.mark.parametrize("direction", ["pacata-to-wireguard-go", "wireguard-go-to-pacata"])
def test_100_megabytes_arrive_intact(lab: NamespaceLab, direction: str) -> None:
    lab.tunnel("pacata", "wireguard-go")
    sender = 0 if direction == "pacata-to-wireguard-go" else 1
    sent, received, size = lab.transfer(sender, OVERLAY[1 - sender], TRANSFER_BYTES)
    assert size == TRANSFER_BYTES
    assert received == sent


def test_our_engine_rekeys_and_traffic_goes_on(lab: NamespaceLab) -> None:
    ours, theirs = lab.tunnel(
        "pacata",
        "wireguard-go",
        extra=(
            "--protocol-parameter", "rekey_after_time=2",
            "--protocol-parameter", "rekey_timeout=1",
        ),
    )  # fmt: skip
    assert lab.ping(0, OVERLAY[1], count=2, interval=0.05).received == 2
    first = latest_handshake(lab, theirs)
    sent = received = 0
    deadline = time.monotonic() + 20
    # We keep sending; once our keypair is 2 s old, sending starts a new handshake (ours: we
    # initiated the first one, and only the initiator rekeys by time).
    while latest_handshake(lab, theirs) <= first:
        assert time.monotonic() < deadline, "no new handshake within 20 s"
        result = lab.ping(0, OVERLAY[1], count=5, interval=0.1)
        sent += result.transmitted
        received += result.received
    assert latest_handshake(lab, ours) > first
    assert sent - received <= 1, f"lost {sent - received} of {sent} pings around the rekey"
    assert lab.ping(1, OVERLAY[0], count=5, interval=0.05).received == 5
    digest, echoed, size = lab.transfer(0, OVERLAY[1], 20_000_000)
    assert echoed == digest and size == 20_000_000
    assert latest_handshake(lab, theirs) > first


def dump_lines(lab: NamespaceLab, end: WireGuardEnd) -> list[list[str]]:
    return [line.split("\t") for line in lab.wg(end, "show", end.interface, "dump").splitlines()]


def test_wg_configures_and_inspects_our_engine(lab: NamespaceLab, tmp_path: Path) -> None:
    ours = lab.start(0, "pacata")
    name = ours.interface
    peer_one = base64.b64encode(x25519_public_key(os.urandom(32))).decode()
    peer_two = base64.b64encode(x25519_public_key(os.urandom(32))).decode()
    preshared = tmp_path / "psk"
    preshared.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    lab.wg(
        ours,
        "set", name,
        "private-key", lab.key_file(ours),
        "listen-port", "51999",
        "fwmark", "0x1234",
        "peer", peer_one,
        "preshared-key", str(preshared),
        "endpoint", "10.231.0.2:51820",
        "persistent-keepalive", "25",
        "allowed-ips", "10.5.0.0/24,fd05::/64",
        "peer", peer_two,
        "allowed-ips", "10.6.0.1/32",
    )  # fmt: skip
    interface, first, second = dump_lines(lab, ours)
    assert interface == [base64.b64encode(ours.private_key).decode(), ours.public_key_base64,
                         "51999", "0x1234"]  # fmt: skip
    assert first[0] == peer_one and first[1] == preshared.read_text().strip()
    assert first[2] == "10.231.0.2:51820"
    assert first[3] == "10.5.0.0/24,fd05::/64"
    assert first[4] == "0"  # no handshake yet
    assert int(first[5]) == 0  # nothing received
    assert int(first[6]) > 0  # the persistent keepalive's handshake initiation was sent
    assert first[7] == "25"
    assert second[:4] == [peer_two, "(none)", "(none)", "10.6.0.1/32"] and second[7] == "off"
    assert lab.wg(ours, "show", name, "listen-port").strip() == "51999"
    assert lab.wg(ours, "show", name, "fwmark").strip() == "0x1234"
    assert lab.wg(ours, "show", name, "public-key").strip() == ours.public_key_base64
    assert lab.wg(ours, "show", name, "peers").split() == [peer_one, peer_two]
    assert lab.wg(ours, "show", "interfaces").split().count(name) == 1
    configuration = lab.wg(ours, "showconf", name)
    assert "ListenPort = 51999" in configuration and "FwMark = 0x1234" in configuration
    assert f"PublicKey = {peer_one}" in configuration
    assert "AllowedIPs = 10.5.0.0/24, fd05::/64" in configuration
    assert "PersistentKeepalive = 25" in configuration
    lab.wg(ours, "set", name, "peer", peer_two, "remove")
    assert lab.wg(ours, "show", name, "peers").split() == [peer_one]
    # setconf replaces every peer (replace_peers=true on the wire).
    replacement = tmp_path / "replacement.conf"
    replacement.write_text(f"[Peer]\nPublicKey = {peer_two}\nAllowedIPs = 10.7.0.0/16\n")
    lab.wg(ours, "setconf", name, str(replacement))
    assert lab.wg(ours, "show", name, "peers").split() == [peer_two]
    # setconf also sets what the file leaves out: no private key, any port, no fwmark.
    assert lab.wg(ours, "show", name, "private-key").strip() == "(none)"
    assert lab.wg(ours, "show", name, "fwmark").strip() == "off"
    # An error reaches the tool as an errno: a listening port that is taken.
    taken = lab.spawn(ours.namespace, sys.executable, "-c",
                      "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                      "s.bind(('0.0.0.0', 51777)); time.sleep(60)")  # fmt: skip
    wait_until(
        lambda: "51777" in lab.run(ours.namespace, "ss", "-lunH"), 10, "the port to be taken"
    )
    refused = subprocess.run(
        ["ip", "netns", "exec", ours.namespace, "wg", "set", name, "listen-port", "51777"],
        capture_output=True,
        check=False,
    )
    lab.stop(taken)
    assert refused.returncode != 0
    assert b"Address already in use" in refused.stderr


def server_pid(path: Path) -> int:
    """The pid of the process serving a configuration socket (SO_PEERCRED)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(path))
        credentials = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    pid, _, _ = struct.unpack("3i", credentials)
    return pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize("ending", ["sigterm", "interface-deleted"])
def test_daemon_detaches_and_cleans_up(lab: NamespaceLab, ending: str) -> None:
    namespace = lab.namespaces[0]
    name = f"pd{lab.tag}"
    path = socket_path(name, SOCKET_DIRECTORY)
    lab.sockets.append(path)
    started = time.monotonic()
    lab.run(namespace, sys.executable, "-m", "pacata.cli", "wg-userspace", name)
    assert time.monotonic() - started < 15
    assert socket_answers(path)
    pid = server_pid(path)
    try:
        assert name in lab.run(namespace, "ip", "link", "show", name)
        if ending == "sigterm":
            os.kill(pid, signal.SIGTERM)
        else:
            lab.run(namespace, "ip", "link", "del", name)
        wait_until(lambda: not pid_alive(pid), 10, "the daemon to exit")
        assert not path.exists()
        links = lab.run(namespace, "ip", "-o", "link", "show")
        assert name not in links
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


_CONFIGURE_LINK = """
import ipaddress, subprocess, sys
from pacata.vpn.io.links import configure_link, link_exists
from pacata.vpn.io.userspace import UserspaceTunnel

name = sys.argv[1]
tunnel = UserspaceTunnel.create(name, mtu=1400)
try:
    configure_link(
        name,
        addresses=[ipaddress.ip_interface("10.240.0.1/24"), ipaddress.ip_interface("fd40::1/64")],
        mtu=1380,
        routes=[ipaddress.ip_network("10.241.0.0/16")],
    )
    shows = (["ip", "-o", "addr", "show", name], ["ip", "route"], ["ip", "link", "show", name])
    for command in shows:
        print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
finally:
    tunnel.close()
print("exists after close:", link_exists(name))
"""


def test_addresses_mtu_and_routes_through_pyroute2(lab: NamespaceLab) -> None:
    name = f"pr{lab.tag}"
    output = lab.run(lab.namespaces[0], sys.executable, "-c", _CONFIGURE_LINK, name)
    assert "inet 10.240.0.1/24" in output
    assert "inet6 fd40::1/64" in output
    assert f"10.241.0.0/16 dev {name}" in output
    assert "mtu 1380" in output and "UP" in output
    assert "exists after close: False" in output


@pytest.mark.slow
def test_the_tunnel_benchmark_runs_and_reports(tools: None, tmp_path: Path) -> None:
    """`benchmarks/tunnel.py --quick` exits 0 and writes its figures as a flat JSON object
    (speeds are not asserted: the machine may be busy)."""
    output = tmp_path / "tunnel.json"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "tunnel.py"), "--quick", "--json", str(output)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "wireguard-go" in result.stdout
    figures = json.loads(output.read_text())
    assert all(isinstance(value, int | float) for value in figures.values())
    for key in ("veth_mbps", "wireguard_go_mbps", "pacata_mbps"):
        assert figures[key] > 0, key
    for key in ("wireguard_go_rtt_ms", "pacata_rtt_ms"):
        assert figures[key] > 0, key
