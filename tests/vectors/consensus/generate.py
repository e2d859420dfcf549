"""Writes the consensus vectors in this directory (docs/wire-format.md §Consensus vectors).

Each file pins what every node must compute alike: a changed value is a fork. The vectors are
made once; the tests (tests/chain/test_consensus_vectors.py, tests/p2p/test_p2p_vectors.py)
recompute every value from the inputs written here and compare it with the literal.

Every input is fixed: keys are SHA-256 of a label (`"pacata devnet account 1"` is devnet account
1, `pacata/chain/devnet.py`), signatures are deterministic (RFC 6979 for ECDSA, RFC 9381 for the
VRF), and the blocks take their slots and timestamps from the shipped devnet genesis. Running
this twice gives the same bytes.

    .venv/bin/python tests/vectors/consensus/generate.py            # refuses existing files
    .venv/bin/python tests/vectors/consensus/generate.py --force    # a fork, on purpose

`--output DIR` writes elsewhere (to compare a fresh run with the pinned files).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pacata.chain import schema
from pacata.chain.bandwidth_pool import epoch_earners, pay_bandwidth_pool
from pacata.chain.chain import Chain
from pacata.chain.codec import MAX_U64
from pacata.chain.consensus import epoch_of, leader_threshold, leader_value, vrf_input
from pacata.chain.devnet import devnet_vrf_public_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.hashing import ZERO_HASH, sha256, tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import MemoryStore
from pacata.chain.merkle import merkle_root
from pacata.chain.receipts import Receipt
from pacata.chain.state import StateOverlay
from pacata.chain.state_tree import EMPTY_ROOT, StateTree
from pacata.chain.transactions import (
    UNLIMITED_RATE,
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
    Unbond,
    make_transaction,
)
from pacata.chain.transitions import channel_id_of
from pacata.chain.verifier import InlineVerifier
from pacata.p2p import dht_messages as dht
from pacata.p2p import messages as p2p
from pacata.p2p.framing import encode_frame
from pacata.p2p.records import Endpoint, NodeRecord, Transport
from pacata.testing.ledger import ChainFactory

HERE = Path(__file__).resolve().parent
TAG_INPUT = b"pacata consensus vector"
CHAIN_ID = "pacata-devnet-1"
NOTICE = (
    "Consensus vectors: changing any value here is a fork (docs/wire-format.md §Consensus "
    "vectors). Made by tests/vectors/consensus/generate.py; keys are SHA-256 of their label."
)

# Every tagged-hash tag of pacata/ (the test checks that the tree holds no other), by module.
TAGS: list[tuple[str, str, str]] = [
    ("pacata.chain.transactions", "_TX_SIGNING_TAG", "ledger"),
    ("pacata.chain.transactions", "_TX_ID_TAG", "ledger"),
    ("pacata.chain.receipts", "_RECEIPT_TAG", "ledger"),
    ("pacata.chain.headers", "_HEADER_SIGNING_TAG", "ledger"),
    ("pacata.chain.headers", "_BLOCK_HASH_TAG", "ledger"),
    ("pacata.chain.merkle", "_LEAF_TAG", "ledger"),
    ("pacata.chain.merkle", "_NODE_TAG", "ledger"),
    ("pacata.chain.state", "_TREE_KEY_TAG", "ledger"),
    ("pacata.chain.transitions", "_CHANNEL_ID_TAG", "ledger"),
    ("pacata.chain.genesis", "_PARAMS_TAG", "ledger"),
    ("pacata.chain.consensus", "_VRF_INPUT_TAG", "ledger"),
    ("pacata.chain.consensus", "_LEADER_VALUE_TAG", "ledger"),
    ("pacata.chain.consensus", "_EPOCH_NONCE_TAG", "ledger"),
    ("pacata.chain.consensus", "_VRF_CHAIN_TAG", "ledger"),
    ("pacata.chain.consensus", "_GENESIS_NONCE_TAG", "ledger"),
    ("pacata.p2p.records", "_RECORD_SIGNING_TAG", "p2p"),
    ("pacata.p2p.messages", "_HELLO_SIGNING_TAG", "p2p"),
    ("pacata.p2p.dht_messages", "_SIGNING_TAG", "p2p"),
    ("pacata.p2p.tls", "ISSUER_SEED_TAG", "p2p"),
]


def key(label: str) -> PrivateKey:
    return PrivateKey(sha256(label.encode()))


def account(index: int) -> str:
    return f"pacata devnet account {index}"


def x25519_public(label: str) -> bytes:
    private = X25519PrivateKey.from_private_bytes(sha256(label.encode()))
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def digest(label: str) -> bytes:
    """A fixed 32-byte value standing for a hash, a key or an id."""
    return sha256(label.encode())


# -- how inputs are written (the tests read them back) --------------------------------------


def offer_fields(offer: RelayOffer) -> dict[str, Any]:
    return {
        "wireguard_key": offer.wireguard_key.hex(),
        "endpoints": list(offer.endpoints),
        "prices_per_gib": list(offer.prices_per_gib),
        "rate_limits": list(offer.rate_limits),
    }


def header_fields(header: BlockHeader, signer: str) -> dict[str, Any]:
    return {
        "signer": signer,
        "height": header.height,
        "prev_hash": header.prev_hash.hex(),
        "slot": header.slot,
        "timestamp_ms": header.timestamp_ms,
        "producer": header.producer.hex(),
        "vrf_output": header.vrf_output.hex(),
        "vrf_proof": header.vrf_proof.hex(),
        "tx_root": header.tx_root.hex(),
        "state_root": header.state_root.hex(),
        "signing_digest": header.signing_digest().hex(),
        "encoding": header.encode().hex(),
        "hash": header.hash.hex(),
    }


def receipt_fields(receipt: Receipt, signer: str) -> dict[str, Any]:
    return {
        "signer": signer,
        "chain_id": receipt.chain_id,
        "channel_id": receipt.channel_id.hex(),
        "cumulative_bytes": receipt.cumulative_bytes,
        "cumulative_amount": receipt.cumulative_amount,
        "signing_digest": receipt.signing_digest().hex(),
        "encoding": receipt.encode().hex(),
    }


def payload_fields(payload: Payload, signers: dict[int, str]) -> dict[str, Any]:
    """The payload's fields; `signers` names the key of each signed object inside it."""
    match payload:
        case Transfer():
            return {"recipient": str(payload.recipient), "amount": payload.amount}
        case Bond():
            return {"amount": payload.amount, "vrf_public_key": payload.vrf_public_key.hex()}
        case Unbond():
            return {"amount": payload.amount}
        case RelayRegister() | RelayUpdate():
            return {"offer": offer_fields(payload.offer)}
        case RelayRetire():
            return {}
        case ChannelOpen():
            return {
                "relay": str(payload.relay),
                "deposit": payload.deposit,
                "tier": payload.tier,
                "client_tunnel_key": payload.client_tunnel_key.hex(),
                "expiry_height": payload.expiry_height,
            }
        case ChannelTopup():
            return {"channel_id": payload.channel_id.hex(), "amount": payload.amount}
        case ChannelSettle():
            return {"receipt": receipt_fields(payload.receipt, signers[id(payload.receipt)])}
        case ChannelClose():
            return {"channel_id": payload.channel_id.hex()}
        case Evidence():
            return {
                "first": header_fields(payload.first, signers[id(payload.first)]),
                "second": header_fields(payload.second, signers[id(payload.second)]),
            }
    raise TypeError(f"no fields for {payload!r}")


