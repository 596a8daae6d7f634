"""nspv2._cmarshal (csrc/marshal/), the lookup's hot path in C, against the Python code
it stands in for (nspv2/_marshal.py): the same records byte for byte, the same restrictions, and
None (the Python code decides) for everything unusual."""

from __future__ import annotations

import gc
import uuid
import weakref
from typing import Any

import pytest
from conftest import traced_growth
from hypothesis import given, settings
from hypothesis import strategies as st
from nspv2._provider import ffi, lib  # type: ignore[import-not-found]
from test_fuzz_marshal import LONE_SURROGATES, NON_BMP, TEXT, query_sets
from test_lookups_c import expected, next_result

from nspv2 import _cmarshal
from nspv2._constants import LUP_RETURN_ALL, NO_ERROR, WSA_E_NO_MORE, WSANO_RECOVERY
from nspv2._marshal import Marshal
from nspv2.queryset import AfProtocol, CsAddr, QuerySet, Version

FUZZ = settings(max_examples=300, deadline=None)
ALIGN = int(lib.NSPV2_IMAGE_ALIGN)
PYTHON = Marshal(ffi, image_align=ALIGN, lib=lib)
C = Marshal(ffi, image_align=ALIGN, accelerator=_cmarshal, lib=lib)
PROVIDER = uuid.UUID("0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5")
ANY_TEXT = TEXT | NON_BMP | LONE_SURROGATES


def failed(exc: BaseException) -> int:
    return WSANO_RECOVERY


def python_records(result: Any, namespace: int = 12) -> tuple[int, bytes]:
    return PYTHON.records(
        result, default_provider_id=PROVIDER, default_namespace=namespace, failed=failed
    )


def c_records(result: Any, namespace: int = 12) -> Any:
    """What the C path writes, or None where it leaves the result to Python."""
    assert C._c is not None
    return C._c.pack_results(result, PROVIDER, namespace)


def wcslen(ptr: Any) -> int:
    return int(lib.nspv2_wcsnlen(ptr, 32767))


@FUZZ
@given(results=st.lists(query_sets(ANY_TEXT), max_size=4), namespace=st.integers(0, 2**32 - 1))
def test_c_records_are_the_python_records(results: list[QuerySet], namespace: int) -> None:
    """For any well-formed results (any text, versions, protocols, addresses, blobs, provider
    ids), the C records are byte for byte the Python ones, as a list, a tuple or one QuerySet."""
    count, expected = python_records(results, namespace)
    assert count == len(results)
    assert c_records(results, namespace) == expected
    assert c_records(tuple(results), namespace) == expected
    if len(results) == 1:
        assert c_records(results[0], namespace) == expected


def test_no_results_are_no_records() -> None:
    """None and an empty list are zero records on both paths."""
    assert python_records(None) == python_records([]) == (0, b"")
    assert c_records(None) == c_records([]) == c_records(()) == b""


def test_no_default_provider_id() -> None:
    """With no default provider id (None), a result that names none is written without one on
    both paths, byte for byte alike, and one that names its own keeps it."""
    assert C._c is not None
    for result in (QuerySet(instance_name="anon"), QuerySet(provider_id=PROVIDER)):
        expected = PYTHON.records(result, default_provider_id=None, failed=failed)
        assert C._c.pack_results(result, None, 0) == expected[1]


class Sub(QuerySet):
    pass


class Text(str):
    pass


@pytest.mark.parametrize(
    "result",
    [
        QuerySet(instance_name="nul\0inside"),
        QuerySet(comment=Text("a str subclass")),
        QuerySet(instance_name=42),  # type: ignore[arg-type]
        QuerySet(namespace=-1),
        QuerySet(output_flags=2**32),
        QuerySet(version=Version(2**32)),
        QuerySet(protocols=(AfProtocol(2**31, 6),)),
        QuerySet(protocols=[AfProtocol(2, 6)]),  # type: ignore[arg-type]
        QuerySet(addresses=[CsAddr(("192.0.2.1", 80))]),  # type: ignore[arg-type]
        QuerySet(addresses=(CsAddr(("not an address", 80)),)),
        QuerySet(addresses=("not a CsAddr",)),  # type: ignore[arg-type]
        QuerySet(blob=bytearray(b"x")),  # type: ignore[arg-type]
        QuerySet(provider_id="0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"),  # type: ignore[arg-type]
        Sub(instance_name="a subclass"),
        "not a QuerySet",
        [QuerySet(), "not a QuerySet", QuerySet()],
        [QuerySet()] * (int(lib.NSPV2_INLINE_MAX_RESULTS) + 1),
        QuerySet(blob=bytes(int(lib.NSPV2_INLINE_MAX_BYTES))),
    ],
)
def test_unusual_results_are_left_to_python(result: Any) -> None:
    """Whatever the C path does not write exactly as Python does (subclasses, lists inside a
    result, values out of range, strings with NUL, bad addresses, too much) gives None and no
    exception: the Python code then writes it or says what is wrong."""
    assert c_records(result) is None


