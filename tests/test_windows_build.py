"""The Windows cross-build (tools/windows_build.py): mingw-w64 builds the provider library, its
hot-path module, the Winsock stand-in, the native host and the stand-in's self-test for 64-bit
Windows against the official embeddable CPython of this Python's version, checks their struct
layouts and export tables, and Wine runs them, then runs the test suite itself
(tools/windows_build.py --pytest: the files of PYTEST_FILES) in that Windows CPython. The same
build for 32-bit Windows (--arch i686) is checked up to its layouts and exports (Wine here has
no 32-bit side). CI installs mingw-w64, mingw-w64-tools and wine64, so a missing tool fails
these tests instead of skipping them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prerequisites import tools

from nspv2._native import EXPORTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import wheel_smoke

pytestmark = pytest.mark.wine

ROOT = Path(__file__).resolve().parents[1]
# The Wine pytest run's passes at the time of writing were 308 (of 316; 8 honest skips): fewer
# than this means tests stopped running there.
MIN_WINE_PASSED = 300
SCRIPT = ROOT / "tools" / "windows_build.py"
MINGW = ["gcc", "dlltool", "nm"]
TOOLS = [*(f"x86_64-w64-mingw32-{tool}" for tool in MINGW), "gendef", "wine"]
I686_TOOLS = [*(f"i686-w64-mingw32-{tool}" for tool in MINGW), "gendef"]


def run_script(out: Path, *args: str) -> dict[str, Any]:
    """Runs tools/windows_build.py; returns summary.json, the output and the exit status."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    summary_file = out / "summary.json"
    assert summary_file.is_file(), f"no summary.json\n{result.stdout}\n{result.stderr}"
    summary: dict[str, Any] = json.loads(summary_file.read_text(encoding="utf-8"))
    summary["output"] = result.stdout + result.stderr
    summary["returncode"] = result.returncode
    summary["out"] = out
    return summary


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the x86_64 cross-build and the Wine checks once."""
    tools(*TOOLS)
    return run_script(tmp_path_factory.mktemp("windows"), "--pytest")


@pytest.fixture(scope="module")
def build_i686(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs the i686 cross-build once, without Wine."""
    tools(*I686_TOOLS)
    return run_script(tmp_path_factory.mktemp("windows-i686"), "--arch", "i686", "--no-wine")


def check(build: dict[str, Any], name: str) -> None:
    entry = build["checks"].get(name)
    assert entry is not None, f"check {name} did not run\n{build['output']}"
    assert entry["ok"], f"{name} failed\n{build['output']}"


def check_binaries(build: dict[str, Any], machine: str) -> None:
    """Every binary is for the machine, and each DLL exports plain names only: the provider
    library exactly nspv2._native.EXPORTS and its module initialiser."""
    check(build, "exports")
    binaries = build["binaries"]
    assert {entry["machine"] for entry in binaries.values()} == {machine}, binaries
    assert len(binaries) == 5, sorted(binaries)
    names = [name for entry in binaries.values() for name in entry["exports"]]
    assert names and not [name for name in names if "@" in name], names
    provider = next(entry for file, entry in binaries.items() if file.startswith("_provider."))
    assert set(provider["exports"]) == {*EXPORTS, "PyInit__provider"}, provider


def check_smoke_test(build: dict[str, Any], platform: str, other: str) -> None:
    """tools/wheel_smoke.py's Windows checks, which otherwise run only on Windows runners, on
    the cross-built provider library and host: nothing wrong for a Python of their platform,
    the machine named for another."""
    check(build, "build")
    app = build["out"] / "app"
    provider = str(next((app / "nspv2").glob("_provider.*.pyd")))
    host = str(app / "nspv2-host.exe")
    assert wheel_smoke.windows_problems(provider, host, platform) == []
    wrong = wheel_smoke.windows_problems(provider, host, other)
    assert len(wrong) == 2 and all(f"({other})" in problem for problem in wrong), wrong


def test_cross_build(build: dict[str, Any]) -> None:
    """mingw-w64 builds every Windows binary against the embeddable CPython of this version."""
    check(build, "build")


