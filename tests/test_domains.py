"""A provider's ``domains``: names outside them are declined in C (csrc/provider/domains.c, the
rule in csrc/include/nspv2/served.h) before the gate and the GIL, the provider is never called
for them, and a host publishes them beside its socket for libnss_nspv2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crossprocess import PATIENCE, Host, rundir, shared_env, wait_for  # noqa: F401

import nspv2
from nspv2 import _native, _runtime, catalog, config, domains
from nspv2.client import winsock_session
from nspv2.napi import Domain, InstallationBlob

HERE = Path(__file__).resolve().parent

# (name, domains, served): the rule's cases, each one of the design's points.
CASES: List[Tuple[Optional[str], Tuple[str, ...], bool]] = [
    ("example.test", ("example.test",), True),  # the domain itself
    ("www.example.test", ("example.test",), True),  # below it
    ("a.b.example.test", ("example.test",), True),
    ("badexample.test", ("example.test",), False),  # not at a label boundary
    ("example.test.evil", ("example.test",), False),
    ("example", ("example.test",), False),
    ("WWW.Example.TEST", ("example.test",), True),  # ASCII case ignored
    ("www.example.test.", ("example.test",), True),  # trailing dot ignored
    ("alice@example.test", ("example.test",), True),  # email: the part after '@'
    ("alice@mail.example.test", ("example.test",), True),
    ("example.test@evil.test", ("example.test",), False),
    ("a@b@example.test", ("example.test",), True),  # the last '@'
    ("alice@", ("example.test",), True),  # no DNS name: left to the provider
    ("", ("example.test",), True),
    (None, ("example.test",), True),  # no instance name (enumeration)
    (".", ("example.test",), True),
    ("other.test", ("example.test", "other.test"), True),
    ("x.other.test", (), True),  # no domains: every name
    ("\u00c9.example.test", ("example.test",), True),
    ("b\u00fccher.test", ("b\u00fccher.test",), True),
    ("B\u00dcCHER.test", ("b\u00fccher.test",), False),  # only ASCII letters fold
    ("\U0001f600.example.test", ("example.test",), True),
    ("\ud800.example.test", ("example.test",), True),
    ("10.2.0.192.in-addr.arpa", ("2.0.192.in-addr.arpa",), True),
    ("10.2.0.193.in-addr.arpa", ("2.0.192.in-addr.arpa",), False),
]


@pytest.fixture(scope="module")
def bridge() -> Any:
    """The provider library's runtime bridge: started by a first entry point call (an
    NSPv2GetRoutine for a GUID nobody configured, which fails once the runtime is up)."""
    native = _native.load()
    routine = native.ffi.new("NSPV2_ROUTINE *")
    native.provider.NSPv2GetRoutine(native.guid(uuid.uuid4()), routine)
    assert _runtime.bridge.lib is not None
    return _runtime.bridge


def c_served(bridge: Any, guid: uuid.UUID, name: Optional[str]) -> bool:
    ffi = bridge.ffi
    raw = ffi.new("GUID *")
    ffi.memmove(raw, guid.bytes_le, 16)
    if name is None:
        return bool(bridge.lib.nspv2_name_served_by(raw, ffi.NULL))
    units = (name + "\0").encode("utf-16-le", "surrogatepass")
    wide = ffi.new("WCHAR[]", len(units) // 2)
    ffi.memmove(wide, units, len(units))
    return bool(bridge.lib.nspv2_name_served_by(raw, wide))


def c_declare(bridge: Any, guid: uuid.UUID, served: Tuple[str, ...]) -> None:
    with _runtime._providers_lock:
        _runtime._declare_domains(guid, served)


@pytest.mark.parametrize("name, declared, expected", CASES)
def test_rule(bridge: Any, name: Optional[str], declared: Tuple[str, ...], expected: bool) -> None:
    """Each point of the rule holds in C (what runs) and in the Python reference alike."""
    guid = uuid.uuid4()
    c_declare(bridge, guid, declared)
    try:
        assert c_served(bridge, guid, name) is expected
        assert domains.served(name, declared) is expected
    finally:
        c_declare(bridge, guid, ())


LABEL = st.text(st.sampled_from("aAbBzZ09-\u00e9\u00c9@."), min_size=0, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    name=st.lists(LABEL, max_size=4).map(".".join),
    declared=st.lists(
        st.lists(st.text(st.sampled_from("abz09-\u00e9"), min_size=1, max_size=4), min_size=1,
                 max_size=3).map(".".join),
        max_size=3,
    ),
)  # fmt: skip
def test_rule_parity(bridge: Any, name: str, declared: List[str]) -> None:
    """The C rule and the Python reference agree on arbitrary names and domains."""
    guid = uuid.uuid4()
    normalized = domains.normalize(declared)
    c_declare(bridge, guid, normalized)
    try:
        assert c_served(bridge, guid, name) is domains.served(name, normalized)
    finally:
        c_declare(bridge, guid, ())


@pytest.mark.parametrize(
    "bad, error",
    [
        ("example.test", TypeError),  # a string, not a tuple of them
        (("",), ValueError),
        ((".",), ValueError),
        (("a..b",), ValueError),
        (("alice@example.test",), ValueError),
        ((42,), TypeError),
        (42, TypeError),
    ],
)
def test_bad_domains_are_refused_clearly(bad: Any, error: type) -> None:
    """Domains that are not a tuple of domain names get a TypeError/ValueError naming them."""
    with pytest.raises(error, match="domains"):
        domains.normalize(bad, "Directory.domains")


def test_normalized_forms() -> None:
    """Levels, Domain objects, case, trailing dots and duplicates normalize to one list."""
    found = domains.normalize(
        ["Corp.Example.", "corp.example:secondary", Domain.parse("b.test:none"), "B.test"]
    )
    assert found == ("corp.example", "b.test")


class Counting(nspv2.Provider):
    """Answers every name it is asked for and counts the calls."""

    namespace = nspv2.NS_DNS

    def __init__(self, served: Any = ()) -> None:
        self.domains = served
        self.calls: List[Optional[str]] = []
        self.set_calls: List[Optional[str]] = []

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: nspv2.Session) -> Any:
        self.calls.append(query.instance_name)
        return nspv2.QuerySet(instance_name=query.instance_name or "enumerated")

    def set_service(self, query: nspv2.QuerySet, operation: Any, flags: int, session: Any) -> None:
        self.set_calls.append(query.instance_name)


def declined_count(bridge: Any) -> int:
    return int(bridge.lib.nspv2_domains_declined())


def test_declined_names_never_reach_the_provider(serve: Any, bridge: Any) -> None:
    """Names outside the domains answer WSASERVICE_NOT_FOUND without calling the provider, for
    NS_ALL and the provider's own namespace alike; names inside them are served."""
    provider = Counting(("example.test",))
    guid = serve(provider)
    before = declined_count(bridge)
    for name, namespace in (
        ("badexample.test", nspv2.NS_ALL),
        ("www.other.test", nspv2.NS_ALL),
        ("www.other.test", nspv2.NS_DNS),
    ):
        with pytest.raises(nspv2.WinsockError) as caught:
            nspv2.lookup(name, namespace=namespace, provider_id=guid)
        assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND
    assert provider.calls == []
    assert declined_count(bridge) - before == 3
    [found] = nspv2.lookup("WWW.example.test.", namespace=nspv2.NS_ALL)
    assert found.instance_name == "WWW.example.test."
    assert provider.calls == ["WWW.example.test."]


