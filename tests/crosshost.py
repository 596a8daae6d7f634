"""A host process for tests/test_crossprocess.py: serves a recording provider under the GUID
given as argv[1] to other processes (through the stand-in's socket), until stdin closes or
SIGTERM. argv[2] is the file its events go to, one line each, flushed at once (argv[3], if
given: the uids of other users let in, comma-separated, StandinAllowUsers):
``startup SID``, ``cleanup SID``, ``rundown SID``, ``begin NAME`` (not for ``two``). Names it
answers:

- ``pid``: one result whose instance name is this process's pid (the call ran here);
- ``two``: two results; ``big``: one result with a 64 KiB blob (the WSAEFAULT retry);
- ``hang``: a lookup whose results never come (an async generator waiting forever);
- ``thread``: a generator's one result, named after the thread its step ran on;
- ``stuck``: a generator whose step waits (up to a minute) until the lookup is ended, records
  ``stuck`` then ``saw end`` or ``never saw end``;
- ``slow``: a plain lookup that takes 3 s, then records ``slow done``;
- anything else: WSASERVICE_NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import uuid
from typing import Any, AsyncIterator, Iterator

import nspv2
import nspv2.catalog
from nspv2._native import load


class Recorder(nspv2.Provider):
    """Writes its session events to a file; answers the names in the module docstring."""

    namespace = nspv2.NS_DNS

    def __init__(self, events: str) -> None:
        self.events = open(events, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def record(self, line: str) -> None:
        with self.lock:
            self.events.write(line + "\n")

    def startup(self, session: nspv2.Session) -> None:
        self.record(f"startup {session.id}")

    def cleanup(self, session: nspv2.Session) -> None:
        self.record(f"cleanup {session.id}")

    def session_rundown(self, session: nspv2.Session) -> None:
        self.record(f"rundown {session.id}")

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: nspv2.Session) -> Any:
        name = query.instance_name or ""
        if name != "two":  # the reliability test's name: too many to record
            self.record(f"begin {name}")
        if name == "hang":
            return self.hang()
        if name == "pid":
            return nspv2.QuerySet(instance_name=str(os.getpid()))
        if name == "thread":
            return self.thread_name()
        if name == "stuck":
            return self.stuck()
        if name == "slow":
            time.sleep(3)
            self.record("slow done")
            return nspv2.QuerySet(instance_name="slow")
        if name == "two":
            return [nspv2.QuerySet(instance_name="one"), nspv2.QuerySet(instance_name="two")]
        if name == "big":
            return nspv2.QuerySet(instance_name="big", blob=bytes(range(256)) * 256)
        raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)

    def thread_name(self) -> Iterator[nspv2.QuerySet]:
        yield nspv2.QuerySet(instance_name=threading.current_thread().name)

    def stuck(self) -> Iterator[nspv2.QuerySet]:
        self.record("stuck")
        deadline = time.monotonic() + 60
        while not nspv2.lookup_cancelled() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.record("saw end" if nspv2.lookup_cancelled() else "never saw end")
        yield nspv2.QuerySet(instance_name="late")

    async def hang(self) -> AsyncIterator[nspv2.QuerySet]:
        self.record("hanging")
        await asyncio.Event().wait()
        yield nspv2.QuerySet(instance_name="never")


def main() -> int:
    guid = uuid.UUID(sys.argv[1])
    provider = Recorder(sys.argv[2])
    if len(sys.argv) > 3:  # other users let in, as a host's configuration would
        uids = [int(u) for u in sys.argv[3].split(",")]
        native = load()
        allow = native.winsock.StandinAllowUsers
        assert allow(native.ffi.new("DWORD[]", uids), len(uids)) == 0
    if not any(e.provider_id == guid for e in nspv2.catalog.entries()):
        nspv2.catalog.install(guid, "cross-process test provider", int(nspv2.NS_DNS))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with nspv2.advertise(provider, guid):
        print("ready", flush=True)
        stop.wait()
    print("withdrawn", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
