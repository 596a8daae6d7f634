"""Shared fixtures: a fresh provider GUID per test, serving providers through the Winsock
stand-in (catalog install + advertise), and the stand-in's contract-violation check after every
test."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import shutil
import tempfile
import tracemalloc
import uuid
from typing import Callable, Iterator, Optional

import pytest
from prerequisites import tools

import nspv2
import nspv2.catalog
from nspv2._native import Native, load
from nspv2.napi import InstallationBlob

Serve = Callable[..., uuid.UUID]

# Every process the tests start publishes its providers and finds other hosts in a runtime
# folder of this run only (never the machine's /run/nspv2 or $XDG_RUNTIME_DIR/nspv2), and keeps
# its stand-in catalog in memory unless a test shares one (tests/test_crossprocess.py does).
if "NSPV2_RUNTIME_DIR" not in os.environ:
    _run_root = tempfile.mkdtemp(prefix="nspv2-tests-")
    os.environ["NSPV2_RUNTIME_DIR"] = os.path.join(_run_root, "run")
    atexit.register(shutil.rmtree, _run_root, True)  # the run's folder goes with the run
os.environ.setdefault("NSPV2_STANDIN_CATALOG", "")


def traced_growth(work: Callable[[int], None], rounds: int) -> int:
    """Bytes of traced memory ``work(rounds)`` leaves behind, once warmed up (what a leak of
    references in C code shows as)."""
    work(100)
    gc.collect()
    tracemalloc.start()
    try:
        work(100)
        before = tracemalloc.get_traced_memory()[0]
        work(rounds)
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="session")
def native() -> Native:
    """cffi's view of the Winsock stand-in and the provider library."""
    return load()


@pytest.fixture
def provider_id() -> uuid.UUID:
    """A provider GUID nobody else uses."""
    return uuid.uuid4()


#: The blob `serve` installs NS_EMAIL providers with unless told otherwise: a wildcard provider,
#: which Winsock asks for any name (test names have no domain; test_ws2_rules.py tests domains).
WILDCARD_BLOB = InstallationBlob(wildcard=True).pack()


@pytest.fixture
def serve(provider_id: uuid.UUID) -> Iterator[Serve]:
    """``serve(provider, namespace=NS_DNS, *, guid=None, blob=None)``: installs the GUID in the
    catalog (an NS_EMAIL provider with ``blob``, by default WILDCARD_BLOB) and advertises the
    provider until the test ends; returns the GUID (the test's own for the first call unless one
    is given, a fresh one for later calls)."""
    used: set[uuid.UUID] = set()
    with contextlib.ExitStack() as stack:

        def start(
            provider: nspv2.Provider,
            namespace: int = nspv2.NS_DNS,
            *,
            guid: Optional[uuid.UUID] = None,
            identifier: str = "nspv2 test provider",
            blob: Optional[bytes] = None,
        ) -> uuid.UUID:
            if guid is None:
                guid = provider_id if provider_id not in used else uuid.uuid4()
            used.add(guid)
            if blob is None and namespace == nspv2.NS_EMAIL:
                blob = WILDCARD_BLOB
            nspv2.catalog.install(guid, identifier, int(namespace), provider_specific=blob or b"")
            stack.callback(nspv2.catalog.uninstall, guid)
            stack.enter_context(nspv2.advertise(provider, guid))
            return guid

        yield start


@pytest.fixture(autouse=True)
def no_violations(native: Native) -> Iterator[None]:
    """Fails the test if a provider broke the contract in a way the stand-in saw."""
    native.winsock.StandinResetViolations()
    yield
    count = native.winsock.StandinViolationCount()
    messages = []
    for i in range(min(count, 256)):
        buf = native.ffi.new("CHAR[]", 512)
        native.winsock.StandinGetViolation(i, buf, 512)
        messages.append(native.ffi.string(buf).decode("utf-8", "replace"))
    native.winsock.StandinResetViolations()
    assert count == 0, "stand-in recorded contract violations:\n" + "\n".join(messages)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        tools(*mark.args)
