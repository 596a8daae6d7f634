"""The rules of the real ws2_32 the Winsock stand-in applies, one test per rule, each naming the
public page it comes from: the NSPV2_ROUTINE version Microsoft's NSPv2 sample advertises, NS_EMAIL
routing by each provider's installation blob, the documented error codes, the required service
class, and installing as the sample does.

Sources, by the names the tests use:
- SAMPLE: Microsoft's NSPv2 SDK sample, Windows-classic-samples
  Samples/Win7Samples/netds/winsock/namingapi/Provider (SampleProvider.c, Install.c).
- NAPI pages: under learn.microsoft.com/windows/win32/api/nsemail/,
  ns-nsemail-napi_provider_installation_blob, ns-nsemail-napi_domain_description_blob and
  ne-nsemail-napi_provider_level.
- Each function's page: learn.microsoft.com/windows/win32/api/ws2spi/nf-ws2spi-<function> and
  learn.microsoft.com/windows/win32/api/winsock2/nf-winsock2-wsalookupservicebeginw.
- Wine's conformance test of WSALookupServiceBeginW: wine dlls/ws2_32/tests/protocol.c,
  test_WSALookupService.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any, Callable, Iterator, List

import pytest

import nspv2
from nspv2 import QuerySet, WinsockError, catalog
from nspv2._marshal import Marshal
from nspv2._native import Native
from nspv2.napi import Domain, InstallationBlob


class Mail(nspv2.Provider):
    """An NS_EMAIL provider that records that it was asked and answers with its label as the
    comment, or cannot resolve the name (``answers=False``: WSASERVICE_NOT_FOUND from Begin;
    ``empty=True``: a lookup with no result)."""

    namespace = nspv2.NS_EMAIL

    def __init__(self, label: str, asked: List[str], *, answers: bool = True, empty: bool = False):
        self.label, self.asked, self.answers, self.empty = label, asked, answers, empty

    def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
        self.asked.append(self.label)
        if self.empty:
            return []
        if not self.answers:
            raise WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        return QuerySet(instance_name=query.instance_name, comment=self.label)


MailServer = Callable[..., uuid.UUID]


@pytest.fixture
def asked() -> List[str]:
    """The labels of the Mail providers asked, in the order they were asked."""
    return []


@pytest.fixture
def mail(serve: Any, asked: List[str]) -> MailServer:
    """``mail(label, *domains, wildcard=False, answers=True, empty=False)``: installs (in catalog
    order of the calls) and advertises a Mail provider with that installation blob."""

    def start(label: str, *domains: str, wildcard: bool = False, **behaviour: bool) -> uuid.UUID:
        blob = InstallationBlob.of(domains, wildcard).pack()
        guid: uuid.UUID = serve(
            Mail(label, asked, **behaviour), nspv2.NS_EMAIL, guid=uuid.uuid4(), blob=blob
        )
        return guid

    return start


def comments(name: str, flags: int = nspv2.LUP_RETURN_ALL, **restrictions: Any) -> List[str]:
    """The labels of the providers whose results an NS_EMAIL lookup of ``name`` returns."""
    results = nspv2.lookup(name, nspv2.NS_EMAIL, flags=flags, **restrictions)
    return [r.comment or "" for r in results]


@pytest.fixture
def installed(provider_id: uuid.UUID) -> Iterator[uuid.UUID]:
    """The test's GUID installed in the catalog (NS_DNS), not advertised."""
    catalog.install(provider_id, "rules test", nspv2.NS_DNS)
    yield provider_id
    catalog.uninstall(provider_id)


# -- 1. the NSPV2_ROUTINE version ----------------------------------------------------------------


def routine_of(native: Native, provider_id: uuid.UUID) -> Any:
    """NSPv2GetRoutine's table for a provider registered in this process."""
    native.provider  # noqa: B018 - loads the library (and attaches the runtime) first
    nspv2._runtime.register(Mail("x", []), provider_id)
    routine = native.ffi.new("NSPV2_ROUTINE *")
    assert native.provider.NSPv2GetRoutine(native.guid(provider_id), routine) == 0
    return routine