def transaction_fields(
    tx: Transaction, signer: str, signers: dict[int, str] | None = None
) -> dict[str, Any]:
    return {
        "kind": tx.kind.name,
        "signer": signer,
        "chain_id": tx.chain_id,
        "sender": tx.sender.hex(),
        "nonce": tx.nonce,
        "fee": tx.fee,
        "payload": payload_fields(tx.payload, signers or {}),
        "signing_digest": tx.signing_digest().hex(),
        "encoding": tx.encode().hex(),
        "txid": tx.txid.hex(),
    }


# -- the vectors ----------------------------------------------------------------------------


def tags_vectors() -> dict[str, Any]:
    entries = []
    for module_name, constant, scope in TAGS:
        tag = getattr(importlib.import_module(module_name), constant)
        entries.append(
            {
                "module": module_name,
                "constant": constant,
                "scope": scope,
                "tag": tag.decode("ascii"),
                "output": tagged_hash(tag, TAG_INPUT).hex(),
            }
        )
    return {
        "input": TAG_INPUT.decode("ascii"),
        "definition": "SHA-256(len(tag) as one byte || tag || input)",
        "tags": entries,
    }


def genesis_vectors() -> dict[str, Any]:
    chain = Chain(MemoryStore(), shipped_genesis("devnet"), InlineVerifier())
    genesis = chain.genesis
    block = chain.block_at(0)
    return {
        "network": "devnet",
        "chain_id": genesis.chain_id,
        "timestamp_ms": genesis.timestamp_ms,
        "params_digest": genesis.params_digest().hex(),
        "state_root": block.header.state_root.hex(),
        "header": block.header.encode().hex(),
        "block": block.encode().hex(),
        "genesis_hash": chain.genesis_hash.hex(),
        "initial_state": {k.hex(): v.hex() for k, v in sorted(genesis.initial_state().items())},
    }