def test_records_fall_back_whole_and_report_each_failure() -> None:
    """Through Marshal.records, a list with one bad result is written by Python: the good ones
    as images, the bad one as a record of the code `failed` gives, as before the C path."""
    results = [QuerySet(instance_name="a"), QuerySet(instance_name="b\0"), QuerySet()]
    assert C.records(
        results, default_provider_id=PROVIDER, default_namespace=12, failed=failed
    ) == python_records(results)


HOSTS_V4 = [
    "0.0.0.0", "255.255.255.255", "192.0.2.1", "1.2.3.04", "01.2.3.4", "256.1.1.1", "1.2.3",
    "1.2.3.4.5", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "", "1.2.3.", ".1.2.3", "1234.1.1.1",
    "\u0661.2.3.4", "1.2.3.a", "::1", "localhost",
]  # fmt: skip
HOSTS_V6 = [
    "::", "::1", "1::", "2001:db8::7", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:",
    ":::", "1::2::3", "12345::", "abcd:EF01::", "g::", "::ffff:192.0.2.1", "fe80::1%1",
    "fe80::1%eth0", "", ":", "1:", "0000:0000:0000:0000:0000:0000:0000:0000", "1.2.3.4",
]  # fmt: skip


def python_block(addresses: tuple[Any, ...]) -> Any:
    """Python's records for one result with these addresses, or the exception it writes it with."""
    result = QuerySet(instance_name="x", addresses=addresses)
    try:
        PYTHON.image(result, default_provider_id=PROVIDER, default_namespace=12)
    except (TypeError, ValueError) as exc:
        return exc
    return python_records(result)


@pytest.mark.parametrize("host", HOSTS_V4)
@pytest.mark.parametrize("port", [0, 80, 65535, 65536, -1, True])
def test_ipv4_hosts_are_written_as_python_writes_them_or_left_to_it(host: str, port: Any) -> None:
    """An IPv4 (host, port) the C writer takes is written byte for byte as Python writes it; one
    it does not take (leading zeros, non-ASCII digits, out of range) is left to Python."""
    addresses = (CsAddr((host, port)),)
    written = c_records(QuerySet(instance_name="x", addresses=addresses))
    expected = python_block(addresses)
    if written is not None:
        assert (1, written) == expected
    else:
        assert host in ("1.2.3.04", "01.2.3.4", "\u0661.2.3.4") or isinstance(expected, Exception)


@pytest.mark.parametrize("host", HOSTS_V6)
def test_ipv6_hosts_are_written_as_python_writes_them_or_left_to_it(host: str) -> None:
    """An IPv6 host the C writer takes is written byte for byte as Python writes it; a zone is
    left to Python, which writes it too."""
    addresses = (CsAddr((host, 443, 7, 2**32 - 1)), CsAddr(local=(host, 0, 0, 0)))
    written = c_records(QuerySet(instance_name="x", addresses=addresses))
    expected = python_block(addresses)
    if written is not None:
        assert (1, written) == expected
    else:
        assert "%" in host or isinstance(expected, Exception)


def test_fresh_address_tuples_are_written_in_c_without_a_cache() -> None:
    """Address tuples built afresh for every answer are written by C (no Python fallback, no
    cache keyed by the tuple), equal to Python's bytes, with raw SOCKADDR bytes as given."""
    for i in range(300):
        addresses = (
            CsAddr(remote=(f"10.1.{i >> 8}.{i & 255}", 80)),
            CsAddr(remote=(f"2001:db8::{i:x}", 80, 0, 0), local=b"\x02\x00raw"),
        )
        result = QuerySet(instance_name=f"n{i}", addresses=addresses)
        assert c_records(result) == python_records(result)[1]
    assert not hasattr(C, "_addresses")


