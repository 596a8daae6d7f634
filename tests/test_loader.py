"""The provider library off Windows (libnspv2.so, csrc/provider/loader.c): it and the module
link no libpython, and in a process without Python the loader finds the libpython of the
installation that owns the package, through a virtual environment to its base, or says why not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from nspv2 import _native

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the loader is built off Windows")

EXAMPLE = "5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21"
NS_EMAIL = 37
VERSION = sysconfig.get_config_var("VERSION")


def dynamic_section(path: Path) -> str:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    done = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True)
    return done.stdout


def test_nothing_links_libpython() -> None:
    """Neither the module nor the loader needs libpython, and the loader carries no run path."""
    module = dynamic_section(_native.provider_module())
    loader = dynamic_section(_native.provider_library())
    assert "libpython" not in module, module
    assert "libpython" not in loader, loader
    assert "RPATH" not in loader and "RUNPATH" not in loader, loader


def copy_package(site_packages: Path) -> Path:
    """The installed nspv2 package copied into site_packages; returns its native host."""
    target = site_packages / "nspv2"
    shutil.copytree(_native.PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / _native.host_program().name


def run_example(host: Path) -> subprocess.CompletedProcess[str]:
    """The native host serving the example, with nothing in its environment pointing at Python."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "NSPV2_", "LD_")) and key != "VIRTUAL_ENV"
    }
    command = [str(host), "--provider", EXAMPLE, "--install", "loader test", "--namespace",
               str(NS_EMAIL), "--lookup", "alice@example.test"]  # fmt: skip
    return subprocess.run(
        command, env=env, cwd=host.parent, capture_output=True, text=True, timeout=60, check=False
    )


def test_virtual_environment(tmp_path: Path) -> None:
    """Installed in a venv, the loader follows pyvenv.cfg's home to the base's libpython."""
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    base_bin = Path(sys.base_prefix) / "bin"
    (venv / "pyvenv.cfg").write_text(f"home = {base_bin}\ninclude-system-site-packages = false\n")
    done = run_example(copy_package(site_packages))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice@example.test (Alice Example)" in done.stdout, done.stdout


def test_owner_has_no_shared_libpython(tmp_path: Path) -> None:
    """When the installation that owns the package has no libpython (built without
    --enable-shared), every entry point fails with a log line naming it and the way out, and
    the loader takes no other installation's libpython: no crash, no hang."""
    base = tmp_path / "base"
    (base / "bin").mkdir(parents=True)
    stdlib = base / "lib" / f"python{VERSION}"
    stdlib.mkdir(parents=True)
    (stdlib / "os.py").write_text("")  # the landmark of a Python installation
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n")
    done = run_example(copy_package(site_packages))
    assert done.returncode > 0, done.stdout + done.stderr
    expected = f"cannot find libpython{sysconfig.get_config_var('LDVERSION')}.so.1.0 in {base}/lib"
    assert expected in done.stderr, done.stderr
    assert "--enable-shared" in done.stderr and "nspv2 serve" in done.stderr, done.stderr


def test_loader_name_agrees_with_the_build() -> None:
    """The loader's file name the runtime looks for is the one setup.py builds."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "csrc" / "provider"))
    try:
        import provider_build
    finally:
        sys.path.pop(0)
    assert provider_build.LOADER_FILE == _native.LOADER_FILE
