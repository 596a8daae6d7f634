"""Bad input, written down: one test per row of docs/bad-input.md. Clients that send malformed
query sets, handles and buffers (through the stand-in's WSALookupService* and, where the
stand-in itself would refuse or crash first, the routine table directly); providers that raise,
return the wrong things or never finish; configurations that are wrong."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

import nspv2
from nspv2 import AfProtocol, CsAddr, QuerySet, WinsockError, _runtime, config
from nspv2._marshal import Marshal
from nspv2._native import Native
from nspv2.client import _buffer_wcslen
from nspv2.config import ConfigError, NotConfigured

DANGLING = 0x10  # an address nothing is mapped at: reading it would crash the test process


# -- helpers -------------------------------------------------------------------------------------


class Echo(nspv2.Provider):
    """Answers every lookup with the name it was asked, and records the queries."""

    namespace = nspv2.NS_DNS

    def __init__(self) -> None:
        self.queries: list[QuerySet] = []

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.queries.append(query)
        return QuerySet(instance_name=query.instance_name)


class Returns(nspv2.Provider):
    """A plain lookup returning whatever it was given."""

    namespace = nspv2.NS_DNS

    def __init__(self, value: Any) -> None:
        self.value = value

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        return self.value


class Table:
    """A provider registered in this process and the routine table NSPv2GetRoutine fills."""

    def __init__(self, native: Native, provider: nspv2.Provider, guid: uuid.UUID) -> None:
        self.ffi = native.ffi
        self.ws = native.winsock
        self.c_guid = native.guid(guid)
        native.provider  # noqa: B018 - loads the library (and attaches the runtime) first
        _runtime.register(provider, guid)
        self.routine = self.ffi.new("NSPV2_ROUTINE *")
        assert native.provider.NSPv2GetRoutine(self.c_guid, self.routine) == 0
        self.keep: list[Any] = []

    def queryset(self, query: Optional[QuerySet] = None) -> Any:
        qs, keep = Marshal(self.ffi).build(query or QuerySet(instance_name="x"), "WSAQUERYSET2W")
        self.keep.append(keep)
        return qs

    def begin(self, qs: Any, out: Any = None) -> tuple[int, int]:
        """NSPv2LookupServiceBegin: (return value, last error), ending any handle it returns."""
        handle = self.ffi.new("HANDLE *") if out is None else out
        self.ws.WSASetLastError(0)
        rc = self.routine.NSPv2LookupServiceBegin(
            self.c_guid, qs, nspv2.LUP_RETURN_ALL, self.ffi.NULL, handle
        )
        error = int(self.ws.WSAGetLastError())
        if rc == 0:
            self.routine.NSPv2LookupServiceEnd(handle[0])
        return rc, error


@pytest.fixture
def table(native: Native, provider_id: uuid.UUID) -> Iterator[Any]:
    def make(provider: Optional[nspv2.Provider] = None) -> Table:
        return Table(native, provider or Echo(), provider_id)

    yield make
    _runtime.unregister(provider_id)


class Client:
    """One client process's WSAStartup span, for hand-driven WSALookupServiceBeginW/NextW/End."""

    def __init__(self, native: Native) -> None:
        self.native = native
        self.ffi = native.ffi
        self.ws = native.winsock
        self.keep: list[Any] = []

    def queryset(self, query: QuerySet) -> Any:
        qs, keep = Marshal(self.ffi).build(
            query, "WSAQUERYSETW", service_class=nspv2.SVCID_HOSTNAME
        )
        self.keep.append(keep)
        return qs

    def error(self) -> int:
        return int(self.ws.WSAGetLastError())

    def begin(self, qs: Any, flags: int = nspv2.LUP_RETURN_ALL) -> Any:
        """Begin that must succeed: the client handle."""
        handle = self.ffi.new("HANDLE *")
        assert self.ws.WSALookupServiceBeginW(qs, flags, handle) == 0, self.error()
        return handle[0]

    def begin_error(self, qs: Any, handle: Any = None) -> int:
        """Begin that must fail: its last error."""
        out = self.ffi.new("HANDLE *") if handle is None else handle
        assert self.ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, out) == -1
        return self.error()

    def next(self, handle: Any, length: int, size: Optional[int] = None) -> tuple[int, int, Any]:
        """NextW claiming ``length`` bytes in a real buffer of ``size`` (None: a NULL buffer):
        (0 or the error, *lpdwBufferLength after the call, the buffer)."""
        cell = self.ffi.new("DWORD *", length)
        buf = self.ffi.new("char[]", size) if size else self.ffi.NULL
        out = self.ffi.cast("WSAQUERYSETW *", buf) if size else self.ffi.NULL
        rc = self.ws.WSALookupServiceNextW(handle, nspv2.LUP_RETURN_ALL, cell, out)
        return (0 if rc == 0 else self.error()), int(cell[0]), buf

    def read(self, buf: Any, size: int) -> QuerySet:
        out = self.ffi.cast("WSAQUERYSETW *", buf)
        return Marshal(self.ffi).read(out, _buffer_wcslen(self.native, buf, size))

    def end(self, handle: Any) -> int:
        return 0 if self.ws.WSALookupServiceEnd(handle) == 0 else self.error()


