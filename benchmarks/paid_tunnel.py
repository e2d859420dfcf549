"""Paid-tunnel benchmark: what paying for a tunnel costs, against our bare engine, in one run.

A producer and a relay in namespace A and a client in namespace B, real `pacatad`s
(pacata/testing/paid_lab.py); beside them, in a second pair of namespaces, a tunnel of two bare
`pacata-vpn wg-userspace` ends (pacata/testing/netns_lab.py, as benchmarks/tunnel.py's
`pacata` scenario). In the same run:

- connect: the client opens a channel through its API (`POST /api/vpn/channels`); single pings
  (`ping -c 1 -D`, a 20 ms timeout, until a deadline) to the relay's overlay address time the
  first reply. `after_inclusion_s` is that reply less the timestamp of the block that included
  the `CHANNEL_OPEN`, beside the slot length; the relay's and the client's "tunnel up" log
  lines and the last unanswered ping place the steps in between. The goal
  (docs/BENCHMARKS.md): at most one slot plus one handshake after the inclusion.
- throughput: iperf3 TCP, client → relay over the paid tunnel, and side A → side B over the
  bare one. The first paid run on the fresh channel is the cold figure (the credit window
  starts at 256 KiB and grows with what the channel paid, pacata/vpn/channels/credit.py); then
  warm-up runs of 2 s (one at least, more until the window is at its cap), then rounds that
  interleave a bare and a paid run, medians reported. The goal: a paid tunnel moves at least
  95 % of the bare engine's throughput. CPU: user + system time of the two tunnel processes
  (the relay's and the client's `pacatad`, with their child processes; the two `wg-userspace`
  ends) over the measured runs, per GB moved; and the TCP segments the sender retransmitted.
  A paid run that does not end (the relay held or dropped the client) counts as stalled: the
  run goes on without paid runs, prints the nodes' logs and exits 1.
- the relay with many channels: its RSS, and its CPU over 3 s of idling, before and after N
  more channels to it are open and admitted (N `CHANNEL_OPEN`s from devnet account 3, each
  with a tunnel key of its own, in waves of what the mempool takes from one sender), per
  1,000 channels; and how long the relay took to admit them.

    sudo .venv/bin/python benchmarks/paid_tunnel.py [--quick] [--json FILE] [--seconds S]
        [--rounds N] [--channels N] [--confirmations N]

Default: 3 rounds of 10 s iperf3 runs, 1,000 channels (under 2 minutes); `--quick`: one round
of 3 s runs, 200 channels (scaled to 1,000), about 30 s. `--confirmations` is the nodes'
`--vpn-confirmations` (2 by default). `--json FILE` writes one flat object (`bare_mbps`,
`paid_mbps`, `paid_cold_mbps`, `paid_ratio`, `cpu_s_per_gb`, `bare_cpu_s_per_gb`, `connect_s`,
`after_inclusion_s`, `slot_s`, `relay_rss_mib_per_1000_channels`, ...). Needs root, iproute2,
wireguard-tools, iperf3 and ping. Results: docs/BENCHMARKS.md §Paid tunnels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pacata.chain.devnet import devnet_key
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import ChannelOpen, Transaction
from pacata.node.config import DEFAULT_VPN_CONFIRMATIONS
from pacata.node.logs import DATE_FORMAT
from pacata.testing.netns_lab import (
    OVERLAY,
    LabError,
    NamespaceLab,
    WireGuardEnd,
    missing_requirements,
)
from pacata.testing.node_process import NodeProcess
from pacata.testing.paid_lab import RELAY_ACCOUNT, PaidTunnelLab
from pacata.testing.proc_stats import cpu_seconds_of_tree, rss_mib
from pacata.vpn.channels import CreditPolicy, bytes_for_amount
from pacata.vpn.channels.credit import MIB
from pacata.vpn.wireguard import x25519_public_key

PRICE_PER_GIB = UNITS_PER_PAC  # 1 PAC per GiB
DEPOSIT = 100 * UNITS_PER_PAC  # ~100 GiB: the whole run, far from a top-up
CHANNEL_BLOCKS = 100_000
WARM_UP_S = 2.0
# Warm-up runs, at most, until the credit window reaches its cap (one at least).
WARM_UPS = 5
CONNECT_DEADLINE_S = 30.0
# A first ping sent before the client has added the relay goes unanswered: each attempt waits
# this long for its reply, which bounds the figure's resolution (the handshake takes a few ms).
PING_TIMEOUT_S = 0.02
# The mempool takes at most this many pending transactions of one sender (Mempool's
# `max_per_sender`): the N channel openings go in waves.
PENDING_PER_SENDER = 64
FILLER_ACCOUNT = devnet_key(3)
FILLER_DEPOSIT = 10_000  # units: a channel that never carries a byte
ADMIT_DEADLINE_S = 300.0
IDLE_WINDOW_S = 3.0


@dataclass(frozen=True)
class Run:
    mbps: float
    cpu_s_per_gb: float
    retransmits: int  # TCP segments the sender retransmitted (its namespace's RetransSegs)


def tcp_retransmits(lab: NamespaceLab, side: int) -> int:
    """TCP segments retransmitted so far in the namespace of `side` (/proc/net/snmp there)."""
    rows = [
        line.split()
        for line in lab.run(lab.namespaces[side], "cat", "/proc/net/snmp").splitlines()
        if line.startswith("Tcp:")
    ]
    return int(rows[1][rows[0].index("RetransSegs")])


def iperf3_run(
    lab: NamespaceLab, server_side: int, address: str, pids: list[int], seconds: float
) -> Run:
    """One iperf3 run to `address` on `server_side`; the CPU of `pids` per GB moved."""
    retransmitted = tcp_retransmits(lab, 1 - server_side)
    before = cpu_seconds_of_tree(pids)
    mbps = lab.iperf3(server_side, address, seconds=seconds)
    cpu = cpu_seconds_of_tree(pids) - before
    gigabytes = mbps * seconds / 8000
    retransmitted = tcp_retransmits(lab, 1 - server_side) - retransmitted
    return Run(mbps, cpu / gigabytes if gigabytes else 0.0, retransmitted)


STALLED = Run(0.0, 0.0, 0)


def paid_run(paid: PaidTunnelLab, seconds: float) -> Run:
    """One iperf3 run through the paid tunnel, client → relay; `STALLED` if it did not end
    (the relay held or dropped the client: iperf3 waits for bytes that never come)."""
    pids = [paid.relay.process.pid, paid.client.process.pid]
    try:
        return iperf3_run(paid.lab, 0, paid.relay_overlay, pids, seconds)
    except (LabError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        print(f"  the paid run stalled: {str(exc)[:200]}", file=sys.stderr)
        return STALLED


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(run.mbps for run in runs),
        statistics.median(run.cpu_s_per_gb for run in runs),
        int(statistics.median(run.retransmits for run in runs)),
    )


def bare_tunnel(lab: NamespaceLab) -> tuple[WireGuardEnd, WireGuardEnd]:
    ends = lab.tunnel("pacata", "pacata")
    if lab.ping(0, OVERLAY[1], count=3, interval=0.2).received == 0:
        raise RuntimeError("the bare tunnel answered no ping")
    return ends


@dataclass(frozen=True)
class Connect:
    connect_s: float  # POST /api/vpn/channels → first ping reply
    inclusion_s: float  # POST → timestamp of the block that included the opening
    after_inclusion_s: float  # that timestamp → first ping reply
    last_miss_after_inclusion_s: float  # that timestamp → the last unanswered ping's start
    relay_admitted_after_inclusion_s: float  # → the relay's "tunnel up" log line (-1: none)
    client_added_after_inclusion_s: float  # → the client's "tunnel up" log line (-1: none)
    pings: int  # single pings sent until the first reply


_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from", re.MULTILINE)


def first_reply(paid: PaidTunnelLab, deadline: float) -> tuple[float, float, int]:
    """Single pings from the client's namespace to the relay's overlay address until one is
    answered; (the reply's wall-clock time, the last unanswered ping's start, pings sent)."""
    namespace = paid.lab.namespaces[1]
    command = ["ip", "netns", "exec", namespace, "ping", "-n", "-D", "-c", "1",
               "-W", f"{PING_TIMEOUT_S:g}", paid.relay_overlay]  # fmt: skip
    attempts, missed = 0, time.time()
    while True:
        started, started_wall = time.monotonic(), time.time()
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        attempts += 1
        reply = _REPLY.search(result.stdout)
        if reply is not None:
            return float(reply.group(1)), missed, attempts
        missed = started_wall
        if time.monotonic() > deadline:
            raise RuntimeError(f"no ping answered through the paid tunnel: {result.stdout!r}")
        # A ping refused at once (no route yet) must not spin: poll at most every 20 ms.
        spare = 0.02 - (time.monotonic() - started)
        if spare > 0:
            time.sleep(spare)


def logged_at(node: NodeProcess, pattern: str) -> float | None:
    """The wall-clock time of the first line of `node`'s log that matches `pattern` (after
    the time stamp, pacata/node/logs.py's format), or None."""
    found = re.search(rf"^(\S+ \S+) {pattern}", node.log_text(), re.MULTILINE)
    if found is None:
        return None
    return datetime.strptime(found.group(1), f"{DATE_FORMAT}.%f").timestamp()


