"""The Windows form of the trust check (module folders' ACLs), run by the official Windows
CPython under Wine, which maps Unix permissions to ACLs. CI installs Wine; missing, it fails."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from prerequisites import tool

pytestmark = pytest.mark.wine

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from nspv2 import config
for folder in sys.argv[3:]:
    try:
        config.check_trusted(Path(folder), "module folder")
        print("accepted", folder)
    except config.ConfigError as exc:
        print("refused", folder, "|", exc)
"""


def windows_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "windows_build", ROOT / "tools" / "windows_build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_folder_acl_check_under_windows_python(tmp_path: Path) -> None:
    """A folder only its owner may write is accepted and a world-writable one is refused, with a
    message naming Everyone and the icacls fix, by the ACL check in a real Windows CPython."""
    tool("wine")
    wb = windows_build()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nspv2-windows"
    python = wb.fetch_python(cache)
    site = wb.fetch_wheels(cache)
    private, shared = tmp_path / "private", tmp_path / "shared"
    private.mkdir(mode=0o755)
    shared.mkdir()
    shared.chmod(0o777)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    result = wb.wine_run(
        [
            str(python / "python.exe"),
            wb.windows_path(probe),
            wb.windows_path(ROOT / "src"),
            wb.windows_path(site),
            wb.windows_path(private),
            wb.windows_path(shared),
        ],
        wb.wine_env(cache),
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"accepted {wb.windows_path(private)}" in output
    assert f"refused {wb.windows_path(shared)}" in output, output
    assert "Everyone may write to it" in output and "icacls" in output
