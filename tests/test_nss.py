"""libnss_nspv2.so.2, glibc's hosts module: its contract called directly (statuses, errno and
h_errno, ERANGE, nscd's own tuple), then clients nobody here wrote (getent, Python's resolver,
curl) resolving through it, in a private mount namespace where nsswitch.conf names it."""

from __future__ import annotations

import ctypes
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from prerequisites import missing, tool
from test_crossprocess import PATIENCE, shared_env, short_folder, stats
from test_domains import DomainsHost

from nspv2 import _native

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc NSS: Linux")

HERE = Path(__file__).resolve().parent
SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN = 1, 0, -1, -2
NETDB_INTERNAL, NETDB_SUCCESS, HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY, NO_DATA = -1, 0, 1, 2, 3, 4
ERANGE = 34


class HostEnt(ctypes.Structure):
    _fields_ = [
        ("h_name", ctypes.c_char_p),
        ("h_aliases", ctypes.POINTER(ctypes.c_char_p)),
        ("h_addrtype", ctypes.c_int),
        ("h_length", ctypes.c_int),
        ("h_addr_list", ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))),
    ]


class AddrTuple(ctypes.Structure):
    pass


AddrTuple._fields_ = [
    ("next", ctypes.POINTER(AddrTuple)),
    ("name", ctypes.c_char_p),
    ("family", ctypes.c_int),
    ("addr", ctypes.c_uint32 * 4),
    ("scopeid", ctypes.c_uint32),
]


def module_path() -> Path:
    path = _native.nss_module()
    assert path is not None and path.exists(), "libnss_nspv2.so.2 was not built"
    return path


@pytest.fixture
def rundir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short runtime folder of this test's own, for this process and the ones it starts."""
    parent = short_folder()
    monkeypatch.setenv("NSPV2_RUNTIME_DIR", str(parent / "run"))
    monkeypatch.delenv("NSPV2_NSS_BYPASS", raising=False)
    yield parent / "run"
    shutil.rmtree(parent, ignore_errors=True)


