"""Client sessions through the stand-in's simulated client processes: NSPv2Startup on a
client's first use, NSPv2Cleanup at its last WSACleanup, NSPv2ClientSessionRundown when it dies,
the Session object handed to lookup, and lookups left open when a session ends."""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any, Iterator

import pytest
from nspv2._provider import ffi as provider_ffi  # type: ignore[import-not-found]
from nspv2._provider import lib as provider_lib

import nspv2
import nspv2.catalog
from nspv2 import QuerySet, WinsockError
from nspv2._marshal import Marshal
from nspv2.client import winsock_session


class Recorder(nspv2.Provider):
    """Records startup/cleanup/session_rundown and the sessions lookup sees."""

    namespace = nspv2.NS_DNS

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.sessions: list[nspv2.Session] = []
        self.closed_lookups: list[str] = []
        #: Notified when a lookup's generator closes.
        self.closing = threading.Condition()

    def wait_closed(self, count: int) -> bool:
        """Whether ``count`` generators close within 30 s (a generator that is running one
        result ahead when its lookup ends is closed by its worker as it comes out)."""
        with self.closing:
            return self.closing.wait_for(lambda: len(self.closed_lookups) >= count, 30)

    def startup(self, session):  # type: ignore[no-untyped-def]
        self.events.append(("startup", session.id))
        session.data["count"] = 0

    def cleanup(self, session):  # type: ignore[no-untyped-def]
        self.events.append(("cleanup", session.id))

    def session_rundown(self, session):  # type: ignore[no-untyped-def]
        self.events.append(("rundown", session.id))

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.sessions.append(session)
        session.data["count"] = session.data.get("count", 0) + 1
        try:
            yield QuerySet(instance_name=f"{query.instance_name}#{session.data['count']}")
            yield QuerySet(instance_name="second")
        finally:
            with self.closing:
                self.closed_lookups.append(query.instance_name)
                self.closing.notify_all()

    def of(self, session_id: int) -> list[str]:
        return [what for what, sid in self.events if sid == session_id]


class Plain(nspv2.Provider):
    """Implements only lookup."""

    namespace = nspv2.NS_DNS

    def __init__(self) -> None:
        self.sessions: list[nspv2.Session] = []

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.sessions.append(session)
        session.data.setdefault("hits", 0)
        session.data["hits"] += 1
        return QuerySet(instance_name=f"hit{session.data['hits']}")


@pytest.fixture
def client(native) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """``client()`` creates a simulated client process; ``with attached(cid):`` makes this
    thread act as it. Everything is attached back to client 0 and leftover clients killed."""
    ws = native.winsock
    created: list[int] = []

    def create() -> int:
        cid = ws.StandinClientCreate()
        assert cid > 0
        created.append(cid)
        return int(cid)

    yield create
    ws.StandinClientAttach(0)
    for cid in created:
        ws.StandinClientKill(cid)  # fails harmlessly for clients already killed


@contextlib.contextmanager
def attached(native: Any, cid: int) -> Iterator[None]:
    assert native.winsock.StandinClientAttach(cid) == 0
    try:
        yield
    finally:
        assert native.winsock.StandinClientAttach(0) == 0


def first_names(results: list[QuerySet]) -> list[str | None]:
    return [r.instance_name for r in results]


def test_startup_once_per_client_and_cleanup_at_last_wsacleanup(serve, native, client) -> None:
    """Startup runs on a client's first use (not at WSAStartup), once however many lookups
    follow; Cleanup runs at its last WSACleanup; no Rundown."""
    provider = Recorder()
    guid = serve(provider)
    cid = client()
    with attached(native, cid):
        with winsock_session(native):
            assert provider.events == []
            with winsock_session(native):
                for _ in range(3):
                    nspv2.lookup("n", provider_id=guid)
            (session,) = set(provider.sessions)
            assert provider.of(session.id) == ["startup"]
        assert provider.of(session.id) == ["startup", "cleanup"]
    assert session.closed
    assert provider.events == [("startup", session.id), ("cleanup", session.id)]


def test_rundown_not_cleanup_when_client_killed(serve, native, client) -> None:
    """A client that dies gets session_rundown, never cleanup."""
    provider = Recorder()
    guid = serve(provider)
    cid = client()
    with attached(native, cid):
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        nspv2.lookup("n", provider_id=guid)
    (session,) = provider.sessions
    assert provider.of(session.id) == ["startup"]
    assert native.winsock.StandinClientKill(cid) == 0
    assert provider.of(session.id) == ["startup", "rundown"]
    assert session.closed


def test_session_identity_and_data(serve, native, client) -> None:
    """One client's lookups get the same Session object, whose data persists; another client
    gets another Session with its own data."""
    provider = Recorder()
    guid = serve(provider)
    a, b = client(), client()
    ws, data = native.winsock, native.ffi.new("WSADATA *")

    def ask(cid: int, name: str) -> list[str | None]:
        with attached(native, cid):
            return first_names(nspv2.lookup(name, provider_id=guid))

    for cid in (a, b):
        with attached(native, cid):
            assert ws.WSAStartup(0x0202, data) == 0
    assert ask(a, "a") == ["a#1", "second"]
    assert ask(a, "a") == ["a#2", "second"]
    assert ask(b, "b") == ["b#1", "second"]
    assert ask(a, "a") == ["a#3", "second"]
    assert ask(b, "b") == ["b#2", "second"]
    for cid in (a, b):
        with attached(native, cid):
            assert ws.WSACleanup() == 0
    sa1, sa2, sb1, sa3, sb2 = provider.sessions
    assert sa1 is sa2 is sa3
    assert sb1 is sb2
    assert sa1 is not sb1
    assert sa1.id != sb1.id
    assert sa1.provider_id == sb1.provider_id == guid
    assert sa1.data["count"] == 3 and sb1.data["count"] == 2
    assert sorted(provider.events) == sorted(
        [("startup", sa1.id), ("cleanup", sa1.id), ("startup", sb1.id), ("cleanup", sb1.id)]
    )


