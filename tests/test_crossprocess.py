"""The cross-process stand-in: a provider advertised by one process (tests/crosshost.py, or
``nspv2 serve``) answers other processes' lookups over its socket in the runtime folder, with
Windows' session model (Startup, Cleanup, Rundown per client process), and fails fast and
cleanly when the host is absent, dies or restarts."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import pytest
from prerequisites import missing

import nspv2
import nspv2.catalog
from nspv2._marshal import Marshal
from nspv2._native import Native
from nspv2.client import winsock_session

HERE = Path(__file__).resolve().parent
HOST_SCRIPT = HERE / "crosshost.py"
PATIENCE = 60.0  # seconds a test waits for something that takes milliseconds (a loaded CI box)

HEADER = struct.Struct("<IHHIi")
MAGIC = 0x3256534E
HELLO, BEGIN, NEXT, END, SETSERVICE, CLEANUP, STATS, REPLY = 1, 2, 3, 4, 5, 6, 7, 0x80
STAT_NAMES = (
    "connections",
    "accepted",
    "refused",
    "malformed",
    "clients",
    "lookups",
    "requests",
    "rundowns",
    "handovers",
    "long_calls",
)


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    """Waits until predicate() holds (polling); fails naming `what` after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def shared_env(rundir: Path, **extra: str) -> Dict[str, str]:
    """An environment whose stand-in shares the catalog and sockets of `rundir`."""
    env = {k: v for k, v in os.environ.items() if k != "NSPV2_STANDIN_CATALOG"}
    env["NSPV2_RUNTIME_DIR"] = str(rundir)
    env.update(extra)
    return env


class Host:
    """tests/crosshost.py serving a recording provider under `guid` from another process."""

    def __init__(
        self, rundir: Path, guid: uuid.UUID, events: Path, allow: str = "", **env: str
    ) -> None:
        self.rundir, self.guid, self.events_file = rundir, guid, events
        events.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(HOST_SCRIPT), str(guid), str(events), *([allow] if allow else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=shared_env(rundir, **env),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"the host did not start (said {line!r})"

    @property
    def socket_path(self) -> Path:
        return self.rundir / f"{{{str(self.guid).upper()}}}.sock"

    def events(self) -> List[str]:
        return self.events_file.read_text(encoding="utf-8").splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=PATIENCE)
        if self.process.stdout:
            self.process.stdout.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=PATIENCE)
        if self.process.stdin:
            self.process.stdin.close()
        if self.process.stdout:
            self.process.stdout.close()


# ---- a raw client of the wire protocol (csrc/winsock/wire.h) ----


def message(kind: int, ident: int, body: bytes = b"") -> bytes:
    return HEADER.pack(HEADER.size + len(body), kind, 0, ident, 0) + body


def receive(sock: socket.socket) -> Optional[tuple[int, int, int, bytes]]:
    """(type, id, status, body) of the next message, or None when the host closed."""
    head = b""
    while len(head) < HEADER.size:
        chunk = sock.recv(HEADER.size - len(head))
        if not chunk:
            return None
        head += chunk
    length, kind, _, ident, status = HEADER.unpack(head)
    body = b""
    while len(body) < length - HEADER.size:
        chunk = sock.recv(length - HEADER.size - len(body))
        if not chunk:
            return None
        body += chunk
    return kind, ident, status, body


@contextlib.contextmanager
def raw_connection(host: Host, hello: bool = True) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(PATIENCE)
    sock.connect(str(host.socket_path))
    try:
        if hello:
            sock.sendall(message(HELLO, 1, struct.pack("<II", MAGIC, 1) + host.guid.bytes_le))
            answer = receive(sock)
            assert answer is not None and answer[:3] == (HELLO | REPLY, 1, 0), answer
        yield sock
    finally:
        sock.close()


def stats(host: Host) -> Dict[str, int]:
    """The host's counters (its STATS request), not counting the connection asking."""
    with raw_connection(host) as sock:
        sock.sendall(message(STATS, 2))
        answer = receive(sock)
        sock.sendall(message(CLEANUP, 3))  # a clean goodbye: no rundown counted
        assert receive(sock) == (CLEANUP | REPLY, 3, 0, b"")
    assert answer is not None and answer[2] == 0
    count = struct.unpack_from("<I", answer[3])[0]
    values = struct.unpack_from(f"<{count}Q", answer[3], 8)
    found = dict(zip(STAT_NAMES, values))
    found["connections"] -= 1
    found["clients"] -= 1
    return found


