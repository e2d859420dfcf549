"""Proof-of-bandwidth slot lottery, in the Ouroboros Praos family (docs/consensus.md).

Rules:
- Time is cut into slots of `slot_ms` from the genesis time, and epochs of `epoch_slots` slots.
  A header's timestamp lies inside its slot; its slot is after its parent's.
- A producer's weight is its bond plus its bandwidth credit (what it earned in settled receipts
  in the last two epochs), the credit capped at the bond. The weights of epoch e are those at
  the end of epoch e - 2: each epoch rotation moves the upcoming snapshot to current and takes a
  new upcoming one, so no one can change the lottery of an epoch once its nonce is being made.
- The epoch nonce of e is the tagged hash of the nonce of the last epoch with blocks, the hash
  chain of that epoch's VRF outputs, and e; the first comes from the genesis parameters.
- The producer of slot s proves, with ECVRF-EDWARDS25519-SHA512-TAI, the VRF of
  (epoch nonce ‖ s) under the VRF key of its snapshot entry; it may produce when the leader value
  of that output is below `phi(weight share) = 1 - (1 - f)^share`, f the active slot
  coefficient. The arithmetic is exact integer fixed point, so every node decides alike.
- Two headers signed by one producer for one slot are evidence: the bond and the unbondings of
  that producer are slashed (the EVIDENCE rule in `transitions`).
- The first block of each epoch pays the bandwidth pool to the relays that settled receipts in
  the epoch before it, ahead of its own transactions (`bandwidth_pool`).
All of this state lives in the ledger state (committed by the state root, undone by reorgs).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Self

from pacata.chain.bandwidth_pool import pay_bandwidth_pool
from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, ZERO_HASH, tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.params import BASIS_POINTS, ChainParams
from pacata.chain.state import Namespace, StateOverlay, state_key
from pacata.chain.vrf import VrfKey, verify
from pacata.errors import ConsensusError

MAX_PRODUCERS = 1_024
_PRECISION_BITS = 320
_ONE = 1 << _PRECISION_BITS
_LEADER_VALUE_BITS = 256
_VRF_INPUT_TAG = b"pacata/vrf-input/v1"
_LEADER_VALUE_TAG = b"pacata/leader-value/v1"
_EPOCH_NONCE_TAG = b"pacata/epoch-nonce/v1"
_VRF_CHAIN_TAG = b"pacata/epoch-vrf-chain/v1"
_GENESIS_NONCE_TAG = b"pacata/epoch-nonce/genesis/v1"
_U64 = struct.Struct(">Q")

EPOCH_KEY = state_key(Namespace.CONSENSUS, b"epoch")
CURRENT_STAKES_KEY = state_key(Namespace.CONSENSUS, b"stakes-current")
UPCOMING_STAKES_KEY = state_key(Namespace.CONSENSUS, b"stakes-upcoming")
PRODUCER_SET_KEY = state_key(Namespace.CONSENSUS, b"producers")


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpochState(WireObject):
    """The epoch of the last block, its nonce, and the hash chain of its VRF outputs so far."""

    epoch: int
    nonce: bytes
    vrf_chain: bytes = ZERO_HASH

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.epoch)
        writer.fixed(self.nonce, HASH_SIZE)
        writer.fixed(self.vrf_chain, HASH_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.fixed(HASH_SIZE), reader.fixed(HASH_SIZE))


@dataclass(frozen=True, slots=True)
class StakeEntry(WireObject):
    address: Address
    weight: int
    vrf_public_key: bytes

    def write_to(self, writer: Writer) -> None:
        self.address.write_to(writer)
        writer.uvarint(self.weight)
        writer.fixed(self.vrf_public_key, 32)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(Address.read_from(reader), reader.uvarint(), reader.fixed(32))


@dataclass(frozen=True, slots=True)
class StakeSnapshot(WireObject):
    """The producers' weights the lottery of an epoch uses, sorted by address."""

    entries: tuple[StakeEntry, ...]

    def write_to(self, writer: Writer) -> None:
        writer.sequence(self.entries, MAX_PRODUCERS, lambda e: e.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.sequence(MAX_PRODUCERS, lambda: StakeEntry.read_from(reader)))

    @property
    def total_weight(self) -> int:
        return sum(e.weight for e in self.entries)

    def entry(self, address: Address) -> StakeEntry | None:
        return next((e for e in self.entries if e.address == address), None)


