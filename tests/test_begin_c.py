"""NSPv2LookupServiceBegin in C (nspv2._cmarshal.Begin): it answers every kind of provider as
the runtime's begin does, it is the path usual lookups take, and it contains every exception and
leaks nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any, Iterator

import pytest
from conftest import Serve, traced_growth
from nspv2._provider import lib  # type: ignore[import-not-found]

import nspv2
from nspv2 import QuerySet, WinsockError, _runtime

ONE = QuerySet(instance_name="one.test", comment="c")
MANY = [QuerySet(instance_name=f"r{i}.test") for i in range(int(lib.NSPV2_INLINE_MAX_RESULTS) + 6)]


@contextlib.contextmanager
def python_begin() -> Iterator[None]:
    """Begin through cffi and the runtime's begin only (the C Begin unset), then set again."""
    _runtime.use_c_begin(False)
    try:
        yield
    finally:
        _runtime.use_c_begin(True)


class Behaves(nspv2.Provider):
    """lookup does what its name says; it records the Python function that called it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.callers: list[str] = []

    def lookup(self, query: QuerySet, flags: Any, session: Any) -> Any:
        self.callers.append(sys._getframe(1).f_code.co_name)
        kind = self.kind
        if kind == "one":
            return ONE
        if kind == "none":
            return None
        if kind == "tuple":
            return (ONE, ONE.replace(instance_name="two.test"))
        if kind == "many":
            return MANY
        if kind == "subclass-list":
            return type("Results", (list,), {})([ONE])
        if kind == "not-a-queryset":
            return [ONE, "not a QuerySet"]
        if kind == "raises":
            raise ValueError("provider bug")
        if kind == "winsock-error":
            raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        if kind == "keyboard-interrupt":
            raise KeyboardInterrupt
        if kind == "generator":
            return (q for q in (ONE, ONE.replace(instance_name="later.test")))
        if kind == "async":

            async def later() -> QuerySet:
                await asyncio.sleep(0)
                return ONE

            return later()
        raise AssertionError(kind)


KINDS = [
    "one",
    "none",
    "tuple",
    "many",
    "subclass-list",
    "not-a-queryset",
    "raises",
    "winsock-error",
    "keyboard-interrupt",
    "generator",
    "async",
]


def outcome(name: str = "x") -> Any:
    try:
        return nspv2.lookup(name, nspv2.NS_DNS)
    except WinsockError as exc:
        return exc.code


@pytest.mark.parametrize("kind", KINDS)
def test_c_begin_answers_as_the_runtime_begin(
    serve: Serve, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """Every kind of answer (results C holds, more than it holds, results to come, a provider's
    exception) reaches the client the same through the C Begin as through the runtime's begin,
    and a provider's exception is logged the same, once, naming the entry point."""
    provider = Behaves(kind)
    serve(provider)
    _runtime._flags(nspv2.LUP_RETURN_ALL)  # flags seen before, as after a process's first lookup
    with caplog.at_level(logging.ERROR, logger="nspv2"):
        through_c = outcome()
        logged_c = [r.getMessage() for r in caplog.records]
        caplog.clear()
        with python_begin():
            through_python = outcome()
        logged_python = [r.getMessage() for r in caplog.records]
    assert through_c == through_python
    assert logged_c == logged_python
    if kind in ("raises", "keyboard-interrupt"):
        assert through_c == nspv2.WSANO_RECOVERY
        assert len(logged_c) == 1 and "NSPv2LookupServiceBegin" in logged_c[0]
    [c_caller, python_caller] = provider.callers
    assert python_caller == "begin"
    assert c_caller != "begin", "the usual lookup did not take the C Begin"


def test_c_begin_leaves_unknown_flags_and_sessions_to_the_runtime(serve: Serve) -> None:
    """Flags never seen before and a session it cannot check make the C Begin decline before the
    provider runs (the runtime's begin then runs the provider, once); the flags are then known and
    the next Begin stays in C."""
    provider = Behaves("one")
    serve(provider)
    flags = nspv2.LUP_RETURN_NAME | nspv2.LUP_RETURN_COMMENT | nspv2.LUP_RES_SERVICE
    _runtime._lookup_flags.pop(flags, None)
    for _ in range(2):
        nspv2.lookup("x", nspv2.NS_DNS, flags=flags)
    assert provider.callers == ["begin", "lookup"]


def test_c_begin_leaks_nothing(serve: Serve) -> None:
    """Thousands of Begins through C, of every kind of answer, leave traced memory flat."""
    provider = Behaves("one")
    serve(provider)
    kinds = [kind for kind in KINDS if kind != "async"]

    def work(rounds: int) -> None:
        for _ in range(rounds):
            provider.callers.clear()
            for kind in kinds:
                provider.kind = kind
                outcome()

    logging.getLogger("nspv2").disabled = True
    try:
        grown = traced_growth(work, 1000)
    finally:
        logging.getLogger("nspv2").disabled = False
    assert grown < 64 * 1024, f"{grown} bytes more after 1,000 rounds"