# ---- fixtures ----


def short_folder() -> Path:
    """A new folder with a short path: socket paths hold 108 bytes, pytest's tmp_path is long."""
    return Path(tempfile.mkdtemp(prefix="nspv2-"))


@pytest.fixture
def rundir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A runtime folder of this test's own; this process looks for hosts there too."""
    parent = short_folder()
    monkeypatch.setenv("NSPV2_RUNTIME_DIR", str(parent / "run"))
    yield parent / "run"
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def host(rundir: Path, tmp_path: Path, provider_id: uuid.UUID) -> Iterator[Host]:
    """A host process serving the recording provider; this process has it in its catalog."""
    started = Host(rundir, provider_id, tmp_path / "events.txt")
    nspv2.catalog.install(provider_id, "remote recorder", int(nspv2.NS_DNS))
    try:
        yield started
    finally:
        nspv2.catalog.uninstall(provider_id)
        started.stop()


def names(results: List[nspv2.QuerySet]) -> List[Optional[str]]:
    return [r.instance_name for r in results]


class PendingNext:
    """A WSALookupServiceNextW of `name` running in another thread of this process."""

    def __init__(self, native: Native, guid: uuid.UUID, name: str) -> None:
        ffi, ws = native.ffi, native.winsock
        self.native = native
        self.session = winsock_session(native)
        self.session.__enter__()
        query = nspv2.QuerySet(instance_name=name, namespace=nspv2.NS_DNS, provider_id=guid)
        qs, keep = Marshal(ffi).build(query, "WSAQUERYSETW", service_class=nspv2.SVCID_HOSTNAME)
        self.handle = ffi.new("HANDLE *")
        assert ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, self.handle) == 0
        del keep
        self.outcome: Dict[str, int] = {}
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        ffi, ws = self.native.ffi, self.native.winsock
        length = ffi.new("DWORD *", 4096)
        buf = ffi.new("char[]", 4096)
        rc = ws.WSALookupServiceNextW(
            self.handle[0], nspv2.LUP_RETURN_ALL, length, ffi.cast("WSAQUERYSETW *", buf)
        )
        self.outcome["rc"] = rc
        self.outcome["error"] = ws.WSAGetLastError()

    def result(self) -> Dict[str, int]:
        self.thread.join(PATIENCE)
        assert not self.thread.is_alive(), "the pending NextW never returned"
        return self.outcome

    def close(self) -> None:
        self.native.winsock.WSALookupServiceEnd(self.handle[0])
        self.session.__exit__(None, None, None)


def end_while_pending(host: Host, native: Native, guid: uuid.UUID, name: str, started: str) -> None:
    """Ends a lookup of `name` from this thread once the host's provider records `started`
    while another thread's NextW waits for it; that NextW must return WSA_E_CANCELLED."""
    pending = PendingNext(native, guid, name)
    try:
        wait_for(lambda: started in host.events(), f"the host's provider to record {started!r}")
        assert native.winsock.WSALookupServiceEnd(pending.handle[0]) == 0
        assert pending.result() == {"rc": -1, "error": nspv2.WSA_E_CANCELLED}
    finally:
        pending.session.__exit__(None, None, None)


# ---- the tests ----


def test_lookup_runs_in_the_host_process(host: Host, provider_id: uuid.UUID) -> None:
    """A lookup in this process is answered by the provider in the host process."""
    results = nspv2.lookup("pid", namespace=nspv2.NS_DNS)
    assert names(results) == [str(host.process.pid)]
    assert names(nspv2.lookup("two", namespace=nspv2.NS_DNS)) == ["one", "two"]
    big = nspv2.lookup("big", namespace=nspv2.NS_DNS)  # 64 KiB: through the WSAEFAULT retry
    assert big[0].blob == bytes(range(256)) * 256
    assert big[0].provider_id == provider_id
    with pytest.raises(nspv2.WinsockError) as caught:
        nspv2.lookup("unknown", namespace=nspv2.NS_DNS)
    assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND


def test_socket_only_its_owner_can_open(host: Host, rundir: Path) -> None:
    """The host's socket is mode 0600 in a 0700 folder of its own user."""
    folder = rundir.stat()
    assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.geteuid()
    sock = host.socket_path.stat()
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600


