"""Fuzzing benchmark: every decoder a peer can reach, the receivers that call them, and the API.

Each target gets `--inputs` inputs (10^6 by default) from a seeded mutation fuzzer
(`pacata/testing/fuzzing.py`): valid encodings built with real keys (`wire_corpus.py`), changed
one field at a time (a text of another length with its length prefix, a sequence with an item
more, a boundary integer) and byte by byte (bit flips, boundary bytes, truncation, extension,
chunks duplicated or removed, splices). The targets (`fuzz_targets.py`):

- decoders, with the canonical-encoding property: refused with `DecodeError`, or decoded to an
  object whose fresh encoding is the input. Block headers, blocks, receipts, every transaction
  kind, node records, the stream framing, every peer message kind, every DHT packet kind, STUN
  messages, the four WireGuard messages;
- receivers that must never raise: the UDP port's classifier, a peer connection (handshake,
  established), a WireGuard device pair, the STUN agent, a DHT node.

A crash is any other exception, a decode that is not canonical, or one input running longer
than 10 s. Then the HTTP API of a real `pacatad` (a devnet chain of its own, producing, on
127.0.0.1) gets `--api-requests` requests (`api_fuzz.py`): routes with mutated parameters,
query strings, headers and bodies of any shape, and raw mutated HTTP; every 5xx is a failure,
printed with its request and the tracebacks of the node's log, and so is a 5xx the node
counted in its metrics that no client saw (the client had gone). The exit status is 1 if
anything crashed or failed.

    .venv/bin/python benchmarks/fuzz.py [--quick] [--json FILE] [--seed N] [--inputs N]
        [--target SUBSTRING ...] [--api-requests N] [--list]

`--quick` runs 2,000 inputs per target and 500 requests (about 10 s); `--target` keeps the
targets whose name contains one of the substrings (`api` names the HTTP API). `--json FILE`
writes flat figures: `<target>_inputs`, `_inputs_per_s`, `_accepted`, `_rejected`, `_crashes`,
the `api_` figures and the totals.

Results and method: docs/BENCHMARKS.md §Fuzzing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pacata.chain.devnet import DEVNET_ACCOUNTS, devnet_key
from pacata.chain.transactions import Transaction, Transfer, make_transaction
from pacata.errors import DecodeError
from pacata.node.cookie import COOKIE_FILE
from pacata.testing.api_fuzz import ApiFacts, ApiResult, fuzz_api
from pacata.testing.fuzz_targets import decoder_targets, receiver_targets
from pacata.testing.fuzzing import FuzzResult, FuzzTarget, run_target
from pacata.testing.node_process import (
    NodeProcess,
    free_port,
    write_producer_key,
    write_test_genesis,
)
from pacata.testing.wire_corpus import CHAIN_ID, WireSamples, wireguard_exchange

FULL_INPUTS = 1_000_000
QUICK_INPUTS = 2_000
FULL_API_REQUESTS = 300_000
QUICK_API_REQUESTS = 500
API_TARGET = "api"
HANG_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ApiRun:
    result: ApiResult
    # 5xx the node counted (its pacata_api_requests_total{status="5xx"}) during the run: also
    # those whose client was gone before the answer, which no client saw.
    server_5xx: int
    tracebacks: list[str]
    node_survived: bool

    @property
    def failed(self) -> bool:
        return bool(self.result.failure_count or self.server_5xx or not self.node_survived)


# -- the HTTP API ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submitted:
    txids: list[str]  # what the node took
    encodings: list[bytes]  # every transaction sent, taken or not: valid ones to mutate
    nonces: dict[int, int]  # the next nonce of each devnet account used


def _submit_samples(node: NodeProcess, samples: WireSamples) -> Submitted:
    """Signed transactions of every kind from funded devnet accounts, submitted."""
    txids: list[str] = []
    encodings: list[bytes] = []
    nonces: dict[int, int] = {}
    payloads = [payload for kind in samples.payloads.values() for payload in kind]
    for index, payload in enumerate(payloads):
        account = 1 + index % (DEVNET_ACCOUNTS - 2)
        nonce = nonces.get(account, 0)
        tx = make_transaction(devnet_key(account), CHAIN_ID, nonce, 10_000, payload)
        encodings.append(tx.encode())
        answer = node.request("POST", "/api/txs", {"tx": tx.encode().hex()})
        if "txid" in answer:
            txids.append(answer["txid"])
            nonces[account] = nonce + 1
    return Submitted(txids, encodings, nonces)


class TransferSigner:
    """New transfers from one funded devnet account, nonce after nonce (`TransactionSource`)."""

    def __init__(self, account: int) -> None:
        self.key = devnet_key(account)
        self.nonce = 0

    def next_transaction(self) -> bytes:
        payload = Transfer(devnet_key(0).address, 1 + self.nonce % 1_000)
        return make_transaction(self.key, CHAIN_ID, self.nonce, 10_000, payload).encode()

    def taken(self) -> None:
        self.nonce += 1


class Resigner:
    """A mutated transaction that names a devnet account's key, signed again by it with a nonce
    at or near that account's next one; anything else is left as it is."""

    def __init__(self, nonces: dict[int, int]) -> None:
        self.accounts = {devnet_key(i).public_key: i for i in range(DEVNET_ACCOUNTS)}
        self.nonces = dict(nonces)
        self.random = random.Random(0)

    def __call__(self, data: bytes) -> bytes:
        try:
            tx = Transaction.decode(data)
        except DecodeError:
            return data
        account = self.accounts.get(tx.sender)
        if account is None:
            return data
        nonce = self.nonces.get(account, 0)
        # Whether the node takes it is not known here: the next guess is this nonce or the next.
        self.nonces[account] = nonce + self.random.randrange(2)
        unsigned = dataclasses.replace(tx, nonce=nonce, _encoding=None)
        return unsigned.signed(devnet_key(account)).encode()


