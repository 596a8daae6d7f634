"""Writes the seed corpus of tests/fuzz/queryset_fuzz.c into tests/fuzz/corpus/queryset/.

Run from anywhere: ``python tests/fuzz/make_corpus.py``. The input format is described at the top
of queryset_fuzz.c; this script is its only other reader, so keep the two in step.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, List, Optional, Tuple

OUT = Path(__file__).resolve().parent / "corpus" / "queryset"

# mask bits (queryset_fuzz.c, fuzz_restrictions)
NAME, VERSION, COMMENT, GUID, CONTEXT, PROTOCOLS, QUERY, CSADDRS, BLOB = (1 << i for i in range(9))
LONG_NAME = 1 << 9
FORCE_PROTOCOL_COUNT, FORCE_CSADDR_COUNT = 1 << 13, 1 << 14
LUP_RETURN_ALL = 0x0FF0
HEADER = 42  # bytes before the payload when dwSize is not given explicitly


def wstr(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass") + b"\0\0"


def sockaddr_in(port: int, addr: bytes) -> bytes:
    return struct.pack("<H", 2) + port.to_bytes(2, "big") + addr + bytes(8)


def sockaddr_in6(port: int, addr: bytes, scope: int = 0) -> bytes:
    return (
        struct.pack("<H", 23)
        + port.to_bytes(2, "big")
        + struct.pack("<I", 0)
        + addr
        + (struct.pack("<I", scope))
    )


class Payload:
    """Objects laid out after the header; offsets count from the start of the input."""

    def __init__(self, header: int) -> None:
        self.data = bytearray()
        self.header = header

    def add(self, raw: bytes, align: int = 8) -> int:
        while (self.header + len(self.data)) % align:
            self.data.append(0)
        at = self.header + len(self.data)
        self.data += raw
        return at


def restrictions(
    *,
    strings: Tuple[Optional[str], Optional[str], Optional[str], Optional[str]] = (
        None,
        None,
        None,
        None,
    ),
    version: Optional[Tuple[int, int]] = None,
    guid: Optional[bytes] = None,
    protocols: Optional[List[Tuple[int, int]]] = None,
    protocol_count: Optional[int] = None,
    csaddrs: Optional[List[Tuple[Optional[bytes], Optional[bytes], int, int]]] = None,
    csaddr_count: Optional[int] = None,
    blob: Optional[bytes] = None,
    flags: int = LUP_RETURN_ALL,
    small: int = 0,
    long_len: int = 0,
    long_strings: int = 0,
    dwsize: Optional[int] = None,
    namespace: int = 12,
    output_flags: int = 0,
) -> bytes:
    """A mode-0 input: a client's restrictions."""
    header = HEADER + (4 if dwsize is not None else 0)
    p = Payload(header)
    mask = long_strings
    offs: Dict[str, int] = {}
    for i, (bit, text) in enumerate(zip((NAME, COMMENT, CONTEXT, QUERY), strings)):
        if text is not None:
            mask |= bit
            # a long string starts at the start of the long run: offset 0
            offs[f"s{i}"] = 0 if long_strings & (LONG_NAME << i) else p.add(wstr(text), 2)
    if version is not None:
        mask |= VERSION
        offs["ver"] = p.add(struct.pack("<Ii", *version))
    if guid is not None:
        mask |= GUID
        offs["guid"] = p.add(guid)
    nproto = 0
    if protocols is not None:
        mask |= PROTOCOLS
        offs["proto"] = p.add(b"".join(struct.pack("<ii", *x) for x in protocols) or b"\0" * 8)
        nproto = len(protocols)
    if protocol_count is not None:
        mask |= FORCE_PROTOCOL_COUNT
        nproto = protocol_count
    ncsa = 0
    if csaddrs is not None:
        mask |= CSADDRS
        entries = []
        for local, remote, stype, proto in csaddrs:
            lo = p.add(local, 2) if local else 0
            ro = p.add(remote, 2) if remote else 0
            entries.append(
                struct.pack(
                    "<Qi4xQi4xii", lo, len(local or b""), ro, len(remote or b""), stype, proto
                )
            )
        offs["csa"] = p.add(b"".join(entries) or b"\0" * 8)
        ncsa = len(csaddrs)
    if csaddr_count is not None:
        mask |= FORCE_CSADDR_COUNT
        ncsa = csaddr_count
    if blob is not None:
        mask |= BLOB
        data_at = p.add(blob, 1) if blob else 0
        offs["blob"] = p.add(struct.pack("<I4xQ", len(blob), data_at))
    head = struct.pack("<BHB", 0, mask, 0xFF if dwsize is not None else 0)
    if dwsize is not None:
        head += struct.pack("<I", dwsize)
    head += struct.pack("<II", namespace, output_flags)
    head += struct.pack(
        "<9H",
        *(offs.get(k, 0) for k in ("s0", "s1", "s2", "s3", "ver", "guid", "proto", "csa", "blob")),
    )
    head += struct.pack("<HHHIH", nproto, ncsa, long_len, flags, small)
    assert len(head) == header, len(head)
    return head + bytes(p.data)