def test_no_host_fails_at_once(rundir: Path, provider_id: uuid.UUID, tmp_path: Path) -> None:
    """Installed but served by nobody (no socket, or one its dead host left): Winsock's
    WSASERVICE_NOT_FOUND, not a hang."""
    nspv2.catalog.install(provider_id, "nobody serves me", int(nspv2.NS_DNS))
    try:
        with pytest.raises(nspv2.WinsockError) as caught:
            nspv2.lookup("pid", namespace=nspv2.NS_DNS)
        assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND
        dead = Host(rundir, provider_id, tmp_path / "events.txt")
        dead.kill()  # leaves its socket file behind
        assert dead.socket_path.exists()
        with pytest.raises(nspv2.WinsockError) as caught:
            nspv2.lookup("pid", namespace=nspv2.NS_DNS)
        assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND
    finally:
        nspv2.catalog.uninstall(provider_id)


def test_host_killed_mid_lookup_then_restarted(
    host: Host, native: Native, rundir: Path, tmp_path: Path, provider_id: uuid.UUID
) -> None:
    """A NextW waiting in a host that is killed returns WSANO_RECOVERY; a restarted host then
    serves this same client process again."""
    assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(host.process.pid)]
    pending = PendingNext(native, provider_id, "hang")
    try:
        wait_for(lambda: "hanging" in host.events(), "the host's provider to start waiting")
        host.kill()
        outcome = pending.result()
        assert outcome == {"rc": -1, "error": nspv2.WSANO_RECOVERY}
    finally:
        pending.close()
    restarted = Host(rundir, provider_id, tmp_path / "events2.txt")
    try:
        assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(restarted.process.pid)]
    finally:
        restarted.stop()


def test_end_in_another_thread_cancels_next(
    host: Host, native: Native, provider_id: uuid.UUID
) -> None:
    """End in one client thread makes that client's NextW pending in the host return
    WSA_E_CANCELLED, and the host ends its lookup too: the waiting NEXT handed the connection's
    reading to another host thread, which read and ran the END."""
    before = stats(host)["handovers"]
    end_while_pending(host, native, provider_id, "hang", "hanging")
    wait_for(lambda: stats(host)["lookups"] == 0, "the host to end the lookup")
    assert stats(host)["handovers"] == before + 1


def test_host_runs_a_next_answered_at_once_on_the_reading_thread(host: Host) -> None:
    """A NEXT the provider answers before returning (every plain lookup's) runs on the host
    thread that read it: no reading is handed to another thread, so no thread is woken."""
    before = stats(host)["handovers"]
    for _ in range(20):
        assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(host.process.pid)]
    assert stats(host)["handovers"] == before


def test_host_steps_a_generator_on_the_thread_that_read_the_next(host: Host) -> None:
    """A generator's step runs on the host thread that read the NEXT, as on Winsock's threads,
    not on a worker thread of the runtime: no thread is woken for it."""
    before = stats(host)
    for _ in range(5):
        (name,) = names(nspv2.lookup("thread", namespace=nspv2.NS_DNS))
        assert name is not None and not name.startswith("nspv2-worker")
    after = stats(host)
    assert (after["handovers"], after["lookups"]) == (before["handovers"], 0)


def test_end_reaches_a_generator_stuck_in_its_step(
    host: Host, native: Native, provider_id: uuid.UUID
) -> None:
    """End while a generator's step blocks on a host thread: the client's NextW returns
    WSA_E_CANCELLED at once, the host's watchdog hands the connection's reading to another thread
    so the END arrives while the step still runs (the provider sees lookup_cancelled()), and the
    host serves on."""
    before = stats(host)["long_calls"]
    end_while_pending(host, native, provider_id, "stuck", "stuck")
    wait_for(lambda: "saw end" in host.events(), "the provider to see the lookup ended")
    wait_for(lambda: stats(host)["lookups"] == 0, "the host to end the lookup")
    assert stats(host)["long_calls"] >= before + 1
    assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(host.process.pid)]


def test_a_long_call_does_not_hold_back_the_clients_other_threads(host: Host) -> None:
    """A plain lookup that takes 3 s in the host does not hold back another thread of the same
    client process (one connection): its lookup is answered while the slow one still runs."""
    slow: List[List[Optional[str]]] = []
    thread = threading.Thread(
        target=lambda: slow.append(names(nspv2.lookup("slow", namespace=nspv2.NS_DNS)))
    )
    thread.start()
    try:
        wait_for(lambda: "begin slow" in host.events(), "the slow lookup to start")
        assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(host.process.pid)]
        assert "slow done" not in host.events()
    finally:
        thread.join(PATIENCE)
    assert slow == [["slow"]]


