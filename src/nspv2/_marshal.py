"""WSAQUERYSET2W / WSAQUERYSETW <-> QuerySet, over any cffi FFI that declares the structs.

Reading takes a function that measures a WCHAR string, because only the caller knows how far it
may read: the provider side asks the library's C ``nspv2_wcsnlen`` (restrictions were validated
there), the client side searches its own result buffer. Writing builds a WSAQUERYSET2W whose
pointers refer to memory kept alive by the returned object (the client side's queries).

A provider's results are written as relocatable images, which the provider library copies and
packs (csrc/provider/lookups.c). ``nspv2._cmarshal`` (C, csrc/marshal/) owns that writing, and
reading a lookup's usual restrictions: it is the path of every lookup. The Python writers here
(:meth:`Marshal.image`, :meth:`Marshal.records`, ``_addresses_block``) and the fast restrictions
reader (:meth:`Marshal.read_restrictions`) are kept as the reference the parity tests compare
the C code with (tests/test_cmarshal.py, tests/test_lookups_c.py), and for what the C code leaves
to Python: results it does not take as they are (a subclass, a list where a tuple belongs, a
value out of range, a host name that is not a literal address, ...), which they write the same
way or reject with the error that says what is wrong.
"""

from __future__ import annotations

import functools
import struct
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Tuple

from .queryset import (
    AfProtocol,
    CsAddr,
    QuerySet,
    SockAddr,
    Version,
    sockaddr_from_bytes,
    sockaddr_to_bytes,
)

if TYPE_CHECKING:
    from ._cmarshal import Marshaller

CData = Any
WcsLen = Callable[[CData], int]
#: Marshal.create_lookup: (result, default_provider_id, default_namespace, session,
#: provider_address, flags, failed) -> handle.
CreateLookup = Callable[[Any, uuid.UUID, int, int, int, int, Callable[[BaseException], int]], int]


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


def _struct_format(ffi: Any, name: str) -> struct.Struct:
    """A struct.Struct with ``name``'s exact layout, taken from ffi (native byte order,
    standard sizes, explicit padding; nested structs flattened): pointers become unsigned
    integers of their size."""
    codes = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def scalars(ctype: Any, base: int) -> Iterator[Tuple[int, Any]]:
        for _, f in ctype.fields:
            if f.type.kind == "struct":
                yield from scalars(f.type, base + f.offset)
            else:
                yield base + f.offset, f.type

    ctype = ffi.typeof(name)
    fmt, at = "=", 0
    for offset, ftype in scalars(ctype, 0):
        if offset > at:
            fmt += f"{offset - at}x"
        code = codes[ffi.sizeof(ftype)]
        if ftype.kind != "pointer" and int(ffi.cast(ftype, -1)) < 0:
            code = code.lower()  # a signed integer
        fmt += code
        at = offset + ffi.sizeof(ftype)
    if ffi.sizeof(ctype) > at:
        fmt += f"{ffi.sizeof(ctype) - at}x"
    packer = struct.Struct(fmt)
    assert packer.size == ffi.sizeof(ctype), (name, fmt)
    return packer


class ImageLayout:
    """The layouts a WSAQUERYSET2W image is written with (see Marshal.image), and ``align``,
    the multiple every piece starts at (NSPV2_IMAGE_ALIGN, which the C side checks)."""

    def __init__(self, ffi: Any, align: int) -> None:
        self.record = _struct_format(ffi, "struct nspv2_result_record")
        self.queryset = _struct_format(ffi, "WSAQUERYSET2W")
        self.csaddr = _struct_format(ffi, "CSADDR_INFO")
        self.blob = _struct_format(ffi, "BLOB")
        self.version = _struct_format(ffi, "WSAVERSION")
        self.protocol = _struct_format(ffi, "AFPROTOCOLS")
        self.align = align
        self.pad = [b"\0" * n for n in range(align)]
        self.header_pad = self.pad[-self.queryset.size % align]
        #: Where an image's CSADDR_INFO block starts: right after the header.
        self.addresses_at = self.queryset.size + len(self.header_pad)


