"""A block importer meant to be killed: the child process of the crash-consistency test.

`python -m pacata.testing.crash_importer DATADIR BLOCKS_FILE` opens the devnet chain in the
LevelDB store at DATADIR (so `Chain` runs its recovery), imports every block of BLOCKS_FILE in
order and exits 0. It reports on stdout, one flushed line per event, so that the process that
kills it knows how far it got:

    open HEIGHT TIP_HASH        the chain opened (after its recovery)
    writing N                   the store starts writing the N-th batch of this run
    write N                     the store committed the N-th batch of this run
    block HEIGHT HASH STATUS    `add_block` returned; STATUS is an `AddStatus` value
    done HEIGHT TIP_HASH        every block is imported

Rules:
- A line is printed only after what it reports is durable (a LevelDB batch is written with
  `sync=True`), so a killed importer may have done more than it said, never less. `writing N`
  lets the killer aim at the moment a batch is being written, the one that atomicity is for.
- Resuming needs no bookkeeping of its own: a block already stored comes back `known` from
  `add_block` and costs one lookup, so a restarted importer goes through the same file again and
  picks up where the store is, on whichever branch that is.
- BLOCKS_FILE holds the blocks' canonical encodings, each as a codec `var_bytes` field
  (`write_block_file` / `read_block_file`), in the order they are to be imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.codec import Reader, Writer
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import KeyValueStore, LevelDBStore, Meanwhile, WriteBatch

CHECKPOINT_BLOCKS = 5

# A bound for reading the file back, far above any consensus block size.
MAX_BLOCK_ENTRY = 1 << 26


def write_block_file(path: Path, blocks: Iterable[Block]) -> None:
    writer = Writer()
    for block in blocks:
        writer.var_bytes(block.encode(), MAX_BLOCK_ENTRY)
    path.write_bytes(writer.getvalue())


def read_block_file(path: Path) -> list[bytes]:
    """The encoded blocks of a file made by `write_block_file`, in order."""
    reader = Reader(path.read_bytes())
    entries: list[bytes] = []
    while reader.remaining:
        entries.append(reader.var_bytes(MAX_BLOCK_ENTRY))
    return entries


class ReportingStore:
    """A `KeyValueStore` that reports `writing N` and `write N` around its N-th batch."""

    def __init__(self, inner: KeyValueStore, report: Callable[[str], None]) -> None:
        self._inner = inner
        self._report = report
        self._writes = 0

    def get(self, key: bytes) -> bytes | None:
        return self._inner.get(key)

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None:
        self._writes += 1
        self._report(f"writing {self._writes}")
        self._inner.write(batch, meanwhile)
        self._report(f"write {self._writes}")

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self._inner.iterate(prefix)

    def close(self) -> None:
        self._inner.close()


def _report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def import_blocks(datadir: Path, blocks_file: Path) -> Chain:
    encoded_blocks = read_block_file(blocks_file)
    store = ReportingStore(LevelDBStore(datadir), _report)
    # Frequent tree checkpoints, so that kills land both between checkpoints (the tree is then
    # rebuilt at the next open) and in the middle of one.
    chain = Chain(store, shipped_genesis("devnet"), checkpoint_blocks=CHECKPOINT_BLOCKS)
    _report(f"open {chain.height} {chain.tip.hash.hex()}")
    for encoded in encoded_blocks:
        block = Block.decode(encoded)
        update = chain.add_block(block, encoded)
        _report(f"block {block.height} {block.hash.hex()} {update.status.value}")
    _report(f"done {chain.height} {chain.tip.hash.hex()}")
    return chain


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.stderr.write("usage: python -m pacata.testing.crash_importer DATADIR BLOCKS_FILE\n")
        return 2
    chain = import_blocks(Path(args[0]), Path(args[1]))
    chain.kv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
