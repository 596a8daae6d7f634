"""Results through nspv2.lookup for every kind of Provider.lookup, and how failures of a
provider reach the client."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

import nspv2
from nspv2 import CsAddr, QuerySet, WinsockError

ONE = QuerySet(instance_name="one.test", addresses=(CsAddr(remote=("192.0.2.1", 80)),))
TWO = QuerySet(instance_name="two.test", comment="second")
THREE = QuerySet(instance_name="three.test", blob=b"\x01\x02\x03")


def names(results: list[QuerySet]) -> list[str | None]:
    return [r.instance_name for r in results]


class Returns(nspv2.Provider):
    """lookup returns whatever it was constructed with."""

    def __init__(self, value: object) -> None:
        self.value = value

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        return self.value


def test_plain_function_returning_queryset(serve) -> None:
    """A lookup returning one QuerySet gives exactly that result."""
    guid = serve(Returns(ONE))
    results = nspv2.lookup("x", nspv2.NS_DNS)
    assert results == [ONE.replace(provider_id=guid, namespace=nspv2.NS_DNS)]


def test_plain_function_returning_list(serve) -> None:
    """A lookup returning a list gives every result, in order."""
    serve(Returns([ONE, TWO, THREE]))
    results = nspv2.lookup("x", nspv2.NS_DNS)
    assert names(results) == ["one.test", "two.test", "three.test"]
    assert results[1].comment == "second"
    assert results[2].blob == b"\x01\x02\x03"
    assert results[0].addresses == (CsAddr(remote=("192.0.2.1", 80)),)


def test_plain_function_returning_none(serve) -> None:
    """A lookup returning None answers with no results (WSA_E_NO_MORE at once), not an error."""
    serve(Returns(None))
    assert nspv2.lookup("x", nspv2.NS_DNS) == []


def test_generator(serve) -> None:
    """A generator lookup is run as results are asked for, and may use the query."""

    class Gen(nspv2.Provider):
        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            for i in range(3):
                yield QuerySet(instance_name=f"{query.instance_name}-{i}")

    serve(Gen())
    assert names(nspv2.lookup("gen", nspv2.NS_DNS)) == ["gen-0", "gen-1", "gen-2"]


def test_async_def_returning_list(serve) -> None:
    """An ``async def`` lookup's returned list becomes the results."""

    class Async(nspv2.Provider):
        async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.001)
            return [ONE, TWO]

    serve(Async())
    assert names(nspv2.lookup("x", nspv2.NS_DNS)) == ["one.test", "two.test"]


def test_async_def_returning_single_and_none(serve) -> None:
    """An ``async def`` lookup may return one QuerySet, or None for no results."""

    class Async(nspv2.Provider):
        async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            return ONE if query.instance_name == "one" else None

    serve(Async())
    assert names(nspv2.lookup("one", nspv2.NS_DNS)) == ["one.test"]
    assert nspv2.lookup("other", nspv2.NS_DNS) == []


def test_async_generator(serve) -> None:
    """An async generator lookup yields its results one NextEx at a time."""

    class AsyncGen(nspv2.Provider):
        async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            for i in range(4):
                await asyncio.sleep(0)
                yield QuerySet(instance_name=f"a{i}")

    serve(AsyncGen())
    assert names(nspv2.lookup("x", nspv2.NS_DNS)) == ["a0", "a1", "a2", "a3"]


@pytest.mark.parametrize("kind", ["plain", "generator", "async", "asyncgen"])
def test_winsock_error_reaches_client(serve, kind: str) -> None:
    """WinsockError(WSASERVICE_NOT_FOUND) raised by any kind of lookup reaches the client as
    that code."""

    class Fails(nspv2.Provider):
        if kind == "plain":

            def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)

        elif kind == "generator":

            def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)
                yield ONE

        elif kind == "async":

            async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)

        else:

            async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)
                yield ONE

    serve(Fails())
    with pytest.raises(WinsockError) as info:
        nspv2.lookup("x", nspv2.NS_DNS)
    assert info.value.code == nspv2.WSASERVICE_NOT_FOUND


@pytest.mark.parametrize("kind", ["plain", "generator", "async", "asyncgen"])
def test_generic_exception_is_no_recovery_and_logged(serve, caplog, kind: str) -> None:
    """Any other exception answers WSANO_RECOVERY and its traceback goes to logger "nspv2"."""

    class Boom(nspv2.Provider):
        if kind == "plain":

            def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise RuntimeError("provider bug 1234")

        elif kind == "generator":

            def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise RuntimeError("provider bug 1234")
                yield ONE

        elif kind == "async":

            async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise RuntimeError("provider bug 1234")

        else:

            async def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
                raise RuntimeError("provider bug 1234")
                yield ONE

    serve(Boom())
    with caplog.at_level(logging.ERROR, logger="nspv2"):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup("x", nspv2.NS_DNS)
    assert info.value.code == nspv2.WSANO_RECOVERY
    logged = [r for r in caplog.records if r.name == "nspv2" and r.exc_info]
    assert logged, "the provider's exception was not logged"
    assert any(
        isinstance(r.exc_info[1], RuntimeError) and "provider bug 1234" in str(r.exc_info[1])
        for r in logged
    )
    assert "Traceback" in caplog.text and "provider bug 1234" in caplog.text


def _yields_strings(query, flags, session):  # type: ignore[no-untyped-def]
    yield "not a query set"