CLIENT = """
import sys
import nspv2
from nspv2._marshal import Marshal
from nspv2._native import load
native = load()
ffi, ws = native.ffi, native.winsock
assert ws.WSAStartup(0x0202, ffi.new("WSADATA *")) == 0
query = nspv2.QuerySet(instance_name="two", namespace=nspv2.NS_DNS)
qs, keep = Marshal(ffi).build(query, "WSAQUERYSETW", service_class=nspv2.SVCID_HOSTNAME)
handle = ffi.new("HANDLE *")
assert ws.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, handle) == 0, ws.WSAGetLastError()
print("begun", flush=True)
sys.stdin.read()
"""


def test_client_killed_runs_its_session_down(host: Host) -> None:
    """kill -9 of a client process with a lookup open: the host's provider gets
    ClientSessionRundown, and the host keeps no session or lookup of it."""
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=shared_env(host.rundir),
    )
    assert client.stdout is not None and client.stdout.readline().strip() == "begun"
    assert stats(host)["lookups"] == 1
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=PATIENCE)
    wait_for(lambda: any(e.startswith("rundown ") for e in host.events()), "the rundown")
    counts = stats(host)
    assert (counts["lookups"], counts["clients"], counts["rundowns"]) == (0, 0, 1)
    assert not any(e.startswith("cleanup ") for e in host.events())


