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
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Optional, Tuple, TypeVar, Union

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


_Record = TypeVar("_Record", bound=type)


class _Factory:
    """The default of a field that has a default factory (shown as dataclasses shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _direct_init(cls: _Record) -> _Record:
    """Gives a frozen dataclass an ``__init__`` with the same signature that stores the fields
    straight into the instance's ``__dict__``. The generated one calls ``object.__setattr__`` once
    per field, which makes building a QuerySet (done on every lookup, by the provider and by the
    runtime) three times slower. Defaults and default factories are the dataclass's own."""
    params, stores = [], []
    env: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
            value = f.name
        elif f.default_factory is not MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_f_{f.name}() if {f.name} is _FACTORY else {f.name}"
        else:
            params.append(f.name)
            value = f.name
        stores.append(f"    d[{f.name!r}] = {value}\n")
    env["_FACTORY"] = _FACTORY
    source = f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n{''.join(stores)}"
    exec(source, env)  # the source is built above from the field names alone
    init = env["__init__"]
    generated = vars(cls)["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = generated.__doc__
    init.__annotations__ = dict(generated.__annotations__)
    type.__setattr__(cls, "__init__", init)
    return cls


@_direct_init
@dataclass(frozen=True)
class CsAddr:
    """One CSADDR_INFO: a service's address, with the socket type and protocol to reach it.

    ``remote`` is the address clients connect to; ``local`` is rarely set by name services.
    """

    remote: Optional[SockAddr] = None
    local: Optional[SockAddr] = None
    socket_type: int = SOCK_STREAM
    protocol: int = IPPROTO_TCP


@_direct_init
@dataclass(frozen=True)
class AfProtocol:
    """One AFPROTOCOLS entry: an address family (Winsock values) and a protocol."""

    family: int
    protocol: int


@_direct_init
@dataclass(frozen=True)
class Version:
    """WSAVERSION: a version number and how to compare it (COMP_EQUAL 0, COMP_NOTLESS 1)."""

    version: int
    how: int = 0


@_direct_init
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
