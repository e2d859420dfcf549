"""BIP-39 mnemonics (English word list) through trezor's `mnemonic` package, the reference
implementation, with errors that say what is wrong.

Rules:
- A mnemonic is 12, 15, 18, 21 or 24 words of the English list (128 to 256 bits of entropy and
  a checksum of 4 to 8 bits). Words are compared after lower-casing; any run of whitespace
  separates them; the normalised form has single spaces. Unique prefixes are not expanded: a
  word is a word of the list or an error.
- `check_mnemonic` reports the first problem in this order: no words, an unknown word (with
  its position), a wrong number of words, a checksum that does not match.
- The seed is PBKDF2-HMAC-SHA512 of the NFKD forms (2048 rounds, salt "mnemonic" +
  passphrase), the package's `to_seed`; the optional BIP-39 passphrase is a different secret
  from the wallet file's passphrase (docs/wallet.md §Passphrases).
"""

from __future__ import annotations

import secrets

from mnemonic import Mnemonic

from pacata.wallet.errors import InvalidMnemonic

WORD_COUNTS = (12, 15, 18, 21, 24)

_english = Mnemonic("english")
_words = frozenset(_english.wordlist)


def new_mnemonic(words: int = 24) -> str:
    """A new random mnemonic of `words` words (12, 15, 18, 21 or 24)."""
    if words not in WORD_COUNTS:
        raise InvalidMnemonic(f"a mnemonic has 12, 15, 18, 21 or 24 words, not {words}")
    # Each word carries 11 bits, of which 1/33 is checksum: 24 words hold 256 bits of entropy.
    return mnemonic_from_entropy(secrets.token_bytes(words * 4 // 3))


def mnemonic_from_entropy(entropy: bytes) -> str:
    """The mnemonic of `entropy` (16, 20, 24, 28 or 32 bytes)."""
    if len(entropy) not in (16, 20, 24, 28, 32):
        raise ValueError(f"entropy is 16, 20, 24, 28 or 32 bytes, not {len(entropy)}")
    return _english.to_mnemonic(entropy)


def check_mnemonic(text: str) -> str:
    """`text` with its words lower-cased and single-spaced, if it is a valid English mnemonic;
    else `InvalidMnemonic` saying what is wrong."""
    words = text.lower().split()
    if not words:
        raise InvalidMnemonic("the mnemonic is empty")
    for position, word in enumerate(words, start=1):
        if word not in _words:
            raise InvalidMnemonic(f"unknown word {word!r} at position {position}")
    if len(words) not in WORD_COUNTS:
        raise InvalidMnemonic(
            f"a mnemonic has 12, 15, 18, 21 or 24 words; this one has {len(words)}"
        )
    normalised = " ".join(words)
    if not _english.check(normalised):
        raise InvalidMnemonic(
            "the checksum does not match: a word is wrong, missing or out of order"
        )
    return normalised


def mnemonic_seed(words: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of the mnemonic `words` with the BIP-39 `passphrase`
    (`InvalidMnemonic` if the words are not a valid mnemonic)."""
    return Mnemonic.to_seed(check_mnemonic(words), passphrase)
