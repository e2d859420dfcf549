"""The block production loop: wait for each slot by the clock, then call `produce_block`.

Rules:
- One attempt per slot. The loop reads the clock, tries the slot it is in (once), and sleeps
  until the next slot starts; a late wake-up skips the slots it slept through, as a producer
  that was away would. Whether this producer may make the slot's block is `produce_block`'s
  decision (the slot lottery), never the loop's.
- The loop runs on the event loop's thread, as does every other user of the chain and the
  mempool, so they need no lock; a big block holds the event loop while it is built.
- A block that our own chain refuses (`ValidationError`: e.g. the producer is not bonded) is
  logged once per distinct reason and the loop goes on. Any other error ends the loop; the
  service then stops the node, since a store that fails under the producer fails for all.
- Switching production off takes effect at the next slot; nothing is ever cut off half-made
  (there is no await inside `produce_block`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.mempool import Mempool
from pacata.chain.production import ProducerKeys, produce_block, slot_at, slot_start_ms
from pacata.errors import ValidationError
from pacata.node.clock import Clock

log = logging.getLogger("pacata.node.producer")

# Called with each block made and the seconds its build and import took.
BlockProduced = Callable[[Block, float], None]


class ProductionLoop:
    def __init__(
        self,
        chain: Chain,
        mempool: Mempool,
        keys: ProducerKeys,
        clock: Clock,
        on_block: BlockProduced,
        *,
        enabled: bool = True,
    ) -> None:
        self.chain = chain
        self.mempool = mempool
        self.keys = keys
        self.clock = clock
        self.on_block = on_block
        self.enabled = enabled
        self._last_slot = -1
        self._last_refusal = ""

    async def run(self) -> None:
        """Produces until cancelled."""
        log.info(
            "producer %s, production %s",
            self.keys.account.address,
            "on" if self.enabled else "off (POST /api/admin/produce switches it on)",
        )
        while True:
            now_ms = self.clock.now_ms()
            slot = slot_at(self.chain, now_ms)
            if self.enabled and slot > self._last_slot:
                self._last_slot = slot
                self.produce(slot, now_ms)
            await self.clock.sleep_until_ms(slot_start_ms(self.chain, slot + 1))

    def produce(self, slot: int, now_ms: int) -> Block | None:
        """One slot's attempt: the block made, or None."""
        started = time.perf_counter()
        try:
            block = produce_block(self.chain, self.mempool, self.keys, slot, now_ms)
        except ValidationError as exc:
            reason = str(exc)
            if reason != self._last_refusal:
                log.error("our block for slot %d was refused: %s", slot, reason)
                self._last_refusal = reason
            return None
        self._last_refusal = ""
        if block is not None:
            self.on_block(block, time.perf_counter() - started)
        return block
