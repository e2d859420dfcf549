"""The DHT's parameters: k and α, the timeouts and intervals on `now`, and every bound.

One frozen value shared by the parts of a `DhtNode`; the rules that use each field are in the
module that applies it (`routing`, `lookups`, `storage`, `requests`, `node`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DhtConfig:
    bucket_size: int = 16  # k
    parallelism: int = 3  # α
    request_timeout: float = 1.0
    request_retries: int = 1  # retransmissions of a PING or STORE
    max_failures: int = 2
    record_ttl: float = 3600.0
    republish_interval: float = 1800.0
    refresh_interval: float = 900.0
    maintenance_interval: float = 60.0
    max_records: int = 4096
    max_replacements: int = 8
    max_lookups: int = 64
    max_refreshes_per_round: int = 4
    max_replications_per_contact: int = 32
    refresh_queries: int = 6  # a bucket refresh asks this many nodes, not a full lookup
    request_rate: float = 20.0  # requests a second from one host, sustained
    request_burst: float = 100.0
    store_rate: float = 1.0
    store_burst: float = 20.0
    max_tracked_hosts: int = 1024

    def __post_init__(self) -> None:
        if self.bucket_size < 1 or self.parallelism < 1 or self.request_timeout <= 0:
            raise ValueError("k, α and the request timeout must be positive")