def block_time_s(node: NodeProcess, txid: str) -> float:
    """The timestamp (wall clock, s) of the block that included transaction `txid`."""
    found = node.wait_for("the opening's block", lambda: _block_height(node, txid))
    block = node.get(f"/api/blocks/{found}")
    return int(block["header"]["timestamp_ms"]) / 1000


def _block_height(node: NodeProcess, txid: str) -> int | None:
    answer = node.get(f"/api/txs/{txid}")
    return int(answer["block_height"]) if answer.get("status") == "confirmed" else None


def connect(paid: PaidTunnelLab) -> tuple[str, Connect]:
    """Opens the measured channel; its id and how long it took to carry a first packet."""
    posted = time.time()
    opened = paid.submit_channel_open(deposit=DEPOSIT, blocks=CHANNEL_BLOCKS)
    reply, missed, pings = first_reply(paid, time.monotonic() + CONNECT_DEADLINE_S)
    included = block_time_s(paid.producer, str(opened["txid"]))
    channel_id = str(opened["channel_id"])
    paid.wait_up(channel_id)
    up = rf"INFO\s+vpn\s+tunnel up: channel {channel_id[:16]}, "
    admitted = logged_at(paid.relay, up + "client")
    added = logged_at(paid.client, up + "relay")
    return channel_id, Connect(
        connect_s=reply - posted,
        inclusion_s=included - posted,
        after_inclusion_s=reply - included,
        last_miss_after_inclusion_s=missed - included,
        relay_admitted_after_inclusion_s=-1.0 if admitted is None else admitted - included,
        client_added_after_inclusion_s=-1.0 if added is None else added - included,
        pings=pings,
    )


