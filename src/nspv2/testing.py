"""pytest fixtures for provider authors, registered as a pytest plugin (``pytest11`` entry point
``nspv2``), so a provider's tests read like Winsock client code::

    def test_alice(nspv2_serve, nspv2_lookup):
        nspv2_serve(Directory())
        [alice] = nspv2_lookup("alice@corp.example")
        assert alice.comment == "Alice"

``nspv2_serve(provider, namespace=None, *, guid=None, domains=None)`` installs the provider in
the Winsock stand-in's catalog of the test process (an NS_EMAIL provider with its domains, or as
a wildcard when it declares none, so that Winsock routes names to it) and advertises it until the
test ends; it returns the GUID. ``nspv2_lookup(name, namespace=None, **kwargs)`` is
:func:`nspv2.lookup` asking the namespace of the last provider served (``nspv2_lookup.raw`` has
the provider library and the stand-in through cffi, for tests of the buffer protocol). A test
fails if the stand-in saw the provider break the Winsock contract.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Callable, Iterator, List, Optional, Sequence

import pytest

from . import catalog, napi
from ._constants import NS_DNS, NS_EMAIL
from ._native import Native, load
from .client import lookup
from .host import advertise
from .provider import Provider
from .queryset import QuerySet


class Served:
    """What nspv2_serve has advertised in this test."""

    def __init__(self) -> None:
        self.namespace: Optional[int] = None
        self.guids: List[uuid.UUID] = []


def _violations(native: Native) -> List[str]:
    messages = []
    for i in range(min(native.winsock.StandinViolationCount(), 64)):
        buf = native.ffi.new("CHAR[]", 512)
        native.winsock.StandinGetViolation(i, buf, 512)
        messages.append(native.ffi.string(buf).decode("utf-8", "replace"))
    return messages


@pytest.fixture
def nspv2_served() -> Served:
    """The providers nspv2_serve advertised in this test (their GUIDs, the last namespace)."""
    return Served()


@pytest.fixture
def nspv2_serve(nspv2_served: Served) -> Iterator[Callable[..., uuid.UUID]]:
    """``serve(provider, namespace=None, *, guid=None, domains=None)``: installs and advertises
    ``provider`` in the stand-in until the test ends; returns its GUID."""
    native = load()
    native.winsock.StandinResetViolations()
    with contextlib.ExitStack() as stack:

        def serve(
            provider: Provider,
            namespace: Optional[int] = None,
            *,
            guid: Optional[uuid.UUID] = None,
            domains: Optional[Sequence[str]] = None,
        ) -> uuid.UUID:
            guid = guid or uuid.UUID(str(getattr(provider, "provider_id", None) or uuid.uuid4()))
            space = int(namespace or getattr(provider, "namespace", 0) or NS_DNS)
            blob = b""
            if space == NS_EMAIL:
                claimed = list(domains if domains is not None else getattr(provider, "domains", ()))
                blob = napi.InstallationBlob.of(claimed, wildcard=not claimed).pack()
            catalog.install(guid, type(provider).__qualname__, space, provider_specific=blob)
            stack.callback(catalog.uninstall, guid)
            stack.enter_context(advertise(provider, guid))
            nspv2_served.namespace = space
            nspv2_served.guids.append(guid)
            return guid

        yield serve
    broken = _violations(native)
    native.winsock.StandinResetViolations()
    assert not broken, "the provider broke the Winsock contract:\n" + "\n".join(broken)


class Lookup:
    """What the ``nspv2_lookup`` fixture gives: :func:`nspv2.lookup` in the namespace of the
    last provider served; ``raw`` is the provider library and the stand-in through cffi."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.raw: Native = load()

    def __call__(self, name: str, namespace: Optional[int] = None, **kwargs: Any) -> List[QuerySet]:
        """The results of looking ``name`` up (``kwargs`` as for :func:`nspv2.lookup`)."""
        space = namespace if namespace is not None else self.served.namespace or 0
        return lookup(name, namespace=space, **kwargs)


@pytest.fixture
def nspv2_lookup(nspv2_served: Served) -> Lookup:
    """``lookup(name, namespace=None, **kwargs)``: WSALookupServiceBegin/Next/End through the
    stand-in, in the namespace of the last provider served unless one is given."""
    return Lookup(nspv2_served)
