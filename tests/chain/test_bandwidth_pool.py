"""The bandwidth pool's payout (docs/ledger.md §The bandwidth pool): the first block of an epoch
pays the pool to the relays that settled in the epoch before, pool × settled // total settled
each, the remainder and an epoch without settlements carried over; the earners record is
bounded and keeps the largest earners; a reorganisation across the epoch boundary undoes the
payout; the supply stays exact throughout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pacata.chain import schema
from pacata.chain.bandwidth_pool import (
    EARNERS_KEY,
    MAX_EPOCH_EARNERS,
    Earning,
    EpochEarners,
    epoch_earners,
    pay_bandwidth_pool,
    record_earning,
)
from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.codec import Writer
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import Genesis, shipped_genesis
from pacata.chain.keys import Address
from pacata.chain.receipts import Receipt
from pacata.chain.state import (
    Account,
    ChainTotals,
    Channel,
    Namespace,
    StateOverlay,
)
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    RelayOffer,
    RelayRegister,
    Transaction,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import DecodeError
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params

# An epoch of 10 slots and a reward whose pool share, 350,001 a block, divides badly.
GENESIS: Genesis = with_params(shipped_genesis("devnet"), epoch_slots=10, block_reward=1_000_003)
PARAMS = GENESIS.params
POOL_PART = 350_001
RELAYS = [devnet_key(i) for i in (2, 3, 4)]
CLIENTS = [devnet_key(i) for i in (5, 6, 7)]
OFFER = RelayOffer(bytes(range(32)), ("198.51.100.9:51820",), (1_000_000,), (0,))
DEPOSIT = 10**9
VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors" / "consensus"


def supply_is_exact(chain: Chain) -> bool:
    """Every balance, bond and unbonding, what channels hold, the pool and the burned units add
    up to exactly what was minted."""
    held = 0
    minted = None
    for key, value in chain.kv.iterate(schema.STATE):
        namespace = key[len(schema.STATE)]
        if namespace == Namespace.ACCOUNT:
            account = Account.decode(value)
            held += account.balance + account.bond + account.unbonding_total
        elif namespace == Namespace.CHANNEL:
            channel = Channel.decode(value)
            held += channel.deposit - channel.paid
        elif namespace == Namespace.TOTALS:
            totals = ChainTotals.decode(value)
            held += totals.bandwidth_pool + totals.burned
            minted = totals.minted
    return held == minted


class Network:
    """Three relays with a channel each from its own client, on a chain of 10-slot epochs."""

    def __init__(self, factory: ChainFactory) -> None:
        self.factory = factory
        self.channels: list[bytes] = []
        self.paid = [0, 0, 0]

    @classmethod
    def opened(cls, seed: int = 0, genesis: Genesis = GENESIS, expiry: int = 1_000) -> Network:
        """Relays registered at height 1, channels opened at height 2 expiring at `expiry`."""
        network = cls(ChainFactory(devnet_chain(genesis=genesis), seed=seed))
        factory = network.factory
        factory.next_block([factory.sign(relay, RelayRegister(OFFER)) for relay in RELAYS])
        opens = [
            factory.sign(client, ChannelOpen(relay.address, DEPOSIT, 0, bytes([i]) * 32, expiry))
            for i, (client, relay) in enumerate(zip(CLIENTS, RELAYS, strict=True))
        ]
        factory.next_block(opens)
        network.channels = [channel_id_of(tx.sender, tx.nonce) for tx in opens]
        return network

    def settle(self, index: int, delta: int) -> Transaction:
        """Relay `index` settles `delta` more of its channel."""
        self.paid[index] += delta
        receipt = Receipt(
            self.factory.chain_id, self.channels[index], self.paid[index], self.paid[index]
        ).signed(CLIENTS[index])
        return self.factory.sign(RELAYS[index], ChannelSettle(receipt))

    def block_in_next_epoch(self, transactions: list[Transaction] | None = None) -> None:
        chain = self.factory.chain
        epoch_start = (chain.tip.slot // PARAMS.epoch_slots + 1) * PARAMS.epoch_slots
        self.factory.next_block(transactions or [], slot_gap=epoch_start - chain.tip.slot)

    def balances(self) -> list[int]:
        return [self.factory.chain.account(relay.address).balance for relay in RELAYS]

    @property
    def pool(self) -> int:
        return self.factory.chain.totals().bandwidth_pool


def test_the_pool_is_paid_in_proportion_to_what_each_relay_settled() -> None:
    network = Network.opened()
    chain = network.factory.chain
    settled = [333_333, 1_000_000, 7]
    network.factory.next_block([network.settle(i, amount) for i, amount in enumerate(settled)])
    assert chain.tip.slot < PARAMS.epoch_slots  # three blocks of epoch 0
    assert network.pool == 3 * POOL_PART == 1_050_003
    earners = epoch_earners(StateOverlay(chain.store))
    assert earners == EpochEarners(
        0,
        tuple(
            sorted(
                (
                    Earning(relay.address, amount)
                    for relay, amount in zip(RELAYS, settled, strict=True)
                ),
                key=lambda e: e.relay.raw,
            )
        ),
    )
    before = network.balances()

    network.block_in_next_epoch()
    # 1,050,003 × 333,333 // 1,333,340 = 262,499; × 1,000,000 // … = 787,498; × 7 // … = 5.
    gained = [after - b for after, b in zip(network.balances(), before, strict=True)]
    assert gained == [262_499, 787_498, 5]
    assert gained == [1_050_003 * s // 1_333_340 for s in settled]
    # The remainder, 1 unit, stays in the pool; the payout block adds its own share after it.
    assert network.pool == 1 + POOL_PART
    assert epoch_earners(StateOverlay(chain.store)) is None
    assert supply_is_exact(chain)


def test_the_pool_carries_over_an_epoch_without_settlements() -> None:
    network = Network.opened()
    chain = network.factory.chain
    network.factory.next_block([network.settle(0, 1_000), network.settle(1, 3_000)])
    network.block_in_next_epoch()  # pays epoch 0: 3 × 350,001 to relays 0 and 1
    assert network.pool == 1 + POOL_PART  # 262,500 and 787,502 of 1,050,003: 1 is left
    network.factory.next_block()
    before = network.balances()

    network.block_in_next_epoch()  # epoch 1 had no settlement: nothing is paid
    assert network.balances() == before
    assert network.pool == 1 + 3 * POOL_PART
    assert supply_is_exact(chain)

    network.factory.next_block([network.settle(2, 12_345)])
    network.factory.next_block()
    before = network.balances()
    carried = network.pool
    assert carried == 1 + 5 * POOL_PART
    network.block_in_next_epoch()  # the only earner of epoch 2 takes everything carried
    assert network.balances() == [before[0], before[1], before[2] + carried]
    assert network.pool == POOL_PART
    assert supply_is_exact(chain)


def test_an_epoch_skipped_without_blocks_pays_once() -> None:
    network = Network.opened()
    network.factory.next_block([network.settle(0, 5)])
    before = network.balances()
    pool = network.pool
    network.factory.next_block(slot_gap=3 * PARAMS.epoch_slots)  # from epoch 0 to epoch 3
    assert network.balances() == [before[0] + pool, before[1], before[2]]
    assert network.pool == POOL_PART


def test_settlements_in_the_payout_block_count_for_its_own_epoch() -> None:
    network = Network.opened()
    chain = network.factory.chain
    network.factory.next_block([network.settle(0, 100)])
    before = network.balances()
    pool = network.pool
    network.block_in_next_epoch([network.settle(1, 100)])
    fee = PARAMS.min_fee + PARAMS.developer_fee(100)
    assert network.balances() == [before[0] + pool, before[1] + 100 - fee, before[2]]
    earners = epoch_earners(StateOverlay(chain.store))
    assert earners == EpochEarners(1, (Earning(RELAYS[1].address, 100),))


def test_the_supply_stays_exact_through_channels_payouts_and_closes() -> None:
    genesis = with_params(GENESIS, settlement_grace_blocks=2)
    network = Network.opened(seed=7, genesis=genesis, expiry=5)
    factory = network.factory
    chain = factory.chain
    assert supply_is_exact(chain)
    factory.next_block([network.settle(0, 99_999_999), network.settle(1, 3)])
    factory.next_block([network.settle(0, 1), network.settle(2, 77)])
    assert supply_is_exact(chain)
    network.block_in_next_epoch([network.settle(1, 5)])
    assert supply_is_exact(chain)
    while chain.height < 5 + 2:
        factory.next_block()
    factory.next_block(
        [
            factory.sign(client, ChannelClose(network.channels[i]))
            for i, client in enumerate(CLIENTS)
        ]
    )
    assert supply_is_exact(chain)
    network.block_in_next_epoch()
    assert supply_is_exact(chain)


def test_the_supply_stays_exact_through_the_pinned_vector_blocks() -> None:
    """The consensus vectors' blocks (every kind, slashing and a payout among them)."""
    document = json.loads((VECTORS_DIR / "blocks.json").read_text("utf-8"))
    chain = devnet_chain()
    assert supply_is_exact(chain)
    for entry in document["blocks"]:
        chain.add_block(Block.decode(bytes.fromhex(entry["encoding"])))
        assert supply_is_exact(chain), f"height {entry['height']}"
    assert chain.totals().burned > 0


