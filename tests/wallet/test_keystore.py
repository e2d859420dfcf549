"""The seal (pacata/wallet/keystore.py): a round trip; a wrong passphrase told apart from altered
data by the check; every input of the key (salt, costs, the check itself) reading as a wrong
passphrase; the NFKC passphrase; the bounds on scrypt's parameters."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.wallet import ScryptParams, Sealed, WalletCorrupt, WrongPassphrase, seal, unseal
from pacata.wallet.keystore import MAX_MEMORY

CHEAP = ScryptParams.fresh(n=2**10)
SECRET = b'{"mnemonic":"abandon ... about"}'
ASSOCIATED = b'{"name":"main"}'
PASSPHRASE = "correct horse battery staple"


def flipped(data: bytes, position: int = 0) -> bytes:
    return data[:position] + bytes((data[position] ^ 1,)) + data[position + 1 :]


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal(SECRET, PASSPHRASE, ASSOCIATED, CHEAP)


def test_round_trip(sealed: Sealed) -> None:
    assert unseal(sealed, PASSPHRASE, ASSOCIATED) == SECRET
    assert SECRET not in sealed.ciphertext
    assert len(sealed.ciphertext) == len(SECRET) + 16  # the Poly1305 tag


def test_a_wrong_passphrase(sealed: Sealed) -> None:
    for wrong in ("", "correct horse battery stapl", PASSPHRASE + " ", PASSPHRASE.upper()):
        with pytest.raises(WrongPassphrase, match="wrong passphrase"):
            unseal(sealed, wrong, ASSOCIATED)


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(
            lambda s: (replace(s, ciphertext=flipped(s.ciphertext)), ASSOCIATED), id="ciphertext"
        ),
        pytest.param(
            lambda s: (replace(s, ciphertext=flipped(s.ciphertext, -1)), ASSOCIATED), id="tag"
        ),
        pytest.param(
            lambda s: (replace(s, ciphertext=s.ciphertext[:-1]), ASSOCIATED), id="truncated"
        ),
        pytest.param(lambda s: (replace(s, nonce=flipped(s.nonce, 11)), ASSOCIATED), id="nonce"),
        pytest.param(lambda s: (s, flipped(ASSOCIATED, 3)), id="associated data"),
        pytest.param(lambda s: (s, ASSOCIATED + b" "), id="associated data longer"),
    ],
)
def test_altered_data_with_the_right_passphrase_is_corrupt(sealed: Sealed, alter: Any) -> None:
    altered, associated = alter(sealed)
    with pytest.raises(WalletCorrupt, match="does not authenticate"):
        unseal(altered, PASSPHRASE, associated)


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda s: replace(s, check=flipped(s.check, 31)), id="check"),
        pytest.param(
            lambda s: replace(s, params=replace(s.params, salt=flipped(s.params.salt))), id="salt"
        ),
        pytest.param(lambda s: replace(s, params=replace(s.params, n=2**11)), id="n"),
        pytest.param(lambda s: replace(s, params=replace(s.params, r=7)), id="r"),
        pytest.param(lambda s: replace(s, params=replace(s.params, p=2)), id="p"),
    ],
)
def test_altered_key_inputs_read_as_a_wrong_passphrase(sealed: Sealed, alter: Any) -> None:
    """The salt, the costs and the check decide which key and check a passphrase gives: with
    one of them changed no passphrase gives the stored check, exactly as a wrong passphrase."""
    with pytest.raises(WrongPassphrase):
        unseal(alter(sealed), PASSPHRASE, ASSOCIATED)


def test_every_seal_is_fresh() -> None:
    first = seal(SECRET, PASSPHRASE, ASSOCIATED, ScryptParams.fresh(n=2**10))
    second = seal(SECRET, PASSPHRASE, ASSOCIATED, ScryptParams.fresh(n=2**10))
    assert first.params.salt != second.params.salt
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert first.check != second.check
    # Even under one salt, a fresh nonce each time.
    assert (
        seal(SECRET, PASSPHRASE, ASSOCIATED, CHEAP).nonce
        != seal(SECRET, PASSPHRASE, ASSOCIATED, CHEAP).nonce
    )


def test_a_given_nonce_is_used() -> None:
    nonce = bytes(range(12))
    assert seal(SECRET, PASSPHRASE, ASSOCIATED, CHEAP, nonce=nonce).nonce == nonce
    with pytest.raises(ValueError, match="12 bytes"):
        seal(SECRET, PASSPHRASE, ASSOCIATED, CHEAP, nonce=bytes(8))


def test_the_passphrase_is_compared_in_nfkc() -> None:
    composed = "caf\u00e9 \uff11\uff12"  # é as one code point, full-width 1 and 2
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    sealed = seal(SECRET, composed, ASSOCIATED, CHEAP)
    assert unseal(sealed, decomposed, ASSOCIATED) == SECRET
    assert unseal(sealed, "caf\u00e9 12", ASSOCIATED) == SECRET
    with pytest.raises(WrongPassphrase):
        unseal(sealed, "cafe 12", ASSOCIATED)


def test_an_empty_passphrase_is_allowed_here() -> None:
    """The library allows it (a devnet script may want it); the command line asks for one."""
    assert unseal(seal(SECRET, "", ASSOCIATED, CHEAP), "", ASSOCIATED) == SECRET


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(max_size=300),
    passphrase=st.text(max_size=40),
    associated=st.binary(max_size=300),
)
def test_round_trip_property(secret: bytes, passphrase: str, associated: bytes) -> None:
    sealed = seal(secret, passphrase, associated, CHEAP)
    assert unseal(sealed, passphrase, associated) == secret
    with pytest.raises(WrongPassphrase):
        unseal(sealed, passphrase + "x", associated)
    with pytest.raises(WalletCorrupt):
        unseal(sealed, passphrase, associated + b"x")


def test_default_costs() -> None:
    params = ScryptParams()
    assert (params.n, params.r, params.p) == (2**17, 8, 1)
    assert params.memory == 128 * 2**20
    assert len(params.salt) == 32
    assert ScryptParams().salt != params.salt
    assert ScryptParams.fresh().salt != ScryptParams.fresh().salt


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"n": 2**10 + 1}, "power of 2"),
        ({"n": 3 * 2**10}, "power of 2"),
        ({"n": 2**9}, "power of 2 from 2\\*\\*10"),
        ({"n": 0}, "power of 2 from 2\\*\\*10"),
        ({"n": 2**23}, "to 2\\*\\*22"),
        ({"n": 2**22, "r": 8}, "needs 4096 MiB"),
        ({"n": 2**20, "r": 9}, "needs 1152 MiB"),
        ({"r": 0}, "r must be from 1 to 32"),
        ({"r": 33}, "r must be from 1 to 32"),
        ({"p": 0}, "p must be from 1 to 16"),
        ({"p": 17}, "p must be from 1 to 16"),
        ({"n": 2.0**10}, "n must be an integer"),
        ({"r": True}, "r must be an integer"),
        ({"salt": bytes(15)}, "16 or 32 bytes"),
        ({"salt": bytes(33)}, "16 or 32 bytes"),
        ({"salt": bytes(24)}, "16 or 32 bytes"),
    ],
)
def test_bounds(arguments: dict[str, Any], reason: str) -> None:
    values = {"n": 2**10, "r": 8, "p": 1, "salt": bytes(32)} | arguments
    with pytest.raises(ValueError, match=reason):
        ScryptParams(**values)


def test_the_largest_allowed_memory() -> None:
    assert ScryptParams(2**20, 8, 1, bytes(16)).memory == MAX_MEMORY
    assert ScryptParams(2**22, 2, 16, bytes(32)).memory == MAX_MEMORY


def test_document_round_trip() -> None:
    document = CHEAP.to_document()
    assert document == {"name": "scrypt", "n": 1024, "r": 8, "p": 1, "salt": CHEAP.salt.hex()}
    assert ScryptParams.from_document(document) == CHEAP


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": "argon2id"}, "name: Must be equal to scrypt"),
        ({"n": "1024"}, "n: Not a valid integer"),
        ({"n": 1024.5}, "n: Not a valid integer"),
        ({"n": 1536}, "power of 2"),
        ({"n": 2**23}, "n: Must be greater than or equal to 1024 and less than or equal to"),
        ({"r": 64}, "r: Must be"),
        ({"salt": "zz" * 32}, "salt: not hexadecimal"),
        ({"salt": "00" * 20}, "16 or 32 bytes"),
        ({"extra": 1}, "extra: Unknown field"),
    ],
)
def test_documents_are_checked(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ScryptParams.from_document(CHEAP.to_document() | change)


def test_a_document_missing_a_key_is_refused() -> None:
    document = CHEAP.to_document()
    del document["p"]
    with pytest.raises(ValueError, match="p: Missing data for required field"):
        ScryptParams.from_document(document)
