"""The node's peer-to-peer protocol as one sans-I/O engine (docs/p2p.md §The node's network).

`PeerNetwork` ties the per-peer `PeerConnection`s to the gossip, sync and peer-management
engines and to the local ledger (a `Ledger`: the chain and mempool behind a narrow
interface). An adapter (`pacata.p2p.aio` for asyncio; the tests' in-memory network) owns the
sockets and the clock: it reports connections, bytes and timer expiries, and sends what
`take_transmissions` returns, closes what `take_closed` names, and dials what `take_dials`
names.

Rules:
- Every message kind has one handler (`_HANDLERS`, a dispatch table). A handler never raises
  for a peer's error: a bad message, block or transaction becomes an `Offence` for that peer
  (`PeerManager.penalize`), which bans at once for invalid data and closes the connection.
- Blocks go to the ledger with `import_block`; `BlockNotFound` (unknown parent) makes an
  orphan: its missing parent is fetched from the same peer, up to `max_parent_fetch` deep,
  and past that the peer's chain is synced headers-first. `BlockFromFuture` costs the peer
  a little and is dropped (it may be offered again when its slot comes).
- Whenever the tip changes, by import or by local production (`chain_changed`), the new tip
  is announced to the peers that do not have it; while syncing, only the final tip is.
- Transactions accepted into the mempool, from a peer or locally (`announce_transaction`),
  are announced onwards; one the mempool refuses for a rule that may pass later (nonce, fee,
  full) is just dropped, one with a bad signature or for another chain is an offence.
- One connection per node: when two exist, the one dialed by the node with the lower node id
  stays (both sides apply the same rule).
- Sub-protocols (`extensions`, pacata/p2p/extensions.py) ride the `Extension` message: an
  unknown one is ignored and counted, a malformed one costs its sender
  `Offence.MALFORMED_EXTENSION`; `send_extension` sends to a connected node.
- `peer_listeners` hear of every peer whose handshake completed (the node's UDP side learns
  its peers' addresses from them); a listener must not block and must not call back in.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pacata.chain.blocks import Block
from pacata.chain.chain import ChainUpdate
from pacata.chain.consensus import BlockFromFuture
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import Transaction
from pacata.errors import (
    BlockNotFound,
    ConsensusError,
    DecodeError,
    InvalidBlock,
    MempoolRejected,
    RemoteProtocolError,
    ValidationError,
)
from pacata.p2p.connection import (
    ConnectionClosed,
    ConnectionLimits,
    HandshakeCompleted,
    MessageReceived,
    PeerConnection,
)
from pacata.p2p.extensions import ExtensionPeer, SubProtocolRegistry
from pacata.p2p.gossip import Gossip, GossipLimits, PeerId
from pacata.p2p.messages import (
    MAX_PEER_RECORDS,
    PROTOCOL_VERSION,
    BlockData,
    DisconnectReason,
    Extension,
    GetBlocks,
    GetHeaders,
    GetPeers,
    GetTransactions,
    Headers,
    Hello,
    InvBlocks,
    InvTransactions,
    ItemKind,
    Message,
    NotFound,
    Peers,
    Role,
    TlsBinding,
    Transactions,
)
from pacata.p2p.peers import DialAddress, Offence, PeerLimits, PeerManager
from pacata.p2p.records import NodeRecord, RecordStore, Transport
from pacata.p2p.sync import BlockSync, Orphan, OrphanPool, SyncLedger, SyncLimits, SyncProgress
from pacata.p2p.udp_address import Address, normalize_address

log = logging.getLogger("pacata.p2p")


class Ledger(SyncLedger, Protocol):
    """The local chain and mempool, as the network sees them."""

    @property
    def chain_id(self) -> str: ...

    @property
    def genesis_hash(self) -> bytes: ...

    def block_encoding(self, block_hash: bytes) -> bytes | None: ...

    def block_height(self, block_hash: bytes) -> int | None:
        """The height of a stored block, or None."""
        ...

    def headers_after(self, locator: tuple[bytes, ...], max_count: int) -> list[BlockHeader]: ...

    def import_block(self, block: Block, encoded: bytes) -> ChainUpdate:
        """Raises `InvalidBlock`, `ConsensusError` (`BlockFromFuture`), `BlockNotFound`."""
        ...

    def import_blocks(self, blocks: Iterable[tuple[Block, bytes | None]]) -> Iterator[ChainUpdate]:
        """`import_block` for a run of blocks, one update per block in order; the first block
        that raises ends the run with its exception (`Chain.import_blocks`)."""
        ...

    def has_transaction(self, txid: bytes) -> bool: ...

    def transaction_encoding(self, txid: bytes) -> bytes | None: ...

    def pending_txids(self, limit: int) -> list[bytes]:
        """Up to `limit` ids of the transactions waiting in the mempool, oldest first."""
        ...

    def add_transaction(self, tx: Transaction) -> None:
        """Raises `MempoolRejected`."""
        ...


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    key: PrivateKey
    record: NodeRecord
    connection: ConnectionLimits = field(default_factory=ConnectionLimits)
    gossip: GossipLimits = field(default_factory=GossipLimits)
    sync: SyncLimits = field(default_factory=SyncLimits)
    peers: PeerLimits = field(default_factory=PeerLimits)
    max_parent_fetch: int = 8


@dataclass(slots=True)
class PeerSession:
    peer: PeerId
    connection: PeerConnection
    remote: DialAddress
    dialed: DialAddress | None
    opened_at: float
    established_at: float | None = None
    node_id: bytes | None = None
    record: NodeRecord | None = None

    @property
    def inbound(self) -> bool:
        return self.dialed is None

    @property
    def udp_address(self) -> Address | None:
        """The peer's UDP port (its DHT and STUN): the host its connection comes from, or that
        we dialed, with the port of its record's UDP endpoint at that host if it names one (its
        reflexive address, as a NAT maps it), else of its first UDP endpoint; None without
        one."""
        if self.record is None:
            return None
        udp = [e for e in self.record.endpoints if e.transport == Transport.UDP]
        if not udp:
            return None
        try:
            host, _ = normalize_address(self.remote.host, 0)
        except ValueError:
            return None
        port = udp[0].port
        for endpoint in udp:
            try:
                if normalize_address(endpoint.host, endpoint.port)[0] == host:
                    port = endpoint.port
                    break
            except ValueError:  # a host name
                continue
        return (host, port)


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the API shows of a connected peer."""

    node_id: bytes
    address: str
    inbound: bool
    tip_height: int
    connected_seconds: float
    score: float
    bytes_received: int
    bytes_sent: int


