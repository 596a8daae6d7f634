"""Builds every C part of nspv2 with the platform's compiler, as part of ``pip install .``:

- ``nspv2._cmarshal``: the runtime's hot-path marshalling, a plain extension (csrc/marshal/);
- ``nspv2._provider``: the provider module (cffi embedding mode; csrc/provider/), which on
  Windows is also the provider library hosts load;
- ``libnspv2.so``: off Windows, the provider library hosts load, a loader that makes libpython
  visible and then loads the module (csrc/provider/loader.c);
- ``libws2standin``: the Winsock stand-in, off Windows only (csrc/winsock/);
- ``libnss_nspv2.so.2``: on Linux, glibc's NSS hosts module, a client of the hosts' sockets
  (csrc/nss/);
- ``nspv2-host``: the native host program (csrc/host/);
- the headers under ``nspv2/include``, which the runtime's cffi declarations are read from.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CSRC = HERE / "csrc"
sys.path.insert(0, str(CSRC / "provider"))
import provider_build  # noqa: E402  (the module's build script: sources, Python version macros)

WINDOWS = sys.platform == "win32"
# The native host's program name, without the extension the compiler adds (nspv2-host.exe with
# MSVC; tests/test_setup.py computes it with setuptools' MSVC compiler class).
HOST_PROGRAM = "nspv2-host"
NSS_FILE = "libnss_nspv2.so.2"  # glibc loads libnss_<service>.so.2 (Linux only)

# Headers copied into the package: cffi's ABI-mode declarations are read from them at run time.
PACKAGED_HEADERS = [
    "include/nspv2/ws2base.h",
    "include/nspv2/ws2base_win.h",
    "include/nspv2/ws2decls.h",
    "include/nspv2/ws2wsadata32.h",
    "include/nspv2/ws2wsadata64.h",
    "include/nspv2/ws2api.h",
    "include/nspv2/ws2const.h",
    "include/nspv2/ws2types.h",
    "include/nspv2/standin.h",
    "include/nspv2/provider.h",
]


def warning_flags() -> list[str]:
    if WINDOWS:
        return ["/W4"] + (["/WX"] if os.environ.get("NSPV2_WERROR") else [])
    flags = ["-std=c11", "-Wall", "-Wextra", "-D_GNU_SOURCE", "-fvisibility=hidden"]
    if os.environ.get("NSPV2_WERROR"):
        flags.append("-Werror")
    flags += os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
    return flags


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "nspv2" / "include" / "nspv2"
        target.mkdir(parents=True, exist_ok=True)
        for name in PACKAGED_HEADERS:
            shutil.copy2(CSRC / name, target / Path(name).name)


class BuildExt(build_ext):
    """Builds the provider extension, then the stand-in and the native host beside it."""

    def build_extensions(self) -> None:
        extra = os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
        for ext in self.extensions:
            if not WINDOWS and os.environ.get("NSPV2_WERROR"):
                # cffi's generated module has unused parameters; our own C files are also
                # checked alone with the full set by tests/test_quality.py.
                ext.extra_compile_args = [
                    *ext.extra_compile_args,
                    *("-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"),
                ]
            ext.extra_compile_args = [*ext.extra_compile_args, *extra]
            ext.extra_link_args = [*ext.extra_link_args, *extra]
        super().build_extensions()
        package_dir = Path(self.get_ext_fullpath("nspv2._provider")).parent
        if not WINDOWS:
            self.build_loader(package_dir)
            self.build_standin(package_dir)
        if sys.platform.startswith("linux"):
            self.build_nss(package_dir)
        self.build_host(package_dir)

    def objects(self, sources: list[Path], tag: str) -> list[str]:
        provider_file = Path(self.get_ext_fullpath("nspv2._provider")).name
        library_file = provider_file if WINDOWS else provider_build.LOADER_FILE
        return self.compiler.compile(
            [str(s) for s in sources],
            output_dir=str(Path(self.build_temp) / tag),
            include_dirs=[str(CSRC / "include")],
            macros=[
                ("NSPV2_PROVIDER_FILE", f'"{provider_file}"'),
                ("NSPV2_LIBRARY_FILE", f'"{library_file}"'),
                *provider_build.python_macros(),
            ],
            extra_postargs=warning_flags() + ([] if WINDOWS else ["-fPIC", "-pthread"]),
        )

    def build_loader(self, package_dir: Path) -> None:
        """The loader gets no run path: the build Python's LDSHARED may carry
        -Wl,-rpath,<its libdir> (pyenv's does), which would let dlopen find that libpython
        wherever the package is installed. It looks only where loader.c says."""
        sources = [CSRC / "provider" / name for name in provider_build.LOADER_SOURCES]
        extra = os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
        objects = self.objects(sources, "loader")
        linker = self.compiler.linker_so
        self.compiler.linker_so = [a for a in linker if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]
        try:
            self.compiler.link_shared_object(
                objects,
                str(package_dir / provider_build.LOADER_FILE),
                libraries=["dl", "pthread"],
                extra_postargs=["-pthread", "-Wl,-z,nodelete", *extra],
            )
        finally:
            self.compiler.linker_so = linker

    def build_standin(self, package_dir: Path) -> None:
        sources = sorted((CSRC / "winsock").glob("*.c"))
        extra = os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
        self.compiler.link_shared_object(
            self.objects(sources, "winsock"),
            str(package_dir / "libws2standin.so"),
            libraries=["pthread"],
            extra_postargs=["-pthread", *extra],
        )

    def build_nss(self, package_dir: Path) -> None:
        """libnss_nspv2.so.2, glibc's hosts module (csrc/nss/): no Python, no stand-in; the
        wire format, runtime folder and socket code compiled in; only _nss_nspv2_* exported."""
        sources = [
            *sorted((CSRC / "nss").glob("*.c")),
            *(CSRC / "winsock" / name for name in ("wire.c", "rundir.c", "transport.c")),
        ]
        extra = os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
        self.compiler.link_shared_object(
            self.objects(sources, "nss"),
            str(package_dir / NSS_FILE),
            extra_postargs=[
                f"-Wl,--version-script={CSRC / 'nss' / 'nss_nspv2.map'}",
                f"-Wl,-soname,{NSS_FILE}",
                *extra,
            ],
        )

    def build_host(self, package_dir: Path) -> None:
        sources = sorted((CSRC / "host").glob("*.c"))
        if not sources:
            return
        extra = os.environ.get("NSPV2_EXTRA_CFLAGS", "").split()
        # The compiler adds its executable extension (.exe with MSVC): the name goes without.
        self.compiler.link_executable(
            self.objects(sources, "host"),
            HOST_PROGRAM,
            output_dir=str(package_dir),
            libraries=[] if WINDOWS else ["dl", "pthread"],
            extra_postargs=[] if WINDOWS else ["-pthread", *extra],
        )


CMARSHAL = Extension(
    "nspv2._cmarshal",
    sources=sorted(str(path.relative_to(HERE)) for path in (CSRC / "marshal").glob("*.c")),
    include_dirs=[str(CSRC / "include"), str(CSRC / "provider")],
    extra_compile_args=["/std:c11"] if WINDOWS else ["-std=c11", "-fvisibility=hidden"],
)

if __name__ == "__main__":  # as pip and setuptools' build backend run it; tests import it
    setup(
        ext_modules=[CMARSHAL],
        cffi_modules=["csrc/provider/provider_build.py:ffibuilder"],
        cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
    )
