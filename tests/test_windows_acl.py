"""The Windows form of the trust checks (the ACLs of module folders and of the files a
provider's class is imported from), run by the official Windows CPython under Wine, which maps
Unix permissions to ACLs. CI installs Wine; missing, the tests skip (fail under CI=true)."""

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


def run_probe(tmp_path: Path, source: str, args: list[str]) -> str:
    """Runs `source` in the official Windows CPython under Wine with the source tree's nspv2
    and cffi importable and `args` after them; returns its output, having checked it exited 0."""
    tool("wine")
    wb = windows_build()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nspv2-windows"
    python = wb.fetch_python(cache)
    site = wb.fetch_wheels(cache)
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    paths = [wb.windows_path(p) for p in (probe, ROOT / "src", site)]
    result = wb.wine_run(
        [str(python / "python.exe"), *paths, *args], wb.wine_env(cache), timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_module_folder_acl_check_under_windows_python(tmp_path: Path) -> None:
    """A folder only its owner may write is accepted and a world-writable one is refused, with a
    message naming Everyone and the icacls fix, by the ACL check in a real Windows CPython."""
    wb = windows_build()
    private, shared = tmp_path / "private", tmp_path / "shared"
    private.mkdir(mode=0o755)
    shared.mkdir()
    shared.chmod(0o777)
    output = run_probe(tmp_path, PROBE, [wb.windows_path(private), wb.windows_path(shared)])
    assert f"accepted {wb.windows_path(private)}" in output
    assert f"refused {wb.windows_path(shared)}" in output, output
    assert "Everyone may write to" in output and "icacls" in output


IMPORT_PROBE = r"""
import sys, uuid
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from nspv2 import config
for spec, folder in zip(sys.argv[3::2], sys.argv[4::2]):
    entry = config.ProviderConfig(uuid.uuid4(), spec, (folder,), "probe")
    try:
        config.load_class(entry)
        print("accepted", spec)
    except config.ConfigError as exc:
        print("refused", spec, "|", exc)
"""

PROVIDER = (
    "import nspv2\nclass P(nspv2.Provider):\n    def lookup(self, q, f, s):\n        return None\n"
)


def test_import_files_acl_check_under_windows_python(tmp_path: Path) -> None:
    """Under Windows ACLs, the files a provider's class is imported from are checked before the
    import: a module file or a package __init__ that Everyone may write is refused, naming it
    and the icacls fix; the same package with private files is imported."""
    wb = windows_build()
    specs = []
    for name, writable in (("good", None), ("badmod", "prov.py"), ("badinit", "__init__.py")):
        folder = tmp_path / name
        package = folder / f"pkg_{name}"
        package.mkdir(parents=True)
        folder.chmod(0o755)
        package.chmod(0o755)
        (package / "__init__.py").write_text("")
        (package / "prov.py").write_text(PROVIDER)
        for file in package.iterdir():
            file.chmod(0o666 if file.name == writable else 0o644)
        specs += [f"pkg_{name}.prov:P", wb.windows_path(folder)]
    output = run_probe(tmp_path, IMPORT_PROBE, specs)
    assert "accepted pkg_good.prov:P" in output, output
    for name, file in (("badmod", "prov.py"), ("badinit", "__init__.py")):
        line = next(x for x in output.splitlines() if x.startswith(f"refused pkg_{name}."))
        assert f"pkg_{name}\\{file}" in line and "Everyone may write" in line, line
        assert "icacls" in line, line