def evidence_headers(signer: str, slot: int, height: int) -> tuple[BlockHeader, BlockHeader]:
    """Two different headers signed by one producer for one slot."""
    producer = key(signer)
    first = BlockHeader(
        height=height,
        prev_hash=digest("pacata vector parent"),
        slot=slot,
        timestamp_ms=1_767_225_600_000 + slot * 1_000,
        producer=producer.public_key,
        tx_root=ZERO_HASH,
        state_root=digest("pacata vector state A"),
        vrf_output=sha256(b"vrf output")[:32] * 2,
        vrf_proof=(digest("pacata vector vrf proof") * 3)[:80],
    ).signed(producer)
    second = BlockHeader(
        height=height,
        prev_hash=digest("pacata vector parent"),
        slot=slot,
        timestamp_ms=1_767_225_600_000 + slot * 1_000 + 1,
        producer=producer.public_key,
        tx_root=ZERO_HASH,
        state_root=digest("pacata vector state B"),
        vrf_output=sha256(b"vrf output")[:32] * 2,
        vrf_proof=(digest("pacata vector vrf proof") * 3)[:80],
    ).signed(producer)
    return first, second


def transaction_vectors() -> dict[str, Any]:
    client, relay = key(account(1)), key(account(4))
    channel = channel_id_of(client.public_key, 1)
    offer = RelayOffer(
        x25519_public("pacata vector relay wireguard"),
        ("198.51.100.4:51820", "[2001:db8::4]:51820"),
        (1_000_000, 5_000_000, 20_000_000),
        (UNLIMITED_RATE, 12_500_000, 125_000_000),
    )
    receipt = Receipt(CHAIN_ID, channel, 3 * 2**30, 12_345_678).signed(client)
    first, second = evidence_headers(account(5), slot=42, height=40)
    signers = {id(receipt): account(1), id(first): account(5), id(second): account(5)}
    cases: list[tuple[str, int, int, Payload]] = [
        (account(1), 0, 1_000, Transfer(key(account(2)).address, 123_456_789)),
        (account(3), 1, 1_000, Bond(100_000_000_000, devnet_vrf_public_key(3))),
        (account(3), 2, 1_000, Unbond(MAX_U64)),
        (account(4), 300, 1_000_000, RelayRegister(offer)),
        (
            account(4),
            301,
            1_000,
            RelayUpdate(
                RelayOffer(
                    offer.wireguard_key, ("relay.example.org:443",), (900_000,), (1_250_000_000,)
                )
            ),
        ),
        (account(4), 302, 1_000, RelayRetire()),
        (
            account(1),
            1,
            2_500,
            ChannelOpen(
                relay.address, 50_000_000, 2, x25519_public("pacata vector client"), 1_000_000
            ),
        ),
        (account(1), 2, 1_000, ChannelTopup(channel, 10_000_000)),
        (account(4), 303, 1_000, ChannelSettle(receipt)),
        (account(1), 3, 1_000, ChannelClose(channel)),
        (account(6), 0, 1_000, Evidence(first, second)),
    ]
    transactions = []
    for signer, nonce, fee, payload in cases:
        tx = make_transaction(key(signer), CHAIN_ID, nonce, fee, payload)
        transactions.append(transaction_fields(tx, signer, signers))
    return {"transactions": transactions}


