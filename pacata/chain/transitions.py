"""State-transition rules: how each transaction kind, and each block's rewards, change the state.

Rules common to every kind (checked in this order, each failure an `InvalidTransaction`):
1. the chain id is this chain's (no replay across networks);
2. the fee is at least the chain's minimum;
3. the sender's unbondings whose release height has come are credited to its balance;
4. the nonce equals the sender's next nonce (lower: a replay or duplicate; higher: a gap);
5. the sender can pay the fee plus whatever the kind spends.
Then the kind's own handler (a dispatch table, `HANDLERS`) checks its rules and writes. A handler
checks everything before it writes, so a refused transaction leaves the state untouched.

Channels: the client tops up only before the expiry height and closes only after the expiry
height plus `settlement_grace_blocks`; the relay settles at any time while the channel exists,
so during the grace period its last receipt cannot lose a race with the close. Each settle also
counts toward the relay's share of the epoch's bandwidth pool (`bandwidth_pool`).

Signatures are verified before these rules run (in a batch by block validation, one at a time
by the mempool), because verification is the expensive part and parallelizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pacata.chain.bandwidth_pool import record_earning
from pacata.chain.codec import Writer
from pacata.chain.consensus import (
    SlashRecord,
    add_bandwidth_credit,
    epoch_of,
    update_producer_set,
)
from pacata.chain.hashing import tagged_hash
from pacata.chain.keys import Address
from pacata.chain.params import BASIS_POINTS, ChainParams
from pacata.chain.state import (
    MAX_UNBONDING_ENTRIES,
    Account,
    ChainTotals,
    Channel,
    Namespace,
    RelayRecord,
    StateOverlay,
    Unbonding,
    state_key,
)
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    Payload,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    TxKind,
    Unbond,
)
from pacata.errors import ConsensusError, InvalidTransaction

_CHANNEL_ID_TAG = b"pacata/channel-id/v1"
# The reporter of an equivocation receives this share of the slashed stake; the rest is burned.
EVIDENCE_REWARD_BPS = 1_000


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What the rules may know of the block a transaction is applied in."""

    params: ChainParams
    height: int
    slot: int
    producer: Address


def channel_id_of(sender: bytes, nonce: int) -> bytes:
    """The id of the channel opened by `sender`'s transaction with `nonce`: unique per chain."""
    writer = Writer()
    writer.raw(sender)
    writer.u64(nonce)
    return tagged_hash(_CHANNEL_ID_TAG, writer.getvalue())


def release_matured(account: Account, height: int) -> Account:
    """The account with every unbonding whose release height has come credited to its balance."""
    if not account.unbonding or all(u.release_height > height for u in account.unbonding):
        return account
    matured = sum(u.amount for u in account.unbonding if u.release_height <= height)
    pending = tuple(u for u in account.unbonding if u.release_height > height)
    return replace(account, balance=account.balance + matured, unbonding=pending)


def spend_of(payload: Payload) -> int:
    """What a transaction with `payload` takes from its sender's balance besides its fee (an
    unbonding moves bond, not balance; what a transaction credits is not counted)."""
    if isinstance(payload, Transfer | Bond | ChannelTopup):
        return payload.amount
    if isinstance(payload, ChannelOpen):
        return payload.deposit
    return 0


def apply_transaction(state: StateOverlay, tx: Transaction, ctx: BlockContext) -> None:
    """Applies `tx` (signature already verified) or raises `InvalidTransaction`, writing nothing."""
    params = ctx.params
    if tx.chain_id != params.chain_id:
        raise InvalidTransaction(
            f"transaction is for chain {tx.chain_id!r}, not {params.chain_id!r}"
        )
    if tx.fee < params.min_fee:
        raise InvalidTransaction(f"fee {tx.fee} is below the minimum of {params.min_fee}")
    address = tx.sender_address
    account = release_matured(state.account(address), ctx.height)
    if tx.nonce < account.nonce:
        raise InvalidTransaction(f"nonce {tx.nonce} already used (next is {account.nonce})")
    if tx.nonce > account.nonce:
        raise InvalidTransaction(f"nonce gap: got {tx.nonce}, next is {account.nonce}")
    cost = tx.fee + spend_of(tx.payload)
    if account.balance < cost:
        raise InvalidTransaction(
            f"insufficient balance: {account.balance} available, {cost} needed"
        )
    handler = HANDLERS[tx.kind]
    handler(state, tx, account.charged(cost), ctx)


