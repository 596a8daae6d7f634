"""Load: 16 client threads, 100,000 lookups mixing small and large results, cancellations,
provider exceptions and session rundowns, against one Python provider through the stand-in."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from typing import Any, AsyncIterator, Dict, Iterator, List, Tuple

from conftest import Serve
from nspv2._provider import ffi as provider_ffi  # type: ignore[import-not-found]
from nspv2._provider import lib as provider_lib

import nspv2
from nspv2 import _runtime
from nspv2._marshal import Marshal
from nspv2._native import Native

THREADS = 16
TOTAL = int(os.environ.get("NSPV2_STRESS_LOOKUPS", "100000"))
WARMUP = TOTAL // 5
BIG_BLOB = 6000  # larger than the first buffer: every "large" lookup takes the WSAEFAULT retry
FIRST_BUFFER = 1024
TALLY_LOCK = threading.Lock()


class Mixed(nspv2.Provider):
    """Answers by the name's kind; counts sessions so the test can check they balance."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.startups = 0
        self.closed = 0

    def startup(self, session: nspv2.Session) -> None:
        with self.lock:
            self.startups += 1

    def cleanup(self, session: nspv2.Session) -> None:
        with self.lock:
            self.closed += 1

    def session_rundown(self, session: nspv2.Session) -> None:
        with self.lock:
            self.closed += 1

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: Any) -> Any:
        name = query.instance_name or ""
        kind = name.split("-", 1)[0]
        if kind == "small":
            return nspv2.QuerySet(
                instance_name=f"{name}#0", addresses=(nspv2.CsAddr(("192.0.2.1", 80)),)
            )
        if kind == "large":
            return [
                nspv2.QuerySet(
                    instance_name=f"{name}#0", blob=name.encode() * (BIG_BLOB // len(name))
                )
            ]
        if kind == "multi":
            return self.multi(name)
        if kind == "slow":
            return self.slow(name)
        if kind == "boom":
            raise RuntimeError("provider failure under load")
        if kind == "boomgen":
            return self.boomgen(name)
        raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)

    def multi(self, name: str) -> Iterator[nspv2.QuerySet]:
        for k in range(3):
            yield nspv2.QuerySet(instance_name=f"{name}#{k}")

    def boomgen(self, name: str) -> Iterator[nspv2.QuerySet]:
        yield nspv2.QuerySet(instance_name=f"{name}#0")
        raise RuntimeError("provider failure in the middle of a lookup")

    async def slow(self, name: str) -> AsyncIterator[nspv2.QuerySet]:
        await asyncio.sleep(0.001)
        yield nspv2.QuerySet(instance_name=f"{name}#0")


EXPECTED = {"small": 1, "large": 1, "multi": 3}


class Client:
    """One client thread's raw Winsock calls (WSALookupServiceBeginW/NextW/End)."""

    def __init__(self, native: Native) -> None:
        self.native = native
        self.ffi = native.ffi
        self.ws = native.winsock
        self.marshal = Marshal(self.ffi)
        self.handle = self.ffi.new("HANDLE *")
        self.length = self.ffi.new("DWORD *")

    def begin(self, name: str) -> Tuple[int, Any]:
        qs, _keep = self.marshal.build(
            nspv2.QuerySet(instance_name=name, namespace=nspv2.NS_DNS),
            "WSAQUERYSETW",
            service_class=nspv2.SVCID_HOSTNAME,
        )
        if self.ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, self.handle) != 0:
            return self.ws.WSAGetLastError(), None
        return 0, self.handle[0]

    def next(self, handle: Any) -> Tuple[int, str]:
        size = FIRST_BUFFER
        while True:
            buf = self.ffi.new("char[]", size)
            self.length[0] = size
            out = self.ffi.cast("WSAQUERYSETW *", buf)
            if self.ws.WSALookupServiceNextW(handle, nspv2.LUP_RETURN_ALL, self.length, out) == 0:
                p = out.lpszServiceInstanceName
                n = 0
                while p[n] != 0:
                    n += 1
                return 0, bytes(self.ffi.buffer(p, 2 * n)).decode("utf-16-le")
            error = self.ws.WSAGetLastError()
            if error == nspv2.WSAEFAULT and self.length[0] > size:
                size = self.length[0]
                continue
            return error, ""

    def end(self, handle: Any) -> int:
        return 0 if self.ws.WSALookupServiceEnd(handle) == 0 else self.ws.WSAGetLastError()


def run_client(
    native: Native, seed: int, count: int, tally: Dict[str, int], errors: List[str]
) -> None:
    rng = random.Random(seed)
    client = Client(native)
    mine = dict.fromkeys(tally, 0)
    assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
    try:
        for i in range(count):
            kind = rng.choice(
                [
                    "small",
                    "small",
                    "large",
                    "multi",
                    "boom",
                    "boomgen",
                    "cancel",
                    "early",
                    "rundown",
                ]
            )
            name = f"{kind}-{seed}-{i}"
            try:
                one(native, client, kind, name, rng, mine)
            except AssertionError as exc:
                errors.append(f"{name}: {exc}")
    finally:
        native.winsock.WSACleanup()
        with TALLY_LOCK:
            for key, value in mine.items():
                tally[key] += value


