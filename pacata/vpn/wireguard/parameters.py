"""The protocol constants of WireGuard (whitepaper §6.1 and §6.4), overridable per device.

The defaults are those of the whitepaper and of the Linux module (`messages.h`, `cookie.h`).
Tests and interop tests shorten them by building a `ProtocolParameters` with other values;
nothing else in the protocol core hard-codes a duration or a message limit.

All durations are seconds on the monotonic clock that the caller passes as `now`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.vpn.wireguard.replay import REJECT_AFTER_MESSAGES


@dataclass(frozen=True, slots=True)
class ProtocolParameters:
    rekey_after_messages: int = 1 << 60
    reject_after_messages: int = REJECT_AFTER_MESSAGES
    rekey_after_time: float = 120.0
    reject_after_time: float = 180.0
    rekey_attempt_time: float = 90.0
    rekey_timeout: float = 5.0
    # A retransmitted or new initiation waits rekey_timeout plus a uniform jitter below this.
    rekey_timeout_jitter: float = 1 / 3
    keepalive_timeout: float = 10.0
    # The responder's cookie secret lives this long; the initiator uses a cookie for this long
    # minus cookie_latency, so that it never sends a mac2 under a secret that just rotated.
    cookie_refresh_time: float = 120.0
    cookie_latency: float = 5.0
    # The responder refuses a second initiation from one peer within 1/this seconds.
    initiations_per_second: int = 50
    # Packets queued per peer while no session key is usable; the oldest are dropped past this.
    max_staged_packets: int = 128

    def __post_init__(self) -> None:
        if not 0 < self.rekey_after_messages < self.reject_after_messages <= REJECT_AFTER_MESSAGES:
            raise ValueError(
                f"need 0 < rekey_after_messages < reject_after_messages <= {REJECT_AFTER_MESSAGES}"
            )
        if not 0 < self.rekey_after_time < self.reject_after_time:
            raise ValueError("need 0 < rekey_after_time < reject_after_time")
        positive = {
            "rekey_attempt_time": self.rekey_attempt_time,
            "rekey_timeout": self.rekey_timeout,
            "keepalive_timeout": self.keepalive_timeout,
            "cookie_refresh_time": self.cookie_refresh_time,
            "initiations_per_second": self.initiations_per_second,
            "max_staged_packets": self.max_staged_packets,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.rekey_timeout_jitter < 0 or not 0 <= self.cookie_latency < self.cookie_refresh_time:
            raise ValueError("jitter and cookie latency must be non-negative and small")

    @property
    def max_handshake_attempts(self) -> int:
        """MAX_TIMER_HANDSHAKES: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT (18 by default)."""
        return int(self.rekey_attempt_time // self.rekey_timeout)

    @property
    def zero_key_material_after(self) -> float:
        """Keys and handshake state are erased this long after the last session was derived."""
        return 3 * self.reject_after_time

    @property
    def lastminute_rekey_after(self) -> float:
        """An initiator receiving data under a keypair this old starts one last handshake
        (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT, 165 s by default)."""
        return self.reject_after_time - self.keepalive_timeout - self.rekey_timeout

    @property
    def initiation_interval(self) -> float:
        return 1.0 / self.initiations_per_second


DEFAULT_PARAMETERS = ProtocolParameters()