def api_facts(node: NodeProcess, samples: WireSamples) -> ApiFacts:
    submitted = _submit_samples(node, samples)
    txids, encodings = submitted.txids, submitted.encodings
    node.wait_for("a few blocks", lambda: node.status()["height"] >= 3)
    blocks = node.get("/api/blocks?limit=100")["blocks"]
    status = node.status()
    return ApiFacts(
        admin_token=(node.datadir / COOKIE_FILE).read_text().strip(),
        block_hashes=[block["hash"] for block in blocks],
        heights=[block["height"] for block in blocks],
        txids=txids or [bytes(32).hex()],
        addresses=[str(devnet_key(i).address) for i in range(DEVNET_ACCOUNTS)]
        + [str(samples.keys[0].address)],
        node_ids=[status["node_id"] or bytes(32).hex(), samples.records[1].node_id.hex()],
        transactions=encodings,
        # The last devnet account, whose nonces the samples left alone.
        new_transactions=TransferSigner(DEVNET_ACCOUNTS - 1),
        resign=Resigner(submitted.nonces),
    )


def node_tracebacks(log: str) -> list[str]:
    """Each distinct traceback of the node's log, with the line that introduced it."""
    found: dict[str, str] = {}
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = index + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
            end += 1
        block = lines[max(0, index - 1) : end + 1]
        found.setdefault(lines[end] if end < len(lines) else "", "\n".join(block))
    return list(found.values())


def server_5xx(node: NodeProcess) -> int:
    """The node's count of API answers of status 5xx, from its metrics."""
    for line in node.request_text("/metrics").splitlines():
        if line.startswith('pacata_api_requests_total{status="5xx"}'):
            return int(float(line.split()[-1]))
    return 0


def run_api(requests: int, seed: int, samples: WireSamples) -> ApiRun:
    with tempfile.TemporaryDirectory(prefix="pacata-fuzz-") as directory:
        root = Path(directory)
        genesis = write_test_genesis(
            root / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=time.time_ns() // 10**6
        )
        write_producer_key(root / "node", 0)
        node = NodeProcess(
            "fuzzed",
            genesis=genesis,
            datadir=root / "node",
            listen=f"127.0.0.1:{free_port()}",
            produce=True,
            log_dir=root,
        )
        try:
            node.wait_ready()
            facts = api_facts(node, samples)
            errors_before = server_5xx(node)
            result = asyncio.run(fuzz_api(node.base, facts, requests=requests, seed=seed))
            survived = node.process.poll() is None and "height" in node.status()
            errors = server_5xx(node) - errors_before if survived else 0
        finally:
            node.close()
        return ApiRun(result, errors, node_tracebacks(node.log_text()), survived)


# -- report ---------------------------------------------------------------------------------


def _row(name: str, *, inputs: int, rate: float, rejected: int, accepted: int, crashes: int) -> str:
    return f"  {name:<30}{inputs:>11,}{rate:>11,.0f}{rejected:>11,}{accepted:>11,}{crashes:>9,}"


def report(groups: dict[str, list[FuzzResult]], api: ApiRun | None, seed: int) -> str:
    header = (
        f"  {'target':<30}{'inputs':>11}{'inputs/s':>11}{'rejected':>11}{'accepted':>11}"
        f"{'crashes':>9}"
    )
    count = sum(len(results) for results in groups.values())
    lines = [f"Fuzzing: {count} targets, seed {seed}, one process", ""]
    for title, results in groups.items():
        if not results:
            continue
        lines += [title, header]
        lines += [
            _row(
                r.name,
                inputs=r.inputs,
                rate=r.inputs_per_s,
                rejected=r.rejected,
                accepted=r.accepted,
                crashes=r.crashes,
            )
            for r in results
        ]
        lines.append("")
    if api is not None:
        result = api.result
        refused = sum(n for status, n in result.statuses.items() if 400 <= status < 500)
        answered = sum(n for status, n in result.statuses.items() if status < 400)
        lines += [
            "the HTTP API of a pacatad (rejected: 4xx, accepted: 1xx-3xx, crashes: 5xx)",
            header,
            _row(
                "api",
                inputs=result.requests,
                rate=result.requests_per_s,
                rejected=refused,
                accepted=answered,
                crashes=result.failure_count,
            ),
            f"  {result.raw_requests:,} raw requests, {result.unanswered:,} closed unanswered; "
            f"{api.server_5xx:,} 5xx counted by the node; "
            f"node {'still serving' if api.node_survived else 'DIED'}",
            "",
        ]
    return "\n".join(lines)


