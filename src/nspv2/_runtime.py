"""The Python side of the provider library: what each NSPv2 entry point does in Python.

The C library (csrc/provider/) calls the ``nspv2_py_*`` functions below through cffi
(``extern "Python+C"``, declared in csrc/provider/bridge.h). Each returns a Winsock code and
never raises: every exception of a provider, every wrong return type, every bug here becomes a
code and a logged traceback. NextEx and SetServiceEx either return their completion code (the C
side completes the async call) or ``NSPV2_PENDING``, in which case exactly one call of
``complete_async`` follows from the runtime's event loop thread.

State: providers by GUID, client sessions by the id NSPv2Startup stored as the session argument,
lookups by the id NSPv2LookupServiceBegin returned as the handle. Ids are never reused, so a
stale or made-up handle is simply not found (WSA_INVALID_HANDLE).
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, Optional, Tuple

from . import domains
from ._constants import (
    LUP_FLUSHPREVIOUS,
    LUP_RETURN_ALIASES,
    LUP_RETURN_ALL,
    NO_ERROR,
    RESULT_IS_ALIAS,
    WSA_E_CANCELLED,
    WSA_E_NO_MORE,
    WSA_INVALID_HANDLE,
    WSAEFAULT,
    WSAEINVAL,
    WSAEINVALIDPROVIDER,
    WSAEPROVIDERFAILEDINIT,
    WSANO_RECOVERY,
    LookupFlags,
    SetServiceOperation,
)
from ._marshal import Marshal
from .errors import WinsockError
from .provider import Provider, Session, implemented
from .queryset import QuerySet

if TYPE_CHECKING:
    import asyncio
    from typing import Awaitable

    from typing_extensions import TypeGuard

# asyncio (and inspect, which it imports) are imported where an async provider first needs them,
# not here: they cost a host's start about 40 ms on a 2-core VM, and a host serving plain
# providers never uses them.

# Plain ints for the hot path: arithmetic on IntFlag/IntEnum members costs microseconds.
_LUP_FLUSHPREVIOUS = int(LUP_FLUSHPREVIOUS)
_LUP_RETURN_ALIASES = int(LUP_RETURN_ALIASES)
_LUP_RETURN_ALL = int(LUP_RETURN_ALL)
_RESULT_IS_ALIAS = int(RESULT_IS_ALIAS)
_WSA_E_CANCELLED = int(WSA_E_CANCELLED)
_WSA_E_NO_MORE = int(WSA_E_NO_MORE)
_WSA_INVALID_HANDLE = int(WSA_INVALID_HANDLE)
_NO_ERROR = int(NO_ERROR)
_WSANO_RECOVERY = int(WSANO_RECOVERY)
_WSAEFAULT = int(WSAEFAULT)
_WSAEINVAL = int(WSAEINVAL)

log = logging.getLogger("nspv2")

CData = Any


class _Bridge:
    """The library's ffi and lib, once attach() has run."""

    ffi: Any = None
    lib: Any = None
    marshal: Marshal
    begin: Any = None
    stepper: Any = None


bridge = _Bridge()


# -- providers -----------------------------------------------------------------------------------


class ProviderEntry:
    """A provider instance under its GUID, with what its class implements."""

    __slots__ = (
        "anonymous",
        "domains",
        "end_failed",
        "guid",
        "guid_c",
        "guid_le",
        "implemented_mask",
        "namespace",
        "next_failed",
        "provider",
    )

    def __init__(self, provider: Provider, guid: uuid.UUID) -> None:
        if not isinstance(provider, Provider):
            raise TypeError(f"{provider!r} is not an instance of nspv2.Provider")
        if not implemented(provider, "lookup"):
            raise TypeError(f"{type(provider).__qualname__} does not implement lookup()")
        self.provider = provider
        self.guid = guid
        #: The GUID as Winsock stores it (what a generator's lookup is made with).
        self.guid_le = guid.bytes_le
        self.namespace = int(getattr(provider, "namespace", 0))
        #: The names it serves (nspv2.domains; () for every name); ValueError/TypeError if bad.
        self.domains = domains.declared(provider)
        lib = bridge.lib
        mask = 0
        for method, bit in (
            ("startup", "NSPV2_IMPL_STARTUP"),
            ("cleanup", "NSPV2_IMPL_CLEANUP"),
            ("set_service", "NSPV2_IMPL_SET_SERVICE"),
            ("session_rundown", "NSPV2_IMPL_SESSION_RUNDOWN"),
        ):
            if implemented(provider, method):
                mask |= getattr(lib, bit) if lib is not None else 0
        self.implemented_mask = mask
        #: The session of calls made without NSPv2Startup (a NULL session argument).
        self.anonymous = Session(0, guid)
        #: The code of a NextEx whose result could not be written (logged as _code does).
        self.next_failed: Callable[[BaseException], int] = functools.partial(_next_failed, guid)
        #: The same for what closing an ended lookup's generator raises.
        self.end_failed: Callable[[BaseException], int] = functools.partial(_end_failed, guid)
        #: The GUID as the library's C functions take it (made on first use).
        self.guid_c: CData = None

    def guid_ptr(self) -> CData:
        if self.guid_c is None:
            raw = bridge.ffi.new("GUID *")
            bridge.ffi.memmove(raw, self.guid.bytes_le, 16)
            self.guid_c = raw
        return self.guid_c