def test_a_reorganisation_across_the_epoch_boundary_undoes_the_payout() -> None:
    main = Network.opened(seed=50)
    rival = Network(main.factory.fork(2, seed=51))
    main.factory.next_block([main.settle(0, 40_000), main.settle(1, 20_000)])
    main.block_in_next_epoch()  # height 4: pays relays 0 and 1
    # The rival branch settles nothing, crosses into epoch 1 too and is one block longer.
    rival.factory.next_block(slot_gap=2)
    rival.block_in_next_epoch()
    rival.factory.next_block()

    node = devnet_chain(genesis=GENESIS)
    for height in range(1, 5):
        node.add_block(main.factory.chain.block_at(height))
    paid_balances = [node.account(relay.address).balance for relay in RELAYS]
    assert node.totals() == main.factory.chain.totals()
    assert node.totals().bandwidth_pool == POOL_PART  # 3 × 350,001 paid in full: 2:1
    statuses = [node.add_block(rival.factory.chain.block_at(h)).status for h in (3, 4, 5)]
    assert AddStatus.REORGANIZED in statuses
    assert node.tip == rival.factory.chain.tip
    # Undone: the relays have what they had before the settlements, the pool all of its units.
    unpaid = [node.account(relay.address).balance for relay in RELAYS]
    assert unpaid == rival.balances()
    assert unpaid[0] < paid_balances[0] and unpaid[1] < paid_balances[1]
    assert node.totals().bandwidth_pool == 5 * POOL_PART
    assert epoch_earners(StateOverlay(node.store)) is None
    assert supply_is_exact(node)

    # And back: the main branch grows longer, and the payout is made again.
    for _ in range(2):
        main.factory.next_block()
    for height in (5, 6):
        node.add_block(main.factory.chain.block_at(height))
    assert node.tip == main.factory.chain.tip
    assert [node.account(relay.address).balance for relay in RELAYS] == main.balances()
    assert node.totals() == main.factory.chain.totals()


