"""Which payments the shell tells about (pacata/cli/payment_alerts.py): a first look is silent,
then each confirmed transfer to the account is told once; a page with nothing seen asks for the
older ones."""

from __future__ import annotations

from pacata.chain.devnet import devnet_key
from pacata.chain.transactions import Transaction, Transfer, Unbond
from pacata.cli.payment_alerts import PaymentAlerts
from pacata.rpc import AddressTransaction

ME, OTHER = devnet_key(1), devnet_key(2)


def _item(nonce: int, *, to_me: bool = True, confirmed: bool = True) -> AddressTransaction:
    payload = Transfer(ME.address if to_me else OTHER.address, 5) if nonce % 7 else Unbond(1)
    sender = OTHER if to_me else ME
    tx = Transaction("pacata-devnet-1", sender.public_key, nonce, 1_000, payload).signed(sender)
    return AddressTransaction(
        tx.txid, "confirmed" if confirmed else "pending", tx, height=nonce if confirmed else None
    )


def test_the_first_look_is_silent_then_each_payment_is_told_once() -> None:
    alerts = PaymentAlerts()
    old = [_item(1), _item(2)]
    assert alerts.arrived(ME.address, old) == []
    assert not alerts.wants_older(ME.address, old)
    new, pending, sent = _item(3), _item(4, confirmed=False), _item(5, to_me=False)
    assert alerts.arrived(ME.address, [new, pending, sent, *old]) == [new]
    assert alerts.arrived(ME.address, [new, *old]) == []
    # The pending one, once confirmed, is news.
    confirmed = _item(4)
    assert alerts.arrived(ME.address, [confirmed, new]) == [confirmed]


def test_a_page_with_nothing_seen_asks_for_older_ones() -> None:
    alerts = PaymentAlerts()
    alerts.arrived(ME.address, [_item(1)])
    burst = [_item(n) for n in range(30, 20, -1)]
    assert alerts.wants_older(ME.address, burst)
    assert not alerts.wants_older(ME.address, [*burst, _item(1)])
    told = alerts.arrived(ME.address, [*burst, _item(1)])
    assert [i.txid for i in told] == [
        i.txid for i in burst if isinstance(i.transaction.payload, Transfer)
    ]


def test_each_account_has_its_own_first_look() -> None:
    alerts = PaymentAlerts()
    alerts.arrived(ME.address, [_item(1)])
    # An account added later: what it received before is not news.
    assert alerts.arrived(OTHER.address, [_item(9, to_me=False)]) == []