@pytest.fixture
def client(native: Native) -> Iterator[Client]:
    native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *"))
    try:
        yield Client(native)
    finally:
        native.winsock.WSACleanup()


def lookup_error(guid: uuid.UUID, name: str = "q") -> int:
    """The Winsock code nspv2.lookup fails with (asserting that it fails)."""
    with pytest.raises(WinsockError) as info:
        nspv2.lookup(name, namespace=nspv2.NS_DNS, provider_id=guid)
    return info.value.code


# -- from clients --------------------------------------------------------------------------------


def test_client_null_restrictions(client: Client, table: Any) -> None:
    """NULL restrictions: WSAEFAULT from Winsock, WSAEINVAL from NSPv2LookupServiceBegin."""
    assert client.begin_error(client.ffi.NULL) == nspv2.WSAEFAULT
    assert table().begin(client.ffi.NULL) == (-1, nspv2.WSAEINVAL)


def test_client_null_lphlookup(client: Client, serve: Any, table: Any) -> None:
    """NULL lphLookup: WSAEFAULT from Winsock, WSAEINVAL from NSPv2LookupServiceBegin."""
    guid = serve(Echo())
    qs = client.queryset(QuerySet(instance_name="x", provider_id=guid))
    assert client.begin_error(qs, handle=client.ffi.NULL) == nspv2.WSAEFAULT
    t = table()
    assert t.begin(t.queryset(), out=t.ffi.NULL) == (-1, nspv2.WSAEINVAL)


@pytest.mark.parametrize("delta", [None, -1, +1], ids=["zero", "too-small", "too-big"])
def test_client_wrong_dwsize(client: Client, serve: Any, table: Any, delta: Optional[int]) -> None:
    """dwSize one less or one more than the struct: WSAEINVAL at both levels; 0: Winsock's
    ERROR_INVALID_PARAMETER for the client (test_ws2_rules.py says why), WSAEINVAL from the
    provider library."""
    guid = serve(Echo())
    qs = client.queryset(QuerySet(instance_name="x", provider_id=guid))
    qs.dwSize = 0 if delta is None else qs.dwSize + delta
    expected = nspv2.WSA_INVALID_PARAMETER if delta is None else nspv2.WSAEINVAL
    assert client.begin_error(qs) == expected
    t = table()
    qs2 = t.queryset()
    qs2.dwSize = 0 if delta is None else qs2.dwSize + delta
    assert t.begin(qs2) == (-1, nspv2.WSAEINVAL)


def test_client_wrong_dwsize_with_dangling_name(table: Any) -> None:
    """A wrong dwSize is refused before any pointer is read, even a dangling name pointer."""
    t = table()
    qs = t.queryset()
    qs.dwSize = 0
    qs.lpszServiceInstanceName = t.ffi.cast("WCHAR *", DANGLING)
    assert t.begin(qs) == (-1, nspv2.WSAEINVAL)


def test_client_pointers_with_zero_counts_are_ignored(table: Any) -> None:
    """Dangling lpafpProtocols / lpcsaBuffer with zero counts and a dangling pBlobData with
    cbSize 0 are never read: the lookup succeeds with no protocols, addresses or blob bytes."""
    provider = Echo()
    t = table(provider)
    qs = t.queryset(QuerySet(instance_name="x", blob=b""))
    qs.lpafpProtocols = t.ffi.cast("AFPROTOCOLS *", DANGLING)
    qs.dwNumberOfProtocols = 0
    qs.lpcsaBuffer = t.ffi.cast("CSADDR_INFO *", DANGLING)
    qs.dwNumberOfCsAddrs = 0
    qs.lpBlob.pBlobData = t.ffi.cast("BYTE *", DANGLING)
    assert t.begin(qs) == (0, 0)
    [query] = provider.queries
    assert (query.protocols, query.addresses, query.blob) == ((), (), b"")


