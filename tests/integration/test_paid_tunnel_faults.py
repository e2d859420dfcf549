"""Paid tunnels when things go wrong: a client that stops paying, bad receipts, bad settles and
closes, and a relay killed mid-session (pacata/testing/paid_lab.py; real pacatads in namespaces).

1. A stock WireGuard client (`wireguard-go`) whose channel a script opened, and which pays
   through a scripted peer (`python -m pacata.testing.receipt_client`): unpaid, the relay
   sends it at most the credit window, holds it, then drops its peer after the grace;
   forged, over-the-deposit, other-channel and lowered receipts are refused; a good one is
   acknowledged and brings the peer back. A settle above the deposit and a close before expiry
   plus grace are refused by the mempool, and the ledger does not move.
2. The relay is killed with SIGKILL after acknowledging receipts it has not settled yet (the
   price is so low that the fee rule never asks for a settle); restarted, it settles them.

Every wait polls a condition with a deadline; every process and namespace goes in `finally`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import ChannelClose, ChannelOpen, ChannelSettle, Transaction
from pacata.chain.transitions import channel_id_of
from pacata.testing.netns_lab import UNDERLAY, missing_requirements
from pacata.testing.paid_lab import RELAY_ACCOUNT, RELAY_PORT, PaidTunnelLab
from pacata.vpn.channels import CreditPolicy, amount_for_bytes

pytestmark = [pytest.mark.slow, pytest.mark.root]

# Dear enough that the good receipt's amount passes the relay's fee rule and is settled.
PRICE_PER_GIB = 10 * UNITS_PER_PAC
DEPOSIT = UNITS_PER_PAC
MTU_SLACK = 2 * 1500


def _skip_without_tools() -> None:
    missing = missing_requirements()
    if missing is not None:
        pytest.skip(missing)


def test_an_unpaid_client_is_held_then_dropped_and_bad_input_changes_nothing(
    tmp_path: Path,
) -> None:
    _skip_without_tools()
    params = {"settlement_grace_blocks": 5}
    with PaidTunnelLab(tmp_path, chain_id="pacata-paid-faults-1", genesis_params=params) as paid:
        try:
            _unpaid_client(paid)
        except AssertionError:
            print(paid.logs())
            raise


def _unpaid_client(paid: PaidTunnelLab) -> None:
    lab, relay, producer = paid.lab, paid.relay, paid.producer
    chain = paid.params
    paid.register_relay([PRICE_PER_GIB])
    payer = devnet_key(3)
    stranger = paid.stranger()
    namespace = lab.namespaces[1]
    expiry = producer.status()["height"] + 300
    opening = ChannelOpen(RELAY_ACCOUNT.address, DEPOSIT, 0, stranger.public_key, expiry)
    producer.submit(
        Transaction(chain.chain_id, payer.public_key, 0, chain.min_fee, opening).signed(payer)
    )
    channel = channel_id_of(payer.public_key, 0)
    relay.wait_for("the client admitted", lambda: paid.is_up(relay, channel.hex()))
    assert lab.ping(1, paid.relay_overlay, count=3, interval=0.2).received >= 2

    # Unpaid, 480 KB of pings at once: the relay answers no more than the credit window.
    flood = subprocess.run(
        ["ip", "netns", "exec", namespace, "ping", "-n", "-q", "-s", "1200", "-i", "0.005",
         "-c", "400", "-W", "1", paid.relay_overlay],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "400 packets transmitted" in flood.stdout, flood.stdout + flood.stderr
    client_key = stranger.public_key_base64

    def relay_peers() -> list[str]:
        return paid.relay_wg("peers").split()

    def relay_counters() -> tuple[int, int]:
        for line in paid.relay_wg("transfer").splitlines():
            key, rx, tx = line.split()
            if key == client_key:
                return int(rx), int(tx)
        return (0, 0)

    rx, tx = relay_counters()
    window = CreditPolicy().initial_window_bytes
    # What the client received unpaid: at most the window (the relay's counters include
    # what the client sent and the relay refused at the budget: the client counts those too).
    assert tx <= window + MTU_SLACK, (rx, tx)
    assert tx < 400 * 1200 // 2  # most of the flood went unanswered

    # Held at the budget, then dropped once the grace (10 s) has passed.
    relay.wait_for(
        "the unpaid client dropped",
        lambda: client_key not in relay_peers(),
        deadline_s=30.0,
    )

    # Receipts: bad ones refused, a good one acknowledged, a lower one refused after it.
    counted = sum(
        int(value)
        for value in lab.wg(stranger, "show", stranger.interface, "transfer").split()[1:3]
    )
    amount = amount_for_bytes(counted, PRICE_PER_GIB)
    good = Receipt(chain.chain_id, channel, counted, amount).signed(payer)
    offers = [
        Receipt(chain.chain_id, channel, counted, amount).signed(devnet_key(4)),
        Receipt(chain.chain_id, channel, counted, DEPOSIT + 1).signed(payer),
        Receipt(chain.chain_id, bytes(32), counted, amount).signed(payer),
        good,
        Receipt(chain.chain_id, channel, counted, amount - 1).signed(payer),
    ]
    answers = _offer(paid, offers)
    assert [a["answer"] for a in answers] == ["nack", "nack", "nack", "ack", "nack"], answers
    assert answers[0]["reason"] == "bad-signature"
    assert answers[1]["reason"] == "above-deposit"
    assert answers[2]["reason"] == "unknown-channel"
    assert answers[3]["amount"] == amount
    assert answers[4]["reason"] == "amount-lower"

    # Paid up: the peer is back and the tunnel carries again (the relay handshakes first).
    relay.wait_for(
        "the client restored",
        lambda: client_key in relay_peers(),
    )
    relay.wait_for(
        "a ping through the restored tunnel",
        lambda: lab.ping(1, paid.relay_overlay, count=1, interval=0.2).received == 1,
    )
    # The relay settles the good receipt: the fee is a small share of it.
    producer.wait_for(
        "the good receipt settled",
        lambda: (t := paid.tunnel(relay, channel.hex())) is not None and t["paid"] == amount,
        deadline_s=60.0,
    )

    # The mempool refuses a settle above the deposit and a close before expiry plus grace,
    # and the ledger stays as it was.
    before = (paid.balance(str(payer.address)), paid.balance(paid.relay_address))
    _, relay_nonce = before[1]
    over = Receipt(chain.chain_id, channel, counted, DEPOSIT + 1).signed(payer)
    settle = Transaction(
        chain.chain_id, RELAY_ACCOUNT.public_key, relay_nonce, chain.min_fee, ChannelSettle(over)
    ).signed(RELAY_ACCOUNT)
    close = Transaction(
        chain.chain_id, payer.public_key, 1, chain.min_fee, ChannelClose(channel)
    ).signed(payer)
    refused = [producer.request("POST", "/api/txs", {"tx": tx.encode().hex()})
               for tx in (settle, close)]  # fmt: skip
    assert refused[0]["status"] == 400 and "exceeds the deposit" in refused[0]["error"]
    assert refused[1]["status"] == 400 and "can be closed from height" in refused[1]["error"]
    height = producer.status()["height"]
    producer.wait_for("two more blocks", lambda: producer.status()["height"] >= height + 2)
    assert (paid.balance(str(payer.address)), paid.balance(paid.relay_address)) == before
    assert paid.tunnel(relay, channel.hex())["paid"] == amount


def _offer(paid: PaidTunnelLab, receipts: list[Receipt]) -> list[dict[str, Any]]:
    """The relay's answers to `receipts`, offered by a scripted peer in the client's namespace."""
    status = paid.producer.status()
    result = subprocess.run(
        ["ip", "netns", "exec", paid.lab.namespaces[1], sys.executable,
         "-m", "pacata.testing.receipt_client", f"{UNDERLAY[0]}:{RELAY_PORT}",
         status["chain_id"], status["genesis"], *(r.encode().hex() for r in receipts)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_relay_killed_mid_session_settles_every_receipt_it_acknowledged(
    tmp_path: Path,
) -> None:
    _skip_without_tools()
    # So cheap that the fee rule never asks for a settle: nothing is settled before the kill.
    price = UNITS_PER_PAC // 100
    with PaidTunnelLab(tmp_path, chain_id="pacata-paid-kill-1") as paid:
        try:
            paid.register_relay([price])
            channel = paid.open_channel(deposit=DEPOSIT, blocks=300)
            paid.wait_up(channel)
            sent, received, count = paid.lab.transfer(1, paid.relay_overlay, 20_000_000)
            assert sent == received and count == 20_000_000

            def acknowledged() -> int | None:
                tunnel = paid.tunnel(paid.client, channel)
                counted = None if tunnel is None else tunnel["counted_bytes"]
                if tunnel is None or counted is None or counted < 20_000_000:
                    return None
                return int(tunnel["acknowledged"]) or None

            acked = paid.client.wait_for("the relay's acknowledgement", acknowledged)
            assert paid.tunnel(paid.relay, channel)["paid"] == 0  # nothing settled yet
            paid.restart_relay(kill=True)
            paid.producer.wait_for(
                "every acknowledged receipt settled",
                lambda: (t := paid.tunnel(paid.relay, channel)) is not None and t["paid"] >= acked,
                deadline_s=60.0,
            )
            assert acked >= amount_for_bytes(20_000_000, price)
        except AssertionError:
            print(paid.logs())
            raise