def test_no_domains_serves_every_name(serve: Any) -> None:
    """A provider that declares no domains is asked for every name, as before."""
    provider = Counting()
    guid = serve(provider)
    nspv2.lookup("anything.invalid", provider_id=guid)
    assert provider.calls == ["anything.invalid"]


def test_wildcard_serves_every_name(serve: Any) -> None:
    """A provider with domains and ``wildcard = True`` takes names nobody claims: not declined."""
    provider = Counting(("example.test",))
    provider.wildcard = True  # type: ignore[attr-defined]
    guid = serve(provider)
    nspv2.lookup("anything.invalid", provider_id=guid)
    assert provider.calls == ["anything.invalid"]


def test_queries_without_a_name_are_not_declined(serve: Any) -> None:
    """An enumeration query (no instance name) and an address with no domain reach the
    provider: the rule cannot say they are outside the domains."""
    provider = Counting(("example.test",))
    guid = serve(provider)
    nspv2.lookup(None, provider_id=guid)
    nspv2.lookup("alice@", provider_id=guid)
    assert provider.calls == [None, "alice@"]


def test_email_addresses_match_by_their_domain(serve: Any) -> None:
    """An NS_EMAIL provider is asked for addresses of its domains only (the part after '@'),
    even when Winsock routes every name to it (a wildcard installation)."""
    provider = Counting(("corp.example",))
    provider.namespace = nspv2.NS_EMAIL  # type: ignore[misc]
    guid = serve(provider, nspv2.NS_EMAIL, blob=InstallationBlob(wildcard=True).pack())
    nspv2.lookup("alice@corp.example", namespace=nspv2.NS_EMAIL, provider_id=guid)
    for outside in ("alice@badcorp.example", "corp.example@evil.test"):
        with pytest.raises(nspv2.WinsockError):
            nspv2.lookup(outside, namespace=nspv2.NS_EMAIL, provider_id=guid)
    assert provider.calls == ["alice@corp.example"]


