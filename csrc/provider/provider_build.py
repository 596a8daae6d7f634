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

C_SOURCES = ["exports.c", "interpreter.c", "queryset.c", "winsock_link.c", "log.c"]

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


def link_arguments() -> dict[str, list[str]]:
    """Link libpython itself (never the stable-ABI stub): the library is also loaded by hosts
    with no Python in them, which must find libpython through the library's own dependencies."""
    if sys.platform == "win32":
        return {"libraries": [], "extra_link_args": []}
    libdir = sysconfig.get_config_var("LIBDIR")
    version = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    return {
        "libraries": [f"python{version}", "dl", "pthread"],
        "library_dirs": [libdir],
        "extra_link_args": [f"-Wl,-rpath,{libdir}", "-Wl,-z,nodelete"],
    }


ffibuilder = cffi.FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.embedding_init_code(INIT_CODE)
ffibuilder.set_source(
    "nspv2._provider",
    '#include "provider.h"\n#include "queryset_decls.h"\n',
    # setuptools wants sources relative to setup.py, which is where builds run.
    sources=[os.path.relpath(PROVIDER / name).replace(os.sep, "/") for name in C_SOURCES],
    include_dirs=[str(INCLUDE), str(PROVIDER)],
    define_macros=[("CFFI_MESSAGEBOX", "0")],
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
