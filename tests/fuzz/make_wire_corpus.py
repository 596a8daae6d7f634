"""Writes the seed corpus of tests/fuzz/wire_fuzz.c into tests/fuzz/corpus/wire/.

Run from anywhere: ``python tests/fuzz/make_wire_corpus.py``. The input format is described at
the top of wire_fuzz.c, the wire format in csrc/winsock/wire.h; keep the three in step.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import List, Optional, Tuple

OUT = Path(__file__).resolve().parent / "corpus" / "wire"
MAGIC = 0x3256534E
HELLO, BEGIN, NEXT, END, SETSERVICE, CLEANUP, STATS = range(1, 8)
QS_HEADER = 64  # struct wire_qs: 16 uint32


def pad8(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8)


def wstr(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


def sockaddr_in(port: int, addr: bytes) -> bytes:
    return struct.pack("<H", 2) + port.to_bytes(2, "big") + addr + bytes(8)


def image(
    name: Optional[str] = None,
    comment: Optional[str] = None,
    namespace: int = 12,
    provider: Optional[uuid.UUID] = None,
    protocols: List[Tuple[int, int]] = (),  # type: ignore[assignment]
    csaddrs: List[Tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    blob: Optional[bytes] = None,
) -> bytes:
    """A query set image as wire.c writes it."""
    body = b""
    offsets = {}

    def put(key: str, data: bytes) -> int:
        nonlocal body
        at = QS_HEADER + len(body)
        body += pad8(data)
        offsets[key] = at
        return at

    if name is not None:
        put("name", wstr(name))
    if comment is not None:
        put("comment", wstr(comment))
    if provider is not None:
        put("provider", provider.bytes_le)
    if protocols:
        put("protocols", b"".join(struct.pack("<ii", *p) for p in protocols))
    if csaddrs:
        table_at = QS_HEADER + len(body)
        body += bytes(len(csaddrs) * 24 + (-(len(csaddrs) * 24) % 8))
        offsets["csaddrs"] = table_at
        entries = b""
        for local, remote in csaddrs:
            lo = put("x", local) if local else 0
            ro = put("x", remote) if remote else 0
            entries += struct.pack("<IIIIii", lo, len(local), ro, len(remote), 1, 6)
        start = table_at - QS_HEADER
        body = body[:start] + entries + body[start + len(entries) :]
    flags = 0
    if blob is not None:
        flags = 1
        if blob:
            put("blob", blob)
    size = QS_HEADER + len(body)
    header = struct.pack(
        "<16I",
        size,
        namespace,
        0,
        flags,
        len(protocols),
        len(csaddrs),
        len(blob or b""),
        offsets.get("name", 0),
        offsets.get("comment", 0),
        0,
        0,
        0,
        offsets.get("provider", 0),
        offsets.get("protocols", 0),
        offsets.get("csaddrs", 0),
        offsets.get("blob", 0),
    )
    return header + body


def seed(kind: int, body: bytes) -> bytes:
    """Mode 0 (even first byte): the harness writes the header."""
    return bytes([0, kind]) + body


def whole(kind: int, body: bytes, length: Optional[int] = None) -> bytes:
    """Mode 1: a whole message, header included (length may lie)."""
    total = 16 + len(body) if length is None else length
    return b"\x01" + struct.pack("<IHHIi", total, kind, 0, 1, 0) + body


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    guid = uuid.UUID("5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d22")
    v4 = sockaddr_in(80, bytes([192, 0, 2, 10]))
    full = image(
        name="www.example.test",
        comment="c",
        provider=guid,
        protocols=[(2, 6), (23, 17)],
        csaddrs=[(b"", v4), (v4, v4)],
        blob=b"\x01\x02\x03",
    )
    seeds = {
        "hello": seed(HELLO, struct.pack("<II", MAGIC, 1) + guid.bytes_le),
        "hello-bad-magic": seed(HELLO, struct.pack("<II", 0, 1) + guid.bytes_le),
        "begin-name": seed(BEGIN, struct.pack("<II", 0x0FF0, 0) + image(name="www.example.test")),
        "begin-full": seed(BEGIN, struct.pack("<II", 0x0FF0, 0) + full),
        "begin-empty-blob": seed(BEGIN, struct.pack("<II", 0, 0) + image(blob=b"")),
        "begin-empty": seed(BEGIN, struct.pack("<II", 0, 0) + image()),
        "setservice": seed(SETSERVICE, struct.pack("<II", 0, 0) + full),
        "next": seed(NEXT, struct.pack("<QII", 0x4C00000100000001, 0x0FF0, 4096)),
        "end": seed(END, struct.pack("<Q", 0x4C00000100000001)),
        "cleanup": seed(CLEANUP, b""),
        "stats": seed(STATS, b""),
        "whole-begin": whole(BEGIN, struct.pack("<II", 0, 0) + full),
        "whole-length-lies": whole(BEGIN, struct.pack("<II", 0, 0) + full, length=40),
        "whole-huge-length": whole(NEXT, bytes(16), length=0xFFFFFFF0),
        "truncated-image": seed(BEGIN, struct.pack("<II", 0, 0) + full[:-9]),
    }
    for old in OUT.iterdir():
        old.unlink()
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
