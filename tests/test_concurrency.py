"""Asynchronous completion for real: many lookups in flight, and End cancelling a running NextEx."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Iterator

from conftest import Serve
from nspv2._provider import ffi as provider_ffi  # type: ignore[import-not-found]
from nspv2._provider import lib as provider_lib

import nspv2
from nspv2 import _runtime
from nspv2._marshal import Marshal
from nspv2._native import Native

IN_FLIGHT = 1000
# How long a lookup waits at the barrier before failing the test (not a timing assertion).
BARRIER_WAIT = 120


class BarrierAsync(nspv2.Provider):
    """Each lookup awaits until all IN_FLIGHT lookups have arrived, then 20 ms more: it can
    only answer if every lookup is in flight at once (else it gives up after BARRIER_WAIT)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.all_here: asyncio.Event | None = None

    async def lookup(self, query: nspv2.QuerySet, flags: Any, session: Any) -> Any:
        if self.all_here is None:
            self.all_here = asyncio.Event()  # on the runtime's event loop
        self.arrived += 1
        if self.arrived == IN_FLIGHT:
            self.all_here.set()
        try:
            await asyncio.wait_for(self.all_here.wait(), BARRIER_WAIT)
        except asyncio.TimeoutError:
            raise nspv2.WinsockError(nspv2.WSANO_DATA) from None
        await asyncio.sleep(0.02)
        return [nspv2.QuerySet(instance_name=query.instance_name)]


def test_thousand_async_lookups_in_flight_all_complete(serve: Serve) -> None:
    """1,000 lookups against an async provider are all in flight at once (each provider call
    waits at a barrier all 1,000 must reach) and all complete: NextEx returns at once and
    completes from the runtime's event loop, not from the calling thread."""
    provider = BarrierAsync()
    serve(provider)

    def one(i: int) -> str:
        try:
            [result] = nspv2.lookup(f"n{i}", namespace=nspv2.NS_DNS)
        except nspv2.WinsockError as exc:
            return f"n{i}: {exc}"
        return result.instance_name or ""

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        names = list(pool.map(one, range(IN_FLIGHT)))
    wrong = [name for i, name in enumerate(names) if name != f"n{i}"]
    assert not wrong, f"{len(wrong)} lookups did not all reach the barrier: {wrong[:3]}"
    assert provider.arrived == IN_FLIGHT


def raw_begin(native: Native, name: str, namespace: int = nspv2.NS_DNS) -> Any:
    """WSALookupServiceBeginW for ``name`` in ``namespace``; returns the lookup handle."""
    ffi = native.ffi
    qs, _keep = Marshal(ffi).build(
        nspv2.QuerySet(instance_name=name, namespace=namespace),
        "WSAQUERYSETW",
        service_class=nspv2.SVCID_HOSTNAME,
    )
    handle = ffi.new("HANDLE *")
    assert native.winsock.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, handle) == 0
    return handle[0]


def next_in_thread(native: Native, handle: Any) -> tuple[list[int], threading.Thread]:
    """WSALookupServiceNextW on a thread of its own: its outcome (0 or the error) lands in the
    list once it returns."""
    outcome: list[int] = []

    def run() -> None:
        ffi = native.ffi
        buf = ffi.new("char[]", 4096)
        length = ffi.new("DWORD *", 4096)
        rc = native.winsock.WSALookupServiceNextW(
            handle, nspv2.LUP_RETURN_ALL, length, ffi.cast("WSAQUERYSETW *", buf)
        )
        outcome.append(native.winsock.WSAGetLastError() if rc != 0 else 0)

    thread = threading.Thread(target=run)
    thread.start()
    return outcome, thread


def test_end_cancels_running_next_of_a_provider_that_ignores_it(
    serve: Serve, native: Native
) -> None:
    """End during a NextEx whose plain generator blocks (and never checks the token) completes
    that NextEx with WSA_E_CANCELLED at once: the completion is not held hostage."""
    release = threading.Event()
    entered = threading.Event()
    left = threading.Event()

    class Stubborn(nspv2.Provider):
        def lookup(self, query: Any, flags: Any, session: Any) -> Iterator[nspv2.QuerySet]:
            entered.set()
            release.wait(60)
            left.set()
            yield nspv2.QuerySet(instance_name="late")

    serve(Stubborn())
    assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
    try:
        handle = raw_begin(native, "x")
        outcome, thread = next_in_thread(native, handle)
        assert entered.wait(30)
        assert native.winsock.WSALookupServiceEnd(handle) == 0
        thread.join(30)
        assert not thread.is_alive()
        assert outcome == [nspv2.WSA_E_CANCELLED]
        # Completed while the provider still blocks: the completion was not its hostage.
        assert not left.is_set()
    finally:
        release.set()
        native.winsock.WSACleanup()


