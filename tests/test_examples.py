"""The examples shipped in nspv2.examples, each served in the stand-in and asked as a Winsock
client would, through the nspv2 pytest plugin's fixtures (nspv2_serve, nspv2_lookup)."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import dns.message
import dns.query
import dns.rdatatype
import pytest
from prerequisites import tool
from test_concurrency import next_in_thread, raw_begin

import nspv2
from nspv2 import check
from nspv2._native import Native
from nspv2.examples.email_directory import EmailDirectory
from nspv2.examples.forwarder import ForwardingProvider
from nspv2.examples.slow_backend import Backend, SlowDirectory
from nspv2.examples.toml_zone import TomlZoneProvider, parse_zone

# How long a test waits for something it is told will happen (a deadline, not a measurement).
DEADLINE = 30.0

ZONE = """
[hosts."www.zone.test"]
addresses = ["192.0.2.10", "2001:db8::10"]
comment = "the web server"

[hosts."ftp.zone.test"]
alias_of = "www.zone.test"
"""


def code_of(call: Any, *args: Any, **kwargs: Any) -> int:
    """The Winsock code ``call`` fails with (the test fails if it succeeds)."""
    with pytest.raises(nspv2.WinsockError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# -- the TOML zone ------------------------------------------------------------------------------


def test_toml_zone_answers_from_its_file(
    tmp_path: Path, nspv2_serve: Any, nspv2_lookup: Any
) -> None:
    """The TOML zone answers a host with its addresses and comment, an alias with the alias
    result and its target, and an unknown name with WSASERVICE_NOT_FOUND."""
    zone = tmp_path / "zone.toml"
    zone.write_text(ZONE)
    nspv2_serve(TomlZoneProvider(zone))
    [www] = nspv2_lookup("www.zone.test")
    assert www.comment == "the web server"
    assert [a.remote for a in www.addresses] == [("192.0.2.10", 0), ("2001:db8::10", 0, 0, 0)]
    alias, target = nspv2_lookup(
        "ftp.zone.test", flags=nspv2.LUP_RETURN_ALL | nspv2.LUP_RETURN_ALIASES
    )
    assert alias.output_flags & nspv2.RESULT_IS_ALIAS and alias.comment == "www.zone.test"
    assert target.instance_name == "www.zone.test"
    assert code_of(nspv2_lookup, "mail.zone.test") == nspv2.WSASERVICE_NOT_FOUND


def test_toml_zone_reloads_when_the_file_changes(
    tmp_path: Path, nspv2_serve: Any, nspv2_lookup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An edit of the zone file is answered by the next lookup (the file's stat is compared on
    every lookup), and a file that stops parsing leaves the last good zone answering, logged
    once naming the file."""
    zone = tmp_path / "zone.toml"
    zone.write_text(ZONE)
    provider = TomlZoneProvider(zone)
    nspv2_serve(provider)
    assert nspv2_lookup("www.zone.test")[0].addresses[0].remote == ("192.0.2.10", 0)

    replacement = tmp_path / "zone.toml.new"
    replacement.write_text(
        ZONE.replace("192.0.2.10", "198.51.100.77")
        + '[hosts."new.zone.test"]\naddresses = ["192.0.2.99"]\n'
    )
    os.replace(replacement, zone)  # as editors save: a new file in its place
    assert nspv2_lookup("www.zone.test")[0].addresses[0].remote == ("198.51.100.77", 0)
    assert nspv2_lookup("new.zone.test")[0].addresses[0].remote == ("192.0.2.99", 0)
    assert provider.reloads == 2

    zone.write_text("[hosts\nbroken")
    with caplog.at_level(logging.ERROR, logger="nspv2.examples.toml_zone"):
        for _ in range(3):
            assert nspv2_lookup("new.zone.test")[0].addresses[0].remote == ("192.0.2.99", 0)
    assert provider.reloads == 2
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [str(zone)]  # said once


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hosts", "not valid TOML"),
        ('hosts = "x"', "`hosts` must be a table"),
        ('[hosts."a.zone.test"]\naddresses = ["300.1.1.1"]', "hosts.'a.zone.test'"),
        ('[hosts."a.zone.test"]\nport = 1', "unknown keys ['port']"),
        ('[hosts."a.zone.test"]\nalias_of = "b"\naddresses = ["192.0.2.1"]', "an alias has no"),
    ],
)
def test_toml_zone_bad_files_name_the_entry(text: str, message: str) -> None:
    """A malformed zone file is refused with the file and the entry at fault in the message."""
    with pytest.raises(ValueError, match=r"^zone\.toml: ") as caught:
        parse_zone(text, "zone.toml")
    assert message in str(caught.value)


def test_toml_zone_default_file_is_shipped() -> None:
    """The zone served when none is named is installed with the package and parses."""
    provider = TomlZoneProvider()
    assert "www.zone.test" in provider.hosts