@pytest.mark.parametrize("field", ["protocols", "csaddrs"])
def test_client_count_with_null_array(client: Client, serve: Any, table: Any, field: str) -> None:
    """A count of 5 with a NULL array: WSAEINVAL at both levels."""
    guid = serve(Echo())
    qs = client.queryset(QuerySet(instance_name="x", provider_id=guid))
    t = table()
    qs2 = t.queryset()
    for q in (qs, qs2):
        if field == "protocols":
            q.dwNumberOfProtocols = 5
        else:
            q.dwNumberOfCsAddrs = 5
    assert client.begin_error(qs) == nspv2.WSAEINVAL
    assert t.begin(qs2) == (-1, nspv2.WSAEINVAL)


@pytest.mark.parametrize(
    "field,count", [("csaddrs", 0xFFFFFFFF), ("protocols", 1 << 20)], ids=["csaddrs", "protocols"]
)
def test_client_huge_counts(table: Any, field: str, count: int) -> None:
    """dwNumberOfCsAddrs 0xFFFFFFFF / dwNumberOfProtocols 1<<20 over a one-element array are
    WSAEINVAL before the array is read (direct call: the stand-in would read past it first)."""
    t = table()
    qs = t.queryset(
        QuerySet(
            instance_name="x",
            protocols=(AfProtocol(nspv2.AF_INET, nspv2.IPPROTO_TCP),),
            addresses=(CsAddr(remote=("192.0.2.1", 1)),),
        )
    )
    if field == "csaddrs":
        qs.dwNumberOfCsAddrs = count
    else:
        qs.dwNumberOfProtocols = count
    assert t.begin(qs) == (-1, nspv2.WSAEINVAL)


@pytest.mark.parametrize("length", [-1, 129, 0x7FFFFFFF], ids=["negative", "129", "huge"])
def test_client_bad_sockaddr_length(table: Any, length: int) -> None:
    """iSockaddrLength negative or above 128 (SOCKADDR_STORAGE) is WSAEINVAL."""
    t = table()
    qs = t.queryset(QuerySet(instance_name="x", addresses=(CsAddr(remote=("192.0.2.1", 1)),)))
    qs.lpcsaBuffer[0].RemoteAddr.iSockaddrLength = length
    assert t.begin(qs) == (-1, nspv2.WSAEINVAL)


def test_client_sockaddr_length_129_through_winsock(client: Client, serve: Any) -> None:
    """A 129-byte SOCKADDR (real memory) passes the stand-in and is refused by the provider
    library with WSAEINVAL."""
    guid = serve(Echo())
    qs = client.queryset(
        QuerySet(instance_name="x", provider_id=guid, addresses=(CsAddr(remote=b"\x02\x00"),))
    )
    raw = client.ffi.new("char[]", 200)
    raw[0] = b"\x02"
    qs.lpcsaBuffer[0].RemoteAddr.lpSockaddr = client.ffi.cast("SOCKADDR *", raw)
    qs.lpcsaBuffer[0].RemoteAddr.iSockaddrLength = 129
    assert client.begin_error(qs) == nspv2.WSAEINVAL
    assert client.begin_error(qs) == nspv2.WSAEINVAL  # and again: nothing was left behind
    qs.lpcsaBuffer[0].RemoteAddr.iSockaddrLength = -5
    assert client.begin_error(qs) == nspv2.WSAEINVAL


@pytest.mark.parametrize("real_data", [False, True], ids=["null-data", "small-data"])
def test_client_huge_blob(client: Client, serve: Any, table: Any, real_data: bool) -> None:
    """BLOB cbSize 0xFFFFFFFF with NULL pBlobData (both levels) or with 4 real bytes (direct)
    is WSAEINVAL."""
    t = table()
    qs2 = t.queryset(QuerySet(instance_name="x", blob=b"abcd"))
    if not real_data:
        qs2.lpBlob.pBlobData = t.ffi.NULL
        guid = serve(Echo(), guid=uuid.uuid4())
        qs = client.queryset(QuerySet(instance_name="x", provider_id=guid, blob=b""))
        qs.lpBlob.cbSize = 0xFFFFFFFF
        assert client.begin_error(qs) == nspv2.WSAEINVAL
    qs2.lpBlob.cbSize = 0xFFFFFFFF
    assert t.begin(qs2) == (-1, nspv2.WSAEINVAL)


RESULT = QuerySet(instance_name="result", comment="c" * 40)