async def _async_str(query, flags, session):  # type: ignore[no-untyped-def]
    return "a string"


async def _asyncgen_ints(query, flags, session):  # type: ignore[no-untyped-def]
    yield 42


@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda q, f, s: "one.test", id="str"),
        pytest.param(lambda q, f, s: b"one.test", id="bytes"),
        pytest.param(lambda q, f, s: 42, id="int"),
        pytest.param(lambda q, f, s: {"instance_name": "x"}, id="dict"),
        pytest.param(lambda q, f, s: [ONE, "two"], id="list-with-str"),
        pytest.param(lambda q, f, s: (x for x in [ONE, None]), id="genexp-with-none"),
        pytest.param(_yields_strings, id="generator-of-str"),
        pytest.param(_async_str, id="async-str"),
        pytest.param(_asyncgen_ints, id="asyncgen-of-int"),
    ],
)
def test_wrong_return_types_are_no_recovery(serve, caplog, lookup) -> None:
    """A lookup producing something that is not QuerySets answers WSANO_RECOVERY, never a
    crash, and the provider keeps working afterwards."""

    class Wrong(nspv2.Provider):
        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            if query.instance_name == "good":
                return ONE
            return lookup(query, flags, session)

    serve(Wrong())
    with caplog.at_level(logging.ERROR, logger="nspv2"):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup("bad", nspv2.NS_DNS)
    assert info.value.code == nspv2.WSANO_RECOVERY
    assert any(r.name == "nspv2" for r in caplog.records)
    assert names(nspv2.lookup("good", nspv2.NS_DNS)) == ["one.test"]


def test_ns_all_reaches_several_providers_and_provider_id_picks_one(serve) -> None:
    """NS_ALL asks every advertised provider; a provider_id restriction asks just that one."""

    class Named(nspv2.Provider):
        def __init__(self, label: str, namespace: int) -> None:
            self.label = label
            self.namespace = namespace
            self.asked = 0

        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            self.asked += 1
            return QuerySet(instance_name=self.label)

    dns, email = Named("from-dns", nspv2.NS_DNS), Named("from-email", nspv2.NS_EMAIL)
    dns_id = serve(dns, nspv2.NS_DNS)
    email_id = serve(email, nspv2.NS_EMAIL)

    everything = nspv2.lookup("x", nspv2.NS_ALL)
    assert sorted(names(everything)) == ["from-dns", "from-email"]
    assert {r.provider_id for r in everything} == {dns_id, email_id}
    by_id = {r.provider_id: r for r in everything}
    assert by_id[dns_id].namespace == nspv2.NS_DNS
    assert by_id[email_id].namespace == nspv2.NS_EMAIL

    only_email = nspv2.lookup("x", nspv2.NS_ALL, provider_id=email_id)
    assert names(only_email) == ["from-email"]
    only_dns = nspv2.lookup("x", provider_id=str(dns_id))
    assert names(only_dns) == ["from-dns"]
    assert (dns.asked, email.asked) == (2, 2)

    assert names(nspv2.lookup("x", nspv2.NS_EMAIL)) == ["from-email"]


def test_no_provider_for_namespace_is_service_not_found(serve) -> None:
    """A namespace no advertised provider serves answers WSASERVICE_NOT_FOUND."""
    serve(Returns(ONE), nspv2.NS_DNS)
    with pytest.raises(WinsockError) as info:
        nspv2.lookup("x", nspv2.NS_NIS)
    assert info.value.code == nspv2.WSASERVICE_NOT_FOUND
    with pytest.raises(WinsockError) as info:
        nspv2.lookup("x", provider_id=uuid.uuid4())
    assert info.value.code == nspv2.WSASERVICE_NOT_FOUND


def test_result_defaults_filled_in(serve) -> None:
    """A result without provider_id/namespace gets the provider's GUID and the namespace asked
    for (or the class's namespace when the client asked NS_ALL); explicit values are kept."""
    other = uuid.uuid4()

    class Defaults(nspv2.Provider):
        namespace = nspv2.NS_EMAIL

        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            return [
                QuerySet(instance_name="bare"),
                QuerySet(instance_name="explicit", provider_id=other, namespace=nspv2.NS_NIS),
            ]

    guid = serve(Defaults(), nspv2.NS_EMAIL)
    bare, explicit = nspv2.lookup("x", nspv2.NS_EMAIL)
    assert (bare.provider_id, bare.namespace) == (guid, nspv2.NS_EMAIL)
    assert (explicit.provider_id, explicit.namespace) == (other, nspv2.NS_NIS)

    bare, _ = nspv2.lookup("x", nspv2.NS_ALL, provider_id=guid)
    assert (bare.provider_id, bare.namespace) == (guid, nspv2.NS_EMAIL)


def test_query_and_flags_reach_lookup(serve) -> None:
    """lookup gets the client's name, namespace and flags (as LookupFlags)."""
    seen = []

    class Records(nspv2.Provider):
        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            seen.append((query.instance_name, query.namespace, flags))
            return None

    serve(Records())
    nspv2.lookup("who", nspv2.NS_DNS, flags=nspv2.LUP_RETURN_NAME | nspv2.LUP_DEEP)
    assert seen == [("who", nspv2.NS_DNS, nspv2.LUP_RETURN_NAME | nspv2.LUP_DEEP)]
    assert isinstance(seen[0][2], nspv2.LookupFlags)
