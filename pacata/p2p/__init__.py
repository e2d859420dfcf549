"""Peer-to-peer networking: node records, the TLS peer transport, gossip, sync, peers (TCP side),
and the Kademlia DHT, STUN and NAT traversal (UDP side). docs/p2p.md describes the protocols."""
