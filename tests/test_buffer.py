"""The raw result-buffer protocol, at the C level through the stand-in's WSALookupServiceNextW:
WSAEFAULT with the exact required length, the retry, LUP_FLUSHPREVIOUS, the end of results,
LUP_RETURN_* field selection, and where the packed pointers point."""

from __future__ import annotations

import uuid
from typing import Any, Optional

import pytest

import nspv2
from nspv2 import AfProtocol, CsAddr, QuerySet, Version
from nspv2._marshal import Marshal
from nspv2.client import _buffer_wcslen

PTR = 8  # pointer alignment on the 64-bit platforms the tests run on
WSAQUERYSETW_SIZE = 120


def align(n: int) -> int:
    return (n + PTR - 1) // PTR * PTR


def sockaddr_size(address: Any) -> int:
    if address is None:
        return 0
    return 16 if len(address) == 2 else 28


def required_length(result: QuerySet) -> int:
    """The client's required length for ``result`` with every field returned, computed from the
    contract's packing rules: the struct, then every piece rounded up to pointer alignment."""
    n = WSAQUERYSETW_SIZE
    for text in (result.instance_name, result.comment, result.context, result.query_string):
        if text is not None:
            n += align(len(text.encode("utf-16-le", "surrogatepass")) + 2)
    if result.version is not None:
        n += align(8)  # WSAVERSION
    if result.provider_id is not None:
        n += align(16)  # GUID
    n += align(8 * len(result.protocols))  # AFPROTOCOLS
    n += align(40 * len(result.addresses))  # CSADDR_INFO
    for a in result.addresses:
        n += align(sockaddr_size(a.local)) + align(sockaddr_size(a.remote))
    if result.blob is not None:
        n += align(16) + align(len(result.blob))  # BLOB and its bytes
    return n


class Raw:
    """One client lookup driven by hand through WSALookupServiceBeginW / NextW / End."""

    def __init__(self, native: Any, provider_id: uuid.UUID, flags: int, name: str = "q") -> None:
        self.native = native
        self.ffi = native.ffi
        self.ws = native.winsock
        self.ws.WSAStartup(0x0202, self.ffi.new("WSADATA *"))
        query = QuerySet(instance_name=name, namespace=nspv2.NS_DNS, provider_id=provider_id)
        qs, keep = Marshal(self.ffi).build(
            query, "WSAQUERYSETW", service_class=nspv2.SVCID_HOSTNAME
        )
        handle = self.ffi.new("HANDLE *")
        assert self.ws.WSALookupServiceBeginW(qs, flags, handle) == 0, self.ws.WSAGetLastError()
        del keep
        self.handle = handle[0]
        self.ended = False

    def next(
        self, size: int, flags: int = nspv2.LUP_RETURN_ALL, null: bool = False
    ) -> tuple[int, int, Any]:
        """NextW into a fresh buffer of ``size`` bytes: (error or 0, *lpdwBufferLength, buf)."""
        length = self.ffi.new("DWORD *", size)
        buf = self.ffi.new("char[]", max(size, 1))
        out = self.ffi.NULL if null else self.ffi.cast("WSAQUERYSETW *", buf)
        rc = self.ws.WSALookupServiceNextW(self.handle, flags, length, out)
        if rc == 0:
            return 0, length[0], buf
        assert rc == nspv2.SOCKET_ERROR
        return self.ws.WSAGetLastError(), length[0], buf

    def read(self, buf: Any, size: int) -> QuerySet:
        out = self.ffi.cast("WSAQUERYSETW *", buf)
        return Marshal(self.ffi).read(out, _buffer_wcslen(self.native, buf, size))

    def close(self) -> None:
        if not self.ended:
            self.ended = True
            assert self.ws.WSALookupServiceEnd(self.handle) == 0
            self.ws.WSACleanup()


@pytest.fixture
def raw(native):  # type: ignore[no-untyped-def]
    opened: list[Raw] = []

    def start(provider_id: uuid.UUID, flags: int = nspv2.LUP_RETURN_ALL, name: str = "q") -> Raw:
        r = Raw(native, provider_id, flags, name)
        opened.append(r)
        return r

    yield start
    for r in opened:
        r.close()