def crash_details(results: Sequence[FuzzResult], api: ApiRun | None) -> str:
    parts: list[str] = []
    for result in results:
        for signature, number in result.crash_counts.items():
            parts.append(f"{result.name}: {number:,} x {signature}")
        for record in result.crash_records:
            parts += [
                f"--- {result.name}: {record.error[:500]}",
                f"input ({len(record.data)} bytes): {record.data.hex()}",
                record.traceback.rstrip(),
            ]
    if api is not None:
        for failure in api.result.failures:
            parts += [
                f"--- api: {failure.status} for",
                f"  {failure.request.describe()}",
                f"  answer: {failure.answer[:300]}",
            ]
        if api.failed:
            parts += ["node log tracebacks:", *api.tracebacks]
    return "\n".join(parts)


def figures_of(results: Sequence[FuzzResult], api: ApiRun | None, seed: int) -> dict[str, float]:
    figures: dict[str, float] = {"seed": seed, "targets": len(results)}
    for result in results:
        figures[f"{result.name}_inputs"] = result.inputs
        figures[f"{result.name}_inputs_per_s"] = round(result.inputs_per_s, 1)
        figures[f"{result.name}_accepted"] = result.accepted
        figures[f"{result.name}_rejected"] = result.rejected
        figures[f"{result.name}_crashes"] = result.crashes
        figures[f"{result.name}_slowest_input_ms"] = round(result.slowest_input_s * 1e3, 2)
    figures["inputs_total"] = sum(r.inputs for r in results)
    figures["crashes_total"] = sum(r.crashes for r in results)
    if api is not None:
        result = api.result
        figures["api_requests"] = result.requests
        figures["api_requests_per_s"] = round(result.requests_per_s, 1)
        figures["api_raw_requests"] = result.raw_requests
        figures["api_unanswered"] = result.unanswered
        for status_class in (2, 3, 4, 5):
            figures[f"api_{status_class}xx"] = sum(
                n for status, n in result.statuses.items() if status // 100 == status_class
            )
        figures["api_server_5xx"] = api.server_5xx
        figures["api_node_survived"] = int(api.node_survived)
    return figures


# -- main -----------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run (about 10 s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    parser.add_argument("--inputs", type=int, help=f"inputs per target (default {FULL_INPUTS:,})")
    parser.add_argument(
        "--api-requests", type=int, help=f"requests to the API (default {FULL_API_REQUESTS:,})"
    )
    parser.add_argument(
        "--target", action="append", default=[], metavar="SUBSTRING", help="only these targets"
    )
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    return parser.parse_args(argv)


def _wanted(name: str, filters: Sequence[str]) -> bool:
    return not filters or any(part in name for part in filters)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    inputs = args.inputs or (QUICK_INPUTS if args.quick else FULL_INPUTS)
    requests = args.api_requests or (QUICK_API_REQUESTS if args.quick else FULL_API_REQUESTS)
    samples = WireSamples()
    groups: dict[str, list[FuzzTarget]] = {
        "decoders (refused with DecodeError, or canonical)": decoder_targets(
            samples, wireguard_exchange()
        ),
        "receivers (never raise)": receiver_targets(samples, wireguard_exchange()),
    }
    selected = {
        title: [t for t in targets if _wanted(t.name, args.target)]
        for title, targets in groups.items()
    }
    with_api = _wanted(API_TARGET, args.target)
    if args.list:
        names = [t.name for targets in selected.values() for t in targets]
        print("\n".join([*names, API_TARGET] if with_api else names))
        return 0

    total = sum(len(targets) for targets in selected.values())
    results: dict[str, list[FuzzResult]] = {}
    done = 0
    for title, targets in selected.items():
        results[title] = []
        for target in targets:
            result = run_target(target, inputs, args.seed, hang_seconds=HANG_SECONDS)
            results[title].append(result)
            done += 1
            print(
                f"[{done}/{total}] {target.name}: {result.inputs:,} inputs in "
                f"{result.seconds:.1f} s, {result.crashes:,} crashes",
                file=sys.stderr,
                flush=True,
            )
    api: ApiRun | None = None
    if with_api:
        print(f"API: {requests:,} requests to a pacatad...", file=sys.stderr, flush=True)
        api = run_api(requests, args.seed, samples)

    flat = [result for group in results.values() for result in group]
    print(report(results, api, args.seed))
    details = crash_details(flat, api)
    if details:
        print(details)
    figures = figures_of(flat, api, args.seed)
    figures["cores"] = os.cpu_count() or 1
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    failed = figures["crashes_total"] or (api is not None and api.failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