def test_routine_table_is_version_1_0(native: Native, provider_id: uuid.UUID) -> None:
    """NSPv2GetRoutine fills cbSize = sizeof and version 1.0, what SAMPLE (SampleProvider.c)
    advertises."""
    try:
        routine = routine_of(native, provider_id)
        assert routine.cbSize == native.ffi.sizeof("NSPV2_ROUTINE")
        assert (routine.dwMajorVersion, routine.dwMinorVersion) == (1, 0)
    finally:
        nspv2._runtime.unregister(provider_id)


@pytest.mark.parametrize(
    ("major", "minor", "error"),
    [(1, 0, 0), (1, 7, 0), (2, 0, nspv2.WSAEINVAL), (0, 0, nspv2.WSAEINVAL)],
    ids=["1.0", "1.7", "2.0", "0.0"],
)
def test_advertise_takes_version_1_only(
    native: Native, installed: uuid.UUID, major: int, minor: int, error: int
) -> None:
    """WSAAdvertiseProvider takes the 1.x table SAMPLE advertises and refuses a major version no
    page describes with WSAEINVAL (WSAAdvertiseProvider's page: an invalid table)."""
    ws, guid = native.winsock, native.guid(installed)
    ws.WSAStartup(0x0202, native.ffi.new("WSADATA *"))
    try:
        routine = routine_of(native, installed)
        routine.dwMajorVersion, routine.dwMinorVersion = major, minor
        rc = ws.WSAAdvertiseProvider(guid, routine)
        assert (rc, ws.WSAGetLastError() if rc else 0) == ((-1, error) if error else (0, 0))
        if rc == 0:
            assert ws.WSAUnadvertiseProvider(guid) == 0
    finally:
        nspv2._runtime.unregister(installed)
        ws.WSACleanup()


# -- 2. NS_EMAIL routing by each provider's installation blob ------------------------------------


def test_primary_answers_alone(mail: MailServer, asked: List[str]) -> None:
    """An authoritative query (the default) stops at the domain's primary provider when it
    resolves the name (NAPI pages)."""
    mail("wildcard", wildcard=True)
    mail("secondary", "corp.test:secondary")
    mail("primary", "corp.test")
    assert comments("alice@corp.test") == ["primary"]
    assert asked == ["primary"]


def test_fallback_order_when_nobody_resolves_until_the_last(
    mail: MailServer, asked: List[str]
) -> None:
    """Primary, then the secondaries in catalog order, then the wildcard providers in catalog
    order, each asked only when those before could not resolve the name (NAPI pages)."""
    mail("wildcard 1", wildcard=True, answers=False)
    mail("secondary 1", "corp.test:secondary", answers=False)
    mail("primary", "corp.test", answers=False)
    mail("wildcard 2", wildcard=True)
    mail("secondary 2", "corp.test:secondary", empty=True)
    mail("wildcard 3", wildcard=True)
    assert comments("alice@corp.test") == ["wildcard 2"]
    assert asked == ["primary", "secondary 1", "secondary 2", "wildcard 1", "wildcard 2"]


def test_a_provider_with_no_result_has_not_resolved(mail: MailServer, asked: List[str]) -> None:
    """A primary whose lookup succeeds with no result could not resolve the name: the secondary
    is asked next (NAPI pages: "unable to resolve")."""
    mail("primary", "corp.test", empty=True)
    mail("secondary", "corp.test:secondary")
    assert comments("alice@corp.test") == ["secondary"]
    assert asked == ["primary", "secondary"]


def test_unavailable_primary_is_passed_over(
    mail: MailServer, asked: List[str], provider_id: uuid.UUID
) -> None:
    """A primary that is installed but not advertised is unavailable: the secondary answers
    (NAPI pages)."""
    primary = InstallationBlob.of(["corp.test"]).pack()
    catalog.install(provider_id, "absent", nspv2.NS_EMAIL, provider_specific=primary)
    try:
        mail("secondary", "corp.test:secondary")
        assert comments("alice@corp.test") == ["secondary"]
    finally:
        catalog.uninstall(provider_id)


