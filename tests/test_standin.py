"""Builds the Winsock stand-in (libws2standin.so) and its native self-test host with gcc and runs
the host plainly, under AddressSanitizer/UBSan and under valgrind."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from prerequisites import missing, tool

ROOT = Path(__file__).parents[1]
CSRC = ROOT / "csrc"
HOSTS = Path(__file__).parent / "hosts"
WARNINGS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-pthread",
    f"-I{CSRC / 'include'}",
    "-Wall",
    "-Wextra",
    "-Werror",
]
SANITIZE = [
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]

EXPECTED_OK = [
    "startup",
    "install advertise",
    "lookup",
    "efault flushprevious",
    "routing",
    "bad inputs",
    "setservice",
    "email routing",
    "end during next",
    "threads",
    "client cleanup",
    "client kill rundown",
    "catalog enumerate enable",
    "catalog file",
    "unadvertise",
    "violations",
    "uninstall",
    "cleanup balance",
]

pytestmark = pytest.mark.requires("gcc")


def build(directory: Path, extra: list[str] | None = None) -> Path:
    """Builds libws2standin.so and standin_selftest into directory; returns the host's path."""
    extra = extra or []
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / "libws2standin.so"
    sources = sorted(str(p) for p in (CSRC / "winsock").glob("*.c"))
    subprocess.run(
        [
            "gcc",
            *WARNINGS,
            *extra,
            "-fPIC",
            "-shared",
            "-fvisibility=hidden",
            "-o",
            str(library),
            *sources,
        ],
        check=True,
    )
    host = directory / "standin_selftest"
    subprocess.run(
        [
            "gcc",
            *WARNINGS,
            *extra,
            "-o",
            str(host),
            str(HOSTS / "standin_selftest.c"),
            str(HOSTS / "cprovider.c"),
            f"-L{directory}",
            "-lws2standin",
            f"-Wl,-rpath,{directory}",
        ],
        check=True,
    )
    return host


def run_selftest(command: list[str], scratch: Path, env: dict[str, str] | None = None) -> str:
    """Runs the host with a fresh scratch directory for its catalog file; returns its stdout."""
    scratch.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k != "NSPV2_STANDIN_CATALOG"}
    full_env.update(env or {})
    result = subprocess.run(
        [*command, str(scratch)], capture_output=True, text=True, env=full_env, timeout=600
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    ok_lines = [line[3:] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert ok_lines == EXPECTED_OK, result.stdout
    assert result.stdout.rstrip().endswith("all ok")
    # The deliberate misbehaviour must have been reported on stderr with the documented prefix.
    assert "ws2standin: violation: " in result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def plain_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("plain"))


def test_selftest_passes(plain_host: Path, tmp_path: Path) -> None:
    """Protects ws2_32's NSPv2 semantics: routing, errors, sessions, catalog, violations."""
    run_selftest([str(plain_host)], tmp_path / "scratch")


def declared_functions() -> set[str]:
    names: set[str] = set()
    for header in ("ws2api.h", "standin.h"):
        text = (CSRC / "include" / "nspv2" / header).read_text()
        names.update(re.findall(r"\bWINAPI\s+(\w+)\s*\(", text))
    return names


def test_exports_exactly_the_declared_functions(plain_host: Path) -> None:
    """Protects the ABI: exactly the ws2api.h and standin.h functions are exported."""
    nm = tool("nm")
    output = subprocess.run(
        [nm, "-D", "--defined-only", str(plain_host.parent / "libws2standin.so")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    exported = {line.split()[-1] for line in output.splitlines() if " T " in line}
    assert exported == declared_functions()


def sanitizers_work(directory: Path) -> bool:
    probe = directory / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    result = subprocess.run(
        ["gcc", *SANITIZE, "-o", str(directory / "probe"), str(probe)], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.sanitizer
def test_selftest_under_sanitizers(tmp_path: Path) -> None:
    """Protects against memory errors, undefined behaviour and leaks in the stand-in."""
    if not sanitizers_work(tmp_path):
        missing(
            "gcc's AddressSanitizer and UBSan runtimes",
            "sudo apt-get install -y libasan8 libubsan1",
        )
    host = build(tmp_path / "asan", SANITIZE)
    run_selftest(
        [str(host)],
        tmp_path / "scratch",
        {"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"},
    )


def test_selftest_under_valgrind(plain_host: Path, tmp_path: Path) -> None:
    """Protects against invalid accesses and definitely-lost memory after the final WSACleanup."""
    valgrind = tool("valgrind")
    run_selftest(
        [
            valgrind,
            "-q",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            str(plain_host),
        ],
        tmp_path / "scratch",
    )
