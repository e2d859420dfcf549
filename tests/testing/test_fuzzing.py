"""The fuzzer (pacata/testing/fuzzing.py) and its targets: it finds the bugs it is meant to find
when they are planted in a decoder (a non-canonical encoding accepted, another exception, a
hang), replays a run from its seed, and its decoder targets take their own corpus."""

from __future__ import annotations

import time

import pytest

from pacata.chain.transactions import Transaction
from pacata.errors import DecodeError
from pacata.testing.fuzz_targets import decoder_targets, fresh_encoding, read_tracer
from pacata.testing.fuzzing import FuzzTarget, NonCanonical, canonical_check, run_target, trace
from pacata.testing.wire_corpus import WireSamples, wireguard_exchange


@pytest.fixture(scope="module")
def samples() -> WireSamples:
    return WireSamples()


def _transaction_target(samples: WireSamples, decode: object) -> FuzzTarget:
    corpus = [tx.encode() for txs in samples.transactions.values() for tx in txs]
    check = canonical_check(decode, fresh_encoding, (DecodeError,))  # type: ignore[arg-type]
    return FuzzTarget("planted", corpus, check, tracer=read_tracer(Transaction.read_from))


def test_a_decoder_that_accepts_a_non_canonical_encoding_is_caught(samples: WireSamples) -> None:
    def lenient(data: bytes) -> Transaction:
        # A planted bug: trailing bytes ignored.
        try:
            return Transaction.decode(data)
        except DecodeError:
            return Transaction.decode(data[:-1])

    result = run_target(_transaction_target(samples, lenient), 2_000, seed=3)
    assert result.crashes > 0
    assert all(record.error.startswith("NonCanonical") for record in result.crash_records)


def test_a_decoder_that_raises_something_else_is_caught(samples: WireSamples) -> None:
    def fragile(data: bytes) -> Transaction:
        if len(data) > 200:
            raise IndexError("planted")
        return Transaction.decode(data)

    result = run_target(_transaction_target(samples, fragile), 1_000, seed=3)
    assert result.crashes > 0
    (record,) = result.crash_records
    assert record.signature.startswith("IndexError at ")
    assert len(record.data) > 200
    assert "planted" in record.traceback


def test_an_input_that_hangs_is_caught() -> None:
    def check(data: bytes) -> bool:
        if data.startswith(b"\xff"):
            while True:
                time.sleep(0.01)
        return True

    target = FuzzTarget("hangs", [b"\x00", b"\xff"], check)
    result = run_target(target, 3, seed=1, hang_seconds=0.2)
    assert result.crashes == 1
    assert result.crash_records[0].error.startswith("Hang")


def test_the_same_seed_gives_the_same_inputs() -> None:
    def inputs_of(seed: int) -> list[bytes]:
        seen: list[bytes] = []

        def check(data: bytes) -> bool:
            seen.append(data)
            return len(data) % 2 == 0

        run_target(FuzzTarget("replay", [b"abcdef", b"\x01\x02"], check), 500, seed)
        return seen

    assert inputs_of(5) == inputs_of(5)
    assert inputs_of(5) != inputs_of(6)


def test_every_decoder_target_takes_its_whole_corpus(samples: WireSamples) -> None:
    for target in decoder_targets(samples, wireguard_exchange()):
        for data in target.corpus:
            assert target.check(data), target.name


def test_transactions_are_checked_from_their_fields_not_their_cached_bytes(
    samples: WireSamples,
) -> None:
    tx = samples.transactions[next(iter(samples.transactions))][0]
    decoded = Transaction.decode(tx.encode())
    forged = Transaction(
        decoded.chain_id,
        decoded.sender,
        decoded.nonce,
        decoded.fee,
        decoded.payload,
        decoded.signature,
        decoded.version,
        tx.encode() + b"\x00",  # what a lenient decoder would have kept
    )
    assert fresh_encoding(forged) == tx.encode() != forged.encode()
    with pytest.raises(NonCanonical):
        canonical_check(lambda data: forged, fresh_encoding, (DecodeError,))(forged.encode())


def test_a_layout_names_the_fields_a_decoder_read(samples: WireSamples) -> None:
    tx = next(t for txs in samples.transactions.values() for t in txs if t.chain_id)
    data = tx.encode()
    layout = trace(data, Transaction.read_from)
    chain_id = next(span for span in layout if span.kind == "text")
    assert data[chain_id.start + 1 : chain_id.end].decode() == tx.chain_id
    assert layout[-1].kind == "fixed" and layout[-1].end == len(data)  # the signature
