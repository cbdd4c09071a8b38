"""Listening TCP sockets as /proc/net/tcp{,6} lists them, and which are reachable from
other machines: what tests/integration/test_loopback_only.py checks of the live stack,
and tests/unit/test_security.py checks on sample lines (so the live check can be seen to
fail). Importable from both levels: pyproject.toml puts tests/ on pytest's pythonpath.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Literal

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Listener = tuple[Address, int]
ByteOrder = Literal["little", "big"]

TCP_LISTEN = "0A"  # the `st` column of /proc/net/tcp{,6}


def _address(hex_text: str, byteorder: ByteOrder) -> Address:
    """An address as /proc/net/tcp prints it: 32-bit words, each in host byte order."""
    raw = bytes.fromhex(hex_text)
    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    if byteorder == "little":
        words = [word[::-1] for word in words]
    return ipaddress.ip_address(b"".join(words))


def listeners(table: str, byteorder: ByteOrder = sys.byteorder) -> dict[int, Listener]:
    """Socket inode -> (address, port) of every listening socket in a /proc/net/tcp{,6} text,
    as a kernel of `byteorder` (by default this machine's) prints it."""
    found = {}
    for line in table.splitlines()[1:]:  # the first line is the header
        fields = line.split()
        if fields[3] == TCP_LISTEN:
            address, port = fields[1].split(":")
            found[int(fields[9])] = (_address(address, byteorder), int(port, 16))
    return found


def is_loopback(address: Address) -> bool:
    """127.0.0.0/8 and ::1, and ::ffff:127.0.0.1, which is how a JVM binds 127.0.0.1."""
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def exposed(sockets: dict[int, set[int]],
            listening: dict[int, Listener]) -> list[tuple[int, Address, int]]:
    """(pid, address, port) of each listening socket in `sockets` (pid -> socket inodes)
    that is not bound to loopback."""
    return [(pid, *listening[inode])
            for pid, inodes in sorted(sockets.items()) for inode in sorted(inodes)
            if inode in listening and not is_loopback(listening[inode][0])]