def test_set_service_is_not_filtered(serve: Any) -> None:
    """SetServiceEx reaches set_service whatever the name: registering a name is how a provider
    may come to serve it, and it is not on every lookup's path."""
    provider = Counting(("example.test",))
    guid = serve(provider)
    nspv2.set_service(
        nspv2.QuerySet(instance_name="new.other.test", namespace=nspv2.NS_DNS, provider_id=guid)
    )
    assert provider.set_calls == ["new.other.test"]


def test_domains_follow_readvertising(provider_id: uuid.UUID) -> None:
    """Advertising again with other domains declines by the new ones; withdrawing clears them."""
    catalog.install(provider_id, "readvertised", int(nspv2.NS_DNS))
    try:
        provider = Counting(("a.test",))
        with nspv2.advertise(provider, provider_id):
            nspv2.lookup("x.a.test", provider_id=provider_id)
        provider.domains = ("b.test",)
        with nspv2.advertise(provider, provider_id):
            with pytest.raises(nspv2.WinsockError):
                nspv2.lookup("x.a.test", provider_id=provider_id)
            nspv2.lookup("x.b.test", provider_id=provider_id)
        assert provider.calls == ["x.a.test", "x.b.test"]
        assert c_served(_runtime.bridge, provider_id, "x.a.test")  # withdrawn: no table entry
    finally:
        catalog.uninstall(provider_id)


def test_advertise_refuses_bad_domains(provider_id: uuid.UUID) -> None:
    """A provider whose domains are not domain names is refused with the reason, not served."""
    catalog.install(provider_id, "bad domains", int(nspv2.NS_DNS))
    try:
        with pytest.raises(TypeError, match=r"Counting\.domains"):
            with nspv2.advertise(Counting("example.test"), provider_id):
                pass
    finally:
        catalog.uninstall(provider_id)


def test_configured_domains(tmp_path: Path) -> None:
    """``domains`` in providers.ini replaces the class's; a bad one is a ConfigError naming the
    file and the fix."""
    module = tmp_path / "configured_domains.py"
    module.write_text(
        "import nspv2\n"
        "class Configured(nspv2.Provider):\n"
        "    domains = ('class.test',)\n"
        "    def lookup(self, query, flags, session):\n"
        "        return None\n"
    )
    guid = uuid.uuid4()
    ini = tmp_path / "providers.ini"
    ini.write_text(
        f"[{{{guid}}}]\nclass = configured_domains:Configured\npath = {tmp_path}\n"
        "domains = Corp.Example, other.test.\n"
    )
    try:
        provider = config.load_provider(guid, str(ini))
        assert domains.declared(provider) == ("corp.example", "other.test")
    finally:
        sys.modules.pop("configured_domains", None)
    ini.write_text(f"[{{{guid}}}]\nclass = configured_domains:Configured\ndomains = a..b\n")
    with pytest.raises(config.ConfigError, match=r"providers\.ini.*domains"):
        config.read_file(ini)