def test_non_authoritative_asks_everyone_in_order(mail: MailServer, asked: List[str]) -> None:
    """LUP_NON_AUTHORITATIVE asks the primary, every secondary and every wildcard provider, in
    that order, and returns all their results (NAPI pages)."""
    mail("wildcard", wildcard=True)
    mail("secondary", "corp.test:secondary")
    mail("primary", "corp.test")
    flags = nspv2.LUP_RETURN_ALL | nspv2.LUP_NON_AUTHORITATIVE
    assert comments("alice@corp.test", flags) == ["primary", "secondary", "wildcard"]
    assert asked == ["primary", "secondary", "wildcard"]


def test_no_claim_no_call(mail: MailServer, asked: List[str]) -> None:
    """A provider with no claim on the domain (another domain, or ProviderLevel_None) and no
    wildcard is never asked, not even when named by lpNSProviderId (NAPI pages)."""
    other = mail("other", "elsewhere.test", "corp.test:none")
    mail("primary", "corp.test")
    flags = nspv2.LUP_RETURN_ALL | nspv2.LUP_NON_AUTHORITATIVE
    assert comments("alice@corp.test", flags) == ["primary"]
    with pytest.raises(WinsockError) as info:
        nspv2.lookup("alice@corp.test", nspv2.NS_EMAIL, provider_id=other)
    assert info.value.code == nspv2.WSASERVICE_NOT_FOUND
    assert "other" not in asked


def test_only_the_first_primary_claim_counts(mail: MailServer, asked: List[str]) -> None:
    """Of two providers claiming to be a domain's primary, the first in the catalog is; the other
    claim is ignored (NAPI_PROVIDER_LEVEL page)."""
    mail("first", "corp.test")
    mail("second", "corp.test")
    flags = nspv2.LUP_RETURN_ALL | nspv2.LUP_NON_AUTHORITATIVE
    assert comments("alice@corp.test", flags) == ["first"]
    assert asked == ["first"]


def test_domain_is_what_follows_the_at(mail: MailServer, asked: List[str]) -> None:
    """The domain of a name is what follows its last '@', compared without regard to ASCII case;
    a name with no '@' is in no domain and goes to the wildcard providers only (NAPI pages:
    wildcard providers take names of no domain they registered for)."""
    mail("wildcard", wildcard=True)
    mail("primary", "corp.test")
    flags = nspv2.LUP_RETURN_ALL | nspv2.LUP_NON_AUTHORITATIVE
    assert comments("Alice@CORP.Test", flags) == ["primary", "wildcard"]
    assert comments("a@b@corp.test", flags) == ["primary", "wildcard"]
    assert comments("www.corp.test", flags) == ["wildcard"]
    assert comments("alice@", flags) == ["wildcard"]


def test_no_blob_no_call(serve: Any, asked: List[str]) -> None:
    """An NS_EMAIL provider installed without an installation blob claims no domain and no
    wildcard, so it is never asked (the blob is where the NAPI pages say routing comes from)."""
    guid = serve(Mail("bare", asked), nspv2.NS_EMAIL, blob=b"")
    for name in ("alice@corp.test", "www.corp.test"):
        with pytest.raises(WinsockError) as info:
            nspv2.lookup(name, nspv2.NS_EMAIL, provider_id=guid)
        assert info.value.code == nspv2.WSASERVICE_NOT_FOUND
    assert asked == []


def test_ns_all_routes_email_providers_too(mail: MailServer, asked: List[str]) -> None:
    """Under NS_ALL the NS_EMAIL providers are asked by the same rules (the NAPI pages' order
    applies to every query that reaches them)."""
    mail("other", "elsewhere.test")
    mail("primary", "corp.test")
    results = nspv2.lookup("alice@corp.test", nspv2.NS_ALL)
    assert [r.comment for r in results] == ["primary"] and asked == ["primary"]