@settings(max_examples=100, deadline=None)
@given(results=st.lists(query_sets(ANY_TEXT), max_size=3), simple=st.booleans())
def test_lookups_created_in_c_and_in_python_answer_alike(
    results: list[QuerySet], simple: bool
) -> None:
    """create_lookup hands the results to nspv2_lookups_create straight from C or through the
    Python records; either way each NextEx reads back the provider's result, then
    WSA_E_NO_MORE; a result C leaves to Python (a NUL in a string) still answers its NextEx."""
    g = ffi.new("GUID *")
    ffi.memmove(g, PROVIDER.bytes_le, 16)
    if not simple:
        results = [*results, QuerySet(instance_name="nul\0")]
    for marshal in (C, PYTHON):
        handle = marshal.create_lookup(
            results, PROVIDER, 12, 77, int(ffi.cast("uintptr_t", g)), LUP_RETURN_ALL, failed
        )
        assert handle % 2 == 1
        try:
            for q in results:
                if q.instance_name == "nul\0":
                    assert next_result(handle) == (WSANO_RECOVERY, None)
                else:
                    assert next_result(handle) == (NO_ERROR, expected(q))
            assert next_result(handle) == (WSA_E_NO_MORE, None)
        finally:
            assert lib.nspv2_lookups_end(handle) == NO_ERROR


@given(raw=st.binary(min_size=16, max_size=16))
def test_guid_at_reads_bytes_le(raw: bytes) -> None:
    """guid_at gives the 16 bytes as stored, what UUID.bytes_le gives, on both paths."""
    g = ffi.new("GUID *")
    ffi.memmove(g, raw, 16)
    address = int(ffi.cast("uintptr_t", g))
    assert C.guid_at(address) == PYTHON.guid_at(address) == uuid.UUID(bytes_le=raw).bytes_le


@FUZZ
@given(q=query_sets(ANY_TEXT))
def test_c_restrictions_reader_agrees(q: QuerySet) -> None:
    """The C reader of a lookup's restrictions reads what the Python reader reads (itself, or
    through the Python reader for versions, protocols, addresses or a blob)."""
    built, keep = C.build(q)
    assert C._c is not None
    found = C._c.read_restrictions(int(ffi.cast("uintptr_t", built)))
    assert found == q
    assert type(found) is QuerySet
    address = int(ffi.cast("uintptr_t", built))
    assert C.read_restrictions_at(address) == PYTHON.read_restrictions_at(address) == q
    assert PYTHON.read(built, wcslen) == q
    del keep


def test_marshaller_is_collected_with_its_marshal() -> None:
    """A Marshal and its C Marshaller (which refer to each other) are freed together."""
    marshal = Marshal(ffi, image_align=ALIGN, accelerator=_cmarshal)
    gone = weakref.ref(marshal)
    del marshal
    gc.collect()
    assert gone() is None


def test_no_references_leak() -> None:
    """Writing and reading many results, and falling back, leaves nothing behind: every
    reference the C code takes is given back (traced memory stays flat)."""
    results = [QuerySet(instance_name="leak.test", addresses=(CsAddr(("192.0.2.1", 80)),))]
    built, keep = C.build(QuerySet(instance_name="r", comment="c", provider_id=PROVIDER))
    address = int(ffi.cast("uintptr_t", built))
    assert C._c is not None

    def work(n: int) -> None:
        for _ in range(n):
            c_records(results)
            c_records([QuerySet(instance_name="ok"), QuerySet(instance_name="nul\0")])
            C._c.read_restrictions(address)

    grown = traced_growth(work, 20000)
    assert grown < 64 * 1024, f"{grown} bytes more after 20,000 rounds"
    del keep


def test_misuse_raises() -> None:
    """Wrong arguments to a Marshaller raise TypeError/ValueError (its own misuse), not crash."""
    assert C._c is not None
    with pytest.raises(TypeError):
        C._c.pack_results(None, b"not a UUID", 12)
    with pytest.raises(ValueError):
        C._c.pack_results(None, None, -1)
    with pytest.raises(TypeError):
        C._c.pack_results(None)
    with pytest.raises(ValueError):
        C._c.read_restrictions(0)
    with pytest.raises(ValueError):
        C._c.guid_at(0)
    with pytest.raises(TypeError):
        C._c.guid_at("not an address")
    with pytest.raises(ValueError):
        C._c.create_lookup(None, None, 12, 1, 0, 0, failed)
    with pytest.raises(TypeError):
        C._c.create_lookup(None, None, 12)
    without_lib = Marshal(ffi, image_align=ALIGN, accelerator=_cmarshal)
    assert without_lib._c is not None
    with pytest.raises(TypeError):
        without_lib._c.create_lookup(None, None, 12, 1, 1, 0, failed)


@pytest.mark.parametrize(
    "host", ["::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "64:ff9b::198.51.100.7"]
)
def test_ipv6_with_a_dotted_quad_is_written_in_c(host: str) -> None:
    """An IPv6 address whose last 32 bits are a dotted quad (how str() writes an IPv4-mapped
    address from Python 3.13 on) is written by C, byte for byte as Python writes it."""
    addresses = (CsAddr(remote=(host, 25, 0, 0)),)
    written = c_records(QuerySet(instance_name="x", addresses=addresses))
    assert written is not None and (1, written) == python_block(addresses)