class Serves(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def __init__(self, *results: QuerySet) -> None:
        self.results = results

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        yield from self.results


BIG = QuerySet(
    instance_name="big-" + "x" * 300,
    version=Version(3, nspv2.COMP_NOTLESS),
    comment="c" * 51,
    namespace=nspv2.NS_DNS,
    context="ctx",
    protocols=(AfProtocol(nspv2.AF_INET, nspv2.IPPROTO_TCP),),
    query_string="q",
    addresses=(
        CsAddr(remote=("192.0.2.1", 25), local=("2001:db8::1", 2525, 7, 3)),
        CsAddr(remote=("2001:db8::2", 80, 0, 0)),
    ),
    blob=bytes(range(13)),
)
SECOND = QuerySet(instance_name="second", namespace=nspv2.NS_DNS)
THIRD = QuerySet(instance_name="third", namespace=nspv2.NS_DNS)


def test_too_small_buffer_gives_efault_with_exact_length(serve, raw) -> None:
    """A result larger than the buffer fails with WSAEFAULT and the exact required length; one
    byte less fails again with the same length; exactly that length succeeds."""
    guid = serve(Serves(BIG, SECOND))
    expected = required_length(BIG.replace(provider_id=guid))
    r = raw(guid)
    error, needed, _ = r.next(256)
    assert error == nspv2.WSAEFAULT
    assert needed == expected
    error, again, _ = r.next(needed - 1)
    assert (error, again) == (nspv2.WSAEFAULT, expected)
    error, _, buf = r.next(needed)
    assert error == 0
    assert r.read(buf, needed) == BIG.replace(provider_id=guid)


def test_retry_returns_the_same_result(serve, raw) -> None:
    """After WSAEFAULT the retry returns the result that did not fit, not the next one."""
    guid = serve(Serves(BIG, SECOND, THIRD))
    r = raw(guid)
    error, needed, _ = r.next(WSAQUERYSETW_SIZE)
    assert error == nspv2.WSAEFAULT
    error, needed2, _ = r.next(needed - 8)
    assert (error, needed2) == (nspv2.WSAEFAULT, needed)
    error, _, buf = r.next(needed)
    assert error == 0
    assert r.read(buf, needed).instance_name == BIG.instance_name
    error, _, buf = r.next(4096)
    assert error == 0
    assert r.read(buf, 4096).instance_name == "second"


def test_flushprevious_on_retry_drops_the_result(serve, raw) -> None:
    """LUP_FLUSHPREVIOUS on the retry drops the result that did not fit and returns the next."""
    guid = serve(Serves(BIG, SECOND, THIRD))
    r = raw(guid)
    error, _, _ = r.next(200)
    assert error == nspv2.WSAEFAULT
    error, _, buf = r.next(4096, nspv2.LUP_RETURN_ALL | nspv2.LUP_FLUSHPREVIOUS)
    assert error == 0
    assert r.read(buf, 4096).instance_name == "second"
    error, _, buf = r.next(4096)
    assert error == 0
    assert r.read(buf, 4096).instance_name == "third"


def test_no_more_at_the_end_and_after(serve, raw) -> None:
    """After the last result NextW fails with WSA_E_NO_MORE, and keeps doing so."""
    guid = serve(Serves(SECOND))
    r = raw(guid)
    assert r.next(4096)[0] == 0
    for _ in range(3):
        assert r.next(4096)[0] == nspv2.WSA_E_NO_MORE


def test_no_results_is_no_more_at_once(serve, raw) -> None:
    """A lookup with no results answers the first NextW with WSA_E_NO_MORE."""
    guid = serve(Serves())
    r = raw(guid)
    assert r.next(4096)[0] == nspv2.WSA_E_NO_MORE
    assert r.next(0, null=True)[0] == nspv2.WSA_E_NO_MORE


@pytest.mark.parametrize("null", [False, True], ids=["zero-length", "null-results"])
def test_zero_length_and_null_buffer_give_required_size(serve, raw, null: bool) -> None:
    """Length 0 (with or without a NULL results pointer) gives WSAEFAULT and the required size,
    and a retry with that size returns the first result."""
    guid = serve(Serves(SECOND, THIRD))
    r = raw(guid)
    error, needed, _ = r.next(0, null=null)
    assert error == nspv2.WSAEFAULT
    assert needed == required_length(SECOND.replace(provider_id=guid))
    error, _, buf = r.next(needed)
    assert error == 0
    assert r.read(buf, needed).instance_name == "second"


FULL = QuerySet(
    instance_name="full.test",
    version=Version(7, nspv2.COMP_EQUAL),
    comment="a comment",
    namespace=nspv2.NS_DNS,
    query_string="?q",
    addresses=(CsAddr(remote=("192.0.2.7", 7)),),
    blob=b"blob!",
)
SELECTED = ("instance_name", "version", "comment", "query_string", "addresses", "blob")
EMPTY = {"instance_name": None, "version": None, "comment": None, "query_string": None,
         "addresses": (), "blob": None}  # fmt: skip


def selected(result: QuerySet) -> dict[str, Any]:
    return {name: getattr(result, name) for name in SELECTED}


@pytest.mark.parametrize(
    ("flag", "fields"),
    [
        (nspv2.LUP_RETURN_NAME, ["instance_name"]),
        (nspv2.LUP_RETURN_ADDR, ["addresses"]),
        (nspv2.LUP_RETURN_BLOB, ["blob"]),
        (nspv2.LUP_RETURN_COMMENT, ["comment"]),
        (nspv2.LUP_RETURN_VERSION, ["version"]),
        (nspv2.LUP_RETURN_QUERY_STRING, ["query_string"]),
        (nspv2.LUP_RETURN_TYPE, []),
        (nspv2.LUP_RETURN_ALL, list(SELECTED)),
    ],
    ids=lambda v: v.name if hasattr(v, "name") else None,
)
def test_each_return_flag_selects_its_field(serve, flag: int, fields: list[str]) -> None:
    """Each LUP_RETURN_* flag alone returns just its field (the provider GUID and namespace
    always come back)."""
    guid = serve(Serves(FULL))
    (result,) = nspv2.lookup("x", provider_id=guid, flags=flag)
    expected = dict(EMPTY, **{name: getattr(FULL, name) for name in fields})
    assert selected(result) == expected
    assert result.provider_id == guid
    assert result.namespace == nspv2.NS_DNS


def test_next_flags_narrow_begin_flags(serve, raw) -> None:
    """Flags at NextW narrow Begin's; they never add a field Begin did not ask for."""
    guid = serve(Serves(FULL, FULL, FULL))
    r = raw(guid, nspv2.LUP_RETURN_NAME | nspv2.LUP_RETURN_ADDR)
    error, _, buf = r.next(4096, nspv2.LUP_RETURN_NAME)
    assert error == 0
    assert selected(r.read(buf, 4096)) == dict(EMPTY, instance_name="full.test")
    error, _, buf = r.next(4096, nspv2.LUP_RETURN_ALL)
    assert error == 0
    assert selected(r.read(buf, 4096)) == dict(
        EMPTY, instance_name="full.test", addresses=FULL.addresses
    )
    error, _, buf = r.next(4096, nspv2.LUP_RETURN_COMMENT | nspv2.LUP_RETURN_ADDR)
    assert error == 0
    assert selected(r.read(buf, 4096)) == dict(EMPTY, addresses=FULL.addresses)


def test_required_length_follows_the_selected_fields(serve, raw) -> None:
    """The required length counts only what the flags select."""
    guid = serve(Serves(BIG))
    r = raw(guid, nspv2.LUP_RETURN_NAME)
    error, needed, _ = r.next(0, nspv2.LUP_RETURN_NAME)
    assert error == nspv2.WSAEFAULT
    name_only = QuerySet(
        instance_name=BIG.instance_name,
        provider_id=guid,
        context=BIG.context,
        protocols=BIG.protocols,
    )
    assert needed == required_length(name_only)


ALIAS = QuerySet(instance_name="alias.test", output_flags=nspv2.RESULT_IS_ALIAS)
REAL = QuerySet(instance_name="real.test", output_flags=nspv2.RESULT_IS_ADDED)


def test_aliases_only_with_return_aliases(serve) -> None:
    """Results flagged RESULT_IS_ALIAS are returned only when LUP_RETURN_ALIASES is asked."""
    guid = serve(Serves(ALIAS, REAL, ALIAS))
    plain = nspv2.lookup("x", provider_id=guid, flags=nspv2.LUP_RETURN_NAME)
    assert [(r.instance_name, r.output_flags) for r in plain] == [
        ("real.test", nspv2.RESULT_IS_ADDED)
    ]
    flags = nspv2.LUP_RETURN_NAME | nspv2.LUP_RETURN_ALIASES
    with_aliases = nspv2.lookup("x", provider_id=guid, flags=flags)
    assert [r.instance_name for r in with_aliases] == ["alias.test", "real.test", "alias.test"]
    assert [r.is_alias for r in with_aliases] == [True, False, True]


def test_aliases_dropped_when_next_narrows_them_away(serve, raw) -> None:
    """Begin asking aliases but NextW not asking them skips the alias results."""
    guid = serve(Serves(ALIAS, REAL))
    r = raw(guid, nspv2.LUP_RETURN_NAME | nspv2.LUP_RETURN_ALIASES)
    error, _, buf = r.next(4096, nspv2.LUP_RETURN_NAME)
    assert error == 0
    assert r.read(buf, 4096).instance_name == "real.test"
    assert r.next(4096, nspv2.LUP_RETURN_NAME)[0] == nspv2.WSA_E_NO_MORE


def walk(native: Any, buf: Any, size: int) -> list[tuple[str, int, int, int]]:
    """Every pointer of a returned WSAQUERYSETW: (what, offset from the buffer, bytes, alignment
    required)."""
    ffi = native.ffi
    base = int(ffi.cast("uintptr_t", buf))
    q = ffi.cast("WSAQUERYSETW *", buf)
    found: list[tuple[str, int, int, int]] = []

    def add(what: str, ptr: Any, nbytes: int) -> Optional[int]:
        if ptr == ffi.NULL:
            return None
        offset = int(ffi.cast("uintptr_t", ptr)) - base
        found.append((what, offset, nbytes, PTR))
        return offset

    data = bytes(ffi.buffer(buf, size))

    def wstr(what: str, ptr: Any) -> None:
        if ptr == ffi.NULL:
            return
        offset = int(ffi.cast("uintptr_t", ptr)) - base
        end = offset
        while 0 <= end < size - 1 and data[end : end + 2] != b"\0\0":
            end += 2
        add(what, ptr, end + 2 - offset)

    wstr("lpszServiceInstanceName", q.lpszServiceInstanceName)
    wstr("lpszComment", q.lpszComment)
    wstr("lpszContext", q.lpszContext)
    wstr("lpszQueryString", q.lpszQueryString)
    add("lpVersion", q.lpVersion, ffi.sizeof("WSAVERSION"))
    add("lpNSProviderId", q.lpNSProviderId, 16)
    add("lpafpProtocols", q.lpafpProtocols, q.dwNumberOfProtocols * ffi.sizeof("AFPROTOCOLS"))
    add("lpcsaBuffer", q.lpcsaBuffer, q.dwNumberOfCsAddrs * ffi.sizeof("CSADDR_INFO"))
    for i in range(q.dwNumberOfCsAddrs if q.lpcsaBuffer != ffi.NULL else 0):
        c = q.lpcsaBuffer[i]
        add(f"csaddr[{i}].Local", c.LocalAddr.lpSockaddr, c.LocalAddr.iSockaddrLength)
        add(f"csaddr[{i}].Remote", c.RemoteAddr.lpSockaddr, c.RemoteAddr.iSockaddrLength)
    if add("lpBlob", q.lpBlob, ffi.sizeof("BLOB")) is not None:
        add("pBlobData", q.lpBlob.pBlobData, q.lpBlob.cbSize)
    return found


def test_packed_pointers_inside_buffer_and_aligned(serve, raw, native) -> None:
    """Every pointer of a result lies inside the client's buffer, after the struct, is
    pointer-aligned, and no two pieces overlap."""
    guid = serve(Serves(BIG))
    r = raw(guid)
    error, needed, _ = r.next(0)
    assert error == nspv2.WSAEFAULT
    size = needed + 64
    error, _, buf = r.next(size)
    assert error == 0
    pieces = walk(native, buf, size)
    names = {p[0] for p in pieces}
    assert {"lpszServiceInstanceName", "lpVersion", "lpNSProviderId", "lpcsaBuffer"} <= names
    assert {"pBlobData", "csaddr[0].Local", "csaddr[1].Remote", "lpafpProtocols"} <= names
    spans = []
    for what, offset, nbytes, alignment in pieces:
        assert offset >= WSAQUERYSETW_SIZE, f"{what} points into the struct or before it"
        assert offset + nbytes <= needed, f"{what} ends past the required length"
        assert (int(native.ffi.cast("uintptr_t", buf)) + offset) % alignment == 0, what
        spans.append((offset, offset + nbytes, what))
    spans.sort()
    for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
        assert end <= start, f"{a} overlaps {b}"
    assert native.ffi.cast("WSAQUERYSETW *", buf).dwSize == WSAQUERYSETW_SIZE
