"""Real `pacatad` processes on loopback: the DHT and STUN on the node's UDP port.

Five nodes from one bootnode; the four others dial at most one peer (`--max-outbound 1`), so
over TCP they form a star around the bootnode and no two of them are connected. Every node
still finds every other node's signed record by node id through the DHT
(`GET /api/dht/records/{id}`), and learns its reflexive address from a peer by STUN
(`GET /api/status`). One node listens on 0.0.0.0: its reflexive address (127.0.0.1:port) is
another address, so its record gains that UDP endpoint under a higher sequence number and the
DHT serves the new record.

Every wait polls a condition with a deadline; every process is killed and reaped in `finally`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pacata.p2p.records import NodeRecord, Transport, node_id_of
from pacata.testing.node_process import NodeProcess, free_port, write_test_genesis

pytestmark = pytest.mark.slow

CHAIN_ID = "pacata-dht-test-1"
LEAVES = 4


@contextmanager
def nodes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    try:
        yield started
    finally:
        for node in started:
            node.close()


def found_record(node: NodeProcess, node_id: str) -> dict[str, Any] | None:
    answer: dict[str, Any] = node.get(f"/api/dht/records/{node_id}")
    return answer if answer.get("node_id") == node_id else None


def test_every_node_finds_every_record_through_the_dht_and_learns_its_address(
    tmp_path: Path,
) -> None:
    genesis = write_test_genesis(
        tmp_path / "genesis.json",
        chain_id=CHAIN_ID,
        timestamp_ms=time.time_ns() // 1_000_000 - 5_000,
    )
    ports: dict[str, int] = {}
    with nodes() as started:

        def start(name: str, host: str, **kwargs: Any) -> NodeProcess:
            ports[name] = port = free_port()
            node = NodeProcess(
                name,
                genesis=genesis,
                datadir=tmp_path / name,
                listen=f"{host}:{port}",
                log_dir=tmp_path,
                **kwargs,
            )
            started.append(node)
            return node

        boot = start("boot", "127.0.0.1")
        boot.wait_ready()
        leaves = [
            start(
                f"leaf{i}",
                "0.0.0.0" if i == 1 else "127.0.0.1",
                bootnodes=[f"127.0.0.1:{ports['boot']}"],
                extra=["--max-outbound", "1"],
            )
            for i in range(1, LEAVES + 1)
        ]
        everyone = [boot, *leaves]
        for node in leaves:
            node.wait_ready()

        # STUN: each node's reflexive address, as a peer saw its UDP port.
        for node in everyone:
            expected = f"127.0.0.1:{ports[node.name]}"
            node.wait_for(
                "a reflexive address",
                lambda n=node, e=expected: n.status()["reflexive_address"] == e,
            )
            assert f"reflexive address {expected}" in node.log_text()
        ids = {node.name: node.status()["node_id"] for node in everyone}

        # TCP: a star around the bootnode.
        boot.wait_for("four peers", lambda: boot.status()["peers"] == LEAVES)
        for node in leaves:
            node.wait_for("its one peer", lambda n=node: n.status()["peers"] == 1)

        # The DHT: every node knows every other, and finds every record by node id.
        for node in everyone:
            node.wait_for(
                "every DHT contact",
                lambda n=node: n.status()["dht"]["contacts"] == LEAVES,
            )
        sources = []
        for asker in everyone:
            for owner in everyone:
                if owner is asker:
                    continue
                found = asker.wait_for(
                    f"the record of {owner.name}",
                    lambda a=asker, o=owner: found_record(a, ids[o.name]),
                )
                record = NodeRecord.decode(bytes.fromhex(found["encoded"]))
                assert record.verify() and found["verified"]
                assert node_id_of(record.public_key).hex() == ids[owner.name]
                assert found["public_key"] == record.public_key.hex()
                assert found["seq"] == record.seq
                tcp = record.endpoint(Transport.TCP)
                assert tcp is not None and tcp.port == ports[owner.name]
                sources.append(found["source"])
        assert set(sources) <= {"local", "network"}

        # The leaf on 0.0.0.0 added its reflexive UDP endpoint; the DHT serves that record.
        wildcard = leaves[0]
        reflexive = {"transport": "udp", "host": "127.0.0.1", "port": ports[wildcard.name]}
        for asker in [boot, *leaves[1:]]:
            found = asker.wait_for(
                "the record with the reflexive endpoint",
                lambda a=asker: (
                    (r := found_record(a, ids[wildcard.name])) is not None
                    and reflexive in r["endpoints"]
                    and r
                ),
            )
            assert found["endpoints"][:2] == [
                {"transport": "tcp", "host": "0.0.0.0", "port": ports[wildcard.name]},
                {"transport": "udp", "host": "0.0.0.0", "port": ports[wildcard.name]},
            ]
        assert "node record: endpoints now" in wildcard.log_text()
        for node in leaves[1:]:
            assert "node record: endpoints now" not in node.log_text()

        # No two leaves were connected over TCP: their records came through the DHT alone.
        for node in leaves:
            peer_ids = {peer["node_id"] for peer in node.get("/api/peers")["peers"]}
            assert peer_ids == {ids["boot"]}
        assert f"pacata_dht_contacts {LEAVES}" in boot.request_text("/metrics")
        assert all(node.process.poll() is None for node in everyone)
