"""Lookups answered in C (csrc/provider/lookups.c) from relocatable result images
(nspv2/_marshal.py, Marshal.image), and the fast reader of a lookup's restrictions, driven
directly through the provider module with arbitrary query sets and arbitrary bytes."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from nspv2._provider import ffi, lib  # type: ignore[import-not-found]
from test_fuzz_marshal import LONE_SURROGATES, NON_BMP, TEXT, query_sets

from nspv2._constants import (
    LUP_RETURN_ALL,
    NO_ERROR,
    WSA_E_NO_MORE,
    WSA_INVALID_HANDLE,
    WSAEFAULT,
    WSANO_RECOVERY,
)
from nspv2._marshal import Marshal, _struct_format
from nspv2.queryset import QuerySet

FUZZ = settings(max_examples=300, deadline=None)
MARSHAL = Marshal(ffi, image_align=int(lib.NSPV2_IMAGE_ALIGN))
PROVIDER = uuid.UUID("0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5")
SESSION = 77
RECORD = _struct_format(ffi, "struct nspv2_result_record")


def wcslen(ptr: Any) -> int:
    return int(lib.nspv2_wcsnlen(ptr, 32767))


def guid() -> Any:
    raw = ffi.new("GUID *")
    ffi.memmove(raw, PROVIDER.bytes_le, 16)
    return raw


def records(images: list[bytes], codes: list[int]) -> bytes:
    """nspv2_lookups_create's records: for each result, its length and code, then its image."""
    record = RECORD.pack
    return b"".join(record(len(i), c) + i for i, c in zip(images, codes))


def create(images: list[bytes], codes: list[int]) -> int:
    batch = records(images, codes)
    handle: int = lib.nspv2_lookups_create(
        SESSION, guid(), LUP_RETURN_ALL, len(images), batch, len(batch)
    )
    return handle


def next_result(handle: int) -> tuple[int, Any]:
    """One NextEx: its code and, on NO_ERROR, the result read back."""
    length = ffi.new("DWORD *", 0)
    code = lib.nspv2_lookups_next(handle, 0, length, ffi.NULL)
    if code != WSAEFAULT:
        return code, None
    buf = ffi.new("char[]", length[0])
    code = lib.nspv2_lookups_next(handle, 0, length, ffi.cast("WSAQUERYSET2W *", buf))
    result = MARSHAL.read(ffi.cast("WSAQUERYSET2W *", buf), wcslen) if code == NO_ERROR else None
    return code, result


def expected(q: QuerySet) -> QuerySet:
    """What a client gets: the unset provider id and namespace filled in."""
    return q.replace(
        provider_id=q.provider_id if q.provider_id is not None else PROVIDER,
        namespace=q.namespace or 12,
    )


def images_of(results: list[QuerySet]) -> list[bytes]:
    return [MARSHAL.image(q, default_provider_id=PROVIDER, default_namespace=12) for q in results]


@FUZZ
@given(results=st.lists(query_sets(TEXT | NON_BMP | LONE_SURROGATES), max_size=4))
def test_results_answered_in_c_read_back_equal(results: list[QuerySet]) -> None:
    """Every result, as an image relocated in C and packed into a client buffer, reads back as
    the QuerySet the provider returned; then WSA_E_NO_MORE, and End frees the handle."""
    handle = create(images_of(results), [0] * len(results))
    assert handle and handle % 2 == 1
    try:
        for q in results:
            assert next_result(handle) == (NO_ERROR, expected(q))
        assert next_result(handle) == (WSA_E_NO_MORE, None)
    finally:
        assert lib.nspv2_lookups_end(handle) == NO_ERROR
    assert lib.nspv2_lookups_end(handle) == WSA_INVALID_HANDLE
    assert next_result(handle) == (WSA_INVALID_HANDLE, None)