def test_new_session_after_cleanup(serve, native, client) -> None:
    """A client that cleaned up and starts again gets a new session (Startup again)."""
    provider = Recorder()
    guid = serve(provider)
    cid = client()
    with attached(native, cid):
        nspv2.lookup("x", provider_id=guid)
        nspv2.lookup("x", provider_id=guid)
    first, second = provider.sessions
    assert first is not second
    assert [e for e, _ in provider.events] == ["startup", "cleanup", "startup", "cleanup"]
    assert second.data["count"] == 1


def test_provider_without_session_methods_works(serve, native, client) -> None:
    """A provider implementing only lookup still gets distinct, persistent sessions across
    clients, and cleanup and rundown of them cause no error."""
    provider = Plain()
    guid = serve(provider)
    a, b = client(), client()
    with attached(native, a):
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        assert first_names(nspv2.lookup("x", provider_id=guid)) == ["hit1"]
        assert first_names(nspv2.lookup("x", provider_id=guid)) == ["hit2"]
    with attached(native, b), winsock_session(native):
        assert first_names(nspv2.lookup("x", provider_id=guid)) == ["hit1"]
    assert native.winsock.StandinClientKill(a) == 0
    sa1, sa2, sb = provider.sessions
    assert sa1 is sa2 and sa1 is not sb
    assert sa1.closed and sb.closed
    assert first_names(nspv2.lookup("x", provider_id=guid)) == ["hit1"]


def test_startup_error_reaches_client(serve, native, client) -> None:
    """A WinsockError raised in startup fails the client's lookup with that code, and the next
    use tries Startup again."""

    class Refuses(Recorder):
        refuse = True

        def startup(self, session):  # type: ignore[no-untyped-def]
            super().startup(session)
            if self.refuse:
                raise WinsockError(nspv2.WSAEACCES)

    provider = Refuses()
    guid = serve(provider)
    cid = client()
    with attached(native, cid), winsock_session(native):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup("x", provider_id=guid)
        assert info.value.code == nspv2.WSAEACCES
        provider.refuse = False
        assert first_names(nspv2.lookup("x", provider_id=guid)) == ["x#1", "second"]
    assert [e for e, _ in provider.events] == ["startup", "startup", "cleanup"]


def _open_lookup(native: Any, guid: uuid.UUID, name: str) -> Any:
    """Begins a lookup as the current client and reads its first result; returns the client
    handle."""
    ffi, ws = native.ffi, native.winsock
    qs, keep = Marshal(ffi).build(
        QuerySet(instance_name=name, provider_id=guid),
        "WSAQUERYSETW",
        service_class=nspv2.SVCID_HOSTNAME,
    )
    handle = ffi.new("HANDLE *")
    assert ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_NAME, handle) == 0
    del keep
    length = ffi.new("DWORD *", 1024)
    buf = ffi.new("char[]", 1024)
    assert ws.WSALookupServiceNextW(handle[0], 0, length, ffi.cast("WSAQUERYSETW *", buf)) == 0
    return handle[0]


def _open_in_library(guid: uuid.UUID) -> int:
    """How many lookups of the provider the library holds (a generator's are its own)."""
    raw = provider_ffi.new("GUID *")
    provider_ffi.memmove(raw, guid.bytes_le, 16)
    return int(provider_lib.nspv2_lookups_count(raw))


@pytest.mark.parametrize("how", ["cleanup", "rundown"])
def test_open_lookups_ended_with_session(serve, native, client, how: str) -> None:
    """Lookups a client leaves open are ended by the library when its session ends (Cleanup or
    Rundown): their generators are closed and the library holds none of them any more."""
    provider = Recorder()
    guid = serve(provider)
    cid = client()
    with attached(native, cid):
        assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        _open_lookup(native, guid, "left-open-1")
        _open_lookup(native, guid, "left-open-2")
        assert _open_in_library(guid) == 2
        if how == "cleanup":
            assert native.winsock.WSACleanup() == 0
    if how == "rundown":
        assert native.winsock.StandinClientKill(cid) == 0
    assert provider.wait_closed(2)
    assert sorted(provider.closed_lookups) == ["left-open-1", "left-open-2"]
    (session,) = set(provider.sessions)
    assert provider.of(session.id) == ["startup", how]
    assert session.lookups == set()
    assert _open_in_library(guid) == 0


def test_unadvertise_runs_down_open_sessions(native, client, provider_id) -> None:
    """Withdrawing a provider while a client still has a session gives that session
    session_rundown (every Startup ends in exactly one Cleanup or Rundown)."""
    provider = Recorder()
    cid = client()
    nspv2.catalog.install(provider_id, "nspv2 rundown test", nspv2.NS_DNS)
    try:
        with nspv2.advertise(provider, provider_id):
            with attached(native, cid):
                assert native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
                nspv2.lookup("x", provider_id=provider_id)
            (session,) = set(provider.sessions)
            assert provider.of(session.id) == ["startup"]
        assert provider.of(session.id) == ["startup", "rundown"]
    finally:
        nspv2.catalog.uninstall(provider_id)
    with attached(native, cid):
        assert native.winsock.WSACleanup() == 0
    assert provider.of(session.id) == ["startup", "rundown"]
