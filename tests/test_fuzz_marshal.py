"""Property-based fuzzing of the Python marshaling (nspv2._marshal, nspv2.queryset): QuerySet ->
cffi WSAQUERYSET(2)W -> QuerySet on a standalone FFI, and the sockaddr conversions on arbitrary
input. No Winsock stand-in or provider library involved: only the declarations."""

from __future__ import annotations

from typing import Any

import cffi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import I32, SOCKADDR, U32, WITH_SURROGATES

from nspv2._constants import AF_INET, AF_INET6
from nspv2._marshal import Marshal
from nspv2._native import cdef_text
from nspv2.queryset import (
    AfProtocol,
    CsAddr,
    QuerySet,
    Version,
    sockaddr_from_bytes,
    sockaddr_to_bytes,
)

FUZZ = settings(max_examples=300, deadline=None)

FFI: Any = cffi.FFI()
FFI.cdef(cdef_text())
MARSHAL = Marshal(FFI)


def wcslen(ptr: Any) -> int:
    """Length of a built WCHAR string: scans to its terminator (build always writes one)."""
    n = 0
    while ptr[n] != 0:
        n += 1
    return n


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"))
NON_BMP = st.text(st.characters(min_codepoint=0x10000, exclude_characters="\0"), min_size=1)
LONE_SURROGATES = WITH_SURROGATES


def query_sets(text: Any) -> Any:
    optional = st.none() | text
    return st.builds(
        QuerySet,
        instance_name=optional,
        version=st.none() | st.builds(Version, U32, st.sampled_from([0, 1])),
        comment=optional,
        namespace=U32,
        provider_id=st.none() | st.uuids(),
        context=optional,
        protocols=st.lists(st.builds(AfProtocol, I32, I32), max_size=5).map(tuple),
        query_string=optional,
        addresses=st.lists(st.builds(CsAddr, SOCKADDR, SOCKADDR, I32, I32), max_size=5).map(tuple),
        output_flags=U32,
        blob=st.none() | st.binary(max_size=512),
    )


def round_trip(q: QuerySet, struct: str) -> None:
    built, keep = MARSHAL.build(q, struct)
    assert built.dwSize == FFI.sizeof(struct)
    assert MARSHAL.read(built, wcslen) == q
    del keep


@pytest.mark.parametrize("struct", ["WSAQUERYSET2W", "WSAQUERYSETW"])
@FUZZ
@given(q=query_sets(TEXT | NON_BMP))
def test_query_set_round_trips(struct: str, q: QuerySet) -> None:
    """Any well-formed QuerySet (text up to and beyond the BMP) builds and reads back equal."""
    round_trip(q, struct)


@pytest.mark.parametrize("struct", ["WSAQUERYSET2W", "WSAQUERYSETW"])
@FUZZ
@given(q=query_sets(LONE_SURROGATES))
def test_query_set_with_lone_surrogates_round_trips(struct: str, q: QuerySet) -> None:
    """Text with lone surrogates builds and reads back as the same code points."""
    round_trip(q, struct)


@FUZZ
@given(raw=st.binary(max_size=160))
def test_random_bytes_as_sockaddr(raw: bytes) -> None:
    """Any bytes read as a SOCKADDR give a tuple or the bytes themselves, and convert back."""
    family = int.from_bytes(raw[:2], "little") if len(raw) >= 2 else None
    got = sockaddr_from_bytes(raw)
    if isinstance(got, bytes):
        assert got == raw
        if len(raw) >= 2:
            assert sockaddr_to_bytes(got) == raw
        return
    assert isinstance(got, tuple)
    back = sockaddr_to_bytes(got)
    if family == AF_INET:
        assert len(got) == 2 and back[:8] == raw[:8] and back[8:] == bytes(8)
    else:
        assert family == AF_INET6 and len(got) == 4 and back == raw[:28]


@FUZZ
@given(raw=st.binary(min_size=28, max_size=28))
def test_random_ipv6_sockaddr_round_trips(raw: bytes) -> None:
    """Every 28-byte SOCKADDR_IN6 survives bytes -> tuple -> bytes."""
    raw = AF_INET6.to_bytes(2, "little") + raw[2:]
    assert sockaddr_to_bytes(sockaddr_from_bytes(raw)) == raw


SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.binary(max_size=3),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6)
    .map(str)
    .flatmap(lambda h: st.text(max_size=6).map(lambda zone: f"{h}%{zone}")),
)
JUNK = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=5).map(tuple) | st.lists(inner, max_size=5),
    max_leaves=12,
)


@FUZZ
@given(address=JUNK)
def test_invalid_sockaddr_raises_type_or_value_error(address: Any) -> None:
    """Whatever sockaddr_to_bytes is given, it returns bytes or raises TypeError/ValueError."""
    try:
        out = sockaddr_to_bytes(address)
    except (TypeError, ValueError):
        return
    assert isinstance(out, bytes) and len(out) >= 2


@FUZZ
@given(
    host=st.ip_addresses(v=6).map(str),
    port=st.integers(-5, 70000),
    flowinfo=st.one_of(st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=3)),
    scope=st.one_of(st.integers(-(2**40), 2**40), st.floats(), st.none()),
)
def test_ipv6_fields_out_of_range_raise_value_or_type_error(
    host: str, port: int, flowinfo: Any, scope: Any
) -> None:
    """An IPv6 tuple whose port, flowinfo or scope id does not fit raises TypeError/ValueError."""
    try:
        out = sockaddr_to_bytes((host, port, flowinfo, scope))
    except (TypeError, ValueError):
        return
    assert len(out) == 28
