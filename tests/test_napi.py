"""nspv2.napi, the one builder and parser of the NS_EMAIL installation blob: the bytes it writes
read back through the C declarations (nsemail.h's layout, as the stand-in reads them), and what
it accepts and refuses."""

from __future__ import annotations

import uuid

import pytest

import nspv2
from nspv2 import _native, registration
from nspv2.napi import Domain, InstallationBlob

PRIMARY, SECONDARY, NONE = (
    nspv2.ProviderLevel_Primary,
    nspv2.ProviderLevel_Secondary,
    nspv2.ProviderLevel_None,
)


def test_blob_field_by_field() -> None:
    """The blob reads back through the C structures field by field: header, each domain
    description, offsets from the blob start, descriptions 4-byte and names 2-byte aligned,
    cchDomainName without the NUL, names NUL-terminated UTF-16, last next offset 0."""
    ffi = _native.declarations()
    domains = (Domain("corp.example"), Domain("mail.test", SECONDARY), Domain("ü.example", NONE))
    blob = InstallationBlob(domains, wildcard=True).pack()
    data = ffi.from_buffer(blob)
    header = ffi.cast("NAPI_PROVIDER_INSTALLATION_BLOB *", data)
    assert (header.dwVersion, header.dwProviderType, header.fSupportsWildCard) == (1, 1, 1)
    assert (header.cDomains, header.OffsetFirstDomain) == (3, ffi.sizeof(header[0]))
    at = header.OffsetFirstDomain
    for i, domain in enumerate(domains):
        assert at % 4 == 0
        d = ffi.cast("NAPI_DOMAIN_DESCRIPTION_BLOB *", ffi.cast("char *", data) + at)
        name_at, cch = d.OffsetThisDomainName, d.cchDomainName
        assert (d.AuthLevel, cch) == (domain.level, len(domain.name))
        assert name_at % 2 == 0
        assert blob[name_at : name_at + 2 * cch + 2] == domain.name.encode("utf-16-le") + b"\0\0"
        at = d.OffsetNextDomainDescription
        assert (at == 0) == (i == len(domains) - 1)
    assert InstallationBlob.unpack(blob) == InstallationBlob(domains, wildcard=True)


def test_empty_blob_and_other_namespaces() -> None:
    """No domains gives the bare header with cDomains 0 and OffsetFirstDomain 0; a provider
    outside NS_EMAIL installs with no blob."""
    ffi = _native.declarations()
    blob = InstallationBlob().pack()
    assert len(blob) == ffi.sizeof("NAPI_PROVIDER_INSTALLATION_BLOB")
    assert InstallationBlob.unpack(blob) == InstallationBlob()
    spec = registration.ProviderSpec(
        uuid.uuid4(), "x", int(nspv2.NS_DNS), domains=(Domain("a.b"),), wildcard=True
    )
    assert spec.blob() == b""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("corp.test", Domain("corp.test", PRIMARY)),
        ("corp.test:primary", Domain("corp.test", PRIMARY)),
        ("corp.test:Secondary", Domain("corp.test", SECONDARY)),
        ("corp.test:none", Domain("corp.test", NONE)),
    ],
)
def test_domain_text(text: str, expected: Domain) -> None:
    """`--domain` and a class's `domains` read NAME or NAME:LEVEL, primary by default."""
    assert Domain.parse(text) == expected
    assert Domain.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "corp.test:tertiary", "alice@corp.test", "a\0b", ":primary"])
def test_bad_domain_text(text: str) -> None:
    """A domain that is empty, has an unknown level, an '@' (Winsock matches what follows a
    name's '@' against it) or a NUL is refused with a message, not written."""
    with pytest.raises(ValueError, match="domain"):
        InstallationBlob.of([text])


def test_class_attributes() -> None:
    """A provider class's `domains`, `wildcard` and `auth_level` (the level of domains named
    without one) make its blob."""

    class Directory(nspv2.Provider):
        provider_id = uuid.uuid4()
        namespace = nspv2.NS_EMAIL
        domains = ("corp.test", "backup.test:primary")
        wildcard = True
        auth_level = SECONDARY

        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            return []

    spec = registration.spec_from_class(Directory)
    assert InstallationBlob.unpack(spec.blob()) == InstallationBlob(
        (Domain("corp.test", SECONDARY), Domain("backup.test", PRIMARY)), wildcard=True
    )
