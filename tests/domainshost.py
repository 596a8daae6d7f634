"""A host process for tests/test_domains.py and tests/test_nss.py: serves an NS_DNS provider
declaring domains under the GUID argv[1], with the domains argv[2] (comma-separated; empty:
none), to other processes, until stdin closes. argv[3] is a FIFO: a lookup of ``hold.<first
domain>`` waits until a byte arrives on it *holding the GIL* (a ctypes.PyDLL call), so the test
can prove that declined names do not need it. argv[4] is the file its events go to, one line
each: ``begin NAME`` for every lookup the provider is called for, ``holding`` once it holds the
GIL. A line ``domains A,B`` on stdin re-advertises the provider with those domains; the host
answers ``ready`` on stdout after each advertisement. Every name it is called for answers one
result with that name."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import uuid
from typing import Any, Tuple

import nspv2
import nspv2.catalog


class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


POLLIN = 1


class Served(nspv2.Provider):
    """Answers every name it is asked for; records each call."""

    namespace = nspv2.NS_DNS

    def __init__(self, served: Tuple[str, ...], fifo: str, events: str) -> None:
        self.domains = served
        self.fifo = fifo
        self.events = open(events, "a", buffering=1, encoding="utf-8")
        self.lock = threading.Lock()

    def record(self, line: str) -> None:
        with self.lock:
            self.events.write(line + "\n")

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: nspv2.Session) -> Any:
        name = query.instance_name or ""
        self.record(f"begin {name}")
        if self.domains and name == f"hold.{self.domains[0]}":
            fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:
                poll = ctypes.PyDLL(None).poll  # PyDLL: the GIL stays held during the call
                wanted = PollFd(fd, POLLIN, 0)
                self.record("holding")
                poll(ctypes.byref(wanted), 1, -1)
            finally:
                os.close(fd)
        return nspv2.QuerySet(instance_name=name)


def parse(text: str) -> Tuple[str, ...]:
    return tuple(d for d in text.split(",") if d)


def main() -> int:
    guid = uuid.UUID(sys.argv[1])
    provider = Served(parse(sys.argv[2]), sys.argv[3], sys.argv[4])
    if not any(e.provider_id == guid for e in nspv2.catalog.entries()):
        nspv2.catalog.install(guid, "domains test provider", int(nspv2.NS_DNS))
    while True:
        with nspv2.advertise(provider, guid):
            print("ready", flush=True)
            line = sys.stdin.readline()
        if not line.startswith("domains "):
            return 0
        provider.domains = parse(line.split(" ", 1)[1].strip())


if __name__ == "__main__":
    sys.exit(main())
