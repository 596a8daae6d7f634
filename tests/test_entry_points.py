"""The provider library's NSPv2 entry points called directly through the routine table
NSPv2GetRoutine fills: argument validation, handles, stubs, SetServiceEx, NSPv2GetRoutine's
errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Iterator

import cffi
import pytest

import nspv2
from nspv2 import QuerySet, WinsockError, _runtime
from nspv2._marshal import Marshal
from nspv2._native import ENTRY_POINTS, provider_module

ALL_ONES = 0xFFFFFFFFFFFFFFFF


class Simple(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        yield QuerySet(instance_name="r1")
        yield QuerySet(instance_name="r2")


class WithSetService(Simple):
    def __init__(self) -> None:
        self.calls: list[tuple[QuerySet, int, int]] = []
        self.fail_with = 0

    def set_service(self, query, operation, flags, session):  # type: ignore[no-untyped-def]
        self.calls.append((query, operation, flags))
        if self.fail_with:
            raise WinsockError(self.fail_with)


class AsyncSetService(Simple):
    def __init__(self) -> None:
        self.calls: list[tuple[QuerySet, int, int]] = []
        self.fail_with = 0

    async def set_service(self, query, operation, flags, session):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.001)
        self.calls.append((query, operation, flags))
        if self.fail_with:
            raise WinsockError(self.fail_with)


class Table:
    """A provider registered in this process and its routine table."""

    def __init__(self, native: Any, provider: nspv2.Provider, guid: uuid.UUID) -> None:
        self.native = native
        self.ffi = native.ffi
        self.ws = native.winsock
        self.guid = guid
        self.c_guid = native.guid(guid)
        native.provider  # noqa: B018 - loads the library (and attaches the runtime) first
        _runtime.register(provider, guid)
        self.routine = self.ffi.new("NSPV2_ROUTINE *")
        assert native.provider.NSPv2GetRoutine(self.c_guid, self.routine) == 0
        self.keep: list[Any] = []

    def queryset(self, query: QuerySet | None = None) -> Any:
        qs, keep = Marshal(self.ffi).build(query or QuerySet(instance_name="x"), "WSAQUERYSET2W")
        self.keep.append(keep)
        return qs

    def error(self) -> int:
        return int(self.ws.WSAGetLastError())

    def begin(self, qs: Any = None, guid: Any = None, session: Any = None) -> tuple[int, int]:
        """Calls NSPv2LookupServiceBegin: (return value, handle or last error)."""
        ffi = self.ffi
        handle = ffi.new("HANDLE *")
        self.ws.WSASetLastError(0)
        rc = self.routine.NSPv2LookupServiceBegin(
            self.c_guid if guid is None else guid,
            self.queryset() if qs is None else qs,
            nspv2.LUP_RETURN_ALL,
            ffi.NULL if session is None else session,
            handle,
        )
        if rc == 0:
            return rc, int(ffi.cast("uintptr_t", handle[0]))
        return rc, self.error()

    def end(self, handle: int) -> tuple[int, int]:
        self.ws.WSASetLastError(0)
        rc = self.routine.NSPv2LookupServiceEnd(self.ffi.cast("HANDLE", handle))
        return rc, self.error()


@pytest.fixture
def table(native, provider_id) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    made: list[uuid.UUID] = []

    def make(provider: nspv2.Provider | None = None, guid: uuid.UUID | None = None) -> Table:
        guid = guid or (provider_id if provider_id not in made else uuid.uuid4())
        made.append(guid)
        return Table(native, provider or Simple(), guid)

    yield make
    for guid in made:
        _runtime.unregister(guid)


def test_begin_and_end_succeed(table) -> None:
    """A valid Begin returns NO_ERROR and a handle that End accepts once."""
    t = table()
    rc, handle = t.begin()
    assert rc == 0 and handle != 0
    assert t.end(handle) == (0, 0)
    assert t.end(handle) == (nspv2.SOCKET_ERROR, nspv2.WSA_INVALID_HANDLE)


def test_begin_null_restrictions(table) -> None:
    """NULL lpqsRestrictions is WSAEINVAL with SOCKET_ERROR."""
    t = table()
    assert t.begin(qs=t.ffi.NULL) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


@pytest.mark.parametrize("size", [0, 111, 113, 120, 0xFFFFFFFF])
def test_begin_wrong_dwsize(table, size: int) -> None:
    """A WSAQUERYSET2W whose dwSize is not 112 is WSAEINVAL."""
    t = table()
    qs = t.queryset()
    qs.dwSize = size
    assert t.begin(qs=qs) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_csaddrs_without_buffer(table) -> None:
    """dwNumberOfCsAddrs=5 with a NULL lpcsaBuffer is WSAEINVAL."""
    t = table()
    qs = t.queryset()
    qs.dwNumberOfCsAddrs = 5
    assert t.begin(qs=qs) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


@pytest.mark.parametrize("with_pointer", [False, True])
def test_begin_huge_protocol_count(table, with_pointer: bool) -> None:
    """dwNumberOfProtocols=0xFFFFFFFF is WSAEINVAL, with or without a protocols pointer."""
    t = table()
    qs = t.queryset(QuerySet(protocols=(nspv2.AfProtocol(2, 6),)))
    if not with_pointer:
        qs.lpafpProtocols = t.ffi.NULL
    qs.dwNumberOfProtocols = 0xFFFFFFFF
    assert t.begin(qs=qs) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_blob_size_without_data(table) -> None:
    """A BLOB with cbSize>0 and NULL pBlobData is WSAEINVAL."""
    t = table()
    qs = t.queryset(QuerySet(blob=b""))
    qs.lpBlob.cbSize = 10
    assert t.begin(qs=qs) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_sockaddr_length_without_pointer(table) -> None:
    """A SOCKET_ADDRESS with a length but a NULL lpSockaddr is WSAEINVAL."""
    t = table()
    qs = t.queryset(QuerySet(addresses=(nspv2.CsAddr(remote=("192.0.2.1", 1)),)))
    qs.lpcsaBuffer[0].RemoteAddr.lpSockaddr = t.ffi.NULL
    assert t.begin(qs=qs) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_null_lphlookup(table) -> None:
    """A NULL lphLookup is WSAEINVAL."""
    t = table()
    t.ws.WSASetLastError(0)
    rc = t.routine.NSPv2LookupServiceBegin(t.c_guid, t.queryset(), 0, t.ffi.NULL, t.ffi.NULL)
    assert (rc, t.error()) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_null_provider_id(table) -> None:
    """A NULL lpProviderId is WSAEINVAL."""
    t = table()
    assert t.begin(guid=t.ffi.NULL) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)


def test_begin_unknown_provider_id(table, native) -> None:
    """A provider id nothing is registered or configured under is WSAEINVALIDPROVIDER."""
    t = table()
    assert t.begin(guid=native.guid(uuid.uuid4())) == (
        nspv2.SOCKET_ERROR,
        nspv2.WSAEINVALIDPROVIDER,
    )


def test_begin_unknown_session(table) -> None:
    """A session argument NSPv2Startup never returned is WSAEINVAL."""
    t = table()
    assert t.begin(session=t.ffi.cast("void *", 987654321)) == (
        nspv2.SOCKET_ERROR,
        nspv2.WSAEINVAL,
    )


@pytest.mark.parametrize("handle", [0, 12345678, ALL_ONES])
def test_end_garbage_handle(table, handle: int) -> None:
    """End on a handle Begin never returned is WSA_INVALID_HANDLE with SOCKET_ERROR."""
    t = table()
    assert t.end(handle) == (nspv2.SOCKET_ERROR, nspv2.WSA_INVALID_HANDLE)


def test_handles_are_not_reused(table) -> None:
    """An ended handle stays invalid even after later Begins."""
    t = table()
    _, first = t.begin()
    assert t.end(first) == (0, 0)
    later = [t.begin()[1] for _ in range(5)]
    assert first not in later
    assert t.end(first) == (nspv2.SOCKET_ERROR, nspv2.WSA_INVALID_HANDLE)
    for h in later:
        assert t.end(h) == (0, 0)


def test_startup_cleanup_direct(table) -> None:
    """Startup stores a session argument Begin accepts; after Cleanup that session is unknown
    and a second Cleanup of it is WSAEINVAL."""
    t = table()
    ffi = t.ffi
    arg = ffi.new("LPVOID *")
    assert t.routine.NSPv2Startup(t.c_guid, arg) == 0
    session = arg[0]
    assert session != ffi.NULL
    rc, handle = t.begin(session=session)
    assert rc == 0
    assert t.routine.NSPv2Cleanup(t.c_guid, session) == 0
    assert t.end(handle) == (nspv2.SOCKET_ERROR, nspv2.WSA_INVALID_HANDLE)
    assert t.begin(session=session) == (nspv2.SOCKET_ERROR, nspv2.WSAEINVAL)
    t.ws.WSASetLastError(0)
    assert t.routine.NSPv2Cleanup(t.c_guid, session) == nspv2.SOCKET_ERROR
    assert t.error() == nspv2.WSAEINVAL


def test_startup_null_arguments(table) -> None:
    """Startup with a NULL provider id or NULL session pointer is WSAEINVAL."""
    t = table()
    ffi = t.ffi
    t.ws.WSASetLastError(0)
    assert t.routine.NSPv2Startup(t.c_guid, ffi.NULL) == nspv2.SOCKET_ERROR
    assert t.error() == nspv2.WSAEINVAL
    t.ws.WSASetLastError(0)
    assert t.routine.NSPv2Startup(ffi.NULL, ffi.new("LPVOID *")) == nspv2.SOCKET_ERROR
    assert t.error() == nspv2.WSAEINVAL


def test_routine_table_shape(table) -> None:
    """The table says its size and version and fills every function pointer."""
    t = table()
    r = t.routine
    assert r.cbSize == t.ffi.sizeof("NSPV2_ROUTINE")
    assert r.dwMajorVersion >= 1
    for name in ENTRY_POINTS:
        assert getattr(r, name) != t.ffi.NULL, name


def test_get_routine_unconfigured_guid(native) -> None:
    """NSPv2GetRoutine for a GUID nothing registers or configures is SOCKET_ERROR with
    WSAEINVALIDPROVIDER."""
    routine = native.ffi.new("NSPV2_ROUTINE *")
    native.winsock.WSASetLastError(0)
    assert native.provider.NSPv2GetRoutine(native.guid(uuid.uuid4()), routine) == -1
    assert native.winsock.WSAGetLastError() == nspv2.WSAEINVALIDPROVIDER


def test_get_routine_null_arguments(native) -> None:
    """NSPv2GetRoutine with a NULL GUID or NULL table is WSAEINVAL."""
    ffi = native.ffi
    native.winsock.WSASetLastError(0)
    assert native.provider.NSPv2GetRoutine(ffi.NULL, ffi.new("NSPV2_ROUTINE *")) == -1
    assert native.winsock.WSAGetLastError() == nspv2.WSAEINVAL
    native.winsock.WSASetLastError(0)
    assert native.provider.NSPv2GetRoutine(native.guid(uuid.uuid4()), ffi.NULL) == -1
    assert native.winsock.WSAGetLastError() == nspv2.WSAEINVAL


def _exported_set_service_ex() -> int:
    ffi = cffi.FFI()
    ffi.cdef("void NSPv2SetServiceEx(void *, void *, void *, int, unsigned int, void *);")
    lib = ffi.dlopen(str(provider_module()))
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "NSPv2SetServiceEx")))


def test_set_service_stub_without_method(table) -> None:
    """A class without set_service gets a SetServiceEx that is not the module's export; a class
    with it gets the export."""
    export = _exported_set_service_ex()
    without = table(Simple())
    with_it = table(WithSetService())
    as_int = lambda t: int(t.ffi.cast("uintptr_t", t.routine.NSPv2SetServiceEx))  # noqa: E731
    assert as_int(without) != export
    assert as_int(with_it) == export
    assert as_int(table(AsyncSetService())) == export
    # Startup/Begin/NextEx/End are the library's own whatever the class defines.
    assert int(without.ffi.cast("uintptr_t", without.routine.NSPv2LookupServiceBegin)) == int(
        with_it.ffi.cast("uintptr_t", with_it.routine.NSPv2LookupServiceBegin)
    )


def test_set_service_without_method_is_opnotsupp(serve) -> None:
    """WSASetServiceW to a provider without set_service answers WSAEOPNOTSUPP."""
    guid = serve(Simple())
    with pytest.raises(WinsockError) as info:
        nspv2.set_service(QuerySet(instance_name="svc", provider_id=guid))
    assert info.value.code == nspv2.WSAEOPNOTSUPP


@pytest.mark.parametrize("cls", [WithSetService, AsyncSetService], ids=["plain", "async"])
def test_set_service_operations(serve, cls) -> None:
    """set_service (plain or async def) is called with each operation, the query and flags."""
    provider = cls()
    guid = serve(provider)
    query = QuerySet(instance_name="svc.test", comment="hello", provider_id=guid)
    ops = [
        nspv2.RNRSERVICE_REGISTER,
        nspv2.RNRSERVICE_DEREGISTER,
        nspv2.RNRSERVICE_DELETE,
    ]
    for i, op in enumerate(ops):
        nspv2.set_service(query, op, flags=i)
    assert [(q.instance_name, q.comment, q.provider_id) for q, _, _ in provider.calls] == [
        ("svc.test", "hello", guid)
    ] * 3
    assert [op for _, op, _ in provider.calls] == ops
    assert [flags for _, _, flags in provider.calls] == [0, 1, 2]
    assert all(isinstance(op, nspv2.SetServiceOperation) for _, op, _ in provider.calls)


@pytest.mark.parametrize("cls", [WithSetService, AsyncSetService], ids=["plain", "async"])
def test_set_service_error_reaches_client(serve, cls) -> None:
    """A WinsockError raised in set_service reaches WSASetServiceW's caller as its code."""
    provider = cls()
    provider.fail_with = nspv2.WSAEACCES
    guid = serve(provider)
    with pytest.raises(WinsockError) as info:
        nspv2.set_service(QuerySet(instance_name="svc", provider_id=guid))
    assert info.value.code == nspv2.WSAEACCES


