"""The tools the tests need beyond Python, and what happens when one is missing.

Every prerequisite the README lists is here with the command that installs it. A test that needs
a missing tool skips and names that command, so a developer without, say, Wine still runs the rest;
under ``CI=true`` a missing tool fails the test instead, so in CI nothing skips that should run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

# Debian's packages for every test prerequisite; README.md gives the same command.
APT_PACKAGES = (
    "gcc libc6-dev binutils clang libclang-rt-14-dev valgrind "
    "mingw-w64 mingw-w64-tools wine64 dnsmasq-base curl"
)
APT_INSTALL = f"sudo apt-get install -y {APT_PACKAGES}"
PIP_INSTALL = "python -m pip install '.[test]'"

# Tool -> the Debian package that has it.
PACKAGE_OF = {
    "gcc": "gcc",
    "nm": "binutils",
    "readelf": "binutils",
    "clang": "clang libclang-rt-14-dev",
    "valgrind": "valgrind",
    "x86_64-w64-mingw32-gcc": "mingw-w64",
    "x86_64-w64-mingw32-dlltool": "mingw-w64",
    "x86_64-w64-mingw32-objdump": "mingw-w64",
    "x86_64-w64-mingw32-nm": "mingw-w64",
    "i686-w64-mingw32-gcc": "mingw-w64",
    "i686-w64-mingw32-dlltool": "mingw-w64",
    "i686-w64-mingw32-nm": "mingw-w64",
    "gendef": "mingw-w64-tools",
    "wine": "wine64",
    "dnsmasq": "dnsmasq-base",
    "curl": "curl",
}


def in_ci() -> bool:
    """True where a missing prerequisite is a failure (``CI`` set to true, as CI services do)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, install: str) -> NoReturn:
    """Stops the test for a missing prerequisite: a skip naming the install command, or a
    failure under CI."""
    message = f"{what} is not installed: {install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing prerequisite fails the run)")
    pytest.skip(message)


def tool(name: str) -> str:
    """The path of a command-line tool from the apt packages; skips (fails in CI) without it."""
    path = shutil.which(name)
    if path is None:
        package = PACKAGE_OF.get(name, name)
        missing(name, f"sudo apt-get install -y {package} (all prerequisites: {APT_INSTALL})")
    return path


def tools(*names: str) -> dict[str, str]:
    """Several tools at once; the message names every missing one."""
    absent = [name for name in names if shutil.which(name) is None]
    if absent:
        packages = " ".join(sorted({PACKAGE_OF.get(name, name) for name in absent}))
        missing(", ".join(absent), f"sudo apt-get install -y {packages}")
    return {name: str(shutil.which(name)) for name in names}


def python_tool(name: str) -> str:
    """A command the test extra installs (ruff, actionlint, ...): beside this Python first, as
    in a virtual environment that is not activated, then on PATH."""
    suffix = ".exe" if sys.platform == "win32" else ""
    beside = Path(sys.executable).with_name(name + suffix)
    if beside.exists():
        return str(beside)
    path = shutil.which(name)
    if path is None:
        missing(name, PIP_INSTALL)
    return path
