"""The client side: asking Winsock's namespace providers, as any Windows program does, through
WSALookupServiceBeginW / NextW / End and WSASetServiceW (the stand-in off Windows)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Iterator, List, Optional, Union

from ._constants import (
    LUP_RETURN_ALL,
    NO_ERROR,
    NS_ALL,
    SOCKET_ERROR,
    SVCID_HOSTNAME,
    WSA_E_NO_MORE,
    WSAEFAULT,
    WSAENOMORE,
    SetServiceOperation,
)
from ._marshal import Marshal
from ._native import Native, load
from .errors import WinsockError
from .queryset import QuerySet

#: The first result buffer; larger results go through the WSAEFAULT retry.
INITIAL_BUFFER = 4096

#: The lpServiceClassId clients pass, which WSALookupServiceBegin's page lists as required.
#: Providers never see it (WSAQUERYSET2W has no service class); SVCID_HOSTNAME (svcguid.h) is
#: the class of "resolve this name to its addresses", which is what a lookup asks in every
#: namespace, NS_EMAIL included (an address's mail hosts, a host name's addresses).
SERVICE_CLASS = SVCID_HOSTNAME


def _last_error(native: Native) -> WinsockError:
    return WinsockError(native.winsock.WSAGetLastError())


@contextlib.contextmanager
def winsock_session(native: Optional[Native] = None) -> Iterator[Native]:
    """WSAStartup(2.2) ... WSACleanup around the block."""
    native = native or load()
    data = native.ffi.new("WSADATA *")
    rc = native.winsock.WSAStartup(0x0202, data)
    if rc != NO_ERROR:
        raise WinsockError(rc)
    try:
        yield native
    finally:
        native.winsock.WSACleanup()


def _restrictions(
    name: Optional[str],
    namespace: int,
    provider_id: Optional[Union[str, uuid.UUID]],
    query: Optional[QuerySet],
) -> QuerySet:
    query = query or QuerySet()
    changes: dict[str, Any] = {"namespace": int(namespace)}
    if name is not None:
        changes["instance_name"] = name
    if provider_id is not None:
        changes["provider_id"] = uuid.UUID(str(provider_id))
    return query.replace(**changes)


def _buffer_wcslen(native: Native, buf: Any, size: int) -> Any:
    """A string measure that never reads past the result buffer."""
    ffi = native.ffi
    base = int(ffi.cast("uintptr_t", buf))
    data = bytes(ffi.buffer(buf, size))

    def wcslen(ptr: Any) -> int:
        start = int(ffi.cast("uintptr_t", ptr)) - base
        if start < 0 or start >= size:
            raise WinsockError(WSAEFAULT, "result string outside the result buffer")
        at = start
        while at + 1 < size:
            if data[at] == 0 and data[at + 1] == 0:
                return (at - start) // 2
            at += 2
        raise WinsockError(WSAEFAULT, "unterminated result string")

    return wcslen


def lookup(
    name: Optional[str],
    namespace: int = NS_ALL,
    provider_id: Optional[Union[str, uuid.UUID]] = None,
    flags: int = LUP_RETURN_ALL,
    *,
    query: Optional[QuerySet] = None,
    service_class: uuid.UUID = SERVICE_CLASS,
) -> List[QuerySet]:
    """Look ``name`` up in ``namespace`` (every provider for NS_ALL, or just ``provider_id``).

    Returns every result; raises :class:`WinsockError` with Winsock's code when the lookup fails
    (``WSASERVICE_NOT_FOUND`` when no provider knows the name). ``query`` gives further
    restrictions; ``name``, ``namespace`` and ``provider_id`` override its fields.
    ``service_class`` is the query's lpServiceClassId (``nspv2.client.SERVICE_CLASS`` says
    why that one).
    """
    restrictions = _restrictions(name, namespace, provider_id, query)
    with winsock_session() as native:
        ffi, ws = native.ffi, native.winsock
        qs, keep = Marshal(ffi).build(restrictions, "WSAQUERYSETW", service_class=service_class)
        handle = ffi.new("HANDLE *")
        if ws.WSALookupServiceBeginW(qs, flags, handle) == SOCKET_ERROR:
            raise _last_error(native)
        del keep
        results: List[QuerySet] = []
        try:
            size = INITIAL_BUFFER
            buf = ffi.new("char[]", size)
            length = ffi.new("DWORD *")
            while True:
                length[0] = size
                out = ffi.cast("WSAQUERYSETW *", buf)
                if ws.WSALookupServiceNextW(handle[0], flags, length, out) == SOCKET_ERROR:
                    error = ws.WSAGetLastError()
                    if error in (WSA_E_NO_MORE, WSAENOMORE):
                        break
                    if error == WSAEFAULT and length[0] > size:
                        size = length[0]
                        buf = ffi.new("char[]", size)
                        continue
                    raise WinsockError(error)
                results.append(Marshal(ffi).read(out, _buffer_wcslen(native, buf, size)))
        finally:
            ws.WSALookupServiceEnd(handle[0])
        return results


def set_service(
    query: QuerySet,
    operation: int = SetServiceOperation.RNRSERVICE_REGISTER,
    flags: int = 0,
    *,
    service_class: uuid.UUID = SERVICE_CLASS,
) -> None:
    """WSASetServiceW: register, deregister or delete ``query`` with the providers of its
    namespace (or its ``provider_id``), with ``service_class`` as its lpServiceClassId. Raises
    :class:`WinsockError` on failure."""
    with winsock_session() as native:
        qs, keep = Marshal(native.ffi).build(query, "WSAQUERYSETW", service_class=service_class)
        if native.winsock.WSASetServiceW(qs, int(operation), flags) == SOCKET_ERROR:
            raise _last_error(native)
        del keep
