"""Genesis documents for tests: the devnet's accounts with several bonded producers."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pacata.chain.devnet import devnet_key, devnet_vrf_public_key
from pacata.chain.genesis import Genesis, parse_genesis


def devnet_document() -> dict[str, Any]:
    """The shipped devnet genesis file as a JSON document, to modify."""
    text = resources.files("pacata").joinpath("genesis", "devnet.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def multi_producer_genesis(
    bond_multiples: list[int], chain_id: str = "pacata-test-1", **params: Any
) -> Genesis:
    """The devnet with devnet accounts 0..n-1 bonded at the given multiples of `min_bond`.

    Their VRF keys are the devnet's (`devnet_vrf_seed(i)`); `params` override consensus
    parameters (e.g. `active_slot_coeff_bps`, `epoch_slots`).
    """
    document = devnet_document()
    document["chain_id"] = chain_id
    document["params"].update(params)
    min_bond = document["params"]["min_bond"]
    for index, account in enumerate(document["accounts"]):
        account.pop("bond", None)
        account.pop("vrf_public_key", None)
        if index < len(bond_multiples) and bond_multiples[index]:
            assert account["address"] == str(devnet_key(index).address)
            account["bond"] = bond_multiples[index] * min_bond
            account["vrf_public_key"] = devnet_vrf_public_key(index).hex()
    return parse_genesis(document, "multi-producer test genesis")