Handler = Callable[[StateOverlay, Transaction, Account, BlockContext], None]

# Kinds that a later height can make invalid without any change to the state they read (a
# channel open's expiry window, a top-up past expiry, the age of evidence): the mempool checks
# them again at every block. CHANNEL_CLOSE depends on the height too, but only the other way:
# once past the settlement grace it stays valid until its channel changes, which the mempool
# sees as a changed key. CHANNEL_SETTLE does not depend on the height at all.
HEIGHT_DEPENDENT_KINDS = frozenset({TxKind.CHANNEL_OPEN, TxKind.CHANNEL_TOPUP, TxKind.EVIDENCE})


def _transfer(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, Transfer)
    state.set_account(tx.sender_address, sender)
    recipient = state.account(payload.recipient)
    state.set_account(payload.recipient, recipient.with_balance(recipient.balance + payload.amount))


def _bond(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, Bond)
    if sender.bond and sender.vrf_public_key != payload.vrf_public_key:
        raise InvalidTransaction("a bonded producer keeps its VRF key until fully unbonded")
    total = sender.bond + payload.amount
    if total < ctx.params.min_bond:
        raise InvalidTransaction(f"bond of {total} is below the minimum of {ctx.params.min_bond}")
    try:
        update_producer_set(state, tx.sender_address, bonded=True)
    except ConsensusError as exc:
        raise InvalidTransaction(str(exc)) from None
    state.set_account(
        tx.sender_address, replace(sender, bond=total, vrf_public_key=payload.vrf_public_key)
    )


def _unbond(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, Unbond)
    if payload.amount > sender.bond:
        raise InvalidTransaction(f"cannot unbond {payload.amount}: bond is {sender.bond}")
    remaining = sender.bond - payload.amount
    if 0 < remaining < ctx.params.min_bond:
        raise InvalidTransaction(
            f"remaining bond {remaining} would be below the minimum of {ctx.params.min_bond}"
        )
    if len(sender.unbonding) >= MAX_UNBONDING_ENTRIES:
        raise InvalidTransaction(f"at most {MAX_UNBONDING_ENTRIES} unbondings may be pending")
    entry = Unbonding(payload.amount, ctx.height + ctx.params.unbonding_delay)
    update_producer_set(state, tx.sender_address, bonded=remaining > 0)
    state.set_account(
        tx.sender_address,
        replace(
            sender,
            bond=remaining,
            vrf_public_key=sender.vrf_public_key if remaining else b"",
            unbonding=(*sender.unbonding, entry),
        ),
    )


def _relay_register(
    state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext
) -> None:
    payload = tx.payload
    assert isinstance(payload, RelayRegister)
    address = tx.sender_address
    if state.relay(address) is not None:
        raise InvalidTransaction("this account is already a registered relay; use RELAY_UPDATE")
    state.set_account(address, sender)
    state.set_relay(address, RelayRecord(tx.sender, payload.offer, ctx.height))


def _relay_update(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, RelayUpdate)
    address = tx.sender_address
    record = state.relay(address)
    if record is None:
        raise InvalidTransaction("this account is not a registered relay")
    state.set_account(address, sender)
    state.set_relay(address, replace(record, offer=payload.offer))