def test_registration_follows_the_same_order(serve: Any) -> None:
    """WSASetService reaches the domain's primary and, when it cannot register the name, the
    secondary; a provider with no claim never (NAPI pages: "to resolve or register")."""
    registered: List[str] = []

    class Registry(nspv2.Provider):
        namespace = nspv2.NS_EMAIL

        def __init__(self, label: str, takes: bool) -> None:
            self.label, self.takes = label, takes

        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            return []

        def set_service(self, query, operation, flags, session):  # type: ignore[no-untyped-def]
            registered.append(self.label)
            if not self.takes:
                raise WinsockError(nspv2.WSANO_DATA)

    def blob(*domains: str) -> bytes:
        return InstallationBlob.of(domains).pack()

    serve(Registry("other", True), nspv2.NS_EMAIL, guid=uuid.uuid4(), blob=blob("else.test"))
    serve(
        Registry("secondary", True),
        nspv2.NS_EMAIL,
        guid=uuid.uuid4(),
        blob=blob("c.test:secondary"),
    )
    serve(Registry("primary", False), nspv2.NS_EMAIL, guid=uuid.uuid4(), blob=blob("c.test"))
    nspv2.set_service(QuerySet(instance_name="bob@c.test", namespace=nspv2.NS_EMAIL))
    assert registered == ["primary", "secondary"]


MALFORMED = {
    "short": InstallationBlob.of(["corp.test"]).pack()[:19],
    "misaligned first": struct.pack("<5I", 1, 1, 0, 1, 22) + bytes(40),
    "description outside": struct.pack("<5I", 1, 1, 0, 1, 20) + bytes(12),
    "name outside": struct.pack("<5I4I", 1, 1, 0, 1, 20, 2, 50, 0, 36) + bytes(8),
    "odd name offset": struct.pack("<5I4I", 1, 1, 0, 1, 20, 2, 1, 0, 37) + bytes(4),
    "empty name": struct.pack("<5I4I", 1, 1, 0, 1, 20, 2, 0, 0, 36) + bytes(4),
    "NUL in name": struct.pack("<5I4I", 1, 1, 0, 1, 20, 2, 2, 0, 36) + "a\0".encode("utf-16-le"),
    "bad level": struct.pack("<5I4I", 1, 1, 0, 1, 20, 3, 1, 0, 36) + "a\0".encode("utf-16-le"),
    "too many domains": struct.pack("<5I", 1, 1, 0, 0xFFFFFFFF, 20) + bytes(16),
}


