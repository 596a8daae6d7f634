"""Example: an ``async def`` provider awaiting a slow back end, and what cancellation means.

``SlowDirectory`` answers ``<user>@slow.test`` (NS_EMAIL) after asking a back end that takes
``delay`` seconds (a stand-in for a web service or a database: replace :meth:`Backend.fetch`
with the real call). While it waits, the runtime's event loop serves every other lookup.

When the client ends the lookup (``WSALookupServiceEnd``, e.g. the user closed the program, or
its own timeout) while the provider awaits, the runtime cancels the lookup's task: the ``await``
raises :class:`asyncio.CancelledError` inside the provider, which may clean up (here it counts
and logs the cancellation) and must let the exception propagate; the client's waiting
``WSALookupServiceNext`` has already returned ``WSA_E_CANCELLED``. Nothing is answered late:
a cancelled coroutine's result, if it had one, goes nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Dict, List, Optional

import nspv2

log = logging.getLogger("nspv2.examples.slow_backend")


class Backend:
    """A slow directory: each fetch takes ``delay`` seconds, then answers from ``people``."""

    def __init__(self, people: Dict[str, str], delay: float) -> None:
        self.people = dict(people)
        self.delay = delay

    async def fetch(self, user: str) -> Optional[str]:
        """The full name of ``user``, or None; after ``delay`` seconds."""
        await asyncio.sleep(self.delay)
        return self.people.get(user)


class SlowDirectory(nspv2.Provider):
    """Answers ``user@slow.test`` with the user's full name as the comment, from a slow back end."""

    name = "nspv2 example: slow back end"
    namespace = nspv2.NS_EMAIL
    provider_id = uuid.UUID("a7d3f0b2-4c6e-4e19-8b5a-2f9c1e7d3b54")
    #: The names this provider serves; Winsock declines others before Python runs.
    domains = ("slow.test",)

    def __init__(self, backend: Optional[Backend] = None) -> None:
        self.backend = backend or Backend({"alice": "Alice Example"}, delay=0.5)
        #: Set when a lookup starts waiting on the back end, and when one is cancelled.
        self.waiting = threading.Event()
        self.cancelled = threading.Event()
        self.cancellations = 0

    async def lookup(
        self, query: nspv2.QuerySet, flags: nspv2.LookupFlags, session: nspv2.Session
    ) -> List[nspv2.QuerySet]:
        address = (query.instance_name or "").lower()
        user, _, domain = address.partition("@")
        if domain not in self.domains:
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        self.waiting.set()
        try:
            full_name = await self.backend.fetch(user)
        except asyncio.CancelledError:
            # The client ended the lookup: stop the back end's work if it costs anything,
            # then let the cancellation propagate (never answer after it).
            self.cancellations += 1
            self.cancelled.set()
            log.info("lookup of %s cancelled by the client", address)
            raise
        if full_name is None:
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        return [nspv2.QuerySet(instance_name=address, comment=full_name)]
