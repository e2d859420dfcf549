"""Figures of the slot lottery: eight producers of unequal weight, one of them equivocating.

Runs `pacata.testing.simulations.producer` (real chains, real VRF, a network with delays of up to
`--delay` slots) and prints, per producer, its weight share next to its share of the blocks made,
then the fork rate (blocks made that did not end on the common chain), the common height and
whether the equivocator was slashed. `--json FILE` writes the figures as a flat JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pacata.chain.devnet import devnet_key, devnet_vrf_seed
from pacata.chain.production import ProducerKeys
from pacata.chain.vrf import VrfKey
from pacata.testing.genesis import multi_producer_genesis
from pacata.testing.simulations.producer import ProducerSimulation

BONDS = [1, 1, 2, 2, 3, 4, 5, 6]
EQUIVOCATOR = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 slots instead of 2,000")
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--delay", type=int, default=1, help="largest network delay in slots")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    slots = args.slots or (500 if args.quick else 2_000)

    genesis = multi_producer_genesis(
        BONDS, active_slot_coeff_bps=2_000, epoch_slots=100, finality_depth=20
    )
    producers = [ProducerKeys(devnet_key(i), VrfKey(devnet_vrf_seed(i))) for i in range(8)]
    simulation = ProducerSimulation(
        genesis, producers, max_delay_slots=args.delay, equivocator=EQUIVOCATOR, seed=args.seed
    )
    started = time.perf_counter()
    report = simulation.run(slots)
    elapsed = time.perf_counter() - started

    figures: dict[str, float | int] = {
        "slots": slots,
        "max_delay_slots": args.delay,
        "blocks_made": report.total_made,
        "fork_rate": report.fork_rate,
        "common_height": simulation.common_height(),
        "lowest_tip": min(n.chain.height for n in simulation.honest_nodes()),
        "evidence_included": report.evidence_included,
        "equivocator_slashed": int(
            all(
                n.chain.account(devnet_key(EQUIVOCATOR).address).bond == 0
                for n in simulation.honest_nodes()
            )
        ),
        "seconds": elapsed,
    }
    total_weight = sum(BONDS)
    print(f"{'producer':>8} {'weight share':>13} {'blocks':>7} {'block share':>12}")
    for index, bond in enumerate(BONDS):
        made = report.blocks_made.get(devnet_key(index).address, 0)
        share = made / report.total_made
        mark = "  (equivocates)" if index == EQUIVOCATOR else ""
        print(f"{index:>8} {bond / total_weight:>13.3f} {made:>7} {share:>12.3f}{mark}")
        figures[f"producer_{index}_weight_share"] = bond / total_weight
        figures[f"producer_{index}_block_share"] = share
    print()
    for key in ("slots", "blocks_made", "fork_rate", "common_height", "lowest_tip"):
        print(f"{key:>20}: {figures[key]}")
    print(f"{'evidence_included':>20}: {figures['evidence_included']}")
    print(f"{'equivocator_slashed':>20}: {bool(figures['equivocator_slashed'])}")
    print(f"{'seconds':>20}: {elapsed:.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