# Keyed by the GUID's bytes as Winsock stores them (UUID.bytes_le): what Begin reads, and a
# bytes key hashes in C (a UUID's __hash__ is Python code).
_providers: Dict[bytes, ProviderEntry] = {}
_providers_lock = threading.Lock()


def register(provider: Provider, guid: uuid.UUID) -> ProviderEntry:
    """Serves ``provider`` under ``guid`` (replacing any earlier one); used by nspv2.advertise."""
    entry = ProviderEntry(provider, guid)
    with _providers_lock:
        _providers[guid.bytes_le] = entry
        _declare_domains(entry.guid, entry.domains)
    return entry


def _declare_domains(guid: uuid.UUID, served: Tuple[str, ...]) -> None:
    """Tells the library which names ``guid`` serves (csrc/provider/domains.c declines the
    others before the gate; off Windows the stand-in publishes them for libnss_nspv2); ``()``:
    every name. Called with _providers_lock held, so the library's table follows _providers."""
    if bridge.lib is None:
        return  # attach() declares them once the library is loaded
    ffi = bridge.ffi
    raw = ffi.new("GUID *")
    ffi.memmove(raw, guid.bytes_le, 16)
    if served:
        listed = domains.multi_sz(served)
        text = domains.file_lines(served).encode("utf-8")
        code = bridge.lib.nspv2_domains_set(raw, listed, len(listed), text)
    else:
        code = bridge.lib.nspv2_domains_set(raw, ffi.NULL, 0, ffi.NULL)
    if code != _NO_ERROR:
        raise WinsockError(code)


def unregister(guid: uuid.UUID) -> None:
    """Stops serving ``guid`` (after WSAUnadvertiseProvider): its lookups still open are ended,
    completing their NextEx calls in flight with _WSA_E_CANCELLED, and its sessions dropped."""
    with _providers_lock:
        _providers.pop(guid.bytes_le, None)
        _declare_domains(guid, ())
    with _lookups_lock:
        orphans = [i for i, lookup in _lookups.items() if lookup.entry.guid == guid]
    for lookup_id in orphans:
        end(lookup_id)
    if bridge.lib is not None:
        raw = bridge.ffi.new("GUID *")
        bridge.ffi.memmove(raw, guid.bytes_le, 16)
        bridge.lib.nspv2_lookups_end_provider(raw)
    with _sessions_lock:
        for session_id in [i for i, s in _sessions.items() if s.provider_id == guid]:
            _sessions.pop(session_id).closed = True


def _entry(guid: uuid.UUID) -> ProviderEntry:
    """The provider for ``guid``: registered in this process, or loaded from the configuration."""
    found = _providers.get(guid.bytes_le)  # one dict read: atomic, no lock needed
    if found is not None:
        return found
    from . import config  # imported late: hosts that register providers never read config

    try:
        provider = config.load_provider(guid, config_file=_config_file())
    except config.NotConfigured as exc:
        log.error("%s", exc)
        raise WinsockError(WSAEINVALIDPROVIDER) from exc
    except config.ConfigError as exc:  # its message names the file, the GUID and the fix
        log.error("%s", exc)
        log.debug("provider %s could not be loaded", guid, exc_info=exc)
        raise WinsockError(WSAEPROVIDERFAILEDINIT) from exc
    except Exception as exc:
        log.error("provider %s could not be loaded", guid, exc_info=exc)
        raise WinsockError(WSAEPROVIDERFAILEDINIT) from exc
    entry = ProviderEntry(provider, guid)
    with _providers_lock:
        found = _providers.setdefault(guid.bytes_le, entry)
        if found is entry:
            _declare_domains(guid, entry.domains)
        return found


def _config_file() -> Optional[str]:
    raw = bridge.lib.nspv2_config_file()
    if raw == bridge.ffi.NULL:
        return None
    text: str = bridge.ffi.string(raw).decode("utf-8", "surrogateescape")
    return text


_guids: Dict[bytes, uuid.UUID] = {}
_lookup_flags: Dict[int, LookupFlags] = {}


def _guid(ptr: CData) -> uuid.UUID:
    raw: bytes = bridge.ffi.buffer(ptr, 16)[:]
    guid = _guids.get(raw)
    if guid is None:
        if len(_guids) > 4096:  # GUIDs come from Winsock, but bound the cache anyway
            _guids.clear()
        guid = _guids[raw] = uuid.UUID(bytes_le=raw)
    return guid


def _flags(flags: int) -> LookupFlags:
    value = _lookup_flags.get(flags)
    if value is None:
        if len(_lookup_flags) > 4096:
            _lookup_flags.clear()
        value = _lookup_flags[flags] = LookupFlags(flags)
    return value


# -- errors --------------------------------------------------------------------------------------


class ErrorLogLimiter:
    """At most ``burst`` logged failures per (provider, entry point) in any ``window`` seconds;
    the rest are counted and reported in one line when logging resumes, so a provider that fails
    on every call cannot flood the host's log."""

    def __init__(self, burst: int = 10, window: float = 60.0) -> None:
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._state: Dict[tuple[Optional[uuid.UUID], str], list[float]] = {}

    def allow(self, key: tuple[Optional[uuid.UUID], str]) -> tuple[bool, int]:
        """Whether to log now, and how many were suppressed since the last logged one."""
        now = time.monotonic()
        with self._lock:
            # [window start, count in window, suppressed since last logged]
            state = self._state.setdefault(key, [now, 0.0, 0.0])
            if now - state[0] >= self.window:
                state[0], state[1] = now, 0.0
            if state[1] >= self.burst:
                state[2] += 1
                return False, 0
            state[1] += 1
            suppressed, state[2] = int(state[2]), 0.0
            return True, suppressed