def _relay_retire(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    assert isinstance(tx.payload, RelayRetire)
    address = tx.sender_address
    if state.relay(address) is None:
        raise InvalidTransaction("this account is not a registered relay")
    state.set_account(address, sender)
    state.set_relay(address, None)


def _channel_open(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, ChannelOpen)
    relay = state.relay(payload.relay)
    if relay is None:
        raise InvalidTransaction(f"{payload.relay} is not a registered relay")
    if payload.tier >= len(relay.offer.prices_per_gib):
        raise InvalidTransaction(f"the relay offers no tier {payload.tier}")
    if payload.relay == tx.sender_address:
        raise InvalidTransaction("a relay cannot open a channel to itself")
    latest = ctx.height + ctx.params.max_channel_blocks
    if not ctx.height < payload.expiry_height <= latest:
        raise InvalidTransaction(f"expiry height must be within {ctx.height + 1}..{latest}")
    state.set_account(tx.sender_address, sender)
    channel = Channel(
        client_public_key=tx.sender,
        relay=payload.relay,
        deposit=payload.deposit,
        paid=0,
        settled_bytes=0,
        tier=payload.tier,
        client_tunnel_key=payload.client_tunnel_key,
        open_height=ctx.height,
        expiry_height=payload.expiry_height,
    )
    state.set_channel(channel_id_of(tx.sender, tx.nonce), channel)


def _open_channel_of_client(state: StateOverlay, tx: Transaction, channel_id: bytes) -> Channel:
    channel = state.channel(channel_id)
    if channel is None:
        raise InvalidTransaction(f"no open channel {channel_id.hex()}")
    if channel.client_public_key != tx.sender:
        raise InvalidTransaction("only the channel's client may do this")
    return channel


def _channel_topup(
    state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext
) -> None:
    payload = tx.payload
    assert isinstance(payload, ChannelTopup)
    channel = _open_channel_of_client(state, tx, payload.channel_id)
    if ctx.height >= channel.expiry_height:
        raise InvalidTransaction("the channel has expired")
    state.set_account(tx.sender_address, sender)
    state.set_channel(
        payload.channel_id, replace(channel, deposit=channel.deposit + payload.amount)
    )


def _channel_settle(
    state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext
) -> None:
    payload = tx.payload
    assert isinstance(payload, ChannelSettle)
    receipt = payload.receipt
    channel = state.channel(receipt.channel_id)
    if channel is None:
        raise InvalidTransaction(f"no open channel {receipt.channel_id.hex()}")
    if tx.sender_address != channel.relay:
        raise InvalidTransaction("only the channel's relay may settle it")
    if receipt.chain_id != ctx.params.chain_id:
        raise InvalidTransaction("the receipt is for another chain")
    if not receipt.verify(channel.client_public_key):
        raise InvalidTransaction("the receipt is not signed by the channel's client")
    if receipt.cumulative_amount > channel.deposit:
        raise InvalidTransaction(
            f"receipt amount {receipt.cumulative_amount} exceeds the deposit {channel.deposit}"
        )
    if receipt.cumulative_amount <= channel.paid:
        raise InvalidTransaction(
            f"receipt amount {receipt.cumulative_amount} is not above the {channel.paid} paid"
        )
    if receipt.cumulative_bytes < channel.settled_bytes:
        raise InvalidTransaction("receipt bytes are below what was already settled")
    delta = receipt.cumulative_amount - channel.paid
    fee = ctx.params.developer_fee(delta)
    relay_address = tx.sender_address
    state.set_account(relay_address, sender.with_balance(sender.balance + delta - fee))
    fund = state.account(ctx.params.developer_fund)
    state.set_account(ctx.params.developer_fund, fund.with_balance(fund.balance + fee))
    epoch = epoch_of(ctx.slot, ctx.params)
    credit = add_bandwidth_credit(state, relay_address, delta, epoch)
    record_earning(state, relay_address, credit.earned, epoch)
    state.set_channel(
        receipt.channel_id,
        replace(channel, paid=receipt.cumulative_amount, settled_bytes=receipt.cumulative_bytes),
    )


def _channel_close(
    state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext
) -> None:
    payload = tx.payload
    assert isinstance(payload, ChannelClose)
    channel = _open_channel_of_client(state, tx, payload.channel_id)
    # The grace period after expiry belongs to the relay: its last settle can still be mined,
    # so a close can never overtake it (docs/ledger.md §Channels and the settlement grace).
    first_height = ctx.params.channel_closable_height(channel.expiry_height)
    if ctx.height < first_height:
        raise InvalidTransaction(
            f"the channel can be closed from height {first_height} (expiry height "
            f"{channel.expiry_height} plus a settlement grace of "
            f"{ctx.params.settlement_grace_blocks} blocks), now {ctx.height}"
        )
    refund = channel.deposit - channel.paid
    state.set_account(tx.sender_address, sender.with_balance(sender.balance + refund))
    state.set_channel(payload.channel_id, None)


def _evidence(state: StateOverlay, tx: Transaction, sender: Account, ctx: BlockContext) -> None:
    payload = tx.payload
    assert isinstance(payload, Evidence)
    first, second = payload.first, payload.second
    if first.producer != second.producer:
        raise InvalidTransaction("the two headers have different producers")
    if first.slot != second.slot:
        raise InvalidTransaction("the two headers are for different slots")
    if first.hash == second.hash:
        raise InvalidTransaction("the two headers are the same header")
    if not (first.has_valid_signature() and second.has_valid_signature()):
        raise InvalidTransaction("a header of the evidence is not signed by its producer")
    # Within the unbonding delay the stake held at the time of the offence is still locked
    # (a block takes at least one slot); older evidence could hit stake bonded afterwards.
    if first.slot + ctx.params.unbonding_delay < ctx.slot:
        raise InvalidTransaction("the evidence is older than the unbonding delay")
    offender = Address.from_public_key(first.producer)
    slash_key = state_key(Namespace.SLASH, offender.raw + first.slot.to_bytes(8, "big"))
    if state.record(slash_key, SlashRecord.decode) is not None:
        raise InvalidTransaction("this equivocation was already punished")
    account = state.account(offender) if offender != tx.sender_address else sender
    slashed = account.bond + account.unbonding_total
    if not slashed:
        raise InvalidTransaction(f"{offender} holds no stake to slash")
    reward = slashed * EVIDENCE_REWARD_BPS // BASIS_POINTS
    state.set_account(tx.sender_address, sender)
    offender_account = state.account(offender)
    state.set_account(offender, replace(offender_account, bond=0, unbonding=(), vrf_public_key=b""))
    update_producer_set(state, offender, bonded=False)
    reporter = state.account(tx.sender_address)
    state.set_account(tx.sender_address, reporter.with_balance(reporter.balance + reward))
    state.set_record(slash_key, SlashRecord(ctx.height, slashed))
    totals = state.totals()
    state.set_totals(replace(totals, burned=totals.burned + slashed - reward))


HANDLERS: dict[TxKind, Handler] = {
    TxKind.TRANSFER: _transfer,
    TxKind.BOND: _bond,
    TxKind.UNBOND: _unbond,
    TxKind.RELAY_REGISTER: _relay_register,
    TxKind.RELAY_UPDATE: _relay_update,
    TxKind.RELAY_RETIRE: _relay_retire,
    TxKind.CHANNEL_OPEN: _channel_open,
    TxKind.CHANNEL_TOPUP: _channel_topup,
    TxKind.CHANNEL_SETTLE: _channel_settle,
    TxKind.CHANNEL_CLOSE: _channel_close,
    TxKind.EVIDENCE: _evidence,
}


def apply_block_rewards(state: StateOverlay, ctx: BlockContext, fees: int) -> None:
    """Mints the block reward (split producer / bandwidth pool / fund) and pays the fees.

    The pool part waits in `ChainTotals.bandwidth_pool` until the first block of a later epoch
    pays it to the relays (`bandwidth_pool.pay_bandwidth_pool`)."""
    producer_part, pool_part, developer_part = ctx.params.reward_split()
    producer = state.account(ctx.producer)
    state.set_account(ctx.producer, producer.with_balance(producer.balance + producer_part + fees))
    if developer_part:
        fund = state.account(ctx.params.developer_fund)
        state.set_account(
            ctx.params.developer_fund, fund.with_balance(fund.balance + developer_part)
        )
    totals = state.totals()
    state.set_totals(
        ChainTotals(
            minted=totals.minted + ctx.params.block_reward,
            bandwidth_pool=totals.bandwidth_pool + pool_part,
            burned=totals.burned,
        )
    )
