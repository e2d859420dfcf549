"""`pacatad`, the composition root: it builds the node from its configuration and runs it.

Start-up, in order: flags and config file → logging → genesis → data directory → LevelDB store
→ `Chain` → `Mempool` → `NodeService` (with the production loop) → the peer-to-peer service
(node key, `--listen`, bootnodes) → admin cookie → HTTP API → peers listened for and dialed,
with `--vpn` the WireGuard interface on the UDP port (pacata/node/vpn_plugin.py), the UDP port's
STUN and DHT → the "ready" line on standard output (`Pacata devnet
ready: API http://…/api/status`). The address index (pacata/node/address_index_plugin.py,
unless `--no-address-index`) opens with the plugins and catches up in the background; the
block explorer (pacata/node/explorer_plugin.py) serves its pages at `/` beside the API.

Under systemd (`Type=notify`, packaging/pacata-vpn.service) the node also sends `READY=1` to
`$NOTIFY_SOCKET` when it serves, right after the ready line, and `STOPPING=1` when it begins to
stop (`notify_service_manager`, sd_notify(3)'s datagram, written here: no dependency).

Shutdown, on SIGINT, SIGTERM, SIGHUP or `POST /api/admin/stop`, in order: stop producing and
the other tasks → say goodbye to the peers, stop listening, close the UDP port (and the VPN
interface) → close the HTTP server → remove the cookie → close the store. Every block is
written in one atomic batch and nothing is half-made at an await, so the store is consistent
at any instant and a restart continues from the tip.

SIGHUP stops the node like SIGTERM: it has nothing to reload (its log is standard error, its
settings are read once) and a hangup's default, dying at once, would skip the clean stop.

Exit status: 0 after a clean shutdown, 1 when the node failed (address in use, a task
crashed, the store failed while running), 2 for a bad command line, config file, genesis,
producer key file or data directory (not a directory, not writable, its database locked by
another node or not this chain's). A status 2 comes with one line on standard error,
`pacatad: error: <reason>`, and no traceback, and leaves any chain database as it was.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiohttp import web

from pacata.chain.chain import Chain
from pacata.chain.genesis import Genesis
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.mempool import Mempool
from pacata.chain.production import ProducerKeys
from pacata.errors import InvalidGenesis, PacataError, StoreError
from pacata.node.address_index_plugin import ADDRESS_INDEX_DIRECTORY, AddressIndexPlugin
from pacata.node.api import create_app
from pacata.node.clock import SystemClock
from pacata.node.config import ConfigError, DataDirError, NodeConfig, load_config
from pacata.node.cookie import AdminCookie
from pacata.node.discovery_plugin import DiscoveryPlugin
from pacata.node.explorer_plugin import EXPLORER_PAGES_DIRECTORY, ExplorerPlugin
from pacata.node.http_log import SERVER_SETTINGS
from pacata.node.logs import configure_logging
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import PluginError
from pacata.node.producer_keys import PRODUCER_KEY_FILE, devnet_producer_keys, load_producer_keys
from pacata.node.service import NodeService
from pacata.node.signature_process import default_verifier
from pacata.node.vpn_plugin import VpnPlugin

CHAIN_DIRECTORY = "chain"
# The mempool's journal: a LevelDB of its own, written without fsync (docs/operations.md).
MEMPOOL_DIRECTORY = "mempool"
API_SHUTDOWN_TIMEOUT_S = 5.0
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# Each ends in a clean shutdown (SIGHUP included: see the module's docstring).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NOTIFY_SOCKET_VARIABLE = "NOTIFY_SOCKET"
NOTIFY_TIMEOUT_S = 1.0

log = logging.getLogger("pacata.node.daemon")


class StartupError(PacataError):
    """The node cannot start for a reason outside its configuration (e.g. the port is taken)."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
        configure_logging(config.log_level)
        return asyncio.run(run_node(config))
    except (ConfigError, InvalidGenesis) as exc:
        print(f"pacatad: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except (StoreError, StartupError) as exc:
        log.error("%s", exc)
        return EXIT_FAILURE


def producer_keys_for(config: NodeConfig, datadir: Path) -> ProducerKeys | None:
    """The devnet's keys, else `producer.key` if present; `ConfigError` if producing lacks one."""
    if config.devnet:
        return devnet_producer_keys()
    path = datadir / PRODUCER_KEY_FILE
    if path.exists():
        return load_producer_keys(path)
    if config.produces:
        raise ConfigError(
            f"--produce needs producer keys, and {path} does not exist "
            "(docs/operations.md, 'Producer keys')"
        )
    return None


def _warn_if_cannot_win(chain: Chain, keys: ProducerKeys) -> None:
    account = chain.account(keys.account.address)
    if account.bond < chain.params.min_bond:
        log.warning(
            "producer %s is not bonded (bond %d, minimum %d): it will make no blocks",
            keys.account.address,
            account.bond,
            chain.params.min_bond,
        )
    elif account.vrf_public_key != keys.vrf.public_key:
        log.warning(
            "producer %s bonded another VRF key than %s's: it will make no blocks",
            keys.account.address,
            PRODUCER_KEY_FILE,
        )


def prepare_data_dir(datadir: Path) -> None:
    """Makes `datadir` (mode 0700) if it is missing; `DataDirError` unless it is a directory
    this process can write to."""
    try:
        datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise DataDirError(f"data directory {datadir}: not a directory") from None
    except OSError as exc:
        raise DataDirError(f"cannot make the data directory {datadir}: {exc.strerror}") from None
    if not os.access(datadir, os.W_OK | os.X_OK):
        raise DataDirError(f"data directory {datadir}: not writable by this user")


def _warn_if_api_exposed(config: NodeConfig) -> None:
    if not config.rpc.is_loopback:
        log.warning(
            "the API on %s is reachable from other machines and has no TLS: anyone on the way "
            "can read and change its traffic; keep it on a loopback address or put it behind "
            "a TLS proxy (docs/operations.md)",
            config.rpc,
        )


def open_chain(datadir: Path, genesis: Genesis) -> Chain:
    """The chain in `datadir`'s LevelDB, made at the first start; `DataDirError` if the
    database cannot be used (locked, corrupt, another chain's, not a chain's)."""
    path = datadir / CHAIN_DIRECTORY
    try:
        store = LevelDBStore(path)
    except StoreError as exc:
        raise DataDirError(str(exc)) from None
    try:
        # The node verifies signatures in a child process beside block execution (a chain
        # opened elsewhere verifies inline).
        return Chain(store, genesis, default_verifier())
    except StoreError as exc:
        store.close()
        raise DataDirError(f"{path}: {exc}") from None


def open_mempool(datadir: Path, chain: Chain) -> Mempool:
    """The mempool with its journal in `datadir`, holding again what was pending when the
    node stopped (each transaction checked again); `DataDirError` if the journal cannot be
    opened."""
    path = datadir / MEMPOOL_DIRECTORY
    try:
        journal = LevelDBStore(path, sync=False)
    except StoreError as exc:
        raise DataDirError(f"mempool journal: {exc}") from None
    mempool = Mempool(chain, journal=journal)
    report = mempool.load()
    if report.admitted or report.refused or report.undecodable:
        log.info(
            "mempool: %d pending transactions loaded, %d no longer apply, %d unreadable",
            report.admitted,
            report.refused,
            report.undecodable,
        )
    return mempool


async def run_node(config: NodeConfig) -> int:
    """Runs the node until it is asked to stop; returns the exit status."""
    loop = asyncio.get_running_loop()
    stop_signal = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        log.info("%s received: shutting down", signum.name)
        stop_signal.set()

    # Installed first, so a signal during start-up also ends in a clean shutdown.
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        genesis = config.load_genesis()
        _warn_if_api_exposed(config)
        datadir = config.data_dir(genesis.chain_id)
        prepare_data_dir(datadir)
        keys = producer_keys_for(config, datadir)
        chain = open_chain(datadir, genesis)
        mempool: Mempool | None = None
        try:
            mempool = open_mempool(datadir, chain)
            return await _serve(
                config=config,
                genesis=genesis,
                datadir=datadir,
                mempool=mempool,
                keys=keys,
                stop_signal=stop_signal,
            )
        finally:
            if mempool is not None and mempool.journal is not None:
                mempool.journal.close()
            chain.kv.close()
            log.info("chain database closed")
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def _serve(
    *,
    config: NodeConfig,
    genesis: Genesis,
    datadir: Path,
    mempool: Mempool,
    keys: ProducerKeys | None,
    stop_signal: asyncio.Event,
) -> int:
    chain = mempool.chain
    service = NodeService(
        chain, mempool, SystemClock(), producer_keys=keys, produce=config.produces
    )
    log.info(
        "chain %s in %s: height %d, tip %s",
        genesis.chain_id,
        datadir,
        chain.height,
        chain.tip.hash.hex(),
    )
    if keys is not None:
        _warn_if_cannot_win(chain, keys)
    peering = PeeringPlugin(service, config, genesis, datadir)
    service.add_plugin(peering)
    vpn = VpnPlugin(peering, config, datadir) if config.runs_vpn else None
    if vpn is not None:
        service.add_plugin(vpn)
    service.add_plugin(DiscoveryPlugin(peering, vpn))
    index_path = datadir / ADDRESS_INDEX_DIRECTORY if config.address_index else None
    service.add_plugin(AddressIndexPlugin(service, index_path))
    # The block explorer's pages at `/`, beside the API (docs/explorer.md); block pages are
    # rendered once into a store of their own, so a first visit costs a read, not a render.
    pages_path = datadir / EXPLORER_PAGES_DIRECTORY
    service.add_plugin(ExplorerPlugin(service, pages_path=pages_path))
    try:
        cookie = AdminCookie.create(datadir)
    except OSError as exc:
        raise StartupError(f"cannot write the admin cookie in {datadir}: {exc}") from None
    access_log = logging.getLogger("pacata.node.api.access")
    runner = web.AppRunner(
        create_app(service, cookie.token),
        access_log=access_log if config.log_level == "debug" else None,
        shutdown_timeout=API_SHUTDOWN_TIMEOUT_S,
        **SERVER_SETTINGS,
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.rpc.host, config.rpc.port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot serve the API on {config.rpc}: {exc.strerror}") from None
        try:
            await service.start()
        except PluginError as exc:
            raise StartupError(str(exc)) from None
        url = _announce_ready(config, genesis, runner)
        notify_service_manager(f"READY=1\nSTATUS=serving the API on {url}")
        await _first_of(stop_signal, service.shutdown_requested)
        notify_service_manager("STOPPING=1")
        log.info("stopping: production, tasks and plugins")
    finally:
        await service.stop()
        await runner.cleanup()
        log.info("API closed")
        cookie.remove()
        # The state-tree nodes only in memory; without this the next start rebuilds them.
        chain.checkpoint()
    if service.failure is not None:
        return EXIT_FAILURE
    log.info("stopped cleanly at height %d, tip %s", chain.height, chain.tip.hash.hex())
    return EXIT_OK


def _announce_ready(config: NodeConfig, genesis: Genesis, runner: web.AppRunner) -> str:
    """Prints the ready line; returns the API's status URL."""
    port = runner.addresses[0][1] if runner.addresses else config.rpc.port
    host = f"[{config.rpc.host}]" if ":" in config.rpc.host else config.rpc.host
    url = f"http://{host}:{port}/api/status"
    name = "devnet" if config.devnet else f"node ({genesis.chain_id})"
    line = f"Pacata {name} ready: API {url}, explorer http://{host}:{port}/"
    print(line, flush=True)
    log.info("%s", line)
    return url


def notify_service_manager(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Sends `state` (`READY=1`, `STOPPING=1`, newline-separated assignments) to the service
    manager, as sd_notify(3) does: one datagram to the Unix socket `$NOTIFY_SOCKET` (a leading
    `@` names an abstract socket). Without the variable (not run by systemd, or not as
    `Type=notify`) it does nothing and returns False; a failure is a warning, never an error:
    the node runs the same without a manager."""
    address = (os.environ if environ is None else environ).get(NOTIFY_SOCKET_VARIABLE, "")
    if not address:
        return False
    if address.startswith("@"):
        target = "\0" + address[1:]
    elif address.startswith("/"):
        target = address
    else:  # e.g. vsock:, for a manager outside a virtual machine
        log.warning("%s=%s: not a Unix socket; not notifying", NOTIFY_SOCKET_VARIABLE, address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.settimeout(NOTIFY_TIMEOUT_S)
            sender.connect(target)
            sender.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify the service manager at %s: %s", address, exc)
        return False
    return True


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


if __name__ == "__main__":
    sys.exit(main())