error_log_limiter = ErrorLogLimiter()


def _next_failed(guid: uuid.UUID, exc: BaseException) -> int:
    return _code(exc, "NSPv2LookupServiceNextEx", guid)


def _end_failed(guid: uuid.UUID, exc: BaseException) -> int:
    return _code(exc, "NSPv2LookupServiceEnd", guid)


def _code(exc: BaseException, where: str, guid: Optional[uuid.UUID]) -> int:
    """The Winsock code for an exception from a provider (or from us), logging what is not a
    deliberate WinsockError: once, with the provider id, the entry point and the traceback."""
    if isinstance(exc, WinsockError) and exc.code != _NO_ERROR:
        return exc.code
    allowed, suppressed = error_log_limiter.allow((guid, where))
    if allowed:
        if suppressed:
            log.error(
                "%s of provider %s: %d more failures were not logged", where, guid, suppressed
            )
        log.error("%s of provider %s failed", where, guid, exc_info=exc)
    return _WSANO_RECOVERY


# -- sessions ------------------------------------------------------------------------------------

_sessions: Dict[int, Session] = {}
_sessions_lock = threading.Lock()


def _session(entry: ProviderEntry, session_id: int) -> Session:
    if session_id == 0:
        return entry.anonymous
    session = _sessions.get(session_id)  # one dict read: atomic, no lock needed
    if session is None or session.provider_id != entry.guid:
        raise WinsockError(_WSAEINVAL, "unknown client session")
    return session


def startup(guid_ptr: CData, session_id: int) -> int:
    guid = None
    try:
        guid = _guid(guid_ptr)
        entry = _entry(guid)
        session = Session(session_id, guid)
        with _sessions_lock:
            _sessions[session_id] = session
        try:
            if implemented(entry.provider, "startup"):
                entry.provider.startup(session)
        except BaseException:
            with _sessions_lock:
                _sessions.pop(session_id, None)
            raise
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, "NSPv2Startup", guid)


def _close_session(guid_ptr: CData, session_id: int, method: str, where: str) -> int:
    guid = None
    try:
        guid = _guid(guid_ptr)
        entry = _entry(guid)
        session: Optional[Session] = entry.anonymous
        if session_id != 0:
            with _sessions_lock:
                session = _sessions.get(session_id)
                if session is None or session.provider_id != guid:
                    raise WinsockError(_WSAEINVAL, "unknown client session")
                del _sessions[session_id]
        assert session is not None
        session.closed = True
        for lookup_id in list(session.lookups):
            end(lookup_id)
        bridge.lib.nspv2_lookups_end_session(guid_ptr, session_id)
        if implemented(entry.provider, method):
            getattr(entry.provider, method)(session)
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, where, guid)


def cleanup(guid_ptr: CData, session_id: int) -> int:
    return _close_session(guid_ptr, session_id, "cleanup", "NSPv2Cleanup")


def rundown(guid_ptr: CData, session_id: int) -> int:
    return _close_session(guid_ptr, session_id, "session_rundown", "NSPv2ClientSessionRundown")


# -- the event loop for async providers ----------------------------------------------------------
#
# One event loop runs every async provider's code, so providers may share asyncio objects
# between lookups. Whoever holds the baton runs it: usually the runtime's own loop thread, which
# runs it while any task or timer is pending. When nobody does, a NextEx starts its lookup's
# task on the loop itself, on the calling thread, and runs the loop's ready callbacks (at most
# INLINE_STEPS): a coroutine that answers without waiting for a timer or I/O (it awaits
# asyncio.sleep(0), or futures already done) is answered with no hand-off to another thread; one
# that waits is left to the loop thread, and the NextEx returns pending, so End can cancel it as
# ever. Only a coroutine that blocks without awaiting (which would stall every async provider
# anyway) keeps its NextEx's thread. This uses the loop's ready queue (a private deque of
# asyncio's, in every supported Python); without it, every coroutine runs on the loop thread.

_loop: Optional[asyncio.AbstractEventLoop] = None
_loop_lock = threading.Lock()
#: Held by whoever runs the loop.
_baton = threading.Lock()
#: Set when there is work for the loop thread.
_loop_work = threading.Event()
#: How many ready callbacks a NextEx runs on its own thread before leaving the loop to its
#: thread.
INLINE_STEPS = 64
#: How often the loop thread looks whether it has anything left to run.
IDLE_CHECK = 0.005


def event_loop() -> asyncio.AbstractEventLoop:
    """The runtime's own event loop, with its thread started on first use."""
    import asyncio

    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=_run_loop, args=(loop,), name="nspv2-event-loop", daemon=True
            ).start()
            _loop = loop
        return _loop


