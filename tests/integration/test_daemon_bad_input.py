"""The real `pacatad` given bad input (docs/operations.md §Bad input): a config or genesis file it
cannot use, or a data directory it cannot use, ends it with exit status 2 and one line on
standard error, no traceback, and the data directory as it was; a client repeating a request
aiohttp cannot parse gets a few WARNING lines into the log, not one traceback per request.

Every wait has a deadline; every process is killed and reaped.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import plyvel
import pytest

from pacata.chain.codec import MAX_U64
from pacata.rpc.cookie import COOKIE_FILE
from pacata.testing.genesis import devnet_document
from pacata.testing.node_process import DEFAULT_DEADLINE_S, NodeProcess, write_test_genesis

pytestmark = pytest.mark.slow

CHAIN_ID = "pacata-bad-input-1"
EXIT_USAGE = 2


@pytest.fixture
def genesis(tmp_path: Path) -> Path:
    return write_test_genesis(
        tmp_path / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=time.time_ns() // 10**6
    )


@contextmanager
def pacatad(
    tmp_path: Path,
    name: str,
    *,
    genesis: Path,
    datadir: Path,
    rpc_host: str = "127.0.0.1",
    extra: Sequence[str] = (),
) -> Iterator[NodeProcess]:
    node = NodeProcess(
        name,
        genesis=genesis,
        datadir=datadir,
        listen="127.0.0.1:0",
        rpc_host=rpc_host,
        log_dir=tmp_path,
        extra=extra,
    )
    try:
        yield node
    finally:
        node.close()


def refusal(
    tmp_path: Path, *, genesis: Path, datadir: Path | None = None, extra: Sequence[str] = ()
) -> str:
    """The one line on standard error of a `pacatad` that refuses to start; checks the rest."""
    with pacatad(
        tmp_path, "refused", genesis=genesis, datadir=datadir or tmp_path / "data", extra=extra
    ) as node:
        code = node.process.wait(timeout=DEFAULT_DEADLINE_S)
        output = node.log_text()
    node.log_path.unlink()
    assert code == EXIT_USAGE, output
    assert "Traceback" not in output
    (line,) = output.splitlines()
    assert line.startswith("pacatad: error: ")
    return line


# LevelDB makes these at every attempt to open a database, before it reads a byte of it.
_LEVELDB_OWN_FILES = {"LOCK", "LOG", "LOG.old"}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (but LevelDB's lock and log files), with the files' bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
        if path.name not in _LEVELDB_OWN_FILES
    }


# -- files -----------------------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8(tmp_path: Path, genesis: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'log_level = "info"\n# r\xe9seau\n')
    line = refusal(tmp_path, genesis=genesis, extra=["--config", str(config)])
    assert line == f"pacatad: error: config file {config}: not UTF-8 text (byte 22)"


def write_genesis(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_genesis_file_that_is_not_utf8(tmp_path: Path, genesis: Path) -> None:
    genesis.write_bytes(genesis.read_bytes().replace(b"devnet", b"d\xe9vnet", 1))
    line = refusal(tmp_path, genesis=genesis)
    assert line.startswith(f"pacatad: error: genesis file {genesis}: not UTF-8 text")
    assert not (tmp_path / "data").exists()


def test_a_genesis_amount_beyond_the_codec(tmp_path: Path) -> None:
    document = devnet_document()
    document["accounts"][1]["balance"] = MAX_U64 + 1
    genesis = write_genesis(tmp_path / "genesis.json", document)
    line = refusal(tmp_path, genesis=genesis)
    assert line.startswith(f"pacatad: error: {genesis}: accounts.1.balance: Must be")


def test_a_genesis_slot_of_a_billion_seconds(tmp_path: Path) -> None:
    document = devnet_document()
    document["params"]["slot_ms"] = 10**15
    genesis = write_genesis(tmp_path / "genesis.json", document)
    line = refusal(tmp_path, genesis=genesis)
    assert line.startswith(f"pacatad: error: {genesis}: params.slot_ms: Must be")


def test_a_genesis_file_of_ten_megabytes(tmp_path: Path) -> None:
    document = devnet_document()
    document["description"] = "x" * 10_000_000
    genesis = write_genesis(tmp_path / "genesis.json", document)
    line = refusal(tmp_path, genesis=genesis)
    assert line == f"pacatad: error: genesis file {genesis}: larger than 1048576 bytes"


# -- the data directory ----------------------------------------------------------------------


def test_a_data_directory_that_is_a_file(tmp_path: Path, genesis: Path) -> None:
    datadir = tmp_path / "data"
    datadir.write_text("not a directory")
    line = refusal(tmp_path, genesis=genesis, datadir=datadir)
    assert line == f"pacatad: error: data directory {datadir}: not a directory"
    assert datadir.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("datadir", "reason"),
    [
        ("/proc/pacata-test", "cannot make the data directory /proc/pacata-test"),
        ("/proc", "cannot make the database at /proc/chain"),
    ],
)
def test_a_data_directory_in_an_unwritable_place(
    tmp_path: Path, genesis: Path, datadir: str, reason: str
) -> None:
    # /proc takes no new files, not even from root.
    line = refusal(tmp_path, genesis=genesis, datadir=Path(datadir))
    assert line.startswith(f"pacatad: error: {reason}: ")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda chain: chain.write_text("x"), "is not a directory"),
        (lambda chain: (chain.mkdir(), (chain / "CURRENT").write_bytes(b"\x00" * 64)), "corrupt"),
    ],
    ids=["chain is a file", "chain is garbage"],
)
def test_a_data_directory_holding_garbage(
    tmp_path: Path, genesis: Path, make: object, reason: str
) -> None:
    datadir = tmp_path / "data"
    datadir.mkdir()
    make(datadir / "chain")  # type: ignore[operator]
    before = snapshot(datadir)
    line = refusal(tmp_path, genesis=genesis, datadir=datadir)
    assert reason in line
    assert snapshot(datadir) == before


def test_a_database_of_another_program_is_left_alone(tmp_path: Path, genesis: Path) -> None:
    datadir = tmp_path / "data"
    (datadir / "chain").mkdir(parents=True)
    database = plyvel.DB(str(datadir / "chain"), create_if_missing=True)
    database.put(b"someone else's key", b"and value")
    database.close()
    line = refusal(tmp_path, genesis=genesis, datadir=datadir)
    assert line.endswith("the database holds data but no chain: not a Pacata database")
    database = plyvel.DB(str(datadir / "chain"))
    try:
        assert list(database) == [(b"someone else's key", b"and value")]
    finally:
        database.close()


def test_a_data_directory_in_use_by_a_running_node(tmp_path: Path, genesis: Path) -> None:
    datadir = tmp_path / "data"
    with pacatad(tmp_path, "first", genesis=genesis, datadir=datadir) as first:
        first.wait_ready()
        cookie = (datadir / COOKIE_FILE).read_text()
        line = refusal(tmp_path, genesis=genesis, datadir=datadir)
        assert line.startswith(f"pacatad: error: cannot open the database at {datadir}/chain")
        assert line.endswith("(another process, such as a running node, has it open)")
        # The first node runs on, its admin cookie untouched.
        assert (datadir / COOKIE_FILE).read_text() == cookie
        assert first.status()["chain_id"] == CHAIN_ID
        assert first.stop() == 0


# -- the API ---------------------------------------------------------------------------------


def send(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_DEADLINE_S) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
        return answer


def send_or_reset(port: int, data: bytes) -> bytes | None:
    """`send`, or None when the server reset the connection before its answer was read."""
    try:
        return send(port, data)
    except ConnectionResetError:
        return None


def test_a_client_repeating_a_100kb_url_gets_a_few_log_lines(tmp_path: Path, genesis: Path) -> None:
    with pacatad(tmp_path, "node", genesis=genesis, datadir=tmp_path / "data") as node:
        node.wait_ready()
        request = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: node\r\n\r\n"
        answers = [send_or_reset(node.rpc_port, request) for _ in range(1_000)]
        # The server answers 400 and closes as soon as it has read the line too long; a client
        # still sending its 100 KB then may get a reset that discards the answer.
        statuses = {answer.split(b" ", 2)[1] for answer in answers if answer is not None}
        assert statuses == {b"400"}
        assert sum(answer is not None for answer in answers) >= 900
        assert node.status()["chain_id"] == CHAIN_ID
        assert node.stop() == 0
        log = node.log_text()
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if "Error handling request" in line]
    # It was 1000 tracebacks at ERROR.
    assert 1 <= len(lines) <= 5
    assert all(" WARNING " in line for line in lines)
    assert "no TLS" not in log  # the API is on loopback


def test_an_api_beyond_loopback_is_warned_about(tmp_path: Path, genesis: Path) -> None:
    with pacatad(
        tmp_path, "exposed", genesis=genesis, datadir=tmp_path / "data", rpc_host="0.0.0.0"
    ) as node:
        node.wait_ready()
        assert node.stop() == 0
        log = node.log_text()
    (line,) = [line for line in log.splitlines() if "no TLS" in line]
    assert " WARNING " in line and f"the API on 0.0.0.0:{node.rpc_port}" in line
