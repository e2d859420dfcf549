"""Test support for Pacata and for code built on it (like trio's `testing`): public, and imported
by nothing else in `pacata/` (an import-linter contract holds it).

- `clock`: the one `ManualClock`, for the sans-I/O cores and for the node alike;
- `ledger`, `genesis`, `signatures`, `crash_importer`: chains of real signed blocks, fast;
- `peer_network`, `protocol_client`, `timer_rule`: in-memory peer networks, a scripted peer, the
  timer property of every core;
- `wireguard`: WireGuard devices wired in memory (`Testbed`); `tun`: TUN doubles without root;
  `netns_lab`: real TUN devices, network namespaces and the stock tools (root);
- `node_process`: `pacatad` as a child process, for integration tests and benchmarks;
- `simulations/`: deterministic simulations of many nodes (producers, gossip, the DHT);
- `fuzzing`, `fuzz_targets`, `wire_corpus`, `api_fuzz`: the fuzzers and their corpora.
"""

from pacata.testing.ledger import ChainFactory, devnet_chain

__all__ = ["ChainFactory", "devnet_chain"]
