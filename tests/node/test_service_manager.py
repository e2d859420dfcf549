"""pacatad and systemd: `READY=1` over `$NOTIFY_SOCKET` once the API serves, `STOPPING=1` when
it begins to stop (a `Type=notify` unit, packaging/pacata-vpn.service), and SIGHUP as a clean
stop (pacata/node/daemon.py)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.node.daemon import notify_service_manager
from pacata.testing.node_process import NodeProcess, free_port


@pytest.fixture
def manager_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing for systemd's notification socket, and its address."""
    path = tmp_path / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(20)
    try:
        yield receiver, str(path)
    finally:
        receiver.close()


def test_the_state_goes_to_the_socket_in_one_datagram(
    manager_socket: tuple[socket.socket, str],
) -> None:
    receiver, address = manager_socket
    assert notify_service_manager("READY=1\nSTATUS=serving", {"NOTIFY_SOCKET": address})
    assert receiver.recv(4096) == b"READY=1\nSTATUS=serving"


def test_an_abstract_socket_is_named_with_an_at_sign() -> None:
    name = f"pacata-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.settimeout(5)
        assert notify_service_manager("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert receiver.recv(4096) == b"STOPPING=1"


def test_without_a_manager_nothing_is_sent() -> None:
    assert not notify_service_manager("READY=1", {})
    assert not notify_service_manager("READY=1", {"NOTIFY_SOCKET": ""})


def test_a_socket_that_cannot_be_reached_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pacata.node.daemon"):
        gone = {"NOTIFY_SOCKET": str(tmp_path / "no-such-socket")}
        assert not notify_service_manager("READY=1", gone)
        assert not notify_service_manager("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"})
    assert "cannot notify the service manager" in caplog.text
    assert "not a Unix socket" in caplog.text


@pytest.mark.slow
def test_pacatad_is_ready_when_its_api_answers_and_stops_cleanly_on_sighup(
    tmp_path: Path, manager_socket: tuple[socket.socket, str]
) -> None:
    receiver, address = manager_socket
    node = NodeProcess(
        "notify",
        genesis=None,
        datadir=tmp_path / "data",
        listen=f"127.0.0.1:{free_port()}",
        produce=True,
        log_dir=tmp_path,
        env={**os.environ, "NOTIFY_SOCKET": address},
    )
    try:
        ready = receiver.recv(4096).decode()
        lines = ready.splitlines()
        assert lines[0] == "READY=1"
        assert lines[1] == f"STATUS=serving the API on {node.base}/api/status"
        # Ready means serving: the API answers as soon as systemd is told.
        with urllib.request.urlopen(f"{node.base}/api/status", timeout=5) as response:
            assert response.status == 200
        node.process.send_signal(signal.SIGHUP)
        assert receiver.recv(4096) == b"STOPPING=1"
        assert node.process.wait(timeout=20) == 0
        assert "SIGHUP received: shutting down" in node.log_text()
        assert "stopped cleanly" in node.log_text()
    finally:
        node.close()
