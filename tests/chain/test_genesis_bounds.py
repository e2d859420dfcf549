"""Genesis files within the bounds of a working chain (docs/genesis.md §Bounds): every parameter
in its range, every amount and the supply within the codec's, and files of any size, encoding
and depth refused with one clear `InvalidGenesis`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.codec import MAX_U64
from pacata.chain.genesis import load_genesis, parse_genesis, shipped_genesis
from pacata.chain.params import GENESIS_BOUNDS, MAX_EPOCH_MS, SUPPLY_HORIZON_MS
from pacata.documents import MAX_DOCUMENT_BYTES
from pacata.errors import InvalidGenesis
from pacata.testing.genesis import devnet_document

# Values within their own bounds that other rules refuse: the reward shares add up to 10,000
# bps (a share at its bound is checked below), a century of the largest reward overflows the
# supply, and a bond of the largest amount (at least min_bond) would too.
_REFUSED_BY_OTHER_RULES = {
    ("producer_share_bps", 0),
    ("producer_share_bps", 10_000),
    ("bandwidth_pool_share_bps", 0),
    ("bandwidth_pool_share_bps", 10_000),
    ("developer_share_bps", 0),
    ("developer_share_bps", 10_000),
    ("block_reward", MAX_U64),
    ("min_bond", MAX_U64),
}


def with_params(**params: Any) -> dict[str, Any]:
    document = devnet_document()
    document["params"].update(params)
    return document


def out_of_range(name: str) -> list[int]:
    low, high = GENESIS_BOUNDS[name]
    return [low - 1, high + 1]


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, value) for name in GENESIS_BOUNDS for value in out_of_range(name)],
)
def test_every_parameter_out_of_its_bounds_is_refused_by_name(name: str, value: int) -> None:
    with pytest.raises(InvalidGenesis, match=f"params.{name}: Must be greater than or equal"):
        parse_genesis(with_params(**{name: value}), "g.json")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (name, value)
        for name, bounds in GENESIS_BOUNDS.items()
        for value in bounds
        if (name, value) not in _REFUSED_BY_OTHER_RULES
    ],
)
def test_every_parameter_at_its_bounds_is_accepted(name: str, value: int) -> None:
    params = {name: value}
    # The epoch's length and a century of rewards are bounded too (below): short epochs for
    # long slots, a small reward for short ones.
    if name == "slot_ms":
        params.update(epoch_slots=1, block_reward=10**8)
    elif name == "epoch_slots":
        params.update(slot_ms=GENESIS_BOUNDS["slot_ms"][0], block_reward=10**8)
    genesis = parse_genesis(with_params(**params), "g.json")
    assert getattr(genesis.params, name) == value


def test_a_share_can_take_all_of_the_reward() -> None:
    genesis = parse_genesis(
        with_params(producer_share_bps=10_000, bandwidth_pool_share_bps=0, developer_share_bps=0)
    )
    assert genesis.params.reward_split() == (genesis.params.block_reward, 0, 0)


def test_the_issue_slot_of_a_billion_seconds_is_refused() -> None:
    # Accepted before: a node that never produces, and says nothing.
    with pytest.raises(InvalidGenesis, match=r"params\.slot_ms:"):
        parse_genesis(with_params(slot_ms=10**15), "g.json")


def test_an_epoch_longer_than_30_days_is_refused() -> None:
    slot_ms = GENESIS_BOUNDS["slot_ms"][1]
    slots = MAX_EPOCH_MS // slot_ms
    genesis = parse_genesis(with_params(slot_ms=slot_ms, epoch_slots=slots))
    assert genesis.params.epoch_slots == slots
    with pytest.raises(
        InvalidGenesis, match=r"params\.epoch_slots: an epoch of .* lasts more than 30"
    ):
        parse_genesis(with_params(slot_ms=slot_ms, epoch_slots=slots + 1), "g.json")


@pytest.mark.parametrize("field", ["balance", "bond"])
def test_an_amount_beyond_the_codec_is_refused(field: str) -> None:
    document = devnet_document()
    document["accounts"][0][field] = MAX_U64 + 1
    with pytest.raises(InvalidGenesis, match=f"accounts.0.{field}: Must be"):
        parse_genesis(document, "g.json")


def test_a_supply_beyond_the_codec_is_refused() -> None:
    # Each balance fits a uvarint; their sum, the chain's minted total, does not.
    document = with_params(block_reward=0)
    for account in document["accounts"][1:3]:
        account["balance"] = MAX_U64 // 2 + 1
    with pytest.raises(InvalidGenesis, match=r"genesis supply .* exceeds the largest amount"):
        parse_genesis(document, "g.json")


def test_a_century_of_rewards_must_fit_the_codec() -> None:
    document = devnet_document()
    supply = sum(a["balance"] + a.get("bond", 0) for a in document["accounts"])
    slots = SUPPLY_HORIZON_MS // document["params"]["slot_ms"]
    highest = (MAX_U64 - supply) // slots
    assert parse_genesis(with_params(block_reward=highest)).params.block_reward == highest
    with pytest.raises(InvalidGenesis, match=r"a century of params\.block_reward"):
        parse_genesis(with_params(block_reward=highest + 1), "g.json")


def test_a_genesis_time_after_the_year_9999_is_refused() -> None:
    document = devnet_document()
    document["timestamp_ms"] = 253_402_300_800_000
    with pytest.raises(InvalidGenesis, match="timestamp_ms: Must be"):
        parse_genesis(document, "g.json")


def test_too_many_bootnodes_are_refused() -> None:
    document = devnet_document()
    document["bootnodes"] = [f"10.0.0.{i}:9741" for i in range(65)]
    with pytest.raises(InvalidGenesis, match="bootnodes: Longer than maximum length 64"):
        parse_genesis(document, "g.json")


def test_the_shipped_genesis_files_are_within_bounds() -> None:
    for path in (Path(__file__).parents[2] / "genesis").glob("*.json"):
        assert load_genesis(path) == shipped_genesis(path.stem)


# -- the file --------------------------------------------------------------------------------


def test_a_genesis_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_bytes(json.dumps(devnet_document()).encode("utf-8").replace(b"devnet", b"d\xffvnet"))
    with pytest.raises(InvalidGenesis, match=r"genesis file .*genesis.json: not UTF-8 text"):
        load_genesis(path)


def test_a_genesis_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    document = devnet_document()
    document["description"] = "x" * MAX_DOCUMENT_BYTES
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InvalidGenesis, match=f"larger than {MAX_DOCUMENT_BYTES} bytes"):
        load_genesis(path)
    # A file without end: only the limit is read.
    with pytest.raises(InvalidGenesis, match="larger than"):
        load_genesis(Path("/dev/zero"))


def test_a_deeply_nested_genesis_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InvalidGenesis, match=r"genesis\.json: not JSON: nested too deeply"):
        load_genesis(path)


def test_a_directory_as_genesis_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidGenesis, match="cannot read genesis file"):
        load_genesis(tmp_path)
