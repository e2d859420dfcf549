"""Two halves of a network cut apart keep producing, and converge to one chain when joined.

Side A runs in the test's own network namespace, side B in a namespace the test creates; a
veth pair carries the peer-to-peer traffic (10.77.0.0/24) and is cut with `ip link set ... down`;
a second veth pair (10.78.0.0/24) stays up so the test can read side B's API throughout.
Each side has a producer of a two-producer genesis whose lottery always wins (f = 1).
Namespaces and processes are removed in `finally`, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pacata.testing.node_process import (
    NodeProcess,
    free_port,
    write_producer_key,
    write_test_genesis,
)

pytestmark = [pytest.mark.slow, pytest.mark.root]

CHAIN_ID = "pacata-partition-1"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def namespace_pair() -> Iterator[str]:
    """A namespace `pp-<pid>` joined to ours by a p2p and a management veth pair."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    name = f"pp{os.getpid()}"
    p2p_a, p2p_b, mgmt_a, mgmt_b = f"{name}pa", f"{name}pb", f"{name}ma", f"{name}mb"
    try:
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
        for here, there, subnet in ((p2p_a, p2p_b, "10.77.0"), (mgmt_a, mgmt_b, "10.78.0")):
            ip("link", "add", here, "type", "veth", "peer", "name", there, "netns", name)
            ip("addr", "add", f"{subnet}.1/24", "dev", here)
            ip("link", "set", here, "up")
            ip("-n", name, "addr", "add", f"{subnet}.2/24", "dev", there)
            ip("-n", name, "link", "set", there, "up")
        yield name
    finally:
        for device in (p2p_a, mgmt_a):
            subprocess.run(["ip", "link", "del", device], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def hash_at(node: NodeProcess, height: int) -> str:
    return str(node.get(f"/api/blocks/{height}")["hash"])


def test_two_halves_keep_producing_apart_and_converge_when_joined(tmp_path: Path) -> None:
    now_ms = time.time_ns() // 1_000_000
    genesis = write_test_genesis(
        tmp_path / "genesis.json",
        chain_id=CHAIN_ID,
        timestamp_ms=now_ms - 2_000,
        producers=2,
        active_slot_coeff_bps=10_000,
    )
    started: list[NodeProcess] = []
    with namespace_pair() as namespace:
        try:
            write_producer_key(tmp_path / "a1", 0)
            write_producer_key(tmp_path / "b1", 1)
            a1_port, b1_port = free_port(), free_port()
            a1 = NodeProcess(
                "a1",
                genesis=genesis,
                datadir=tmp_path / "a1",
                listen=f"0.0.0.0:{a1_port}",
                produce=True,
                log_dir=tmp_path,
            )
            started.append(a1)
            a2 = NodeProcess(
                "a2",
                genesis=genesis,
                datadir=tmp_path / "a2",
                listen=f"0.0.0.0:{free_port()}",
                log_dir=tmp_path,
                bootnodes=[f"127.0.0.1:{a1_port}"],
            )
            started.append(a2)
            in_b = ["ip", "netns", "exec", namespace]
            b1 = NodeProcess(
                "b1",
                genesis=genesis,
                datadir=tmp_path / "b1",
                listen=f"0.0.0.0:{b1_port}",
                produce=True,
                log_dir=tmp_path,
                rpc_host="10.78.0.2",
                rpc_port=free_port(),
                wrapper=in_b,
                bootnodes=[f"10.77.0.1:{a1_port}"],
            )
            started.append(b1)
            b2 = NodeProcess(
                "b2",
                genesis=genesis,
                datadir=tmp_path / "b2",
                listen=f"0.0.0.0:{free_port()}",
                log_dir=tmp_path,
                rpc_host="10.78.0.2",
                rpc_port=free_port(),
                wrapper=in_b,
                bootnodes=[f"127.0.0.1:{b1_port}"],
            )
            started.append(b2)
            everyone = [a1, a2, b1, b2]
            for node in everyone:
                node.wait_ready()
            a1.wait_for("side B joined", lambda: a1.status()["peers"] >= 2)

            def agreed_height() -> int | None:
                """A height two below every tip on which all four nodes have the same block."""
                height = min(n.status()["height"] for n in everyone) - 2
                if height < 1:
                    return None
                return height if len({hash_at(n, height) for n in everyone}) == 1 else None

            joined = a1.wait_for("agreement while joined", agreed_height)

            ip("link", "set", f"{namespace}pa", "down")
            cut_heights = {n.name: n.status()["height"] for n in everyone}
            # Both sides go on producing, each on its own branch.
            for node in everyone:
                node.wait_for(
                    "blocks during the partition",
                    lambda n=node: n.status()["height"] >= cut_heights[n.name] + 4,
                )
            top = min(n.status()["height"] for n in everyone) - 1
            assert hash_at(a1, top) != hash_at(b1, top), "the halves did not diverge"

            ip("link", "set", f"{namespace}pa", "up")
            converged = a1.wait_for(
                "one chain again",
                lambda: (h := agreed_height()) is not None and h > top and h,
                deadline_s=60.0,
            )
            assert converged > joined
            for node in everyone:
                assert node.status()["peers"] >= 1
        finally:
            for node in started:
                node.close()
