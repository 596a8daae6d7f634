"""The base class of every provider, and the client session it is handed.

A provider is a subclass of :class:`Provider` that implements :meth:`Provider.lookup` and, if it
wants, :meth:`~Provider.set_service`, :meth:`~Provider.startup`, :meth:`~Provider.cleanup` and
:meth:`~Provider.session_rundown`. What a subclass does not override is not called: the routine
table Winsock gets points to C stubs for it (see README, "How it maps to Windows").
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, AsyncIterator, Awaitable, Dict, Iterable, Optional, Sequence, Union

from ._constants import LookupFlags, SetServiceOperation
from .queryset import QuerySet

#: What ``lookup`` may return: one result, any iterable or generator of results, an awaitable
#: of either (``async def``), or an async generator; ``None`` means no result.
LookupResult = Union[
    QuerySet,
    Iterable[QuerySet],
    AsyncIterator[QuerySet],
    Awaitable[Union[QuerySet, Iterable[QuerySet], None]],
    None,
]


class Session:
    """One client session: a client process's use of the provider, from NSPv2Startup to
    NSPv2Cleanup (or NSPv2ClientSessionRundown if the client died).

    ``data`` is the provider's to keep per-session state in.
    """

    __slots__ = ("_lock", "closed", "data", "id", "lookups", "provider_id")

    def __init__(self, session_id: int, provider_id: uuid.UUID) -> None:
        self.id = session_id
        self.provider_id = provider_id
        self.data: Dict[str, Any] = {}
        self.closed = False
        #: Open lookup ids of this session; the library ends them when the session closes.
        self.lookups: set[int] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Session {self.id} of {self.provider_id}{' closed' if self.closed else ''}>"


class Provider:
    """Base class of a Python NSPv2 provider.

    Class attributes describe the provider for registration and configuration tools:
    ``name`` (the catalog's identifier), ``namespace`` (an ``NS_*`` value) and ``domains`` (the
    names it serves).
    """

    name: str = "nspv2 provider"
    namespace: int = 0
    #: The domains this provider serves (:mod:`nspv2.domains`): names outside them are declined
    #: in C with WSASERVICE_NOT_FOUND, and the provider is never called for them. Declare them:
    #: a provider that declares none is asked for every name of its namespace on the machine.
    domains: Sequence[Any] = ()

    def lookup(self, query: QuerySet, flags: LookupFlags, session: Session) -> LookupResult:
        """Answer a lookup (NSPv2LookupServiceBegin, then one NSPv2LookupServiceNextEx per result).

        ``query`` holds the client's restrictions, ``flags`` the ``LUP_*`` control flags of the
        Begin call. Return or yield result :class:`QuerySet` objects; the library packs each one
        into the client's buffer, keeping only the fields the ``LUP_RETURN_*`` flags ask for.
        A plain function runs inside Begin, so it must be quick; a generator or ``async`` lookup
        runs as NextEx calls ask for results. Raise :class:`nspv2.WinsockError` to answer with a
        code, e.g. ``WSASERVICE_NOT_FOUND`` when the name is not yours. Any other exception is
        logged with its traceback and answered with ``WSANO_RECOVERY``.
        """
        raise WinsockNotImplemented()

    def set_service(
        self,
        query: QuerySet,
        operation: SetServiceOperation,
        flags: int,
        session: Session,
    ) -> Optional[Awaitable[None]]:
        """Register, deregister or delete a service (NSPv2SetServiceEx). Optional: without it,
        SetServiceEx answers ``WSAEOPNOTSUPP``. May be ``async def``."""
        raise WinsockNotImplemented()

    def startup(self, session: Session) -> None:
        """A client process begins using the provider (NSPv2Startup). Optional."""

    def cleanup(self, session: Session) -> None:
        """The client session ends normally (NSPv2Cleanup). Optional."""

    def session_rundown(self, session: Session) -> None:
        """The client went away without cleaning up (NSPv2ClientSessionRundown). Optional."""


class WinsockNotImplemented(Exception):
    """Raised by the base class's methods; the runtime never calls them (stubs answer instead)."""


def implemented(provider: Provider, method: str) -> bool:
    """Whether the provider's class overrides ``method`` of :class:`Provider`."""
    return getattr(type(provider), method, None) is not getattr(Provider, method)
