"""The slot lottery: threshold arithmetic, epoch nonces, stake snapshots, bandwidth credit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.consensus import (
    BandwidthCredit,
    current_stakes,
    epoch_state,
    leader_threshold,
    take_snapshot,
    update_producer_set,
)
from pacata.chain.devnet import devnet_key, devnet_vrf_public_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import Address
from pacata.chain.state import Account, Namespace, StateOverlay, state_key
from pacata.chain.transactions import Bond
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.genesis import multi_producer_genesis

SCALE = 1 << 256
PARAMS = shipped_genesis("devnet").params


def phi(share: float, coeff: float) -> float:
    return 1 - (1 - coeff) ** share


@pytest.mark.parametrize("coeff_bps", [500, 2_000, 5_000, 9_500])
@pytest.mark.parametrize(("weight", "total"), [(1, 1), (1, 2), (3, 7), (1, 1000), (999, 1000)])
def test_threshold_is_phi_of_the_weight_share(coeff_bps: int, weight: int, total: int) -> None:
    exact = phi(weight / total, coeff_bps / 10_000)
    assert leader_threshold(weight, total, coeff_bps) / SCALE == pytest.approx(exact, rel=1e-12)


def test_threshold_edges() -> None:
    assert leader_threshold(0, 10, 5_000) == 0
    assert leader_threshold(5, 0, 5_000) == 0
    assert leader_threshold(1, 10**12, 10_000) == SCALE  # f = 1: every producer wins every slot
    assert leader_threshold(10, 10, 5_000) == pytest.approx(SCALE // 2, rel=1e-15)


@given(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(1, 9_500))
def test_threshold_grows_with_weight_and_aggregates(a: int, b: int, coeff_bps: int) -> None:
    total = 2 * 10**6
    assert leader_threshold(a, total, coeff_bps) <= leader_threshold(a + b, total, coeff_bps)
    # Praos' independent aggregation: splitting a stake neither helps nor hurts.
    lose_a = 1 - leader_threshold(a, total, coeff_bps) / SCALE
    lose_b = 1 - leader_threshold(b, total, coeff_bps) / SCALE
    lose_ab = 1 - leader_threshold(a + b, total, coeff_bps) / SCALE
    assert lose_ab == pytest.approx(lose_a * lose_b, rel=1e-9, abs=1e-12)


def _small_epochs(**changes: Any) -> ChainFactory:
    genesis = multi_producer_genesis(
        [10, 10], epoch_slots=3, active_slot_coeff_bps=10_000, **changes
    )
    return ChainFactory(devnet_chain(genesis=genesis))


def test_new_bond_joins_the_lottery_two_epochs_later() -> None:
    factory = _small_epochs()
    chain = factory.chain
    newcomer = devnet_key(5)
    factory.next_block([factory.sign(newcomer, Bond(PARAMS.min_bond, devnet_vrf_public_key(5)))])
    assert chain.tip.slot == 1  # epoch 0

    def weights() -> dict[Address, int]:
        return {e.address: e.weight for e in current_stakes(StateOverlay(chain.store)).entries}

    assert newcomer.address not in weights()
    while chain.tip.slot < 3:  # into epoch 1: the snapshot taken at the end of epoch -1
        factory.next_block()
    assert epoch_state(StateOverlay(chain.store)).epoch == 1
    assert newcomer.address not in weights()
    while chain.tip.slot < 6:  # epoch 2 uses the weights at the end of epoch 0
        factory.next_block()
    assert weights()[newcomer.address] == PARAMS.min_bond


def test_epoch_nonce_mixes_the_previous_epochs_vrf_outputs() -> None:
    first, second = _small_epochs(), _small_epochs()
    first.next_block(slot_gap=1)
    second.next_block(slot_gap=2)  # another slot, so another VRF output in epoch 0
    nonces = []
    for factory in (first, second):
        state = StateOverlay(factory.chain.store)
        assert epoch_state(state).epoch == 0
        while factory.chain.tip.slot < 3:
            factory.next_block()
        nonces.append(epoch_state(StateOverlay(factory.chain.store)).nonce)
    assert nonces[0] != nonces[1]
    genesis_nonce = epoch_state(StateOverlay(_small_epochs().chain.store)).nonce
    assert genesis_nonce not in nonces


def test_skipped_epochs_rotate_in_one_block() -> None:
    factory = _small_epochs()
    factory.next_block(slot_gap=10)  # from epoch 0 straight into epoch 3
    state = StateOverlay(factory.chain.store)
    assert epoch_state(state).epoch == 3
    assert current_stakes(state).total_weight == 20 * PARAMS.min_bond


def test_bandwidth_credit_is_capped_at_the_bond() -> None:
    chain = devnet_chain()
    state = StateOverlay(chain.store)
    relay = devnet_key(3).address
    bond = PARAMS.min_bond
    state.set_account(relay, Account(balance=0, bond=bond, vrf_public_key=bytes(32)))
    update_producer_set(state, relay, bonded=True)
    credit_key = state_key(Namespace.CREDIT, relay.raw)
    state.set_record(credit_key, BandwidthCredit(epoch=4, earned=bond // 4, earned_before=0))
    weights = {e.address: e.weight for e in take_snapshot(state, 5).entries}
    assert weights[relay] == bond + bond // 4
    state.set_record(credit_key, BandwidthCredit(epoch=4, earned=3 * bond, earned_before=0))
    weights = {e.address: e.weight for e in take_snapshot(state, 5).entries}
    assert weights[relay] == 2 * bond  # capped: self-dealing can at most double a weight
    assert {e.address: e.weight for e in take_snapshot(state, 7).entries}[relay] == bond


def test_credit_window_is_two_epochs() -> None:
    credit = BandwidthCredit(epoch=10, earned=5, earned_before=7)
    assert credit.recent(11) == 12
    assert credit.recent(12) == 5
    assert credit.recent(13) == 0


def test_genesis_with_several_producers() -> None:
    genesis = multi_producer_genesis([1, 2, 3])
    stakes = current_stakes(StateOverlay(devnet_chain(genesis=genesis).store))
    assert [e.weight for e in sorted(stakes.entries, key=lambda e: e.weight)] == [
        genesis.params.min_bond * k for k in (1, 2, 3)
    ]
    assert stakes.total_weight == 6 * genesis.params.min_bond
    assert [e.address for e in stakes.entries] == sorted(
        (devnet_key(i).address for i in range(3)), key=lambda a: a.raw
    )