def post(callback: Callable[..., Any], *args: Any) -> None:
    """Runs ``callback(*args)`` on the event loop, soon, from any thread."""
    event_loop().call_soon_threadsafe(callback, *args)
    _loop_work.set()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: runs the loop, with the baton, while it has anything to run."""
    import asyncio

    asyncio.set_event_loop(loop)
    while True:
        _loop_work.wait()
        with _baton:
            _loop_work.clear()
            loop.call_soon(_stop_when_idle, loop)
            try:
                loop.run_forever()
            except BaseException as exc:  # asyncio re-raises KeyboardInterrupt, SystemExit
                _code(exc, "the event loop", None)
                _loop_work.set()  # what was left still runs


def _stop_when_idle(loop: asyncio.AbstractEventLoop) -> None:
    """On the loop thread: stops the loop when no task and no timer is left (what is posted
    later sets _loop_work, and the loop thread runs it again). On Windows the loop never stops
    (so no NextEx runs it inline): the Proactor loop is not made to be stopped and started again
    for every lookup, and async SetServiceEx completions went wrong under it (seen under Wine)."""
    if _has_work(loop) or sys.platform == "win32":
        loop.call_later(IDLE_CHECK, _stop_when_idle, loop)
    else:
        loop.stop()


def _has_work(loop: asyncio.AbstractEventLoop) -> bool:
    """With the baton: whether a task or a timer is pending on the loop."""
    import asyncio

    return bool(asyncio.all_tasks(loop)) or _has_timers(loop)


def _has_timers(loop: asyncio.AbstractEventLoop) -> bool:
    """With the baton: whether a timer is pending on the loop."""
    scheduled = getattr(loop, "_scheduled", ())  # asyncio's timers (a private list)
    return any(not h.cancelled() for h in scheduled)


def _run_inline(lookup: Lookup) -> bool:
    """Runs the lookup's async source on this thread, if nobody runs the loop: its task and the
    callbacks ready on the loop, at most INLINE_STEPS of them, until its waiting NextEx calls are
    answered; then the loop thread takes over whatever is left (a task waiting on a timer or
    I/O). False if the loop is running elsewhere (or this Python's asyncio lacks what this
    needs), and nothing ran."""
    import asyncio

    loop = event_loop()
    ready = getattr(loop, "_ready", None)  # the loop's ready callbacks (asyncio's own deque)
    if not isinstance(ready, collections.deque) or not _baton.acquire(blocking=False):
        return False
    try:
        task = loop.create_task(_run_async(lookup))
        lookup.task = task
        asyncio.events._set_running_loop(loop)
        try:
            # What one turn of the loop does with its ready callbacks, without the selector:
            # a coroutine that suspends without waiting for anything (asyncio.sleep(0), a
            # future already done) goes on at once.
            for _ in range(INLINE_STEPS):
                if task.done() or not ready:
                    break
                handle = ready.popleft()
                if not handle.cancelled():
                    try:
                        handle._run()
                    except BaseException as exc:  # as the loop thread: logged, never raised
                        _code(exc, "the event loop", None)
        finally:
            asyncio.events._set_running_loop(None)
        # Anything pending is this task's or began in it (the loop thread, which ran anything
        # else, stopped only when nothing was).
        left = bool(ready) or not task.done() or _has_timers(loop)
    finally:
        _baton.release()
    if left:
        _loop_work.set()
    return True


# -- lookups -------------------------------------------------------------------------------------


class NextCall:
    """One NextEx waiting for a result: its asynchronous call (hAsyncCall), the LUP_RETURN_*
    flags it asks for and the caller's buffer. It completes exactly once, under its lookup's
    lock: answered, or cancelled by End; nothing is written into a buffer after that."""

    __slots__ = ("buf", "handle", "length", "return_flags")

    def __init__(self, handle: CData, return_flags: int, length: CData, buf: CData) -> None:
        self.handle = handle
        self.return_flags = return_flags
        self.length = length
        self.buf = buf


class Lookup:
    """One lookup the runtime serves (even handle): an async provider's, or results known in
    Begin that C does not hold (a generator's lookup is C's: csrc/provider/sources.c,
    stepped by nspv2._cmarshal's Stepper). Its results are written, as they come, into the
    records csrc/provider/lookups.c packs (nspv2_record_pack); NextEx calls are answered from
    them on the calling thread, and wait only while the provider's coroutine runs on the event
    loop for the next result. Once all its results are known, it is handed to C under the same
    handle (nspv2_lookups_adopt), which answers its last NextEx calls and its End without
    Python. ``lock`` is never held while provider code runs."""

    __slots__ = (
        "adopted",
        "busy",
        "ended",
        "entry",
        "exhausted",
        "flags",
        "id",
        "kind",
        "lock",
        "namespace",
        "refused",
        "results",
        "session",
        "source",
        "task",
        "waiting",
    )

    def __init__(self, lookup_id: int, entry: ProviderEntry, session: Session, flags: int) -> None:
        self.id = lookup_id
        self.entry = entry
        self.session = session
        self.flags = flags
        #: The namespace a result that leaves it unset gets.
        self.namespace = 0
        #: "results" (all known in Begin), "async" (an async iterator's) or "awaitable" (an
        #: async def's: all results when it completes).
        self.kind = "results"
        self.source: Any = None
        #: Results produced and not yet answered: (is an alias, record).
        self.results: Deque[tuple[bool, bytes]] = collections.deque()
        #: The first result did not fit the last NextEx's buffer: kept for the retry.
        self.refused = False
        #: No more results will come from the source.
        self.exhausted = False
        #: The event loop (or a NextEx's thread, _run_inline) is running the source.
        self.busy = False
        #: Its results all known, C answers it now (nspv2_lookups_adopt).
        self.adopted = False
        self.waiting: Deque[NextCall] = collections.deque()
        #: Set by End.
        self.ended = False
        self.lock = threading.Lock()
        self.task: Optional[asyncio.Future[Any]] = None


_lookups: Dict[int, Lookup] = {}
_lookups_lock = threading.Lock()
# Even: the odd handles are the lookups C answers (csrc/provider/lookups.c).
_lookup_ids = itertools.count(2, 2)


def lookup_cancelled() -> bool:
    """Inside a plain provider's lookup generator: whether the client has ended the lookup
    (NSPv2LookupServiceEnd), so the provider can stop early. Async providers are cancelled."""
    lib = bridge.lib
    return lib is not None and bool(lib.nspv2_lookups_cancelled())


def _single(result: Any) -> Iterator[Any]:
    if result is None:
        return iter(())
    if isinstance(result, QuerySet):
        return iter((result,))
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
        raise TypeError(
            f"lookup must return QuerySet objects, an iterable of them or None, "
            f"not {type(result).__name__}"
        )
    return iter(result)


def begin(
    guid_address: int, restrictions_address: int, flags: int, session_id: int, out: CData
) -> int:
    """NSPv2LookupServiceBegin when the Begin in C (csrc/marshal/begin.c, which owns the usual
    path) declines it: a thread's first call, a provider not loaded yet, an unknown session,
    flags not seen before. It does the whole call and says what is wrong (the provider id and
    the validated restrictions arrive as addresses, bridge.h says why)."""
    guid: Optional[uuid.UUID] = None
    try:
        marshal = bridge.marshal
        entry = _providers.get(marshal.guid_at(guid_address))
        if entry is None:
            guid = uuid.UUID(bytes_le=marshal.guid_at(guid_address))
            entry = _entry(guid)
        guid = entry.guid
        if session_id == 0:
            session = entry.anonymous
        else:  # as _session(), inline: this is the hot path
            session = _sessions.get(session_id)  # type: ignore[assignment]
            if session is None or session.provider_id != guid:
                raise WinsockError(_WSAEINVAL, "unknown client session")
        query = marshal.read_restrictions_at(restrictions_address)
        result = entry.provider.lookup(query, _lookup_flags.get(flags) or _flags(flags), session)
        inline = result is None or isinstance(result, (QuerySet, list, tuple))
        if inline:
            # Every result is here already: C answers NextEx and End (csrc/provider/lookups.c).
            # A result that cannot be written answers its own NextEx with the error and the next
            # one follows; an item that is not a QuerySet answers its NextEx with the error and
            # ends the lookup, as a failing generator would. Either is logged now, once. C may
            # decline (too many results, or too large): the runtime then serves the lookup.
            handle = marshal.create_lookup(
                result,
                guid,
                query.namespace or entry.namespace,
                session_id,
                guid_address,
                flags,
                entry.next_failed,
            )
            if handle:
                out[0] = handle
                return _NO_ERROR
        out[0] = _serve(entry, session, flags, query, result, inline)
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, "NSPv2LookupServiceBegin", guid)


def _serve(
    entry: ProviderEntry, session: Session, flags: int, query: QuerySet, result: Any, inline: bool
) -> int:
    """Begin's end for a lookup whose results are to come, or more than C holds: its handle. A
    generator's (any iterator's) lookup is C's (csrc/provider/sources.c, stepped by
    nspv2._cmarshal's Stepper); the others the runtime serves. Also called by the Begin in C."""
    namespace = query.namespace or entry.namespace
    awaitable = not inline and type(result) is not _GENERATOR and _awaitable(result)
    if not (inline or awaitable or hasattr(result, "__anext__")):
        return int(
            bridge.stepper.create(
                _single(result),
                entry.guid,
                namespace,
                session.id,
                entry.guid_le,
                flags,
                entry.next_failed,
                entry.end_failed,
            )
        )
    lookup = Lookup(next(_lookup_ids), entry, session, flags)
    lookup.namespace = namespace
    if inline:
        for item in _single(result):
            if _produced(lookup, item):
                break
        lookup.exhausted = True
    elif awaitable:
        lookup.kind, lookup.source = "awaitable", result
    else:
        lookup.kind, lookup.source = "async", result
    with _lookups_lock:
        _lookups[lookup.id] = lookup
    with session._lock:
        session.lookups.add(lookup.id)
    return lookup.id


