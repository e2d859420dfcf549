"""A Kademlia DHT node as a sans-I/O state machine (Maymounkov & Mazières 2002; docs/p2p-udp.md).

    node = DhtNode(signer, validate=..., newer=...)
    node.bootstrap(seed_addresses, now)
    node.receive_datagram(data, source, now) -> bool        # False: not a DHT packet
    node.find_node(target, now) / node.find_value(key, now) / node.put(key, value, now) -> id
    node.datagrams_to_send() -> [(datagram, address), ...]
    node.get_timer() -> deadline or None;  node.handle_timer(now)
    node.next_event() -> LookupFinished | PutFinished | BootstrapFinished | None

The parts, each with its rules (§ are the paper's sections):

- `routing`: ids, XOR distance and the k-buckets of contacts (§2.1, §2.2, §4.1).
- `lookups`: the state of an iterative lookup (§2.3).
- `storage`: the records held, their validation, expiry and bound, and republishing (§2.5).
- `requests`: request ids, timeouts, retransmission and the matching of replies.
- `node`: `DhtNode`, which composes them, serves the requests of other nodes, joins the network
  and runs the periodic maintenance; `config` and `events` hold its parameters and its events.
- The datagrams themselves are `pacata/p2p/dht_messages.py`.

No clock and no global randomness anywhere: `now` is the caller's monotonic time in seconds and
every random byte comes from the injected `random_bytes`.
"""

from pacata.p2p.dht.config import DhtConfig
from pacata.p2p.dht.events import BootstrapFinished, DhtEvent, LookupFinished, PutFinished
from pacata.p2p.dht.node import DhtNode
from pacata.p2p.dht.routing import RoutingTable, bucket_index, distance
from pacata.p2p.dht.storage import Newer, Validator
from pacata.p2p.dht_messages import Contact
from pacata.p2p.records import node_id_of

__all__ = [
    "BootstrapFinished",
    "Contact",
    "DhtConfig",
    "DhtEvent",
    "DhtNode",
    "LookupFinished",
    "Newer",
    "PutFinished",
    "RoutingTable",
    "Validator",
    "bucket_index",
    "distance",
    "node_id_of",
]
