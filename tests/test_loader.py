"""The provider library off Windows (libnspv2.so, csrc/provider/loader.c): it and the module
link no libpython, and in a process without Python the loader finds the libpython of the
installation that owns the package, through a virtual environment to its base, or says why not."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from prerequisites import tool

from nspv2 import _native
from nspv2.cli import example_install_arguments

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the loader is built off Windows")

EXAMPLE = "5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21"
VERSION = sysconfig.get_config_var("VERSION")
ROOT = Path(__file__).resolve().parents[1]


def dynamic_section(path: Path) -> str:
    readelf = tool("readelf")
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
    command = [str(host), "--provider", EXAMPLE, *example_install_arguments(),
               "--lookup", "alice@example.test"]  # fmt: skip
    return subprocess.run(
        command, env=env, cwd=host.parent, capture_output=True, text=True, timeout=60, check=False
    )


def copy_distributions(site_packages: Path, *names: str) -> None:
    """Copies the installed files of each distribution into site_packages, as pip would have
    installed them there (nspv2's own dependencies, which a real environment holds)."""
    for name in names:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if source.is_file() and not file.parts[0].startswith(".."):
                target = site_packages / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


def test_virtual_environment(tmp_path: Path) -> None:
    """Installed in a venv (with its dependency cffi, and nothing from the base's own
    site-packages), the loader follows pyvenv.cfg's home to the base's libpython."""
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    base_bin = Path(sys.base_prefix) / "bin"
    (venv / "pyvenv.cfg").write_text(f"home = {base_bin}\ninclude-system-site-packages = false\n")
    copy_distributions(site_packages, "cffi", "pycparser")
    done = run_example(copy_package(site_packages))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice@example.test (Alice Example)" in done.stdout, done.stdout


@pytest.mark.parametrize("system_site", [False, True])
def test_virtual_environment_site_packages(tmp_path: Path, system_site: bool) -> None:
    """The interpreter the library starts sees the site-packages a venv's own python sees: the
    venv's, with its .pth files run, and the base installation's only when pyvenv.cfg's
    include-system-site-packages lets them in (their .pth files run in the host otherwise)."""
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"home = {Path(sys.base_prefix) / 'bin'}\n"
        f"include-system-site-packages = {'true' if system_site else 'false'}\n"
    )
    copy_distributions(site_packages, "cffi", "pycparser")
    marker = tmp_path / "sys.path"
    (site_packages / "probe.pth").write_text(
        f"import sys; open({str(marker)!r}, 'w').write(chr(10).join(sys.path))\n"
    )
    done = run_example(copy_package(site_packages))
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.exists(), "the venv's .pth file did not run"
    seen = marker.read_text().splitlines()
    base = sysconfig.get_path("purelib", vars={"base": sys.base_prefix})
    assert str(site_packages) in seen, seen
    assert (base in seen) == system_site, seen


def test_virtual_environment_made_from_another(tmp_path: Path) -> None:
    """A venv made from inside another venv (before 3.11 its pyvenv.cfg names the outer venv's
    bin folder) still leads the loader to the base installation's libpython."""
    outer = tmp_path / "outer"
    (outer / "bin").mkdir(parents=True)
    (outer / "pyvenv.cfg").write_text(f"home = {Path(sys.base_prefix) / 'bin'}\n")
    inner = tmp_path / "inner"
    site_packages = inner / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    (inner / "pyvenv.cfg").write_text(f"home = {outer / 'bin'}\n")
    copy_distributions(site_packages, "cffi", "pycparser")
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


def test_failed_interpreter_start_answers_wsasysnotready(tmp_path: Path) -> None:
    """When Python cannot start (the owning installation's standard library is broken), every
    NSPv2 entry point answers WSASYSNOTREADY (VOID ones complete with it, the rundown does
    nothing), stderr has one line saying why, and the host process goes on."""
    base = tmp_path / "base"
    (base / "bin").mkdir(parents=True)
    stdlib = base / "lib" / f"python{VERSION}"
    stdlib.mkdir(parents=True)
    (stdlib / "os.py").write_text("")  # the landmark, but no encodings: Python cannot start
    libpython = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("INSTSONAME")
    (base / "lib" / libpython.name).symlink_to(libpython)
    venv = tmp_path / "venv"
    site_packages = venv / "lib" / f"python{VERSION}" / "site-packages"
    site_packages.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n")
    copy_distributions(site_packages, "cffi", "pycparser")
    library = copy_package(site_packages).parent / _native.provider_library().name

    host = tmp_path / "not_ready_host"
    subprocess.run(
        [tool("gcc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-rdynamic",
         f"-I{ROOT / 'csrc' / 'include'}", str(ROOT / "tests" / "hosts" / "not_ready_host.c"),
         "-o", str(host), "-ldl"],
        check=True,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NSPV2_", "LD_"))}
    done = subprocess.run(
        [str(host), str(library)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    not_ready = 10091  # WSASYSNOTREADY
    assert done.stdout.splitlines() == [
        f"NSPv2GetRoutine rc=-1 error={not_ready}",
        f"NSPv2Startup rc=-1 error={not_ready}",
        f"NSPv2LookupServiceBegin rc=-1 error={not_ready}",
        f"NSPv2LookupServiceNextEx completed={not_ready} calls=1",
        f"NSPv2LookupServiceEnd rc=-1 error={not_ready}",
        f"NSPv2SetServiceEx completed={not_ready} calls=1",
        "NSPv2ClientSessionRundown returned",
        f"NSPv2Cleanup rc=-1 error={not_ready}",
        "done",
    ], done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("nspv2: ") and str(base) in lines[0], done.stderr