NO_WORKER_THREAD = """
import threading, uuid
import nspv2
from nspv2 import catalog
from nspv2._native import load
from nspv2._marshal import Marshal
from nspv2.testing import _violations


class Yielding(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def lookup(self, query, flags, session):
        yield nspv2.QuerySet(instance_name="yielded")


def refuse(self):
    raise RuntimeError("can't start new thread")


guid = uuid.uuid4()
catalog.install(guid, "no worker thread", nspv2.NS_DNS)
native = load()
ffi, ws = native.ffi, native.winsock
try:
    with nspv2.advertise(Yielding(), provider_id=guid):
        assert ws.WSAStartup(0x0202, ffi.new("WSADATA *")) == 0
        qs, keep = Marshal(ffi).build(
            nspv2.QuerySet(instance_name="x", namespace=nspv2.NS_DNS),
            "WSAQUERYSETW",
            service_class=nspv2.SVCID_HOSTNAME,
        )
        handle = ffi.new("HANDLE *")
        assert ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, handle) == 0
        start, threading.Thread.start = threading.Thread.start, refuse
        buf = ffi.new("char[]", 4096)
        length = ffi.new("DWORD *", 4096)
        rc = ws.WSALookupServiceNextW(
            handle[0], nspv2.LUP_RETURN_ALL, length, ffi.cast("WSAQUERYSETW *", buf)
        )
        assert (rc, ws.WSAGetLastError()) == (-1, nspv2.WSANO_RECOVERY), rc
        threading.Thread.start = start
        assert ws.WSALookupServiceEnd(handle[0]) == 0
        names = [r.instance_name for r in nspv2.lookup("y", namespace=nspv2.NS_DNS)]
        assert names == ["yielded"], names
        assert _violations(native) == [], _violations(native)
        ws.WSACleanup()
finally:
    catalog.uninstall(guid)
print("ok")
"""


