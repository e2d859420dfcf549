"""The wallet and `pacata-vpn` end to end, as a user runs them: separate processes against a
real `pacatad --devnet` (issue 16's first Must-show line).

A wallet is made from scratch and funded from a devnet account; it sends to a second wallet
named in the address book; both sides' history and balances are exact to the base unit; a
channel is opened to a relay, followed, and closed after its expiry, its deposit refunded; a
bond and an unbond go through; every command run with `--json` prints one JSON document; bad
input is one line on standard error and changes nothing. Every wait polls with a deadline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key, devnet_vrf_public_key
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import RelayOffer, RelayRegister, Transaction, make_transaction
from pacata.chain.transitions import channel_id_of
from pacata.testing.cli_runner import CliRunner
from pacata.testing.node_process import NodeProcess, free_port

pytestmark = pytest.mark.slow

CHAIN_ID = "pacata-devnet-1"
FAUCET = 5  # a devnet account that neither produces nor relays here
RELAY = 3
DEADLINE_S = 60.0


def _balance(devnet: NodeProcess, address: str) -> int:
    found = devnet.get(f"/api/accounts/{address}")
    return 0 if found.get("status") == 404 else int(found["balance"])


def _wait_height(devnet: NodeProcess, height: int) -> None:
    devnet.wait_for(
        f"height {height}",
        lambda: devnet.status()["height"] >= height or None,
        deadline_s=DEADLINE_S,
    )


def _register_relay(devnet: NodeProcess) -> str:
    """A relay's offer, registered by the relay (another user: its own signed transaction)."""
    key = devnet_key(RELAY)
    offer = RelayOffer(bytes(range(32)), ("127.0.0.1:51820",), (UNITS_PER_PAC // 10,), (0,))
    account = devnet.get(f"/api/accounts/{key.address}")
    tx = make_transaction(key, CHAIN_ID, account["pending_nonce"], 1_000, RelayRegister(offer))
    txid = devnet.submit(tx)
    devnet.wait_for("the relay's offer", lambda: devnet.confirmed(txid) or None, DEADLINE_S)
    return str(key.address)


def test_a_user_from_scratch(devnet: NodeProcess, tmp_path: Path) -> None:
    cli = CliRunner(tmp_path / "home", devnet.base)
    n, s = cli.node(), cli.secret()

    # A wallet from scratch, another for the faucet, one for the payee.
    created = cli.json("wallet", "create", "alice", *s)
    alice = created["accounts"][0]["address"]
    assert len(created["mnemonic"].split()) == 24
    faucet = cli.json("wallet", "import", "faucet", "--devnet-account", str(FAUCET), *s)
    assert faucet["accounts"][0]["address"] == str(devnet_key(FAUCET).address)
    bob = cli.json("wallet", "create", "bob", "--words", "12", *s)["accounts"][0]["address"]
    cli.json("contacts", "add", "bob", bob)
    assert cli.json("contacts", "list")["contacts"] == [{"name": "bob", "address": bob}]
    listed = cli.json("wallet", "list")
    assert [w["name"] for w in listed["wallets"]] == ["alice", "bob", "faucet"]
    assert cli.json("wallet", "show", "alice")["accounts"][0]["address"] == alice

    # Fund it.
    faucet_before = _balance(devnet, faucet["accounts"][0]["address"])
    funding = cli.json(
        "wallet", "send", "alice", "1250", "--wallet", "faucet", "--yes", "--wait", *s, *n
    )
    assert funding["status"] == "confirmed" and funding["payload"]["amount"] == 125_000_000_000
    assert _balance(devnet, alice) == 125_000_000_000
    assert _balance(devnet, faucet["accounts"][0]["address"]) == (
        faucet_before - 125_000_000_000 - funding["fee"]
    )

    # Send to a contact, with a dry run first that sends nothing.
    dry = cli.json("wallet", "send", "bob", "2.25", "--wallet", "alice", "--dry-run", *s, *n)
    assert dry["dry_run"] and "txid" not in dry
    assert _balance(devnet, bob) == 0
    sent = cli.json("wallet", "send", "bob", "2.25", "--wallet", "alice", "--yes", "--wait", *s, *n)
    assert sent["fee"] == dry["fee"] and sent["nonce"] == dry["nonce"] == 0
    assert _balance(devnet, bob) == 225_000_000
    alice_after_send = 125_000_000_000 - 225_000_000 - sent["fee"]
    assert _balance(devnet, alice) == alice_after_send

    # Both sides' balances and history, exact.
    balances = cli.json("wallet", "balance", *n)
    by_address = {a["address"]: a["balance"] for a in balances["accounts"]}
    assert by_address[alice] == alice_after_send and by_address[bob] == 225_000_000
    history = cli.json("wallet", "history", "alice", *n)
    changes = {t["txid"]: t["change"] for t in history["transactions"]}
    assert changes == {funding["txid"]: 125_000_000_000, sent["txid"]: -(225_000_000 + sent["fee"])}
    assert [t["txid"] for t in history["transactions"]] == [sent["txid"], funding["txid"]]
    bob_history = cli.json("wallet", "history", "bob", *n)["transactions"]
    assert [(t["txid"], t["change"], t["counterparty"]) for t in bob_history] == [
        (sent["txid"], 225_000_000, alice)
    ]

    # A channel: opened to a relay, listed, closed after expiry and grace, refunded.
    relay = _register_relay(devnet)
    assert relay in {r["address"] for r in cli.json("relay", "list", *n)["relays"]}
    opened = cli.json(
        "channel", "open", relay, "--deposit", "3", "--blocks", "15",
        "--tunnel-key", "11" * 32, "--wallet", "alice", "--yes", "--wait", *s, *n,
    )  # fmt: skip
    sender = Transaction.decode(bytes.fromhex(opened["transaction"])).sender
    channel_id = opened["channel_id"]
    assert channel_id == channel_id_of(sender, opened["nonce"]).hex()
    listing = cli.json("channel", "list", "--wallet", "alice", *n)["channels"]
    assert [(c["channel_id"], c["status"], c["deposit"]) for c in listing] == [
        (channel_id, "open", 300_000_000)
    ]
    topped = cli.json("channel", "topup", channel_id[:12], "0.5", "--yes", "--wait", *s, *n)
    assert topped["payload"]["amount"] == 50_000_000
    [channel] = cli.json("channel", "list", "--wallet", "alice", *n)["channels"]
    assert channel["deposit"] == 350_000_000
    expiry = opened["payload"]["expiry_height"]
    refused = cli.run("channel", "close", channel_id[:12], "--yes", *s, *n)
    assert refused.status == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert listing[0]["closable_height"] == expiry + 10 + 1  # the devnet's grace: 10 blocks
    assert "can be closed from block" in refused.stderr
    _wait_height(devnet, listing[0]["closable_height"] - 1)
    closed = cli.json("channel", "close", channel_id[:12], "--yes", "--wait", *s, *n)
    assert closed["status"] == "confirmed"
    listing = cli.json("channel", "list", "--wallet", "alice", *n)["channels"]
    assert [(c["channel_id"], c["status"]) for c in listing] == [(channel_id, "closed")]
    # The whole deposit comes back (the relay was paid nothing): only the fees are spent.
    alice_after_channel = alice_after_send - opened["fee"] - topped["fee"] - closed["fee"]
    assert _balance(devnet, alice) == alice_after_channel

    # Stake: bond and unbond.
    vrf = devnet_vrf_public_key(4).hex()
    bonded = cli.json(
        "stake", "bond", "1000", "--vrf-public-key", vrf, "--wallet", "alice", "--yes", "--wait",
        *s, *n,
    )  # fmt: skip
    unbonded = cli.json("stake", "unbond", "1000", "--wallet", "alice", "--yes", "--wait", *s, *n)
    account = devnet.get(f"/api/accounts/{alice}")
    assert account["bond"] == 0 and account["unbonding_total"] == 100_000_000_000
    assert account["balance"] == (
        alice_after_channel - 100_000_000_000 - bonded["fee"] - unbonded["fee"]
    )

    # The rest of the commands, each with --json.
    status = cli.json("status", *n)
    assert status["node"]["chain_id"] == CHAIN_ID and status["vpn"] is None
    assert {w["address"] for w in status["wallets"]} == {
        alice,
        bob,
        faucet["accounts"][0]["address"],
    }
    exported = cli.json("wallet", "export", "alice", "--yes", *s)
    assert exported["mnemonic"] == created["mnemonic"]
    added = cli.json("wallet", "add-account", "alice", "--label", "savings", *s)
    assert [a["index"] for a in added["accounts"]] == [0, 1]
    config = cli.json(
        "config", "setup", "--non-interactive", "--yes", "--no-vpn",
        "--config", str(tmp_path / "pacatad.toml"),
    )  # fmt: skip
    assert config["settings"]["devnet"] is True
    assert (tmp_path / "pacatad.toml").read_text().startswith("devnet = true")
    assert cli.json("contacts", "remove", "bob") == {"removed": "bob"}
    assert cli.json("contacts", "list")["contacts"] == []


def test_bad_input_is_one_line_and_changes_nothing(devnet: NodeProcess, tmp_path: Path) -> None:
    cli = CliRunner(tmp_path / "home", devnet.base)
    n, s = cli.node(), cli.secret()
    cli.json("wallet", "import", "faucet", "--devnet-account", str(FAUCET), *s)
    faucet = str(devnet_key(FAUCET).address)
    before = _balance(devnet, faucet)
    files_before = _snapshot(cli.wallet_dir)
    down = ("--node", f"127.0.0.1:{free_port()}")
    cases = {
        "an invalid address": ("wallet", "send", "pac1notanaddress", "1", *s, *n),
        "9 decimals": ("wallet", "send", str(devnet_key(1).address), "0.123456789", *s, *n),
        "a negative amount": ("wallet", "send", "faucet", "-1", *s, *n),
        "an unknown wallet": ("wallet", "send", "faucet", "1", "--wallet", "nobody", *s, *n),
        "an unknown wallet shown": ("wallet", "show", "nobody"),
        "a node that is down": (
            "wallet",
            "send",
            str(devnet_key(1).address),
            "1",
            "--yes",
            *s,
            *down,
        ),
        "a wrong passphrase": ("wallet", "export", "faucet", "--yes", "--passphrase-file", "-"),
    }
    reasons = {}
    for name, arguments in cases.items():
        result = cli.run(*arguments, stdin="not the passphrase\n")
        assert result.status != 0, name
        assert result.stdout == "", (name, result.stdout)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, (
            name,
            result.stderr,
        )
        reasons[name] = result.stderr
    assert "is not a pac1 address" in reasons["an invalid address"]
    assert "negative" in reasons["a negative amount"]
    assert "decimals" in reasons["9 decimals"]
    assert (
        "nobody" in reasons["an unknown wallet"] and "nobody" in reasons["an unknown wallet shown"]
    )
    assert "cannot reach the node" in reasons["a node that is down"]
    assert "wrong passphrase" in reasons["a wrong passphrase"]
    assert _balance(devnet, faucet) == before
    assert _snapshot(cli.wallet_dir) == files_before


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}
