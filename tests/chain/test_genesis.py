"""Genesis files: the shipped devnet, and clear errors for bad files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.devnet import (
    DEVNET_ACCOUNTS,
    devnet_developer_fund_key,
    devnet_key,
    devnet_vrf_public_key,
)
from pacata.chain.genesis import load_genesis, parse_genesis, shipped_genesis
from pacata.errors import InvalidGenesis
from pacata.testing import devnet_chain
from pacata.testing.genesis import devnet_document

DEVNET_FILE = Path(__file__).parents[2] / "genesis" / "devnet.json"


def test_shipped_devnet_matches_its_well_known_keys() -> None:
    genesis = shipped_genesis("devnet")
    assert genesis.chain_id == "pacata-devnet-1"
    addresses = [entry.address for entry in genesis.accounts]
    assert addresses == [devnet_key(i).address for i in range(DEVNET_ACCOUNTS)]
    producer = genesis.accounts[0].account
    assert producer.bond >= genesis.params.min_bond
    assert producer.vrf_public_key == devnet_vrf_public_key(0)
    assert genesis.params.developer_fund == devnet_developer_fund_key().address
    assert load_genesis(DEVNET_FILE) == genesis


def test_genesis_hash_commits_to_chain_id_and_params() -> None:
    base = devnet_chain().genesis_hash
    for path, value in (("chain_id", "pacata-other-1"), ("params.min_fee", 1_001)):
        document = devnet_document()
        if path == "chain_id":
            document["chain_id"] = value
        else:
            document["params"]["min_fee"] = value
        assert devnet_chain(genesis=parse_genesis(document)).genesis_hash != base


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(devnet_document())
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("chain_id"), "chain_id: Missing data"),
        (lambda d: d.update(chain_id="Bad Id!"), "chain_id:"),
        (lambda d: d.update(surprise=1), "surprise: Unknown field"),
        (lambda d: d["params"].update(min_fee=-1), "params.min_fee:"),
        (lambda d: d["params"].update(min_fee="1000"), "params.min_fee: Not a valid integer"),
        (lambda d: d["params"].update(producer_share_bps=1), "reward shares must add up"),
        (lambda d: d["params"].update(developer_fund="pac1nope"), "params.developer_fund:"),
        (lambda d: d["accounts"][1].update(address="xyz"), "accounts.1.address"),
        (lambda d: d["accounts"][0].pop("vrf_public_key"), "vrf_public_key"),
        (lambda d: d["accounts"][0].update(vrf_public_key="abcd"), "must be 32 bytes"),
        (lambda d: d["accounts"].append(dict(d["accounts"][1])), "listed twice"),
        (lambda d: d["accounts"][0].update(bond=1), "below min_bond"),
        (lambda d: d["accounts"][0].update(bond=0), "no bonded account"),
    ],
)
def test_bad_genesis_names_the_key(change: Any, message: str) -> None:
    with pytest.raises(InvalidGenesis, match=message):
        parse_genesis(_broken(change), "test.json")


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidGenesis, match="cannot read genesis file"):
        load_genesis(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidGenesis, match="not JSON"):
        load_genesis(bad)
    with pytest.raises(InvalidGenesis, match="no shipped genesis"):
        shipped_genesis("nonexistent")
