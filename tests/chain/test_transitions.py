"""State-transition rules of BOND, UNBOND, the relay kinds and the channel kinds."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pacata.chain.consensus import producer_set
from pacata.chain.devnet import devnet_developer_fund_key, devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.chain.state import StateOverlay, Unbonding
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    Unbond,
)
from pacata.chain.transitions import EVIDENCE_REWARD_BPS, channel_id_of, spend_of
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params

PARAMS = shipped_genesis("devnet").params
ALICE, RELAY = devnet_key(1), devnet_key(2)
VRF_KEY = bytes(range(32))
OFFER = RelayOffer(bytes(32), ("203.0.113.5:51820",), (100_000, 400_000), (0, 1_250_000))


@pytest.fixture
def factory() -> ChainFactory:
    genesis = with_params(shipped_genesis("devnet"), unbonding_delay=3)
    return ChainFactory(devnet_chain(genesis=genesis))


def refused(factory: ChainFactory, payload: object, reason: str, key: PrivateKey = ALICE) -> None:
    tx = factory.sign(key, payload)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=reason):
        factory.next_block([tx])
    factory.forget_pending_nonces()


def test_bond_locks_stake_and_unbond_releases_it_after_the_delay(factory: ChainFactory) -> None:
    chain = factory.chain
    start = chain.account(ALICE.address).balance
    fee = PARAMS.min_fee
    factory.next_block([factory.sign(ALICE, Bond(PARAMS.min_bond * 2, VRF_KEY))])
    account = chain.account(ALICE.address)
    assert account.bond == PARAMS.min_bond * 2
    assert account.vrf_public_key == VRF_KEY
    assert account.balance == start - PARAMS.min_bond * 2 - fee

    factory.next_block([factory.sign(ALICE, Unbond(PARAMS.min_bond))])
    height = chain.height
    account = chain.account(ALICE.address)
    assert account.bond == PARAMS.min_bond
    assert account.unbonding == (Unbonding(PARAMS.min_bond, height + 3),)
    locked_balance = account.balance

    # Not spendable before the release height: a transfer of it is refused.
    everything = locked_balance + PARAMS.min_bond - fee
    for _ in range(2):  # blocks height + 1 and height + 2 still hold it back
        refused(factory, _transfer_to_self(everything), "insufficient balance")
        factory.next_block()
    assert chain.height == height + 2
    # In the block at the release height, the account's transaction finds it credited.
    factory.next_block([factory.sign(ALICE, _transfer_to_self(everything))])
    assert chain.height == height + 3
    account = chain.account(ALICE.address)
    assert account.unbonding == ()
    assert account.balance == everything


def _transfer_to_self(amount: int):  # type: ignore[no-untyped-def]
    from pacata.chain.transactions import Transfer

    return Transfer(ALICE.address, amount)


def test_bond_rules(factory: ChainFactory) -> None:
    refused(factory, Bond(PARAMS.min_bond - 1, VRF_KEY), "below the minimum")
    factory.next_block([factory.sign(ALICE, Bond(PARAMS.min_bond, VRF_KEY))])
    refused(factory, Bond(PARAMS.min_bond, bytes(32)), "keeps its VRF key")
    refused(factory, Unbond(PARAMS.min_bond + 1), "cannot unbond")
    refused(factory, Unbond(1), "remaining bond")
    factory.next_block([factory.sign(ALICE, Unbond(PARAMS.min_bond))])
    account = factory.chain.account(ALICE.address)
    assert account.bond == 0
    assert account.vrf_public_key == b""


def test_relay_registration_lifecycle(factory: ChainFactory) -> None:
    chain = factory.chain
    refused(factory, RelayUpdate(OFFER), "not a registered relay", RELAY)
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    from pacata.chain.state import StateOverlay

    record = StateOverlay(chain.store).relay(RELAY.address)
    assert record is not None
    assert record.offer == OFFER
    assert record.owner_public_key == RELAY.public_key
    refused(factory, RelayRegister(OFFER), "already a registered relay", RELAY)
    cheaper = RelayOffer(OFFER.wireguard_key, OFFER.endpoints, (50_000,), (625_000,))
    factory.next_block([factory.sign(RELAY, RelayUpdate(cheaper))])
    updated = StateOverlay(chain.store).relay(RELAY.address)
    assert updated is not None
    assert updated.offer == cheaper
    factory.next_block([factory.sign(RELAY, RelayRetire())])
    assert StateOverlay(chain.store).relay(RELAY.address) is None


def test_channel_open_settle_close(factory: ChainFactory) -> None:
    chain = factory.chain
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    deposit = 1_000_000
    open_tx = factory.sign(
        ALICE, ChannelOpen(RELAY.address, deposit, 1, bytes([7]) * 32, chain.height + 10)
    )
    factory.next_block([open_tx])
    channel_id = channel_id_of(ALICE.public_key, open_tx.nonce)
    from pacata.chain.state import StateOverlay

    channel = StateOverlay(chain.store).channel(channel_id)
    assert channel is not None
    assert (channel.deposit, channel.paid, channel.tier) == (deposit, 0, 1)
    assert channel.client_tunnel_key == bytes([7]) * 32

    factory.next_block([factory.sign(ALICE, ChannelTopup(channel_id, 500_000))])
    deposit += 500_000

    def receipt(amount: int, nbytes: int, key: PrivateKey = ALICE) -> ChannelSettle:
        return ChannelSettle(
            Receipt(chain.genesis.chain_id, channel_id, nbytes, amount).signed(key)
        )

    relay_before = chain.account(RELAY.address).balance
    fund = devnet_developer_fund_key().address
    fund_before = chain.account(fund).balance
    refused(factory, receipt(100_000, 10), "only the channel's relay", ALICE)
    refused(factory, receipt(100_000, 10, key=RELAY), "not signed by the channel's client", RELAY)
    refused(factory, receipt(deposit + 1, 10), "exceeds the deposit", RELAY)
    factory.next_block([factory.sign(RELAY, receipt(200_000, 1_000))])
    fee = PARAMS.min_fee
    dev_fee = 200_000 * PARAMS.developer_fee_bps // 10_000
    assert chain.account(RELAY.address).balance == relay_before - fee + 200_000 - dev_fee
    block_share = PARAMS.reward_split()[2]
    assert chain.account(fund).balance == fund_before + dev_fee + block_share
    refused(factory, receipt(200_000, 2_000), "not above", RELAY)
    refused(factory, receipt(300_000, 999), "bytes are below", RELAY)
    factory.next_block([factory.sign(RELAY, receipt(300_000, 2_000))])

    refused(factory, ChannelClose(channel_id), "can be closed from height")
    while chain.height < channel.expiry_height + PARAMS.settlement_grace_blocks:
        factory.next_block()
    refused(factory, ChannelTopup(channel_id, 1), "expired")
    alice_before = chain.account(ALICE.address).balance
    factory.next_block([factory.sign(ALICE, ChannelClose(channel_id))])
    assert chain.account(ALICE.address).balance == alice_before - fee + deposit - 300_000
    assert StateOverlay(chain.store).channel(channel_id) is None
    refused(factory, ChannelClose(channel_id), "no open channel")


def test_the_client_closes_only_after_the_settlement_grace(factory: ChainFactory) -> None:
    chain = factory.chain
    grace = PARAMS.settlement_grace_blocks
    assert grace == 10  # the devnet's
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    expiry = chain.height + 3
    open_tx = factory.sign(ALICE, ChannelOpen(RELAY.address, 1_000_000, 0, bytes(32), expiry))
    factory.next_block([open_tx])
    channel_id = channel_id_of(ALICE.public_key, open_tx.nonce)

    def settle(amount: int) -> Transaction:
        receipt = Receipt(chain.genesis.chain_id, channel_id, amount, amount).signed(ALICE)
        return factory.sign(RELAY, ChannelSettle(receipt))

    first = expiry + grace + 1
    paid = 0
    # Before the expiry, at it, and through the whole grace the close is refused, and the
    # message names the first height at which it is allowed.
    while chain.height + 1 < first:
        height = chain.height + 1
        message = (
            f"the channel can be closed from height {first} (expiry height {expiry} plus a "
            f"settlement grace of {grace} blocks), now {height}"
        )
        refused(factory, ChannelClose(channel_id), re.escape(message))
        if height > expiry:
            refused(factory, ChannelTopup(channel_id, 1), "the channel has expired")
        # The relay settles whenever it likes: before the expiry and all through the grace.
        paid += 1_000
        factory.next_block([settle(paid)])
    assert chain.height == expiry + grace
    channel = StateOverlay(chain.store).channel(channel_id)
    assert channel is not None and channel.paid == paid

    # Past the grace the channel is still there until the client closes it: the relay can still
    # settle, and the close refunds what is left after that.
    factory.next_block([settle(paid + 1)])
    assert chain.height == first
    alice_before = chain.account(ALICE.address).balance
    factory.next_block([factory.sign(ALICE, ChannelClose(channel_id))])
    refund = 1_000_000 - (paid + 1)
    assert chain.account(ALICE.address).balance == alice_before - PARAMS.min_fee + refund
    late = Receipt(chain.genesis.chain_id, channel_id, paid + 2, paid + 2).signed(ALICE)
    refused(factory, ChannelSettle(late), "no open channel", RELAY)


def test_a_negative_settlement_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="settlement_grace_blocks"):
        replace(PARAMS, settlement_grace_blocks=-1)
    assert replace(PARAMS, settlement_grace_blocks=0).settlement_grace_blocks == 0


def test_channel_open_rules(factory: ChainFactory) -> None:
    height = factory.chain.height
    refused(factory, ChannelOpen(RELAY.address, 1, 0, bytes(32), height + 5), "not a registered")
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    height = factory.chain.height
    refused(factory, ChannelOpen(RELAY.address, 1, 2, bytes(32), height + 5), "no tier 2")
    refused(factory, ChannelOpen(RELAY.address, 1, 0, bytes(32), height), "expiry height")
    refused(
        factory, ChannelOpen(RELAY.address, 1, 0, bytes(32), height + 5), "to itself", key=RELAY
    )


def _equivocation(factory: ChainFactory) -> Evidence:
    """Two different headers the devnet producer signs for the next slot."""
    first = factory.next_block([], connect=False)
    second = factory.next_block([factory.transfer(ALICE, RELAY.address, 1)], connect=False)
    factory.forget_pending_nonces()
    assert first.header.slot == second.header.slot
    return Evidence(first.header, second.header)


def test_equivocation_slashes_the_producer(factory: ChainFactory) -> None:
    chain = factory.chain
    producer = factory.producer.address
    evidence = _equivocation(factory)
    stake = chain.account(producer).bond
    reporter_before = chain.account(ALICE.address).balance
    burned_before = chain.totals().burned
    factory.next_block([factory.sign(ALICE, evidence)])
    reward = stake * EVIDENCE_REWARD_BPS // 10_000
    assert chain.account(producer).bond == 0
    assert chain.account(producer).vrf_public_key == b""
    assert chain.account(ALICE.address).balance == reporter_before - PARAMS.min_fee + reward
    assert chain.totals().burned == burned_before + stake - reward
    assert producer not in producer_set(StateOverlay(chain.store)).addresses
    refused(factory, evidence, "already punished")


def test_evidence_rules(factory: ChainFactory) -> None:
    evidence = _equivocation(factory)
    first, second = evidence.first, evidence.second
    refused(factory, Evidence(first, first), "same header")
    later = replace(second, slot=second.slot + 1).signed(factory.producer)
    refused(factory, Evidence(first, later), "different slots")
    forged = replace(second, signature=bytes(64))
    refused(factory, Evidence(first, forged), "not signed by its producer")
    alice_header = replace(second, producer=ALICE.public_key).signed(ALICE)
    refused(factory, Evidence(first, alice_header), "different producers")
    for _ in range(4):  # the factory chain's unbonding delay is 3 blocks
        factory.next_block()
    refused(factory, evidence, "older than the unbonding delay")


def test_spend_of_a_payload_is_what_it_takes_from_the_senders_balance_besides_the_fee() -> None:
    """It takes a payload (the wallet prices one before it signs a transaction) and is the
    spending the rules charge (`apply_transaction`: fee + spend_of)."""
    channel = bytes(32)
    assert spend_of(Transfer(RELAY.address, 5)) == 5
    assert spend_of(Bond(6, VRF_KEY)) == 6
    assert spend_of(ChannelOpen(RELAY.address, 7, 0, bytes(32), 100)) == 7
    assert spend_of(ChannelTopup(channel, 8)) == 8
    assert spend_of(Unbond(9)) == 0  # it moves bond to unbonding, not balance
    assert spend_of(ChannelClose(channel)) == 0  # it credits the refund
    assert spend_of(RelayRetire()) == 0
    assert spend_of(RelayRegister(OFFER)) == 0


def test_the_rules_charge_the_fee_and_the_spend_of_the_payload(factory: ChainFactory) -> None:
    before = factory.chain.account(ALICE.address).balance
    tx = factory.sign(ALICE, Transfer(RELAY.address, 12_345))
    factory.next_block([tx])
    assert factory.chain.account(ALICE.address).balance == before - tx.fee - spend_of(tx.payload)
