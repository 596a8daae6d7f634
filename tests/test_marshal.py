"""QuerySet <-> WSAQUERYSET(2)W through the whole stack: client marshalling, the stand-in's
copy to the provider and back, the provider library's packing. Every field, Unicode edge cases,
and a property test over generated query sets."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import I32, NO_SURROGATES, SOCKADDR, U32, WITH_SURROGATES

import nspv2
from nspv2 import AfProtocol, CsAddr, QuerySet, Version, WinsockError


class Echo(nspv2.Provider):
    """Records the restrictions it is given and answers with ``self.results``."""

    namespace = nspv2.NS_DNS

    def __init__(self, *results: QuerySet) -> None:
        self.results: list[QuerySet] = list(results)
        self.seen: list[QuerySet] = []

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.seen.append(query)
        return list(self.results)


EVERYTHING = QuerySet(
    instance_name="svc.example.test",
    version=Version(0xDEADBEEF, nspv2.COMP_NOTLESS),
    comment="a comment",
    namespace=nspv2.NS_EMAIL,
    provider_id=uuid.UUID("12345678-9abc-def0-1234-56789abcdef0"),
    context="ctx\\here",
    protocols=(
        AfProtocol(nspv2.AF_INET, nspv2.IPPROTO_TCP),
        AfProtocol(nspv2.AF_INET6, nspv2.IPPROTO_UDP),
        AfProtocol(-1, -2),
    ),
    query_string="?a=b",
    addresses=(
        CsAddr(remote=("192.0.2.1", 25), local=("198.51.100.9", 40000)),
        CsAddr(
            remote=("2001:db8::25", 587, 0x12345, 4),
            local=("fe80::1", 1, 0xFFFFF, 0xFFFFFFFF),
            socket_type=nspv2.SOCK_DGRAM,
            protocol=nspv2.IPPROTO_UDP,
        ),
        CsAddr(remote=("0.0.0.0", 0), local=None),
        CsAddr(remote=None, local=("::", 65535, 0, 0)),
    ),
    output_flags=nspv2.RESULT_IS_ADDED | nspv2.RESULT_IS_CHANGED | 0x80000000,
    blob=bytes(range(256)) * 3,
)


def test_every_field_round_trips_as_result(serve) -> None:
    """A result with every field set reaches the client unchanged."""
    guid = serve(Echo(EVERYTHING))
    (result,) = nspv2.lookup("x", provider_id=guid)
    assert result == EVERYTHING


@pytest.mark.parametrize("blob", [b"", b"\0", None], ids=["empty", "one-nul", "none"])
def test_blob_edge_cases_round_trip(serve, blob: Optional[bytes]) -> None:
    """An empty blob stays an empty blob (not None), and no blob stays None."""
    result = QuerySet(instance_name="b", namespace=nspv2.NS_DNS, blob=blob)
    guid = serve(Echo(result))
    (got,) = nspv2.lookup("x", provider_id=guid)
    assert got.blob == blob
    assert got == result.replace(provider_id=guid)


def test_restrictions_seen_by_provider_equal_what_client_sent(serve) -> None:
    """The provider's query equals the client's restrictions, field for field."""
    echo = Echo()
    guid = serve(echo)
    sent = EVERYTHING.replace(provider_id=guid, output_flags=0x10, blob=b"")
    assert nspv2.lookup(None, sent.namespace, query=sent) == []
    assert echo.seen == [sent]


def test_sparse_restrictions(serve) -> None:
    """Restrictions with only a name arrive with everything else empty."""
    echo = Echo()
    guid = serve(echo)
    nspv2.lookup("only-a-name", provider_id=guid)
    assert echo.seen == [QuerySet(instance_name="only-a-name", provider_id=guid)]


UNICODE = [
    pytest.param("\U0001f600 mail", id="emoji"),
    pytest.param("\U0010ffff", id="U+10FFFF"),
    pytest.param("a\U00010000b\U0001f9ea\u00e9\u4e2d", id="mixed"),
    pytest.param("", id="empty"),
    pytest.param("x" * 5000, id="long"),
]


@pytest.mark.parametrize("text", UNICODE)
def test_unicode_round_trips_both_ways(serve, text: str) -> None:
    """Non-BMP characters travel as surrogate pairs and come back as the same characters, in the
    restrictions and in results."""
    echo = Echo(QuerySet(instance_name=text, comment=text, context=text, query_string=text))
    guid = serve(echo)
    sent = QuerySet(comment=text, context=text, query_string=text)
    (result,) = nspv2.lookup(text, provider_id=guid, query=sent)
    assert echo.seen[0].instance_name == text
    assert echo.seen[0].comment == text
    assert echo.seen[0].context == text
    assert echo.seen[0].query_string == text
    assert (result.instance_name, result.comment, result.context, result.query_string) == (
        text,
        text,
        text,
        text,
    )


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud800", "x\ud83d"])
def test_lone_surrogate_round_trips(serve, text: str) -> None:
    """A lone surrogate from a client arrives as that code point and goes back unchanged (the
    documented behaviour of QuerySet strings)."""
    echo = Echo()
    echo.results = [QuerySet(instance_name=text)]
    guid = serve(echo)
    (result,) = nspv2.lookup(text, provider_id=guid)
    assert echo.seen[0].instance_name == text
    assert result.instance_name == text


@pytest.mark.parametrize("field", ["instance_name", "comment", "context", "query_string"])
def test_embedded_nul_in_result_is_an_error_code(serve, caplog, field: str) -> None:
    """A result string with an embedded NUL fails the lookup with WSANO_RECOVERY, not a crash
    or a silently truncated string."""
    guid = serve(Echo(QuerySet(**{field: "before\0after"})))
    with caplog.at_level(logging.ERROR, logger="nspv2"):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup("x", provider_id=guid)
    assert info.value.code == nspv2.WSANO_RECOVERY


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(QuerySet(addresses=(CsAddr(remote=("999.1.1.1", 1)),)), id="bad-ipv4"),
        pytest.param(QuerySet(addresses=(CsAddr(remote=("192.0.2.1", 70000)),)), id="bad-port"),
        pytest.param(QuerySet(addresses=("192.0.2.1",)), id="not-csaddr"),  # type: ignore[arg-type]
        pytest.param(QuerySet(version=Version(-1)), id="negative-version"),
        pytest.param(QuerySet(instance_name=b"bytes"), id="bytes-name"),  # type: ignore[arg-type]
    ],
)
def test_malformed_result_is_an_error_code(serve, caplog, bad: QuerySet) -> None:
    """A QuerySet whose fields cannot be marshalled fails the lookup with WSANO_RECOVERY."""
    guid = serve(Echo(bad))
    with caplog.at_level(logging.CRITICAL, logger="nspv2"):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup("x", provider_id=guid)
    assert info.value.code == nspv2.WSANO_RECOVERY


# -- property test -------------------------------------------------------------------------------


def query_sets(text: Any) -> Any:
    optional = st.none() | text
    return st.builds(
        QuerySet,
        instance_name=optional,
        version=st.none() | st.builds(Version, U32, st.sampled_from([0, 1])),
        comment=optional,
        namespace=st.integers(1, 2**32 - 1),
        provider_id=st.none() | st.uuids(),
        context=optional,
        protocols=st.lists(st.builds(AfProtocol, I32, I32), max_size=4).map(tuple),
        query_string=optional,
        addresses=st.lists(st.builds(CsAddr, SOCKADDR, SOCKADDR, I32, I32), max_size=4).map(tuple),
        output_flags=U32,
        blob=st.none() | st.binary(max_size=300),
    )


def round_trip(echo: Echo, guid: uuid.UUID, restrictions: QuerySet, result: QuerySet) -> None:
    echo.results = [result]
    echo.seen = []
    sent = restrictions.replace(provider_id=guid)
    got = nspv2.lookup(None, sent.namespace, query=sent)
    assert echo.seen == [sent]
    assert got == [result if result.provider_id else result.replace(provider_id=guid)]


@pytest.fixture
def echo_served(serve) -> tuple[Echo, uuid.UUID]:
    """One Echo provider served for all examples of a property test."""
    echo = Echo()
    return echo, serve(echo)


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(restrictions=query_sets(NO_SURROGATES), result=query_sets(NO_SURROGATES))
def test_property_round_trip(echo_served, restrictions: QuerySet, result: QuerySet) -> None:
    """Any well-formed QuerySet (text without surrogates) round-trips as restrictions and as a
    result through client, stand-in and provider."""
    round_trip(*echo_served, restrictions, result)


@PROPERTY
@given(restrictions=query_sets(WITH_SURROGATES), result=query_sets(WITH_SURROGATES))
def test_property_round_trip_with_lone_surrogates(
    echo_served, restrictions: QuerySet, result: QuerySet
) -> None:
    """Text with lone surrogates (and any other non-NUL character) round-trips too."""
    round_trip(*echo_served, restrictions, result)