def receipt_vectors() -> dict[str, Any]:
    client = key(account(1))
    channel = channel_id_of(client.public_key, 1)
    receipt = Receipt(CHAIN_ID, channel, 5 * 2**30 + 17, 20_000_000).signed(client)
    fields = receipt_fields(receipt, account(1))
    fields["client_public_key"] = client.public_key.hex()
    return {
        "channel_id": {
            "client": account(1),
            "client_public_key": client.public_key.hex(),
            "nonce": 1,
            "channel_id": channel.hex(),
        },
        "receipt": fields,
    }


def block_vectors() -> dict[str, Any]:
    """Fifteen blocks on the devnet genesis that use every transaction kind, and the whole state
    after them. The epoch rotates at height 6 (slot 60), whose block pays epoch 0's bandwidth
    pool to the two relays that settled in it; relay 4 settles its expired channel during the
    settlement grace period (height 5), and the client closes it once the grace has passed
    (height 15 = expiry 4 + the devnet's grace of 10 + 1). Heights 7 to 14 are empty."""
    factory = ChainFactory(Chain(MemoryStore(), shipped_genesis("devnet"), InlineVerifier()))
    params = factory.genesis.params
    a = [key(account(i)) for i in range(10)]
    newcomer = key("pacata vector newcomer")
    relay_offer = RelayOffer(
        x25519_public("pacata vector relay wireguard"),
        ("198.51.100.4:51820",),
        (1_000_000, 5_000_000),
        (UNLIMITED_RATE, 12_500_000),
    )
    other_offer = RelayOffer(
        x25519_public("pacata vector relay 7 wireguard"),
        ("203.0.113.7:51820",),
        (2_000_000,),
        (1_250_000,),
    )
    channel: dict[str, bytes] = {}

    def open_channel(client: PrivateKey, name: str, open_: ChannelOpen) -> Transaction:
        tx = factory.sign(client, open_)
        channel[name] = channel_id_of(tx.sender, tx.nonce)
        return tx

    def settle(
        relay: PrivateKey, client: PrivateKey, name: str, amount: int, carried: int
    ) -> Transaction:
        receipt = Receipt(CHAIN_ID, channel[name], carried, amount).signed(client)
        return factory.sign(relay, ChannelSettle(receipt))

    first, second = evidence_headers(account(5), slot=3, height=3)
    grace_end = 4 + params.settlement_grace_blocks
    plan: list[tuple[int, list[tuple[str, Callable[[], Transaction]]]]] = [
        (
            1,
            [
                (
                    "account 1 sends 1000000 to account 2",
                    lambda: factory.transfer(a[1], a[2].address, 1_000_000),
                ),
                (
                    "account 2 sends 250000 to account 3",
                    lambda: factory.transfer(a[2], a[3].address, 250_000),
                ),
                (
                    "account 4 registers as a relay (tier 0 unlimited, tier 1 at 100 Mbit/s)",
                    lambda: factory.sign(a[4], RelayRegister(relay_offer)),
                ),
                (
                    "account 7 registers as a relay (10 Mbit/s)",
                    lambda: factory.sign(a[7], RelayRegister(other_offer)),
                ),
                (
                    "account 5 bonds 2000 PAC",
                    lambda: factory.sign(a[5], Bond(200_000_000_000, devnet_vrf_public_key(5))),
                ),
                (
                    "account 9 bonds 1500 PAC",
                    lambda: factory.sign(a[9], Bond(150_000_000_000, devnet_vrf_public_key(9))),
                ),
            ],
        ),
        (
            1,
            [
                (
                    "account 1 opens a tier-1 channel to relay 4, expiring at height 4",
                    lambda: open_channel(
                        a[1],
                        "first",
                        ChannelOpen(
                            a[4].address, 50_000_000, 1, x25519_public("pacata vector client"), 4
                        ),
                    ),
                ),
                (
                    "relay 4 updates its offer to three tiers with their rate limits",
                    lambda: factory.sign(
                        a[4],
                        RelayUpdate(
                            RelayOffer(
                                relay_offer.wireguard_key,
                                relay_offer.endpoints,
                                (900_000, 4_000_000, 16_000_000),
                                (UNLIMITED_RATE, 25_000_000, 125_000_000),
                            )
                        ),
                    ),
                ),
                ("account 9 unbonds 500 PAC", lambda: factory.sign(a[9], Unbond(50_000_000_000))),
                (
                    "account 2 opens a channel to relay 7",
                    lambda: open_channel(
                        a[2],
                        "third",
                        ChannelOpen(
                            a[7].address,
                            10_000_000,
                            0,
                            x25519_public("pacata vector client 2"),
                            1_000,
                        ),
                    ),
                ),
            ],
        ),
        (
            1,
            [
                (
                    "account 1 tops up its channel",
                    lambda: factory.sign(a[1], ChannelTopup(channel["first"], 10_000_000)),
                ),
                (
                    "relay 4 settles a receipt of 3 GiB",
                    lambda: settle(a[4], a[1], "first", 12_345_678, 3 * 2**30),
                ),
                (
                    "account 8 opens a tier-0 channel to relay 4",
                    lambda: open_channel(
                        a[8],
                        "second",
                        ChannelOpen(
                            a[4].address,
                            30_000_000,
                            0,
                            x25519_public("pacata vector client 8"),
                            1_000,
                        ),
                    ),
                ),
            ],
        ),
        (
            2,
            [
                (
                    "account 3 sends 77777 to a new account, fee 2500",
                    lambda: factory.sign(a[3], Transfer(newcomer.address, 77_777), fee=2_500),
                ),
                (
                    "relay 4 settles a receipt of 5 GiB",
                    lambda: settle(a[4], a[1], "first", 20_000_000, 5 * 2**30),
                ),
                (
                    "relay 7 settles a receipt of 1 GiB",
                    lambda: settle(a[7], a[2], "third", 3_333_333, 2**30),
                ),
            ],
        ),
        (
            1,
            [
                (
                    "relay 4 settles a receipt of 6 GiB of the expired channel, in its grace",
                    lambda: settle(a[4], a[1], "first", 23_456_789, 6 * 2**30),
                ),
            ],
        ),
        (
            54,
            [
                ("relay 7 retires", lambda: factory.sign(a[7], RelayRetire())),
                (
                    "relay 4 settles a receipt of 250 MiB of account 8's channel",
                    lambda: settle(a[4], a[8], "second", 999_999, 250 * 2**20),
                ),
            ],
        ),
        *[(1, []) for _ in range(grace_end - 6)],
        (
            1,
            [
                (
                    "account 1 closes its expired channel after the settlement grace",
                    lambda: factory.sign(a[1], ChannelClose(channel["first"])),
                ),
                (
                    "account 6 reports account 5 signing two headers for slot 3",
                    lambda: factory.sign(a[6], Evidence(first, second)),
                ),
            ],
        ),
    ]
    blocks = []
    for slot_gap, steps in plan:
        chain = factory.chain
        payout = None
        if epoch_of(chain.tip.slot + slot_gap, params) != epoch_of(chain.tip.slot, params):
            payout = pool_payout(chain)
        transactions = [make() for _, make in steps]
        block = factory.next_block(transactions, slot_gap=slot_gap)
        header = block.header
        entry = {
            "height": header.height,
            "slot": header.slot,
            "timestamp_ms": header.timestamp_ms,
            "transactions": [note for note, _ in steps],
            "txids": [tx.txid.hex() for tx in block.transactions],
            "tx_root": header.tx_root.hex(),
            "state_root": header.state_root.hex(),
            "vrf_output": header.vrf_output.hex(),
            "vrf_proof": header.vrf_proof.hex(),
            "header_signing_digest": header.signing_digest().hex(),
            "header": header.encode().hex(),
            "hash": block.hash.hex(),
            "encoding": block.encode().hex(),
        }
        if payout is not None:
            entry["bandwidth_pool_payout"] = payout
        blocks.append(entry)
    chain = factory.chain
    assert chain.height == grace_end + 1
    state = {k[len(schema.STATE) :].hex(): v.hex() for k, v in chain.kv.iterate(schema.STATE)}
    return {
        "genesis": "devnet",
        "producer": account(0),
        "producer_vrf_seed": "pacata devnet vrf 0",
        "blocks": blocks,
        "tip_hash": chain.tip.hash.hex(),
        "final_state_root": chain.state_root.hex(),
        "final_state": dict(sorted(state.items())),
    }


