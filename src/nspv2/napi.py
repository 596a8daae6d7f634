"""The NS_EMAIL installation blob: nsemail.h's NAPI_PROVIDER_INSTALLATION_BLOB and the
NAPI_DOMAIN_DESCRIPTION_BLOBs after it, which an NS_EMAIL provider gives WSCInstallNameSpaceEx
and from which Winsock learns the domains to route to it (and at what level), and whether it
takes names of any domain (``fSupportsWildCard``).

This is nspv2's one builder and parser of it; the structures' layout is read from ws2decls.h
through cffi, not restated here. As the NAPI_PROVIDER_INSTALLATION_BLOB and
NAPI_DOMAIN_DESCRIPTION_BLOB pages lay it out: every offset counts from the start of the blob;
descriptions start on 4-byte boundaries, names on 2-byte ones; ``cchDomainName`` counts UTF-16
units without the NUL. :meth:`InstallationBlob.pack` writes the header, then each description
directly followed by its NUL-terminated name, padded to 4 bytes (the last description's
``OffsetNextDomainDescription`` is 0). :meth:`InstallationBlob.unpack` follows the offsets and
refuses what the stand-in's WSCInstallNameSpaceEx refuses (csrc/winsock/napi.c, which says why
``dwVersion``, ``dwProviderType`` and the last description's next offset are taken as they are:
Microsoft's NSPv2 sample writes other values there).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Dict, Iterable, List, Tuple, Union

from . import _native
from ._constants import NAPI_CURRENT_VERSION, NapiProviderType, ProviderLevel
from ._marshal import _struct_format

HEADER = "NAPI_PROVIDER_INSTALLATION_BLOB"
DESCRIPTION = "NAPI_DOMAIN_DESCRIPTION_BLOB"

#: The level names ``--domain NAME:LEVEL`` and ``Domain.parse`` take.
LEVELS = {
    "primary": ProviderLevel.ProviderLevel_Primary,
    "secondary": ProviderLevel.ProviderLevel_Secondary,
    "none": ProviderLevel.ProviderLevel_None,
}


@dataclass(frozen=True)
class _Layout:
    packer: struct.Struct
    fields: Tuple[str, ...]

    def pack(self, values: Dict[str, int]) -> bytes:
        return self.packer.pack(*(values[name] for name in self.fields))

    def unpack(self, data: bytes, at: int) -> Dict[str, int]:
        return dict(zip(self.fields, self.packer.unpack_from(data, at)))


@functools.cache
def _layout(name: str) -> _Layout:
    ffi = _native.declarations()
    return _Layout(_struct_format(ffi, name), tuple(f for f, _ in ffi.typeof(name).fields))


@dataclass(frozen=True)
class Domain:
    """One NAPI_DOMAIN_DESCRIPTION_BLOB: a domain and the provider's authority for it."""

    name: str
    level: ProviderLevel = ProviderLevel.ProviderLevel_Primary

    @classmethod
    def parse(
        cls, text: str, default: ProviderLevel = ProviderLevel.ProviderLevel_Primary
    ) -> Domain:
        """``corp.example`` (at level ``default``) or ``corp.example:secondary`` (also
        ``:primary``, ``:none``)."""
        name, sep, level = text.rpartition(":")
        if not sep:
            return cls.of(text, default)
        if level.lower() not in LEVELS:
            raise ValueError(
                f"domain {text!r}: the level after ':' is one of {', '.join(LEVELS)}, not {level!r}"
            )
        return cls.of(name, LEVELS[level.lower()])

    @classmethod
    def of(cls, name: str, level: ProviderLevel = ProviderLevel.ProviderLevel_Primary) -> Domain:
        """A checked domain: a non-empty name with no NUL and no '@' (Winsock matches the part of
        an address after its '@' against it)."""
        if not isinstance(name, str) or not name or "\0" in name or "@" in name:
            raise ValueError(f"bad NS_EMAIL domain {name!r}: give a name like corp.example")
        return cls(name, ProviderLevel(level))

    def __str__(self) -> str:
        return f"{self.name}:{self.level.name.split('_', 1)[1].lower()}"


DomainLike = Union[str, Domain]