def test_next_completes_once_when_no_worker_thread_can_start() -> None:
    """A generator's NextEx on a client thread, when no worker is free and none can start,
    fails with WSANO_RECOVERY and leaves nothing waiting: End completes nothing a second time
    (no violation) and the provider serves the next lookup. In a process of its own, where no
    worker thread has started yet."""
    done = subprocess.run(
        [sys.executable, "-c", NO_WORKER_THREAD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_end_cancels_async_provider_task_and_plain_token(serve: Serve, native: Native) -> None:
    """End cancels an async provider's task (it sees CancelledError) and sets the cancel token a
    plain generator checks with nspv2.lookup_cancelled()."""
    cancelled = threading.Event()
    token_seen = threading.Event()
    entered = threading.Event()

    class Waiting(nspv2.Provider):
        async def lookup(
            self, query: Any, flags: Any, session: Any
        ) -> AsyncIterator[nspv2.QuerySet]:
            entered.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            yield nspv2.QuerySet(instance_name="never")

    class Polite(nspv2.Provider):
        def lookup(self, query: Any, flags: Any, session: Any) -> Iterator[nspv2.QuerySet]:
            entered.set()
            deadline = time.monotonic() + 60
            while not nspv2.lookup_cancelled() and time.monotonic() < deadline:
                time.sleep(0.01)
            if nspv2.lookup_cancelled():
                token_seen.set()
            yield from ()

    for provider, flag in ((Waiting(), cancelled), (Polite(), token_seen)):
        entered.clear()
        guid = serve(provider)
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        try:
            handle = raw_begin(native, "x")
            outcome, thread = next_in_thread(native, handle)
            assert entered.wait(30)
            assert native.winsock.WSALookupServiceEnd(handle) == 0
            thread.join(30)
            assert outcome == [nspv2.WSA_E_CANCELLED]
            assert flag.wait(30), f"{type(provider).__name__} did not see the cancellation"
        finally:
            native.winsock.WSACleanup()
        nspv2.catalog.enable(guid, False)


def test_end_twice_and_garbage_handles(serve: Serve, native: Native) -> None:
    """A second End of the same lookup is WSA_INVALID_HANDLE and harmless."""

    class One(nspv2.Provider):
        def lookup(self, query: Any, flags: Any, session: Any) -> Any:
            return nspv2.QuerySet(instance_name="one")

    serve(One())
    assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
    try:
        handle = raw_begin(native, "x")
        assert native.winsock.WSALookupServiceEnd(handle) == 0
        assert native.winsock.WSALookupServiceEnd(handle) == -1
        assert native.winsock.WSAGetLastError() == nspv2.WSA_INVALID_HANDLE
    finally:
        native.winsock.WSACleanup()


def test_unadvertise_completes_lookups_in_flight(native: Native, provider_id: Any) -> None:
    """Withdrawing a provider whose lookup is waiting completes that NextEx with a code and
    leaves none of its lookups or sessions behind."""

    entered = threading.Event()

    class Forever(nspv2.Provider):
        async def lookup(self, query: Any, flags: Any, session: Any) -> AsyncIterator[Any]:
            entered.set()
            await asyncio.Event().wait()
            yield nspv2.QuerySet()

    nspv2.catalog.install(provider_id, "forever", nspv2.NS_DNS)
    try:
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        with nspv2.advertise(Forever(), provider_id):
            handle = raw_begin(native, "x")
            outcome, thread = next_in_thread(native, handle)
            assert entered.wait(30)
        thread.join(30)
        assert not thread.is_alive()
        assert outcome == [nspv2.WSA_E_CANCELLED]
        assert not [lk for lk in _runtime._lookups.values() if lk.entry.guid == provider_id]
        assert not [s for s in _runtime._sessions.values() if s.provider_id == provider_id]
        native.winsock.WSALookupServiceEnd(handle)
    finally:
        native.winsock.WSACleanup()
        nspv2.catalog.uninstall(provider_id)


class Nested(nspv2.Provider):
    """Answers "outer" with what a lookup of "inner" through Winsock gives: made on the thread
    running Begin, or on a worker thread Begin waits for."""

    def __init__(self, on_worker: bool) -> None:
        self.on_worker = on_worker

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: Any) -> Any:
        name = query.instance_name or ""
        if name != "outer":
            return [nspv2.QuerySet(instance_name=name)]
        if self.on_worker:
            with ThreadPoolExecutor(1) as pool:
                inner = pool.submit(nspv2.lookup, "inner", nspv2.NS_DNS).result(timeout=20)
        else:
            inner = nspv2.lookup("inner", nspv2.NS_DNS)
        return [nspv2.QuerySet(instance_name=f"outer via {inner[0].instance_name}")]


def gate_counts() -> tuple[int, int, int]:
    counts = provider_ffi.new("struct nspv2_gate_counts *")
    provider_lib.nspv2_gate_counts(counts)
    return int(counts.waited), int(counts.taken_over), int(counts.nested)


def test_provider_looking_up_on_its_own_thread_passes_its_own_gate(serve: Serve) -> None:
    """A provider whose lookup resolves a name through Winsock on the same thread comes back into
    the library while holding the gate in front of Python: it passes straight through, or every
    such lookup would wait for its own hold to be old enough to take over."""
    serve(Nested(on_worker=False))
    _, taken_over, nested = gate_counts()
    [result] = nspv2.lookup("outer", namespace=nspv2.NS_DNS)
    assert result.instance_name == "outer via inner"
    _, taken_over_after, nested_after = gate_counts()
    assert nested_after > nested
    assert taken_over_after == taken_over


def test_provider_waiting_for_a_worker_that_looks_up_does_not_deadlock(serve: Serve) -> None:
    """A provider whose lookup waits for a worker thread that itself looks up through Winsock
    holds the gate while the worker needs it: the worker takes the gate over from the waiting
    holder (which has released the GIL), so both complete."""
    serve(Nested(on_worker=True))
    _, taken_over, _ = gate_counts()
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(nspv2.lookup("outer", namespace=nspv2.NS_DNS)), daemon=True
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the nested lookup deadlocked"
    [[result]] = outcome
    assert result.instance_name == "outer via inner"
    assert gate_counts()[1] > taken_over


def test_many_threads_through_the_gate_each_get_their_own_answers(serve: Serve) -> None:
    """Sixteen client threads looking up at once queue at the gate in front of Python; every
    lookup gets the answer to its own name, and none fails."""
    serve(Nested(on_worker=False))

    def run(t: int) -> list[str]:
        names = []
        for i in range(300):
            [result] = nspv2.lookup(f"t{t}-{i}", namespace=nspv2.NS_DNS)
            names.append(result.instance_name or "")
        return names

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(run, range(16)))
    assert answers == [[f"t{t}-{i}" for i in range(300)] for t in range(16)]


