"""The built C parts, seen from a Python process: where they are, and cffi's ABI-mode view of
Winsock (ws2_32.dll on Windows, the stand-in elsewhere) and of the provider library.

The declarations are read from the headers installed with the package (nspv2/include), the same
files the C compiler read: nothing here restates a struct or a number.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Optional, cast

import cffi

PACKAGE_DIR = Path(__file__).resolve().parent
WINDOWS = sys.platform == "win32"


def _include_dir() -> Path:
    """The headers installed with the package; in a source checkout whose src/ is on sys.path
    (as tools/windows_build.py imports it), the csrc/include/nspv2 they are copied from."""
    installed = PACKAGE_DIR / "include" / "nspv2"
    checkout = PACKAGE_DIR.parents[1] / "csrc" / "include" / "nspv2"
    return installed if installed.is_dir() or not checkout.is_dir() else checkout


INCLUDE_DIR = _include_dir()


# Off Windows, the library hosts load is a loader beside the cffi module (csrc/provider/loader.c);
# setup.py builds it under this name.
LOADER_FILE = "libnspv2.so"

#: The seven NSPv2 entry points (NSPV2_ROUTINE's members, in order), which the provider library
#: exports besides NSPv2GetRoutine.
ENTRY_POINTS = (
    "NSPv2Startup",
    "NSPv2Cleanup",
    "NSPv2LookupServiceBegin",
    "NSPv2LookupServiceNextEx",
    "NSPv2LookupServiceEnd",
    "NSPv2SetServiceEx",
    "NSPv2ClientSessionRundown",
)
#: The provider library's own functions (csrc/include/nspv2/provider.h).
LIBRARY_FUNCTIONS = ("NSPv2GetRoutine", "NSPv2SetConfigFile", "NSPv2SetLogLevel")
#: What the provider library's export table must hold, each under its plain name (on Windows
#: csrc/provider/provider.def lists them; tests/test_exports.py keeps the two the same).
EXPORTS = (*ENTRY_POINTS, *LIBRARY_FUNCTIONS)


def provider_module() -> Path:
    """The cffi-embedded module nspv2._provider: the NSPv2 entry points and the interpreter."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = PACKAGE_DIR / f"_provider{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"the nspv2 provider module is missing from {PACKAGE_DIR}: reinstall with `pip install .`"
    )


def provider_library() -> Path:
    """The provider library hosts load: on Windows the module itself; elsewhere the loader that
    makes libpython visible and then loads the module."""
    if WINDOWS:
        return provider_module()
    candidate = PACKAGE_DIR / LOADER_FILE
    if not candidate.exists():
        raise FileNotFoundError(
            f"the nspv2 provider library {candidate} is missing: reinstall with `pip install .`"
        )
    return candidate


def winsock_library() -> Optional[Path]:
    """The Winsock stand-in (None on Windows, where Winsock is ws2_32.dll)."""
    if WINDOWS and not os.environ.get("NSPV2_WINSOCK_LIBRARY"):
        return None
    override = os.environ.get("NSPV2_WINSOCK_LIBRARY")
    return Path(override) if override else PACKAGE_DIR / "libws2standin.so"


#: glibc's NSS hosts module (Linux only): `hosts: files nspv2 dns` in /etc/nsswitch.conf.
NSS_FILE = "libnss_nspv2.so.2"


def nss_module() -> Optional[Path]:
    """libnss_nspv2.so.2, the NSS hosts module (None off Linux)."""
    return PACKAGE_DIR / NSS_FILE if sys.platform.startswith("linux") else None


def host_program() -> Path:
    """The native host program."""
    return PACKAGE_DIR / ("nspv2-host.exe" if WINDOWS else "nspv2-host")


def paths() -> Dict[str, str]:
    """Absolute paths of the built parts, as ``nspv2 paths --json`` prints them."""
    found = {"provider": str(provider_library()), "host": str(host_program())}
    winsock = winsock_library()
    if winsock is not None:
        found["winsock"] = str(winsock)
    nss = nss_module()
    if nss is not None:
        found["nss"] = str(nss)
    return found


def _header(name: str) -> str:
    return (INCLUDE_DIR / name).read_text(encoding="utf-8")


def _declarations_text() -> str:
    return "\n".join([_header("ws2base_win.h" if WINDOWS else "ws2base.h"), _header("ws2decls.h")])


def cdef_text() -> str:
    # WSADATA's field order is the target's (ws2types.h picks the same file for C).
    wsadata = _header("ws2wsadata64.h" if sys.maxsize > 2**32 else "ws2wsadata32.h")
    parts = [_declarations_text(), wsadata, _header("ws2api.h"), _header("provider.h")]
    if not WINDOWS or os.environ.get("NSPV2_WINSOCK_LIBRARY"):
        parts.append(_header("standin.h"))
    return "\n".join(parts)


class Native:
    """cffi's view of Winsock and of the provider library, loaded once per process."""

    def __init__(self) -> None:
        self.ffi: Any = cast(Any, cffi.FFI())
        self.ffi.cdef(cdef_text())
        winsock = winsock_library()
        flags = self.ffi.RTLD_NOW | self.ffi.RTLD_GLOBAL
        self.winsock: Any = self.ffi.dlopen(str(winsock) if winsock else "ws2_32.dll", flags)
        self._provider: Any = None
        self._lock = threading.Lock()

    @property
    def provider(self) -> Any:
        """The provider library, loaded on first use (which starts its Python runtime here)."""
        with self._lock:
            if self._provider is None:
                self._provider = self.ffi.dlopen(str(provider_library()), self.ffi.RTLD_NOW)
            return self._provider

    def guid(self, value: Any) -> Any:
        import uuid

        g = self.ffi.new("GUID *")
        self.ffi.memmove(g, uuid.UUID(str(value)).bytes_le, 16)
        return g

    def wstr(self, text: str) -> Any:
        from ._marshal import encode_wstr

        return self.ffi.new("WCHAR[]", list(memoryview(encode_wstr(text)).cast("H")))


_native: Optional[Native] = None
_native_lock = threading.Lock()
_declarations: Optional[Any] = None


def declarations() -> Any:
    """cffi's view of the Winsock types alone (ws2decls.h), with no library loaded: for laying
    out bytes whose structures ws2decls.h declares, such as the NS_EMAIL installation blob."""
    global _declarations
    with _native_lock:
        if _declarations is None:
            ffi: Any = cffi.FFI()
            ffi.cdef(_declarations_text())
            _declarations = ffi
        return _declarations


def load() -> Native:
    global _native
    with _native_lock:
        if _native is None:
            _native = Native()
        return _native