@pytest.mark.parametrize("length", [0, 1, 111], ids=["0", "1", "111"])
def test_client_small_buffer_lengths(client: Client, serve: Any, length: int) -> None:
    """Buffer lengths 0 (NULL buffer), 1 and 111: WSAEFAULT with the required length; the
    retry with that length returns the result."""
    guid = serve(Returns([RESULT]))
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    error, needed, _ = client.next(handle, length, size=length or None)
    assert error == nspv2.WSAEFAULT and needed > max(length, 120)
    error, _, buf = client.next(handle, needed, size=needed)
    assert error == 0
    assert client.read(buf, needed).comment == RESULT.comment
    assert client.end(handle) == 0


def test_client_near_4gib_length(client: Client, serve: Any) -> None:
    """*lpdwBufferLength 0xFFFFFFF0 over a real 4 KiB buffer: the stand-in gives the provider at
    most 64 MiB, the small result is written and the client gets NO_ERROR (Winsock takes the
    caller's length as the truth: a result larger than the real buffer would overflow it)."""
    guid = serve(Returns([RESULT, RESULT]))
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    error, _, buf = client.next(handle, 0xFFFFFFF0, size=4096)
    assert error == 0
    assert client.read(buf, 4096).instance_name == "result"
    error, _, _ = client.next(handle, 0xFFFFFFFF, size=4096)
    assert error == 0
    assert client.next(handle, 0xFFFFFFF0, size=4096)[0] == nspv2.WSA_E_NO_MORE
    assert client.end(handle) == 0


@pytest.mark.parametrize(
    "name",
    ["a\ud800b", "a\udc00b", "\udc00\ud800", "\ud800", "x\U0001f600\udbff"],
    ids=["lone-high", "lone-low", "reversed-pair", "only-high", "pair-then-lone"],
)
def test_client_invalid_utf16(serve: Any, name: str) -> None:
    """Invalid UTF-16 reaches the provider as the same lone code points (surrogatepass) and
    comes back unchanged."""
    provider = Echo()
    guid = serve(provider)
    [result] = nspv2.lookup(name, namespace=nspv2.NS_DNS, provider_id=guid)
    assert provider.queries[0].instance_name == name
    assert result.instance_name == name


def test_client_overlong_string_through_winsock(serve: Any) -> None:
    """A 40,000-WCHAR name is WSAEINVAL; 32,767 WCHARs (the limit) is accepted."""
    guid = serve(Echo())
    assert lookup_error(guid, "a" * 40000) == nspv2.WSAEINVAL
    [result] = nspv2.lookup("b" * 32767, namespace=nspv2.NS_DNS, provider_id=guid)
    assert result.instance_name == "b" * 32767


@pytest.mark.parametrize("field", ["lpszServiceInstanceName", "lpszComment", "lpszContext"])
def test_client_unterminated_string(table: Any, field: str) -> None:
    """A string with no NUL in its 32,768 WCHARs of real memory is WSAEINVAL, read no further
    (direct call: the stand-in would search past it for the NUL first)."""
    t = table()
    chars = t.ffi.new("WCHAR[]", [ord("z")] * 32768)
    qs = t.queryset()
    setattr(qs, field, chars)
    assert t.begin(qs) == (-1, nspv2.WSAEINVAL)


@pytest.mark.parametrize("value", [0, 12345678, 0xFFFFFFFFFFFFFFFF], ids=["0", "made-up", "-1"])
def test_client_end_garbage_handle(client: Client, table: Any, value: int) -> None:
    """End (and NextW) of a handle Begin never returned: WSA_INVALID_HANDLE at both levels."""
    handle = client.ffi.cast("HANDLE", value)
    assert client.end(handle) == nspv2.WSA_INVALID_HANDLE
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_INVALID_HANDLE
    t = table()
    t.ws.WSASetLastError(0)
    assert t.routine.NSPv2LookupServiceEnd(handle) == -1
    assert t.ws.WSAGetLastError() == nspv2.WSA_INVALID_HANDLE


def test_client_end_and_next_on_ended_handle(client: Client, serve: Any, table: Any) -> None:
    """End twice, or NextW after End: WSA_INVALID_HANDLE; the provider's own End twice too."""
    guid = serve(Echo())
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    assert client.end(handle) == 0
    assert client.end(handle) == nspv2.WSA_INVALID_HANDLE
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_INVALID_HANDLE
    t = table()
    out = t.ffi.new("HANDLE *")
    assert t.routine.NSPv2LookupServiceBegin(t.c_guid, t.queryset(), 0, t.ffi.NULL, out) == 0
    assert t.routine.NSPv2LookupServiceEnd(out[0]) == 0
    t.ws.WSASetLastError(0)
    assert t.routine.NSPv2LookupServiceEnd(out[0]) == -1
    assert t.ws.WSAGetLastError() == nspv2.WSA_INVALID_HANDLE


