"""WSAQUERYSET2W / WSAQUERYSETW <-> QuerySet, over any cffi FFI that declares the structs.

Reading takes a function that measures a WCHAR string, because only the caller knows how far it
may read: the provider side asks the library's C ``nspv2_wcsnlen`` (restrictions were validated
there), the client side searches its own result buffer. Writing builds a WSAQUERYSET2W whose
pointers refer to memory kept alive by the returned object; the C packer copies it into the
caller's buffer.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, Callable, List, Optional, Tuple

from .queryset import (
    AfProtocol,
    CsAddr,
    QuerySet,
    SockAddr,
    Version,
    sockaddr_from_bytes,
    sockaddr_to_bytes,
)

CData = Any
WcsLen = Callable[[CData], int]


def encode_wstr(text: str) -> bytes:
    """UTF-16LE with its terminator; lone surrogates pass through as themselves."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, not {type(text).__name__}")
    if "\0" in text:
        raise ValueError("strings in a query set cannot contain NUL")
    return text.encode("utf-16-le", "surrogatepass") + b"\0\0"


@functools.lru_cache(maxsize=1024)
def _uuid_from_bytes_le(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes_le=raw)


class Marshal:
    """Converts between cffi query sets and :class:`QuerySet` for one FFI."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi

    # -- reading -------------------------------------------------------------------------------

    def read_wstr(self, ptr: CData, wcslen: WcsLen) -> Optional[str]:
        if ptr == self.ffi.NULL:
            return None
        n = wcslen(ptr)
        raw: bytes = self.ffi.buffer(ptr, 2 * n)[:]
        return raw.decode("utf-16-le", "surrogatepass")

    def read_guid(self, ptr: CData) -> Optional[uuid.UUID]:
        if ptr == self.ffi.NULL:
            return None
        return _uuid_from_bytes_le(self.ffi.buffer(ptr, 16)[:])

    def read_sockaddr(self, sa: CData) -> Optional[SockAddr]:
        if sa.lpSockaddr == self.ffi.NULL or sa.iSockaddrLength <= 0:
            return None
        return sockaddr_from_bytes(self.ffi.buffer(sa.lpSockaddr, sa.iSockaddrLength)[:])

    def read(self, qs: CData, wcslen: WcsLen) -> QuerySet:
        """A QuerySet from a validated WSAQUERYSET2W* or WSAQUERYSETW*."""
        ffi = self.ffi
        version = None
        if qs.lpVersion != ffi.NULL:
            version = Version(qs.lpVersion.dwVersion, int(qs.lpVersion.ecHow))
        protocols: Tuple[AfProtocol, ...] = ()
        if qs.lpafpProtocols != ffi.NULL:
            protocols = tuple(
                AfProtocol(p.iAddressFamily, p.iProtocol)
                for p in ffi.unpack(qs.lpafpProtocols, qs.dwNumberOfProtocols)
            )
        addresses: Tuple[CsAddr, ...] = ()
        if qs.lpcsaBuffer != ffi.NULL:
            addresses = tuple(
                CsAddr(
                    remote=self.read_sockaddr(c.RemoteAddr),
                    local=self.read_sockaddr(c.LocalAddr),
                    socket_type=c.iSocketType,
                    protocol=c.iProtocol,
                )
                for c in (qs.lpcsaBuffer[i] for i in range(qs.dwNumberOfCsAddrs))
            )
        blob = None
        if qs.lpBlob != ffi.NULL:
            size = qs.lpBlob.cbSize
            data = qs.lpBlob.pBlobData
            blob = ffi.buffer(data, size)[:] if size and data != ffi.NULL else b""
        return QuerySet(
            instance_name=self.read_wstr(qs.lpszServiceInstanceName, wcslen),
            version=version,
            comment=self.read_wstr(qs.lpszComment, wcslen),
            namespace=qs.dwNameSpace,
            provider_id=self.read_guid(qs.lpNSProviderId),
            context=self.read_wstr(qs.lpszContext, wcslen),
            protocols=protocols,
            query_string=self.read_wstr(qs.lpszQueryString, wcslen),
            addresses=addresses,
            output_flags=qs.dwOutputFlags,
            blob=blob,
        )

    # -- writing -------------------------------------------------------------------------------

    def build(
        self,
        result: QuerySet,
        struct: str = "WSAQUERYSET2W",
        *,
        default_provider_id: Optional[uuid.UUID] = None,
        default_namespace: int = 0,
    ) -> Tuple[CData, List[Any]]:
        """A ``struct *`` describing ``result`` and the objects that keep its memory alive;
        ``default_*`` fill in a result's unset provider id and namespace.

        Raises TypeError/ValueError for a result that is not a well-formed QuerySet.
        """
        if not isinstance(result, QuerySet):
            raise TypeError(
                f"a provider result must be a nspv2.QuerySet, not {type(result).__name__}"
            )
        ffi = self.ffi
        keep: List[Any] = []

        def wstr(text: Optional[str]) -> CData:
            if text is None:
                return ffi.NULL
            buf = ffi.from_buffer(encode_wstr(text))
            keep.append(buf)
            return ffi.cast("WCHAR *", buf)

        qs = ffi.new(f"{struct} *")
        keep.append(qs)
        qs.dwSize = ffi.sizeof(struct)
        qs.lpszServiceInstanceName = wstr(result.instance_name)
        qs.lpszComment = wstr(result.comment)
        qs.lpszContext = wstr(result.context)
        qs.lpszQueryString = wstr(result.query_string)
        qs.dwNameSpace = int(result.namespace) or default_namespace
        qs.dwOutputFlags = int(result.output_flags)
        if result.version is not None:
            v = ffi.new("WSAVERSION *", (int(result.version.version), int(result.version.how)))
            keep.append(v)
            qs.lpVersion = v
        provider_id = result.provider_id if result.provider_id is not None else default_provider_id
        if provider_id is not None:
            g = ffi.new("GUID *")
            if not isinstance(provider_id, uuid.UUID):
                provider_id = uuid.UUID(str(provider_id))
            ffi.memmove(g, provider_id.bytes_le, 16)
            keep.append(g)
            qs.lpNSProviderId = g
        if result.protocols:
            p = ffi.new(
                "AFPROTOCOLS[]", [(int(a.family), int(a.protocol)) for a in result.protocols]
            )
            keep.append(p)
            qs.dwNumberOfProtocols = len(result.protocols)
            qs.lpafpProtocols = p
        if result.addresses:
            csa = ffi.new("CSADDR_INFO[]", len(result.addresses))
            keep.append(csa)
            for i, a in enumerate(result.addresses):
                if not isinstance(a, CsAddr):
                    raise TypeError(f"addresses must hold nspv2.CsAddr, not {type(a).__name__}")
                self._put_sockaddr(csa[i].RemoteAddr, a.remote, keep)
                self._put_sockaddr(csa[i].LocalAddr, a.local, keep)
                csa[i].iSocketType = int(a.socket_type)
                csa[i].iProtocol = int(a.protocol)
            qs.dwNumberOfCsAddrs = len(result.addresses)
            qs.lpcsaBuffer = csa
        if result.blob is not None:
            if not isinstance(result.blob, (bytes, bytearray, memoryview)):
                raise TypeError(f"blob must be bytes, not {type(result.blob).__name__}")
            data = bytes(result.blob)
            b = ffi.new("BLOB *")
            keep.append(b)
            b.cbSize = len(data)
            if data:
                raw = ffi.from_buffer(data)
                keep.append(raw)
                b.pBlobData = ffi.cast("BYTE *", raw)
            qs.lpBlob = b
        return qs, keep

    def _put_sockaddr(self, sa: CData, address: Optional[SockAddr], keep: List[Any]) -> None:
        if address is None:
            return
        raw = sockaddr_to_bytes(address)
        buf = self.ffi.from_buffer(raw)
        keep.append(buf)
        sa.lpSockaddr = self.ffi.cast("SOCKADDR *", buf)
        sa.iSockaddrLength = len(raw)
