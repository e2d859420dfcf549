"""The device's timer sleeps (the rule of `pacata.testing.timer_rule`): once `handle_timer(now)`
ran (and what it sends was taken), the next deadline is after `now`, or there is none.

The device's `get_timer` is a lower bound (device.py: the fast path leaves a deadline that moved
later where it was, and `handle_timer` called then with nothing due only reschedules), so a
deadline at or before `now` after `handle_timer(now)` can never mean work still due: it is a
busy loop in the event loop that re-arms the timer, a node burning a core while idle.

Hypothesis drives two devices wired through a hand-delivered network with a manual clock:
packets and keepalives each way, handshakes, rekeys by time and by message count, lost,
replayed, corrupted and reordered datagrams, cookie replies under load, roaming, peers removed
and added again, session expiry and key erasure, while the clock moves by small and large steps
and each device's timer fires at its deadline and late, as a busy event loop would, through the
general path and the transport fast path.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.testing.timer_rule import TimerRuleDriver, clock_events
from pacata.testing.wireguard import Testbed, Transmission, ipv4_packet
from pacata.vpn.wireguard import ProtocolParameters
from pacata.vpn.wireguard.parameters import DEFAULT_PARAMETERS

# Timers a few seconds long, so that a short script meets rekeys, rejections and key erasure.
SHORT_PARAMETERS = ProtocolParameters(
    rekey_after_messages=6,
    reject_after_messages=12,
    rekey_after_time=12.0,
    reject_after_time=18.0,
    rekey_attempt_time=6.0,
    rekey_timeout=1.0,
    keepalive_timeout=2.0,
    cookie_refresh_time=12.0,
    cookie_latency=0.5,
    max_staged_packets=4,
)

side = st.integers(0, 1)
seconds = st.one_of(st.floats(0.0, 5.0), st.floats(5.0, 100_000.0))
wire_index = st.integers(0, 30)
# Traffic and delivery are drawn more often than the rest, so that sessions get established.
traffic = st.one_of(
    st.tuples(st.just("send"), side, st.integers(0, 60)),
    st.tuples(st.just("deliver all")),
)
device_events = st.one_of(
    traffic,
    traffic,
    clock_events(seconds, cores=2),
    st.tuples(st.just("send batch"), side, st.integers(1, 8)),
    st.tuples(st.just("keepalive"), side),
    st.tuples(st.just("deliver"), wire_index),
    st.tuples(st.just("lose"), wire_index),
    st.tuples(st.just("replay"), wire_index),
    st.tuples(st.just("corrupt"), wire_index, st.integers(0, 200)),
    st.tuples(st.just("under load"), side, st.booleans()),
    st.tuples(st.just("remove peer"), side),
    st.tuples(st.just("add peer"), side),
    st.tuples(st.just("roam"), side, st.integers(1, 3)),
)


class _DeviceDriver(TimerRuleDriver):
    """Two devices, each the other's peer, the datagrams in flight, and a manual clock that
    moves only when told (`Testbed.advance` would fire the timers on the way: not here)."""

    def __init__(
        self,
        parameters: ProtocolParameters,
        seed: int,
        fast_path: bool,
        persistent_keepalive: float | None,
    ) -> None:
        self.bed = Testbed(parameters, seed, fast_path=fast_path)
        self.persistent_keepalive = persistent_keepalive
        self.nodes = self.bed.pair(persistent_keepalive=persistent_keepalive)
        self.wire: list[Transmission] = []
        self.delivered: list[Transmission] = []

    @property
    def now(self) -> float:
        return self.bed.clock.now

    @now.setter
    def now(self, now: float) -> None:
        self.bed.clock.now = now

    def collect(self) -> None:
        for node in self.nodes:
            self.wire += self.bed.take(node)
            while node.device.next_event() is not None:
                pass
            node.events.clear()

    def deadline(self, core: int) -> float | None:
        return self.nodes[core].device.get_timer()

    def run_timer(self, core: int) -> None:
        """Runs a device's timer and takes what it sends, delivering nothing."""
        self.nodes[core].device.handle_timer(self.now, self.bed.clock.wall)
        self.collect()

    def core_name(self, core: int) -> str:
        return self.nodes[core].name

    def check_lower_bound(self) -> None:
        """The device wakes each peer no later than its earliest deadline: a deadline under
        the one the device holds for the peer would be missed (a timer that never fires)."""
        for node in self.nodes:
            for peer in node.device.peers.values():
                deadline = peer.next_deadline()
                assert deadline is None or (
                    peer.scheduled_at is not None and peer.scheduled_at <= deadline
                ), f"{node.name}: {peer} is due at {deadline}, woken at {peer.scheduled_at}"

    def has_peer(self, index: int) -> bool:
        return self.nodes[1 - index].public_key in self.nodes[index].device.peers

    def deliver(self, transmission: Transmission) -> None:
        self.bed.deliver(transmission)
        self.delivered.append(transmission)

    def run(self, event: tuple[object, ...]) -> None:
        bed, nodes = self.bed, self.nodes
        if not self.run_clock_event(event):
            match event:
                case ("send", int(i), int(size)) if self.has_peer(i):
                    bed.send(nodes[i], nodes[1 - i], ipv4_packet(bytes(size)))
                case ("send batch", int(i), int(count)) if self.has_peer(i):
                    packets = [ipv4_packet(bytes([n])) for n in range(count)]
                    nodes[i].device.send_packets(
                        nodes[1 - i].public_key, packets, bed.clock.now, bed.clock.wall
                    )
                case ("keepalive", int(i)) if self.has_peer(i):
                    nodes[i].device.send_keepalive(
                        nodes[1 - i].public_key, bed.clock.now, bed.clock.wall
                    )
                case ("deliver", int(k)) if self.wire:
                    self.deliver(self.wire.pop(k % len(self.wire)))
                case ("deliver all",):
                    in_flight, self.wire = self.wire, []
                    for transmission in in_flight:
                        self.deliver(transmission)
                case ("lose", int(k)) if self.wire:
                    self.wire.pop(k % len(self.wire))
                case ("replay", int(k)) if self.delivered:
                    self.deliver(self.delivered[k % len(self.delivered)])
                case ("corrupt", int(k), int(position)) if self.wire:
                    sent = self.wire.pop(k % len(self.wire))
                    data = bytearray(sent.datagram)
                    data[position % len(data)] ^= 0x40
                    self.deliver(
                        Transmission(sent.sender, sent.source, sent.destination, bytes(data))
                    )
                case ("under load", int(i), bool(loaded)):
                    nodes[i].device.under_load = loaded
                case ("remove peer", int(i)) if self.has_peer(i):
                    nodes[i].device.remove_peer(nodes[1 - i].public_key)
                case ("add peer", int(i)) if not self.has_peer(i):
                    nodes[i].device.add_peer(
                        nodes[1 - i].public_key,
                        endpoint=nodes[1 - i].address,
                        persistent_keepalive=self.persistent_keepalive,
                    )
                case ("roam", int(i), int(port)):
                    bed.move(nodes[i], (nodes[i].address[0], 51820 + port))
        self.collect()
        self.check_lower_bound()


@settings(max_examples=150, deadline=None)
@given(
    parameters=st.sampled_from([SHORT_PARAMETERS, DEFAULT_PARAMETERS]),
    seed=st.integers(0, 1 << 16),
    fast_path=st.booleans(),
    persistent_keepalive=st.one_of(st.none(), st.floats(0.5, 30.0)),
    established=st.booleans(),
    script=st.lists(device_events, min_size=5, max_size=40),
)
def test_a_device_timer_sleeps_once_it_ran(
    *,
    parameters: ProtocolParameters,
    seed: int,
    fast_path: bool,
    persistent_keepalive: float | None,
    established: bool,
    script: list[tuple[object, ...]],
) -> None:
    driver = _DeviceDriver(parameters, seed, fast_path, persistent_keepalive)
    # Often from a session already up: initiation, response, first data.
    handshake: list[tuple[object, ...]] = [("send", 0, 8)] + [("deliver all",)] * 3
    for event in (handshake if established else []) + script:
        driver.run(event)
    # Then a quiet stretch: retransmissions give up, keepalives go, keys are erased.
    for _ in range(30):
        for index in (0, 1):
            driver.run(("timer at deadline", index))