def packed_result(misalign: int = 0, outside: bool = False) -> bytes:
    """A mode-1 input: a provider's packed result, pointers as offsets from its start."""
    body = bytearray(112)
    pieces: Dict[str, int] = {}

    def put(name: str, raw: bytes) -> None:
        while len(body) % 8:
            body.append(0)
        pieces[name] = len(body) + (misalign if name == "name" else 0)
        body.extend(raw)

    put("name", wstr("mail.example.test"))
    put("ver", struct.pack("<Ii", 2, 0))
    put("sa", sockaddr_in(25, bytes([192, 0, 2, 7])))
    put("csa", struct.pack("<Qi4xQi4xii", 0, 0, pieces["sa"], 16, 1, 6))
    put("data", b"blob!")
    put("blob", struct.pack("<I4xQ", 5, pieces["data"]))
    name = len(body) + 64 if outside else pieces["name"]
    struct.pack_into(
        "<I4xQQQI4xQQI4xQQI4xQI4xQ",
        body,
        0,
        112,
        name,
        pieces["ver"],
        0,
        12,
        0,
        0,
        0,
        0,
        0,
        1,
        pieces["csa"],
        0,
        pieces["blob"],
    )
    return b"\x01" + bytes(body)


GUID_BYTES = bytes(range(16))


def seeds() -> Dict[str, bytes]:
    v4 = sockaddr_in(53, bytes([192, 0, 2, 1]))
    v6 = sockaddr_in6(443, bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1]), scope=4)
    everything = dict(
        strings=("svc.example.test", "a comment", "ctx\\here", "?a=b"),
        version=(0xDEADBEEF, 1),
        guid=GUID_BYTES,
        protocols=[(2, 6), (23, 17), (-1, -2)],
        csaddrs=[(v4, v6, 1, 6), (None, v4, 2, 17), (b"\x07\x00raw", None, 5, 0)],
        blob=bytes(range(40)),
        output_flags=0x10,
    )
    return {
        "empty": restrictions(),
        "everything": restrictions(**everything),  # type: ignore[arg-type]
        "everything-name-only": restrictions(**everything, flags=0x10),  # type: ignore[arg-type]
        "everything-fits-first": restrictions(**everything, small=4096),  # type: ignore[arg-type]
        "unicode": restrictions(strings=("\U0001f600 \u00e9t\u00e9", "\ud800", "\u4e2d", "")),
        "long-name": restrictions(
            strings=("x", None, None, None), long_len=32767, long_strings=LONG_NAME
        ),
        "too-long-name": restrictions(
            strings=("x", None, None, None), long_len=32768, long_strings=LONG_NAME
        ),
        "protocols-at-limit": restrictions(protocols=[(2, 6)], protocol_count=1024),
        "protocols-over-limit": restrictions(protocols=[(2, 6)], protocol_count=1025),
        "csaddrs-over-limit": restrictions(csaddrs=[(v4, None, 1, 6)], csaddr_count=4097),
        "count-without-array": restrictions(protocol_count=3, csaddr_count=2),
        "bad-sockaddr-length": restrictions(csaddrs=[(bytes(129), None, 1, 6)]),
        "empty-blob": restrictions(blob=b"", strings=(None, None, "c", None)),
        "wrong-dwsize": restrictions(dwsize=120, strings=("n", None, None, None)),
        "result-packed": packed_result(),
        "result-misaligned": packed_result(misalign=1),
        "result-outside": packed_result(outside=True),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    for name, data in seeds().items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(seeds())} seeds to {OUT}")


if __name__ == "__main__":
    main()
