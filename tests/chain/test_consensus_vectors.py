"""The ledger's consensus vectors (tests/vectors/consensus/, docs/wire-format.md §Consensus
vectors): tags, the devnet genesis, one transaction of every kind, a receipt, fifteen blocks and
the state after them (with a payout of the bandwidth pool), the commitments (Merkle root, state
tree) and the slot lottery.

Every value is recomputed here from the inputs stored beside it (keys are SHA-256 of their
label) and compared with the literal; every stored encoding is decoded, compared field by field
with what the inputs build, and encoded again. The expected values are only ever read from the
JSON files: a failure here means the code no longer computes what the network agreed on, which
is a fork. Change a vector only on purpose, with the generator's `--force` (see the docs).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pacata
from pacata.chain import schema
from pacata.chain.bandwidth_pool import EpochEarners, epoch_earners
from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.codec import WireObject
from pacata.chain.consensus import (
    CURRENT_STAKES_KEY,
    EPOCH_KEY,
    PRODUCER_SET_KEY,
    UPCOMING_STAKES_KEY,
    BandwidthCredit,
    EpochState,
    ProducerSet,
    SlashRecord,
    StakeSnapshot,
    begin_block,
    leader_threshold,
    leader_value,
    vrf_input,
)
from pacata.chain.genesis import shipped_genesis
from pacata.chain.hashing import tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import MemoryStore
from pacata.chain.merkle import merkle_root
from pacata.chain.receipts import Receipt
from pacata.chain.state import (
    Account,
    ChainTotals,
    Channel,
    Namespace,
    RelayRecord,
    StateOverlay,
    tree_changes,
)
from pacata.chain.state_tree import EMPTY_ROOT, StateProof, StateTree, verify_proof
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    Payload,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    TxKind,
    Unbond,
)
from pacata.chain.transitions import channel_id_of
from pacata.chain.verifier import InlineVerifier
from pacata.chain.vrf import VrfKey

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors" / "consensus"


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS_DIR / f"{name}.json").read_text("utf-8"))
    return document


TAGS = _load("tags")
GENESIS = _load("genesis")
TRANSACTIONS = _load("transactions")["transactions"]
RECEIPTS = _load("receipts")
BLOCKS = _load("blocks")
COMMITMENTS = _load("commitments")
LOTTERY = _load("lottery")


def key_of(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest())


def hx(value: str) -> bytes:
    return bytes.fromhex(value)


def fresh_devnet_chain() -> Chain:
    return Chain(MemoryStore(), shipped_genesis("devnet"), InlineVerifier())


# -- building the objects from the stored inputs ---------------------------------------------


def header_from(fields: dict[str, Any]) -> BlockHeader:
    header = BlockHeader(
        height=fields["height"],
        prev_hash=hx(fields["prev_hash"]),
        slot=fields["slot"],
        timestamp_ms=fields["timestamp_ms"],
        producer=hx(fields["producer"]),
        tx_root=hx(fields["tx_root"]),
        state_root=hx(fields["state_root"]),
        vrf_output=hx(fields["vrf_output"]),
        vrf_proof=hx(fields["vrf_proof"]),
    )
    assert header.signing_digest().hex() == fields["signing_digest"]
    signed = header.signed(key_of(fields["signer"]))
    assert signed.encode().hex() == fields["encoding"]
    assert signed.hash.hex() == fields["hash"]
    return signed


def receipt_from(fields: dict[str, Any]) -> Receipt:
    receipt = Receipt(
        fields["chain_id"],
        hx(fields["channel_id"]),
        fields["cumulative_bytes"],
        fields["cumulative_amount"],
    )
    assert receipt.signing_digest().hex() == fields["signing_digest"]
    signed = receipt.signed(key_of(fields["signer"]))
    assert signed.encode().hex() == fields["encoding"]
    return signed


def offer_from(fields: dict[str, Any]) -> RelayOffer:
    return RelayOffer(
        hx(fields["wireguard_key"]),
        tuple(fields["endpoints"]),
        tuple(fields["prices_per_gib"]),
        tuple(fields["rate_limits"]),
    )


PAYLOADS: dict[str, Callable[[dict[str, Any]], Payload]] = {
    "TRANSFER": lambda f: Transfer(Address.from_string(f["recipient"]), f["amount"]),
    "BOND": lambda f: Bond(f["amount"], hx(f["vrf_public_key"])),
    "UNBOND": lambda f: Unbond(f["amount"]),
    "RELAY_REGISTER": lambda f: RelayRegister(offer_from(f["offer"])),
    "RELAY_UPDATE": lambda f: RelayUpdate(offer_from(f["offer"])),
    "RELAY_RETIRE": lambda f: RelayRetire(),
    "CHANNEL_OPEN": lambda f: ChannelOpen(
        Address.from_string(f["relay"]),
        f["deposit"],
        f["tier"],
        hx(f["client_tunnel_key"]),
        f["expiry_height"],
    ),
    "CHANNEL_TOPUP": lambda f: ChannelTopup(hx(f["channel_id"]), f["amount"]),
    "CHANNEL_SETTLE": lambda f: ChannelSettle(receipt_from(f["receipt"])),
    "CHANNEL_CLOSE": lambda f: ChannelClose(hx(f["channel_id"])),
    "EVIDENCE": lambda f: Evidence(header_from(f["first"]), header_from(f["second"])),
}


def state_record_type(key: bytes) -> type[WireObject]:
    """The record type stored under a state key (docs/wire-format.md §State records)."""
    consensus = {
        EPOCH_KEY: EpochState,
        CURRENT_STAKES_KEY: StakeSnapshot,
        UPCOMING_STAKES_KEY: StakeSnapshot,
        PRODUCER_SET_KEY: ProducerSet,
    }
    by_namespace: dict[Namespace, type[WireObject]] = {
        Namespace.ACCOUNT: Account,
        Namespace.RELAY: RelayRecord,
        Namespace.CHANNEL: Channel,
        Namespace.TOTALS: ChainTotals,
        Namespace.CREDIT: BandwidthCredit,
        Namespace.SLASH: SlashRecord,
        Namespace.EARNERS: EpochEarners,
    }
    if key[0] == Namespace.CONSENSUS:
        return consensus[key]
    return by_namespace[Namespace(key[0])]


# -- tags -------------------------------------------------------------------------------------

TAG_INPUT = TAGS["input"].encode()


@pytest.mark.parametrize("entry", TAGS["tags"], ids=lambda e: e["tag"])
def test_tag_output(entry: dict[str, Any]) -> None:
    """The constant in the code is the pinned tag, and hashes the fixed input as pinned."""
    constant = getattr(importlib.import_module(entry["module"]), entry["constant"])
    assert constant == entry["tag"].encode(), f"{entry['module']}.{entry['constant']} changed"
    assert tagged_hash(constant, TAG_INPUT).hex() == entry["output"]
    # The definition itself, independently of `tagged_hash`.
    tag = entry["tag"].encode()
    assert hashlib.sha256(bytes((len(tag),)) + tag + TAG_INPUT).hexdigest() == entry["output"]


def test_every_tag_of_the_tree_is_pinned() -> None:
    """A tag added to pacata/ (outside pacata/testing) needs its vector."""
    root = Path(pacata.__file__).resolve().parent
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if "testing" in path.relative_to(root).parts:
            continue
        found.update(re.findall(r'b"(pacata/[^"]*)"', path.read_text("utf-8")))
    assert found == {entry["tag"] for entry in TAGS["tags"]}


# -- genesis ----------------------------------------------------------------------------------


def test_devnet_genesis_hash() -> None:
    chain = fresh_devnet_chain()
    assert chain.genesis.chain_id == GENESIS["chain_id"]
    assert chain.genesis.timestamp_ms == GENESIS["timestamp_ms"]
    assert chain.genesis.params_digest().hex() == GENESIS["params_digest"]
    initial = {k.hex(): v.hex() for k, v in chain.genesis.initial_state().items()}
    assert initial == GENESIS["initial_state"]
    genesis_block = chain.block_at(0)
    assert genesis_block.header.state_root.hex() == GENESIS["state_root"]
    assert genesis_block.header.encode().hex() == GENESIS["header"]
    assert genesis_block.encode().hex() == GENESIS["block"]
    assert chain.genesis_hash.hex() == GENESIS["genesis_hash"]


def test_devnet_genesis_state_root_from_the_pinned_entries() -> None:
    entries = {hx(k): hx(v) for k, v in GENESIS["initial_state"].items()}
    for key, value in entries.items():
        assert state_record_type(key).decode(value).encode() == value
    root, _ = StateTree({}.get).update(EMPTY_ROOT, tree_changes(entries.items()))
    assert root.hex() == GENESIS["state_root"]


def test_devnet_genesis_header_round_trip() -> None:
    header = BlockHeader.decode(hx(GENESIS["header"]))
    assert header.encode().hex() == GENESIS["header"]
    assert header.hash.hex() == GENESIS["genesis_hash"]
    assert header.state_root.hex() == GENESIS["state_root"]
    assert header.tx_root.hex() == GENESIS["params_digest"]
    assert Block.decode(hx(GENESIS["block"])).hash.hex() == GENESIS["genesis_hash"]


# -- transactions -----------------------------------------------------------------------------


def test_one_transaction_of_every_kind() -> None:
    assert sorted(entry["kind"] for entry in TRANSACTIONS) == sorted(k.name for k in TxKind)


@pytest.mark.parametrize("entry", TRANSACTIONS, ids=lambda e: e["kind"])
def test_transaction_vector(entry: dict[str, Any]) -> None:
    signer = key_of(entry["signer"])
    assert signer.public_key.hex() == entry["sender"]
    payload = PAYLOADS[entry["kind"]](entry["payload"])
    unsigned = Transaction(
        entry["chain_id"], signer.public_key, entry["nonce"], entry["fee"], payload
    )
    assert unsigned.signing_digest().hex() == entry["signing_digest"]
    built = unsigned.signed(signer)
    assert built.encode().hex() == entry["encoding"]
    assert built.txid.hex() == entry["txid"]

    decoded = Transaction.decode(hx(entry["encoding"]))
    assert decoded == built
    assert decoded.kind.name == entry["kind"]
    assert decoded.encode().hex() == entry["encoding"]
    assert decoded.txid.hex() == entry["txid"]
    assert decoded.has_valid_signature()


# -- receipts ---------------------------------------------------------------------------------


def test_channel_id_vector() -> None:
    vector = RECEIPTS["channel_id"]
    client = key_of(vector["client"])
    assert client.public_key.hex() == vector["client_public_key"]
    assert channel_id_of(client.public_key, vector["nonce"]).hex() == vector["channel_id"]


def test_receipt_vector() -> None:
    vector = RECEIPTS["receipt"]
    built = receipt_from(vector)  # checks the signing digest and the encoding
    decoded = Receipt.decode(hx(vector["encoding"]))
    assert decoded == built
    assert decoded.encode().hex() == vector["encoding"]
    assert decoded.signing_digest().hex() == vector["signing_digest"]
    assert decoded.verify(hx(vector["client_public_key"]))


# -- blocks and state -------------------------------------------------------------------------


@pytest.mark.parametrize("entry", BLOCKS["blocks"], ids=lambda e: f"height{e['height']}")
def test_stored_block_round_trip(entry: dict[str, Any]) -> None:
    block = Block.decode(hx(entry["encoding"]))
    assert block.encode().hex() == entry["encoding"]
    header = block.header
    assert header.encode().hex() == entry["header"]
    assert BlockHeader.decode(hx(entry["header"])) == header
    assert block.hash.hex() == entry["hash"]
    assert header.signing_digest().hex() == entry["header_signing_digest"]
    assert header.has_valid_signature()
    assert (header.height, header.slot, header.timestamp_ms) == (
        entry["height"],
        entry["slot"],
        entry["timestamp_ms"],
    )
    assert (header.vrf_output.hex(), header.vrf_proof.hex()) == (
        entry["vrf_output"],
        entry["vrf_proof"],
    )
    assert [tx.txid.hex() for tx in block.transactions] == entry["txids"]
    assert block.computed_tx_root().hex() == entry["tx_root"] == header.tx_root.hex()
    assert header.state_root.hex() == entry["state_root"]


def test_blocks_rebuild_to_the_pinned_bytes() -> None:
    """The devnet producer, given each stored block's transactions, slot and time, makes that
    block again: VRF proof, transaction root, state root, signature and hash."""
    chain = fresh_devnet_chain()
    assert chain.genesis_hash.hex() == GENESIS["genesis_hash"]
    producer = key_of(BLOCKS["producer"])
    vrf_key = VrfKey(hashlib.sha256(BLOCKS["producer_vrf_seed"].encode()).digest())
    for entry in BLOCKS["blocks"]:
        transactions = Block.decode(hx(entry["encoding"])).transactions
        leader = chain.leader_proof(vrf_key, producer.address, entry["slot"])
        assert leader is not None
        block, rejected = chain.build_block(
            producer, leader, transactions, entry["slot"], entry["timestamp_ms"]
        )
        assert not rejected
        assert block.header.state_root.hex() == entry["state_root"], f"height {entry['height']}"
        assert block.header.tx_root.hex() == entry["tx_root"]
        assert block.header.encode().hex() == entry["header"]
        assert block.hash.hex() == entry["hash"]
        assert block.encode().hex() == entry["encoding"]
        chain.add_block(block)
    assert chain.tip.hash.hex() == BLOCKS["tip_hash"]
    assert chain.state_root.hex() == BLOCKS["final_state_root"]


def test_stored_blocks_import_to_the_pinned_state() -> None:
    """A node importing the stored blocks accepts each and ends in the pinned state, record for
    record (every state encoding, as the rules write it)."""
    chain = fresh_devnet_chain()
    for entry in BLOCKS["blocks"]:
        chain.add_block(Block.decode(hx(entry["encoding"])))
        assert chain.tip.hash.hex() == entry["hash"]
        assert chain.state_root.hex() == entry["state_root"]
    assert chain.state_root.hex() == BLOCKS["final_state_root"]
    state = {k[len(schema.STATE) :].hex(): v.hex() for k, v in chain.kv.iterate(schema.STATE)}
    assert state == BLOCKS["final_state"]


def test_pinned_state_records_round_trip_and_commit_to_the_root() -> None:
    entries = {hx(k): hx(v) for k, v in BLOCKS["final_state"].items()}
    kinds = set()
    for key, value in entries.items():
        record_type = state_record_type(key)
        assert record_type.decode(value).encode() == value, key.hex()
        kinds.add(record_type)
    # Every state record type is pinned by at least one entry.
    assert kinds == {
        Account,
        RelayRecord,
        Channel,
        ChainTotals,
        EpochState,
        StakeSnapshot,
        ProducerSet,
        BandwidthCredit,
        SlashRecord,
        EpochEarners,
    }
    root, _ = StateTree({}.get).update(EMPTY_ROOT, tree_changes(entries.items()))
    assert root.hex() == BLOCKS["final_state_root"]


def test_the_pinned_bandwidth_pool_payout() -> None:
    """The first block of epoch 1 pays epoch 0's pool as pinned: each relay pool × its settled
    amount // the total settled, the remainder left in the pool, before the block's own
    transactions and reward."""
    paying = [e for e in BLOCKS["blocks"] if "bandwidth_pool_payout" in e]
    assert len(paying) == 1
    entry, payout = paying[0], paying[0]["bandwidth_pool_payout"]
    settled = {Address.from_string(k): v for k, v in payout["settled"].items()}
    paid = {Address.from_string(k): v for k, v in payout["paid"].items()}
    total = sum(settled.values())
    assert len(settled) == 2
    assert paid == {relay: payout["pool"] * amount // total for relay, amount in settled.items()}
    assert payout["left_in_pool"] == payout["pool"] - sum(paid.values()) > 0

    chain = fresh_devnet_chain()
    for earlier in BLOCKS["blocks"][: entry["height"] - 1]:
        chain.add_block(Block.decode(hx(earlier["encoding"])))
    before = StateOverlay(chain.state)
    earners = epoch_earners(before)
    assert earners is not None and earners.epoch == payout["epoch"]
    assert {e.relay: e.settled for e in earners.earnings} == settled
    assert before.totals().bandwidth_pool == payout["pool"]

    block = Block.decode(hx(entry["encoding"]))
    after = StateOverlay(chain.state)
    begin_block(after, block.header, chain.params)
    assert epoch_earners(after) is None
    assert after.totals().bandwidth_pool == payout["left_in_pool"]
    for relay, amount in paid.items():
        assert after.account(relay).balance == before.account(relay).balance + amount

    chain.add_block(block)
    pool_part = chain.params.reward_split()[1]
    assert chain.totals().bandwidth_pool == payout["left_in_pool"] + pool_part


def test_blocks_use_every_transaction_kind() -> None:
    kinds = {
        tx.kind
        for entry in BLOCKS["blocks"]
        for tx in Block.decode(hx(entry["encoding"])).transactions
    }
    assert kinds == set(TxKind)


# -- commitments ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", COMMITMENTS["merkle"], ids=lambda e: f"{len(e['leaves'])}leaves")
def test_merkle_root_vector(entry: dict[str, Any]) -> None:
    assert merkle_root([hx(leaf) for leaf in entry["leaves"]]).hex() == entry["root"]


def test_state_tree_vector() -> None:
    vector = COMMITMENTS["state_tree"]
    entries = {hx(k): hx(v) for k, v in vector["entries"].items()}
    nodes: dict[bytes, bytes] = {}
    tree = StateTree(nodes.get)
    root, made = tree.update(EMPTY_ROOT, entries)
    nodes.update(made)
    assert root.hex() == vector["root"]
    smaller, _ = tree.update(root, dict.fromkeys(hx(k) for k in vector["removed"]))
    assert smaller.hex() == vector["root_after_removal"]
    for proof_vector in vector["proofs"]:
        key = hx(proof_vector["key"])
        value_hash = None if proof_vector["value_hash"] is None else hx(proof_vector["value_hash"])
        assert tree.prove(root, key).encode().hex() == proof_vector["proof"]
        proof = StateProof.decode(hx(proof_vector["proof"]))
        assert proof.encode().hex() == proof_vector["proof"]
        assert verify_proof(hx(vector["root"]), key, value_hash, proof)


# -- the slot lottery -------------------------------------------------------------------------


def test_lottery_vectors() -> None:
    for entry in LOTTERY["vrf_input"]:
        assert vrf_input(hx(entry["nonce"]), entry["slot"]).hex() == entry["alpha"]
    value = LOTTERY["leader_value"]
    assert f"{leader_value(hx(value['vrf_output'])):064x}" == value["value"]
    for entry in LOTTERY["leader_threshold"]:
        threshold = leader_threshold(
            entry["weight"], entry["total_weight"], entry["active_slot_coeff_bps"]
        )
        assert f"{threshold:x}" == entry["threshold"], entry
