"""Configuration and provider module folders that other users could change are refused."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from nspv2 import config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX mode and owner checks")

GUID = uuid.UUID("0f3c1b7e-8a5d-4c2e-9f61-2b7d4e8a1c35")


def write_config(folder: Path, module_dir: Path) -> Path:
    module_dir.mkdir(mode=0o755, exist_ok=True)
    (module_dir / "secure_provider.py").write_text(
        "import nspv2\n"
        "class P(nspv2.Provider):\n"
        "    def lookup(self, query, flags, session):\n"
        "        return None\n"
    )
    path = folder / "providers.ini"
    path.write_text(f"[{{{GUID}}}]\nclass = secure_provider:P\npath = {module_dir}\n")
    path.chmod(0o644)
    return path


def test_trusted_configuration_loads(tmp_path: Path) -> None:
    """A configuration and module folder only this user can write are accepted."""
    path = write_config(tmp_path, tmp_path / "modules")
    assert type(config.load_provider(GUID, str(path))).__name__ == "P"


def test_world_writable_configuration_is_refused(tmp_path: Path) -> None:
    """A configuration file writable by others is refused with the chmod that fixes it."""
    path = write_config(tmp_path, tmp_path / "modules")
    path.chmod(0o666)
    with pytest.raises(config.ConfigError, match=r"writable by other users.*chmod go-w"):
        config.find(GUID, str(path))


def test_group_writable_module_folder_is_refused(tmp_path: Path) -> None:
    """A provider module folder writable by others is refused before anything is imported."""
    modules = tmp_path / "modules"
    path = write_config(tmp_path, modules)
    modules.chmod(0o777)
    with pytest.raises(config.ConfigError, match=r"module folder.*writable by other users"):
        config.load_provider(GUID, str(path))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_configuration_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A configuration file owned by another (non-root) user is refused, naming the owner."""
    path = write_config(tmp_path, tmp_path / "modules")
    os.chown(path, 65534, -1)
    with pytest.raises(config.ConfigError, match="belongs to uid 65534"):
        config.find(GUID, str(path))