def start_serve(rundir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """`nspv2 serve ARGS` (bare: the example zone), once it says it serves."""
    server = subprocess.Popen(
        [sys.executable, "-m", "nspv2", "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=shared_env(rundir, **env),
    )
    assert server.stderr is not None
    for line in server.stderr:
        if "serving; stop with Ctrl+C" in line:
            return server
    server.wait(timeout=PATIENCE)
    pytest.fail("nspv2 serve did not start")


def stop_serve(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=PATIENCE)


@pytest.fixture
def example(rundir: Path) -> Iterator[Path]:
    """A bare `nspv2 serve` (the example zone, NS_DNS face included) for this test."""
    server = start_serve(rundir)
    try:
        yield rundir
    finally:
        stop_serve(server)


class Module:
    """The module's functions, called as glibc calls them."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(str(module_path()))
        self.errno = ctypes.c_int(0)
        self.h_errno = ctypes.c_int(0)

    def byname3(self, name: str, family: int, size: int = 4096) -> tuple[int, HostEnt]:
        host = HostEnt()
        buffer = ctypes.create_string_buffer(size)
        ttl = ctypes.c_int32(99)
        canon = ctypes.c_char_p()
        self.keep = buffer
        status = self.lib._nss_nspv2_gethostbyname3_r(
            name.encode(), family, ctypes.byref(host), buffer, ctypes.c_size_t(size),
            ctypes.byref(self.errno), ctypes.byref(self.h_errno), ctypes.byref(ttl),
            ctypes.byref(canon),
        )  # fmt: skip
        if status == SUCCESS:
            assert ttl.value == 0 and canon.value == host.h_name
        return status, host

    def byname4(self, name: str, own_tuple: bool, size: int = 4096) -> tuple[int, List[str]]:
        """Status and the (family, name-or-None) of each tuple returned."""
        buffer = ctypes.create_string_buffer(size)
        mine = AddrTuple()
        pat = ctypes.pointer(mine) if own_tuple else ctypes.POINTER(AddrTuple)()
        pat_cell = ctypes.pointer(pat)
        ttl = ctypes.c_int32(99)
        status = self.lib._nss_nspv2_gethostbyname4_r(
            name.encode(), pat_cell, buffer, ctypes.c_size_t(size), ctypes.byref(self.errno),
            ctypes.byref(self.h_errno), ctypes.byref(ttl),
        )  # fmt: skip
        found: List[str] = []
        if status == SUCCESS:
            if own_tuple:  # nscd's tuple: filled in, *pat unchanged
                assert ctypes.addressof(pat_cell.contents.contents) == ctypes.addressof(mine)
            node = pat_cell.contents
            while node:
                t = node.contents
                found.append(f"{t.family} {(t.name or b'-').decode()}")
                node = t.next
        return status, found

    def byaddr2(self, packed: bytes, family: int) -> tuple[int, HostEnt]:
        host = HostEnt()
        buffer = ctypes.create_string_buffer(4096)
        self.keep = buffer
        status = self.lib._nss_nspv2_gethostbyaddr2_r(
            packed, len(packed), family, ctypes.byref(host), buffer, ctypes.c_size_t(4096),
            ctypes.byref(self.errno), ctypes.byref(self.h_errno), None,
        )  # fmt: skip
        return status, host


def aliases(host: HostEnt) -> List[str]:
    found, i = [], 0
    while host.h_aliases[i]:
        found.append(host.h_aliases[i].decode())
        i += 1
    return found


def test_exports_only_the_nss_functions() -> None:
    """The module exports the hosts functions and nothing else, and links no Python."""
    nm = tool("nm")
    done = subprocess.run(
        [nm, "-D", "--defined-only", str(module_path())], capture_output=True, text=True
    )
    symbols = sorted(line.split()[-1] for line in done.stdout.splitlines() if line.strip())
    assert symbols == sorted(
        f"_nss_nspv2_{name}"
        for name in (
            "gethostbyname4_r",
            "gethostbyname3_r",
            "gethostbyname2_r",
            "gethostbyname_r",
            "gethostbyaddr2_r",
            "gethostbyaddr_r",
        )
    )
    needed = subprocess.run(
        [tool("readelf"), "-d", str(module_path())], capture_output=True, text=True
    ).stdout
    assert "python" not in needed.lower() and "ws2standin" not in needed


def test_unavailable_at_once_without_a_host(rundir: Path) -> None:
    """No catalog, then an NS_DNS provider nobody serves: UNAVAIL with NO_RECOVERY."""
    module = Module()
    status, _ = module.byname3("www.example.test", 2)
    assert (status, module.h_errno.value) == (UNAVAIL, NO_RECOVERY)
    server = start_serve(rundir)
    stop_serve(server)  # the example stays installed in the catalog, served by nobody
    assert "5B4D8A3E-2F1C-4E7A-9B6D-0C3E5F7A9D22" in (rundir / "catalog").read_text()
    status, _ = module.byname3("www.example.test", 2)
    assert (status, module.h_errno.value) == (UNAVAIL, NO_RECOVERY)


def test_contract(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Statuses, errno/h_errno, ERANGE for a small buffer, NO_DATA, aliases, nscd's tuple,
    reverse lookups, and NOTFOUND in a host's own environment (NSPV2_NSS_BYPASS)."""
    module = Module()
    status, host = module.byname3("www.example.test", 2)
    assert (status, module.h_errno.value) == (SUCCESS, NETDB_SUCCESS)
    assert host.h_name == b"www.example.test" and host.h_length == 4
    assert bytes(host.h_addr_list[0][:4]) == bytes([192, 0, 2, 10]) and not host.h_addr_list[1]

    status, host = module.byname3("ftp.example.test", 10)
    assert status == SUCCESS and host.h_name == b"www.example.test"
    assert aliases(host) == ["ftp.example.test"] and host.h_length == 16

    status, _ = module.byname3("www.example.test", 2, size=16)
    assert (status, module.errno.value, module.h_errno.value) == (
        TRYAGAIN,
        ERANGE,
        NETDB_INTERNAL,
    )
    status, _ = module.byname3("backup-mx.example.test", 10)  # an IPv4 address only
    assert (status, module.h_errno.value) == (NOTFOUND, NO_DATA)
    status, _ = module.byname3("nosuch.example.test", 2)
    assert (status, module.h_errno.value) == (NOTFOUND, HOST_NOT_FOUND)
    status, _ = module.byname3("alice@example.test", 2)  # NS_EMAIL's, not a host name
    assert status == NOTFOUND

    for own in (False, True):
        status, tuples = module.byname4("www.example.test", own_tuple=own)
        assert status == SUCCESS and tuples == ["2 www.example.test", "10 -"]
    status, _ = module.byname4("www.example.test", own_tuple=False, size=40)
    assert (status, module.errno.value) == (TRYAGAIN, ERANGE)

    status, host = module.byaddr2(bytes([192, 0, 2, 10]), 2)
    assert status == SUCCESS and host.h_name == b"www.example.test"
    six = bytes.fromhex("20010db8000000000000000000000010")
    status, host = module.byaddr2(six, 10)
    assert status == SUCCESS and bytes(host.h_addr_list[0][:16]) == six

    monkeypatch.setenv("NSPV2_NSS_BYPASS", "1")
    status, _ = module.byname3("www.example.test", 2)
    assert (status, module.h_errno.value) == (NOTFOUND, HOST_NOT_FOUND)


def getent(rundir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = shared_env(rundir, LD_LIBRARY_PATH=str(module_path().parent))
    return subprocess.run(
        [tool("getent"), "-s", "hosts:nspv2", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=PATIENCE,
    )


def test_getent_without_installing(example: Path) -> None:
    """`getent -s hosts:nspv2` loads the uninstalled module and answers hosts, ahosts,
    aliases and reverse lookups from a bare `nspv2 serve`; unknown names exit 2."""
    assert getent(example, "hosts", "www.example.test").stdout.split() == [
        "2001:db8::10",
        "www.example.test",
    ]
    ahosts = getent(example, "ahosts", "www.example.test").stdout.splitlines()
    assert "192.0.2.10      STREAM www.example.test" in ahosts
    assert any(line.startswith("2001:db8::10") for line in ahosts)
    assert getent(example, "ahostsv4", "ftp.example.test").stdout.split()[:3] == [
        "192.0.2.10",
        "STREAM",
        "www.example.test",
    ]
    assert getent(example, "hosts", "192.0.2.10").stdout.split() == [
        "192.0.2.10",
        "www.example.test",
    ]
    assert getent(example, "hosts", "nosuch.example.test").returncode == 2


# ---- clients nobody here wrote, in a private mount namespace ----


def library_folder() -> Path:
    """Where this system's glibc loads libnss_* from (libc.so.6's folder)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(("/libc.so.6", "/libc-2.36.so")):
            return Path(line.split()[-1]).resolve().parent
    pytest.fail("libc.so.6 is not mapped in this process")


class Page(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# The private namespace's nsswitch.conf and hosts file, and the module in glibc's folder.
MOUNTS = """
set -eu
mount --bind "$WORK/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$WORK/hosts" /etc/hosts
mount -t overlay overlay -o "lowerdir=$WORK/lib:$LIBDIR" "$LIBDIR"
"""

NAMESPACE_SCRIPT = (
    MOUNTS
    + """
echo "== getent hosts"
getent hosts www.app.test
echo "== getent ahosts"
getent ahosts app.test
echo "== python"
python -c 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("www.app.test", 80)}))'
echo "== curl"
if [ -z "${NSPV2_SANITIZED:-}" ]; then
    curl -sS --max-time 30 "http://www.app.test:$PORT/page.txt"
else
    echo "skipped: curl hangs with libasan preloaded (tools/sanitize.sh), nspv2 or not"
fi
"""
)


def in_namespace(
    work: Path, rundir: Path, port: int, script: str = NAMESPACE_SCRIPT
) -> Dict[str, List[str]]:
    """Runs `script` in a private mount namespace; its output by section."""
    unshare = tool("unshare")
    env = shared_env(rundir, WORK=str(work), LIBDIR=str(library_folder()), PORT=str(port))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("LD_LIBRARY_PATH", None)
    done = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=PATIENCE * 2,
    )
    if done.stderr.startswith("unshare:"):
        missing(f"a private mount namespace ({done.stderr.strip()[:200]})", "run as root")
    sections: Dict[str, List[str]] = {}
    current = "start"
    for line in done.stdout.splitlines():
        if line.startswith("== "):
            current = line[3:]
        else:
            sections.setdefault(current, []).append(line)
    sections["stderr"] = done.stderr.splitlines()
    sections["returncode"] = [str(done.returncode)]
    return sections


def test_resolvers_in_a_private_namespace(rundir: Path, tmp_path: Path) -> None:
    """With `hosts: nspv2 files` in a private namespace: getent, Python's getaddrinfo and curl
    reach a page on 127.0.0.1 by a name only the Python provider knows; with the host stopped,
    the same names fall through to the next source (a hosts file saying 127.0.0.2)."""
    if os.geteuid() != 0:
        missing("root (unshare -m and mount)", "run the tests as root, as CI does")
    tool("curl")
    work = short_folder()
    try:
        (work / "lib").mkdir()
        shutil.copy2(module_path(), work / "lib" / module_path().name)
        (work / "nsswitch.conf").write_text("hosts: nspv2 files\n")
        (work / "hosts").write_text("127.0.0.2 www.app.test app.test\n")
        site = tmp_path / "site"
        site.mkdir()
        (site / "page.txt").write_text("hello from a name only nspv2 knows\n")
        handler = lambda *a: Page(*a, directory=str(site))  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        try:
            host = start_serve(rundir, "--provider", "nss_app:AppProvider", PYTHONPATH=str(HERE))
            try:
                seen = in_namespace(work, rundir, port)
            finally:
                stop_serve(host)
            fallback = in_namespace(work, rundir, port)
        finally:
            server.shutdown()
            server.server_close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert seen["returncode"] == ["0"], seen
    assert seen["getent hosts"] == ["127.0.0.1       www.app.test"], seen
    assert seen["getent ahosts"][0].split() == ["127.0.0.1", "STREAM", "www.app.test"], seen
    assert seen["python"] == ["['127.0.0.1']"], seen
    if not os.environ.get("NSPV2_SANITIZED"):  # the plain run has curl; see NAMESPACE_SCRIPT
        assert seen["curl"] == ["hello from a name only nspv2 knows"], seen
    assert fallback["getent hosts"] == ["127.0.0.2       www.app.test app.test"], fallback
    assert fallback["python"] == ["['127.0.0.2']"], fallback
    assert Path("/etc/nsswitch.conf").read_text() != "hosts: nspv2 files\n"


UNSERVED_SCRIPT = (
    MOUNTS
    + """
echo "== getent hosts"
getent hosts "$NAME" || echo "not found ($?)"
"""
)


def test_unserved_names_make_no_connection_in_a_private_namespace(
    rundir: Path, tmp_path: Path
) -> None:
    """With `hosts: files nspv2` in a private namespace and a host serving app.test: getent of a
    name in /etc/hosts and of a name outside app.test makes no connection to the host (its
    accepted count), and a name in app.test does."""
    if os.geteuid() != 0:
        missing("root (unshare -m and mount)", "run the tests as root, as CI does")
    work = short_folder()
    try:
        (work / "lib").mkdir()
        shutil.copy2(module_path(), work / "lib" / module_path().name)
        (work / "nsswitch.conf").write_text("hosts: files nspv2\n")
        (work / "hosts").write_text("127.0.0.2 listed.test\n")
        server = start_serve(rundir, "--provider", "nss_app:AppProvider", PYTHONPATH=str(HERE))
        app = Published(rundir, uuid.UUID("0d3c8a61-7e2b-4f59-a1c4-9b8e7d6f5a43"))
        try:
            outcome = {}
            for name in ("listed.test", "www.elsewhere.test", "www.app.test"):
                before = connections(app)
                script = UNSERVED_SCRIPT.replace('"$NAME"', f'"{name}"')
                outcome[name] = (in_namespace(work, rundir, 0, script), connections(app) - before)
        finally:
            stop_serve(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    listed, listed_connections = outcome["listed.test"]
    assert listed["getent hosts"] == ["127.0.0.2       listed.test"], listed
    assert listed_connections == 1  # the STATS after it only
    elsewhere, elsewhere_connections = outcome["www.elsewhere.test"]
    assert elsewhere["getent hosts"] == ["not found (2)"], elsewhere
    assert elsewhere_connections == 1
    served, served_connections = outcome["www.app.test"]
    assert served["getent hosts"] == ["127.0.0.1       www.app.test"], served
    assert served_connections > 1


def test_hung_host_does_not_stall(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that accepts but never answers: the module gives up after NSPV2_NSS_TIMEOUT_MS
    with TRYAGAIN (TRY_AGAIN), and a Winsock client's lookup with WSATRY_AGAIN."""
    import uuid

    guid = uuid.uuid4()
    rundir.mkdir(mode=0o700)
    text = "{" + str(guid).upper() + "}"
    (rundir / "catalog").write_text(f"ns {text} 12 1 1 - - -\n")
    # Another process (the module never asks a host that is its own process): connections
    # queue on its socket and are never answered.
    listen = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); "
        "s.listen(8); print('ready', flush=True); sys.stdin.read()"
    )
    hung = subprocess.Popen(
        [sys.executable, "-c", listen, str(rundir / f"{text}.sock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert hung.stdout is not None and hung.stdout.readline().strip() == "ready"
    try:
        monkeypatch.setenv("NSPV2_NSS_TIMEOUT_MS", "300")
        module = Module()
        status, _ = module.byname3("www.example.test", 2)
        assert (status, module.h_errno.value) == (TRYAGAIN, TRY_AGAIN)
        done = subprocess.run(
            [sys.executable, "-m", "nspv2", "lookup", "x", "--namespace", "NS_DNS"],
            capture_output=True,
            text=True,
            env=shared_env(rundir),
            timeout=PATIENCE,
        )
        assert done.returncode == 1 and "(11002)" in done.stderr, done.stderr
    finally:
        hung.communicate("", timeout=PATIENCE)


def test_never_asks_its_own_process(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host resolving through glibc must not come back into itself: the module declines
    (NOTFOUND) when the socket's listener is the calling process (SO_PEERCRED pid)."""
    import socket
    import uuid

    text = "{" + str(uuid.uuid4()).upper() + "}"
    rundir.mkdir(mode=0o700)
    (rundir / "catalog").write_text(f"ns {text} 12 1 1 - - -\n")
    mine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mine.bind(str(rundir / f"{text}.sock"))
    mine.listen(8)  # never answered: asking it would time out (TRYAGAIN)
    try:
        monkeypatch.setenv("NSPV2_NSS_TIMEOUT_MS", "60000")
        module = Module()
        status, _ = module.byname3("www.example.test", 2)
        assert (status, module.h_errno.value) == (NOTFOUND, HOST_NOT_FOUND)
    finally:
        mine.close()


class Published:
    """A provider's socket in the runtime folder, as stats() reaches its host."""

    def __init__(self, rundir: Path, guid: uuid.UUID) -> None:
        self.rundir, self.guid = rundir, guid

    @property
    def socket_path(self) -> Path:
        return self.rundir / f"{{{str(self.guid).upper()}}}.sock"


def connections(host: Any) -> int:
    """Connections the host accepted so far, not counting the one asking (its STATS)."""
    return stats(host)["accepted"] - 1


def replace(path: Path, text: str) -> None:
    """Writes `path` as the host does: a temporary file renamed over it."""
    temporary = path.with_name(path.name + ".test")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_declines_names_outside_the_domains_without_connecting(
    rundir: Path, tmp_path: Path
) -> None:
    """A name outside every provider's published domains is NOTFOUND with no connection to the
    host (its count of accepted connections stays); a name inside them is asked; a missing or
    malformed list means "ask the host"; a changed list is read again."""
    host = DomainsHost(rundir, uuid.uuid4(), "served.test", tmp_path)
    try:
        module = Module()
        before = connections(host)
        for name in ("www.elsewhere.test", "badserved.test", "served.test.evil"):
            status, _ = module.byname3(name, 2)
            assert (status, module.h_errno.value) == (NOTFOUND, HOST_NOT_FOUND)
            status, _ = module.byname4(name, own_tuple=False)
            assert status == NOTFOUND
        assert connections(host) == before + 1  # the STATS of the first count only
        assert not any("elsewhere" in e or "badserved" in e for e in host.events())

        before = connections(host)
        module.byname3("www.Served.test", 2)
        assert connections(host) == before + 2  # the lookup, and the STATS before this one
        assert "begin www.Served.test" in host.events()

        replace(host.domains_path, "not the magic line\nelsewhere.test\n")
        before = connections(host)
        module.byname3("www.elsewhere.test", 2)
        assert connections(host) == before + 2  # malformed: asked
        replace(host.domains_path, "nspv2-domains 1\nelsewhere.test\n")
        before = connections(host)
        module.byname3("www.served.test", 2)  # the new list: no longer this provider's name
        assert connections(host) == before + 1
        host.domains_path.unlink()
        before = connections(host)
        module.byname3("www.other.invalid", 2)
        assert connections(host) == before + 2  # no list: asked
    finally:
        host.stop()
