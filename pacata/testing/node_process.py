"""Real `pacatad` processes for multi-process tests and benchmarks.

`write_test_genesis` writes a genesis file (the devnet's accounts, a chain id of its own, a
timestamp of our choosing, the first accounts bonded as producers); `write_producer_key` gives a
data directory the keys of one of those producers; `NodeProcess` starts `python -m
pacata.node.daemon` on a genesis file or the shipped devnet (`genesis=None`), with its own data
directory, API and peer ports, waits for conditions with
deadlines (never a bare sleep), and is always killed and reaped by `stop`/`close`.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pacata.chain.devnet import devnet_key, devnet_vrf_public_key, devnet_vrf_seed
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import Transaction
from pacata.node.key_files import ACCOUNT_KEY_FILE
from pacata.rpc.cookie import COOKIE_FILE
from pacata.testing.genesis import devnet_document

T = TypeVar("T")
DEFAULT_DEADLINE_S = 30.0


class NodeFailed(AssertionError):
    """A node exited or a condition was not met in time; the message has the node's log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def write_test_genesis(
    path: Path,
    *,
    chain_id: str,
    timestamp_ms: int,
    producers: int = 1,
    **params: Any,
) -> Path:
    document = devnet_document()
    document["chain_id"] = chain_id
    document["timestamp_ms"] = timestamp_ms
    document["params"].update(params)
    min_bond = document["params"]["min_bond"]
    for index, account in enumerate(document["accounts"]):
        account.pop("bond", None)
        account.pop("vrf_public_key", None)
        if index < producers:
            account["bond"] = 10 * min_bond
            account["vrf_public_key"] = devnet_vrf_public_key(index).hex()
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_account_key(datadir: Path, key: PrivateKey) -> None:
    """Gives a data directory the account that pays for (and earns by) its tunnels."""
    datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = datadir / ACCOUNT_KEY_FILE
    path.write_text(key.secret.hex() + "\n", encoding="ascii")
    path.chmod(0o600)


def write_producer_key(datadir: Path, index: int) -> None:
    datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = datadir / "producer.key"
    keys = {
        "account_secret": devnet_key(index).secret.hex(),
        "vrf_seed": devnet_vrf_seed(index).hex(),
    }
    path.write_text(json.dumps(keys), encoding="utf-8")
    path.chmod(0o600)


class NodeProcess:
    def __init__(
        self,
        name: str,
        *,
        genesis: Path | None,
        datadir: Path,
        listen: str,
        rpc_host: str = "127.0.0.1",
        rpc_port: int | None = None,
        bootnodes: Sequence[str] = (),
        produce: bool = False,
        log_dir: Path,
        wrapper: Sequence[str] = (),
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.datadir = datadir
        self.rpc_port = rpc_port or free_port(rpc_host)
        self.base = f"http://{rpc_host}:{self.rpc_port}"
        self.log_path = log_dir / f"{name}.log"
        command = [
            *wrapper,
            sys.executable,
            "-m",
            "pacata.node.daemon",
            *(("--devnet",) if genesis is None else ("--genesis", str(genesis))),
            "--datadir",
            str(datadir),
            "--rpc",
            f"{rpc_host}:{self.rpc_port}",
            "--listen",
            listen,
            "--produce" if produce else "--no-produce",
            *[arg for b in bootnodes for arg in ("--bootnode", b)],
            *extra,
        ]
        with self.log_path.open("ab") as output:
            self.process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
            )

    # -- API ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return {"status": error.code, **json.loads(error.read())}

    def request_text(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def admin(self, path: str, body: Any) -> Any:
        token = (self.datadir / COOKIE_FILE).read_text().strip()
        return self.request("POST", path, body, token)

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/api/status")
        return result

    def submit(self, tx: Transaction) -> str:
        """Submits `tx`; its id, or `NodeFailed` with the node's answer if refused."""
        answer: dict[str, Any] = self.request("POST", "/api/txs", {"tx": tx.encode().hex()})
        if answer.get("status") != "pending":
            raise NodeFailed(f"{self.name} refused a transaction: {answer}")
        return str(answer["txid"])

    def confirmed(self, txid: str) -> bool:
        """Whether the transaction `txid` is on this node's main chain."""
        return bool(self.get(f"/api/txs/{txid}").get("status") == "confirmed")

    # -- waiting --------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for(
        self, what: str, probe: Callable[[], T | None], deadline_s: float = DEFAULT_DEADLINE_S
    ) -> T:
        deadline = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise NodeFailed(
                    f"{self.name} exited ({self.process.returncode}) waiting for {what}; "
                    f"log:\n{self.log_text()[-4000:]}"
                )
            try:
                value = probe()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                value = None
            if value is not None and value is not False:
                return value
            if time.monotonic() > deadline:
                raise NodeFailed(
                    f"{self.name}: no {what} within {deadline_s} s; log:\n{self.log_text()[-4000:]}"
                )
            time.sleep(0.05)

    def wait_ready(self) -> None:
        self.wait_for("ready", lambda: "ready: API" in self.log_text() or None)

    # -- ending ---------------------------------------------------------------------------

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kills the process if it still runs, and reaps it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=15)
