"""The Winsock namespace catalog: installing, enabling and listing providers
(WSCInstallNameSpaceEx, WSCUnInstallNameSpace, WSCEnableNSProvider,
WSAEnumNameSpaceProvidersExW)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, List, Optional, Union

from ._constants import NO_ERROR, SOCKET_ERROR, WSAEFAULT
from ._native import load
from .client import winsock_session
from .errors import WinsockError

GuidLike = Union[str, uuid.UUID]


@dataclass(frozen=True)
class CatalogEntry:
    """One WSANAMESPACE_INFOEXW."""

    provider_id: uuid.UUID
    namespace: int
    active: bool
    version: int
    identifier: str
    provider_specific: bytes


def install(
    provider_id: GuidLike,
    identifier: str,
    namespace: int,
    *,
    path: str = "",
    version: int = 1,
    provider_specific: bytes = b"",
) -> None:
    """WSCInstallNameSpaceEx. The defaults are what Microsoft's NSPv2 sample installs with: an
    empty library path (Winsock loads nothing for an NSPv2 provider, which lives in the host that
    advertises it) and version 1. An NS_EMAIL provider's ``provider_specific`` is its
    NAPI_PROVIDER_INSTALLATION_BLOB (:class:`nspv2.napi.InstallationBlob`), without which Winsock
    routes no name to it."""
    native = load()
    ffi = native.ffi
    with winsock_session(native):
        blob: Any = ffi.new("BLOB *")
        data = ffi.new("BYTE[]", provider_specific) if provider_specific else ffi.NULL
        blob.cbSize = len(provider_specific)
        blob.pBlobData = data
        rc = native.winsock.WSCInstallNameSpaceEx(
            native.wstr(identifier),
            native.wstr(path),
            namespace,
            version,
            native.guid(provider_id),
            blob,
        )
        if rc == SOCKET_ERROR:
            raise WinsockError(native.winsock.WSAGetLastError())


def uninstall(provider_id: GuidLike) -> None:
    """WSCUnInstallNameSpace."""
    native = load()
    with winsock_session(native):
        if native.winsock.WSCUnInstallNameSpace(native.guid(provider_id)) == SOCKET_ERROR:
            raise WinsockError(native.winsock.WSAGetLastError())


def enable(provider_id: GuidLike, enabled: bool = True) -> None:
    """WSCEnableNSProvider."""
    native = load()
    with winsock_session(native):
        rc = native.winsock.WSCEnableNSProvider(native.guid(provider_id), int(enabled))
        if rc == SOCKET_ERROR:
            raise WinsockError(native.winsock.WSAGetLastError())


def advertised(provider_id: uuid.UUID) -> Optional[bool]:
    """Whether a host advertises the provider now, in this process or another; None where
    Winsock does not say (Windows: only the stand-in answers this)."""
    native = load()
    try:
        is_advertised = native.winsock.StandinIsAdvertised
    except AttributeError:
        return None
    return bool(is_advertised(native.guid(provider_id)))


def entries() -> List[CatalogEntry]:
    """Every provider in the catalog (WSAEnumNameSpaceProvidersExW)."""
    native = load()
    ffi, ws = native.ffi, native.winsock
    with winsock_session(native):
        length = ffi.new("DWORD *", 0)
        buf = ffi.NULL
        while True:
            count = ws.WSAEnumNameSpaceProvidersExW(length, ffi.cast("WSANAMESPACE_INFOEXW *", buf))
            if count != SOCKET_ERROR:
                break
            error = ws.WSAGetLastError()
            if error != WSAEFAULT:
                raise WinsockError(error)
            buf = ffi.new("char[]", max(length[0], 1))
        infos = ffi.cast("WSANAMESPACE_INFOEXW *", buf)
        found = []
        for i in range(count if count != NO_ERROR or buf != ffi.NULL else 0):
            info = infos[i]
            ident = info.lpszIdentifier
            n = 0
            while ident != ffi.NULL and ident[n] != 0:
                n += 1
            name = ffi.buffer(ident, 2 * n)[:].decode("utf-16-le", "surrogatepass") if n else ""
            blob = info.ProviderSpecific
            found.append(
                CatalogEntry(
                    provider_id=uuid.UUID(
                        bytes_le=ffi.buffer(ffi.addressof(info.NSProviderId), 16)[:]
                    ),
                    namespace=info.dwNameSpace,
                    active=bool(info.fActive),
                    version=info.dwVersion,
                    identifier=name,
                    provider_specific=ffi.buffer(blob.pBlobData, blob.cbSize)[:]
                    if blob.cbSize and blob.pBlobData != ffi.NULL
                    else b"",
                )
            )
        return found