# -- the DNS forwarder --------------------------------------------------------------------------

HOSTS = {"www.corp.test": ("192.0.2.10", "2001:db8::10"), "v4only.corp.test": ("192.0.2.11",)}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_dns(port: int) -> None:
    """Polls the server until it answers (or fails the test after DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    query = dns.message.make_query("www.corp.test", dns.rdatatype.A)
    while True:
        try:
            dns.query.udp(query, "127.0.0.1", port=port, timeout=1)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def dnsmasq(port: int, tmp_path: Path) -> Iterator[None]:
    """dnsmasq on 127.0.0.1:port, no root, answering HOSTS and NXDOMAIN for the rest of
    corp.test (the way tools/bench starts it)."""
    records = [f"--host-record={name},{','.join(addrs)}" for name, addrs in HOSTS.items()]
    server = subprocess.Popen(
        [
            tool("dnsmasq"),
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--local=/corp.test/",
            *records,
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            f"--port={port}",
            "--pid-file=",
            f"--user={pwd.getpwuid(os.getuid()).pw_name}",
            "--log-facility=/dev/null",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_dns(port)
        yield
    finally:
        server.terminate()
        server.communicate(timeout=DEADLINE)


@contextlib.contextmanager
def dnslib_server(port: int) -> Iterator[None]:
    """A dnslib server answering like the dnsmasq above (for machines without dnsmasq)."""
    from dnslib import AAAA, QTYPE, RCODE, RR, A
    from dnslib.server import BaseResolver, DNSServer

    class Resolver(BaseResolver):  # type: ignore[misc]
        def resolve(self, request: Any, handler: Any) -> Any:
            reply = request.reply()
            name = str(request.q.qname).rstrip(".").lower()
            if name not in HOSTS:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for address in HOSTS[name]:
                v6 = ":" in address
                if request.q.qtype == (QTYPE.AAAA if v6 else QTYPE.A):
                    data = AAAA(address) if v6 else A(address)
                    reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=data, ttl=60))
            return reply

    server = DNSServer(Resolver(), port=port, address="127.0.0.1")
    server.start_thread()
    try:
        wait_for_dns(port)
        yield
    finally:
        server.stop()


@pytest.fixture(params=["dnsmasq", "dnslib"])
def dns_server(request: Any, tmp_path: Path) -> Iterator[Tuple[str, int]]:
    """A real DNS server on a free loopback port: dnsmasq (skipped naming its install command
    where it is missing, failed under CI=true), and dnslib, which the test extra installs."""
    port = free_udp_port()
    if request.param == "dnsmasq":
        tool("dnsmasq")
        server = dnsmasq(port, tmp_path)
    else:
        server = dnslib_server(port)
    with server:
        yield ("127.0.0.1", port)


def test_forwarder_answers_its_suffix_from_a_dns_server(
    dns_server: Tuple[str, int], nspv2_serve: Any, nspv2_lookup: Any
) -> None:
    """The forwarder answers a name under its domain with the A and AAAA records a real DNS
    server on loopback gives, and a name the server does not know with WSAHOST_NOT_FOUND."""
    nspv2_serve(ForwardingProvider(server=dns_server))
    [www] = nspv2_lookup("www.corp.test")
    assert sorted(a.remote for a in www.addresses) == [
        ("192.0.2.10", 0),
        ("2001:db8::10", 0, 0, 0),
    ]
    [v4] = nspv2_lookup("v4only.corp.test")
    assert [a.remote for a in v4.addresses] == [("192.0.2.11", 0)]
    assert code_of(nspv2_lookup, "nobody.corp.test") == nspv2.WSAHOST_NOT_FOUND


def test_forwarder_declines_other_names_and_reports_a_dead_server(
    nspv2_serve: Any, nspv2_lookup: Any
) -> None:
    """A name outside the forwarder's domains is WSASERVICE_NOT_FOUND without asking anyone,
    and a server that does not answer is WSATRY_AGAIN."""
    nspv2_serve(ForwardingProvider(server=("127.0.0.1", free_udp_port()), timeout=0.5))
    assert code_of(nspv2_lookup, "www.example.org") == nspv2.WSASERVICE_NOT_FOUND
    assert code_of(nspv2_lookup, "www.corp.test") == nspv2.WSATRY_AGAIN


# -- the async provider and its slow back end ---------------------------------------------------


def test_slow_backend_answers_after_its_wait(nspv2_serve: Any, nspv2_lookup: Any) -> None:
    """The async provider answers once its back end has answered, and declines unknown users."""
    nspv2_serve(SlowDirectory(Backend({"alice": "Alice Example"}, delay=0.01)))
    [alice] = nspv2_lookup("alice@slow.test")
    assert alice.comment == "Alice Example"
    assert code_of(nspv2_lookup, "bob@slow.test") == nspv2.WSASERVICE_NOT_FOUND


def test_slow_backend_cancelled_when_the_client_ends_the_lookup(
    nspv2_serve: Any, nspv2_lookup: Any
) -> None:
    """A client ending the lookup while the provider awaits its back end gets WSA_E_CANCELLED
    on its waiting WSALookupServiceNext, and the provider's await raises CancelledError."""
    provider = SlowDirectory(Backend({"alice": "Alice Example"}, delay=3600))
    nspv2_serve(provider)
    native: Native = nspv2_lookup.raw
    ffi = native.ffi
    assert native.winsock.WSAStartup(0x0202, ffi.new("WSADATA *")) == 0
    try:
        handle = raw_begin(native, "alice@slow.test", nspv2.NS_EMAIL)
        outcome, client = next_in_thread(native, handle)
        assert provider.waiting.wait(DEADLINE), "the provider never started waiting"
        assert native.winsock.WSALookupServiceEnd(handle) == 0
        client.join(DEADLINE)
        assert outcome == [nspv2.WSA_E_CANCELLED]
        assert provider.cancelled.wait(DEADLINE), "the cancellation never reached the provider"
        assert provider.cancellations == 1
    finally:
        native.winsock.WSACleanup()