def pool_payout(chain: Chain) -> dict[str, Any] | None:
    """What the first block of the next epoch pays out of the bandwidth pool, on `chain`'s tip:
    the pool, what each relay settled in the tip's epoch, what each receives, what is left."""
    state = StateOverlay(chain.state)
    earners = epoch_earners(state)
    if earners is None:
        return None
    pool = state.totals().bandwidth_pool
    paid = pay_bandwidth_pool(state)
    return {
        "epoch": earners.epoch,
        "pool": pool,
        "settled": {str(e.relay): e.settled for e in earners.earnings},
        "paid": {str(relay): amount for relay, amount in paid.items()},
        "left_in_pool": state.totals().bandwidth_pool,
    }


def commitment_vectors() -> dict[str, Any]:
    merkle = []
    for count in (0, 1, 2, 3, 5):
        leaves = [digest(f"pacata vector leaf {i}") for i in range(count)]
        merkle.append(
            {"leaves": [leaf.hex() for leaf in leaves], "root": merkle_root(leaves).hex()}
        )
    # Keys 0 and 1 share their first 16 bits, so the tree has a deep branch.
    entries = {
        digest(f"pacata vector key {i}"): digest(f"pacata vector value {i}") for i in range(6)
    }
    near = bytearray(digest("pacata vector key 0"))
    near[2] ^= 0x01
    entries[bytes(near)] = digest("pacata vector value near")
    nodes: dict[bytes, bytes] = {}
    tree = StateTree(nodes.get)
    root, made = tree.update(EMPTY_ROOT, entries)
    nodes.update(made)
    removed = [digest("pacata vector key 3"), digest("pacata vector key 5")]
    smaller, made = tree.update(root, dict.fromkeys(removed))
    nodes.update(made)
    # Two keys not in the tree: one whose path ends in an empty subtree, one whose path ends
    # at the leaf of another key (key 2 with its last bit flipped).
    absent = digest("pacata vector absent key")
    beside = bytearray(digest("pacata vector key 2"))
    beside[-1] ^= 0x01
    return {
        "merkle": merkle,
        "state_tree": {
            "entries": {k.hex(): v.hex() for k, v in sorted(entries.items())},
            "root": root.hex(),
            "removed": [k.hex() for k in removed],
            "root_after_removal": smaller.hex(),
            "proofs": [
                {
                    "key": k.hex(),
                    "value_hash": entries[k].hex() if k in entries else None,
                    "proof": tree.prove(root, k).encode().hex(),
                }
                for k in (digest("pacata vector key 0"), bytes(near), absent, bytes(beside))
            ],
        },
    }


