"""The balances of the wallets' accounts, as the node has them: for `status`, `wallet balance`
and the shell's status line. An account the chain has never paid has a balance of 0 (the node
answers 404 for it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_text

if TYPE_CHECKING:
    from rich.console import Console

    from pacata.rpc import AccountInfo, SyncNodeClient
    from pacata.wallet import DamagedWallet, WalletInfo


@dataclass(frozen=True, slots=True)
class AccountBalance:
    wallet: str
    index: int
    label: str
    address: Address
    balance: int
    bond: int
    unbonding: int
    nonce: int
    pending_nonce: int


def account_on_chain(client: SyncNodeClient, address: Address) -> AccountInfo | None:
    """The account at `address` as the node has it; None for one the chain never paid (the
    node answers 404)."""
    from pacata.rpc import RpcNotFound

    try:
        return client.account(address)
    except RpcNotFound:
        return None


def account_balance(
    client: SyncNodeClient, wallet: str, index: int, label: str, address: Address
) -> AccountBalance:
    found = account_on_chain(client, address)
    if found is None:
        return AccountBalance(wallet, index, label, address, 0, 0, 0, 0, 0)
    return AccountBalance(
        wallet,
        index,
        label,
        address,
        found.balance,
        found.bond,
        found.unbonding_total,
        found.nonce,
        found.pending_nonce,
    )


def balances_of(client: SyncNodeClient, wallets: Sequence[WalletInfo]) -> list[AccountBalance]:
    return [
        account_balance(client, info.name, entry.index, entry.label, entry.address)
        for info in wallets
        for entry in info.accounts
    ]


def print_balances(
    out: Console, balances: Sequence[AccountBalance], damaged: Sequence[DamagedWallet] = ()
) -> None:
    for wallet in damaged:
        out.print(f"wallet  {wallet.name}: cannot be read: {wallet.reason}")
    if not balances and not damaged:
        out.print("wallet  none here: `pacata-vpn wallet create NAME` makes one")
        return
    for entry in balances:
        staked = ""
        if entry.bond or entry.unbonding:
            staked = f", bonded {pac_text(entry.bond)}, unbonding {pac_text(entry.unbonding)}"
        out.print(
            f"wallet  {entry.wallet}/{entry.index} {entry.address}: "
            f"{pac_text(entry.balance)} PAC{staked}"
        )
