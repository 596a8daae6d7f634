"""The code-quality gates run with the tests, so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prerequisites import python_tool, tool

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "src", "tests", "tools"),
        ("ruff", "format", "--check", "src", "tests", "tools"),
    ],
)
def test_ruff(command: tuple[str, ...]) -> None:
    """The Python sources stay ruff-clean (lint and format)."""
    result = run(python_tool(command[0]), *command[1:])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    """The package's type hints (py.typed) hold under mypy --strict."""
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_c_sources_compile_cleanly() -> None:
    """Every C file of the library, stand-in and host compiles with -Wall -Wextra -Werror."""
    import sysconfig

    sys.path.insert(0, str(ROOT / "csrc" / "provider"))
    import provider_build

    include = sysconfig.get_paths()["include"]
    macros = [f"-D{name}={value}" for name, value in provider_build.python_macros()]
    gcc = tool("gcc")
    sources = sorted((ROOT / "csrc").glob("*/*.c"))
    assert sources
    for source in sources:
        result = run(
            gcc, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
            f"-I{ROOT / 'csrc' / 'include'}", f"-I{ROOT / 'csrc' / 'provider'}", f"-I{include}",
            *macros, '-DNSPV2_PROVIDER_FILE="_provider.so"', str(source),
        )  # fmt: skip
        assert result.returncode == 0, f"{source}:\n{result.stderr}"
