"""The configuration socket (pacata/vpn/io/uapi_server.py) with a real client on a socket in a
temporary directory: get and set as `wg` sends them, errno replies, several requests on one
connection, malformed requests, a stale socket replaced, a live one refused, cleanup."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.testing.tun import SocketPairTun
from pacata.vpn.io.engine import UserspaceEngine
from pacata.vpn.io.uapi_server import InterfaceInUse, UapiServer
from pacata.vpn.wireguard import x25519_public_key


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[UserspaceEngine, UapiServer]]:
    tun = SocketPairTun("uapi0")
    engine = UserspaceEngine(tun.device)
    engine.start()
    server = UapiServer("uapi0", engine, directory=tmp_path)
    server.start()
    try:
        yield engine, server
    finally:
        server.close()
        engine.close()
        tun.close()


def exchange(path: Path, *requests: str) -> list[str]:
    """Sends each request on one connection; returns each reply (up to its blank line)."""
    replies: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(path))
        stream = client.makefile("rwb")
        for request in requests:
            stream.write(request.encode())
            stream.flush()
            lines: list[str] = []
            while (line := stream.readline().decode()) not in ("\n", ""):
                lines.append(line)
            replies.append("".join(lines))
    return replies


def test_set_then_get_on_one_connection(served: tuple[UserspaceEngine, UapiServer]) -> None:
    engine, server = served
    private_key = bytes(range(32))
    peer = x25519_public_key(bytes(range(1, 33)))
    set_reply, get_reply = exchange(
        server.path,
        f"set=1\nprivate_key={private_key.hex()}\nlisten_port=0\nfwmark=7\n"
        f"public_key={peer.hex()}\nendpoint=192.0.2.9:51820\npersistent_keepalive_interval=0\n"
        "allowed_ip=10.3.0.0/24\nallowed_ip=fd03::/64\n\n",
        "get=1\n\n",
    )
    assert set_reply == "errno=0\n"
    lines = get_reply.splitlines()
    assert lines[0] == f"private_key={private_key.hex()}"
    assert lines[1] == f"listen_port={engine.listen_port}"
    assert lines[2] == "fwmark=7"
    assert lines[3] == f"public_key={peer.hex()}"
    assert "endpoint=192.0.2.9:51820" in lines
    assert "allowed_ip=10.3.0.0/24" in lines and "allowed_ip=fd03::/64" in lines
    assert lines[-1] == "errno=0"


def test_errors_are_errno_replies(served: tuple[UserspaceEngine, UapiServer]) -> None:
    _, server = served
    replies = exchange(
        server.path,
        "set=1\nprivate_key=nothex\n\n",
        "set=1\nwhat=ever\n\n",
        "get=1\nunexpected=1\n\n",
        "get=1\n\n",
    )
    einval = f"errno=-{errno.EINVAL}\n"
    assert replies[:3] == [einval, einval, einval]
    assert replies[3].endswith("\nerrno=0\n")


def test_a_malformed_set_changes_nothing(served: tuple[UserspaceEngine, UapiServer]) -> None:
    engine, server = served
    peer = x25519_public_key(bytes(range(3, 35))).hex()
    (reply,) = exchange(server.path, f"set=1\npublic_key={peer}\nallowed_ip=10.0.0.0/99\n\n")
    assert reply == f"errno=-{errno.EINVAL}\n"
    assert engine.status().peers == ()


def test_an_unknown_operation_closes_the_connection(
    served: tuple[UserspaceEngine, UapiServer],
) -> None:
    _, server = served
    assert exchange(server.path, "delete=1\n\n") == [""]
    (reply,) = exchange(server.path, "get=1\n\n")  # the server lives on
    assert reply.endswith("\nerrno=0\n")


def test_socket_file_lifecycle(tmp_path: Path) -> None:
    tun = SocketPairTun("uapi1")
    engine = UserspaceEngine(tun.device)
    try:
        stale = tmp_path / "uapi1.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
            dead.bind(str(stale))  # bound, never listening: what a killed daemon leaves
        server = UapiServer("uapi1", engine, directory=tmp_path)
        server.start()
        assert os.stat(server.path).st_mode & 0o077 == 0  # owner only
        second = UapiServer("uapi1", engine, directory=tmp_path)
        with pytest.raises(InterfaceInUse):
            second.start()
        second.close()
        assert server.path.exists()
        server.close()
        assert not server.path.exists()
    finally:
        engine.close()
        tun.close()