@FUZZ
@given(junk=st.binary(max_size=600), q=query_sets(TEXT))
def test_corrupt_image_is_refused_not_followed(junk: bytes, q: QuerySet) -> None:
    """An image whose pointers lead anywhere (arbitrary bytes, or a real image cut short or
    overwritten) is refused with WSANO_RECOVERY for its NextEx, never read out of bounds, and
    the next result still follows."""
    good = images_of([q])[0]
    cut = good[: len(junk) % (len(good) + 1)]
    mixed = bytes(a ^ b for a, b in zip(good, junk)) + good[len(junk) :]
    for bad in (junk, cut, mixed):
        if not bad:
            continue
        handle = create([bad, good], [0, 0])
        try:
            code, _ = next_result(handle)
            assert code in (NO_ERROR, WSANO_RECOVERY)
            assert next_result(handle) == (NO_ERROR, expected(q))
        finally:
            lib.nspv2_lookups_end(handle)


@FUZZ
@given(junk=st.binary(max_size=300), count=st.integers(0, 70), q=query_sets(TEXT))
def test_corrupt_records_are_declined_or_contained(junk: bytes, count: int, q: QuerySet) -> None:
    """Records whose lengths lead past the end, or a count larger than the records hold, are
    declined (0) without reading beyond them; whatever create accepts answers NextEx calls
    only with results, Winsock codes or WSA_E_NO_MORE."""
    good = records(images_of([q]), [0])
    for batch in (junk, good[: len(junk) % (len(good) + 1)], good + junk):
        handle = lib.nspv2_lookups_create(SESSION, guid(), LUP_RETURN_ALL, count, batch, len(batch))
        if handle == 0:
            continue
        try:
            for _ in range(count + 1):
                code, _ = next_result(handle)
                if code == WSA_E_NO_MORE:
                    break
                assert code != WSA_INVALID_HANDLE
        finally:
            assert lib.nspv2_lookups_end(handle) == NO_ERROR


def test_record_without_image_or_error_is_an_error() -> None:
    """A record that carries neither an image nor a Winsock code does not answer NO_ERROR with
    nothing in the buffer: its NextEx is WSANO_RECOVERY."""
    handle = create([b""], [NO_ERROR])
    try:
        assert next_result(handle) == (WSANO_RECOVERY, None)
        assert next_result(handle) == (WSA_E_NO_MORE, None)
    finally:
        lib.nspv2_lookups_end(handle)


def test_session_and_provider_end_their_lookups() -> None:
    """Closing a session ends its lookups answered in C; withdrawing a provider ends all of its."""
    first, second = create(images_of([QuerySet()]), [0]), create([], [])
    lib.nspv2_lookups_end_session(guid(), SESSION + 1)  # another session: nothing ends
    assert next_result(second)[0] == WSA_E_NO_MORE
    lib.nspv2_lookups_end_session(guid(), SESSION)
    assert next_result(first)[0] == WSA_INVALID_HANDLE
    assert next_result(second)[0] == WSA_INVALID_HANDLE
    third = create([], [])
    lib.nspv2_lookups_end_provider(guid())
    assert lib.nspv2_lookups_end(third) == WSA_INVALID_HANDLE


def test_too_many_results_are_declined() -> None:
    """More results than NSPV2_INLINE_MAX_RESULTS, or images over NSPV2_INLINE_MAX_BYTES, are
    declined (0): the runtime serves such lookups itself."""
    many = images_of([QuerySet()] * (int(lib.NSPV2_INLINE_MAX_RESULTS) + 1))
    assert create(many, [0] * len(many)) == 0
    big = images_of([QuerySet(blob=bytes(int(lib.NSPV2_INLINE_MAX_BYTES)))])
    assert create(big, [0]) == 0


@FUZZ
@given(q=query_sets(TEXT | NON_BMP | LONE_SURROGATES))
def test_fast_restrictions_reader_agrees(q: QuerySet) -> None:
    """read_restrictions (the lookup's fast path) reads exactly what read() does."""
    built, keep = MARSHAL.build(q)
    assert MARSHAL.read_restrictions(built, wcslen) == MARSHAL.read(built, wcslen) == q
    del keep