class WaitsOnIo(nspv2.Provider):
    """A plain lookup of "slow" waits (the GIL released, as on I/O) until released; any other
    name answers at once."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.release = threading.Event()

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: Any) -> Any:
        if query.instance_name == "slow":
            self.waiting.set()
            self.release.wait(60)
        return nspv2.QuerySet(instance_name=query.instance_name)


def test_provider_waiting_on_io_does_not_hold_other_threads_back(serve: Serve) -> None:
    """While one client thread's plain lookup waits on I/O inside Begin (holding the gate in
    front of Python, the GIL released), other threads' lookups are answered: they take the gate
    over from the waiting holder instead of queueing behind it."""
    provider = WaitsOnIo()
    serve(provider)
    _, taken_over, _ = gate_counts()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(nspv2.lookup, "slow", nspv2.NS_DNS)
        try:
            assert provider.waiting.wait(30)
            names = [nspv2.lookup(f"quick{i}", nspv2.NS_DNS)[0].instance_name for i in range(20)]
            assert names == [f"quick{i}" for i in range(20)]
            assert not slow.done()  # all answered while the slow one still waits
            assert gate_counts()[1] > taken_over
        finally:
            provider.release.set()
        assert slow.result(30)[0].instance_name == "slow"


def test_begin_never_runs_a_generator_or_coroutine_body(serve: Serve, native: Native) -> None:
    """Begin of a generator or async provider returns without running any of its body; the
    first NextEx runs it (and End of a lookup never asked for a result never runs it)."""
    entered: list[str] = []

    class Lazy(nspv2.Provider):
        def lookup(self, query: Any, flags: Any, session: Any) -> Iterator[nspv2.QuerySet]:
            entered.append("generator")
            yield nspv2.QuerySet(instance_name="g")

    class LazyAsync(nspv2.Provider):
        async def lookup(self, query: Any, flags: Any, session: Any) -> nspv2.QuerySet:
            entered.append("coroutine")
            await asyncio.sleep(0)
            return nspv2.QuerySet(instance_name="c")

    for provider, kind in ((Lazy(), "generator"), (LazyAsync(), "coroutine")):
        guid = serve(provider)
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        try:
            unasked = raw_begin(native, "x")
            assert native.winsock.WSALookupServiceEnd(unasked) == 0
            handle = raw_begin(native, "x")
            assert entered == []
            outcome, thread = next_in_thread(native, handle)
            thread.join(30)
            assert outcome == [0] and entered == [kind]
            assert native.winsock.WSALookupServiceEnd(handle) == 0
        finally:
            native.winsock.WSACleanup()
        entered.clear()
        nspv2.catalog.enable(guid, False)


def test_event_loop_survives_a_cleanup_raising_keyboard_interrupt(
    serve: Serve, native: Native
) -> None:
    """An async generator whose cleanup (End closes it) raises KeyboardInterrupt, which asyncio
    lets out of its loop, is contained: async lookups are still answered afterwards."""

    class Rude(nspv2.Provider):
        async def lookup(self, query: Any, flags: Any, session: Any) -> AsyncIterator[Any]:
            try:
                yield nspv2.QuerySet(instance_name="first")
                yield nspv2.QuerySet(instance_name="second")
            finally:
                raise KeyboardInterrupt

    class Fine(nspv2.Provider):
        async def lookup(self, query: Any, flags: Any, session: Any) -> nspv2.QuerySet:
            await asyncio.sleep(0.001)
            return nspv2.QuerySet(instance_name=query.instance_name)

    guid = serve(Rude())
    assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
    try:
        handle = raw_begin(native, "x")
        outcome, thread = next_in_thread(native, handle)
        thread.join(30)
        assert outcome == [0]
        assert native.winsock.WSALookupServiceEnd(handle) == 0
    finally:
        native.winsock.WSACleanup()
    nspv2.catalog.enable(guid, False)
    serve(Fine())
    for i in range(20):
        [result] = nspv2.lookup(f"after{i}", namespace=nspv2.NS_DNS)
        assert result.instance_name == f"after{i}"