# -- the earners record -----------------------------------------------------------------------


def _address(number: int) -> Address:
    return Address(number.to_bytes(20, "big"))


def _state() -> StateOverlay:
    return StateOverlay(devnet_chain().store)


def _settled(state: StateOverlay) -> dict[Address, int]:
    found = epoch_earners(state)
    return {} if found is None else {e.relay: e.settled for e in found.earnings}


def test_a_relay_entry_is_its_settled_total_of_the_epoch() -> None:
    state = _state()
    record_earning(state, _address(9), 10, epoch=5)
    record_earning(state, _address(3), 4, epoch=5)
    record_earning(state, _address(9), 25, epoch=5)
    found = epoch_earners(state)
    assert found == EpochEarners(5, (Earning(_address(3), 4), Earning(_address(9), 25)))
    # A record of an earlier epoch (only the mempool meets one: no rotation) is not added to.
    record_earning(state, _address(1), 2, epoch=6)
    assert epoch_earners(state) == EpochEarners(6, (Earning(_address(1), 2),))


def test_a_full_record_keeps_the_largest_earners() -> None:
    state = _state()
    # Relays 1 … MAX settled 1,000 + their number, except relay 2, tied with relay 1 at 1,001.
    for number in range(1, MAX_EPOCH_EARNERS + 1):
        record_earning(state, _address(number), 1_000 + (1 if number == 2 else number), epoch=0)
    assert len(_settled(state)) == MAX_EPOCH_EARNERS
    newcomer, second, third = (_address(MAX_EPOCH_EARNERS + i) for i in (1, 2, 3))

    # Not more than the smallest: it does not enter (a tie keeps the entry).
    record_earning(state, newcomer, 1_001, epoch=0)
    assert newcomer not in _settled(state)
    # More: it replaces the smallest, the lowest address among equal smallest first.
    record_earning(state, newcomer, 1_002, epoch=0)
    settled = _settled(state)
    assert newcomer in settled and _address(1) not in settled and _address(2) in settled
    record_earning(state, second, 1_002, epoch=0)
    settled = _settled(state)
    assert second in settled and _address(2) not in settled
    assert len(settled) == MAX_EPOCH_EARNERS
    # Now the smallest are the two newcomers at 1,002 (relay 3 settled 1,003).
    record_earning(state, third, 1_002, epoch=0)
    assert third not in _settled(state)
    # An evicted relay comes back with its whole total of the epoch once it is large enough.
    record_earning(state, _address(1), 50_000, epoch=0)
    settled = _settled(state)
    assert settled[_address(1)] == 50_000 and newcomer not in settled and second in settled
    assert list(settled) == sorted(settled, key=lambda a: a.raw)

    pool = 10**12 + 7
    state.set_totals(ChainTotals(minted=pool, bandwidth_pool=pool))
    total = sum(settled.values())
    paid = pay_bandwidth_pool(state)
    assert paid == {relay: pool * amount // total for relay, amount in settled.items()}
    assert state.totals().bandwidth_pool == pool - sum(paid.values())
    assert state.record(EARNERS_KEY, EpochEarners.decode) is None


def test_a_payout_without_earners_leaves_the_pool() -> None:
    state = _state()
    state.set_totals(ChainTotals(minted=100, bandwidth_pool=100))
    assert pay_bandwidth_pool(state) == {}
    assert state.totals().bandwidth_pool == 100


def _encoding(epoch: int, entries: list[tuple[bytes, int]]) -> bytes:
    writer = Writer()
    writer.uvarint(epoch)
    writer.uvarint(len(entries))
    for raw, amount in entries:
        writer.fixed(raw, 20)
        writer.uvarint(amount)
    return writer.getvalue()


def test_the_earners_record_decodes_strictly() -> None:
    a, b = _address(1).raw, _address(2).raw
    record = EpochEarners(3, (Earning(_address(1), 5), Earning(_address(2), 6)))
    assert EpochEarners.decode(_encoding(3, [(a, 5), (b, 6)])) == record
    assert record.encode() == _encoding(3, [(a, 5), (b, 6)])
    for entries, reason in (
        ([], "at least one relay"),
        ([(b, 6), (a, 5)], "ascend strictly"),
        ([(a, 5), (a, 6)], "ascend strictly"),
        ([(a, 0)], "positive amount"),
        ([(_address(i).raw, 1) for i in range(1, MAX_EPOCH_EARNERS + 2)], "exceed the bound"),
    ):
        with pytest.raises(DecodeError, match=reason):
            EpochEarners.decode(_encoding(3, entries))


def test_settles_of_one_relay_add_up_in_its_entry() -> None:
    network = Network.opened()
    chain = network.factory.chain
    network.factory.next_block([network.settle(1, 10)])
    network.factory.next_block([network.settle(1, 32)])
    assert _settled(StateOverlay(chain.store)) == {RELAYS[1].address: 42}
