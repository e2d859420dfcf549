"""The real `pacatad --devnet` process: it produces, takes a signed transfer over the API,
stops cleanly on SIGTERM and continues from its tip after a restart (docs/operations.md).

Every wait polls a condition with a deadline; the process is always killed and waited for.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import Transfer, make_transaction
from pacata.rpc.cookie import COOKIE_FILE

pytestmark = pytest.mark.slow

DEADLINE_S = 15.0
CHAIN_ID = "pacata-devnet-1"
FEE = 1_000
AMOUNT = 123_456_789
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, body
        return body

    def wait_for(self, what: str, probe: Callable[[], T | None]) -> T:
        """Polls `probe` until it gives a value; fails with the node's log at the deadline."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"pacatad exited ({self.process.returncode}) waiting for {what}")
            try:
                value = probe()
            except (urllib.error.URLError, ConnectionError):
                value = None
            if value is not None:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {DEADLINE_S} s; log:\n{self.log.read_text()}")
            time.sleep(0.05)

    def height_at_least(self, height: int) -> int:
        def probe() -> int | None:
            current = int(self.get("/api/status")["height"])
            return current if current >= height else None

        return self.wait_for(f"height {height}", probe)


@contextmanager
def pacatad(datadir: Path, port: int, log: Path) -> Iterator[Daemon]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pacata.node.daemon",
                "--devnet",
                "--datadir",
                str(datadir),
                "--rpc",
                f"127.0.0.1:{port}",
                # Any free port for peers: the default 9741 may be taken on a shared machine.
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Daemon(process, port, log)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=DEADLINE_S)


def stop(daemon: Daemon) -> int:
    daemon.process.send_signal(signal.SIGTERM)
    return daemon.process.wait(timeout=DEADLINE_S)


def balance(daemon: Daemon, address: str) -> int:
    status, body = daemon.request("GET", f"/api/accounts/{address}")
    if status == 404:
        return 0
    assert status == 200, body
    return int(body["balance"])


def test_devnet_daemon_produces_takes_a_transfer_stops_and_continues(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    log = tmp_path / "pacatad.log"
    port = free_port()
    sender: PrivateKey = devnet_key(1)
    recipient = PrivateKey(bytes(31) + b"\x2a").address

    with pacatad(datadir, port, log) as daemon:
        first = daemon.height_at_least(1)
        daemon.height_at_least(first + 1)  # the height rises by itself
        assert "Pacata devnet ready: API http://127.0.0.1:" in log.read_text()
        cookie = datadir / COOKIE_FILE
        assert cookie.exists()

        sender_before = balance(daemon, str(sender.address))
        assert balance(daemon, str(recipient)) == 0
        nonce = int(daemon.get(f"/api/accounts/{sender.address}")["pending_nonce"])
        tx = make_transaction(sender, CHAIN_ID, nonce, FEE, Transfer(recipient, AMOUNT))
        status, body = daemon.request("POST", "/api/txs", {"tx": tx.encode().hex()})
        assert (status, body) == (202, {"txid": tx.txid.hex(), "status": "pending"})
        status, body = daemon.request("POST", "/api/txs", {"tx": "00"})
        assert status == 400 and "error" in body

        def confirmed() -> Any:
            found = daemon.get(f"/api/txs/{tx.txid.hex()}")
            return found if found["status"] == "confirmed" else None

        included = daemon.wait_for("the transfer's block", confirmed)
        assert balance(daemon, str(recipient)) == AMOUNT
        assert balance(daemon, str(sender.address)) == sender_before - AMOUNT - FEE

        tip = daemon.get("/api/status")
        assert stop(daemon) == 0
        assert not cookie.exists()
        assert "stopped cleanly" in log.read_text()

    with pacatad(datadir, port, log) as daemon:
        restarted = daemon.wait_for("the restarted API", lambda: daemon.get("/api/status"))
        assert restarted["genesis"] == tip["genesis"]
        assert restarted["height"] >= tip["height"]
        assert daemon.get(f"/api/blocks/{tip['height']}")["hash"] == tip["tip"]
        again = daemon.get(f"/api/txs/{tx.txid.hex()}")
        assert again["block_hash"] == included["block_hash"]
        daemon.height_at_least(tip["height"] + 1)  # and it goes on producing
        assert stop(daemon) == 0
