"""The rendered bodies of block pages, kept in a key-value store of their own, so that a block
page never decodes or renders its block twice, even after the node restarts (docs/explorer.md
§The page store).

Rules:
- A block's body (what the block alone decides: its header fields, its transactions) is a
  function of the block, which its hash names: stored once under the hash, as the UTF-8 HTML it
  is, and never changed. Not compressed: zlib would make it 3.5 times smaller, and inflating
  it would cost ~25 µs at every read, as much as the rest of a cold block page's own work. A
  reorganisation changes no stored body; the new branch's blocks are stored as their own.
- The store is derived data (`pacatad`: `<datadir>/indexes/explorer`, written without fsync):
  it can be deleted at any time and is made again. It records the fingerprint of what rendered
  its bodies (`rendering_fingerprint`: the explorer's code and templates, the node's version
  and the chain's genesis); a store of another fingerprint is emptied, in bounded steps,
  before anything else is written to it, and until then nothing is read from it.
- `advance` fills it in bounded steps: every main-chain block from genesis up, behind a mark
  (a height and that block's hash) below which every main-chain block's body is stored. A mark
  whose block left the main chain goes back down to the fork first. Between steps the event
  loop runs; a page whose body is not stored yet is rendered when asked for, and stored.
- Every key starts with `SCHEMA_VERSION`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable

from pacata import __version__
from pacata.chain.chain import Chain
from pacata.chain.kvstore import KeyValueStore, WriteBatch
from pacata.errors import StoreError

SCHEMA_VERSION = b"\x01"
FINGERPRINT_KEY = SCHEMA_VERSION + b"f"
MARK_KEY = SCHEMA_VERSION + b"m"
_BODY_PREFIX = SCHEMA_VERSION + b"b"
_MARK = struct.Struct(">Q32s")
# One step of `advance` renders at most this many blocks, or bodies of this many bytes in all
# (the cost of rendering grows with a body's size: its transactions).
STEP_BLOCKS = 100
STEP_BYTES = 256 * 1024
WIPE_STEP_KEYS = 5_000

# Renders the body of the stored block with this hash, as UTF-8 HTML.
RenderBody = Callable[[bytes], bytes]


def rendering_fingerprint(genesis_hash: bytes) -> bytes:
    """What the stored bodies depend on besides their blocks: the explorer's modules and
    templates (any change to them may change a body), the node's version and the chain."""
    digest = hashlib.sha256(b"pacata explorer bodies\x00" + __version__.encode() + genesis_hash)
    for name, data in sorted(_package_files(resources.files("pacata.explorer"), "")):
        digest.update(name.encode() + b"\x00" + hashlib.sha256(data).digest())
    return digest.digest()


def _package_files(folder: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
    for item in folder.iterdir():
        name = prefix + item.name
        if item.is_dir():
            if item.name not in ("static", "__pycache__"):
                yield from _package_files(item, name + "/")
        elif item.name.endswith((".py", ".html")):
            yield name, item.read_bytes()


def body_key(block_hash: bytes) -> bytes:
    return _BODY_PREFIX + block_hash


class PageStore:
    """Bodies of block pages in `kv` (its own store), made by `fingerprint`'s rendering."""

    def __init__(self, kv: KeyValueStore, fingerprint: bytes) -> None:
        self.kv = kv
        self.fingerprint = fingerprint
        # Another rendering's store is emptied before it is used (`advance` does it).
        self._current = kv.get(FINGERPRINT_KEY) == fingerprint
        self._wiping: Iterator[tuple[bytes, bytes]] | None = None
        self._mark = self._read_mark() if self._current else None

    @property
    def ready(self) -> bool:
        """Whether the store holds this rendering's bodies (it may be read and written)."""
        return self._current

    @property
    def height(self) -> int:
        """Every main-chain block up to this height has its body here (-1: none yet)."""
        return -1 if self._mark is None else self._mark[0]

    def _read_mark(self) -> tuple[int, bytes] | None:
        raw = self.kv.get(MARK_KEY)
        if raw is None:
            return None
        if len(raw) != _MARK.size:
            raise StoreError("corrupt mark in the explorer's page store")
        height, block_hash = _MARK.unpack(raw)
        return height, block_hash

    def body(self, block_hash: bytes) -> bytes | None:
        """The stored body of the block `block_hash` (UTF-8 HTML), or None."""
        if not self._current:
            return None
        return self.kv.get(body_key(block_hash))

    def put(self, block_hash: bytes, body: bytes) -> None:
        """Stores a body rendered on demand (nothing while the store is being emptied)."""
        if self._current:
            batch = WriteBatch()
            batch.put(body_key(block_hash), body)
            self.kv.write(batch)

    def advance(
        self,
        chain: Chain,
        render: RenderBody,
        *,
        max_blocks: int = STEP_BLOCKS,
        max_bytes: int = STEP_BYTES,
    ) -> bool:
        """One bounded step towards every main-chain block's body being stored (emptying a
        store of another rendering first): at most `max_blocks` bodies rendered, or bodies of
        `max_bytes`. True once the mark is at the chain's tip."""
        if not self._current:
            if self._wipe():
                return False
            batch = WriteBatch()
            batch.put(FINGERPRINT_KEY, self.fingerprint)
            self.kv.write(batch)
            self._current = True
        store = chain.store
        mark = self._mark
        if mark is not None and store.main_hash_at(mark[0]) != mark[1]:
            mark = self._below_fork(chain, mark[0])
        height = -1 if mark is None else mark[0]
        batch = WriteBatch()
        blocks = rendered = 0
        while height < chain.height and blocks < max_blocks and rendered < max_bytes:
            block_hash = store.main_hash_at(height + 1)
            assert block_hash is not None, "every main-chain height up to the tip has a block"
            height += 1
            key = body_key(block_hash)
            if self.kv.get(key) is None:
                body = render(block_hash)
                batch.put(key, body)
                blocks += 1
                rendered += len(body)
            mark = (height, block_hash)
        if mark is not None and mark != self._mark:
            batch.put(MARK_KEY, _MARK.pack(*mark))
        if len(batch):
            self.kv.write(batch)
        self._mark = mark
        return height >= chain.height

    def _below_fork(self, chain: Chain, height: int) -> tuple[int, bytes] | None:
        """The new mark after a reorganisation moved the main chain under the mark at `height`:
        below the lowest block of the last `finality_depth` heights whose body is missing (no
        reorganisation goes deeper; a body of the new branch may already be stored, asked for
        out of order)."""
        store = chain.store
        top = min(height, chain.height)
        lowest = max(0, top - chain.params.finality_depth - 1)
        below = top
        for at in range(top, lowest - 1, -1):
            block_hash = store.main_hash_at(at)
            if block_hash is None or self.kv.get(body_key(block_hash)) is None:
                below = at - 1
        if below < 0:
            return None
        block_hash = store.main_hash_at(below)
        assert block_hash is not None
        return below, block_hash

    def _wipe(self) -> bool:
        """Deletes the next keys of a store of another rendering; False once it is empty. One
        iteration serves the whole wipe (as `AddressIndex._wipe`: starting from the first key
        again would step over every deleted key's tombstone)."""
        if self._wiping is None:
            self._wiping = self.kv.iterate(b"")
        batch = WriteBatch()
        for key, _ in self._wiping:
            batch.delete(key)
            if len(batch) >= WIPE_STEP_KEYS:
                break
        if not len(batch):
            self._wiping = None
            self._mark = None
            return False
        self.kv.write(batch)
        return True