class Marshal:
    """Converts between cffi query sets and :class:`QuerySet` for one FFI; ``image_align``
    enables :meth:`image` and :meth:`records` (the provider library's NSPV2_IMAGE_ALIGN),
    ``lib`` (the provider module's) :meth:`create_lookup`, and ``accelerator``
    (``nspv2._cmarshal``) makes the lookup's hot path C."""

    #: The 16 bytes of the GUID at an address, as stored (what ``UUID.bytes_le`` gives).
    guid_at: Callable[[int], bytes]
    #: read_restrictions() for the validated WSAQUERYSET2W at an address.
    read_restrictions_at: Callable[[int], QuerySet]
    #: ``(result, default_provider_id, default_namespace, session, provider_address, flags,
    #: failed)``: a lookup answered in C (nspv2_lookups_create) with a provider's results (a
    #: QuerySet, a list or tuple of them, or None, written as records() does, which is where
    #: ``failed`` is used) for a session, the provider whose GUID is at provider_address and
    #: Begin's flags; its handle, or 0 if C declined them (too many, too large). Needs ``lib``.
    create_lookup: Callable[
        [Any, uuid.UUID, int, int, int, int, Callable[[BaseException], int]], int
    ]

    def __init__(
        self, ffi: Any, image_align: int = 0, accelerator: Any = None, lib: Any = None
    ) -> None:
        self.ffi = ffi
        self._layout = ImageLayout(ffi, image_align) if image_align else None
        self._lib = lib
        self._c: Optional[Marshaller] = None
        if accelerator is not None and self._layout is not None:
            self._c = accelerator.Marshaller(
                queryset=QuerySet,
                version=Version,
                afprotocol=AfProtocol,
                csaddr=CsAddr,
                uuid=uuid.UUID,
                uuid_from_bytes_le=_uuid_from_bytes_le,
                lookups_create=None
                if lib is None
                else int(ffi.cast("uintptr_t", ffi.addressof(lib, "nspv2_lookups_create"))),
                read_restrictions=self._read_restrictions_at,
                create_lookup=self._create_lookup,
            )
            assert accelerator.RECORD_SIZE == self._layout.record.size
        # The lookup's hot path: the C methods themselves when there is the accelerator (which
        # calls the Python ones for what it leaves to them), with no Python frame in between.
        self.guid_at = self._guid_at if self._c is None else self._c.guid_at
        self.read_restrictions_at = (
            self._read_restrictions_at if self._c is None else self._c.read_restrictions
        )
        self.create_lookup = self._create_lookup if self._c is None else self._c.create_lookup

    @property
    def accelerated(self) -> Optional[Marshaller]:
        """The C Marshaller (nspv2._cmarshal) this Marshal hands its hot path to, if any."""
        return self._c

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

    def _guid_at(self, address: int) -> bytes:
        return bytes(self.ffi.buffer(self.ffi.cast("GUID *", address), 16))

    def _read_restrictions_at(self, address: int) -> QuerySet:
        return self.read_restrictions(self.ffi.cast("WSAQUERYSET2W *", address), self.wcslen)

    def wcslen(self, ptr: CData) -> int:
        """The length of a validated WCHAR string (the library's nspv2_wcsnlen when there is
        one; else a scan to the terminator)."""
        if self._lib is not None:
            return int(self._lib.nspv2_wcsnlen(ptr, 32767))
        n = 0
        while ptr[n] != 0:
            n += 1
        return n

    def read_restrictions(self, qs: CData, wcslen: WcsLen) -> QuerySet:
        """read() for a validated WSAQUERYSET2W* (a lookup's restrictions), faster: the
        struct's scalars come in one unpack, only the pointers that are set are followed, and
        the frozen QuerySet is filled in without its generated __init__. The reference for
        nspv2._cmarshal's reader (csrc/marshal/read.c), which reads every lookup's restrictions
        and hands those with versions, protocols, addresses or a blob to read()."""
        layout = self._layout
        if layout is None:
            return self.read(qs, wcslen)
        (_, p_name, p_version, p_comment, namespace, p_guid, p_context, _, p_protocols,
         p_query, _, p_csaddrs, output_flags, p_blob) = layout.queryset.unpack(
            self.ffi.buffer(qs, layout.queryset.size)
        )  # fmt: skip
        if p_version or p_protocols or p_csaddrs or p_blob:
            return self.read(qs, wcslen)  # rare in restrictions: the general reader
        read_wstr = self.read_wstr
        result = object.__new__(QuerySet)
        result.__dict__.update(
            instance_name=read_wstr(qs.lpszServiceInstanceName, wcslen) if p_name else None,
            version=None,
            comment=read_wstr(qs.lpszComment, wcslen) if p_comment else None,
            namespace=namespace,
            provider_id=self.read_guid(qs.lpNSProviderId) if p_guid else None,
            context=read_wstr(qs.lpszContext, wcslen) if p_context else None,
            protocols=(),
            query_string=read_wstr(qs.lpszQueryString, wcslen) if p_query else None,
            addresses=(),
            output_flags=output_flags,
            blob=None,
        )
        return result

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
        service_class: Optional[uuid.UUID] = None,
    ) -> Tuple[CData, List[Any]]:
        """A ``struct *`` describing ``result`` and the objects that keep its memory alive;
        ``default_*`` fill in a result's unset provider id and namespace; ``service_class`` is
        a client query set's lpServiceClassId (WSAQUERYSETW only: providers never see one).

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

        def guid(value: Any) -> CData:
            g = ffi.new("GUID *")
            if not isinstance(value, uuid.UUID):
                value = uuid.UUID(str(value))
            ffi.memmove(g, value.bytes_le, 16)
            keep.append(g)
            return g

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
            qs.lpNSProviderId = guid(provider_id)
        if service_class is not None:
            qs.lpServiceClassId = guid(service_class)
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

    def image(
        self,
        result: QuerySet,
        *,
        default_provider_id: Optional[uuid.UUID] = None,
        default_namespace: int = 0,
    ) -> bytes:
        """``result`` as a relocatable WSAQUERYSET2W image: the struct, then each piece it
        points to at a multiple of the layout's ``align``, every pointer written as 1 + the piece's
        offset from the image's start (0 for NULL). C copies it and relocates the pointers
        (nspv2_lookups_create, nspv2_record_pack). The reference for nspv2._cmarshal's writer
        (csrc/marshal/write.c), which writes every result it takes as it is; this writes the
        ones it leaves to Python.

        Raises TypeError/ValueError as build() does."""
        if not isinstance(result, QuerySet):
            raise TypeError(
                f"a provider result must be a nspv2.QuerySet, not {type(result).__name__}"
            )
        layout = self._layout
        if layout is None:
            raise RuntimeError("this Marshal writes no images (no image_align)")
        parts: List[bytes] = [b"", layout.header_pad]
        size = layout.queryset.size + len(layout.header_pad)
        align, pads = layout.align, layout.pad

        def put(data: bytes) -> int:
            nonlocal size
            at = size
            parts.append(data)
            pad = -len(data) % align
            if pad:
                parts.append(pads[pad])
            size += len(data) + pad
            return at + 1

        # The addresses come first, at a fixed offset, so their block does not depend on the rest.
        addresses = result.addresses
        p_csaddrs = 0
        if addresses:
            block = self._addresses_block(tuple(addresses), layout, layout.addresses_at)
            p_csaddrs = put(block)

        name = result.instance_name
        comment = result.comment
        context = result.context
        query_string = result.query_string
        p_name = 0 if name is None else put(encode_wstr(name))
        p_comment = 0 if comment is None else put(encode_wstr(comment))
        p_context = 0 if context is None else put(encode_wstr(context))
        p_query = 0 if query_string is None else put(encode_wstr(query_string))
        p_version = 0
        if result.version is not None:
            p_version = put(
                layout.version.pack(int(result.version.version), int(result.version.how))
            )
        provider_id = result.provider_id if result.provider_id is not None else default_provider_id
        p_guid = 0
        if provider_id is not None:
            if not isinstance(provider_id, uuid.UUID):
                provider_id = uuid.UUID(str(provider_id))
            p_guid = put(provider_id.bytes_le)
        protocols = result.protocols
        p_protocols = 0
        if protocols:
            pack = layout.protocol.pack
            p_protocols = put(b"".join(pack(int(a.family), int(a.protocol)) for a in protocols))
        p_blob = 0
        blob = result.blob
        if blob is not None:
            if not isinstance(blob, (bytes, bytearray, memoryview)):
                raise TypeError(f"blob must be bytes, not {type(blob).__name__}")
            data = bytes(blob)
            p_blob = put(layout.blob.pack(len(data), put(data) if data else 0))
        parts[0] = layout.queryset.pack(
            layout.queryset.size,
            p_name,
            p_version,
            p_comment,
            int(result.namespace) or default_namespace,
            p_guid,
            p_context,
            len(protocols),
            p_protocols,
            p_query,
            len(addresses),
            p_csaddrs,
            int(result.output_flags),
            p_blob,
        )
        return b"".join(parts)

    def records(
        self,
        items: Any,
        *,
        default_provider_id: Optional[uuid.UUID] = None,
        default_namespace: int = 0,
        failed: Callable[[BaseException], int],
    ) -> Tuple[int, bytes]:
        """A provider's results (QuerySet objects) as the records nspv2_lookups_create takes:
        how many, and the bytes. A result that cannot be written becomes a record of the code
        ``failed(exc)`` gives; an item that is not a QuerySet also ends the results there."""
        layout = self._layout
        if layout is None:
            raise RuntimeError("this Marshal writes no images (no image_align)")
        if items is None:
            items = ()
        elif isinstance(items, QuerySet):
            items = (items,)
        parts: List[bytes] = []
        count = 0
        for item in items:
            count += 1
            try:
                if not isinstance(item, QuerySet):
                    raise TypeError(f"lookup produced {type(item).__name__}, not nspv2.QuerySet")
                data = self.image(
                    item,
                    default_provider_id=default_provider_id,
                    default_namespace=default_namespace,
                )
            except BaseException as exc:
                parts.append(layout.record.pack(0, failed(exc)))
                if not isinstance(item, QuerySet):
                    break
                continue
            parts.append(layout.record.pack(len(data), 0))
            parts.append(data)
        return count, b"".join(parts)

    def record(
        self,
        item: Any,
        *,
        default_provider_id: Optional[uuid.UUID] = None,
        default_namespace: int = 0,
        failed: Callable[[BaseException], int],
    ) -> bytes:
        """One result a provider produced (a generator's, an async provider's) as the record
        nspv2_record_pack takes: written in C (nspv2._cmarshal) when it can be, else by
        records(), which also makes the record of the code ``failed(exc)`` gives for a result
        that cannot be written (or an item that is not a QuerySet)."""
        if self._c is not None and type(item) is QuerySet:
            written = self._c.pack_results(item, default_provider_id, default_namespace)
            if written is not None:
                return written
        return self.records(
            [item],
            default_provider_id=default_provider_id,
            default_namespace=default_namespace,
            failed=failed,
        )[1]

    def error_record(self, code: int) -> bytes:
        """The record of a NextEx that answers ``code`` instead of a result."""
        layout = self._layout
        if layout is None:
            raise RuntimeError("this Marshal writes no images (no image_align)")
        return layout.record.pack(0, code)

    def _create_lookup(
        self,
        result: Any,
        default_provider_id: uuid.UUID,
        default_namespace: int,
        session: int,
        provider_address: int,
        flags: int,
        failed: Callable[[BaseException], int],
    ) -> int:
        lib = self._lib
        if lib is None:
            raise RuntimeError("this Marshal creates no lookups (no lib)")
        if isinstance(result, (list, tuple)) and len(result) > lib.NSPV2_INLINE_MAX_RESULTS:
            return 0
        count, records = self.records(
            result,
            default_provider_id=default_provider_id,
            default_namespace=default_namespace,
            failed=failed,
        )
        created: int = lib.nspv2_lookups_create(
            session, self.ffi.cast("GUID *", provider_address), flags, count, records, len(records)
        )
        return created

    @staticmethod
    def _addresses_block(addresses: Tuple[CsAddr, ...], layout: ImageLayout, base: int) -> bytes:
        """The CSADDR_INFO array followed by the sockaddrs it points to, for an image that
        places it at offset ``base``. The reference for csrc/marshal/addresses.c, and the writer
        of the addresses it leaves to Python."""
        sockaddrs: List[bytes] = []
        array = len(addresses) * layout.csaddr.size
        array_pad = layout.pad[-array % layout.align]
        at = base + array + len(array_pad)  # a multiple of align, as base is
        entries = []
        for a in addresses:
            if not isinstance(a, CsAddr):
                raise TypeError(f"addresses must hold nspv2.CsAddr, not {type(a).__name__}")
            fields: List[int] = []
            for address in (a.local, a.remote):
                raw = b"" if address is None else sockaddr_to_bytes(address)
                fields += [at + 1 if raw else 0, len(raw)]
                if raw:
                    sockaddrs.append(raw + layout.pad[-len(raw) % layout.align])
                    at += len(sockaddrs[-1])
            entries.append(layout.csaddr.pack(*fields, int(a.socket_type), int(a.protocol)))
        return b"".join(entries) + array_pad + b"".join(sockaddrs)

    def _put_sockaddr(self, sa: CData, address: Optional[SockAddr], keep: List[Any]) -> None:
        if address is None:
            return
        raw = sockaddr_to_bytes(address)
        buf = self.ffi.from_buffer(raw)
        keep.append(buf)
        sa.lpSockaddr = self.ffi.cast("SOCKADDR *", buf)
        sa.iSockaddrLength = len(raw)
