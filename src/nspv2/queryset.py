"""The Python face of WSAQUERYSET2W: :class:`QuerySet` and the values in it.

Field names follow the SDK's (``lpszServiceInstanceName`` is ``instance_name``, ``lpcsaBuffer``
is ``addresses``, ...). Socket addresses are written as the :mod:`socket` module writes them:
``(host, port)`` for IPv4 and ``(host, port, flowinfo, scope_id)`` for IPv6; any other family is
the raw SOCKADDR as ``bytes`` (Winsock's layout: little-endian family first).
"""

from __future__ import annotations

import functools
import ipaddress
import struct
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Tuple, Union

from ._constants import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    SOCK_STREAM,
    ResultFlags,
)

IPv4Address = Tuple[str, int]
IPv6Address = Tuple[str, int, int, int]
SockAddr = Union[IPv4Address, IPv6Address, bytes]

_SOCKADDR_IN = struct.Struct("<H2s4s8x")  # family little-endian, port big-endian (as bytes)
_SOCKADDR_IN6 = struct.Struct("<H2sI16sI")


def sockaddr_to_bytes(address: SockAddr) -> bytes:
    """A socket-module address as a Winsock SOCKADDR_IN / SOCKADDR_IN6 (or raw bytes as given)."""
    if type(address) is not tuple:
        return _sockaddr_to_bytes(address)
    try:  # keyed by the element types too: (host, 80.0) must not hit (host, 80)'s entry
        return _sockaddr_cached(address, tuple(map(type, address)))
    except TypeError:  # unhashable: not a valid address either; let the full check say why
        return _sockaddr_to_bytes(address)


@functools.lru_cache(maxsize=4096)
def _sockaddr_cached(address: SockAddr, types: Tuple[type, ...]) -> bytes:
    return _sockaddr_to_bytes(address)


def _sockaddr_to_bytes(address: SockAddr) -> bytes:
    """A socket-module address as a Winsock SOCKADDR_IN / SOCKADDR_IN6 (or raw bytes as given)."""
    if isinstance(address, (bytes, bytearray, memoryview)):
        raw = bytes(address)
        if len(raw) < 2:
            raise ValueError("a raw SOCKADDR needs at least its 2-byte family")
        return raw
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError(
            f"socket address must be (host, port), (host, port, flowinfo, scope_id) or bytes, "
            f"not {address!r}"
        )
    host, port = address[0], address[1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise ValueError(f"invalid socket address {address!r}")
    if len(address) == 2:
        return _SOCKADDR_IN.pack(
            AF_INET, port.to_bytes(2, "big"), ipaddress.IPv4Address(host).packed
        )
    flowinfo, scope_id = address[2], address[3]
    if "%" in host:
        host, _, zone = host.partition("%")
        if zone.isdigit() and not scope_id:
            scope_id = int(zone)
    return _SOCKADDR_IN6.pack(
        AF_INET6,
        port.to_bytes(2, "big"),
        _ulong(flowinfo, address),
        ipaddress.IPv6Address(host).packed,
        _ulong(scope_id, address),
    )


def _ulong(value: Any, address: object) -> int:
    """A flowinfo / scope id as the 32-bit ULONG it is stored in (ValueError if it does not fit)."""
    try:
        n = int(value)
    except OverflowError as exc:  # int(float("inf"))
        raise ValueError(f"invalid socket address {address!r}") from exc
    if not 0 <= n <= 0xFFFFFFFF:
        raise ValueError(f"invalid socket address {address!r}: {n} does not fit in 32 bits")
    return n


def sockaddr_from_bytes(raw: bytes) -> SockAddr:
    """A Winsock SOCKADDR as the socket module would write it (bytes for other families)."""
    if len(raw) >= _SOCKADDR_IN.size - 8 and raw[:2] == AF_INET.to_bytes(2, "little"):
        _, port, addr = _SOCKADDR_IN.unpack_from(raw.ljust(_SOCKADDR_IN.size, b"\0"))
        return (str(ipaddress.IPv4Address(addr)), int.from_bytes(port, "big"))
    if len(raw) >= _SOCKADDR_IN6.size and raw[:2] == AF_INET6.to_bytes(2, "little"):
        _, port, flowinfo, addr, scope_id = _SOCKADDR_IN6.unpack_from(raw)
        return (str(ipaddress.IPv6Address(addr)), int.from_bytes(port, "big"), flowinfo, scope_id)
    return bytes(raw)


@dataclass(frozen=True)
class CsAddr:
    """One CSADDR_INFO: a service's address, with the socket type and protocol to reach it.

    ``remote`` is the address clients connect to; ``local`` is rarely set by name services.
    """

    remote: Optional[SockAddr] = None
    local: Optional[SockAddr] = None
    socket_type: int = SOCK_STREAM
    protocol: int = IPPROTO_TCP


@dataclass(frozen=True)
class AfProtocol:
    """One AFPROTOCOLS entry: an address family (Winsock values) and a protocol."""

    family: int
    protocol: int


@dataclass(frozen=True)
class Version:
    """WSAVERSION: a version number and how to compare it (COMP_EQUAL 0, COMP_NOTLESS 1)."""

    version: int
    how: int = 0


@dataclass(frozen=True)
class QuerySet:
    """A WSAQUERYSET2W: the restrictions of a lookup, or one of its results.

    Every field is optional. ``namespace`` is an ``NS_*`` value, ``provider_id`` a
    :class:`uuid.UUID`, ``output_flags`` ``RESULT_IS_*`` bits, ``blob`` the BLOB's bytes.
    Strings are any Python ``str``: characters outside the BMP travel as surrogate pairs and a
    lone surrogate from a client arrives (and goes back) as the same lone code point.
    """

    instance_name: Optional[str] = None
    version: Optional[Version] = None
    comment: Optional[str] = None
    namespace: int = 0
    provider_id: Optional[uuid.UUID] = None
    context: Optional[str] = None
    protocols: Tuple[AfProtocol, ...] = field(default_factory=tuple)
    query_string: Optional[str] = None
    addresses: Tuple[CsAddr, ...] = field(default_factory=tuple)
    output_flags: int = 0
    blob: Optional[bytes] = None

    def replace(self, **changes: object) -> QuerySet:
        """A copy with some fields changed (dataclasses.replace)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_alias(self) -> bool:
        """Whether RESULT_IS_ALIAS is set: this result names an alias of the service."""
        return bool(self.output_flags & ResultFlags.RESULT_IS_ALIAS)