# ---- across processes: the published list, and a held GIL ----


class DomainsHost(Host):
    """tests/domainshost.py serving a provider with domains from another process."""

    def __init__(self, folder: Path, guid: uuid.UUID, served: str, work: Path) -> None:
        self.rundir, self.guid = folder, guid
        self.fifo = work / "hold.fifo"
        if not self.fifo.exists():
            os.mkfifo(self.fifo)
        self.events_file = work / "events.txt"
        self.events_file.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "domainshost.py"), str(guid), served, str(self.fifo),
             str(self.events_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=shared_env(folder),
        )  # fmt: skip
        self.ready()

    def ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"the host did not start (said {line!r})"

    @property
    def domains_path(self) -> Path:
        return self.rundir / f"{{{str(self.guid).upper()}}}.domains"

    def readvertise(self, served: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"domains {served}\n")
        self.process.stdin.flush()
        self.ready()

    def release(self) -> None:
        """Lets a held lookup go (a byte on its FIFO)."""
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)


def test_host_publishes_its_domains(rundir: Path, tmp_path: Path) -> None:  # noqa: F811
    """The host writes {GUID}.domains beside its socket (magic line, one name a line, only the
    user may read it), rewrites it when re-advertised with other domains, and removes it when
    it stops advertising; a provider without domains leaves no file."""
    guid = uuid.uuid4()
    host = DomainsHost(rundir, guid, "Served.TEST.,other.test", tmp_path)
    try:
        assert host.domains_path.read_text() == "nspv2-domains 1\nserved.test\nother.test\n"
        assert stat.S_IMODE(host.domains_path.stat().st_mode) == 0o600
        host.readvertise("b.test")
        assert host.domains_path.read_text() == "nspv2-domains 1\nb.test\n"
        host.readvertise("")
        assert host.socket_path.exists() and not host.domains_path.exists()
        host.readvertise("c.test")
        assert host.domains_path.exists()
    finally:
        host.stop()
    assert not host.domains_path.exists() and not host.socket_path.exists()
    assert not [p for p in rundir.iterdir() if ".domains" in p.name]  # no temporary file left


def test_declined_while_the_host_holds_the_gil(
    rundir: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """While a lookup holds the host's GIL (and its gate), names outside the domains are still
    declined at once in a client session already started: the decline needs neither. (Were it
    to wait for the GIL, the client would get WSATRY_AGAIN after its timeout instead of
    WSASERVICE_NOT_FOUND.)"""
    guid = uuid.uuid4()
    host = DomainsHost(rundir, guid, "served.test", tmp_path)
    catalog.install(guid, "remote domains", int(nspv2.NS_DNS))
    holder: Optional[subprocess.Popen[str]] = None
    session = winsock_session(_native.load())
    session.__enter__()  # this process's session with the host: started (NSPv2Startup) here
    try:
        nspv2.lookup("first.served.test", namespace=nspv2.NS_ALL)
        holder = subprocess.Popen(
            [sys.executable, "-m", "nspv2", "lookup", "hold.served.test", "--namespace",
             "NS_DNS"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=shared_env(rundir),
        )  # fmt: skip
        wait_for(lambda: "holding" in host.events(), "the host to hold its GIL")
        outcome: dict[str, int] = {}

        def declined() -> None:
            try:
                nspv2.lookup("www.elsewhere.test", namespace=nspv2.NS_ALL)
                outcome["code"] = 0
            except nspv2.WinsockError as exc:
                outcome["code"] = exc.code

        asker = threading.Thread(target=declined, daemon=True)
        asker.start()
        asker.join(PATIENCE)
        assert outcome.get("code") == nspv2.WSASERVICE_NOT_FOUND, outcome
        assert "holding" in host.events() and holder.poll() is None  # still held meanwhile
        host.release()
        out, err = holder.communicate(timeout=PATIENCE)
        assert holder.returncode == 0, err
        assert "hold.served.test" in out
        assert "begin www.elsewhere.test" not in host.events()
    finally:
        if holder is not None and holder.poll() is None:
            host.release()
            holder.kill()
            holder.communicate()
        catalog.uninstall(guid)
        session.__exit__(None, None, None)
        host.stop()
