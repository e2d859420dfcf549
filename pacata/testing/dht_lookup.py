"""A one-shot DHT client: `python -m pacata.testing.dht_lookup HOST:PORT NODE_ID`.

It binds a UDP port of its own with a fresh node key, joins the DHT through the node at
HOST:PORT, looks up NODE_ID's signed record and prints one JSON line: the lookup's hops and
queries and the record found (node id, sequence number, WireGuard key, endpoints), or null.
Tests run it inside a network namespace to reach a node's UDP port the way a stranger would.
Exit status 0 when the record was found, 1 when not, 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pacata.chain.keys import PrivateKey
from pacata.p2p.dht import DhtNode
from pacata.p2p.records import NodeRecord, newer_record_value, validate_record_value
from pacata.p2p.udp_address import normalize_address
from pacata.p2p.udp_endpoint import UdpEndpoint

DEADLINE_S = 10.0


async def lookup(host: str, port: int, node_id: bytes) -> dict[str, Any]:
    dht = DhtNode(PrivateKey.generate(), validate=validate_record_value, newer=newer_record_value)
    endpoint = UdpEndpoint(dht=dht)
    await endpoint.start("0.0.0.0", 0)
    try:
        await asyncio.wait_for(endpoint.bootstrap([normalize_address(host, port)]), DEADLINE_S)
        found = await asyncio.wait_for(endpoint.find_value(node_id), DEADLINE_S)
    finally:
        endpoint.close()
    record = None if found.value is None else NodeRecord.decode(found.value)
    return {
        "hops": found.hops,
        "queries": found.queries,
        "record": None
        if record is None
        else {
            "node_id": record.node_id.hex(),
            "seq": record.seq,
            "wireguard_key": record.wireguard_key.hex(),
            "endpoints": [str(endpoint) for endpoint in record.endpoints],
        },
    }


def main(argv: list[str]) -> int:
    try:
        address, node_id = argv
        host, _, port = address.rpartition(":")
        target = bytes.fromhex(node_id)
        answer = asyncio.run(lookup(host.strip("[]"), int(port), target))
    except ValueError as exc:
        print(
            f"usage: python -m pacata.testing.dht_lookup HOST:PORT NODE_ID ({exc})", file=sys.stderr
        )
        return 2
    print(json.dumps(answer), flush=True)
    return 0 if answer["record"] is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