def lottery_vectors() -> dict[str, Any]:
    nonce = digest("pacata vector epoch nonce")
    thresholds = [
        (1, 1, 10_000),
        (1, 2, 5_000),
        (1, 3, 5_000),
        (2, 3, 500),
        (1, 1_000, 5_000),
        (999, 1_000, 9_500),
        (100_000_000_000, 300_000_000_000, 500),
        (0, 10, 5_000),
    ]
    output = (digest("pacata vector vrf output") * 2)[:64]
    return {
        "vrf_input": [
            {"nonce": nonce.hex(), "slot": slot, "alpha": vrf_input(nonce, slot).hex()}
            for slot in (0, 61, 2**40 + 3)
        ],
        "leader_value": {"vrf_output": output.hex(), "value": f"{leader_value(output):064x}"},
        "leader_threshold": [
            {
                "weight": weight,
                "total_weight": total,
                "active_slot_coeff_bps": coeff,
                "threshold": f"{leader_threshold(weight, total, coeff):x}",
            }
            for weight, total, coeff in thresholds
        ],
    }


def record_fields(record: NodeRecord, signer: str) -> dict[str, Any]:
    return {
        "signer": signer,
        "public_key": record.public_key.hex(),
        "seq": record.seq,
        "endpoints": [
            {"transport": e.transport.name, "host": e.host, "port": e.port}
            for e in record.endpoints
        ],
        "wireguard_key": record.wireguard_key.hex(),
        "relay": record.relay,
        "signing_digest": record.signing_digest().hex(),
        "node_id": record.node_id.hex(),
        "encoding": record.encode().hex(),
    }