# -- from providers ------------------------------------------------------------------------------


class ProviderBaseException(BaseException):
    """A BaseException subclass that is not Exception."""


EXCEPTIONS = [RuntimeError("boom"), SystemExit(3), KeyboardInterrupt(), ProviderBaseException()]
EXCEPTION_IDS = ["RuntimeError", "SystemExit", "KeyboardInterrupt", "BaseException-subclass"]


class Raises(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class RaisesPlain(Raises):
    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        raise self.exc


class RaisesGenerator(Raises):
    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        raise self.exc
        yield  # pragma: no cover


class RaisesAsync(Raises):
    async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        raise self.exc


class RaisesAsyncGenerator(Raises):
    async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)
        raise self.exc
        yield  # pragma: no cover


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=EXCEPTION_IDS)
@pytest.mark.parametrize(
    "cls",
    [RaisesPlain, RaisesGenerator, RaisesAsync, RaisesAsyncGenerator],
    ids=["plain", "generator", "async", "async-generator"],
)
def test_provider_exceptions(serve: Any, cls: type[Raises], exc: BaseException) -> None:
    """Any exception from lookup, BaseExceptions included, is WSANO_RECOVERY and the host
    (and its event loop and workers) keeps serving."""
    guid = serve(cls(exc))
    assert lookup_error(guid) == nspv2.WSANO_RECOVERY
    assert lookup_error(guid) == nspv2.WSANO_RECOVERY
    other = serve(Echo(), guid=uuid.uuid4())
    assert nspv2.lookup("alive", namespace=nspv2.NS_DNS, provider_id=other)
    async_ok = serve(RaisesAsync(nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)), guid=uuid.uuid4())
    assert lookup_error(async_ok) == nspv2.WSASERVICE_NOT_FOUND


def test_provider_winsock_error_zero(serve: Any) -> None:
    """WinsockError(0) (NO_ERROR as a failure) is a provider bug: WSANO_RECOVERY."""
    guid = serve(RaisesPlain(WinsockError(0)))
    assert lookup_error(guid) == nspv2.WSANO_RECOVERY


def _none_generator() -> Iterator[None]:
    yield None


@pytest.mark.parametrize(
    "value",
    ["a string", 42, {"instance_name": "x"}, b"bytes", "generator-of-None"],
    ids=["str", "int", "dict", "bytes", "generator-yielding-None"],
)
def test_provider_wrong_return_type(serve: Any, value: Any) -> None:
    """lookup returning str, int, dict, bytes or yielding None is WSANO_RECOVERY."""
    if value == "generator-of-None":

        class Gen(nspv2.Provider):
            namespace = nspv2.NS_DNS

            def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                yield None

        guid = serve(Gen())
    else:
        guid = serve(Returns(value))
    assert lookup_error(guid) == nspv2.WSANO_RECOVERY


@pytest.mark.parametrize(
    "result",
    [
        QuerySet(instance_name=42),  # type: ignore[arg-type]
        QuerySet(addresses=(("192.0.2.1", 25),)),  # type: ignore[arg-type]
        QuerySet(addresses=(CsAddr(remote=("192.0.2.1", 70000)),)),
        QuerySet(addresses=(CsAddr(remote=("not-an-ip", 25)),)),
        QuerySet(addresses=(CsAddr(remote=(25, "192.0.2.1")),)),  # type: ignore[arg-type]
        QuerySet(blob="text"),  # type: ignore[arg-type]
        QuerySet(blob=5),  # type: ignore[arg-type]
        QuerySet(instance_name="a\0b"),
        QuerySet(comment="nul\0"),
    ],
    ids=[
        "name-int",
        "address-not-CsAddr",
        "port-70000",
        "bad-host",
        "host-port-swapped",
        "blob-str",
        "blob-int",
        "name-embedded-NUL",
        "comment-embedded-NUL",
    ],
)
def test_provider_malformed_result(serve: Any, client: Client, result: QuerySet) -> None:
    """A malformed QuerySet field is WSANO_RECOVERY; the next result is still delivered."""
    guid = serve(Returns([result, QuerySet(instance_name="good")]))
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSANO_RECOVERY
    error, _, buf = client.next(handle, 4096, 4096)
    assert error == 0 and client.read(buf, 4096).instance_name == "good"
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_E_NO_MORE
    assert client.end(handle) == 0


