"""Reading the command line: the parser's one-line errors, help that keeps its examples, the
readers of each kind of value (amounts, addresses, channel ids, URLs, endpoints), and the
completion hint a value carries for the shell.

Rules: a reader raises `ValueError` with the reason, and `checked` turns it into the argument's
usage error; an argument whose values the shell can complete carries a `Completion` kind
(`completes`), which the command line ignores and the shell maps to a provider, so neither side
declares an argument twice.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, NoReturn

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_to_units
from pacata.errors import DecodeError

ID_PREFIX = 12  # hex digits of a channel id that tables show
MIN_ID_PREFIX = 8  # the fewest a command takes to name one
COMPLETION_ATTRIBUTE = "pacata_completion"


class Completion(Enum):
    """What the shell offers when Tab is pressed on an argument."""

    WALLET = "wallet"  # wallet names
    RECIPIENT = "recipient"  # pac1 addresses of the address book and of the wallets, names
    CONTACT = "contact"  # names in the address book
    RELAY = "relay"  # relays registered on the chain
    CHANNEL = "channel"  # channel ids of the wallets' accounts
    NODE_CHANNEL = "node-channel"  # channel ids of the node's own account
    PATH = "path"  # files


def completes(action: argparse.Action, kind: Completion) -> argparse.Action:
    setattr(action, COMPLETION_ATTRIBUTE, kind)
    return action


class OneLineParser(argparse.ArgumentParser):
    """argparse, its usage errors one line (`prog: error: …`) rather than usage and error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's help, the description wrapped but the epilog's examples kept line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def checked(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse `type` that reports `read`'s `ValueError` as the argument's error."""

    def check(text: str) -> Any:
        try:
            return read(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    check.__name__ = read.__name__  # argparse names the type in some messages
    return check


def amount(text: str) -> int:
    return pac_to_units(text)


def price(text: str) -> int:
    return pac_to_units(text, allow_zero=True)


def address(text: str) -> Address:
    try:
        return Address.from_string(text)
    except (DecodeError, ValueError) as error:
        raise ValueError(f"{text!r} is not a pac1 address ({error})") from None


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    def read(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
            raise ValueError(f"{what} is a whole number within {low}-{high}, not {text!r}")
        return int(text)

    read.__name__ = what
    return read


def timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"a timeout is a positive number of seconds, not {text!r}")
    return seconds


def node_url(text: str) -> str:
    """`http://HOST:PORT` (or https, or with a path), or `HOST:PORT` for http."""
    from pacata.rpc.client import check_base_url

    try:
        return check_base_url(text if "://" in text else f"http://{text}")
    except ValueError:
        raise ValueError(f"{text!r} is not an http:// URL nor HOST:PORT") from None


def endpoint(text: str) -> str:
    """`IP:PORT` or `[IPv6]:PORT`: clients dial the first such endpoint of an offer and
    resolve no names (pacata/vpn/channel_peers.py)."""
    from pacata.vpn.uapi import ConfigurationError, format_endpoint, parse_endpoint

    try:
        host, port = parse_endpoint(text)
    except ConfigurationError as error:
        raise ValueError(f"{error} (write IP:PORT or [IPv6]:PORT)") from None
    if port == 0:
        raise ValueError(f"endpoint {text!r} has port 0")
    return format_endpoint((host, port))


def channel_reference(text: str) -> str:
    """A channel id (64 hex digits) or, to pick one of the channels the command knows, its
    first 8 or more."""
    lowered = text.lower()
    if not MIN_ID_PREFIX <= len(lowered) <= 64 or any(c not in "0123456789abcdef" for c in lowered):
        raise ValueError(
            f"{text!r} is not a channel id: 64 hex digits, or the first {MIN_ID_PREFIX} or more"
        )
    return lowered


def hex_bytes(size: int, what: str) -> Callable[[str], bytes]:
    def read(text: str) -> bytes:
        try:
            value = bytes.fromhex(text)
        except ValueError:
            value = b""
        if len(value) != size:
            raise ValueError(f"{what} is {size * 2} hex digits, not {text!r}")
        return value

    read.__name__ = what
    return read