@dataclass(frozen=True)
class InstallationBlob:
    """A NAPI_PROVIDER_INSTALLATION_BLOB and its domains."""

    domains: Tuple[Domain, ...] = ()
    wildcard: bool = False
    provider_type: int = NapiProviderType.ProviderType_Application
    #: The provider's own version number (the page: "specific to the namespace provider").
    version: int = NAPI_CURRENT_VERSION

    @classmethod
    def of(
        cls,
        domains: Union[DomainLike, Iterable[DomainLike]] = (),
        wildcard: bool = False,
        level: ProviderLevel = ProviderLevel.ProviderLevel_Primary,
    ) -> InstallationBlob:
        """From domains given as :class:`Domain` or as text (:meth:`Domain.parse`, ``level``
        for those named without one); a single string is one domain."""
        if isinstance(domains, (str, Domain)):
            domains = (domains,)
        parsed = tuple(d if isinstance(d, Domain) else Domain.parse(str(d), level) for d in domains)
        return cls(parsed, bool(wildcard))

    def pack(self) -> bytes:
        """The blob's bytes, as WSCInstallNameSpaceEx takes them (``provider_specific``)."""
        header, description = _layout(HEADER), _layout(DESCRIPTION)
        parts: List[bytes] = []
        at = header.packer.size
        for i, domain in enumerate(self.domains):
            Domain.of(domain.name, domain.level)  # checked again: the dataclass is public
            units = domain.name.encode("utf-16-le", "surrogatepass")
            name = units + b"\0\0" + b"\0" * (-(len(units) + 2) % 4)
            name_at = at + description.packer.size
            last = i + 1 == len(self.domains)
            fields = {
                "AuthLevel": int(domain.level),
                "cchDomainName": len(units) // 2,
                "OffsetNextDomainDescription": 0 if last else name_at + len(name),
                "OffsetThisDomainName": name_at,
            }
            parts.append(description.pack(fields) + name)
            at = name_at + len(name)
        fields = {
            "dwVersion": self.version,
            "dwProviderType": self.provider_type,
            "fSupportsWildCard": int(self.wildcard),
            "cDomains": len(self.domains),
            "OffsetFirstDomain": header.packer.size if self.domains else 0,
        }
        return header.pack(fields) + b"".join(parts)

    @classmethod
    def unpack(cls, data: bytes) -> InstallationBlob:
        """The blob's fields, following its offsets; ValueError saying what is wrong with a blob
        Winsock would refuse (the rules of csrc/winsock/napi.c)."""
        header, description = _layout(HEADER), _layout(DESCRIPTION)
        if len(data) < header.packer.size:
            raise ValueError(f"{len(data)} bytes, less than the {header.packer.size}-byte header")
        fields = header.unpack(data, 0)
        count, at = fields["cDomains"], fields["OffsetFirstDomain"]
        if count > (len(data) - header.packer.size) // description.packer.size:
            raise ValueError(f"cDomains {count} does not fit in {len(data)} bytes")
        domains = []
        for _ in range(count):
            if at % 4 or at < header.packer.size or at > len(data) - description.packer.size:
                raise ValueError(f"a domain description at offset {at} (misaligned or outside)")
            d = description.unpack(data, at)
            name_at, cch = d["OffsetThisDomainName"], d["cchDomainName"]
            if d["AuthLevel"] not in {int(level) for level in ProviderLevel}:
                raise ValueError(f"AuthLevel {d['AuthLevel']} at offset {at}")
            if cch == 0 or name_at % 2 or name_at > len(data) or cch > (len(data) - name_at) // 2:
                raise ValueError(f"domain name at offset {name_at} ({cch} units) outside the blob")
            name = data[name_at : name_at + 2 * cch].decode("utf-16-le", "surrogatepass")
            if "\0" in name:
                raise ValueError(f"domain name at offset {name_at} has a NUL")
            domains.append(Domain(name, ProviderLevel(d["AuthLevel"])))
            at = d["OffsetNextDomainDescription"]
        return cls(
            tuple(domains),
            bool(fields["fSupportsWildCard"]),
            fields["dwProviderType"],
            fields["dwVersion"],
        )

    def describe(self) -> str:
        """``domains: example.test:primary, corp.example:secondary; wildcard``, as ``nspv2
        install`` and ``nspv2 list`` show it."""
        text = "domains: " + (", ".join(str(d) for d in self.domains) or "none")
        return text + ("; wildcard" if self.wildcard else "")
