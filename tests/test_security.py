"""One lookup's failure never exposes another lookup's or another session's data."""

from __future__ import annotations

import uuid
from typing import Any, Iterator, Optional

from conftest import Serve

import nspv2
from nspv2._marshal import Marshal
from nspv2._native import Native


class Secrets(nspv2.Provider):
    """Answers each session with its own secret; the name "crash" fails mid-lookup. Keeps every
    answer it gave, in order."""

    def __init__(self) -> None:
        self.answers: list[nspv2.QuerySet] = []

    def startup(self, session: nspv2.Session) -> None:
        session.data["secret"] = f"secret-of-session-{session.id}"

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: nspv2.Session) -> Iterator[Any]:
        if query.instance_name == "crash":
            raise RuntimeError("provider crash")
        secret = session.data["secret"]
        answer = nspv2.QuerySet(
            instance_name=secret, comment=f"for {query.instance_name}", blob=secret.encode() * 300
        )
        self.answers.append(answer)
        yield answer


def as_received(answer: nspv2.QuerySet, guid: uuid.UUID) -> nspv2.QuerySet:
    """What the client reads back of an answer: the provider's GUID and the namespace asked
    filled in."""
    return answer.replace(provider_id=guid, namespace=nspv2.NS_DNS)


def begin(native: Native, name: str) -> Any:
    qs, _keep = Marshal(native.ffi).build(
        nspv2.QuerySet(instance_name=name, namespace=nspv2.NS_DNS),
        "WSAQUERYSETW",
        service_class=nspv2.SVCID_HOSTNAME,
    )
    handle = native.ffi.new("HANDLE *")
    assert native.winsock.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, handle) == 0
    return handle[0]


def wcslen(p: Any) -> int:
    n = 0
    while p[n] != 0:
        n += 1
    return n


def next_result(
    native: Native, handle: Any, size: int
) -> tuple[int, Optional[nspv2.QuerySet], int]:
    """One WSALookupServiceNextW: its code, the whole result read back (None on error), and
    the buffer length Winsock reported."""
    ffi = native.ffi
    buf = ffi.new("char[]", size)
    length = ffi.new("DWORD *", size)
    out = ffi.cast("WSAQUERYSETW *", buf)
    if native.winsock.WSALookupServiceNextW(handle, nspv2.LUP_RETURN_ALL, length, out) != 0:
        return native.winsock.WSAGetLastError(), None, length[0]
    return 0, Marshal(ffi).read(out, wcslen), length[0]


def test_crash_in_one_session_never_shows_another_sessions_pending_result(
    serve: Serve, native: Native
) -> None:
    """Client A leaves a result pending (WSAEFAULT); client B's lookup crashes; B never receives
    A's result and A's retry still gets exactly its own."""
    provider = Secrets()
    guid = serve(provider)
    ws = native.winsock
    a, b = ws.StandinClientCreate(), ws.StandinClientCreate()
    try:
        assert ws.StandinClientAttach(a) == 0
        assert ws.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        handle_a = begin(native, "mine")
        code, _, needed = next_result(native, handle_a, 256)
        assert code == nspv2.WSAEFAULT

        assert ws.StandinClientAttach(b) == 0
        assert ws.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        crashed = begin(native, "crash")
        assert next_result(native, crashed, 256)[:2] == (nspv2.WSANO_RECOVERY, None)
        assert next_result(native, crashed, 65536)[:2] == (nspv2.WSA_E_NO_MORE, None)
        ws.WSALookupServiceEnd(crashed)
        handle_b = begin(native, "other")
        code, result_b, _ = next_result(native, handle_b, 65536)
        answer_a, answer_b = provider.answers
        assert answer_a.instance_name != answer_b.instance_name
        assert code == 0 and result_b == as_received(answer_b, guid)
        ws.WSALookupServiceEnd(handle_b)
        assert ws.WSACleanup() == 0

        assert ws.StandinClientAttach(a) == 0
        code, result_a, _ = next_result(native, handle_a, needed)
        assert code == 0 and result_a == as_received(answer_a, guid)
        ws.WSALookupServiceEnd(handle_a)
        assert ws.WSACleanup() == 0
    finally:
        ws.StandinClientAttach(0)
