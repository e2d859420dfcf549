"""`HOST:PORT` network addresses of the node's flags and config file (`--rpc`, `--listen`, ...).

Rules: the host is an IPv4 address, a DNS name (RFC 1123 labels) or an IPv6 address written
in brackets (`[::1]:9740`); the port is decimal, 1-65535, or 0 ("any free port") where the
caller allows it. `str()` gives the form that `parse` reads back.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Self

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_PORT = re.compile(r"[0-9]{1,5}")
MAX_PORT = 65_535


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, allow_port_zero: bool = False) -> Self:
        """Reads `HOST:PORT`; raises `ValueError("not HOST:PORT (…)")` with the reason."""
        if text.startswith("["):
            end = text.find("]")
            if end < 0 or text[end + 1 : end + 2] != ":":
                raise ValueError(f"not HOST:PORT ({text!r}: write IPv6 as [ADDRESS]:PORT)")
            host, port_text = text[1:end], text[end + 2 :]
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"not HOST:PORT ({host!r} is not an IPv6 address)") from None
        else:
            host, separator, port_text = text.rpartition(":")
            if not separator or not host:
                raise ValueError(f"not HOST:PORT ({text!r} has no host or no port)")
            if ":" in host:
                raise ValueError(f"not HOST:PORT ({text!r}: write IPv6 as [ADDRESS]:PORT)")
            if not _HOSTNAME.fullmatch(host):
                raise ValueError(f"not HOST:PORT ({host!r} is not a host name or address)")
        if not _PORT.fullmatch(port_text):
            raise ValueError(f"not HOST:PORT (port {port_text!r} is not a number)")
        port = int(port_text)
        lowest = 0 if allow_port_zero else 1
        if not lowest <= port <= MAX_PORT:
            raise ValueError(f"not HOST:PORT (port {port} is not within {lowest}-{MAX_PORT})")
        return cls(host, port)

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the address: a loopback address or `localhost`
        (RFC 6761). Any other name may resolve to anything, so it is not."""
        name = self.host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
