"""The asyncio UDP endpoint on loopback: real sockets, real STUN clients, the DHT, the hook.

The RFC 5389 client side of `test_an_rfc5389_request_built_by_hand_is_answered` is written here
from the RFC (header, XOR-MAPPED-ADDRESS, FINGERPRINT with zlib), independently of
`pacata.p2p.stun`. The Debian `stun` (RFC 3489) and coturn's `turnutils_stunclient` (RFC 5389)
run as subprocesses when installed (`scripts/install.sh --test` installs them).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import socket
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pacata.chain.keys import PrivateKey
from pacata.p2p.dht import DhtNode
from pacata.p2p.stun import BindingFailed, BindingSucceeded, RetransmissionPolicy, StunAgent
from pacata.p2p.udp_endpoint import UdpEndpoint

LOOPBACK = "127.0.0.1"
COOKIE = 0x2112A442


def run_async(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Runs an async test in its own event loop (the project has no asyncio pytest plugin)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(asyncio.wait_for(test(), 60.0))

    return run


@asynccontextmanager
async def _endpoint(host: str = LOOPBACK, **kwargs: object) -> AsyncIterator[UdpEndpoint]:
    endpoint = UdpEndpoint(**kwargs)  # type: ignore[arg-type]
    await endpoint.start(host, 0)
    try:
        yield endpoint
    finally:
        endpoint.close()


def _client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.setblocking(False)
    return sock


async def _exchange(sock: socket.socket, datagram: bytes, server: tuple[str, int]) -> bytes:
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, datagram, server)
    return await asyncio.wait_for(loop.sock_recv(sock, 2048), 5.0)


@run_async
async def test_an_rfc5389_request_built_by_hand_is_answered() -> None:
    transaction_id = os.urandom(12)
    request = struct.pack(">HHI", 0x0001, 8, COOKIE) + transaction_id
    request += struct.pack(">HHI", 0x8028, 4, zlib.crc32(request) ^ 0x5354554E)
    async with _endpoint() as endpoint:
        with _client_socket() as sock:
            reply = await _exchange(sock, request, endpoint.local_address)
            port = sock.getsockname()[1]
    message_type, length, cookie = struct.unpack(">HHI", reply[:8])
    assert (message_type, cookie, reply[8:20]) == (0x0101, COOKIE, transaction_id)
    assert length == len(reply) - 20
    assert struct.unpack(">I", reply[-4:])[0] == zlib.crc32(reply[:-8]) ^ 0x5354554E
    attributes, position = {}, 20
    while position < len(reply) - 8:
        kind, size = struct.unpack(">HH", reply[position : position + 4])
        attributes[kind] = reply[position + 4 : position + 4 + size]
        position += 4 + size + (-size % 4)
    _, family, xport = struct.unpack(">BBH", attributes[0x0020][:4])
    xaddress = struct.unpack(">I", attributes[0x0020][4:8])[0]
    assert family == 1
    assert xport ^ (COOKIE >> 16) == port
    assert socket.inet_ntoa(struct.pack(">I", xaddress ^ COOKIE)) == LOOPBACK


@run_async
async def test_two_nodes_learn_their_addresses_from_each_other() -> None:
    async with _endpoint() as first, _endpoint() as second:
        event = await first.request_binding(second.local_address)
        assert isinstance(event, BindingSucceeded)
        assert event.mapped_address == first.local_address
        assert await second.discover_reflexive_address([first.local_address]) == (
            second.local_address
        )


@run_async
async def test_discovery_with_a_deadline_does_not_wait_for_silent_servers() -> None:
    with _client_socket() as silent:
        quiet = silent.getsockname()
        async with _endpoint() as first, _endpoint() as second:
            loop = asyncio.get_running_loop()
            started = loop.time()
            mapped = await second.discover_reflexive_address(
                [first.local_address, quiet], timeout=0.5
            )
            assert mapped == second.local_address
            assert loop.time() - started < 5.0  # the deadline, not the silent server's 39.5 s
            assert await second.discover_reflexive_address([quiet], timeout=0.05) is None
            # Ten transactions are now outstanding to that server at most (RFC 5389 §7.2):
            # asking it again is skipped, not an error.
            for _ in range(10):
                await second.discover_reflexive_address([quiet], timeout=0.01)
            assert second.stun.pending() == 10
            assert await second.discover_reflexive_address([quiet], timeout=0.05) is None
            assert await second.discover_reflexive_address([], timeout=0.05) is None


@run_async
async def test_a_silent_server_times_out_on_the_rfc_schedule() -> None:
    fast = RetransmissionPolicy(rto=0.01, max_requests=3, last_wait_rtos=2)
    with _client_socket() as silent:
        async with _endpoint(stun=StunAgent(retransmission=fast)) as endpoint:
            event = await asyncio.wait_for(endpoint.request_binding(silent.getsockname()), 5.0)
            received = 0
            while True:
                try:
                    silent.recv(2048)
                    received += 1
                except BlockingIOError:
                    break
    assert isinstance(event, BindingFailed)
    assert event.reason == "timeout"
    assert received == 3


@run_async
async def test_other_datagrams_go_to_the_hook_and_it_can_answer() -> None:
    got: list[tuple[bytes, tuple[str, int]]] = []
    wireguard_initiation = b"\x01\x00\x00\x00" + bytes(144)
    async with _endpoint() as endpoint:
        endpoint.set_datagram_handler(
            lambda data, source: (got.append((data, source)), endpoint.send_datagram(b"ok", source))
        )
        with _client_socket() as sock:
            reply = await _exchange(sock, wireguard_initiation, endpoint.local_address)
            assert reply == b"ok"
            assert got == [(wireguard_initiation, sock.getsockname())]
        assert endpoint.dispatched["wireguard"] == 1
        assert endpoint.dispatched["stun"] == 0


@run_async
async def test_a_dual_stack_socket_reports_ipv4_clients_as_ipv4() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this namespace")
    try:
        async with _endpoint("::") as endpoint:
            server = (LOOPBACK, endpoint.local_address[1])
            async with _endpoint() as client:
                event = await client.request_binding(server)
                assert isinstance(event, BindingSucceeded)
                assert event.mapped_address == client.local_address
    except OSError as error:
        pytest.skip(f"no dual-stack socket here: {error}")


@run_async
async def test_dht_over_loopback_with_real_keys() -> None:
    keys = [PrivateKey(bytes(31) + bytes((i,))) for i in range(1, 5)]

    def node(key: PrivateKey) -> DhtNode:
        return DhtNode(key, validate=lambda k, v: v.startswith(b"record"), newer=lambda o, n: n > o)

    async with (
        _endpoint(dht=node(keys[0])) as seed,
        _endpoint(dht=node(keys[1])) as first,
        _endpoint(dht=node(keys[2])) as second,
        _endpoint(dht=node(keys[3])) as third,
    ):
        for endpoint in (first, second, third):
            joined = await asyncio.wait_for(endpoint.bootstrap([seed.local_address]), 10.0)
            assert joined.contacts >= 1
        assert first.dht is not None
        key = first.dht.node_id
        put = await asyncio.wait_for(first.put(key, b"record-1"), 10.0)
        assert put.stored == put.contacted == 3
        found = await asyncio.wait_for(third.find_value(key), 10.0)
        assert found.value == b"record-1"
        assert seed.errors["protocol error"] == 0


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    # subprocess.run kills the child (by its pid) if it outlives the timeout.
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@run_async
async def test_the_debian_rfc3489_stun_client_gets_its_mapped_address() -> None:
    if shutil.which("stun") is None:
        pytest.skip("the `stun` client (Debian stun-client) is not installed")
    async with _endpoint() as endpoint:
        port = endpoint.local_address[1]
        result = await asyncio.to_thread(_run, ["stun", f"{LOOPBACK}:{port}", "-v"])
        answered = endpoint.stun.answered
    output = result.stdout + result.stderr
    opened = re.search(r"Opened port (\d+)", output)
    assert opened is not None, output
    # Test I: a Binding response with the client's own address in MAPPED-ADDRESS.
    assert f"MappedAddress = {LOOPBACK}:{opened.group(1)}" in output, output
    assert "Primary: Open" in output, output
    assert answered >= 3  # tests I, II and III (II and III get 420: one address only)


@run_async
async def test_coturn_rfc5389_client_gets_its_reflexive_address() -> None:
    if shutil.which("turnutils_stunclient") is None:
        pytest.skip("`turnutils_stunclient` (Debian coturn) is not installed")
    async with _endpoint() as endpoint:
        port = endpoint.local_address[1]
        result = await asyncio.to_thread(_run, ["turnutils_stunclient", "-p", str(port), LOOPBACK])
        answered = endpoint.stun.answered
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"UDP reflexive addr: {re.escape(LOOPBACK)}:\d+", result.stdout)
    assert answered >= 1


@run_async
async def test_attached_to_a_socket_owned_elsewhere() -> None:
    # As under the WireGuard engine: it sends for us, and feeds us from its own thread.
    sent: list[tuple[bytes, tuple[str, int]]] = []
    answered = asyncio.Event()

    def send(data: bytes, address: tuple[str, int]) -> None:
        sent.append((data, address))
        answered.set()

    endpoint = UdpEndpoint()
    endpoint.attach(send)
    try:
        request = struct.pack(">HHI", 0x0001, 0, COOKIE) + bytes(12)
        source = ("192.0.2.44", 51820)
        await asyncio.to_thread(endpoint.receive_threadsafe, request, source)
        await asyncio.wait_for(answered.wait(), 5.0)
    finally:
        endpoint.close()
    [(reply, destination)] = sent
    assert destination == source
    assert reply[:2] == b"\x01\x01"
