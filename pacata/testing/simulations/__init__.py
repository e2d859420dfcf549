"""Deterministic simulations of many nodes running the real sans-I/O cores, for tests and
benchmarks: block producers (`producer`), transaction gossip (`gossip`), the DHT (`dht`).

Each is a function of its seed: time is virtual, nothing reads a clock or opens a socket.
"""
