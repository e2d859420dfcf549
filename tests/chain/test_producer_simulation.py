"""Eight producers of unequal weight over 2,000 slots, with the real consensus code.

Honest nodes must end on one chain up to the finality depth, each producer's share of the blocks
made must match its weight share within statistical tolerance, and an equivocating producer must
be slashed.
"""

from __future__ import annotations

import math

import pytest

from pacata.chain.devnet import devnet_key, devnet_vrf_seed
from pacata.chain.production import ProducerKeys
from pacata.chain.vrf import VrfKey
from pacata.testing.genesis import multi_producer_genesis
from pacata.testing.simulations.producer import ProducerSimulation

BONDS = [1, 1, 2, 2, 3, 4, 5, 6]
EQUIVOCATOR = 2
SLOTS = 2_000


@pytest.fixture(scope="module")
def simulation() -> ProducerSimulation:
    genesis = multi_producer_genesis(
        BONDS, active_slot_coeff_bps=2_000, epoch_slots=100, finality_depth=20
    )
    producers = [ProducerKeys(devnet_key(i), VrfKey(devnet_vrf_seed(i))) for i in range(len(BONDS))]
    sim = ProducerSimulation(genesis, producers, max_delay_slots=1, equivocator=EQUIVOCATOR, seed=7)
    sim.run(SLOTS)
    return sim


@pytest.mark.slow
def test_honest_nodes_agree_up_to_the_finality_depth(simulation: ProducerSimulation) -> None:
    nodes = simulation.honest_nodes()
    depth = nodes[0].chain.params.finality_depth
    lowest_tip = min(n.chain.height for n in nodes)
    assert lowest_tip > SLOTS * 0.15  # f = 0.2: about one block in five slots
    assert simulation.common_height() >= lowest_tip - depth


@pytest.mark.slow
def test_block_shares_follow_weight_shares(simulation: ProducerSimulation) -> None:
    report = simulation.report(SLOTS)
    total = report.total_made
    honest_weight = sum(BONDS)
    for index, bond in enumerate(BONDS):
        if index == EQUIVOCATOR:
            continue  # slashed half way: its share is smaller by design
        share = bond / honest_weight
        made = report.blocks_made.get(devnet_key(index).address, 0)
        # Binomial spread (4 sigma) plus the small concavity of phi at f = 0.2.
        tolerance = 4 * math.sqrt(share * (1 - share) / total) + 0.15 * share
        assert abs(made / total - share) <= tolerance, (index, made, total)
    assert report.fork_rate < 0.25


@pytest.mark.slow
def test_the_equivocator_is_slashed(simulation: ProducerSimulation) -> None:
    report = simulation.report(SLOTS)
    assert report.evidence_included >= 1
    offender = devnet_key(EQUIVOCATOR).address
    for node in simulation.honest_nodes():
        account = node.chain.account(offender)
        assert account.bond == 0
        assert account.vrf_public_key == b""