def _write(item: Any, provider_id: uuid.UUID, namespace: int, failed: Any) -> bytes:
    """The record of one item a generator produced, for nspv2._cmarshal's Stepper when its own
    writer does not take it (Marshal.record says what it does)."""
    return bridge.marshal.record(
        item, default_provider_id=provider_id, default_namespace=namespace, failed=failed
    )


def _generator() -> Iterator[None]:
    yield None


_GENERATOR = type(_generator())


def _awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """inspect.isawaitable, with inspect imported on first use (see the imports)."""
    import inspect

    return inspect.isawaitable(value)


def _begin_failed(exc: BaseException, guid: uuid.UUID) -> int:
    """The Begin in C's answer for an exception once the provider has run."""
    return _code(exc, "NSPv2LookupServiceBegin", guid)


def _return_flags(lookup: Lookup, flags: int) -> int:
    """Flags at NextEx only narrow what Begin asked for; none at all keep Begin's."""
    wanted = lookup.flags & _LUP_RETURN_ALL
    if flags & _LUP_RETURN_ALL:
        wanted &= flags
    return wanted


def _produced(lookup: Lookup, item: Any) -> bool:
    """Writes one result the provider produced into the lookup's results (its record: the image,
    or the code its NextEx answers when it cannot be written); True if it ends the lookup (an
    item that is not a QuerySet, as a failing generator would). Needs no lock: called before
    anyone else sees the lookup, or by its one driver (appending to a deque is atomic)."""
    entry = lookup.entry
    record = bridge.marshal.record(
        item,
        default_provider_id=entry.guid,
        default_namespace=lookup.namespace,
        failed=entry.next_failed,
    )
    alias = False
    try:
        alias = isinstance(item, QuerySet) and bool(int(item.output_flags) & _RESULT_IS_ALIAS)
    except BaseException:  # a malformed result: its record already carries the error
        pass
    lookup.results.append((alias, record))
    return not isinstance(item, QuerySet)