def test_layouts(build: dict[str, Any]) -> None:
    """Every Winsock struct's x64 size and field offsets hold for nspv2's declarations and
    mingw-w64's."""
    check(build, "layouts")
    assert "x64 column" in build["checks"]["layouts"]["detail"], build["checks"]["layouts"]


def test_provider_exports(build: dict[str, Any]) -> None:
    """The x64 DLLs export their plain names only (the provider: the seven NSPv2 callbacks,
    NSPv2GetRoutine, NSPv2SetConfigFile and NSPv2SetLogLevel), and every binary is x64."""
    check_binaries(build, "AMD64")


def test_smoke_test_reads_x64_binaries(build: dict[str, Any]) -> None:
    """The wheels' smoke test accepts the x64 provider library and host for a win-amd64 Python
    and refuses them for a win32 one."""
    check_smoke_test(build, "win-amd64", "win32")


def test_i686_cross_build(build_i686: dict[str, Any]) -> None:
    """mingw-w64 builds every binary for 32-bit Windows too (provider library, _cmarshal,
    stand-in, host, self-test)."""
    check(build_i686, "build")
    assert build_i686["arch"] == "i686", build_i686["output"]


def test_i686_layouts(build_i686: dict[str, Any]) -> None:
    """Every Winsock struct's x86 size and field offsets (WSADATA's strings first) hold for
    nspv2's declarations and mingw-w64's."""
    check(build_i686, "layouts")
    assert "x86 column" in build_i686["checks"]["layouts"]["detail"], build_i686["output"]


def test_i686_exports_plain_names(build_i686: dict[str, Any]) -> None:
    """On x86, where stdcall names are decorated, the DLLs still export only plain names
    (NSPv2GetRoutine, WSAStartup: what GetProcAddress is asked for), and every binary is x86."""
    check_binaries(build_i686, "x86")


def test_i686_stops_before_wine(build_i686: dict[str, Any]) -> None:
    """The i686 run says it stops after the layout and export checks, runs nothing under Wine
    and succeeds."""
    assert "Wine here has no 32-bit side" in build_i686["output"], build_i686["output"]
    assert "Wine here has no 32-bit side" in build_i686["stopped"]
    assert set(build_i686["checks"]) == {"build", "layouts", "exports"}, build_i686["checks"]
    assert build_i686["returncode"] == 0, build_i686["output"]


def test_standin_selftest_under_wine(build: dict[str, Any]) -> None:
    """The stand-in's C self-test (no Python) passes under Wine."""
    check(build, "wine-selftest")


def test_native_host_finds_python_without_path(build: dict[str, Any]) -> None:
    """nspv2-host.exe in a pip-style layout (site-packages\\nspv2, python311.dll elsewhere)
    fails with the fix named when no Python is recorded, and answers once nspv2-host.ini names
    Python's folder."""
    check(build, "wine-host-pip-layout")


def test_native_host_under_wine(build: dict[str, Any]) -> None:
    """nspv2-host.exe answers a lookup from the example provider in Windows CPython under Wine."""
    check(build, "wine-host")
    assert build["returncode"] == 0, build["output"]


def test_pytest_suite_under_wine(build: dict[str, Any]) -> None:
    """The test suite's Python-API files run in the Windows CPython under Wine against the
    stand-in with no failure or error, at least MIN_WINE_PASSED tests passing, and every skip
    giving its reason."""
    check(build, "wine-pytest")
    counts = build["pytest"]
    assert counts["failed"] == 0 and counts["errors"] == 0, build["output"]
    assert counts["passed"] >= MIN_WINE_PASSED, counts
    assert all(skip["reason"] for skip in counts["skips"]), counts["skips"]


def test_smoke_test_reads_i686_binaries(build_i686: dict[str, Any]) -> None:
    """The wheels' smoke test accepts the x86 provider library and host for a win32 Python and
    refuses them for a win-amd64 one."""
    check_smoke_test(build_i686, "win32", "win-amd64")