@dataclass(frozen=True, slots=True)
class ProducerSet(WireObject):
    """Every address with a bond, sorted: the candidates of the next stake snapshot."""

    addresses: tuple[Address, ...]

    def write_to(self, writer: Writer) -> None:
        writer.sequence(self.addresses, MAX_PRODUCERS, lambda a: a.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.sequence(MAX_PRODUCERS, lambda: Address.read_from(reader)))


@dataclass(frozen=True, slots=True)
class BandwidthCredit(WireObject):
    """What a relay earned in settled receipts in `epoch` and in the epoch before it."""

    epoch: int
    earned: int
    earned_before: int

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.epoch)
        writer.uvarint(self.earned)
        writer.uvarint(self.earned_before)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.uvarint(), reader.uvarint())

    def recent(self, epoch: int) -> int:
        """Earnings of the two epochs before `epoch`."""
        if self.epoch == epoch - 1:
            return self.earned + self.earned_before
        if self.epoch == epoch - 2:
            return self.earned
        return 0


@dataclass(frozen=True, slots=True)
class SlashRecord(WireObject):
    """An equivocation already punished: the height it was punished at and the stake slashed."""

    height: int
    slashed: int

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.height)
        writer.uvarint(self.slashed)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.uvarint())


def _credit_key(address: Address) -> bytes:
    return state_key(Namespace.CREDIT, address.raw)


def _read(state: StateOverlay, key: bytes, kind: type[WireObject]) -> WireObject | None:
    return state.record(key, kind.decode)


# -- time -----------------------------------------------------------------------------------


def epoch_of(slot: int, params: ChainParams) -> int:
    return slot // params.epoch_slots


def slot_start_ms(genesis_time_ms: int, params: ChainParams, slot: int) -> int:
    return genesis_time_ms + slot * params.slot_ms


def check_header_time(
    header: BlockHeader, genesis_time_ms: int, params: ChainParams, now_ms: int | None
) -> None:
    start = slot_start_ms(genesis_time_ms, params, header.slot)
    if not start <= header.timestamp_ms < start + params.slot_ms:
        raise ConsensusError(f"timestamp {header.timestamp_ms} is outside slot {header.slot}")
    if now_ms is not None and start > now_ms + params.clock_allowance_ms:
        raise BlockFromFuture(
            f"slot {header.slot} starts {start - now_ms} ms in the future "
            f"(allowance {params.clock_allowance_ms} ms)"
        )


class BlockFromFuture(ConsensusError):
    """A header of a slot that has not begun yet (by more than the clock allowance)."""


# -- the leader threshold -------------------------------------------------------------------


@lru_cache(maxsize=64)
def _neg_log_one_minus(coeff_bps: int) -> int:
    """-ln(1 - f) in fixed point, f = coeff_bps / 10,000 (0 < f < 1), as Σ f^k / k."""
    total = 0
    power = _ONE
    k = 1
    while True:
        power = power * coeff_bps // BASIS_POINTS
        term = power // k
        if term == 0:
            return total
        total += term
        k += 1


def _exp_neg(x: int) -> int:
    """exp(-x) in fixed point, for 0 ≤ x (fixed point), by its Taylor series."""
    total = 0
    term = _ONE
    k = 0
    while term:
        total += term if k % 2 == 0 else -term
        k += 1
        term = term * x // (_ONE * k)
    return max(0, min(_ONE, total))