def _failed(lookup: Lookup, exc: BaseException) -> None:
    """The source raised: the next NextEx answers its code, and the lookup ends there."""
    code = _code(exc, "NSPv2LookupServiceNextEx", lookup.entry.guid)
    lookup.results.append((False, bridge.marshal.error_record(code)))
    lookup.exhausted = True


def _answer(lookup: Lookup, call: NextCall) -> Optional[int]:
    """With the lookup's lock: the code ``call`` completes with from the results at hand (the
    result packed into its buffer), or None when it has to wait for the source."""
    if lookup.ended:
        return _WSA_E_CANCELLED
    results = lookup.results
    while results:
        alias, record = results[0]
        if alias and not call.return_flags & _LUP_RETURN_ALIASES:
            results.popleft()
            continue
        code: int = bridge.lib.nspv2_record_pack(
            record, len(record), call.return_flags, call.buf, call.length
        )
        lookup.refused = code == _WSAEFAULT
        if not lookup.refused:
            results.popleft()
        return code
    return _WSA_E_NO_MORE if lookup.exhausted else None


def _answer_waiting(lookup: Lookup) -> None:
    """With the lookup's lock: completes, in order, the waiting NextEx calls the results at hand
    answer."""
    waiting = lookup.waiting
    while waiting:
        code = _answer(lookup, waiting[0])
        if code is None:
            return
        bridge.lib.nspv2_complete_async(waiting.popleft().handle, code)


def _adopt(lookup: Lookup) -> None:
    """With the lookup's lock, once its source is done: hands its remaining results to C
    (csrc/provider/lookups.c) under the same handle, if C takes them (not too many or large),
    and forgets it here."""
    if lookup.ended or lookup.refused or lookup.waiting or lookup.adopted:
        return
    records = b"".join(record for _, record in lookup.results)
    adopted = bridge.lib.nspv2_lookups_adopt(
        lookup.id,
        lookup.session.id,
        lookup.entry.guid_ptr(),
        lookup.flags,
        len(lookup.results),
        records,
        len(records),
    )
    if not adopted:
        return
    lookup.adopted = True
    lookup.results.clear()
    with _lookups_lock:
        _lookups.pop(lookup.id, None)
    with lookup.session._lock:
        lookup.session.lookups.discard(lookup.id)


def _in_c(lookup_id: int, flags: int, length: CData, buf: CData) -> int:
    """NextEx of a handle the runtime does not serve (any more): C's answer if it adopted it."""
    code: int = bridge.lib.nspv2_lookups_next(lookup_id, flags, length, buf)
    return _WSA_INVALID_HANDLE if code == bridge.lib.NSPV2_NOT_INLINE else code


# -- the worker threads: where generators step in the stand-in's clients ------------------------
#
# A generator's lookup is C's (csrc/provider/sources.c): a NextEx that finds no result
# at hand steps it on its own thread when that is a Winsock thread (Windows; a host serving other
# processes through the stand-in), where End comes on another thread and completes the call at
# once, however long the step. Never on a client's own thread (the stand-in within one process):
# a generator stuck between two results would keep WSALookupServiceNext from returning when End
# comes, so a worker thread steps it there, one result ahead of the client. The workers wait in
# C (csrc/provider/workers.c), where a NextEx hands its lookup to one that is free without
# entering Python; only when none is free does the library call here, to start one more (up to
# WORKER_THREADS; beyond, the lookup waits for the next worker that comes free).

#: At most this many generators step at once for client threads; more wait for a worker.
WORKER_THREADS = 32
_workers_lock = threading.Lock()
_workers_started = 0


def run_elsewhere(run: int) -> int:
    """nspv2_py_run_elsewhere: no worker is free for the source lookup ``run`` (an address
    nspv2_lookups_next_call gave): a new worker thread runs it, or, at WORKER_THREADS, the next
    that comes free. The code its waiting calls complete with when no thread can start (the
    library then abandons it)."""
    global _workers_started
    try:
        lib = bridge.lib
        with _workers_lock:
            start = _workers_started < WORKER_THREADS
            if start:
                _workers_started += 1
        if not start:
            if not lib.nspv2_workers_post(bridge.ffi.cast("void *", run), 1):
                raise MemoryError("no memory to queue a generator's step")
            return _NO_ERROR
        try:
            threading.Thread(target=_worker, args=(run,), name="nspv2-worker", daemon=True).start()
        except BaseException:
            with _workers_lock:
                _workers_started -= 1
            raise
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, "NSPv2LookupServiceNextEx", None)


def _worker(run: int) -> None:
    """A worker thread: runs ``run``, then every lookup posted to the workers, in C without the
    GIL (nspv2_workers_serve never returns)."""
    bridge.lib.nspv2_workers_serve(bridge.ffi.cast("void *", run))


