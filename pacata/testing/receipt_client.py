"""A scripted payer: offers receipts to a relay over the peer link and prints its answers.

    python -m pacata.testing.receipt_client HOST:PORT CHAIN_ID GENESIS_HASH RECEIPT_HEX...

It connects to the relay's peer port as a node of its own (a fresh node key, TLS and the hello
of the real protocol: `protocol_client.py`), sends each receipt in a `ReceiptOffer` of the
"vpn/receipts" sub-protocol, and prints one JSON line per answer: `{"answer": "ack",
"amount": …}` or `{"answer": "nack", "reason": …}`. Tests run it inside a network namespace to
pay (or fail to pay) as a client whose tunnel is a stock WireGuard peer. Exit status 0 after
all the answers, 1 if the relay closed the link first, 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.p2p.connection import ConnectionClosed
from pacata.p2p.messages import Extension
from pacata.testing.protocol_client import ProtocolClient
from pacata.vpn.channels import (
    SUBPROTOCOL_NAME,
    ReceiptAck,
    ReceiptNack,
    ReceiptOffer,
    decode_message,
)


async def offer(address: str, chain_id: str, genesis: bytes, receipts: list[Receipt]) -> int:
    host, _, port = address.rpartition(":")
    client = await ProtocolClient.connect(
        host.strip("[]"), int(port), key=PrivateKey.generate(), chain_id=chain_id,
        genesis_hash=genesis,
    )  # fmt: skip
    try:
        for receipt in receipts:
            client.send(Extension(SUBPROTOCOL_NAME, ReceiptOffer(receipt).encode_message()))
            while True:
                message = await client.next_message()
                if isinstance(message, ConnectionClosed):
                    return 1
                if not isinstance(message, Extension):
                    continue  # the relay's gossip, its peers
                answer = decode_message(message.payload)
                if isinstance(answer, ReceiptAck):
                    print(json.dumps({"answer": "ack", "amount": answer.cumulative_amount}))
                    break
                if isinstance(answer, ReceiptNack):
                    print(json.dumps({"answer": "nack", "reason": answer.reason}))
                    break
            sys.stdout.flush()
    finally:
        client.close()
    return 0


def main(argv: list[str]) -> int:
    try:
        address, chain_id, genesis_hex, *encoded = argv
        receipts = [Receipt.decode(bytes.fromhex(text)) for text in encoded]
        genesis = bytes.fromhex(genesis_hex)
    except ValueError as exc:
        print(f"usage: HOST:PORT CHAIN_ID GENESIS_HASH RECEIPT_HEX...: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(offer(address, chain_id, genesis, receipts))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