def leader_threshold(weight: int, total_weight: int, coeff_bps: int) -> int:
    """phi(weight / total) scaled to 2**256: a leader value below it wins the slot."""
    if weight <= 0 or total_weight <= 0:
        return 0
    if coeff_bps >= BASIS_POINTS:
        return 1 << _LEADER_VALUE_BITS
    exponent = _neg_log_one_minus(coeff_bps) * weight // total_weight
    phi = _ONE - _exp_neg(exponent)
    return phi >> (_PRECISION_BITS - _LEADER_VALUE_BITS)


def vrf_input(nonce: bytes, slot: int) -> bytes:
    return tagged_hash(_VRF_INPUT_TAG, nonce + _U64.pack(slot))


def leader_value(vrf_output: bytes) -> int:
    return int.from_bytes(tagged_hash(_LEADER_VALUE_TAG, vrf_output), "big")


# -- state changes --------------------------------------------------------------------------


def genesis_records(params_digest: bytes, stakes: StakeSnapshot) -> dict[bytes, bytes]:
    """The consensus records of the opening state."""
    nonce = tagged_hash(_GENESIS_NONCE_TAG, params_digest)
    producers = ProducerSet(tuple(e.address for e in stakes.entries))
    return {
        EPOCH_KEY: EpochState(0, nonce).encode(),
        CURRENT_STAKES_KEY: stakes.encode(),
        UPCOMING_STAKES_KEY: stakes.encode(),
        PRODUCER_SET_KEY: producers.encode(),
    }


def producer_set(state: StateOverlay) -> ProducerSet:
    found = _read(state, PRODUCER_SET_KEY, ProducerSet)
    assert found is None or isinstance(found, ProducerSet)
    return found or ProducerSet(())


def update_producer_set(state: StateOverlay, address: Address, bonded: bool) -> None:
    """Adds or removes `address`; raises ConsensusError when the set is full."""
    current = set(producer_set(state).addresses)
    if bonded == (address in current):
        return
    if bonded:
        if len(current) >= MAX_PRODUCERS:
            raise ConsensusError(f"the producer set is full ({MAX_PRODUCERS})")
        current.add(address)
    else:
        current.discard(address)
    state.set_record(PRODUCER_SET_KEY, ProducerSet(tuple(sorted(current, key=lambda a: a.raw))))


def add_bandwidth_credit(
    state: StateOverlay, relay: Address, amount: int, epoch: int
) -> BandwidthCredit:
    """Adds `amount` to what `relay` earned in `epoch`; returns the relay's new credit, whose
    `earned` is its settled total of `epoch`."""
    found = _read(state, _credit_key(relay), BandwidthCredit)
    assert found is None or isinstance(found, BandwidthCredit)
    if found is None or found.epoch < epoch - 1:
        credit = BandwidthCredit(epoch, amount, 0)
    elif found.epoch == epoch - 1:
        credit = BandwidthCredit(epoch, amount, found.earned)
    else:
        credit = replace(found, earned=found.earned + amount)
    state.set_record(_credit_key(relay), credit)
    return credit


def take_snapshot(state: StateOverlay, epoch: int) -> StakeSnapshot:
    """Weights of every bonded producer now: bond + bandwidth credit capped at the bond."""
    entries = []
    for address in producer_set(state).addresses:
        account = state.account(address)
        if not account.bond:
            continue
        found = _read(state, _credit_key(address), BandwidthCredit)
        assert found is None or isinstance(found, BandwidthCredit)
        credit = 0 if found is None else found.recent(epoch)
        weight = account.bond + min(credit, account.bond)
        entries.append(StakeEntry(address, weight, account.vrf_public_key))
    return StakeSnapshot(tuple(entries))


def epoch_state(state: StateOverlay) -> EpochState:
    found = _read(state, EPOCH_KEY, EpochState)
    if not isinstance(found, EpochState):
        raise ConsensusError("the state holds no epoch record")
    return found


def current_stakes(state: StateOverlay) -> StakeSnapshot:
    found = _read(state, CURRENT_STAKES_KEY, StakeSnapshot)
    assert isinstance(found, StakeSnapshot)
    return found