def next_ex(async_call: CData, lookup_id: int, flags: int, length: CData, buf: CData) -> int:
    lookup = _lookups.get(lookup_id)  # one dict read: atomic, no lock needed
    try:
        if lookup is None or lookup.adopted:
            return _in_c(lookup_id, flags, length, buf)
        call = NextCall(async_call, _return_flags(lookup, flags), length, buf)
        with lookup.lock:
            if lookup.adopted:
                return _in_c(lookup_id, flags, length, buf)
            if flags & _LUP_FLUSHPREVIOUS and lookup.refused:
                lookup.results.popleft()
                lookup.refused = False
            if not lookup.waiting:
                code = _answer(lookup, call)
                if code is not None:
                    return code  # answered here: the library completes the call
            lookup.waiting.append(call)
            start = not lookup.busy
            lookup.busy = True
        if start:
            try:
                _drive(lookup)
            except BaseException as exc:  # nothing will run it: its waiting calls (this one
                _abandon(lookup, exc)  # too) complete with the code now, exactly once
        return int(bridge.lib.NSPV2_PENDING)
    except BaseException as exc:
        return _code(exc, "NSPv2LookupServiceNextEx", lookup.entry.guid if lookup else None)


def _drive(lookup: Lookup) -> None:
    """Starts running the lookup's async source (it is busy now): on this thread while nobody
    runs the event loop, else on the loop's thread."""
    if not _run_inline(lookup):
        post(_start_async, lookup)


def _abandon(lookup: Lookup, exc: BaseException) -> None:
    """The runtime failed while serving a lookup: its waiting calls answer the code, it ends."""
    code = _code(exc, "NSPv2LookupServiceNextEx", lookup.entry.guid)
    with lookup.lock:
        lookup.exhausted = True
        lookup.results.clear()
        while lookup.waiting:
            bridge.lib.nspv2_complete_async(lookup.waiting.popleft().handle, code)
        lookup.busy = False


def _start_async(lookup: Lookup) -> None:
    """On the event loop: runs the async source for the waiting NextEx calls (_run_async)."""
    import asyncio

    if lookup.ended:  # End came first: nothing will run it
        _cancel_async(lookup)
        return
    try:
        lookup.task = asyncio.ensure_future(_run_async(lookup))
    except BaseException as exc:  # the calls must still complete, exactly once
        _abandon(lookup, exc)


async def _run_async(lookup: Lookup) -> None:
    """On the event loop: awaits the source until the waiting NextEx calls are answered (an
    async def's awaitable gives every result at once)."""
    import asyncio

    try:
        while True:
            with lookup.lock:
                _answer_waiting(lookup)
                if lookup.ended or lookup.exhausted or not lookup.waiting:
                    lookup.busy = False  # in the same hold: a NextEx now starts it again
                    lookup.task = None
                    if lookup.exhausted:
                        _adopt(lookup)
                    return
            try:
                if lookup.kind == "awaitable":
                    for item in _single(await lookup.source):
                        if _produced(lookup, item):
                            break
                    lookup.exhausted = True
                else:
                    item = await lookup.source.__anext__()
                    lookup.exhausted = _produced(lookup, item)
            except StopAsyncIteration:
                lookup.exhausted = True
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                # KeyboardInterrupt and SystemExit too: asyncio would re-raise them out of
                # run_forever(), and the event loop thread would die and every later async
                # call hang. They answer here instead.
                _failed(lookup, exc)
    except asyncio.CancelledError:  # End: its calls are answered already
        with lookup.lock:
            lookup.busy = False
            lookup.task = None
        raise
    except BaseException as exc:  # a bug here: the waiting calls must still complete
        _abandon(lookup, exc)


def end(lookup_id: int) -> int:
    lookup = None
    try:
        with _lookups_lock:
            lookup = _lookups.pop(lookup_id, None)
        if lookup is None:
            code: int = bridge.lib.nspv2_lookups_end(lookup_id)  # adopted by C meanwhile?
            return _WSA_INVALID_HANDLE if code == bridge.lib.NSPV2_NOT_INLINE else code
        with lookup.lock:
            if lookup.adopted:
                return int(bridge.lib.nspv2_lookups_end(lookup_id))
            lookup.ended = True
            # NextEx calls in flight complete now with _WSA_E_CANCELLED, whatever the provider
            # does.
            _answer_waiting(lookup)
            lookup.results.clear()
            lookup.busy = True  # nothing runs the source any more but what follows
        with lookup.session._lock:
            lookup.session.lookups.discard(lookup_id)
        if lookup.source is not None:
            post(_cancel_async, lookup)
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, "NSPv2LookupServiceEnd", lookup.entry.guid if lookup else None)


def _cancel_async(lookup: Lookup) -> None:
    """On the event loop: cancels an ended lookup's running task (the provider sees
    CancelledError), or closes its source when none runs it."""
    import asyncio

    task = lookup.task
    if task is not None and not task.done():
        task.cancel()
        return
    source, lookup.source = lookup.source, None
    if lookup.kind == "awaitable":
        close = getattr(source, "close", None)  # a coroutine never awaited, or done
        if close is not None:
            close()
    else:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            lookup.task = asyncio.ensure_future(aclose())
            lookup.task.add_done_callback(functools.partial(_closed, lookup))


