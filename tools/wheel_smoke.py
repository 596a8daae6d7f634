"""Smoke test of an installed nspv2 wheel, run by cibuildwheel's test-command and by CI.

    python tools/wheel_smoke.py [--example]

1. ``nspv2 paths --json`` (the console script of the Python running this) prints absolute paths
   that exist, inside the installed package;
2. the provider library exports the NSPv2 entry points (nspv2._native.EXPORTS) under their plain
   names: the library is loaded and each name looked up as a host does (ctypes: dlsym, or
   GetProcAddress on Windows; nothing is called, so no Python starts inside it and no Winsock is
   needed). On Windows its export table is also read from the file: every name is there
   undecorated (NSPv2GetRoutine, not the x86 stdcall NSPv2GetRoutine@8), and the library and
   nspv2-host.exe are for this Python's machine (x86, AMD64 or ARM64);
3. with ``--example`` (off Windows: the stand-in is in the wheel), ``nspv2 example`` answers
   alice@example.test.

Windows runners have the real Winsock but no stand-in, so 3 is not run there; the release
workflow's end-to-end job does the real thing. Exit status 0 only if every check passed.
tools/windows_build.py reads the export tables of its cross-built DLLs with pe_file below too.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path


def nspv2_command() -> list[str]:
    """The nspv2 console script installed beside this Python."""
    scripts = Path(sys.executable).parent
    script = scripts / ("nspv2.exe" if os.name == "nt" else "nspv2")
    if not script.exists():
        raise SystemExit(f"FAIL: no nspv2 script beside {sys.executable}")
    return [str(script)]


def check_paths() -> dict[str, str]:
    done = subprocess.run(
        [*nspv2_command(), "paths", "--json"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"FAIL: nspv2 paths --json exited {done.returncode}\n{done.stderr}")
    found: dict[str, str] = json.loads(done.stdout)
    import nspv2

    package = Path(nspv2.__file__).resolve().parent
    for key, value in found.items():
        path = Path(value)
        if not path.is_absolute() or not path.exists() or package not in path.resolve().parents:
            raise SystemExit(f"FAIL: {key} {value} is not a file of the installed package")
    print(f"PASS paths: {json.dumps(found)}")
    return found


# IMAGE_FILE_HEADER.Machine values (learn.microsoft.com/windows/win32/debug/pe-format).
PE_MACHINES = {0x014C: "x86", 0x8664: "AMD64", 0xAA64: "ARM64"}
# sysconfig.get_platform() of a Windows CPython -> the machine its DLLs are built for.
PLATFORM_MACHINES = {"win32": "x86", "win-amd64": "AMD64", "win-arm64": "ARM64"}


def pe_file(path: Path | str) -> tuple[str, list[str]]:
    """A PE file's machine and the names in its export table, read from the file as the PE
    format lays them out (learn.microsoft.com/windows/win32/debug/pe-format): the COFF header
    after the "PE\\0\\0" signature, the optional header's first data directory (exports), the
    section table to turn its addresses into file offsets, and the export directory's name
    pointer table."""
    data = Path(path).read_bytes()
    if data[:2] != b"MZ":
        raise ValueError(f"{path} is not a PE file")
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if data[pe : pe + 4] != b"PE\0\0":
        raise ValueError(f"{path} has no PE signature")
    machine, sections, _, _, _, optional_size, _ = struct.unpack_from("<HHIIIHH", data, pe + 4)
    optional = pe + 24
    (magic,) = struct.unpack_from("<H", data, optional)
    directories = optional + {0x10B: 96, 0x20B: 112}[magic]  # PE32, PE32+
    (directory_count,) = struct.unpack_from("<I", data, directories - 4)
    name = PE_MACHINES.get(machine, hex(machine))
    export_rva = struct.unpack_from("<I", data, directories)[0] if directory_count else 0
    if export_rva == 0:
        return name, []
    table = []
    for i in range(sections):
        virtual_size, address, raw_size, raw_offset = struct.unpack_from(
            "<IIII", data, optional + optional_size + 40 * i + 8
        )
        table.append((address, max(virtual_size, raw_size), raw_offset))

    def offset(rva: int) -> int:
        for address, size, raw_offset in table:
            if address <= rva < address + size:
                return raw_offset + rva - address
        raise ValueError(f"{path}: address {rva:#x} is in no section")

    exports = offset(export_rva)
    count, names_rva = struct.unpack_from("<I4xI", data, exports + 24)
    names = []
    for i in range(count):
        (name_rva,) = struct.unpack_from("<I", data, offset(names_rva) + 4 * i)
        start = offset(name_rva)
        names.append(data[start : data.index(b"\0", start)].decode("ascii"))
    return name, names


def windows_problems(provider: str, host: str, platform: str) -> list[str]:
    """What is wrong with a Windows provider library's export table (a plain name missing, a
    decorated one present) and with the machine of it and the host, for a Python whose
    sysconfig.get_platform() is ``platform``. Empty if nothing is."""
    from nspv2._native import EXPORTS

    expected = PLATFORM_MACHINES.get(platform, platform)
    machine, names = pe_file(provider)
    host_machine, _ = pe_file(host)
    problems = [f"{provider} does not export {name}" for name in EXPORTS if name not in names]
    problems += [f"{provider} exports the decorated name {n}" for n in names if "@" in n]
    problems += [
        f"{path} is for {found}, not {expected} ({platform})"
        for path, found in ((provider, machine), (host, host_machine))
        if found != expected
    ]
    return problems


def check_exports(found: dict[str, str]) -> None:
    from nspv2._native import EXPORTS

    provider = found["provider"]
    library = ctypes.CDLL(provider)
    missing = [name for name in EXPORTS if not hasattr(library, name)]
    if missing:
        raise SystemExit(f"FAIL: {provider} does not export {', '.join(missing)}")
    if sys.platform == "win32":
        platform = sysconfig.get_platform()
        problems = windows_problems(provider, found["host"], platform)
        if problems:
            raise SystemExit("FAIL: " + "\nFAIL: ".join(problems))
        print(f"PASS export table: plain names, {PLATFORM_MACHINES[platform]} binaries")
    print(f"PASS exports: {len(EXPORTS)} NSPv2 functions by their plain names")


def check_example() -> None:
    done = subprocess.run(
        [*nspv2_command(), "example"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0 or "alice@example.test (Alice Example)" not in done.stdout:
        raise SystemExit(
            f"FAIL: nspv2 example exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    print("PASS example: alice@example.test answered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="store_true", help="also run `nspv2 example`")
    args = parser.parse_args()
    found = check_paths()
    check_exports(found)
    if args.example:
        check_example()
    return 0


if __name__ == "__main__":
    sys.exit(main())