def enter_slot(state: StateOverlay, slot: int, params: ChainParams) -> EpochState:
    """Rotates the epoch records when `slot` is in a later epoch; returns the slot's epoch state."""
    epoch = epoch_of(slot, params)
    record = epoch_state(state)
    if epoch < record.epoch:
        raise ConsensusError(f"slot {slot} is in epoch {epoch}, before epoch {record.epoch}")
    if epoch == record.epoch:
        return record
    # One step however many epochs passed without a block: the new epoch's number is mixed in,
    # so the nonce still differs per epoch, and a chain started long after its genesis time does
    # not hash its way through every empty epoch.
    nonce = tagged_hash(_EPOCH_NONCE_TAG, record.nonce + record.vrf_chain + _U64.pack(epoch))
    fresh = take_snapshot(state, epoch)
    if epoch == record.epoch + 1:
        upcoming = _read(state, UPCOMING_STAKES_KEY, StakeSnapshot)
        assert isinstance(upcoming, StakeSnapshot)
        state.set_record(CURRENT_STAKES_KEY, upcoming)
    else:
        # No block since before the last epoch: the state has not changed, so the weights at the
        # end of epoch - 2 are the weights now.
        state.set_record(CURRENT_STAKES_KEY, fresh)
    state.set_record(UPCOMING_STAKES_KEY, fresh)
    rotated = EpochState(epoch, nonce)
    state.set_record(EPOCH_KEY, rotated)
    return rotated


@dataclass(frozen=True, slots=True)
class LeaderProof:
    vrf_output: bytes
    vrf_proof: bytes


def prove_leadership(
    state: StateOverlay, vrf_key: VrfKey, address: Address, slot: int, params: ChainParams
) -> LeaderProof | None:
    """This producer's proof for `slot`, or None if it does not win the slot.

    `state` must be the parent's state; it is rotated to the slot's epoch as a block would.
    """
    record = enter_slot(state, slot, params)
    stakes = current_stakes(state)
    entry = stakes.entry(address)
    if entry is None or entry.vrf_public_key != vrf_key.public_key:
        return None
    proof = vrf_key.prove(vrf_input(record.nonce, slot))
    output = verify(vrf_key.public_key, vrf_input(record.nonce, slot), proof)
    assert output is not None
    threshold = leader_threshold(entry.weight, stakes.total_weight, params.active_slot_coeff_bps)
    if leader_value(output) >= threshold:
        return None
    return LeaderProof(output, proof)


def begin_block(state: StateOverlay, header: BlockHeader, params: ChainParams) -> None:
    """Rotates the epoch, checks the producer won the header's slot, records its VRF output.

    The first block of an epoch also pays the bandwidth pool to the relays that settled in the
    epoch of the block before it (`bandwidth_pool.pay_bandwidth_pool`), before any of its own
    transactions.
    """
    previous_epoch = epoch_state(state).epoch
    record = enter_slot(state, header.slot, params)
    stakes = current_stakes(state)
    producer = Address.from_public_key(header.producer)
    entry = stakes.entry(producer)
    if entry is None:
        raise ConsensusError(f"{producer} has no weight in epoch {record.epoch}")
    output = verify(entry.vrf_public_key, vrf_input(record.nonce, header.slot), header.vrf_proof)
    if output is None:
        raise ConsensusError("the VRF proof does not verify")
    if output != header.vrf_output:
        raise ConsensusError("vrf_output is not the output of the VRF proof")
    threshold = leader_threshold(entry.weight, stakes.total_weight, params.active_slot_coeff_bps)
    if leader_value(output) >= threshold:
        raise ConsensusError(f"{producer} did not win slot {header.slot}")
    if record.epoch != previous_epoch:
        pay_bandwidth_pool(state)
    state.set_record(
        EPOCH_KEY, replace(record, vrf_chain=tagged_hash(_VRF_CHAIN_TAG, record.vrf_chain + output))
    )