def one(
    native: Native, client: Client, kind: str, name: str, rng: random.Random, tally: Dict[str, int]
) -> None:
    if kind == "rundown":
        # A simulated client process that dies with a lookup open.
        ws = native.winsock
        dead = ws.StandinClientCreate()
        assert ws.StandinClientAttach(dead) == 0
        try:
            assert ws.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
            code, handle = client.begin(f"multi-{name}")
            assert code == 0, code
            assert client.next(handle) == (0, f"multi-{name}#0")
        finally:
            assert ws.StandinClientAttach(0) == 0
        assert ws.StandinClientKill(dead) == 0
        tally["rundown"] += 1
        return
    lookup_name = {"cancel": f"slow-{name}", "early": f"multi-{name}"}.get(kind, name)
    code, handle = client.begin(lookup_name)
    if kind == "boom":
        assert code == nspv2.WSANO_RECOVERY, code
        tally["boom"] += 1
        return
    assert code == 0, f"Begin failed with {code}"
    try:
        if kind == "boomgen":
            assert client.next(handle) == (0, f"{name}#0")
            assert client.next(handle)[0] == nspv2.WSANO_RECOVERY
            assert client.next(handle)[0] == nspv2.WSA_E_NO_MORE
            tally["boomgen"] += 1
            return
        if kind == "early":
            assert client.next(handle) == (0, f"{lookup_name}#0")
            tally["early"] += 1
            return
        if kind == "cancel":
            timer = threading.Timer(rng.random() * 0.002, client.end, (handle,))
            timer.start()
            code, got = client.next(handle)
            timer.join()
            handle = None
            assert (code, got) in (
                (0, f"{lookup_name}#0"),
                (nspv2.WSA_E_CANCELLED, ""),
                (nspv2.WSA_INVALID_HANDLE, ""),
            ), (code, got)
            tally["cancel"] += 1
            return
        got = []
        while True:
            code, text = client.next(handle)
            if code == nspv2.WSA_E_NO_MORE:
                break
            assert code == 0, f"NextW failed with {code}"
            got.append(text)
        assert got == [f"{name}#{k}" for k in range(EXPECTED[kind])], got
        tally[kind] += 1
    finally:
        if handle is not None:
            assert client.end(handle) == 0


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_phase(native: Native, total: int, seed0: int) -> Dict[str, int]:
    tally: Dict[str, int] = {
        k: 0 for k in ("small", "large", "multi", "boom", "boomgen", "cancel", "early", "rundown")
    }
    errors: List[str] = []
    per_thread = total // THREADS
    threads = [
        threading.Thread(target=run_client, args=(native, seed0 + t, per_thread, tally, errors))
        for t in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"{len(errors)} lookups went wrong, first: {errors[:5]}"
    return tally


def test_stress_every_call_completes_once_nothing_lost_nothing_leaked(
    serve: Serve, native: Native
) -> None:
    """Under 16 threads and 100,000 mixed lookups every async call completes exactly once
    (the stand-in sees no violation), every result arrives once and in order, no lookup handle
    or session is left behind, and resident memory stays flat after warm-up."""
    provider = Mixed()
    guid = serve(provider)
    started = time.monotonic()
    run_phase(native, WARMUP, 1000)
    before = rss_bytes()
    tally = run_phase(native, TOTAL - WARMUP, 2000)
    after = rss_bytes()
    assert sum(tally.values()) >= (TOTAL - WARMUP) - THREADS
    assert all(tally[k] > 0 for k in tally), tally
    assert not [lk for lk in _runtime._lookups.values() if lk.entry.guid == guid], "lookups leaked"
    raw_guid = provider_ffi.new("GUID *")
    provider_ffi.memmove(raw_guid, guid.bytes_le, 16)
    left_in_c = provider_lib.nspv2_lookups_count(raw_guid)
    assert left_in_c == 0, f"{left_in_c} lookups answered in C were never freed"
    with provider.lock:
        assert provider.startups == provider.closed + sum(
            1 for s in _runtime._sessions.values() if s.provider_id == guid
        )
    if not os.environ.get("NSPV2_SANITIZED"):  # ASan's quarantine holds freed memory on purpose
        assert after - before < 16 * 1024 * 1024, f"RSS grew by {(after - before) / 1e6:.1f} MB"
    elapsed = time.monotonic() - started
    print(f"{TOTAL} lookups in {elapsed:.1f} s; RSS {before / 1e6:.1f} -> {after / 1e6:.1f} MB")