def p2p_vectors() -> dict[str, Any]:
    node_label, other_label = "pacata vector node 1", "pacata vector node 2"
    node, other = key(node_label), key(other_label)
    record = NodeRecord.create(
        node,
        7,
        (
            Endpoint(Transport.TCP, "198.51.100.1", 9735),
            Endpoint(Transport.UDP, "198.51.100.1", 51820),
            Endpoint(Transport.TCP, "node1.example.org", 443),
        ),
        x25519_public(f"{node_label} wireguard"),
        relay=False,
    )
    other_record = NodeRecord.create(
        other,
        2**40,
        (Endpoint(Transport.UDP, "2001:db8::2", 51820),),
        x25519_public(f"{other_label} wireguard"),
        relay=True,
    )
    header, _ = evidence_headers(account(5), slot=42, height=40)
    binding = p2p.TlsBinding(
        digest("pacata vector local certificate"), digest("pacata vector peer certificate")
    )
    hello = p2p.Hello(
        p2p.PROTOCOL_VERSION,
        CHAIN_ID,
        digest("pacata vector genesis"),
        1_234,
        digest("pacata vector tip"),
        record,
    ).signed(node, p2p.Role.INITIATOR, binding)
    hashes = [digest(f"pacata vector hash {i}") for i in range(3)]
    messages: list[tuple[p2p.Message, dict[str, Any]]] = [
        (
            hello,
            {
                "protocol_version": hello.protocol_version,
                "chain_id": hello.chain_id,
                "genesis_hash": hello.genesis_hash.hex(),
                "tip_height": hello.tip_height,
                "tip_hash": hello.tip_hash.hex(),
                "record": "node_records[0]",
                "signer": node_label,
                "role": p2p.Role.INITIATOR.name,
                "local_certificate": binding.local_certificate.hex(),
                "peer_certificate": binding.peer_certificate.hex(),
                "signing_digest": hello.signing_digest(p2p.Role.INITIATOR, binding).hex(),
            },
        ),
        (
            p2p.Disconnect(p2p.DisconnectReason.PROTOCOL_VIOLATION, "frame of 9 bytes exceeds"),
            {"reason": "PROTOCOL_VIOLATION", "detail": "frame of 9 bytes exceeds"},
        ),
        (p2p.Ping(0x0123456789ABCDEF), {"nonce": 0x0123456789ABCDEF}),
        (p2p.Pong(0xFEDCBA9876543210), {"nonce": 0xFEDCBA9876543210}),
        (
            p2p.InvBlocks(
                (p2p.BlockAnnouncement(hashes[0], 5), p2p.BlockAnnouncement(hashes[1], 300))
            ),
            {
                "blocks": [
                    {"block_hash": hashes[0].hex(), "height": 5},
                    {"block_hash": hashes[1].hex(), "height": 300},
                ]
            },
        ),
        (
            p2p.InvTransactions((hashes[0], hashes[2])),
            {"txids": [hashes[0].hex(), hashes[2].hex()]},
        ),
        (p2p.GetBlocks((hashes[1],)), {"hashes": [hashes[1].hex()]}),
        (p2p.BlockData(bytes(range(40))), {"block": bytes(range(40)).hex()}),
        (p2p.GetTransactions(tuple(hashes)), {"txids": [h.hex() for h in hashes]}),
        (
            p2p.Transactions((b"\x01\x02\x03", bytes(range(200)))),
            {"transactions": ["010203", bytes(range(200)).hex()]},
        ),
        (
            p2p.NotFound(p2p.ItemKind.TRANSACTION, (hashes[2],)),
            {"item_kind": "TRANSACTION", "hashes": [hashes[2].hex()]},
        ),
        (
            p2p.GetHeaders((hashes[2], hashes[0]), 2_000),
            {"locator": [hashes[2].hex(), hashes[0].hex()], "max_count": 2_000},
        ),
        (p2p.Headers((header,)), {"headers": [header.encode().hex()]}),
        (p2p.GetPeers(), {}),
        (p2p.Peers((record, other_record)), {"records": ["node_records[0]", "node_records[1]"]}),
        (
            p2p.Extension("vpn/receipts", bytes(range(24))),
            {"protocol": "vpn/receipts", "payload": bytes(range(24)).hex()},
        ),
    ]
    message_entries = [
        {"kind": message.kind.name, "fields": fields, "encoding": message.encode_message().hex()}
        for message, fields in messages
    ]
    ping = p2p.Ping(0x0123456789ABCDEF).encode_message()
    request_id = bytes.fromhex("0011223344556677")
    contacts = (
        dht.Contact(record.node_id, ("198.51.100.1", 51820)),
        dht.Contact(other_record.node_id, ("2001:db8::2", 51820)),
    )
    bodies: list[tuple[dht.Body, dict[str, Any]]] = [
        (dht.Ping(), {}),
        (dht.Pong(("203.0.113.9", 40000)), {"observed": ["203.0.113.9", 40000]}),
        (dht.FindNode(hashes[0]), {"target": hashes[0].hex()}),
        (
            dht.Nodes(0, 2, contacts),
            {
                "part": 0,
                "parts": 2,
                "contacts": [
                    {"node_id": c.node_id.hex(), "address": list(c.address)} for c in contacts
                ],
            },
        ),
        (dht.FindValue(record.node_id), {"key": record.node_id.hex()}),
        (
            dht.Value(record.node_id, record.encode()),
            {"key": record.node_id.hex(), "value": "node_records[0]"},
        ),
        (
            dht.Store(other_record.node_id, other_record.encode()),
            {"key": other_record.node_id.hex(), "value": "node_records[1]"},
        ),
        (
            dht.Stored(other_record.node_id, True),
            {"key": other_record.node_id.hex(), "accepted": True},
        ),
    ]
    dht_entries = []
    for body, fields in bodies:
        encoded = dht.DhtPacket.signed(node, request_id, body)
        packet = dht.DhtPacket.decode(encoded)
        dht_entries.append(
            {
                "kind": body.KIND.name,
                "fields": fields,
                "signing_digest": packet.signing_digest().hex(),
                "encoding": encoded.hex(),
            }
        )
    return {
        "node_records": [
            record_fields(record, node_label),
            record_fields(other_record, other_label),
        ],
        "messages": message_entries,
        "frame": {"payload": ping.hex(), "encoding": encode_frame(ping).hex()},
        "dht": {"signer": node_label, "request_id": request_id.hex(), "packets": dht_entries},
    }


VECTORS: dict[str, Callable[[], dict[str, Any]]] = {
    "tags": tags_vectors,
    "genesis": genesis_vectors,
    "transactions": transaction_vectors,
    "receipts": receipt_vectors,
    "blocks": block_vectors,
    "commitments": commitment_vectors,
    "lottery": lottery_vectors,
    "p2p": p2p_vectors,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite existing vector files")
    parser.add_argument("--output", type=Path, default=HERE, help="directory to write to")
    args = parser.parse_args(argv)
    targets = {name: args.output / f"{name}.json" for name in VECTORS}
    existing = [path for path in targets.values() if path.exists()]
    if existing and not args.force:
        names = ", ".join(path.name for path in existing)
        print(
            f"refusing to overwrite {names} in {args.output}: a changed consensus vector is a "
            "fork. Pass --force if that is what you mean (docs/wire-format.md).",
            file=sys.stderr,
        )
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    for name, make in VECTORS.items():
        document = {"notice": NOTICE, **make()}
        targets[name].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {targets[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
