"""The node's UDP side (`NodeDiscovery`) on loopback, in one process: real sockets, real keys,
the real DHT and STUN. Joining through a bootnode name, publishing and finding node records,
record updates, reflexive addresses, and the record's endpoints (`record_endpoints`).

Every wait polls a condition with a deadline; every endpoint is closed and every task
cancelled in `finally`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.node.discovery import DhtUnavailable, NodeDiscovery
from pacata.node.peering import record_endpoints
from pacata.p2p.peers import DialAddress
from pacata.p2p.records import Endpoint, NodeRecord, Transport, node_id_of
from pacata.p2p.udp_address import Address

LOOPBACK = "127.0.0.1"
WG = bytes(32)


def run_async(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(asyncio.wait_for(test(), 60.0))

    return run


async def eventually(what: str, probe: Callable[[], bool], deadline_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while not probe():
        if loop.time() > deadline:
            raise AssertionError(f"no {what} within {deadline_s} s")
        await asyncio.sleep(0.01)


class Node:
    """One node's UDP side, with the record pacatad would give it."""

    def __init__(self, name: str, bootnodes: list[DialAddress]) -> None:
        self.key = PrivateKey(sha256(name.encode()))
        self.reflexive: list[Address] = []
        self.discovery = NodeDiscovery(self.key, bootnodes, on_reflexive=self.reflexive.append)
        self.seq = 1
        self.task: asyncio.Task[None] | None = None

    @property
    def node_id(self) -> bytes:
        return self.discovery.node_id

    @property
    def address(self) -> Address:
        return self.discovery.udp.local_address

    def record(self) -> NodeRecord:
        host, port = self.address
        return NodeRecord.create(self.key, self.seq, record_endpoints(host, port), WG)

    async def start(self) -> None:
        await self.discovery.start(LOOPBACK, 0)
        self.discovery.publish(self.record())
        self.task = asyncio.create_task(self.discovery.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.discovery.close()


@asynccontextmanager
async def network(count: int) -> AsyncIterator[list[Node]]:
    """A seed, then `count - 1` nodes whose bootnode is the seed, by name and port."""
    nodes = [Node("seed", [])]
    try:
        await nodes[0].start()
        seed_port = nodes[0].address[1]
        for index in range(1, count):
            node = Node(f"node {index}", [DialAddress("localhost", seed_port)])
            nodes.append(node)
            await node.start()
        yield nodes
    finally:
        for node in nodes:
            await node.stop()


@run_async
async def test_nodes_join_through_a_bootnode_and_find_each_others_records() -> None:
    async with network(4) as nodes:
        seed = nodes[0]
        # The seed learns its own address from the others once the TCP side reports them.
        for node in nodes[1:]:
            seed.discovery.peer_connected(node.node_id, node.address)
        for node in nodes:
            await eventually(
                "reflexive address", lambda n=node: n.discovery.reflexive_address == n.address
            )
            assert node.reflexive == [node.address]
            await eventually("every contact", lambda n=node: n.discovery.contacts == 3)
        for asker in nodes:
            for owner in nodes:
                found = await asker.discovery.find_record(owner.node_id)
                assert found is not None
                assert found.record == owner.record()
                assert found.record.verify()
                assert node_id_of(found.record.public_key) == owner.node_id
                assert found.local == (found.hops == 0)
        unknown = await nodes[1].discovery.find_record(sha256(b"nobody"))
        assert unknown is None


@run_async
async def test_a_new_record_replaces_the_old_one() -> None:
    async with network(3) as nodes:
        owner, asker = nodes[1], nodes[2]

        async def seq_found() -> int:
            found = await asker.discovery.find_record(owner.node_id)
            return -1 if found is None else found.record.seq

        async def wait_for_seq(seq: int) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15.0
            while await seq_found() != seq:
                assert loop.time() < deadline, f"no record {seq} within 15 s"
                await asyncio.sleep(0.01)

        await wait_for_seq(1)
        owner.seq = 2
        owner.discovery.publish(owner.record())
        await wait_for_seq(2)
        now = asyncio.get_running_loop().time()
        assert asker.discovery.dht.get_local(owner.node_id, now) == owner.record().encode()


@run_async
async def test_what_discovery_refuses() -> None:
    node = Node("lonely", [DialAddress("localhost", 9)])  # nobody answers there
    other = PrivateKey(sha256(b"someone else"))
    try:
        await node.start()
        with pytest.raises(ValueError, match="own record"):
            node.discovery.publish(NodeRecord.create(other, 1, (), WG))
        assert await node.discovery.find_record(sha256(b"nobody"), deadline_s=5.0) is None
        found = await node.discovery.find_record(node.node_id)
        assert found is not None and found.local and found.hops == 0
    finally:
        await node.stop()
    with pytest.raises(DhtUnavailable):
        await node.discovery.find_record(node.node_id)


def test_record_endpoints_add_the_reflexive_address_when_it_is_another() -> None:
    tcp, udp = Transport.TCP, Transport.UDP
    listening = (Endpoint(tcp, "127.0.0.1", 9741), Endpoint(udp, "127.0.0.1", 9741))
    assert record_endpoints("127.0.0.1", 9741) == listening
    assert record_endpoints("127.0.0.1", 9741, ("127.0.0.1", 9741)) == listening
    assert record_endpoints("127.0.0.1", 9741, ("203.0.113.5", 40312)) == (
        *listening,
        Endpoint(udp, "203.0.113.5", 40312),
    )
    assert record_endpoints("0.0.0.0", 9741, ("127.0.0.1", 9741))[2] == Endpoint(
        udp, "127.0.0.1", 9741
    )
    assert record_endpoints("::", 9741, ("2001:db8::1", 9741))[2] == Endpoint(
        udp, "2001:db8::1", 9741
    )
    assert len(record_endpoints("node.example.org", 9741, ("192.0.2.1", 9741))) == 3