def test_provider_oversized_result(serve: Any, client: Client) -> None:
    """A 100 MB blob (over NSPV2_MAX_RESULT, 64 MiB) is WSA_NOT_ENOUGH_MEMORY, never WSAEFAULT
    with a size the client cannot have; the next result follows."""
    guid = serve(Returns([QuerySet(blob=bytes(100_000_000)), QuerySet(instance_name="small")]))
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_NOT_ENOUGH_MEMORY
    error, _, buf = client.next(handle, 4096, 4096)
    assert error == 0 and client.read(buf, 4096).instance_name == "small"
    assert client.end(handle) == 0


class FailsAfterOne(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        yield QuerySet(instance_name="first")
        raise RuntimeError("second result failed")


class FailsAfterOneAsync(nspv2.Provider):
    namespace = nspv2.NS_DNS

    async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        yield QuerySet(instance_name="first")
        raise RuntimeError("second result failed")


@pytest.mark.parametrize("cls", [FailsAfterOne, FailsAfterOneAsync], ids=["generator", "async"])
def test_provider_generator_raises_after_one(serve: Any, client: Client, cls: type) -> None:
    """A generator that raises after one result: the result, WSANO_RECOVERY once, then
    WSA_E_NO_MORE."""
    guid = serve(cls())
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    error, _, buf = client.next(handle, 4096, 4096)
    assert error == 0 and client.read(buf, 4096).instance_name == "first"
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSANO_RECOVERY
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_E_NO_MORE
    assert client.next(handle, 4096, 4096)[0] == nspv2.WSA_E_NO_MORE
    assert client.end(handle) == 0


class Forever(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.entered = threading.Event()

    async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield QuerySet()  # pragma: no cover


def _next_in_thread(c: Client, handle: Any) -> tuple[list[int], threading.Thread]:
    outcome: list[int] = []

    def run() -> None:
        outcome.append(c.next(handle, 4096, 4096)[0])

    thread = threading.Thread(target=run)
    thread.start()
    return outcome, thread


def test_provider_never_completes_end_cancels(serve: Any, client: Client) -> None:
    """A lookup that awaits forever: End completes the waiting NextW with WSA_E_CANCELLED at
    once and cancels the provider's task."""
    provider = Forever()
    guid = serve(provider)
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    outcome, thread = _next_in_thread(client, handle)
    assert provider.entered.wait(30), "the NextW never reached the provider"
    assert thread.is_alive()
    assert client.end(handle) == 0
    thread.join(30)
    assert not thread.is_alive(), "End did not complete the waiting NextW"
    assert outcome == [nspv2.WSA_E_CANCELLED]
    assert provider.cancelled.wait(30)


def _violations(native: Native) -> list[str]:
    found = []
    for i in range(native.winsock.StandinViolationCount()):
        buf = native.ffi.new("CHAR[]", 512)
        native.winsock.StandinGetViolation(i, buf, 512)
        found.append(native.ffi.string(buf).decode("utf-8", "replace"))
    return found


def test_provider_never_completes_client_timeout(
    serve: Any, client: Client, native: Native
) -> None:
    """A client whose Winsock gives up after a timeout (StandinSetAsyncTimeout) gets
    WSANO_RECOVERY then, and End still ends the lookup; the stand-in records the provider's
    late completion."""
    provider = Forever()
    guid = serve(provider)
    handle = client.begin(client.queryset(QuerySet(instance_name="q", provider_id=guid)))
    native.winsock.StandinSetAsyncTimeout(300)
    try:
        assert client.next(handle, 4096, 4096)[0] == nspv2.WSANO_RECOVERY
    finally:
        native.winsock.StandinSetAsyncTimeout(30000)
    assert client.end(handle) == 0
    assert provider.cancelled.wait(30)
    messages = _violations(native)
    native.winsock.StandinResetViolations()
    assert any("never completed" in m for m in messages), messages


class SetServiceRaises(Echo):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def set_service(self, query, operation, flags, session):  # type: ignore[no-untyped-def]
        raise self.exc


class AsyncSetServiceRaises(SetServiceRaises):
    async def set_service(self, query, operation, flags, session):  # type: ignore[no-untyped-def]
        raise self.exc


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=EXCEPTION_IDS)
@pytest.mark.parametrize("cls", [SetServiceRaises, AsyncSetServiceRaises], ids=["plain", "async"])
def test_provider_set_service_raises(serve: Any, cls: type, exc: BaseException) -> None:
    """set_service raising anything but WinsockError is WSANO_RECOVERY; the host keeps
    serving."""
    guid = serve(cls(exc))
    with pytest.raises(WinsockError) as info:
        nspv2.set_service(QuerySet(instance_name="svc", provider_id=guid))
    assert info.value.code == nspv2.WSANO_RECOVERY
    assert nspv2.lookup("alive", namespace=nspv2.NS_DNS, provider_id=guid)


# -- from configuration --------------------------------------------------------------------------

GOOD_MODULE = """
import nspv2

class Good(nspv2.Provider):
    def lookup(self, query, flags, session):
        return None

class BadInit(nspv2.Provider):
    def __init__(self):
        raise ValueError("bad init 55")
    def lookup(self, query, flags, session):
        return None

class ExitInit(nspv2.Provider):
    def __init__(self):
        raise SystemExit(4)
    def lookup(self, query, flags, session):
        return None

class NotAProvider:
    pass
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``cfg(body)``: writes providers.ini (``{lib}`` and ``{mod}`` are filled in) next to a
    module folder holding GOOD_MODULE as ``{mod}``, bad_import_<id>, exit_import_<id>."""
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    lib = tmp_path / "lib"
    lib.mkdir()
    tag = uuid.uuid4().hex
    mod = f"badinput_{tag}"
    (lib / f"{mod}.py").write_text(GOOD_MODULE)
    (lib / f"{mod}_raises.py").write_text("raise RuntimeError('module fails 66')\n")
    (lib / f"{mod}_exits.py").write_text("raise SystemExit(9)\n")
    before = set(sys.modules)

    def write(body: str) -> Path:
        path = tmp_path / "providers.ini"
        path.write_text(body.format(lib=lib, mod=mod))
        return path

    yield write
    for name in set(sys.modules) - before:
        if name.startswith("badinput_"):
            del sys.modules[name]


def config_error(
    cfg: Any, provider_id: uuid.UUID, body: str, *phrases: str, kind: type = ConfigError
) -> str:
    """Loads provider_id from a file with ``body``; asserts the error names the file and each
    phrase; returns the message."""
    path = cfg(body.replace("GUID", f"{{{{{provider_id}}}}}"))
    with pytest.raises(kind) as info:
        config.load_provider(provider_id, str(path))
    message = str(info.value)
    assert str(path) in message, message
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_config_missing_file(tmp_path: Path, provider_id: uuid.UUID) -> None:
    """A named configuration file that does not exist: ConfigError 'does not exist'."""
    missing = tmp_path / "absent.ini"
    with pytest.raises(ConfigError, match="does not exist") as info:
        config.load_provider(provider_id, str(missing))
    assert str(missing) in str(info.value)


def test_config_unreadable_file(tmp_path: Path, provider_id: uuid.UUID) -> None:
    """A configuration path that cannot be read (here a folder): ConfigError 'cannot read'."""
    folder = tmp_path / "providers.ini"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read the nspv2 provider configuration") as info:
        config.load_provider(provider_id, str(folder))
    assert str(folder) in str(info.value)


def test_config_malformed_ini(cfg: Any, provider_id: uuid.UUID) -> None:
    """Text that is not INI: ConfigError 'not a valid INI file'."""
    config_error(cfg, provider_id, "no section header\n[unclosed\n", "not a valid INI file")


def test_config_section_not_a_guid(cfg: Any, provider_id: uuid.UUID) -> None:
    """A section that is not a GUID: ConfigError showing how to write one."""
    config_error(cfg, provider_id, "[my provider]\nclass = a:B\n", "is not a provider GUID")


@pytest.mark.parametrize(
    "line", ["path = /opt", "class = no_colon_here"], ids=["missing-class", "class-without-colon"]
)
def test_config_bad_class_line(cfg: Any, provider_id: uuid.UUID, line: str) -> None:
    """No `class`, or one without ':': ConfigError asking for `class = package.module:Class`."""
    config_error(cfg, provider_id, f"[GUID]\n{line}\n", "class = package.module:ClassName")


def test_config_relative_path(cfg: Any, provider_id: uuid.UUID) -> None:
    """A relative `path`: ConfigError 'must be absolute'."""
    config_error(cfg, provider_id, "[GUID]\nclass = {mod}:Good\npath = lib\n", "must be absolute")


@pytest.mark.parametrize(
    "suffix,phrases",
    [
        ("_missing", ("cannot import", "ModuleNotFoundError", "check `class` and `path`")),
        ("_raises", ("cannot import", "RuntimeError: module fails 66", "check `class`")),
        ("_exits", ("cannot import", "SystemExit: 9", "check `class`")),
    ],
    ids=["does-not-import", "raises-at-import", "exits-at-import"],
)
def test_config_module_import_fails(
    cfg: Any, provider_id: uuid.UUID, suffix: str, phrases: tuple[str, ...]
) -> None:
    """A module that is missing, raises or calls sys.exit at import: ConfigError 'cannot
    import' with the exception."""
    config_error(cfg, provider_id, f"[GUID]\nclass = {{mod}}{suffix}:P\npath = {{lib}}\n", *phrases)


def test_config_attribute_missing(cfg: Any, provider_id: uuid.UUID) -> None:
    """A class name the module does not define: ConfigError naming it."""
    config_error(cfg, provider_id, "[GUID]\nclass = {mod}:Nope\npath = {lib}\n", "'Nope'")


def test_config_not_a_provider(cfg: Any, provider_id: uuid.UUID) -> None:
    """A class that is not an nspv2.Provider subclass: ConfigError saying so."""
    config_error(
        cfg,
        provider_id,
        "[GUID]\nclass = {mod}:NotAProvider\npath = {lib}\n",
        "not a subclass of nspv2.Provider",
    )


@pytest.mark.parametrize(
    "cls,phrase",
    [("BadInit", "ValueError: bad init 55"), ("ExitInit", "SystemExit: 4")],
    ids=["raises", "exits"],
)
def test_config_init_raises(cfg: Any, provider_id: uuid.UUID, cls: str, phrase: str) -> None:
    """A class whose __init__ raises (even SystemExit): ConfigError 'cannot create' with the
    exception."""
    config_error(
        cfg,
        provider_id,
        f"[GUID]\nclass = {{mod}}:{cls}\npath = {{lib}}\n",
        "cannot create",
        phrase,
    )


def test_config_guid_not_configured(cfg: Any, provider_id: uuid.UUID) -> None:
    """A GUID no section names: NotConfigured naming the section to add."""
    config_error(
        cfg,
        provider_id,
        f"[{{{{{uuid.uuid4()}}}}}]\nclass = a:B\n",
        f"[{{{provider_id}}}]",
        kind=NotConfigured,
    )


def test_log_level_names_only(native: Native) -> None:
    """NSPv2SetLogLevel takes Python's level names in any case and NULL (back to the
    configuration's); anything else is SOCKET_ERROR with WSAEINVAL."""
    try:
        for name in (b"DEBUG", b"debug", b"Warning", b"CRITICAL"):
            assert native.provider.NSPv2SetLogLevel(name) == 0, name
        for name in (b"", b"LOUD", b"DEBUGX", b"DEBU", b"10"):
            native.winsock.WSASetLastError(0)
            assert native.provider.NSPv2SetLogLevel(name) == -1, name
            assert native.winsock.WSAGetLastError() == nspv2.WSAEINVAL, name
    finally:
        assert native.provider.NSPv2SetLogLevel(native.ffi.NULL) == 0


def test_config_codes_through_the_library(cfg: Any, native: Native, caplog: Any) -> None:
    """Through NSPv2GetRoutine (NSPv2SetConfigFile): a GUID not configured is
    WSAEINVALIDPROVIDER; a module that fails or exits at import, or a class whose __init__
    raises, is WSAEPROVIDERFAILEDINIT."""
    unknown, raises, exits, bad_init = (uuid.uuid4() for _ in range(4))
    path = cfg(
        f"[{{{{{raises}}}}}]\nclass = {{mod}}_raises:P\npath = {{lib}}\n"
        f"[{{{{{exits}}}}}]\nclass = {{mod}}_exits:P\npath = {{lib}}\n"
        f"[{{{{{bad_init}}}}}]\nclass = {{mod}}:ExitInit\npath = {{lib}}\n"
    )
    assert native.provider.NSPv2SetConfigFile(str(path).encode()) == 0
    try:
        codes = []
        for guid in (unknown, raises, exits, bad_init):
            native.winsock.WSASetLastError(0)
            with caplog.at_level("ERROR", logger="nspv2"):
                rc = native.provider.NSPv2GetRoutine(
                    native.guid(guid), native.ffi.new("NSPV2_ROUTINE *")
                )
            codes.append((rc, native.winsock.WSAGetLastError()))
    finally:
        native.provider.NSPv2SetConfigFile(native.ffi.NULL)
    assert codes == [
        (-1, nspv2.WSAEINVALIDPROVIDER),
        (-1, nspv2.WSAEPROVIDERFAILEDINIT),
        (-1, nspv2.WSAEPROVIDERFAILEDINIT),
        (-1, nspv2.WSAEPROVIDERFAILEDINIT),
    ]
    assert str(path) in caplog.text