# -- the NS_EMAIL directory: SetServiceEx registers, lookups find ------------------------------


def test_email_directory_registers_finds_and_deletes(nspv2_serve: Any, nspv2_lookup: Any) -> None:
    """WSASetService(RNRSERVICE_REGISTER) makes a name answer lookups with what was registered,
    registering again replaces it, and RNRSERVICE_DELETE makes it WSASERVICE_NOT_FOUND again."""
    guid = nspv2_serve(EmailDirectory())
    name = "carol@mail.test"
    assert code_of(nspv2_lookup, name) == nspv2.WSASERVICE_NOT_FOUND

    entry = nspv2.QuerySet(
        instance_name=name,
        namespace=nspv2.NS_EMAIL,
        comment="Carol",
        addresses=(nspv2.CsAddr(remote=("192.0.2.25", 25)),),
    )
    nspv2.set_service(entry, nspv2.RNRSERVICE_REGISTER)
    [carol] = nspv2_lookup(name)
    assert (carol.comment, carol.addresses[0].remote, carol.provider_id) == (
        "Carol",
        ("192.0.2.25", 25),
        guid,
    )
    nspv2.set_service(entry.replace(comment="Carol C."), nspv2.RNRSERVICE_REGISTER)
    assert nspv2_lookup(name)[0].comment == "Carol C."

    nspv2.set_service(entry, nspv2.RNRSERVICE_DELETE)
    assert code_of(nspv2_lookup, name) == nspv2.WSASERVICE_NOT_FOUND
    assert (
        code_of(nspv2.set_service, entry, nspv2.RNRSERVICE_DEREGISTER) == nspv2.WSASERVICE_NOT_FOUND
    )


def test_email_directory_refuses_names_it_does_not_serve(nspv2_serve: Any) -> None:
    """A registration that is no address of the directory's domain is refused with WSAEINVAL,
    and one in a domain nobody serves never reaches it (WSASERVICE_NOT_FOUND)."""
    guid = nspv2_serve(EmailDirectory())
    nameless = nspv2.QuerySet(
        instance_name="@mail.test", namespace=nspv2.NS_EMAIL, provider_id=guid
    )
    assert code_of(nspv2.set_service, nameless) == nspv2.WSAEINVAL
    assert (
        code_of(
            nspv2.set_service,
            nspv2.QuerySet(instance_name="dave@other.test", namespace=nspv2.NS_EMAIL),
        )
        == nspv2.WSASERVICE_NOT_FOUND
    )


# -- every example passes nspv2 check ------------------------------------------------------------


def assert_conforms(provider: nspv2.Provider, names: List[str]) -> None:
    findings = check.Checker(provider, names, slow_ms=1000.0).run()
    failed = [f for f in findings if f.level == "fail"]
    assert not failed, "\n".join(check.report(findings))
    assert check.exit_status(findings, strict=False) == 0


@pytest.mark.parametrize(
    ("provider", "names"),
    [
        (TomlZoneProvider(), ["www.zone.test", "ftp.zone.test"]),
        (SlowDirectory(Backend({"alice": "Alice Example"}, delay=0.01)), ["alice@slow.test"]),
        (EmailDirectory(), []),
    ],
    ids=["toml_zone", "slow_backend", "email_directory"],
)
def test_examples_pass_nspv2_check(provider: nspv2.Provider, names: List[str]) -> None:
    """Each example passes nspv2 check's conformance suite with no failure (what an author's
    provider copied from it starts from)."""
    assert_conforms(provider, names)


def test_forwarder_passes_nspv2_check(dns_server: Tuple[str, int]) -> None:
    """The forwarder, asking a real DNS server, passes nspv2 check with no failure."""
    assert_conforms(ForwardingProvider(server=dns_server), ["www.corp.test"])
