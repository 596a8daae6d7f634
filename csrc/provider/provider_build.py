"""cffi build script for the provider library, ``nspv2._provider``.

The library is built in cffi's embedding mode: a shared library that starts (or joins) an
interpreter and runs ``nspv2._runtime`` on its first call. The C declarations come from the
headers in ``csrc/`` (the same files the C compiler reads), never from a second copy here.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import cffi

CSRC = Path(__file__).resolve().parents[1]
INCLUDE = CSRC / "include"
PROVIDER = CSRC / "provider"

# Files cffi's cdef() reads; they hold declarations only (see their headers).
BASE_DECLS = [INCLUDE / "nspv2" / "ws2base.h"]
WINDOWS_BASE_DECLS = [INCLUDE / "nspv2" / "ws2base_win.h"]
WINSOCK_DECLS = [INCLUDE / "nspv2" / "ws2decls.h"]
RUNTIME_DECLS = [PROVIDER / "queryset_decls.h", PROVIDER / "runtime_decls.h"]
BRIDGE_DECLS = PROVIDER / "bridge.h"
# The provider library's exports on Windows (MSVC's /DEF; mingw-w64 takes it as an input).
DEF_FILE = PROVIDER / "provider.def"

C_SOURCES = [
    "domains.c",
    "exports.c",
    "gate.c",
    "interpreter.c",
    "lookups.c",
    "python_location.c",
    "queryset.c",
    "sources.c",
    "winsock_link.c",
    "workers.c",
    "log.c",
]

# Off Windows, the library hosts load is this loader, built beside the module by setup.py: it
# makes libpython visible, then loads the module (loader.c says why).
LOADER_SOURCES = ["loader.c", "python_location.c", "winsock_link.c", "log.c"]
LOADER_FILE = "libnspv2.so"  # nspv2._native.LOADER_FILE finds it (tests/test_loader.py)

INIT_CODE = """
from nspv2._provider import ffi, lib
from nspv2 import _runtime
_runtime.attach(ffi, lib)
"""


def read(paths: list[Path]) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def cdef_text() -> str:
    base = read(WINDOWS_BASE_DECLS if sys.platform == "win32" else BASE_DECLS)
    bridge = BRIDGE_DECLS.read_text(encoding="utf-8")
    return "\n".join(
        [base, read(WINSOCK_DECLS), read(RUNTIME_DECLS), 'extern "Python+C" {', bridge, "}"]
    )


def python_macros() -> list[tuple[str, str]]:
    """The Python the module is built for: its version ("3.11"), the version in libpython's
    name ("3.11", or "3.13t" for a free-threaded build) and the multiarch folder distributions
    keep libpython in ("x86_64-linux-gnu"; empty where there is none)."""
    version = sysconfig.get_config_var("VERSION") or "{}.{}".format(*sys.version_info)
    ldversion = sysconfig.get_config_var("LDVERSION") or version
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    return [
        ("NSPV2_PYTHON_VERSION", f'"{version}"'),
        ("NSPV2_PYTHON_LDVERSION", f'"{ldversion}"'),
        ("NSPV2_PYTHON_MULTIARCH", f'"{multiarch}"'),
    ]


def link_arguments() -> dict[str, list[str]]:
    """On Windows the module links python3XY.dll, which the host finds (docs/windows.md). Off
    Windows it links no libpython (as PEP 513/600 wheels must not): the loader (loader.c) or the
    Python process it is loaded into provides libpython's symbols."""
    if sys.platform == "win32":
        # WaitOnAddress (gate.c) lives in the synchronization library (Windows 8 and later).
        # The exports are provider.def's: plain names on x86 too (provider.h says why).
        return {"libraries": ["synchronization"], "extra_link_args": [f"/DEF:{DEF_FILE}"]}
    return {"libraries": ["dl", "pthread"], "extra_link_args": ["-Wl,-z,nodelete"]}


ffibuilder = cffi.FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.embedding_init_code(INIT_CODE)
ffibuilder.set_source(
    "nspv2._provider",
    '#include "provider.h"\n#include "queryset_decls.h"\n',
    # setuptools wants sources relative to setup.py, which is where builds run.
    sources=[os.path.relpath(PROVIDER / name).replace(os.sep, "/") for name in C_SOURCES],
    include_dirs=[str(INCLUDE), str(PROVIDER)],
    define_macros=[("CFFI_MESSAGEBOX", "0"), *python_macros()],
    # MSVC compiles <stdatomic.h> only in C11 mode with its atomics switched on.
    extra_compile_args=(
        ["/std:c11", "/experimental:c11atomics"]
        if sys.platform == "win32"
        else ["-std=gnu11", "-fvisibility=hidden"]
    ),
    py_limited_api=False,
    **link_arguments(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