@dataclass(frozen=True)
class Admission:
    channels: int
    rss_before_mib: float
    rss_after_mib: float
    open_s: float  # first submission → the relay lists every channel up
    after_inclusion_s: float  # the last opening's block → the relay lists every channel up
    idle_cpu_before_percent: float  # the relay's CPU, % of a core, with the one channel
    idle_cpu_after_percent: float  # the same with the N more


def idle_cpu_percent(pid: int) -> float:
    """The CPU process `pid` (and its children) uses over `IDLE_WINDOW_S` of nothing happening
    but the chain's blocks, in % of a core."""
    before, started = cpu_seconds_of_tree([pid]), time.monotonic()
    time.sleep(IDLE_WINDOW_S)  # the measurement's window, not a wait for a condition
    return 100 * (cpu_seconds_of_tree([pid]) - before) / (time.monotonic() - started)


def relay_up_count(paid: PaidTunnelLab) -> int:
    tunnels = paid.relay.get("/api/vpn/tunnels")["tunnels"]
    return sum(1 for tunnel in tunnels if tunnel["state"] == "up")


def open_many(paid: PaidTunnelLab, count: int) -> Admission:
    """`count` channels from one account to the relay, in waves of what the mempool takes
    from one sender; the relay's RSS and idle CPU before, and once it lists them all as up."""
    chain = paid.params
    producer = paid.producer
    address = str(FILLER_ACCOUNT.address)
    expiry = producer.status()["height"] + CHANNEL_BLOCKS
    transactions = [
        Transaction(
            chain.chain_id,
            FILLER_ACCOUNT.public_key,
            nonce,
            chain.min_fee,
            ChannelOpen(
                RELAY_ACCOUNT.address,
                FILLER_DEPOSIT,
                0,
                x25519_public_key(os.urandom(32)),
                expiry,
            ),
        ).signed(FILLER_ACCOUNT)
        for nonce in range(count)
    ]  # signed beforehand: what is timed is the chain's and the relay's work
    up_before = relay_up_count(paid)
    relay_pid = paid.relay.process.pid
    cpu_before = idle_cpu_percent(relay_pid)
    rss_before = rss_mib(relay_pid)
    started = time.time()
    deadline = time.monotonic() + ADMIT_DEADLINE_S
    submitted, last_txid = 0, ""
    while submitted < count:
        account = producer.get(f"/api/accounts/{address}")
        mined = int(account.get("nonce", 0))
        room = min(count, mined + PENDING_PER_SENDER) - submitted
        for tx in transactions[submitted : submitted + room]:
            last_txid = producer.submit(tx)
        submitted += room
        if submitted < count:
            producer.wait_for(
                "a wave of openings mined",
                lambda mined=mined: producer.get(f"/api/accounts/{address}")["nonce"] > mined,
                deadline_s=max(1.0, deadline - time.monotonic()),
            )
    target = up_before + count
    paid.relay.wait_for(
        f"the relay to admit {count} channels",
        lambda: relay_up_count(paid) >= target,
        deadline_s=max(1.0, deadline - time.monotonic()),
    )
    done = time.time()
    included = block_time_s(producer, last_txid)
    cpu_after = idle_cpu_percent(relay_pid)
    rss_after = rss_mib(relay_pid)
    return Admission(
        count, rss_before, rss_after, done - started, done - included, cpu_before, cpu_after
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 3 s, 200 channels")
    parser.add_argument("--seconds", type=float, default=None, help="iperf3 duration per run")
    parser.add_argument("--rounds", type=int, default=None, help="bare/paid pairs (default 3)")
    parser.add_argument("--channels", type=int, default=None, help="channels for the RSS figure")
    parser.add_argument(
        "--confirmations",
        type=int,
        default=DEFAULT_VPN_CONFIRMATIONS,
        help="the depth at which the relay admits a channel (--vpn-confirmations)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as one JSON object")
    arguments = parser.parse_args(argv)
    reason = missing_requirements(("ip", "wg", "iperf3", "ping", "ss"))
    if reason is not None:
        print(f"paid tunnel benchmark: {reason}", file=sys.stderr)
        return 2
    seconds = arguments.seconds or (3.0 if arguments.quick else 10.0)
    rounds = arguments.rounds or (1 if arguments.quick else 3)
    channels = arguments.channels or (200 if arguments.quick else 1000)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pacata-paid-bench-") as directory:
        # Both pairs of namespaces stand at once (each lab's names are its own), so that the
        # rounds interleave.
        flags = ("--vpn-confirmations", str(arguments.confirmations))
        with (
            PaidTunnelLab(
                Path(directory),
                chain_id="pacata-paid-bench-1",
                relay_flags=flags,
                client_flags=flags,
            ) as paid,
            NamespaceLab() as bare_lab,
        ):
            try:
                results = measure(paid, bare_lab, seconds, rounds, channels)
            except Exception:
                print(paid.logs(), file=sys.stderr)
                raise
            logs = paid.logs() if results["paid_runs_stalled"] else ""
    results = {
        "iperf3_seconds": seconds,
        "rounds": rounds,
        "load_average_before": load_before,
        **results,
        "wall_seconds": round(time.monotonic() - started, 1),
        "load_average_after": os.getloadavg()[0],
    }
    print_table(results)
    if arguments.json:
        with open(arguments.json, "w") as output:
            json.dump(results, output, indent=2)
            output.write("\n")
    if logs:
        print(logs, file=sys.stderr)
        print("paid tunnel benchmark: a paid run stalled (the nodes' logs above)", file=sys.stderr)
        return 1
    return 0


def window_mib(paid: PaidTunnelLab, channel_id: str) -> float:
    """The relay's credit window for the channel now (what its newest receipt paid for)."""
    tunnel = paid.tunnel(paid.relay, channel_id) or {}
    paid_bytes = bytes_for_amount(int(tunnel.get("receipted") or 0), PRICE_PER_GIB)
    return CreditPolicy().window_bytes(paid_bytes) / MIB


def measure(
    paid: PaidTunnelLab, bare_lab: NamespaceLab, seconds: float, rounds: int, channels: int
) -> dict[str, float]:
    paid.register_relay([PRICE_PER_GIB])
    channel_id, opened = connect(paid)
    print(f"  connect: {opened}", file=sys.stderr)
    cold = paid_run(paid, seconds)
    print(f"  paid, cold: {cold}", file=sys.stderr)
    cap = CreditPolicy().max_window_bytes / MIB
    warm_ups, stalled = 0, cold is STALLED
    # One warm-up at least; more while the credit window is below its cap.
    while not stalled and warm_ups < WARM_UPS:
        if warm_ups and window_mib(paid, channel_id) >= cap:
            break
        warm_ups += 1
        stalled = paid_run(paid, WARM_UP_S) is STALLED
    window = window_mib(paid, channel_id)
    ends = bare_tunnel(bare_lab)
    bare_pids = [end.process.pid for end in ends if end.process is not None]
    bare_runs: list[Run] = []
    paid_runs: list[Run] = []
    # Interleaved, so that load from elsewhere on the machine hits both rather than one. Once
    # a paid run stalls the client is held or dropped: the others would stall too.
    for round_number in range(rounds):
        bare_runs.append(iperf3_run(bare_lab, 1, OVERLAY[1], bare_pids, seconds))
        paid_runs.append(STALLED if stalled else paid_run(paid, seconds))
        stalled = stalled or paid_runs[-1] is STALLED
        print(
            f"  round {round_number + 1}: bare {bare_runs[-1]}, paid {paid_runs[-1]}",
            file=sys.stderr,
        )
    for end in ends:
        bare_lab.stop_end(end)
    relay_view = paid.tunnel(paid.relay, channel_id) or {}
    client_view = paid.tunnel(paid.client, channel_id) or {}
    admission = open_many(paid, channels)
    print(f"  channels: {admission}", file=sys.stderr)
    bare, warm = median_run(bare_runs), median_run(paid_runs)
    grown = admission.rss_after_mib - admission.rss_before_mib
    return {
        "bare_mbps": round(bare.mbps, 1),
        "paid_mbps": round(warm.mbps, 1),
        "paid_cold_mbps": round(cold.mbps, 1),
        "paid_ratio": round(warm.mbps / bare.mbps, 4),
        "paid_cold_ratio": round(cold.mbps / bare.mbps, 4),
        "cpu_s_per_gb": round(warm.cpu_s_per_gb, 2),
        "bare_cpu_s_per_gb": round(bare.cpu_s_per_gb, 2),
        "paid_cold_cpu_s_per_gb": round(cold.cpu_s_per_gb, 2),
        "bare_retransmits": bare.retransmits,
        "paid_retransmits": warm.retransmits,
        "paid_cold_retransmits": cold.retransmits,
        "bare_mbps_min": round(min(run.mbps for run in bare_runs), 1),
        "bare_mbps_max": round(max(run.mbps for run in bare_runs), 1),
        "paid_mbps_min": round(min(run.mbps for run in paid_runs), 1),
        "paid_mbps_max": round(max(run.mbps for run in paid_runs), 1),
        "paid_runs_stalled": sum(run is STALLED for run in (cold, *paid_runs)),
        "warm_ups": warm_ups,
        "window_after_warm_up_mib": round(window, 2),
        "relay_counted_mb": round(int(relay_view.get("counted_bytes") or 0) / 1e6, 1),
        "client_counted_mb": round(int(client_view.get("counted_bytes") or 0) / 1e6, 1),
        "client_paid_units": int(client_view.get("receipted") or 0),
        "connect_s": round(opened.connect_s, 3),
        "inclusion_s": round(opened.inclusion_s, 3),
        "after_inclusion_s": round(opened.after_inclusion_s, 3),
        "last_miss_after_inclusion_s": round(opened.last_miss_after_inclusion_s, 3),
        "relay_admitted_after_inclusion_s": round(opened.relay_admitted_after_inclusion_s, 3),
        "client_added_after_inclusion_s": round(opened.client_added_after_inclusion_s, 3),
        "connect_pings": opened.pings,
        "slot_s": paid.params.slot_ms / 1000,
        "confirmations": int(paid.relay.get("/api/vpn/tunnels")["confirmations"]),
        "channels": admission.channels,
        "relay_rss_before_mib": round(admission.rss_before_mib, 1),
        "relay_rss_after_mib": round(admission.rss_after_mib, 1),
        "relay_rss_mib_per_1000_channels": round(grown * 1000 / admission.channels, 1),
        "channels_open_s": round(admission.open_s, 2),
        "relay_admit_after_inclusion_s": round(admission.after_inclusion_s, 2),
        "relay_idle_cpu_percent": round(admission.idle_cpu_before_percent, 2),
        "relay_idle_cpu_percent_with_channels": round(admission.idle_cpu_after_percent, 2),
    }


def print_table(results: dict[str, float]) -> None:
    bare = results["bare_mbps"]
    rows = [
        ("bare engine (wg-userspace ↔ wg-userspace)", bare, results["bare_cpu_s_per_gb"],
         1.0, results["bare_retransmits"]),
        ("paid tunnel, warm (client → relay)", results["paid_mbps"], results["cpu_s_per_gb"],
         results["paid_ratio"], results["paid_retransmits"]),
        ("paid tunnel, cold (first run)", results["paid_cold_mbps"],
         results["paid_cold_cpu_s_per_gb"], results["paid_cold_ratio"],
         results["paid_cold_retransmits"]),
    ]  # fmt: skip
    print(
        f"\n{'path':<44} {'TCP Mbit/s':>11} {'CPU s/GB':>9} {'of bare':>8} {'TCP retransmits':>16}"
    )
    for label, mbps, cpu, ratio, retransmits in rows:
        print(f"{label:<44} {mbps:>11,.0f} {cpu:>9.2f} {100 * ratio:>7.1f}% {retransmits:>16,.0f}")
    lines = [
        ("paid runs that stalled", f"{results['paid_runs_stalled']:.0f}"),
        ("credit window after the warm-up", f"{results['window_after_warm_up_mib']:.2f} MiB"),
        ("bytes counted, relay / client",
         f"{results['relay_counted_mb']:,.1f} / {results['client_counted_mb']:,.1f} MB"),
        ("connect: POST → first ping reply", f"{results['connect_s']:.3f} s"),
        ("  POST → the opening's block", f"{results['inclusion_s']:.3f} s"),
        ("  the block → first ping reply",
         f"{results['after_inclusion_s']:.3f} s (slot {results['slot_s']:g} s,"
         f" {results['confirmations']:.0f} confirmations)"),
        ("  the block → last unanswered ping sent",
         f"{results['last_miss_after_inclusion_s']:.3f} s"),
        ("  the block → relay admits (its log)",
         f"{results['relay_admitted_after_inclusion_s']:.3f} s"),
        ("  the block → client adds the relay (its log)",
         f"{results['client_added_after_inclusion_s']:.3f} s"),
        (f"relay RSS, {results['channels']:,.0f} more channels",
         f"{results['relay_rss_before_mib']:.1f} → {results['relay_rss_after_mib']:.1f} MiB"),
        ("  per 1,000 channels", f"{results['relay_rss_mib_per_1000_channels']:.1f} MiB"),
        ("  first opening submitted → all admitted", f"{results['channels_open_s']:.2f} s"),
        ("  last opening's block → all admitted",
         f"{results['relay_admit_after_inclusion_s']:.2f} s"),
        ("  relay's CPU at idle, before → after",
         f"{results['relay_idle_cpu_percent']:.2f} % → "
         f"{results['relay_idle_cpu_percent_with_channels']:.2f} % of a core"),
    ]  # fmt: skip
    print()
    for label, value in lines:
        print(f"{label:<44} {value}")


if __name__ == "__main__":
    sys.exit(main())