@pytest.mark.parametrize("blob", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_blob_refused_at_install(provider_id: uuid.UUID, blob: bytes) -> None:
    """WSCInstallNameSpaceEx refuses an NS_EMAIL installation blob it cannot walk with WSAEINVAL
    (its page: invalid arguments; layout from the NAPI pages), and nspv2's parser refuses the
    same blob."""
    with pytest.raises(WinsockError) as info:
        catalog.install(provider_id, "bad blob", nspv2.NS_EMAIL, provider_specific=blob)
    assert info.value.code == nspv2.WSAEINVAL
    assert all(e.provider_id != provider_id for e in catalog.entries())
    with pytest.raises(ValueError):
        InstallationBlob.unpack(blob)


def samples_layout(domains: List[str]) -> bytes:
    """A blob laid out as SAMPLE's Install.c lays it out: dwProviderType 0 (its dwReserved),
    every description first, each pointing at the next and the last past them all, then the
    names, packed, without NULs."""
    header = struct.pack("<5I", 1, 0, 0, len(domains), 20)
    names_at = 20 + 16 * len(domains)
    descriptions, names = b"", b""
    for i, name in enumerate(domains):
        descriptions += struct.pack("<4I", 2, len(name), 20 + 16 * (i + 1), names_at + len(names))
        names += name.encode("utf-16-le")
    return header + descriptions + names


def test_samples_own_layout_installs_and_routes(
    provider_id: uuid.UUID, serve: Any, asked: List[str]
) -> None:
    """The blob of SAMPLE (Install.c), the one known to have been installed on Windows, is
    accepted and routes its domains, and nspv2's parser reads it."""
    blob = samples_layout(["sampleprovider.net", "corp.test"])
    assert InstallationBlob.unpack(blob).domains == (
        Domain("sampleprovider.net"),
        Domain("corp.test"),
    )
    serve(Mail("sample", asked), nspv2.NS_EMAIL, blob=blob)
    assert comments("you@corp.test") == ["sample"]


# -- 3. error codes ------------------------------------------------------------------------------


def test_install_of_installed_guid_is_no_recovery(installed: uuid.UUID) -> None:
    """Installing a GUID that is already installed fails with WSANO_RECOVERY
    (WSCInstallNameSpaceEx's page)."""
    with pytest.raises(WinsockError) as info:
        catalog.install(installed, "again", nspv2.NS_DNS)
    assert info.value.code == nspv2.WSANO_RECOVERY


def test_advertise_of_uninstalled_guid_is_invalid_provider(provider_id: uuid.UUID) -> None:
    """Advertising a GUID no catalog entry has fails with WSAEINVALIDPROVIDER
    (WSAAdvertiseProvider's page)."""
    with pytest.raises(WinsockError) as info:
        with nspv2.advertise(Mail("x", []), provider_id):
            pass
    assert info.value.code == nspv2.WSAEINVALIDPROVIDER


def test_complete_null_async_call_is_einval(native: Native) -> None:
    """WSAProviderCompleteAsyncCall(NULL, ...) fails with WSAEINVAL
    (WSAProviderCompleteAsyncCall's page)."""
    ws = native.winsock
    assert ws.WSAProviderCompleteAsyncCall(native.ffi.NULL, 0) == -1
    assert ws.WSAGetLastError() == nspv2.WSAEINVAL


# -- 4 and 5. what WSALookupServiceBeginW refuses ------------------------------------------------


@pytest.fixture
def started(native: Native) -> Iterator[Native]:
    native.winsock.WSAStartup(0x0202, native.ffi.new("WSADATA *"))
    yield native
    native.winsock.WSACleanup()


def begin_error(native: Native, qs: Any) -> int:
    handle = native.ffi.new("HANDLE *")
    assert native.winsock.WSALookupServiceBeginW(qs, nspv2.LUP_RETURN_ALL, handle) == -1
    return int(native.winsock.WSAGetLastError())


def test_dwsize_zero_is_invalid_parameter(started: Native, serve: Any) -> None:
    """A query whose dwSize is 0 fails with ERROR_INVALID_PARAMETER (87), as Wine's conformance
    test of WSALookupServiceBeginW (dlls/ws2_32/tests/protocol.c) records from Windows; another
    wrong size stays WSAEINVAL."""
    guid = serve(Mail("x", []), nspv2.NS_EMAIL)
    qs, keep = Marshal(started.ffi).build(
        QuerySet(instance_name="x", provider_id=guid),
        "WSAQUERYSETW",
        service_class=nspv2.SVCID_HOSTNAME,
    )
    qs.dwSize = 0
    assert begin_error(started, qs) == nspv2.WSA_INVALID_PARAMETER
    qs.dwSize = 7
    assert begin_error(started, qs) == nspv2.WSAEINVAL
    del keep


def test_missing_service_class_is_einval(started: Native, serve: Any) -> None:
    """A query without lpServiceClassId fails with WSAEINVAL: WSALookupServiceBegin's page lists
    it as required; nspv2.lookup passes SVCID_HOSTNAME and is answered."""
    guid = serve(Mail("x", []), nspv2.NS_EMAIL)
    qs, keep = Marshal(started.ffi).build(
        QuerySet(instance_name="x", provider_id=guid), "WSAQUERYSETW"
    )
    assert qs.lpServiceClassId == started.ffi.NULL
    assert begin_error(started, qs) == nspv2.WSAEINVAL
    del keep
    assert comments("x", provider_id=guid) == ["x"]
