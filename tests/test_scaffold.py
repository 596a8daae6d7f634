"""`nspv2 new NAME`: the generated provider project's own tests pass as generated, and its
provider passes `nspv2 check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("namespace", ["NS_EMAIL", "NS_DNS"])
def test_generated_project_passes_its_tests(tmp_path: Path, namespace: str) -> None:
    """The project `nspv2 new` writes has a provider whose generated tests pass with pytest in
    that folder, and that `nspv2 check` finds conforming."""
    done = subprocess.run(
        [sys.executable, "-m", "nspv2", "new", "corp-directory", "--namespace", namespace],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    project = tmp_path / "corp-directory"
    assert {p.name for p in project.iterdir()} == {"pyproject.toml", "src", "tests", "README.md"}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
    name = "alice@corp.example" if namespace == "NS_EMAIL" else "www.corp.example"
    check = subprocess.run(
        [sys.executable, "-m", "nspv2", "check", "corp_directory:Provider", "--path", "src",
         "--name", name],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_existing_folder_is_refused(tmp_path: Path) -> None:
    """`nspv2 new` never writes over an existing folder."""
    (tmp_path / "taken").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "nspv2", "new", "taken"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "already exists" in done.stderr
