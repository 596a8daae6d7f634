"""Configuration and provider module folders that other users could change are refused."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Iterator

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
    with pytest.raises(config.ConfigError, match=r"belongs to user \S+ \(uid 65534\)"):
        config.find(GUID, str(path))


# -- What the provider's class is imported from (the module, its packages, their folders) --------

EVIL = """
from pathlib import Path
from typing import Iterator
Path({marker!r}).write_text("imported")
import nspv2
class P(nspv2.Provider):
    def lookup(self, query, flags, session):
        return None
"""


def package_config(tmp_path: Path, modules: Path, spec: str = "corp.prov:P") -> Path:
    """A configuration whose class lives in package `corp` (corp/__init__.py, corp/prov.py)
    under `modules`, every file 644 and folder 755; importing prov.py writes tmp_path/marker."""
    package = modules / "corp"
    package.mkdir(parents=True, mode=0o755, exist_ok=True)
    modules.chmod(0o755)
    (package / "__init__.py").write_text("")
    (package / "prov.py").write_text(EVIL.format(marker=str(tmp_path / "marker")))
    for file in (package / "__init__.py", package / "prov.py"):
        file.chmod(0o644)
    path = tmp_path / "providers.ini"
    path.write_text(f"[{{{GUID}}}]\nclass = {spec}\npath = {modules}\n")
    path.chmod(0o644)
    return path


def refused(tmp_path: Path, path: Path, match: str) -> None:
    """Loading the provider is refused with a message matching `match`, and nothing of the
    provider's code ran."""
    before = list(sys.path)
    with pytest.raises(config.ConfigError, match=match):
        config.load_provider(GUID, str(path))
    assert not (tmp_path / "marker").exists(), "the provider's module ran before the refusal"
    assert sys.path == before, "a refused folder stayed on sys.path"


@pytest.fixture(autouse=True)
def forget_corp() -> Iterator[None]:
    """Each test imports its own `corp` package."""
    yield
    for name in [n for n in sys.modules if n == "corp" or n.startswith("corp.")]:
        del sys.modules[name]


def test_package_in_trusted_folders_loads(tmp_path: Path) -> None:
    """A provider in a package whose files and folders only this user can write is imported."""
    path = package_config(tmp_path, tmp_path / "modules")
    assert type(config.load_provider(GUID, str(path))).__name__ == "P"
    assert (tmp_path / "marker").exists()


def test_sticky_folder_above_the_import_folder_is_accepted(tmp_path: Path) -> None:
    """A sticky world-writable folder (like /tmp) above the import folder is accepted: other
    users can add entries there but cannot change the import folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = package_config(tmp_path, shared / "modules")
    assert type(config.load_provider(GUID, str(path))).__name__ == "P"


def test_sticky_world_writable_import_folder_is_refused(tmp_path: Path) -> None:
    """`path = /tmp`-like: a sticky world-writable import folder is refused, since anyone can
    add a module there; the message names the folder and the way out."""
    modules = tmp_path / "modules"
    path = package_config(tmp_path, modules)
    modules.chmod(0o1777)
    refused(tmp_path, path, rf"{modules} is a shared folder .*every user can add files.*/opt/")


def test_writable_import_folder_is_refused(tmp_path: Path) -> None:
    """A `path` folder writable by others is refused, naming who and the chmod that fixes it."""
    modules = tmp_path / "modules"
    path = package_config(tmp_path, modules)
    modules.chmod(0o777)
    refused(tmp_path, path, rf"{modules} is writable by other users: every user.*chmod go-w")


def test_writable_parent_of_the_import_folder_is_refused(tmp_path: Path) -> None:
    """A non-sticky folder above the import folder that others can write is refused (they could
    rename the import folder away and put their own in its place)."""
    parent = tmp_path / "parent"
    parent.mkdir()
    path = package_config(tmp_path, parent / "modules")
    parent.chmod(0o775)
    refused(tmp_path, path, rf"{parent} is writable by other users: the members of group")


def test_writable_module_file_is_refused(tmp_path: Path) -> None:
    """The module the class is in, writable by others, is refused before it is imported."""
    path = package_config(tmp_path, tmp_path / "modules")
    module = tmp_path / "modules" / "corp" / "prov.py"
    module.chmod(0o666)
    refused(tmp_path, path, rf"code of provider .*corp\.prov.*{module} is writable by other")


def test_writable_package_init_is_refused(tmp_path: Path) -> None:
    """A package __init__ on the way to the module, writable by others, is refused."""
    path = package_config(tmp_path, tmp_path / "modules")
    init = tmp_path / "modules" / "corp" / "__init__.py"
    init.chmod(0o646)
    refused(tmp_path, path, rf"{init} is writable by other users: every user")


def test_writable_bytecode_cache_is_refused(tmp_path: Path) -> None:
    """A __pycache__ folder others can write is refused: a planted .pyc would run instead."""
    path = package_config(tmp_path, tmp_path / "modules")
    cache = tmp_path / "modules" / "corp" / "__pycache__"
    cache.mkdir()
    cache.chmod(0o777)
    refused(tmp_path, path, rf"{cache} is writable by other users")


def test_symlink_into_a_writable_place_is_refused(tmp_path: Path) -> None:
    """A module that is a symbolic link to a file in a folder others can write is refused: the
    real path is checked, and the link's target folder counts as the module's folder."""
    path = package_config(tmp_path, tmp_path / "modules")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    module = tmp_path / "modules" / "corp" / "prov.py"
    module.rename(elsewhere / "prov.py")
    module.symlink_to(elsewhere / "prov.py")
    elsewhere.chmod(0o1777)  # even sticky: it is where the module really lives
    refused(tmp_path, path, rf"{elsewhere} is a shared folder")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_module_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A module file owned by another (non-root) user is refused, naming that user."""
    path = package_config(tmp_path, tmp_path / "modules")
    os.chown(tmp_path / "modules" / "corp" / "prov.py", 65534, -1)
    refused(tmp_path, path, r"belongs to user \S+ \(uid 65534\), who is neither root")


def test_installed_python_is_trusted_as_installed(tmp_path: Path) -> None:
    """Modules of the Python installation the library runs (here nspv2 itself, in its
    site-packages or source tree) are not re-checked: the built-in example loads."""
    provider = config.load_provider(config.EXAMPLE_PROVIDER_ID)
    assert type(provider).__name__ == "ZoneProvider"


def test_writable_module_the_provider_imports_is_refused(tmp_path: Path) -> None:
    """A module the provider's own code imports later from its folders is checked when it is
    imported: writable by others, it is refused with an ImportError naming it, unrun."""
    path = package_config(tmp_path, tmp_path / "modules")
    package = tmp_path / "modules" / "corp"
    helper = package / "helper.py"
    helper.write_text(f"open({str(tmp_path / 'helper-ran')!r}, 'w').close()\n")
    helper.chmod(0o666)
    prov = package / "prov.py"
    prov.write_text(prov.read_text() + "from corp import helper\n")
    with pytest.raises(config.ConfigError, match=rf"ImportError: .*{helper} is writable by other"):
        config.load_provider(GUID, str(path))
    assert not (tmp_path / "helper-ran").exists()
