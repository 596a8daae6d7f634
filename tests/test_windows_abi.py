"""What a Windows process sees of nspv2's binaries, checked from their sources: the export lists
(the .def files MSVC and mingw-w64 link with, which give every function its plain name on x86
too) agree with the project's one list of each, and the struct layout table ws2types.h asserts
for x64 and x86 is also the layout cffi's declarations give. The built DLLs themselves are
checked by tools/windows_build.py (tests/test_windows_build.py) and, on Windows, by
tools/wheel_smoke.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cffi
import pytest

from nspv2._native import ENTRY_POINTS, EXPORTS, LIBRARY_FUNCTIONS, cdef_text

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "csrc" / "include" / "nspv2"
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "csrc" / "provider"))
import provider_build  # noqa: E402
import windows_build  # noqa: E402


def declared(header: str, pattern: str) -> list[str]:
    return re.findall(pattern, (INCLUDE / header).read_text(encoding="utf-8"))


def test_provider_def_lists_exactly_the_exports() -> None:
    """csrc/provider/provider.def exports exactly nspv2._native.EXPORTS, each once."""
    listed = windows_build.def_exports(windows_build.PROVIDER_DEF)
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == set(EXPORTS), set(listed) ^ set(EXPORTS)


def test_standin_def_lists_exactly_the_declared_functions() -> None:
    """csrc/winsock/ws2standin.def exports exactly the functions ws2api.h and standin.h
    declare, each once."""
    listed = windows_build.def_exports(windows_build.STANDIN_DEF)
    functions = windows_build.standin_exports()
    assert len(functions) == 26 and "WSAStartup" in functions, functions  # both headers read
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == set(functions), set(listed) ^ set(functions)


def test_exports_are_the_routine_and_the_library_functions() -> None:
    """EXPORTS is NSPV2_ROUTINE's seven callbacks (ws2decls.h) and the functions provider.h
    declares: the list the .def file, the build and the smoke test use is the headers'."""
    text = (INCLUDE / "ws2decls.h").read_text(encoding="utf-8")
    routine = text[text.index("typedef struct _NSPV2_ROUTINE") :]
    members = re.findall(r"\bLPNSPV2\w+\s+(NSPv2\w+);", routine[: routine.index("}")])
    assert tuple(members) == ENTRY_POINTS
    assert tuple(declared("provider.h", r"\bWINAPI\s+(\w+)\s*\(")) == LIBRARY_FUNCTIONS
    assert EXPORTS == (*ENTRY_POINTS, *LIBRARY_FUNCTIONS)


def test_def_reader_reads_only_exports(tmp_path: Path) -> None:
    """def_exports takes the names of EXPORTS sections, skipping comments, ordinals and other
    statements (so the checks above read the .def files as the linkers do)."""
    path = tmp_path / "x.def"
    path.write_text(
        "; comment\nLIBRARY x.dll\nEXPORTS\n  One ; trailing\n  Two @2\n\n"
        "SECTIONS\n  .data READ WRITE\nEXPORTS Three\n",
        encoding="utf-8",
    )
    assert windows_build.def_exports(path) == ("One", "Two", "Three")


def test_msvc_links_the_provider_with_its_def(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows the provider module's link arguments carry /DEF:provider.def (MSVC would
    otherwise export only PyInit__provider)."""
    monkeypatch.setattr(sys, "platform", "win32")
    arguments = provider_build.link_arguments()["extra_link_args"]
    assert arguments == [f"/DEF:{windows_build.PROVIDER_DEF}"]
    assert Path(arguments[0][len("/DEF:") :]).is_file()


def test_layout_table_covers_every_struct() -> None:
    """ws2types.h asserts a size for every struct ws2decls.h and the WSADATA headers declare,
    and an offset for each of their fields."""
    rows = windows_build.layout_table()
    sizes = {type_ for type_, field, _, _ in rows if field is None}
    fields: dict[str, set[str]] = {}
    for type_, field, _, _ in rows:
        if field is not None:
            fields.setdefault(type_, set()).add(field)
    text = "\n".join(
        (INCLUDE / name).read_text(encoding="utf-8")
        for name in ("ws2decls.h", "ws2wsadata64.h", "ws2base.h")
    )
    structs = re.findall(r"typedef struct \w+ \{([^}]*)\} (\w+)", text)
    assert len(structs) >= 15, [name for _, name in structs]
    for body, name in structs:
        declared_fields = set(re.findall(r"(\w+)(?:\[\w+\])?;", body))
        assert name in sizes, name
        assert fields.get(name) == declared_fields, name


def test_cffi_layouts_are_the_table() -> None:
    """cffi's declarations (what nspv2 in Python reads and writes through) give every size and
    offset of ws2types.h's table, in this Python's column (x64 for 64-bit, x86 for 32-bit)."""
    ffi = cffi.FFI()
    ffi.cdef(cdef_text())
    column = 2 if sys.maxsize > 2**32 else 3
    wrong = []
    for row in windows_build.layout_table():
        type_, field = row[0], row[1]
        got = ffi.offsetof(type_, field) if field else ffi.sizeof(type_)
        if got != row[column]:
            wrong.append(f"{type_}.{field or 'size'}: {got}, not {row[column]}")
    assert not wrong, wrong