def _closed(lookup: Lookup, task: asyncio.Future[Any]) -> None:
    """An ended lookup's async generator is closed: what its cleanup raised is logged now."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        _code(exc, "NSPv2LookupServiceEnd", lookup.entry.guid)


# -- set service ---------------------------------------------------------------------------------


def set_service(
    async_call: CData, guid_ptr: CData, reg_info: CData, operation: int, flags: int, session_id: int
) -> int:
    guid = None
    try:
        guid = _guid(guid_ptr)
        entry = _entry(guid)
        session = _session(entry, session_id)
        query = bridge.marshal.read(reg_info, bridge.marshal.wcslen)
        outcome = entry.provider.set_service(query, SetServiceOperation(operation), flags, session)
        if not _awaitable(outcome):
            return _NO_ERROR

        async def run() -> int:
            try:
                await outcome
                return _NO_ERROR
            except BaseException as exc:
                return _code(exc, "NSPv2SetServiceEx", guid)

        def start() -> None:
            import asyncio

            try:
                task = asyncio.ensure_future(run())
            except BaseException as exc:  # the call must still complete, exactly once
                bridge.lib.nspv2_complete_async(async_call, _code(exc, "NSPv2SetServiceEx", guid))
                return
            task.add_done_callback(
                lambda t: bridge.lib.nspv2_complete_async(
                    async_call, _WSA_E_CANCELLED if t.cancelled() else t.result()
                )
            )

        post(start)
        return int(bridge.lib.NSPV2_PENDING)
    except BaseException as exc:
        return _code(exc, "NSPv2SetServiceEx", guid)


def resolve(guid_ptr: CData, mask_out: CData) -> int:
    guid = None
    try:
        guid = _guid(guid_ptr)
        mask_out[0] = _entry(guid).implemented_mask
        return _NO_ERROR
    except BaseException as exc:
        return _code(exc, "NSPv2GetRoutine", guid)


# -- attaching to the library --------------------------------------------------------------------


def _configure_logging() -> None:
    """In a host without Python nobody configures logging: ours goes to stderr if it is open
    and to a rotating log file (nspv2.hostlog says where, and how the configuration sets it)."""
    if log.handlers or logging.getLogger().handlers:
        return
    from . import config, hostlog

    try:
        values = config.log_values(_config_file())
    except Exception:  # an untrusted or unreadable configuration: the defaults, and it is
        values = {}  # reported when the providers are loaded from it
    level = bridge.lib.nspv2_log_level()
    if level != bridge.ffi.NULL:  # the host's NSPv2SetLogLevel (nspv2-host --verbose) wins
        values = {**values, "log_level": bridge.ffi.string(level).decode("ascii")}
    hostlog.configure(log, values)


def use_c_begin(on: bool) -> None:
    """Whether the library calls the Begin in C (bridge.begin) or, with it unset, the runtime's
    begin for every NSPv2LookupServiceBegin (the tests compare the two)."""
    ffi, lib = bridge.ffi, bridge.lib
    if on:
        lib.nspv2_set_begin(
            ffi.cast("nspv2_begin_fn", bridge.begin.entry),
            ffi.cast("void *", bridge.begin.context),
        )
    else:
        lib.nspv2_set_begin(ffi.NULL, ffi.NULL)


def attach(ffi: Any, lib: Any) -> None:
    """Runs once, from the library's cffi init code: connects the bridge functions."""
    bridge.ffi = ffi
    bridge.lib = lib
    from . import _cmarshal  # the hot path's marshalling in C (csrc/marshal/)

    bridge.marshal = Marshal(
        ffi, image_align=int(lib.NSPV2_IMAGE_ALIGN), accelerator=_cmarshal, lib=lib
    )
    # Begin's usual path in C, without cffi's crossing or a Python frame; it leaves the rest to
    # begin() below. Kept here for as long as the process lives: the library calls it.
    accelerated = bridge.marshal.accelerated
    assert accelerated is not None  # given the accelerator and the image layout
    bridge.begin = _cmarshal.Begin(
        accelerated, _providers, _sessions, _lookup_flags, _serve, _begin_failed
    )
    use_c_begin(True)
    # A generator's steps in C, for the lookups the library keeps for it (its sources).
    bridge.stepper = _cmarshal.Stepper(
        accelerated,
        _write,
        int(ffi.cast("uintptr_t", ffi.addressof(lib, "nspv2_lookups_create_source"))),
    )
    lib.nspv2_set_stepper(
        ffi.cast("nspv2_step_fn", bridge.stepper.step),
        ffi.cast("nspv2_drop_fn", bridge.stepper.drop),
        ffi.cast("void *", bridge.stepper.context),
    )
    # Providers registered before the library was loaded get their masks now.
    with _providers_lock:
        for key, entry in list(_providers.items()):
            _providers[key] = ProviderEntry(entry.provider, entry.guid)
            _declare_domains(entry.guid, entry.domains)
    if lib.nspv2_started_interpreter():
        _configure_logging()

    recovery = _WSANO_RECOVERY
    ffi.def_extern("nspv2_py_start", error=0)(lambda: 1)
    ffi.def_extern("nspv2_py_resolve", error=recovery)(resolve)
    ffi.def_extern("nspv2_py_startup", error=recovery)(startup)
    ffi.def_extern("nspv2_py_cleanup", error=recovery)(cleanup)
    ffi.def_extern("nspv2_py_rundown", error=recovery)(rundown)
    ffi.def_extern("nspv2_py_begin", error=recovery)(begin)
    ffi.def_extern("nspv2_py_next", error=recovery)(next_ex)
    ffi.def_extern("nspv2_py_run_elsewhere", error=recovery)(run_elsewhere)
    ffi.def_extern("nspv2_py_end", error=recovery)(end)
    ffi.def_extern("nspv2_py_set_service", error=recovery)(set_service)
