"""The node service and its production loop, driven by a manual clock; block logging, the
metrics registry, the admin cookie, and the daemon's start-up failures."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import stat
from pathlib import Path

import aiohttp
import pytest

from pacata.chain.devnet import devnet_key, devnet_vrf_seed
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.mempool import Mempool
from pacata.chain.production import ProducerKeys, slot_start_ms
from pacata.chain.transactions import Transfer, make_transaction
from pacata.chain.vrf import VrfKey
from pacata.errors import MempoolRejected
from pacata.node.clock import SystemClock
from pacata.node.config import ConfigError, load_config
from pacata.node.cookie import AdminCookie
from pacata.node.daemon import EXIT_FAILURE, main, run_node
from pacata.node.logs import ComponentFormatter
from pacata.node.metrics import Counter, Gauge, Histogram, MetricsRegistry
from pacata.node.producer_keys import devnet_producer_keys
from pacata.node.service import NodeService, ProducerUnavailable
from pacata.rpc.cookie import COOKIE_FILE
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.clock import ManualClock

ALICE, BOB = devnet_key(1), devnet_key(2)
SLOT_MS = 1_000


def producing_node(keys: ProducerKeys | None = None) -> tuple[NodeService, ManualClock]:
    chain = devnet_chain()
    # Half-way through some slot well after genesis.
    clock = ManualClock(wall_ms=slot_start_ms(chain, 1_000) + SLOT_MS // 2)
    service = NodeService(
        chain, Mempool(chain), clock, producer_keys=keys or devnet_producer_keys(), produce=True
    )
    return service, clock


def test_the_loop_produces_once_per_slot_at_once_and_then_at_each_slot_start() -> None:
    service, clock = producing_node()

    async def scenario() -> list[tuple[int, int]]:
        await service.start()
        await asyncio.sleep(0)
        made = [(service.chain.height, service.chain.tip.slot)]
        # Within the same slot nothing more is made; at the next slot's start, one block.
        await clock.advance_ms(SLOT_MS // 4)
        made.append((service.chain.height, service.chain.tip.slot))
        for _ in range(3):
            next_deadline = clock.next_deadline_ms
            assert next_deadline is not None
            await clock.advance_to_ms(next_deadline)
            made.append((service.chain.height, service.chain.tip.slot))
        await service.stop()
        return made

    assert asyncio.run(scenario()) == [(1, 1_000), (1, 1_000), (2, 1_001), (3, 1_002), (4, 1_003)]
    assert service.blocks_produced.value() == 4
    assert service.import_seconds.count == 4


def test_a_late_wake_up_skips_the_slots_slept_through() -> None:
    service, clock = producing_node()

    async def scenario() -> list[int]:
        await service.start()
        await asyncio.sleep(0)
        await clock.advance_ms(10 * SLOT_MS)
        slots = [service.chain.block_at(h).header.slot for h in (1, 2)]
        await service.stop()
        return slots

    assert asyncio.run(scenario()) == [1_000, 1_010]


def test_submitted_transactions_are_included_and_production_can_be_switched() -> None:
    service, clock = producing_node()
    tx = make_transaction(ALICE, "pacata-devnet-1", 0, 1_000, Transfer(BOB.address, 42))

    async def scenario() -> None:
        await service.start()
        await asyncio.sleep(0)
        assert service.submit_transaction(tx.encode()) == tx.txid
        await clock.advance_ms(SLOT_MS)
        assert service.chain.height == 2
        assert service.chain.block_at(2).transactions == (tx,)
        assert len(service.mempool) == 0
        service.set_producing(False)
        await clock.advance_ms(3 * SLOT_MS)
        assert service.chain.height == 2
        service.set_producing(True)
        await clock.advance_ms(SLOT_MS)
        assert service.chain.height == 3
        await service.stop()

    asyncio.run(scenario())
    assert service.transactions_submitted.value(result="accepted") == 1


def test_a_refused_block_is_logged_once_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Keys of an account that is not bonded: its blocks are refused (or, with the slot
    # lottery, never made); either way nothing is made and the loop keeps running.
    unbonded = ProducerKeys(devnet_key(5), VrfKey(devnet_vrf_seed(5)))
    service, clock = producing_node(unbonded)

    async def scenario() -> bool:
        await service.start()
        for _ in range(4):
            await clock.advance_ms(SLOT_MS)
        running = service.shutdown_requested.is_set() is False and clock.next_deadline_ms
        await service.stop()
        return bool(running)

    assert asyncio.run(scenario())
    assert service.chain.height == 0
    assert caplog.text.count("was refused") <= 1
    assert service.failure is None


def test_a_failing_task_stops_the_node(caplog: pytest.LogCaptureFixture) -> None:
    service, _ = producing_node()

    async def broken() -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        service.add_task(broken(), "broken")
        await asyncio.wait_for(service.shutdown_requested.wait(), timeout=5)
        await service.stop()

    asyncio.run(scenario())
    assert isinstance(service.failure, OSError)
    assert "task broken failed" in caplog.text


def test_producing_without_keys() -> None:
    chain = devnet_chain()
    with pytest.raises(ProducerUnavailable):
        NodeService(chain, Mempool(chain), ManualClock(wall_ms=0), produce=True)
    service = NodeService(chain, Mempool(chain), ManualClock(wall_ms=0))
    assert not service.producing and not service.can_produce
    service.set_producing(False)
    with pytest.raises(ProducerUnavailable):
        service.set_producing(True)


def test_imported_blocks_are_logged_counted_and_update_the_mempool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    factory = ChainFactory()
    chain = devnet_chain()
    # Imports are checked against the node's clock: it must be past the block's slot.
    clock = ManualClock(wall_ms=factory.genesis.timestamp_ms + 60_000)
    service = NodeService(chain, Mempool(chain), clock)
    tx = factory.transfer(ALICE, BOB.address, 9)
    service.submit_transaction(tx.encode())
    block = factory.next_block([tx])
    service.import_block(block)
    assert chain.tip.hash == block.hash
    assert len(service.mempool) == 0
    assert service.blocks_imported.value() == 1
    assert service.blocks_produced.value() == 0
    assert re.search(rf"block 1 {block.hash.hex()[:12]} imported: 1 tx, \d+\.\d ms", caplog.text), (
        caplog.text
    )
    with pytest.raises(MempoolRejected):
        service.submit_transaction(tx.encode())


def test_a_run_of_blocks_is_logged_counted_and_updates_the_mempool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    factory = ChainFactory(seed=2)
    chain = devnet_chain()
    clock = ManualClock(wall_ms=factory.genesis.timestamp_ms + 60_000)
    service = NodeService(chain, Mempool(chain), clock)
    txs = [factory.transfer(ALICE, BOB.address, amount) for amount in (3, 4)]
    for tx in txs:
        service.submit_transaction(tx.encode())
    blocks = [factory.next_block([tx]) for tx in txs]
    updates = list(service.import_blocks((block, None) for block in blocks))
    assert [update.connected for update in updates] == [(block,) for block in blocks]
    assert chain.tip.hash == blocks[-1].hash
    assert len(service.mempool) == 0
    assert service.blocks_imported.value() == 2
    for block in blocks:
        assert f"block {block.height} {block.hash.hex()[:12]} imported" in caplog.text


def test_log_lines_are_readable() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ComponentFormatter())
    record = logging.LogRecord(
        "pacata.node.chain", logging.INFO, __file__, 1, "block %d %s", (7, "ab" * 6), None
    )
    handler.emit(record)
    other = logging.LogRecord("aiohttp.access", logging.WARNING, __file__, 1, "hi", (), None)
    handler.emit(other)
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO    chain     block 7 abababababab", first
    ), first
    assert second.endswith("WARNING aiohttp.access hi")


# -- clocks -----------------------------------------------------------------------------------


def test_system_clock_sleeps_until_the_deadline() -> None:
    clock = SystemClock()

    async def scenario() -> int:
        deadline = clock.now_ms() + 30
        await clock.sleep_until_ms(deadline)
        return clock.now_ms() - deadline

    assert asyncio.run(scenario()) >= 0


def test_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(wall_ms=100)

    async def scenario() -> None:
        await clock.sleep_until_ms(50)  # a deadline in the past returns at once
        with pytest.raises(ValueError, match="does not go back"):
            await clock.advance_to_ms(99)

    asyncio.run(scenario())
    assert clock.now_ms() == 100


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_rendering() -> None:
    registry = MetricsRegistry()
    counter = registry.add(Counter("demo_total", "A counter."))
    labelled = registry.add(Counter("demo_labelled_total", "By label."))
    registry.add(Gauge("demo_gauge", "A gauge.", lambda: 2.5))
    histogram = registry.add(Histogram("demo_seconds", "A histogram.", (0.1, 1.0)))
    counter.inc()
    counter.inc(2)
    labelled.inc(kind='a"b\\c\nd')
    histogram.observe(0.05)
    histogram.observe(0.5)
    histogram.observe(7)
    assert registry.render().splitlines() == [
        "# HELP demo_total A counter.",
        "# TYPE demo_total counter",
        "demo_total 3",
        "# HELP demo_labelled_total By label.",
        "# TYPE demo_labelled_total counter",
        'demo_labelled_total{kind="a\\"b\\\\c\\nd"} 1',
        "# HELP demo_gauge A gauge.",
        "# TYPE demo_gauge gauge",
        "demo_gauge 2.5",
        "# HELP demo_seconds A histogram.",
        "# TYPE demo_seconds histogram",
        'demo_seconds_bucket{le="0.1"} 1',
        'demo_seconds_bucket{le="1"} 2',
        'demo_seconds_bucket{le="+Inf"} 3',
        "demo_seconds_sum 7.55",
        "demo_seconds_count 3",
    ]
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(Counter("demo_total", "again"))
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1)


# -- the admin cookie -------------------------------------------------------------------------


def test_cookie_is_private_and_removed(tmp_path: Path) -> None:
    (tmp_path / COOKIE_FILE).write_text("stale from a crash\n")
    cookie = AdminCookie.create(tmp_path)
    path = tmp_path / COOKIE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}", cookie.token)
    assert AdminCookie.read(tmp_path) == cookie.token
    assert AdminCookie.create(tmp_path).token != cookie.token  # a new token at each start
    cookie.remove()  # not ours any more: the newer node's cookie stays
    assert path.exists()
    AdminCookie(path, AdminCookie.read(tmp_path)).remove()
    assert not path.exists()
    cookie.remove()  # already gone: nothing to do


# -- the daemon's start-up failures -------------------------------------------------------------


def test_bad_flags_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rpc", "nowhere"]) == 2
    assert "pacatad: error: argument --rpc: not HOST:PORT" in capsys.readouterr().err


def test_a_taken_rpc_port_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = load_config(["--devnet", "--datadir", str(tmp_path), "--rpc", f"127.0.0.1:{port}"])
        with pytest.raises(Exception, match=f"cannot serve the API on 127.0.0.1:{port}") as info:
            asyncio.run(run_node(config))
    assert type(info.value).__name__ == "StartupError"
    assert EXIT_FAILURE == 1
    # Everything was undone: no cookie left, and the store is closed (it opens again).
    assert not (tmp_path / COOKIE_FILE).exists()
    LevelDBStore(tmp_path / "chain").close()


def test_a_listen_host_too_long_for_the_node_record_exits_2(tmp_path: Path) -> None:
    host = "a" * 60 + "." + "b" * 40  # a valid DNS name of 101 bytes
    argv = ["--devnet", "--datadir", str(tmp_path), "--rpc", "127.0.0.1:0", "--listen", host + ":0"]
    with pytest.raises(ConfigError, match="a host of at most 100 bytes"):
        asyncio.run(run_node(load_config(argv)))  # main() makes a ConfigError exit status 2
    assert not (tmp_path / COOKIE_FILE).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_node_runs_and_stops_over_the_admin_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = load_config(["--devnet", "--datadir", str(tmp_path), "--rpc", f"127.0.0.1:{port}"])

    async def operator() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/status") as response:
                        if (await response.json())["height"] >= 1:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "the node never produced"
                await asyncio.sleep(0.05)
            token = AdminCookie.read(tmp_path)
            stop = f"http://127.0.0.1:{port}/api/admin/stop"
            async with session.post(stop) as refused:
                refused_status = refused.status
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(stop, headers=headers) as accepted:
                return refused_status, accepted.status

    async def scenario() -> tuple[int, tuple[int, int]]:
        node = asyncio.create_task(run_node(config))
        answers = await operator()
        return await asyncio.wait_for(node, timeout=20), answers

    exit_status, (refused, accepted) = asyncio.run(scenario())
    assert (refused, accepted, exit_status) == (401, 202, 0)
    out = capsys.readouterr().out
    assert f"Pacata devnet ready: API http://127.0.0.1:{port}/api/status, explorer" in out
    assert f"explorer http://127.0.0.1:{port}/\n" in out
    assert not (tmp_path / COOKIE_FILE).exists()