def test_more_results_than_c_holds_are_all_delivered(serve: Any) -> None:
    """A list beyond NSPV2_INLINE_MAX_RESULTS (served by the runtime) and one within it (served
    in C) both reach the client whole and in order."""
    import nspv2

    for count in (3, int(lib.NSPV2_INLINE_MAX_RESULTS) + 6):

        class Provider(nspv2.Provider):
            size = count

            def lookup(self, query: QuerySet, flags: Any, session: Any) -> list[QuerySet]:
                return [QuerySet(instance_name=f"r{i}.test") for i in range(self.size)]

        guid = serve(Provider(), guid=uuid.uuid4())
        got = nspv2.lookup("any.test", namespace=nspv2.NS_DNS, provider_id=guid)
        assert [r.instance_name for r in got] == [f"r{i}.test" for i in range(count)]


def test_open_lookups_are_counted_until_ended() -> None:
    """nspv2_lookups_count (what the stress test checks for leaks) counts each open lookup of a
    provider, and only that provider's, until its End or its session's end."""
    other = ffi.new("GUID *")
    ffi.memmove(other, uuid.uuid4().bytes_le, 16)
    image = images_of([QuerySet(instance_name="counted")])
    before = lib.nspv2_lookups_count(guid())
    first, second = create(image, [NO_ERROR]), create(image, [NO_ERROR])
    assert lib.nspv2_lookups_count(guid()) == before + 2
    assert lib.nspv2_lookups_count(other) == 0
    assert lib.nspv2_lookups_count(ffi.NULL) >= before + 2
    assert lib.nspv2_lookups_end(first) == NO_ERROR
    assert lib.nspv2_lookups_count(guid()) == before + 1
    lib.nspv2_lookups_end_session(guid(), SESSION)
    assert lib.nspv2_lookups_count(guid()) == before
    assert lib.nspv2_lookups_end(second) == WSA_INVALID_HANDLE


def test_adopted_lookups_answer_in_c_under_their_even_handle() -> None:
    """A lookup the runtime served (even handle) whose results are now all known is adopted
    by C under the same handle: NextEx and End answer there; an odd handle cannot be adopted,
    and an even one C never adopted is left to the runtime (NSPV2_NOT_INLINE)."""
    results = [QuerySet(instance_name="left", addresses=()), QuerySet(instance_name="over")]
    batch = records(images_of(results), [NO_ERROR, NO_ERROR])
    even = 2**40 + 2
    assert (
        lib.nspv2_lookups_adopt(even + 1, SESSION, guid(), LUP_RETURN_ALL, 2, batch, len(batch))
        == 0
    )
    assert lib.nspv2_lookups_next(even, 0, ffi.new("DWORD *", 0), ffi.NULL) == lib.NSPV2_NOT_INLINE
    assert (
        lib.nspv2_lookups_adopt(even, SESSION, guid(), LUP_RETURN_ALL, 2, batch, len(batch)) == even
    )
    assert [next_result(even) for _ in range(3)] == [
        (NO_ERROR, expected(results[0])),
        (NO_ERROR, expected(results[1])),
        (WSA_E_NO_MORE, None),
    ]
    assert lib.nspv2_lookups_end(even) == NO_ERROR
    assert lib.nspv2_lookups_end(even) == lib.NSPV2_NOT_INLINE


def test_one_record_packs_as_its_lookup_would() -> None:
    """nspv2_record_pack, with which the runtime answers its own lookups, packs a result's
    record as a lookup answered in C packs it (WSAEFAULT with the size first), answers a
    record without an image with its code, and a truncated record with WSANO_RECOVERY."""
    result = QuerySet(instance_name="one", comment="record")
    (image,) = images_of([result])
    record = records([image], [NO_ERROR])
    length = ffi.new("DWORD *", 0)
    assert lib.nspv2_record_pack(record, len(record), LUP_RETURN_ALL, ffi.NULL, length) == WSAEFAULT
    buf = ffi.new("char[]", length[0])
    out = ffi.cast("WSAQUERYSET2W *", buf)
    assert lib.nspv2_record_pack(record, len(record), LUP_RETURN_ALL, out, length) == NO_ERROR
    assert MARSHAL.read(out, wcslen) == expected(result)
    failed = MARSHAL.error_record(WSA_INVALID_HANDLE)
    assert lib.nspv2_record_pack(failed, len(failed), 0, out, length) == WSA_INVALID_HANDLE
    assert lib.nspv2_record_pack(record[:-8], len(record) - 8, 0, out, length) == WSANO_RECOVERY