def test_set_service_bad_operation(serve, native) -> None:
    """An operation outside RNRSERVICE_REGISTER..DELETE is WSAEINVAL."""
    guid = serve(WithSetService())
    with pytest.raises(WinsockError) as info:
        nspv2.set_service(QuerySet(instance_name="svc", provider_id=guid), 3)
    assert info.value.code == nspv2.WSAEINVAL


def test_next_on_ended_provider_handle_through_winsock(serve, native) -> None:
    """NextEx paths through WSALookupServiceNextW: results, then WSA_E_NO_MORE; an ended client
    handle is WSA_INVALID_HANDLE."""
    guid = serve(Simple())
    ffi, ws = native.ffi, native.winsock
    ws.WSAStartup(0x0202, ffi.new("WSADATA *"))
    try:
        qs, keep = Marshal(ffi).build(
            QuerySet(provider_id=guid), "WSAQUERYSETW", service_class=nspv2.SVCID_HOSTNAME
        )
        handle = ffi.new("HANDLE *")
        assert ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_NAME, handle) == 0
        buf = ffi.new("char[]", 1024)
        length = ffi.new("DWORD *", 1024)
        out = ffi.cast("WSAQUERYSETW *", buf)
        assert ws.WSALookupServiceNextW(handle[0], 0, length, out) == 0
        name = out.lpszServiceInstanceName
        assert [name[0], name[1], name[2]] == [ord("r"), ord("1"), 0]
        assert ws.WSALookupServiceEnd(handle[0]) == 0
        length[0] = 1024
        assert ws.WSALookupServiceNextW(handle[0], 0, length, out) == -1
        assert ws.WSAGetLastError() == nspv2.WSA_INVALID_HANDLE
        assert ws.WSALookupServiceEnd(handle[0]) == -1
        assert ws.WSAGetLastError() == nspv2.WSA_INVALID_HANDLE
        del keep
    finally:
        ws.WSACleanup()