Handler = Callable[["PeerNetwork", PeerSession, Any, float], None]


class PeerNetwork:
    def __init__(self, ledger: Ledger, config: NetworkConfig) -> None:
        self.ledger = ledger
        self.config = config
        self.node_id = config.record.node_id
        self.records = RecordStore()
        self.peers = PeerManager(config.peers)
        self.gossip = Gossip(self._is_known, config.gossip)
        self.sync = BlockSync(ledger, config.sync)
        self.orphans = OrphanPool()
        self._sessions: dict[PeerId, PeerSession] = {}
        self._closed: list[PeerId] = []
        self._dialing: set[DialAddress] = set()
        self._ids = itertools.count(1)
        self._announced_tip = ledger.tip()
        self.blocks_received = 0
        self.transactions_received = 0
        self.peer_listeners: list[Callable[[PeerSession], None]] = []
        self.extensions = SubProtocolRegistry()
        self.extensions_ignored = 0

    def new_peer_id(self) -> PeerId:
        return next(self._ids)

    def _is_known(self, kind: ItemKind, item: bytes) -> bool:
        if kind is ItemKind.BLOCK:
            return item in self.orphans or self.ledger.has_block(item)
        return self.ledger.has_transaction(item)

    # -- queries --------------------------------------------------------------------------

    @property
    def peer_count(self) -> int:
        return sum(1 for s in self._sessions.values() if s.connection.is_established)

    @property
    def syncing(self) -> bool:
        return self.sync.is_syncing

    def sync_progress(self) -> SyncProgress:
        return self.sync.progress()

    def peer_infos(self, now: float) -> list[PeerInfo]:
        infos = []
        for session in self._sessions.values():
            if not session.connection.is_established or session.node_id is None:
                continue
            tip = self.sync.tips.get(session.peer)
            infos.append(
                PeerInfo(
                    node_id=session.node_id,
                    address=str(session.remote),
                    inbound=session.inbound,
                    tip_height=tip.height if tip else 0,
                    connected_seconds=now - (session.established_at or now),
                    score=self.peers.score(session.node_id, now),
                    bytes_received=session.connection.bytes_received,
                    bytes_sent=session.connection.bytes_sent,
                )
            )
        return infos

    # -- adapter inputs -------------------------------------------------------------------

    def accepts(self, host: str, now: float) -> bool:
        """Whether to take an inbound connection from `host` (not banned, room left)."""
        inbound = sum(1 for s in self._sessions.values() if s.inbound)
        return not self.peers.is_banned_host(host, now) and self.peers.accepts_inbound(inbound)

    def connection_made(
        self,
        peer: PeerId,
        remote: DialAddress,
        dialed: DialAddress | None,
        binding: TlsBinding,
        now: float,
    ) -> None:
        """A TLS connection is up; `dialed` is the address we dialed (None: inbound)."""
        if dialed is not None:
            self._dialing.discard(dialed)
        height, tip_hash = self.ledger.tip()
        hello = Hello(
            PROTOCOL_VERSION,
            self.ledger.chain_id,
            self.ledger.genesis_hash,
            height,
            tip_hash,
            self.config.record,
        )
        connection = PeerConnection(
            key=self.config.key,
            hello=hello,
            role=Role.INITIATOR if dialed is not None else Role.RESPONDER,
            binding=binding,
            now=now,
            limits=self.config.connection,
        )
        self._sessions[peer] = PeerSession(peer, connection, remote, dialed, now)
        self._pump(now)

    def receive_data(self, peer: PeerId, data: bytes, now: float) -> None:
        session = self._sessions.get(peer)
        if session is None:
            return
        session.connection.receive_data(data, now)
        self._pump(now)

    def connection_lost(self, peer: PeerId, now: float) -> None:
        session = self._sessions.get(peer)
        if session is None:
            return
        session.connection.connection_lost()
        self._pump(now)
        self._sessions.pop(peer, None)

    def dial_failed(self, address: DialAddress, now: float) -> None:
        self._dialing.discard(address)
        self.peers.dial_failed(address, now)

    def chain_changed(self, now: float) -> None:
        """The tip moved outside the network (local production): announce it."""
        self._pump(now)

    def announce_transaction(self, txid: bytes, now: float) -> None:
        """A transaction entered the mempool locally (the API): gossip it."""
        self.gossip.publish(ItemKind.TRANSACTION, txid)
        self._pump(now)

    def send_extension(self, node_id: bytes, protocol: str, payload: bytes) -> bool:
        """Queues a sub-protocol message to the connected node `node_id`; False if it is not
        connected. The adapter sends it at its next flush."""
        for session in self._sessions.values():
            if session.node_id == node_id and session.connection.is_established:
                session.connection.send(Extension(protocol, payload))
                return True
        return False

    def add_bootnode(self, address: DialAddress) -> None:
        self.peers.add_bootnode(address)

    def node_id_with_wireguard_key(self, wireguard_key: bytes) -> bytes | None:
        """The connected node whose record advertises `wireguard_key` (a relay, found by its
        offer's key), if any."""
        for session in self._sessions.values():
            record = session.record
            if (
                record is not None
                and record.wireguard_key == wireguard_key
                and session.connection.is_established
            ):
                return session.node_id
        return None

    def shutdown(self, now: float) -> None:
        for session in self._sessions.values():
            session.connection.close(DisconnectReason.SHUTDOWN, "node shutting down")
        self._pump(now)

    def get_timer(self) -> float | None:
        timers = [s.connection.get_timer() for s in self._sessions.values()]
        timers += [
            self.gossip.get_timer(),
            self.sync.get_timer(),
            self.peers.next_dial_time(*self._dial_state()),
        ]
        return min((t for t in timers if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for session in list(self._sessions.values()):
            session.connection.handle_timer(now)
        self.gossip.handle_timer(now)
        self.sync.handle_timer(now)
        self._pump(now)

    # -- adapter outputs ------------------------------------------------------------------

    def take_transmissions(self) -> list[tuple[PeerId, bytes]]:
        out = []
        for peer, session in self._sessions.items():
            data = session.connection.data_to_send()
            if data:
                out.append((peer, data))
        return out

    def take_closed(self) -> list[PeerId]:
        """Connections to close (after sending what `take_transmissions` gave for them)."""
        closed, self._closed = self._closed, []
        for peer in closed:
            self._sessions.pop(peer, None)
        return closed

    def take_dials(self, now: float) -> list[DialAddress]:
        due = self.peers.dials_due(now, *self._dial_state())
        self._dialing.update(due)
        return due

    def _dial_state(self) -> tuple[int, set[bytes]]:
        """Outbound connections held or being opened, and the node ids connected (ours too)."""
        outbound = len(self._dialing) + sum(
            1 for s in self._sessions.values() if not s.inbound and not s.connection.is_closed
        )
        connected = {s.node_id for s in self._sessions.values() if s.node_id is not None}
        connected.add(self.node_id)
        return outbound, connected

    # -- the engine -----------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Handles every pending event, imports what sync has ready, and queues the output."""
        for _ in range(64):
            progressed = False
            for session in list(self._sessions.values()):
                while (event := session.connection.next_event()) is not None:
                    progressed = True
                    if isinstance(event, MessageReceived):
                        if session.connection.is_established:
                            handler = _HANDLERS[type(event.message)]
                            handler(self, session, event.message, now)
                    elif isinstance(event, HandshakeCompleted):
                        self._on_handshake(session, event.hello, now)
                    elif isinstance(event, ConnectionClosed):
                        self._on_closed(session, event, now)
            progressed |= self._import_synced(now)
            self._score_stalls(now)
            if self.sync.maybe_start(now):
                progressed = True
            self._announce_tip()
            for peer, message in self.gossip.take_messages() + self.sync.take_messages(now):
                self._send(peer, message)
            if not progressed:
                break

    def _send(self, peer: PeerId, message: Message) -> None:
        session = self._sessions.get(peer)
        if session is not None and session.connection.is_established:
            session.connection.send(message)

    def _announce_tip(self) -> None:
        tip = self.ledger.tip()
        if tip == self._announced_tip or self.sync.is_syncing:
            return
        self._announced_tip = tip
        self.gossip.publish(ItemKind.BLOCK, tip[1], tip[0])

    def _score_stalls(self, now: float) -> None:
        stalled = self.gossip.timed_out + self.sync.stalled
        self.gossip.timed_out.clear()
        self.sync.stalled.clear()
        for peer in stalled:
            session = self._sessions.get(peer)
            if session is not None:
                self._offence(session, Offence.STALLED_REQUEST, "request not answered", now)

    def _offence(self, session: PeerSession, offence: Offence, reason: str, now: float) -> None:
        banned = self.peers.penalize(session.node_id, session.remote.host, offence, now, reason)
        if banned:
            log.warning(
                "banning peer %s (%s): %s",
                session.remote,
                session.node_id.hex()[:16] if session.node_id else "no node id",
                reason,
            )
            session.connection.close(DisconnectReason.BANNED, reason, misbehaved=False)

    # -- connection events ----------------------------------------------------------------

    def _on_handshake(self, session: PeerSession, hello: Hello, now: float) -> None:
        record = hello.record
        node_id = record.node_id
        connection = session.connection
        if node_id == self.node_id:
            if session.dialed is not None:
                self.peers.mark_self(session.dialed)
            connection.close(DisconnectReason.SELF, "connected to ourselves")
            return
        if self.peers.is_banned_node(node_id, now) or self.peers.is_banned_host(
            session.remote.host, now
        ):
            connection.close(DisconnectReason.BANNED, "banned")
            return
        for other in self._sessions.values():
            if other is session or other.node_id != node_id or other.connection.is_closed:
                continue
            if self._initiator(session) < self._initiator(other):
                other.connection.close(DisconnectReason.DUPLICATE, "a better connection exists")
            else:
                connection.close(DisconnectReason.DUPLICATE, "already connected")
                return
        session.node_id = node_id
        session.record = record
        session.established_at = now
        self.records.offer(record)
        if session.dialed is not None:
            self.peers.connected(session.dialed, node_id)
        self._learn_endpoints(record, observed_host=session.remote.host)
        self.gossip.add_peer(session.peer)
        # What waits in our mempool may have been submitted while we had no peer to tell.
        pending = self.ledger.pending_txids(self.config.gossip.max_pending_announcements)
        self.gossip.offer(session.peer, ItemKind.TRANSACTION, pending)
        self.sync.set_tip(session.peer, hello.tip_height, hello.tip_hash)
        if hello.tip_height >= self.ledger.tip()[0]:
            self.sync.request_round(session.peer)
        log.info(
            "peer %s connected (%s, node %s, height %d)",
            session.remote,
            "inbound" if session.inbound else "outbound",
            node_id.hex()[:16],
            hello.tip_height,
        )
        # The peer's hello and its goodbye can come in one read: then the connection is closed
        # already, and its `ConnectionClosed` event, next in the queue, undoes the above.
        if connection.is_established:
            connection.send(GetPeers())
        for listener in self.peer_listeners:
            listener(session)

    def _initiator(self, session: PeerSession) -> bytes:
        assert session.connection.peer_hello is not None
        if session.inbound:
            return session.connection.peer_hello.record.node_id
        return self.node_id

    def _learn_endpoints(self, record: NodeRecord, observed_host: str | None) -> None:
        endpoint = record.endpoint(Transport.TCP)
        if endpoint is None or record.node_id == self.node_id:
            return
        host = endpoint.host
        if endpoint.is_unspecified:
            if observed_host is None:
                return
            host = observed_host
        self.peers.learn(DialAddress(host, endpoint.port), record.node_id)

    def _on_closed(self, session: PeerSession, event: ConnectionClosed, now: float) -> None:
        where = f"peer {session.remote}"
        if event.reason is DisconnectReason.WRONG_CHAIN:
            log.warning("refusing %s of another chain: %s", where, event.detail)
        elif event.misbehaved:
            log.warning("%s broke the protocol: %s", where, event.detail)
        elif session.established_at is not None:
            log.info(
                "%s disconnected (%s%s: %s)",
                where,
                "by the peer, " if event.by_peer else "",
                event.reason.name.lower(),
                event.detail,
            )
        else:
            log.debug("%s closed during the handshake: %s", where, event.detail)
        if event.misbehaved:
            self.peers.penalize(
                session.node_id, session.remote.host, Offence.PROTOCOL_VIOLATION, now, event.detail
            )
        if session.established_at is not None:
            self.gossip.remove_peer(session.peer, now)
            self.sync.remove_peer(session.peer, now)
        if session.dialed is not None:
            self._dialing.discard(session.dialed)
            if event.reason is not DisconnectReason.SELF:
                self.peers.disconnected(session.dialed, now - session.opened_at, now)
        self._closed.append(session.peer)

    # -- message handlers -----------------------------------------------------------------

    def _on_inv_blocks(self, session: PeerSession, message: InvBlocks, now: float) -> None:
        local_height, _ = self.ledger.tip()
        fetch = []
        for entry in message.blocks:
            self.sync.set_tip(session.peer, entry.height, entry.block_hash)
            if entry.height <= local_height + 1 and not self.sync.is_syncing:
                fetch.append(entry.block_hash)
        if fetch:
            self.gossip.on_inventory(session.peer, ItemKind.BLOCK, fetch, now)

    def _on_inv_transactions(
        self, session: PeerSession, message: InvTransactions, now: float
    ) -> None:
        self.gossip.on_inventory(session.peer, ItemKind.TRANSACTION, message.txids, now)

    def _on_get_blocks(self, session: PeerSession, message: GetBlocks, now: float) -> None:
        missing = []
        for block_hash in message.hashes:
            encoded = self.ledger.block_encoding(block_hash)
            if encoded is None:
                missing.append(block_hash)
                continue
            session.connection.send(BlockData(encoded))
            # A peer does not announce back a block it fetched from us (it knows we have
            # it): what it fetches is how its height stays current here.
            height = self.ledger.block_height(block_hash)
            if height is not None:
                self.sync.set_tip(session.peer, height, block_hash)
        if missing:
            session.connection.send(NotFound(ItemKind.BLOCK, tuple(missing)))

    def _on_block_data(self, session: PeerSession, message: BlockData, now: float) -> None:
        try:
            block = Block.decode(message.block)
        except DecodeError as exc:
            self._offence(session, Offence.INVALID_MESSAGE, f"undecodable block: {exc}", now)
            return
        block_hash = block.hash
        self.blocks_received += 1
        if self.sync.on_block(session.peer, block_hash, message.block):
            self.gossip.on_item_received(session.peer, ItemKind.BLOCK, block_hash)
            return
        if not self.gossip.on_item_received(session.peer, ItemKind.BLOCK, block_hash):
            self._offence(session, Offence.UNSOLICITED_DATA, "a block we did not ask for", now)
            return
        self._import_with_orphans(session, block, message.block, now)

    def _import_with_orphans(
        self, session: PeerSession, block: Block, encoded: bytes, now: float
    ) -> None:
        queue = [(session, block, encoded)]
        while queue:
            source, current, data = queue.pop()
            status = self._import(source, current, data, now)
            if status is None:
                continue
            if status == "orphan":
                self._on_orphan(source, current, data, now)
                continue
            for child in self.orphans.take_children(current.hash):
                child_source = self._sessions.get(child.peer, source)
                try:
                    child_block = Block.decode(child.encoded)
                except DecodeError:  # decoded once already; cannot happen
                    continue
                queue.append((child_source, child_block, child.encoded))

    def _import(self, session: PeerSession, block: Block, encoded: bytes, now: float) -> str | None:
        """Imports one block: "ok", "orphan", or None when it failed (and was dealt with)."""
        try:
            self.ledger.import_block(block, encoded)
        except BlockNotFound:
            return "orphan"
        except BlockFromFuture as exc:
            self._offence(session, Offence.BLOCK_FROM_FUTURE, str(exc), now)
            return None
        except (InvalidBlock, ConsensusError) as exc:
            self._offence(session, Offence.INVALID_BLOCK, f"invalid block: {exc}", now)
            return None
        return "ok"

    def _on_orphan(self, session: PeerSession, block: Block, encoded: bytes, now: float) -> None:
        block_hash = block.hash
        self.orphans.add(
            Orphan(block_hash, block.header.prev_hash, block.height, encoded, session.peer)
        )
        self.sync.set_tip(session.peer, block.height, block_hash)
        root = self.orphans.root_of(block_hash)
        if root is None:
            return
        shallow = self.orphans.depth(block_hash) < self.config.max_parent_fetch
        if shallow and self.gossip.request(session.peer, ItemKind.BLOCK, root.prev_hash, now):
            return
        self.sync.request_round(session.peer)
        self.sync.maybe_start(now)

    def _import_synced(self, now: float) -> bool:
        ready = self.sync.take_ready()
        run = _SyncedRun(ready)
        try:
            # One run, so that each block's signatures are checked while the one before it is
            # written (`Chain.import_blocks`).
            for _ in self.ledger.import_blocks(run):
                block = run.imported()
                self.sync.block_imported()
                for child in self.orphans.take_children(block.hash):
                    orphan_session = self._sessions.get(child.peer)
                    if orphan_session is not None:
                        self._import_with_orphans(
                            orphan_session, Block.decode(child.encoded), child.encoded, now
                        )
        except DecodeError as exc:
            self._synced_block_failed(run, Offence.INVALID_MESSAGE, f"undecodable: {exc}", now)
        except BlockFromFuture as exc:
            self._synced_block_failed(run, Offence.BLOCK_FROM_FUTURE, str(exc), now)
        except (ValidationError, BlockNotFound) as exc:
            self._synced_block_failed(run, Offence.INVALID_BLOCK, f"invalid block: {exc}", now)
        else:
            if ready:
                self.sync.import_done()
        return bool(ready)

    def _synced_block_failed(
        self, run: _SyncedRun, offence: Offence, reason: str, now: float
    ) -> None:
        """A block of the sync round failed to decode or import: the round ends and the peer
        that sent that block answers for it."""
        self.sync.abort()
        session = self._sessions.get(run.failed_peer())
        if session is not None:
            self._offence(session, offence, reason, now)

    def _on_get_transactions(
        self, session: PeerSession, message: GetTransactions, now: float
    ) -> None:
        found, missing = [], []
        for txid in message.txids:
            encoded = self.ledger.transaction_encoding(txid)
            if encoded is None:
                missing.append(txid)
            else:
                found.append(encoded)
        if found:
            session.connection.send(Transactions(tuple(found)))
        if missing:
            session.connection.send(NotFound(ItemKind.TRANSACTION, tuple(missing)))

    def _on_transactions(self, session: PeerSession, message: Transactions, now: float) -> None:
        for encoded in message.transactions:
            try:
                tx = Transaction.decode(encoded)
            except DecodeError as exc:
                self._offence(session, Offence.INVALID_MESSAGE, f"undecodable tx: {exc}", now)
                return
            txid = tx.txid
            self.transactions_received += 1
            if not self.gossip.on_item_received(session.peer, ItemKind.TRANSACTION, txid):
                self._offence(session, Offence.UNSOLICITED_DATA, "a tx we did not ask for", now)
                continue
            if tx.chain_id != self.ledger.chain_id or not tx.has_valid_signature():
                self._offence(session, Offence.INVALID_TRANSACTION, "transaction badly signed", now)
                return
            try:
                self.ledger.add_transaction(tx)
            except MempoolRejected:
                continue
            self.gossip.publish(ItemKind.TRANSACTION, txid)

    def _on_not_found(self, session: PeerSession, message: NotFound, now: float) -> None:
        if message.item_kind is ItemKind.BLOCK:
            self.sync.on_not_found(session.peer, message.hashes)
        self.gossip.on_not_found(session.peer, message.item_kind, message.hashes, now)

    def _on_get_headers(self, session: PeerSession, message: GetHeaders, now: float) -> None:
        headers = self.ledger.headers_after(message.locator, message.max_count)
        session.connection.send(Headers(tuple(headers)))

    def _on_headers(self, session: PeerSession, message: Headers, now: float) -> None:
        if not self.sync.on_headers(session.peer, message.headers, now):
            self._offence(session, Offence.INVALID_MESSAGE, "headers unasked for or unlinked", now)

    def _on_get_peers(self, session: PeerSession, message: GetPeers, now: float) -> None:
        records = [
            s.record
            for s in self._sessions.values()
            if s.record is not None and s is not session and s.connection.is_established
        ]
        session.connection.send(Peers(tuple(records[:MAX_PEER_RECORDS])))

    def _on_peers(self, session: PeerSession, message: Peers, now: float) -> None:
        for record in message.records:
            if not record.verify():
                self._offence(session, Offence.INVALID_MESSAGE, "a forged node record", now)
                return
            self.records.offer(record)
            self._learn_endpoints(record, observed_host=None)

    def _on_extension(self, session: PeerSession, message: Extension, now: float) -> None:
        protocol = self.extensions.get(message.protocol)
        if protocol is None or session.node_id is None:
            self.extensions_ignored += 1
            return
        name = message.protocol
        if len(message.payload) > protocol.max_payload:
            reason = f"{name} message of {len(message.payload)} bytes"
            self._offence(session, Offence.MALFORMED_EXTENSION, reason, now)
            return
        try:
            decoded = protocol.decode(message.payload)
        except DecodeError as exc:
            self._offence(session, Offence.MALFORMED_EXTENSION, f"malformed {name}: {exc}", now)
            return

        def reply(protocol_name: str, payload: bytes) -> None:
            self._send(session.peer, Extension(protocol_name, payload))

        try:
            protocol.handle(ExtensionPeer(name, session.peer, session.node_id, reply), decoded, now)
        except RemoteProtocolError as exc:
            self._offence(session, Offence.MALFORMED_EXTENSION, f"{name}: {exc}", now)


_HANDLERS: dict[type[Message], Handler] = {
    InvBlocks: PeerNetwork._on_inv_blocks,
    InvTransactions: PeerNetwork._on_inv_transactions,
    GetBlocks: PeerNetwork._on_get_blocks,
    BlockData: PeerNetwork._on_block_data,
    GetTransactions: PeerNetwork._on_get_transactions,
    Transactions: PeerNetwork._on_transactions,
    NotFound: PeerNetwork._on_not_found,
    GetHeaders: PeerNetwork._on_get_headers,
    Headers: PeerNetwork._on_headers,
    GetPeers: PeerNetwork._on_get_peers,
    Peers: PeerNetwork._on_peers,
    Extension: PeerNetwork._on_extension,
}


class _SyncedRun:
    """The blocks of a sync round, in order, decoded as the chain reads them (one block ahead
    of the one it imports), with who sent each."""

    def __init__(self, ready: list[tuple[PeerId, bytes, bytes]]) -> None:
        self._ready = ready
        self._imported = 0  # updates received for them
        self._blocks: list[Block] = []

    def __iter__(self) -> Iterator[tuple[Block, bytes | None]]:
        for _, _, encoded in self._ready:
            block = Block.decode(encoded)
            self._blocks.append(block)
            yield block, encoded

    def imported(self) -> Block:
        """The block whose update just came back."""
        block = self._blocks[self._imported]
        self._imported += 1
        return block

    def failed_peer(self) -> PeerId:
        """Who sent the block that failed: the first one without an update (a block fails
        before the next one is read, and an undecodable one when it is read)."""
        return self._ready[self._imported][0]