def test_client_cleanup_and_shared_catalog(host: Host) -> None:
    """A process started later finds the host's catalog entry in the shared catalog, and its
    WSACleanup at exit becomes the provider's Cleanup (not Rundown)."""
    done = subprocess.run(
        [sys.executable, "-m", "nspv2", "lookup", "pid", "--namespace", "NS_DNS"],
        capture_output=True,
        text=True,
        env=shared_env(host.rundir),
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"pid: {host.process.pid}", done.stdout
    events = [e.split()[0] for e in host.events()]
    assert events == ["startup", "begin", "cleanup"]
    assert stats(host)["rundowns"] == 0


def test_kill_simulated_client_runs_down_remote_session(host: Host, native: Native) -> None:
    """StandinClientKill of a client of this process closes its connection without CLEANUP:
    the host's provider gets ClientSessionRundown for that session."""
    ws = native.winsock
    cid = ws.StandinClientCreate()
    assert cid > 0

    def as_client() -> None:
        assert ws.StandinClientAttach(cid) == 0
        assert ws.WSAStartup(0x0202, native.ffi.new("WSADATA *")) == 0
        assert names(nspv2.lookup("pid", namespace=nspv2.NS_DNS)) == [str(host.process.pid)]
        ws.StandinClientAttach(0)

    worker = threading.Thread(target=as_client)
    worker.start()
    worker.join(PATIENCE)
    assert ws.StandinClientKill(cid) == 0
    wait_for(lambda: any(e.startswith("rundown ") for e in host.events()), "the rundown")


def test_malformed_messages_close_the_connection(host: Host) -> None:
    """Garbage, a wrong first message, an oversized length and a truncated query set each get
    WSAEINVAL and a closed connection; the host keeps serving."""
    with raw_connection(host, hello=False) as sock:  # no hello first
        sock.sendall(message(STATS, 5))
        answer = receive(sock)
        assert answer is not None and answer[2] == nspv2.WSAEINVAL
        assert receive(sock) is None
    with raw_connection(host) as sock:  # a length beyond the cap: closed without reading on
        sock.sendall(HEADER.pack(64 << 20, BEGIN, 0, 7, 0))
        assert receive(sock) is None
    with raw_connection(host) as sock:  # a query set whose string runs off its image
        image = struct.pack("<16I", 72, 12, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0)
        image += b"A\x00" * 4
        sock.sendall(message(BEGIN, 8, struct.pack("<II", 0, 0) + image))
        answer = receive(sock)
        assert answer is not None and answer[1:3] == (8, nspv2.WSAEINVAL)
        assert receive(sock) is None
    with raw_connection(host) as sock:  # an unknown message type
        sock.sendall(message(99, 9))
        answer = receive(sock)
        assert answer is not None and answer[2] == nspv2.WSAEINVAL
    # Counted by the host's connection thread as it closes, after the client sees the close.
    wait_for(lambda: stats(host)["malformed"] >= 3, "the host to count the malformed messages")
    assert names(nspv2.lookup("two", namespace=nspv2.NS_DNS)) == ["one", "two"]


def test_handles_of_another_connection_are_refused(host: Host) -> None:
    """A lookup handle is valid only on the connection that began it (WSA_INVALID_HANDLE)."""
    with raw_connection(host) as sock:
        sock.sendall(message(NEXT, 3, struct.pack("<QII", 0x4C00000100000001, 0x0FF0, 4096)))
        answer = receive(sock)
        assert answer is not None and answer[1:3] == (3, nspv2.WSA_INVALID_HANDLE)
        sock.sendall(message(END, 4, struct.pack("<Q", 12345)))
        answer = receive(sock)
        assert answer is not None and answer[1:3] == (4, nspv2.WSA_INVALID_HANDLE)


def test_nspv2_serve_answers_nspv2_lookup(rundir: Path) -> None:
    """A bare `nspv2 serve` serves the example to `nspv2 lookup` in another process (NS_ALL and
    NS_DNS), and stops cleanly on SIGTERM."""
    env = shared_env(rundir)
    server = subprocess.Popen(
        [sys.executable, "-m", "nspv2", "serve"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if "serving; stop with Ctrl+C" in line:
                break
        else:
            pytest.fail("nspv2 serve did not start")

        def ask(*args: str) -> List[str]:
            done = subprocess.run(
                [sys.executable, "-m", "nspv2", "lookup", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=PATIENCE,
            )
            assert done.returncode == 0, done.stderr
            # Each result's line (its fields follow, indented), without the name asked.
            return [
                line.split(": ", 1)[1]
                for line in done.stdout.splitlines()
                if not line.startswith(" ")
            ]

        assert ask("www.example.test") == ["www.example.test 192.0.2.10:0 [2001:db8::10]:0"]
        assert ask("alice@example.test") == [
            "alice@example.test (Alice Example) 192.0.2.25:25 [2001:db8::25]:25",
            "alice@example.test (Alice Example) 198.51.100.25:25",
        ]
        assert ask("www.example.test", "--namespace", "NS_DNS") == [
            "www.example.test 192.0.2.10:0 [2001:db8::10]:0"
        ]
        assert ask("10.2.0.192.in-addr.arpa", "--namespace", "NS_DNS") == ["www.example.test"]
    finally:
        server.send_signal(signal.SIGTERM)
        rest = server.communicate(timeout=PATIENCE)[1]
    assert server.returncode == 0, rest
    assert "providers withdrawn" in rest
    assert not list(rundir.glob("*.sock"))


@pytest.mark.parametrize("users", ["", "nobody, 4242", "no-such-user-here"])
def test_nspv2_serve_lets_in_the_configured_users(rundir: Path, tmp_path: Path, users: str) -> None:
    """`nspv2 serve` lets other users' processes in only when its configuration's [nspv2]
    allow_users names them (the socket 0666 in a 0711 folder, and the host's SO_PEERCRED check;
    test_other_users shows the check); a user the system does not know stops it with a line
    naming the file and the fix."""
    ini = tmp_path / "providers.ini"
    ini.write_text(f"[nspv2]\nallow_users = {users}\n" if users else "[nspv2]\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "nspv2", "serve", "--config", str(ini), "--provider",
         "nspv2.examples.zone:ZoneDnsProvider"],
        stderr=subprocess.PIPE, text=True, env=shared_env(rundir),
    )  # fmt: skip
    assert server.stderr is not None
    try:
        if users == "no-such-user-here":
            rest = server.communicate(timeout=PATIENCE)[1]
            assert server.returncode != 0
            assert rest.startswith(f"nspv2: {ini}: [nspv2] allow_users: no user"), rest
            assert "write user names or numeric uids" in rest, rest
            return
        for line in server.stderr:
            if "serving; stop with Ctrl+C" in line:
                break
        else:
            pytest.fail("nspv2 serve did not start")
        (sock,) = rundir.glob("*.sock")
        shared = bool(users)
        assert stat.S_IMODE(sock.stat().st_mode) == (0o666 if shared else 0o600)
        assert stat.S_IMODE(rundir.stat().st_mode) & 0o711 == (0o711 if shared else 0o700)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=PATIENCE)


def test_each_client_process_is_a_session(host: Host, native: Native) -> None:
    """Two simulated clients of this process are two sessions in the host (two Startups)."""
    ws = native.winsock
    clients = [ws.StandinClientCreate(), ws.StandinClientCreate()]

    def as_client(cid: int) -> None:
        assert ws.StandinClientAttach(cid) == 0
        with winsock_session(native):
            nspv2.lookup("pid", namespace=nspv2.NS_DNS)
        ws.StandinClientAttach(0)

    for cid in clients:
        worker = threading.Thread(target=as_client, args=(cid,))
        worker.start()
        worker.join(PATIENCE)
    for cid in clients:
        ws.StandinClientKill(cid)
    events = [e.split()[0] for e in host.events()]
    assert events.count("startup") == 2 and events.count("cleanup") == 2


# ---- reliability: many client processes, some killed, the host restarted ----

#: Lookups per client process; 16 x 10,000 is the full run (NSPV2_CROSS_STRESS=10000).
STRESS_LOOKUPS = int(os.environ.get("NSPV2_CROSS_STRESS", "600"))
STRESS_CLIENTS = 16
STRESS_KILLED = 4
#: What a lookup may fail with while its host is killed and restarted.
EXPECTED_FAILURES = {
    nspv2.WSASERVICE_NOT_FOUND,  # no host (between the kill and the restart)
    nspv2.WSANO_RECOVERY,  # the host died during the call
    nspv2.WSATRY_AGAIN,  # the host's backlog was full, or it did not answer in time
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.requires("gcc")
def test_many_clients_killed_clients_restarted_host(
    rundir: Path, tmp_path: Path, provider_id: uuid.UUID, native: Native
) -> None:
    """16 client processes (C, no Python) look up in one host; 4 are killed -9 mid-run and the
    host is killed and restarted once: every lookup of the others succeeds or fails with a
    Winsock code, they all succeed again after the restart, nothing is left in the host, the
    stand-in saw no contract violation, and the host's memory stays flat."""
    client = tmp_path / "cross_client"
    subprocess.run(
        ["gcc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Wextra", "-Werror",
         f"-I{HERE.parent / 'csrc' / 'include'}", str(HERE / "hosts" / "cross_client.c"),
         "-o", str(client), "-ldl"],
        check=True,
    )  # fmt: skip
    winsock = str(_native_winsock())
    host = Host(rundir, provider_id, tmp_path / "events.txt")
    clients = [
        subprocess.Popen(
            [str(client), winsock, "two", str(STRESS_LOOKUPS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=shared_env(rundir),
        )
        for _ in range(STRESS_CLIENTS)
    ]
    restarted: Optional[Host] = None
    survivors = clients[STRESS_KILLED:]

    def next_phase(group: List[subprocess.Popen[str]], expect: str) -> None:
        for c in group:
            assert c.stdout is not None and c.stdout.readline().strip() == expect
        for c in group:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()

    try:
        next_phase(clients, "half")
        warm = rss_kib(host.process.pid)
        for c in clients[:STRESS_KILLED]:  # killed in the middle of their lookups
            c.send_signal(signal.SIGKILL)
        wait_for(lambda: stats(host)["clients"] == len(survivors), "the rundowns")
        # The provider's rundown runs just after the host counts the client gone: wait for it.
        wait_for(
            lambda: len([e for e in host.events() if e.startswith("rundown ")]) == STRESS_KILLED,
            "the provider's rundowns",
        )
        for c in survivors:
            assert c.stdout is not None and c.stdout.readline().strip() == "second"
        # Memory over the second half's lookups (12 x STRESS_LOOKUPS/2) and 4 rundowns.
        grown = rss_kib(host.process.pid) - warm
        # A client's End does not wait for the host: its last lookup closes just after.
        wait_for(lambda: stats(host)["lookups"] == 0, "the survivors' lookups to end")
        assert stats(host)["clients"] == len(survivors)
        for c in survivors:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        host.kill()  # in the middle of the survivors' lookups
        restarted = Host(rundir, provider_id, tmp_path / "events2.txt")
        outputs = [c.communicate(timeout=PATIENCE * 5)[0] for c in survivors]
        for output in outputs:
            fields = dict(part.split("=", 1) for part in output.split()[1:])
            codes = {int(code.split(":")[0]) for code in fields["codes"].split(",") if code}
            assert codes <= EXPECTED_FAILURES, output
            assert fields["violations"] == "0" and int(fields["streak"]) >= 50, output
            assert int(fields["ok"]) >= STRESS_LOOKUPS, output
        wait_for(lambda: stats(restarted)["clients"] == 0, "the clients' sessions to end")
        counts = stats(restarted)
        assert (counts["lookups"], counts["connections"], counts["malformed"]) == (0, 0, 0)
        events = [e.split()[0] for e in restarted.events()]
        assert events.count("startup") == events.count("cleanup") == len(outputs)
        if not os.environ.get("NSPV2_SANITIZED"):  # ASan's quarantine keeps freed memory
            assert grown < 4 * 1024, f"the host grew {grown} KiB"
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        if restarted:
            restarted.stop()
        if host.process.poll() is None:
            host.stop()


def _native_winsock() -> Path:
    from nspv2._native import winsock_library

    found = winsock_library()
    assert found is not None
    return found


@pytest.mark.requires("gcc")
@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (None, nspv2.WSASERVICE_NOT_FOUND),  # the 0700 folder: nobody else reaches the socket
        ("4242", nspv2.WSAEACCES),  # reachable (0666 in 0711), refused by SO_PEERCRED
        ("65534", 0),  # let in by the host's configuration
    ],
)
def test_other_users(
    rundir: Path, provider_id: uuid.UUID, allowed: Optional[str], expected: int
) -> None:
    """Another user's process (uid 65534) is refused unless the host lets it in
    (StandinAllowUsers, which `nspv2 serve` calls with its configuration's allow_users): by the
    folder's mode, then by the host's SO_PEERCRED check (WSAEACCES)."""
    if os.geteuid() != 0:
        missing("root (to run a client as another user)", "run the tests as root, as CI does")
    folder = short_folder()
    folder.chmod(0o755)
    rundir.parent.chmod(0o755)  # the runtime folder's own mode decides
    client = folder / "cross_client"
    subprocess.run(
        ["gcc", "-std=c11", "-D_GNU_SOURCE", "-O1", f"-I{HERE.parent / 'csrc' / 'include'}",
         str(HERE / "hosts" / "cross_client.c"), "-o", str(client), "-ldl"],
        check=True,
    )  # fmt: skip
    # The other user loads the stand-in from here: the installed one may sit in a folder only
    # root can enter (a virtual environment in a 0700 temporary folder, as in CI).
    winsock = folder / _native_winsock().name
    shutil.copy2(_native_winsock(), winsock)
    winsock.chmod(0o755)
    host = Host(rundir, provider_id, folder / "events.txt", allow=allowed or "")
    try:
        env = shared_env(rundir, NSPV2_STANDIN_CATALOG=str(rundir / "catalog"))
        done = subprocess.run(
            [str(client), str(winsock), "two", "2"],
            input="go\ngo\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=PATIENCE,
            preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)),
        )
        assert done.returncode == 0, done.stderr
        fields = dict(part.split("=", 1) for part in done.stdout.split()[-5:])
        if expected:
            assert fields["ok"] == "0" and fields["codes"].startswith(f"{expected}:"), done.stdout
        else:
            assert fields["failed"] == "0" and int(fields["ok"]) >= 50, done.stdout
    finally:
        host.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.requires("gcc", "valgrind")
def test_remote_client_under_valgrind(rundir: Path, tmp_path: Path, provider_id: uuid.UUID) -> None:
    """The client's side (proxy provider, connection, wire decoding) has no memory error and
    leaks nothing definite over lookups, a host killed mid-run and a restarted one."""
    client = tmp_path / "cross_client"
    subprocess.run(
        ["gcc", "-std=c11", "-D_GNU_SOURCE", "-g", "-O1", f"-I{HERE.parent / 'csrc' / 'include'}",
         str(HERE / "hosts" / "cross_client.c"), "-o", str(client), "-ldl"],
        check=True,
    )  # fmt: skip
    host = Host(rundir, provider_id, tmp_path / "events.txt")
    restarted: Optional[Host] = None
    process = subprocess.Popen(
        ["valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
         "--quiet", str(client), str(_native_winsock()), "two", "40"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=shared_env(rundir),
    )  # fmt: skip
    try:
        assert process.stdin is not None and process.stdout is not None
        assert process.stdout.readline().strip() == "half"
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "second"
        host.kill()
        restarted = Host(rundir, provider_id, tmp_path / "events2.txt")
        out, err = process.communicate("go\n", timeout=PATIENCE * 5)
        assert process.returncode == 0, err
        assert "violations=0" in out and "streak=50" in out, out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if restarted:
            restarted.stop()
